"""``denoise`` stage: motion-adaptive recursive temporal filter plus edge-preserving spatial filter.

Temporal state (two ping-pong history buffers, the previous luma thumbnail, the smoothed noise estimate) lives here; the
pixel work is in :mod:`kernels.denoise`.  The history is dropped on a scene cut (large mean change of a luma thumbnail)
and on a frame-size change.  BGR frames are split into Y, B-Y, R-Y planes; I420 frames are filtered in their own Y, Cb,
Cr planes and code values (no conversion either way), so noise sigmas and thresholds are in those units there.
"""
from __future__ import annotations

import logging
from collections import deque
from functools import lru_cache
from typing import Any

import numpy as np

from kernels.backend import Backend
from kernels.colorspace import MATRICES, YuvFormat
from kernels.denoise import N_COEFFS, NOISE_REF_LEVEL, _shifts, plane_coefficients
from kernels.denoise_bgr import chroma_shape, denoise_planes, to_planes
from kernels.denoise_i420 import denoise_i420
from kernels.noise import NOISE_BINS, NOISE_LEVELS, noise_histogram, noise_model
from kernels.planes import i420_luma_chroma, i420_size, is_i420
from kernels.thumbnail import estimate_motion, luma_thumbnail, thumbnail_difference, thumbnail_factor
from kernels.warp import warp_affine
from realtime.stages.base import Stage
from realtime.stages.params import DenoiseParams

log = logging.getLogger(__name__)

#: Noise sigma of the Y plane and of the half-resolution (2x2 mean) B-Y and R-Y planes
#: for unit-sigma independent noise in each of B, G, R.
PLANE_NOISE_GAIN = (0.668, 1.104 / 2, 0.921 / 2)
#: Weight of a new noise estimate in the running one (estimates are noisy; noise changes slowly
#: within a shot; a scene cut starts the running estimate afresh).
SIGMA_EMA = 0.3
#: Luma noise sigma (levels) at which ``motion_threshold`` applies as given to the luma plane; there
#: the threshold scales with the noise (within :data:`MOTION_SCALE`): weak noise gains little from
#: averaging over time and loses detail to a history that lags a little, strong noise gains much, so
#: the noisier the frame, the larger a difference must be before it counts as motion.  (Scaling it on
#: the half-resolution chroma planes too made no difference on the tuning half: kept as given there.)
MOTION_NOISE_REF = 8.0
MOTION_SCALE = (0.25, 4.0)
#: Largest noise sigma (levels) the automatic mode acts on: pure noise or a frame of fine texture
#: must not drive the filter to wipe the picture out.
MAX_AUTO_SIGMA = 40.0
#: Global motion (full-frame pixels, the larger axis) up to which the camera counts as still, and from
#: which it moves, with a linear fade between: a still camera's noisy frames measure 0.05-0.2 (the phase
#: correlation's own scatter), a pan 0.5 or more.
STILL_WITHIN = (0.2, 0.4)
#: The motion judged is the largest of this many frames': a still camera's stays small on every frame.
STILL_FRAMES = 3
#: A part of the motion below a whole pixel (pixels) under which a history plane is not moved
#: (``subpixel``): a still camera's measurement scatter, which moving would only blur.
SUBPIXEL_MIN = 0.1


def _translation(part: tuple[float, float]) -> np.ndarray:
    """The inverse map of :func:`kernels.warp.warp_affine` that moves a plane by ``(dy, dx)`` pixels."""
    return np.array([[1.0, 0.0, -part[1]], [0.0, 1.0, -part[0]]])


