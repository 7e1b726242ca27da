"""``color`` stage: white balance, tone, saturation and a 3D LUT in one fused pass.

Automatic white balance estimates the illuminant by shades-of-gray (or
gray-world) on a small thumbnail.  A scene's own colour (a field of yellow
flowers) fools gray-world, shades-of-gray and gray-edge in different ways while
a real cast moves all three together, so the correction fades out as they
disagree; casts below a tolerance are left alone, so clean footage is not
pushed around.  The gains keep the luma of gray and then the white point, are
smoothed over time in the log domain with a one-euro filter, restart on scene
cuts, and flashes are kept out of the estimate.  The gains, the manual
temperature/tint and brightness/contrast/gamma are baked into a ``(3, 256)``
curve table per frame; saturation and the optional ``.cube`` LUT run in the
same per-pixel pass (:func:`kernels.color.adjust_color`).
"""
from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from kernels.backend import Backend
from kernels.color import (
    LUMA_BGR,
    adjust_color,
    adjust_color_i420,
    bgr_thumbnail,
    gray_edge_gains,
    i420_bgr_thumbnail,
    shades_of_gray_gains,
    temperature_tint_gains,
    tone_curves,
    tone_lines,
    white_patch_gains,
)
from kernels.denoise import thumbnail_factor
from kernels.planes import i420_planes, i420_size, is_i420
from realtime.cube import load_cube
from realtime.stages.base import Stage
from realtime.stages.contrast import STATS_WIDTH, OneEuro, SceneWatch
from realtime.stages.params import ColorParams

log = logging.getLogger(__name__)

#: Minkowski norm per automatic white-balance method.
WB_NORMS = {"shades-of-gray": 6.0, "gray-world": 1.0}


