"""``color`` stage: white balance, tone, saturation and a 3D LUT in one fused pass.

Automatic white balance takes, per channel, the median of three illuminant estimates on a small thumbnail:
shades-of-gray (or gray-world), gray-edge and the white patch (the brightest unclipped samples).  A scene's own colour
(a field of yellow flowers) fools the estimators in different ways while a real cast moves them all together, so the
correction fades out as they (and the other Minkowski mean) disagree; casts below a tolerance are left alone, so clean
footage is not pushed around.  What the estimators still take for a cast is then sized by the frame's gray surfaces: a
real cast moves them all off neutral, a scene's own colour does not, so part of a correction that would move them is
taken back (:func:`neutral_size`).  The gains keep the luma of gray and then the white point, are smoothed over time in the
log domain with a one-euro filter, restart on scene cuts, and flashes are kept out of the estimate.  The gains, the
manual temperature/tint and brightness/contrast/gamma are baked into a ``(3, 256)`` curve table per frame; saturation
and the optional ``.cube`` LUT run in the same per-pixel pass (:func:`kernels.color.adjust_color`).
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Sequence

import numpy as np

from kernels.backend import Backend
from kernels.balance import gray_edge_gains, shades_of_gray_gains, temperature_tint_gains, white_patch_gains
from kernels.color import adjust_color, tone_curves
from kernels.color_i420 import adjust_color_i420, tone_lines
from kernels.pixel import LUMA709_BGR
from kernels.planes import i420_planes, i420_size, is_i420
from kernels.thumbnail import bgr_thumbnail, i420_bgr_thumbnail, thumbnail_factor
from realtime.errors import ConfigError
from realtime.stages.base import Stage
from realtime.stages.contrast import STATS_WIDTH
from realtime.stages.cube import load_cube
from realtime.stages.params import ColorParams
from realtime.stages.temporal import OneEuro, SceneWatch

log = logging.getLogger(__name__)

#: Minkowski norm per automatic white-balance method.
WB_NORMS = {"shades-of-gray": 6.0, "gray-world": 1.0}
#: A white point is the mean of the (2 r + 1)^2 pixels around it...
POINT_RADIUS = 2
#: ...leaving out those with a channel at or below / at or above these levels (clipped: their colour is lost).
CLIPPED_LOW, CLIPPED_HIGH = 2.0, 250.0
#: Largest gain a white point sets on one channel (a user's choice: wider than the automatic's).
MAX_POINT_GAIN = 8.0
#: A sample within this log-chroma distance of neutral (about 6% between channels) counts as a gray surface when the
#: automatic white balance is sized (:func:`neutral_size`); steps tried from none to all of the correction; shares
#: within this fraction of the best count as a tie; the least neutral share and the fewest unclipped thumbnail
#: samples that can tell.
NEUTRAL_RADIUS = 0.06
NEUTRAL_STEPS = 9
NEUTRAL_TIE = 0.1
NEUTRAL_MIN_SHARE = 0.02
NEUTRAL_MIN_SAMPLES = 16


class ColorStage(Stage):
    """Per frame: (automatic gains), curves baked on the host, one fused per-pixel pass.

    Takes I420 frames unless a ``.cube`` LUT is set: the curves and saturation then run on the planes
    (:func:`kernels.color_i420.adjust_color_i420`, a colour conversion there and back per sample, in
    registers); a user LUT keeps the BGR path, whose interpolation is checked against a float64 reference.
    """

    name = "color"
    Params = ColorParams
    #: A shot's white balance (``--analyze``) is the median over at most this many of its frames, evenly
    #: spread: their thumbnails wait in memory, 40-60 KB each, until the shot's end.
    max_readings = 120

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
        #: The white-balance gains times the manual ones, as the curves hold them now.
        self._gains_now: tuple[float, float, float] = self._manual
        self._point = params.point
        #: The white point's gains, measured on the first frame (``None`` there: clipped, automatic instead).
        self._point_gains: tuple[float, float, float] | None = None
        self._point_measured = False
        self._source_size: tuple[int, int] | None = None
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

    @property
    def white_point(self) -> tuple[int, int] | None:
        """The input-frame pixel whose colour sets the white balance, or ``None`` (automatic)."""
        return self._point

    def reset(self) -> None:
        """Forget the temporal state; a white point is measured again on the next frame (a new source, or
        the real frames after a warm-up's)."""
        self._gains.reset()
        self._watch.reset()
        self._point_measured = False

    def set_source(self, info: Any) -> Any:
        """Take the source's frame size: a white point must lie inside it (checked before any frame)."""
        self._source_size = (info.width, info.height)
        if self._point is not None:
            _check_point(self._point, self._source_size)
        return info

    def pick_white_point(self, point: tuple[int, int] | None) -> None:
        """Set the white balance from the colour around ``point`` (``(x, y)`` pixels of the input frame) in the next
        frame, for good; ``None`` returns to the automatic white balance.  Call from the thread that pushes frames."""
        if point is not None and self._source_size is not None:
            _check_point(point, self._source_size)
        self._point, self._point_measured = point, False
        if point is None:
            self._gains.reset()  # the automatic estimate starts afresh, not from before the point was set

    def hud_lines(self) -> list[str]:
        """What the live display says about the white balance: the point, or how it is chosen."""
        point = self._point  # read once: the processing thread may change it
        if point is not None and self._point_measured and self._point_gains is None:
            return [f"white balance: auto (the point {point[0]},{point[1]} is clipped)"]
        if point is not None:
            return [f"white balance: point {point[0]},{point[1]}"]
        if self.params.white_balance == "off":
            return ["white balance: off"]
        return ["white balance: auto (per shot, whole-clip analysis)" if self.plan is not None
                else "white balance: auto"]

    def apply(self, image: Any, planned: np.ndarray | None = None) -> Any:
        """Enhance one frame; ``planned`` log gains (BGR; a whole-clip analysis's, for this frame's shot)
        replace the online white-balance estimate and its smoothing."""
        self.follow_size(image)
        p = self.params
        wb = self._white_balance(image, planned)
        if wb is not None or self._gains_now != self._manual:  # (once more when a white point is dropped)
            self._gains_now = self._manual if wb is None else tuple(m * g for m, g in zip(self._manual, wb))
            tone_curves(p.brightness, p.contrast, p.gamma, self._gains_now, out=self._curves_host)
            self._curves = self.to_device(self._curves_host, self._curves)
        if self._unchanged():
            return image  # nothing to correct (a neutral, well-exposed frame): the footage is left as it is
        if is_i420(image):
            to_bgr, _, from_bgr = self.yuv_coefficients()
            out = self.output(image.shape)
            adjust_color_i420(i420_planes(image), self._curves, p.saturation, to_bgr, from_bgr,
                              lines=self._tone_lines(), out=i420_planes(out), backend=self.backend)
            return out
        return adjust_color(image, self._curves, p.saturation, lut=self._lut, lut_coef=self._lut_coef,
                            interpolation=p.lut_interpolation, out=self.output(image.shape),
                            backend=self.backend)

    def _white_balance(self, image: Any, planned: np.ndarray | None) -> tuple[float, float, float] | None:
        """This frame's white-balance gains (BGR), or ``None`` where there is none (off, curves as baked):
        a white point's, else a whole-clip plan's, else the online automatic estimate."""
        if self._point is not None:
            if not self._point_measured:
                self._point_gains, self._point_measured = self._gains_at_point(image, self._point), True
            if self._point_gains is not None:
                return self._point_gains  # else clipped there (a warning said so): automatic
        if planned is not None:
            return tuple(float(math.exp(x)) for x in planned)  # type: ignore[return-value]
        if self.params.white_balance == "off":
            return None
        self._update_gains(image)
        return self.gains

    def _unchanged(self) -> bool:
        """Whether the pass would give every sample back: gains within 1/1024 of one (under half a level at
        white), no tone or saturation change, no LUT.  (The I420 pass takes each sample to BGR and back,
        which would clip out-of-gamut samples.)"""
        p = self.params
        return (self._lut is None and p.saturation == 1.0 and (p.brightness, p.contrast, p.gamma) == (0.0, 1.0, 1.0)
                and all(abs(g - 1.0) < 1.0 / 1024 for g in self._gains_now))

    def _tone_lines(self) -> Any:
        """The curves as straight lines (computed, not looked up) when there is no gamma; else ``None``."""
        p = self.params
        if p.gamma != 1.0:
            return None
        host = tone_lines(p.brightness, p.contrast, self._gains_now, out=self._lines_host)
        return self.to_device(host, self.buffer("lines", host.shape, host.dtype))

    # --- whole-clip analysis (realtime.run.analysis) -----------------------------------------------
    @property
    def analysable(self) -> bool:
        """Whether a whole-clip analysis has anything to fix for this stage (automatic white balance)."""
        return self.params.white_balance != "off"

    def measure(self, image: Any) -> tuple[str, np.ndarray]:
        """One frame's scene event and white-balance thumbnail (a copy; the first pass of ``--analyze``).

        The thumbnail, not an estimate: what this stage sees of a shot depends on the levels the
        contrast stage before it fixes for the whole shot (:meth:`plan_shot`).
        """
        self.follow_size(image)
        thumb, event = self._observe(image)
        return event, thumb.copy()

    def plan_shot(self, readings: Sequence[np.ndarray], seen: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """The white balance of a whole shot (log gains, BGR): the median of its frames' :meth:`estimate`.

        ``seen`` turns an input thumbnail into what this stage sees (the fixed values of the
        analysed stages before it).  Zeros (no correction) when no frame tells anything.
        """
        estimates = [e for e in (self.estimate(seen(t)) for t in readings) if e is not None]
        return np.median(np.array(estimates), axis=0) if estimates else np.zeros(3)

    # --- automatic white balance ------------------------------------------------------------------
    def _update_gains(self, image: Any) -> None:
        thumb, event = self._observe(image)
        if event == SceneWatch.CUT:
            self._gains.reset()
        elif event == SceneWatch.FLASH:
            return  # a flash lights the scene with another colour: keep the gains from before it
        log_gains = self.estimate(thumb)
        if log_gains is not None or self._gains.value is None:  # a frame that tells nothing keeps the gains
            self._gains(np.zeros(3) if log_gains is None else log_gains)

    def estimate(self, thumb: np.ndarray) -> np.ndarray | None:
        """The white-balance correction a frame's ``(h, w, 3) float32`` BGR thumbnail (host, levels 0..255) calls for:
        ``float64[3]`` log gains (BGR), unsmoothed; ``None`` when the frame tells nothing (all black, all white, empty).
        The online path smooths these over time; a whole-clip analysis takes a shot's median.
        """
        p = self.params
        opinions = cast_opinions(thumb, p.white_balance)
        if opinions is None:
            return None
        log_gains = dead_zone(cast_estimate(opinions) * p.wb_strength * self._confidence(opinions), p.wb_tolerance)
        if p.wb_neutral > 0:
            log_gains = log_gains * (1.0 - p.wb_neutral * (1.0 - neutral_size(thumb, log_gains)))
        lim = math.log(p.wb_max_gain)
        return _keep_gray_and_white(np.clip(log_gains, -lim, lim), thumb, lim)

    def _observe(self, image: Any) -> tuple[np.ndarray, str]:
        """The white-balance thumbnail (host) and the scene event of its luma."""
        thumb = self._thumbnail(image)
        return thumb, self._watch(thumb @ np.asarray(LUMA709_BGR, np.float32))

    def _thumbnail(self, image: Any) -> np.ndarray:
        """``(h, w, 3) float32`` BGR block means of ``image``, on the host (reused per frame)."""
        planar = is_i420(image)
        height, width = i420_size(image) if planar else image.shape[:2]
        # White balance needs far fewer samples than the tile histograms: a coarser thumbnail (80x45
        # at 720p) keeps the host-side estimators cheap.
        factor = 4 * thumbnail_factor(height, width, STATS_WIDTH)
        if height < factor or width < factor:
            factor = 1
        tshape = (height // factor, width // factor, 3)
        # Half of each block's side: a quarter of the reads, and enough averaging that gray-edge sees
        # edges rather than sensor noise.
        taps = max(factor // 2, 1)
        if planar:
            thumb = i420_bgr_thumbnail(i420_planes(image), self.yuv_coefficients()[0], factor, taps=taps,
                                       out=self.buffer("thumb", tshape, "float32"), backend=self.backend)
        else:
            thumb = bgr_thumbnail(image, factor, taps=taps, out=self.buffer("thumb", tshape, "float32"),
                                  backend=self.backend)
        if self.backend.is_cuda:
            thumb = self.backend.to_host(thumb, out=self.buffer("thumb_host", tshape, "float32", host=True))
        return thumb

    # --- white point ------------------------------------------------------------------------------
    def _gains_at_point(self, image: Any, point: tuple[int, int]) -> tuple[float, float, float] | None:
        """Gains that make the colour around ``point`` neutral: gray keeps its luma, whites stay white;
        ``None`` (and a warning) where every sample there is clipped: its colour is lost."""
        colour = self._colour_at(image, point)
        if colour is None:
            log.warning("color: the white point %d,%d is clipped (black or white) in the frame: "
                        "automatic white balance instead", *point)
            return None
        lim = math.log(MAX_POINT_GAIN)
        log_gains = np.clip(np.log(float(np.dot(LUMA709_BGR, colour)) / colour), -lim, lim)
        gains = tuple(float(math.exp(x)) for x in _keep_gray_and_white(log_gains, self._thumbnail(image), lim))
        # Debug: a live session's warm-up frames are measured too, before the first real one.
        log.debug("color: white balance from the point %d,%d (B %.0f G %.0f R %.0f there): gains B %.3f G %.3f "
                  "R %.3f", *point, *colour, *gains)
        return gains  # type: ignore[return-value]

    def _colour_at(self, image: Any, point: tuple[int, int]) -> np.ndarray | None:
        """Mean BGR (levels 0..255) of the unclipped pixels around ``point`` (input-frame pixels)."""
        planar = is_i420(image)
        height, width = i420_size(image) if planar else image.shape[:2]
        # The point in this stage's frames: a stage before it may have resized them.
        src_w, src_h = self._source_size or (width, height)
        x, y = min(point[0] * width // src_w, width - 1), min(point[1] * height // src_h, height - 1)
        x0, x1 = max(x - POINT_RADIUS, 0), min(x + POINT_RADIUS + 1, width)
        y0, y1 = max(y - POINT_RADIUS, 0), min(y + POINT_RADIUS + 1, height)
        if planar:
            patch = self._i420_patch(image, x0, x1, y0, y1)
        else:
            patch = np.asarray(self.backend.to_host(image[y0:y1, x0:x1]), np.float32)
        px = patch.reshape(-1, 3)
        kept = px[(px.min(axis=1) > CLIPPED_LOW) & (px.max(axis=1) < CLIPPED_HIGH)]
        return kept.mean(axis=0).astype(np.float64) if len(kept) else None

    def _i420_patch(self, image: Any, x0: int, x1: int, y0: int, y1: int) -> np.ndarray:
        """BGR (float32, 0..255) of the pixels ``[y0:y1, x0:x1]`` of an I420 frame: each pixel with the
        chroma sample it lies on, converted as the statistics thumbnails are."""
        ex, ey = x0 - x0 % 2, y0 - y0 % 2  # even corners: a pixel's chroma sample is at half its position
        luma, cb, cr = i420_planes(image)
        rows, cols = slice(ey // 2, (y1 + 1) // 2), slice(ex // 2, (x1 + 1) // 2)
        planes = [np.ascontiguousarray(self.backend.to_host(part))
                  for part in (luma[ey:y1, ex:x1], cb[rows, cols], cr[rows, cols])]
        bgr = i420_bgr_thumbnail(planes, self.yuv_format.to_bgr_coefficients(), 1,
                                 out=np.empty((y1 - ey, x1 - ex, 3), np.float32))
        return bgr[y0 - ey:, x0 - ex:]

    def _confidence(self, opinions: dict[str, np.ndarray]) -> float:
        """1 when the white-balance estimators agree on the cast, fading to 0 as they disagree."""
        p = self.params
        if p.wb_agreement <= 0:
            return 1.0
        if "gray-edge" not in opinions:
            # No edges (a flat or single-colour frame): nothing tells the light's colour from the
            # surface's, so nothing is corrected.
            return 0.0
        spread = float(np.max(np.ptp(np.array(list(opinions.values())), axis=0)))
        return float(np.clip(2.5 - 1.5 * spread / p.wb_agreement, 0.0, 1.0))


def _keep_gray_and_white(log_gains: np.ndarray, thumb: np.ndarray, lim: float) -> np.ndarray:
    """White-balance log gains (BGR) rescaled so that gray keeps its luma and the frame its white point.

    Gains that pull the cast channel down would leave the brightest whites gray instead of white, so
    after the luma is kept all three rise until the brightest channel's 99.5th percentile (in
    ``thumb``) is back where it was, by at most ``lim``.
    """
    log_gains = log_gains - math.log(float(np.dot(LUMA709_BGR, np.exp(log_gains))))
    if np.any(np.abs(log_gains) > 1e-6):
        px = thumb.reshape(-1, 3)
        before = float(np.percentile(px.max(axis=1), 99.5))
        after = float(np.percentile((px * np.exp(log_gains)).max(axis=1), 99.5))
        if after > 1.0 and before > 1.0:
            log_gains += min(max(math.log(before / after), 0.0), lim)
    return log_gains


def dead_zone(log_gains: np.ndarray, tolerance: float) -> np.ndarray:
    """A cast correction (log gains, BGR) with the scene's own colour left alone.

    An apparent cast below ``tolerance`` is usually the scene's own colour and is left alone; above
    twice the tolerance it is corrected in full; in between the correction fades in (no jump).  Each
    chroma axis (amber-blue, green-magenta) is judged on its own: a warm scene with no green tint
    keeps its green untouched.  The common part (brightness) is dropped: the caller restores the luma.
    """
    g = np.asarray(log_gains, np.float64)
    amber = 0.5 * (g[0] - g[2])  # + : the frame needs blue (it looks amber)
    green = g[1] - 0.5 * (g[0] + g[2])  # + : the frame needs green (it looks magenta)
    if tolerance > 0:
        amber *= min(max(abs(amber) / tolerance - 1.0, 0.0), 1.0)
        green *= min(max(abs(green) / tolerance - 1.0, 0.0), 1.0)
    return np.array([amber - green / 3.0, 2.0 * green / 3.0, -amber - green / 3.0])


def neutral_size(thumb: np.ndarray, log_gains: np.ndarray) -> float:
    """How much of a white-balance correction (log gains, BGR) the frame's near-neutral surfaces call for, 0..1.

    A real cast moves every gray surface of a scene off neutral, so the full correction brings the most samples of
    ``thumb`` back within :data:`NEUTRAL_RADIUS` of neutral; a scene's own colour (a red sculpture, a cat's fur)
    pulls the estimators toward a cast while the scene's grays are already neutral, and less of the correction
    keeps more of them so.  The share is the one of :data:`NEUTRAL_STEPS` steps from none to all of the correction
    that leaves the most brightness-weighted samples neutral; of steps within :data:`NEUTRAL_TIE` of the best, the
    one with the most correction.  1 where nothing tells: too few unclipped samples, or under
    :data:`NEUTRAL_MIN_SHARE` of the frame neutral at every step.
    """
    g = np.asarray(log_gains, np.float64)
    if not np.any(g):
        return 1.0
    b, gr, r = (thumb[..., c].ravel() for c in range(3))  # (per channel: reductions over an axis of 3 are slow)
    kept = (np.minimum(np.minimum(b, gr), r) > CLIPPED_LOW) & (np.maximum(np.maximum(b, gr), r) < CLIPPED_HIGH)
    if np.count_nonzero(kept) < NEUTRAL_MIN_SAMPLES:
        return 1.0
    b, gr, r = b[kept], gr[kept], r[kept]
    weight = b + gr + r  # bright surfaces count the most: their chroma is the least noisy
    b, gr, r = np.log(b), np.log(gr), np.log(r)
    # Log chroma on the amber-blue and green-magenta axes.  The correction t * g moves every sample by t * shift, so
    # its squared distance from neutral is a quadratic in t, and it is neutral over the interval between the roots.
    amber, green = 0.5 * (r - b), gr - 0.5 * (r + b)
    shift_amber, shift_green = 0.5 * (g[2] - g[0]), g[1] - 0.5 * (g[0] + g[2])
    length = shift_amber ** 2 + shift_green ** 2
    if length < 1e-12:
        return 1.0  # a change of brightness only: no colour to size
    along = amber * shift_amber + green * shift_green
    half_width = np.sqrt(np.maximum(along * along - length * (amber * amber + green * green - NEUTRAL_RADIUS ** 2), 0.0))
    last = NEUTRAL_STEPS - 1  # steps k / last, k = 0 .. last
    first_step = np.maximum(np.floor((-along - half_width) / length * last) + 1, 0)
    last_step = np.minimum(np.ceil((-along + half_width) / length * last) - 1, last)
    inside = (half_width > 0) & (first_step <= last_step)
    # Each sample's weight on the steps of its interval: +w where it starts, -w after it ends, summed up.
    edges = np.bincount(first_step[inside].astype(np.intp), weight[inside], NEUTRAL_STEPS + 1) \
        - np.bincount(last_step[inside].astype(np.intp) + 1, weight[inside], NEUTRAL_STEPS + 1)
    shares = np.cumsum(edges)[:NEUTRAL_STEPS]
    steps = np.linspace(0.0, 1.0, NEUTRAL_STEPS)
    if shares.max() < NEUTRAL_MIN_SHARE * weight.sum():
        return 1.0  # (next to) no gray surface at any step: nothing to tell by
    # The most correction among the near-best: where the shares hardly differ they tell nothing.
    return float(steps[np.flatnonzero(shares >= (1.0 - NEUTRAL_TIE) * shares.max())[-1]])


def _check_point(point: tuple[int, int], size: tuple[int, int]) -> None:
    """A white point must be a pixel of the ``(width, height)`` frame."""
    (x, y), (width, height) = point, size
    if not (0 <= x < width and 0 <= y < height):
        raise ConfigError(f"color.white_point={x},{y} is outside the {width}x{height} frame: use x in "
                          f"0-{width - 1} and y in 0-{height - 1} (pixels of the input frame)")


def cast_opinions(thumb: np.ndarray, method: str) -> dict[str, np.ndarray] | None:
    """Log gains (BGR) that each white-balance estimator proposes for ``thumb``; ``None`` without the main one.

    ``method``'s Minkowski mean is the main estimate; the other mean (gray-world or shades-of-gray),
    gray-edge and the white patch are the second opinions.  A real cast moves them all alike; a
    scene's own colour fools each in its own way.
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
    return np.median(np.array([v for k, v in opinions.items() if k != "other-mean"]), axis=0)