@lru_cache(maxsize=16)
def plane_noise_gains(fmt: YuvFormat | None) -> tuple[float, float, float]:
    """Noise sigma of the three planes the stage filters, for unit-sigma independent noise in B, G, R.

    ``fmt`` is ``None`` for BGR frames (planes Y, B-Y, R-Y: :data:`PLANE_NOISE_GAIN`), else the format of
    I420 frames, whose Y, Cb, Cr planes are filtered in code values (chroma assumed box-subsampled, as
    :data:`PLANE_NOISE_GAIN` does).
    """
    if fmt is None:
        return PLANE_NOISE_GAIN
    kr, kb = MATRICES[fmt.matrix]
    kg = 1.0 - kr - kb
    _, _, _, _, y_gain, _, cb_gain, cr_gain = (float(x) for x in fmt.from_bgr_coefficients())
    # Y = kr R + kg G + kb B; B - Y and R - Y by the same rule; a 2x2 mean halves the chroma noise.
    return (y_gain * float(np.sqrt(kr * kr + kg * kg + kb * kb)),
            cb_gain * float(np.sqrt((1.0 - kb) ** 2 + kr * kr + kg * kg)) / 2.0,
            cr_gain * float(np.sqrt((1.0 - kr) ** 2 + kb * kb + kg * kg)) / 2.0)


@lru_cache(maxsize=16)
def _luma_code_gain(fmt: YuvFormat | None) -> float:
    """Y code values per luma level (219/255 in limited range; 1 for BGR frames' Y plane)."""
    return 1.0 if fmt is None else float(fmt.from_bgr_coefficients()[4])


def motion_scale(luma_sigma: float) -> float:
    """Factor on the luma plane's ``motion_threshold`` for a luma noise sigma in 8-bit levels (see
    :data:`MOTION_NOISE_REF`)."""
    return min(max(luma_sigma / MOTION_NOISE_REF, MOTION_SCALE[0]), MOTION_SCALE[1])


