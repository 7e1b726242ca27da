"""Statistics of the contrast stage, from a thumbnail of luma and the darkest and brightest channel
(:func:`kernels.thumbnail.bgr_stats_thumbnail`): per-tile 256-bin luma histograms (:func:`tile_histograms`)
for CLAHE, global histograms of the darkest and brightest channel that auto-levels reads its black
and white points from (:func:`levels_from_histogram`, on the host).  :func:`tile_mappings` clips each
tile histogram, redistributes the excess, integrates it into a CDF and blends the result into a
float32 state (an exponential moving average: no flicker), which :mod:`kernels.contrast` applies.
"""
from __future__ import annotations

import numba
import numpy as np

from kernels.backend import CPU, Backend, cuda, cuda_kernel, twin
from kernels.contrast import BINS, _bin


def _serial_kernel(fn):
    # Small statistics loops: serial, and holding the GIL, since they take
    # well under a millisecond; handing the GIL to the decode/encode threads
    # and taking it back can cost a 5 ms switch interval.
    return numba.njit(cache=True)(fn)


def _tile_map_px(hist, ty, tx, clip, alpha, state):
    """Clip-limited CDF of one tile histogram, blended into ``state[ty, tx]`` with weight ``alpha``."""
    total = np.float32(0.0)
    for i in range(BINS):
        total += np.float32(hist[ty, tx, i])
    if total <= np.float32(0.0):
        # An empty tile (thumbnail smaller than the grid) maps every level to itself.
        for i in range(BINS):
            state[ty, tx, i] += (np.float32(i) - state[ty, tx, i]) * alpha
        return
    limit = max(clip * total / np.float32(BINS), np.float32(1.0))
    excess = np.float32(0.0)
    for i in range(BINS):
        excess += max(np.float32(hist[ty, tx, i]) - limit, np.float32(0.0))
    # The clipped mass is spread evenly over all bins (what CLAHE does), so
    # the CDF still ends at ``total``.
    spread = excess / np.float32(BINS)
    norm = np.float32(255.0) / total
    cum = np.float32(0.0)
    for i in range(BINS):
        cum += min(np.float32(hist[ty, tx, i]), limit) + spread
        state[ty, tx, i] += (cum * norm - state[ty, tx, i]) * alpha


_tile_map_cpu, _tile_map_cuda = twin(_tile_map_px)
_bin_cpu, _bin_cuda = _bin


# --- tile histograms --------------------------------------------------------------------------

# The thumbnail (a sixteenth of the frame's pixels at 720p), histogram and
# mapping loops are small: serial loops, since a parallel region's start-up
# and barrier (a full scheduler slice when the cores are busy: measured 7-10 ms
# per region under load, against well under 1 ms of work) cost more.
@_serial_kernel
def _tile_hist_cpu(thumb, hist):
    th, tw = thumb.shape
    gy, gx = hist.shape[0], hist.shape[1]
    for ty in range(gy):
        for i in range(ty * th // gy, (ty + 1) * th // gy):
            for j in range(tw):
                hist[ty, j * gx // tw, _bin_cpu(thumb[i, j])] += 1


@cuda_kernel
def _tile_hist_cuda(thumb, hist):
    j, i = cuda.grid(2)
    th, tw = thumb.shape
    if i >= th or j >= tw:
        return
    gy, gx = hist.shape[0], hist.shape[1]
    # The largest ty with ty*th//gy <= i, i.e. the CPU kernel's row split in closed form.
    ty = ((i + 1) * gy - 1) // th
    tx = j * gx // tw
    cuda.atomic.add(hist, (ty, tx, _bin_cuda(thumb[i, j])), 1)


def tile_histograms(thumb, *, out, backend: Backend = CPU):
    """256-bin luma histograms of a grid of tiles of a thumbnail.

    Tile ``(ty, tx)`` holds thumbnail rows ``[ty*h//gy, (ty+1)*h//gy)`` and the
    columns with ``col*gx//w == tx``; the sum over tiles is the global histogram.

    Parameters
    ----------
    thumb : ndarray
        ``(h, w) float32`` levels in [0, 255] (a plane of :func:`bgr_stats_thumbnail`).
    out : ndarray
        ``(gy, gx, 256) int32``; overwritten. Returned.
    backend : Backend
        Where to run.
    """
    out[...] = 0
    if thumb.shape[0] == 0 or thumb.shape[1] == 0:
        return out
    backend.run_2d(_tile_hist_cpu, _tile_hist_cuda, thumb.shape[0], thumb.shape[1], thumb, out)
    return out


# --- clip, redistribute, CDF, temporal blend ------------------------------------------------------

@_serial_kernel
def _tile_maps_cpu(hist, clip, alpha, state):
    gy, gx = hist.shape[0], hist.shape[1]
    for t in range(gy * gx):
        _tile_map_cpu(hist, t // gx, t % gx, clip, alpha, state)


@cuda_kernel
def _tile_maps_cuda(hist, clip, alpha, state):
    tx, ty = cuda.grid(2)
    if ty >= hist.shape[0] or tx >= hist.shape[1]:
        return
    _tile_map_cuda(hist, ty, tx, clip, alpha, state)


def tile_mappings(hist, clip_limit: float, alpha: float, *, state, backend: Backend = CPU):
    """CLAHE tile mappings from tile histograms, blended into a running state.

    Parameters
    ----------
    hist : ndarray
        ``(gy, gx, 256) int32`` from :func:`tile_histograms`.
    clip_limit : float
        Histogram clip level as a multiple of the mean bin count (OpenCV's
        ``clipLimit``); large values give plain histogram equalisation.
    alpha : float
        Weight of this frame's mappings in ``state``: 1 replaces it (first frame,
        scene cut), small values smooth the mappings over time.
    state : ndarray
        ``(gy, gx, 256) float32`` mappings (output levels, 0..255, per input level); updated in place.
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``state``.
    """
    clip = np.float32(clip_limit)
    a = np.float32(alpha)
    backend.run_2d(_tile_maps_cpu, _tile_maps_cuda, hist.shape[0], hist.shape[1], hist, clip, a, state)
    return state


def levels_from_histogram(hist: np.ndarray, low_pct: float, high_pct: float) -> tuple[float, float] | None:
    """Black and white points: the ``low_pct`` and ``high_pct`` percentiles of a 256-bin histogram.

    Percentiles are interpolated inside their bin (bin ``i`` spans levels
    ``[i - 0.5, i + 0.5)``), so the points move smoothly as the content does.

    Returns
    -------
    (float, float) or None
        ``(black, white)`` levels, or ``None`` for an empty histogram.
    """
    h = np.asarray(hist, np.float64).reshape(-1)
    total = h.sum()
    if total <= 0:
        return None
    cum = np.cumsum(h)

    def level(q: float) -> float:
        target = total * q / 100.0
        k = int(np.searchsorted(cum, target, side="left"))
        k = min(k, h.size - 1)
        before = cum[k - 1] if k > 0 else 0.0
        frac = (target - before) / h[k] if h[k] > 0 else 0.5
        return k - 0.5 + float(np.clip(frac, 0.0, 1.0))

    return level(low_pct), level(high_pct)