class ColorStage(Stage):
    """Per frame: (automatic gains), curves baked on the host, one fused per-pixel pass.

    Takes I420 frames unless a ``.cube`` LUT is set: the curves and saturation
    then run on the planes (:func:`kernels.color.adjust_color_i420`, a colour
    conversion there and back per sample, in registers); a user LUT keeps the
    BGR path, whose interpolation is checked against a float64 reference.
    """

    name = "color"
    Params = ColorParams

    @property
    def planar(self) -> bool:  # type: ignore[override]
        return not self.params.lut

    def __init__(self, params: ColorParams, backend: Backend) -> None:
        super().__init__(params, backend)
        self._manual = temperature_tint_gains(params.temperature, params.tint)
        self._curves_host = tone_curves(params.brightness, params.contrast, params.gamma, self._manual)
        self._curves = backend.asarray(self._curves_host.copy())
        self._lines_host = np.empty(6, np.float32)
        self._lut = self._lut_coef = None
        if params.lut:
            cube = load_cube(params.lut)
            log.info("color: LUT %s (%d^3%s)", cube.path, cube.size, f", {cube.title!r}" if cube.title else "")
            self._lut = backend.asarray(cube.kernel_table())
            self._lut_coef = backend.asarray(cube.kernel_coefficients())
        self._gains = OneEuro(params.smoothing, 0.0)
        self._watch = SceneWatch(params.scene_cut, params.flash_ratio)
        self.reset()

    @property
    def cuts(self) -> int:
        """Scene cuts seen (each restarted the white-balance smoothing)."""
        return self._watch.cuts

    @property
    def gains(self) -> tuple[float, float, float]:
        """Current automatic white-balance gains (BGR); ones before the first estimate or when off."""
        v = self._gains.value
        return (1.0, 1.0, 1.0) if v is None else tuple(float(math.exp(x)) for x in v)  # type: ignore[return-value]

    def reset(self) -> None:
        self._gains.reset()
        self._watch.reset()

    def apply(self, image: Any) -> Any:
        self.follow_size(image)
        p = self.params
        if p.white_balance != "off":
            self._update_gains(image)
            wb = self.gains
            gains = tuple(m * g for m, g in zip(self._manual, wb))
            tone_curves(p.brightness, p.contrast, p.gamma, gains, out=self._curves_host)
            if self.backend.is_cuda:
                self.backend.upload(self._curves_host, self._curves)
            else:
                self._curves = self._curves_host
        if is_i420(image):
            to_bgr, from_bgr = self._format_coefficients()
            out = self.buffer("out", image.shape)
            adjust_color_i420(i420_planes(image), self._curves, p.saturation, to_bgr, from_bgr,
                              lines=self._tone_lines(), out=i420_planes(out), backend=self.backend)
            return out
        return adjust_color(image, self._curves, p.saturation, lut=self._lut, lut_coef=self._lut_coef,
                            interpolation=p.lut_interpolation, out=self.buffer("out", image.shape),
                            backend=self.backend)

    def _tone_lines(self) -> Any:
        """The curves as straight lines (computed, not looked up) when there is no gamma; else ``None``."""
        p = self.params
        if p.gamma != 1.0:
            return None
        gains = tuple(m * g for m, g in zip(self._manual, self.gains)) if p.white_balance != "off" else self._manual
        host = tone_lines(p.brightness, p.contrast, gains, out=self._lines_host)
        if not self.backend.is_cuda:
            return host
        dev = self._buffers.get("lines")
        if dev is None:
            dev = self._buffers["lines"] = self.backend.asarray(host.copy())
        else:
            self.backend.upload(host, dev)
        return dev

    def _format_coefficients(self) -> tuple[Any, Any]:
        """The stream's Y'CbCr -> BGR and BGR -> Y'CbCr coefficients, on the backend."""
        fmt = self.yuv_format
        if fmt is None:
            raise ValueError("color: an I420 frame without the stage's yuv_format")
        got = self._buffers.get("yuv_coef")
        if got is None or got[0] != fmt:
            got = self._buffers["yuv_coef"] = (fmt, self.backend.asarray(fmt.to_bgr_coefficients()),
                                                self.backend.asarray(fmt.from_bgr_coefficients()))
        return got[1], got[2]

    def _update_gains(self, image: Any) -> None:
        p = self.params
        planar = is_i420(image)
        height, width = i420_size(image) if planar else image.shape[:2]
        # White balance needs far fewer samples than the tile histograms: a
        # coarser thumbnail (80x45 at 720p) keeps the host-side estimators cheap.
        factor = 4 * thumbnail_factor(height, width, STATS_WIDTH)
        if height < factor or width < factor:
            factor = 1
        tshape = (height // factor, width // factor, 3)
        # Half of each block's side: a quarter of the reads, and enough averaging
        # that gray-edge sees edges rather than sensor noise.
        taps = max(factor // 2, 1)
        if planar:
            thumb = i420_bgr_thumbnail(i420_planes(image), self._format_coefficients()[0], factor, taps=taps,
                                       out=self.buffer("thumb", tshape, "float32"), backend=self.backend)
        else:
            thumb = bgr_thumbnail(image, factor, taps=taps, out=self.buffer("thumb", tshape, "float32"),
                                  backend=self.backend)
        if self.backend.is_cuda:
            host = self._buffers.get("thumb_host")
            if host is None or host.shape != tshape:
                host = self._buffers["thumb_host"] = np.empty(tshape, np.float32)
            thumb = self.backend.to_host(thumb, out=host)
        luma = thumb @ np.asarray(LUMA_BGR, np.float32)
        event = self._watch(luma)
        if event == SceneWatch.CUT:
            self._gains.reset()
        elif event == SceneWatch.FLASH:
            return  # a flash lights the scene with another colour: keep the gains from before it
        opinions = cast_opinions(thumb, p.white_balance)
        if opinions is None:
            if self._gains.value is None:
                self._gains(np.zeros(3))
            return
        log_gains = cast_estimate(opinions) * p.wb_strength * self._confidence(opinions)
        # Dead zone with a ramp: an apparent cast below the tolerance is usually
        # the scene's own colour and is left alone; above twice the tolerance
        # it is corrected in full; in between the correction fades in (no jump).
        if p.wb_tolerance > 0:
            log_gains = log_gains * np.clip(np.abs(log_gains) / p.wb_tolerance - 1.0, 0.0, 1.0)
        lim = math.log(p.wb_max_gain)
        log_gains = np.clip(log_gains, -lim, lim)
        # Keep the luma of gray unchanged after the dead zone and the clamp...
        log_gains -= math.log(float(np.dot(LUMA_BGR, np.exp(log_gains))))
        # ...then keep the white point: gains that pull the cast channel down
        # would leave the brightest whites gray instead of white, so all three
        # rise until the brightest channel's 99.5th percentile is back where it was.
        if np.any(np.abs(log_gains) > 1e-6):
            px = thumb.reshape(-1, 3)
            before = float(np.percentile(px.max(axis=1), 99.5))
            after = float(np.percentile((px * np.exp(log_gains)).max(axis=1), 99.5))
            if after > 1.0 and before > 1.0:
                log_gains += min(max(math.log(before / after), 0.0), lim)
        self._gains(log_gains)

    def _confidence(self, opinions: dict[str, np.ndarray]) -> float:
        """1 when the white-balance estimators agree on the cast, fading to 0 as they disagree."""
        p = self.params
        if p.wb_agreement <= 0:
            return 1.0
        if "gray-edge" not in opinions:
            # No edges (a flat or single-colour frame): nothing tells the
            # light's colour from the surface's, so nothing is corrected.
            return 0.0
        spread = float(np.max(np.ptp(np.array(list(opinions.values())), axis=0)))
        return float(np.clip(2.5 - 1.5 * spread / p.wb_agreement, 0.0, 1.0))


def cast_opinions(thumb: np.ndarray, method: str) -> dict[str, np.ndarray] | None:
    """Log gains (BGR) that each white-balance estimator proposes for ``thumb``; ``None`` without the main one.

    ``method``'s Minkowski mean is the main estimate; the other mean (gray-world or
    shades-of-gray), gray-edge and the white patch are the second opinions.  A real cast
    moves them all alike; a scene's own colour fools each in its own way.
    """
    main = shades_of_gray_gains(thumb, WB_NORMS[method])
    if main is None:
        return None
    opinions = {method: np.log(np.asarray(main[0]))}
    other = shades_of_gray_gains(thumb, 1.0 if method != "gray-world" else 6.0)
    if other is not None:
        opinions["other-mean"] = np.log(np.asarray(other[0]))
    for name, estimate in (("gray-edge", gray_edge_gains(thumb)), ("white-patch", white_patch_gains(thumb))):
        if estimate is not None:
            opinions[name] = np.log(np.asarray(estimate))
    return opinions


def cast_estimate(opinions: dict[str, np.ndarray]) -> np.ndarray:
    """The correction (log gains): per channel, the median of the main estimate, gray-edge and the white patch."""
    picked = [v for k, v in opinions.items() if k != "other-mean"]
    return np.median(np.array(picked), axis=0)