class DenoiseStage(Stage):
    """Per frame: planes, thumbnail (cut/pan test), noise estimate now and then, one fused pass."""

    name = "denoise"
    Params = DenoiseParams
    planar = True

    def __init__(self, params: DenoiseParams, backend: Backend) -> None:
        super().__init__(params, backend)
        self._coeffs_host = np.zeros((3, N_COEFFS), np.float32)
        self._coeffs = backend.asarray(self._coeffs_host)
        self._hist_host = np.zeros((3, NOISE_LEVELS, NOISE_BINS), np.int32)
        #: Scene cuts detected so far (each one reset the history).
        self.cuts = 0
        self.reset()

    @property
    def noise_sigma(self) -> np.ndarray:
        """Current per-plane noise sigma (Y, B-Y, R-Y; or Y, Cb, Cr codes on I420) at the frame's mean level
        (luma at :data:`~kernels.denoise.NOISE_REF_LEVEL` with ``follow_level``); zeros before the first."""
        return np.array(self._sigmas_and_slopes()[0])

    @property
    def noise_model(self) -> np.ndarray:
        """Current smoothed noise model, ``(3, 3)``: per plane ``a``, ``b`` of ``variance = a + b * level``
        and the mean luma level (see :func:`kernels.noise.noise_model`); zeros before the first estimate."""
        return self._model.copy()

    def reset(self) -> None:
        self._fresh = True
        self._frames = 0
        self._have_thumb = False
        #: The last frames' global motion, larger axis (``None``: not measured, or no clear motion).
        self._recent_motion: deque[float | None] = deque(maxlen=STILL_FRAMES)
        #: This frame's global motion ``(dy, dx)`` (``None``: not measured, or no clear motion).
        self._motion: tuple[float, float] | None = None
        self._model = np.zeros((3, 3))
        self._model_known = False

    def apply(self, image: Any) -> Any:
        planar = is_i420(image)
        height, width = i420_size(image) if planar else image.shape[:2]
        self.follow_size(image)
        p = self.params
        if p.luma_strength == 0.0 and p.chroma_strength == 0.0:
            return image
        cshape = (2,) + chroma_shape(height, width)
        out = self.output(image.shape)
        if planar:
            # I420 without yuv_format (API use outside a pipeline): the usual HD tags.
            fmt = self.yuv_format or YuvFormat()
            luma, chroma = i420_luma_chroma(image)
        else:
            fmt = None
            luma, chroma = to_planes(image, luma=self.buffer("luma", (height, width), "float32"),
                                     chroma=self.buffer("chroma", cshape, "float32"), backend=self.backend)
        shift = self._scene_and_motion(luma, height, width, p.scene_cut * _luma_code_gain(fmt))
        base, slopes = self._noise_sigmas(luma, chroma, plane_noise_gains(fmt))
        strengths = (p.luma_strength, p.chroma_strength, p.chroma_strength)
        scale = motion_scale(base[0] / _luma_code_gain(fmt))
        threshold = self._motion_threshold()
        plane_coefficients([b * g for b, g in zip(base, strengths)], temporal=p.temporal, spatial=p.spatial,
                           spatial_range=p.spatial_range,
                           motion_threshold=(threshold * scale, threshold, threshold),
                           motion_sigmas=[b * min(g, 1.0) for b, g in zip(base, strengths)], slopes=slopes,
                           out=self._coeffs_host)
        self._coeffs = self.to_device(self._coeffs_host, self._coeffs)
        # Ping-pong histories: the pass reads shifted history neighbourhoods while writing the new ones,
        # so it may not work in place.
        flip = self._frames % 2
        hist = self._aligned_history(self.buffer(f"luma_hist{flip}", (height, width), "float32"),
                                     self.buffer(f"chroma_hist{flip}", cshape, "float32"), shift)
        hist_out = dict(luma_out=self.buffer(f"luma_hist{1 - flip}", (height, width), "float32"),
                        chroma_out=self.buffer(f"chroma_hist{1 - flip}", cshape, "float32"))
        if planar:
            denoise_i420(image, *hist, self._coeffs, shift=shift, fresh=self._fresh, out=out, **hist_out,
                         backend=self.backend)
        else:
            denoise_planes(image, luma, chroma, *hist, self._coeffs, shift=shift, fresh=self._fresh, out=out,
                           **hist_out, backend=self.backend)
        self._fresh = False
        self._frames += 1
        return out

    def _aligned_history(self, luma: Any, chroma: Any, shift: tuple[int, int]) -> tuple[Any, Any]:
        """The history planes moved by the pan's part below a whole pixel (``subpixel``), into scratch
        planes; the pass then moves them by the whole pixels of ``shift``.  A plane whose part is too
        small to matter, or any plane without ``subpixel`` or after a reset, is given as it is."""
        motion = self._motion
        if not self.params.subpixel or self._fresh or motion is None or self._stillness() == 1.0:
            return luma, chroma  # (a still camera's measured motion is scatter: moving would only blur)
        # The whole-pixel shifts the pass applies to the luma and (halved, rounded) chroma planes.
        dy, dx, cdy, cdx = _shifts(shift)
        luma_part = (motion[0] - dy, motion[1] - dx)
        chroma_part = (motion[0] / 2 - cdy, motion[1] / 2 - cdx)
        if max(abs(v) for v in luma_part) >= SUBPIXEL_MIN:
            luma = warp_affine(luma, _translation(luma_part), out=self.buffer("luma_moved", luma.shape, "float32"),
                               backend=self.backend)
        if max(abs(v) for v in chroma_part) >= SUBPIXEL_MIN:
            moved = self.buffer("chroma_moved", chroma.shape, "float32")
            for plane in range(chroma.shape[0]):
                warp_affine(chroma[plane], _translation(chroma_part), out=moved[plane], backend=self.backend)
            chroma = moved
        return luma, chroma

    def _stillness(self) -> float:
        """1 while the camera holds still (global motion within ``STILL_WITHIN[0]`` on each of the last
        ``STILL_FRAMES`` frames), 0 once it moves by ``STILL_WITHIN[1]``, a linear fade between; 0 when
        the motion was not measured on all of them."""
        recent = self._recent_motion
        if len(recent) < STILL_FRAMES or None in recent:
            return 0.0
        low, high = STILL_WITHIN
        return min(max((high - max(recent)) / (high - low), 0.0), 1.0)  # type: ignore[type-var]

    def _motion_threshold(self) -> float:
        """This frame's motion threshold: ``still_threshold`` while the camera holds still (the history then lines up
        with the frame, and only what really moves differs), else ``motion_threshold`` (a pan's history is aligned to
        the whole pixel only, so every edge differs a little and a lenient test would blur it)."""
        p = self.params
        if p.still_threshold <= 0:
            return p.motion_threshold
        return p.motion_threshold + (p.still_threshold - p.motion_threshold) * self._stillness()

    def _scene_and_motion(self, luma: Any, height: int, width: int, scene_cut: float) -> tuple[int, int]:
        """Global shift to apply to the history; sets ``_fresh`` on a scene cut (``scene_cut`` in luma units)."""
        p = self.params
        self._motion = None
        if scene_cut <= 0 and not p.motion_search:
            return 0, 0
        factor = thumbnail_factor(height, width)
        tshape = (height // factor, width // factor)
        flip = self._frames % 2
        thumb = luma_thumbnail(luma, factor, out=self.buffer(f"thumb{flip}", tshape, "float32"), backend=self.backend)
        if self.backend.is_cuda:
            thumb = self.backend.to_host(thumb, out=self.buffer(f"thumb_host{flip}", tshape, "float32", host=True))
        prev = self._buffers.get(f"thumb_host{1 - flip}" if self.backend.is_cuda else f"thumb{1 - flip}")
        if not self._have_thumb or prev is None or prev.shape != tshape:
            self._have_thumb = True
            return 0, 0
        shift, moved = (0, 0), None
        if p.motion_search:
            self._motion = estimate_motion(prev, thumb, factor)
            if self._motion is not None:
                dy, dx = self._motion
                shift, moved = (int(round(dy)), int(round(dx))), max(abs(dy), abs(dx))
        self._recent_motion.append(moved)
        if scene_cut > 0 and not self._fresh:
            mad = thumbnail_difference(prev, thumb, (round(shift[0] / factor), round(shift[1] / factor)))
            if mad > scene_cut:
                log.debug("denoise: scene cut (thumbnail change %.1f > %.1f), history reset", mad, scene_cut)
                self.cuts += 1
                self._fresh = True
                # A new shot may have other noise (another camera, another exposure): estimate anew.
                self._model_known = False
                return 0, 0
        return shift

    def _noise_sigmas(self, luma: Any, chroma: Any,
                      gains: tuple[float, float, float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Noise sigma and variance slope of each plane: manual (``sigma`` times the planes' ``gains``,
        one sigma at every level) or estimated from the frames (see :meth:`_sigmas_and_slopes`)."""
        p = self.params
        if p.sigma > 0:
            return tuple(p.sigma * g for g in gains), (0.0, 0.0, 0.0)
        if not self._model_known or self._frames % p.estimate_every == 0:
            hist = noise_histogram(luma, chroma, out=self.buffer("noise_hist", self._hist_host.shape, "int32"),
                                   backend=self.backend)
            hist = self.backend.to_host(hist, out=self._hist_host) if self.backend.is_cuda else hist
            est = noise_model(hist)
            self._model = est if not self._model_known else self._model + SIGMA_EMA * (est - self._model)
            self._model_known = True
        return self._sigmas_and_slopes()

    def _sigmas_and_slopes(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The kernel's inputs from the noise model: each plane's sigma at the frame's mean level and no
        slope; with ``follow_level``, luma's sigma at the reference level and the relative change of its
        variance per level.  Chroma samples are colour differences, not levels: one sigma always."""
        a, b, mean = self._model[:, 0], self._model[:, 1], self._model[0, 2]
        cap = MAX_AUTO_SIGMA ** 2
        sigmas = [float(np.sqrt(min(a[k] + b[k] * mean, cap))) for k in range(3)]
        if not self.params.follow_level:
            return tuple(sigmas), (0.0, 0.0, 0.0)
        var_ref = a[0] + b[0] * NOISE_REF_LEVEL
        slope = float(b[0] / var_ref) if var_ref > 1e-6 else 0.0
        return (float(np.sqrt(min(var_ref, cap))), sigmas[1], sigmas[2]), (slope, 0.0, 0.0)
