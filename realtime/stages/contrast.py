"""``contrast`` stage: automatic levels and CLAHE on luma, smoothed over time.

Per-frame automatics flicker: a person walking through a static shot moves the percentiles and the tile histograms, and
a per-frame mapping makes the whole picture pump.  Here the black and white points follow the scene through a one-euro
filter and the CLAHE tile mappings through an exponential moving average, both restarted on a scene cut (and on a
frame-size change).  Short flashes (a sudden, brief brightening of the same picture) are held out of the statistics.

The black and white points are percentiles of the darkest and brightest channel, so the stretch clips no channel of a
colour cast (the color stage after this one balances them); :func:`level_targets` keeps a scene's own range.  The change
is applied on luma and moves all three channels alike, which keeps hue.  The pixel work is in :mod:`kernels.contrast`.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import numpy as np

from kernels.backend import Backend
from kernels.contrast import BINS, N_COEFFS, apply_contrast, apply_contrast_i420, contrast_coefficients
from kernels.contrast_stats import levels_from_histogram, tile_histograms, tile_mappings
from kernels.planes import i420_planes, i420_size, is_i420
from kernels.thumbnail import bgr_stats_thumbnail, i420_bgr_thumbnail, thumbnail_factor
from realtime.stages.base import Stage
from realtime.stages.params import ContrastParams
from realtime.stages.temporal import OneEuro, SceneWatch

log = logging.getLogger(__name__)

#: Width the statistics thumbnail is box-averaged to (the tuned figure; not the denoiser's own thumbnail size).
STATS_WIDTH = 320
#: The same without CLAHE: two percentiles and the scene watch need far fewer samples than tile histograms.
LEVELS_WIDTH = STATS_WIDTH // 2


def _ramp(x: float, start: float, end: float) -> float:
    """0 at ``start``, 1 at ``end``, linear between (either order)."""
    if start == end:
        return float(x >= end) if end >= start else float(x <= end)
    return min(max((x - start) / (end - start), 0.0), 1.0)


def level_targets(black: float, white: float, p: ContrastParams) -> tuple[float, float]:
    """The input levels to map to 0 and 255 for a frame whose darkest channel starts at ``black`` and
    whose brightest ends at ``white``.

    Clean footage keeps its range: natural pictures have blacks up to about 35 (haze, a bright room, a pale page) and
    nearly all have something close to white (the brightest channel's 99.5th percentile at 235 or more), so blacks below
    ``black_kept`` and whites above ``white_kept`` stay where they are.  A frame whose range is clearly squeezed (a
    lifted black past ``black_lifted``, a white below ``white_dimmed``: under-exposure, a veiling haze) is stretched to
    the full range, with a linear fade between: a white of 200 is taken halfway to 255.  A picture that is dim on its
    own (a dim broadcast peaking at 180) is brightened too; no statistic of one frame tells it from an under-exposed
    one, and under-exposure is by far the more common.  A night scene keeps its bright lights, hence its white point: it
    is not turned into day.  The stretch never exceeds ``max_gain``.
    """
    # A narrow range (a flat or single-colour frame) is widened about its middle first: no stretch
    # beyond max_gain, and a uniform frame keeps its level.
    least = 255.0 / p.max_gain
    if white - black < least:
        mid = min(max(0.5 * (black + white), 0.5 * least), 255.0 - 0.5 * least)
        black, white = mid - 0.5 * least, mid + 0.5 * least
    span = white - black
    out_black = black * (1.0 - _ramp(black, p.black_kept, p.black_lifted))
    out_white = white + (255.0 - white) * _ramp(white, p.white_kept, p.white_dimmed)
    gain = min((out_white - out_black) / span, p.max_gain)
    if gain <= 1.0:  # never squeeze a range
        return 0.0, 255.0
    # (x - black) * gain + out_black as a map of [b, w] to [0, 255]: b and w solve it.
    b = black - out_black / gain
    return b, b + 255.0 / gain


class ContrastStage(Stage):
    """Per frame: luma thumbnail, tile histograms, smoothed levels and tile mappings, one fused pass.

    On I420 frames the statistics come from a BGR thumbnail of the planes and the pass maps Y' and
    scales Cb, Cr (:func:`kernels.contrast.apply_contrast_i420`).
    """

    name = "contrast"
    Params = ContrastParams
    planar = True

    def __init__(self, params: ContrastParams, backend: Backend) -> None:
        super().__init__(params, backend)
        self._coef_host = np.zeros(N_COEFFS, np.float32)
        self._coef = backend.asarray(self._coef_host)
        self._levels = OneEuro(params.smoothing, params.adapt)
        self._watch = SceneWatch(params.scene_cut, params.flash_ratio)
        self.reset()

    @property
    def cuts(self) -> int:
        """Scene cuts seen (each restarted the temporal smoothing)."""
        return self._watch.cuts

    @property
    def levels(self) -> tuple[float, float]:
        """Current smoothed ``(black, white)`` points; ``(0, 255)`` before the first frame."""
        v = self._levels.value
        return (0.0, 255.0) if v is None else (float(v[0]), float(v[1]))

    def reset(self) -> None:
        self._fresh = True
        self._levels.reset()
        self._watch.reset()

    def apply(self, image: Any, planned: tuple[float, float] | None = None) -> Any:
        """Enhance one frame; ``planned`` ``(black, white)`` levels (a whole-clip analysis's, for this frame's
        shot) replace the online estimate and its smoothing."""
        self.follow_size(image)
        p = self.params
        # Read by the pass only where CLAHE is on (strength > 0).
        maps = self.buffer("maps", (p.tiles_y, p.tiles_x, BINS), "float32")
        if planned is None or p.clahe > 0:  # planned levels without CLAHE need no statistics at all
            stats, event = self._observe(image)
            if event == SceneWatch.CUT and not self._fresh:
                log.debug("contrast: scene cut, temporal state reset")
                self._fresh = True
                self._levels.reset()
            if self._fresh:
                maps[...] = 0  # the blend below reads the state: no garbage (NaN) may survive alpha = 1
            if event != SceneWatch.FLASH or self._fresh:
                if p.clahe > 0:
                    hist = tile_histograms(stats[0], out=self.buffer("hist", (p.tiles_y, p.tiles_x, BINS), "int32"),
                                           backend=self.backend)
                    alpha = 1.0 if self._fresh or p.smoothing < 1.0 else 1.0 / p.smoothing
                    tile_mappings(hist, p.clip_limit, alpha, state=maps, backend=self.backend)
                if p.levels and planned is None:
                    targets = self._level_reading(stats)
                    if targets is not None:
                        self._levels(np.array(targets))
            self._fresh = False
        black, white = self.levels if planned is None else planned
        if p.clahe <= 0 and (black, white) == (0.0, 255.0):
            return image  # levels kept, no CLAHE: the map is the identity, and the pass is skipped
        contrast_coefficients(black, white, p.clahe, out=self._coef_host)
        self._coef = self.to_device(self._coef_host, self._coef)
        out = self.output(image.shape)
        if is_i420(image):
            k = self.yuv_coefficients()[1]
            return apply_contrast_i420(image, maps, self._coef, float(k[0]), float(k[1]), out=out,
                                       backend=self.backend, tables=self.buffer("tables", (2, 1, 256), host=True))
        return apply_contrast(image, maps, self._coef, out=out, backend=self.backend)

    # --- whole-clip analysis (realtime.run.analysis) -----------------------------------------------
    @property
    def analysable(self) -> bool:
        """Whether a whole-clip analysis has anything to fix for this stage (automatic levels)."""
        return self.params.levels

    def measure(self, image: Any) -> tuple[str, tuple[float, float] | None]:
        """One frame's scene event and raw level targets, unsmoothed (the first pass of ``--analyze``).

        The same statistics and :func:`level_targets` as the online path; the levels are ``None``
        where the frame has no statistics (a frame smaller than a thumbnail block).
        """
        self.follow_size(image)
        stats, event = self._observe(image)
        return event, self._level_reading(stats)

    def plan_shot(self, readings: Sequence[tuple[float, float] | None],
                  seen: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
        """The levels of a whole shot: the median of its frames' black and white targets.

        The median keeps a person walking through, or a few odd frames, from moving the shot's levels; ``seen`` (what
        earlier stages do to a thumbnail) is not needed: the levels are measured on the stage's input statistics.
        """
        del seen
        targets = [r for r in readings if r is not None]
        if not targets:
            return 0.0, 255.0
        black, white = np.median(np.array(targets, np.float64), axis=0)
        return float(black), float(white)

    @staticmethod
    def through(thumb: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
        """A BGR statistics thumbnail (host, levels 0..255) as these fixed levels leave it.

        Without CLAHE the stage maps every channel by the same ``(c - black) * scale``
        (:func:`kernels.contrast.apply_contrast`), so a later stage's statistics of the output are this map of its
        statistics of the input, up to clipping inside a block; CLAHE's local part (off by default) is left out.
        """
        black, white = levels
        return np.clip((thumb - np.float32(black)) * np.float32(255.0 / (white - black)), 0.0, 255.0)

    # --- per-frame statistics -------------------------------------------------------------------
    def _observe(self, image: Any) -> tuple[Any, str]:
        """The statistics thumbnail (luma, darkest, brightest channel; on the backend) and the scene event."""
        planar = is_i420(image)
        height, width = i420_size(image) if planar else image.shape[:2]
        p = self.params
        factor = thumbnail_factor(height, width, STATS_WIDTH if p.clahe > 0 else LEVELS_WIDTH)
        tshape = (height // factor, width // factor)
        stats = self.buffer("thumb", (3,) + tshape, "float32")
        if planar:
            # The BGR colour of each block's mean Y'CbCr, then the same statistics from that.
            bgr = i420_bgr_thumbnail(i420_planes(image), self.yuv_coefficients()[0], factor, taps=2,
                                     out=self.buffer("thumb_bgr", tshape + (3,), "float32"), backend=self.backend)
            bgr_stats_thumbnail(bgr, 1, out=stats, backend=self.backend)
        else:
            # A 2x2 average per block: enough samples for the histograms at a quarter of the reads.
            bgr_stats_thumbnail(image, factor, taps=2, out=stats, backend=self.backend)
        host = self.buffer("thumb_host", tshape, "float32", host=True) if self.backend.is_cuda else None
        host_thumb = self.backend.to_host(stats[0], out=host)
        # About 160 samples across are plenty to tell a cut from motion.
        return stats, self._watch(host_thumb[::2, ::2] if p.clahe > 0 else host_thumb)

    def _level_reading(self, stats: Any) -> tuple[float, float] | None:
        """Level targets of one frame's statistics (no smoothing); ``None`` without statistics or levels."""
        p = self.params
        if not p.levels:
            return None
        # Black point from the darkest channel, white point from the brightest: the stretch then clips
        # no channel of a colour cast.
        lo = tile_histograms(stats[1], out=self.buffer("hist_lo", (1, 1, BINS), "int32"), backend=self.backend)
        hi = tile_histograms(stats[2], out=self.buffer("hist_hi", (1, 1, BINS), "int32"), backend=self.backend)
        if self.backend.xp is not np:
            lo, hi = lo.get(), hi.get()
        low = levels_from_histogram(lo[0, 0], p.black_pct, p.white_pct)
        high = levels_from_histogram(hi[0, 0], p.black_pct, p.white_pct)
        return None if low is None or high is None else level_targets(low[0], high[1], p)
