"""Noise estimation per plane and signal level, for the denoiser's thresholds.

Noise is estimated per plane from the median absolute response of Immerkaer's
3x3 mask (standard deviation ``6 * sigma`` for white noise).  Read noise has the
same sigma at every level, shot noise a variance proportional to the signal: one
sigma per plane over-smooths dark areas and leaves grain on bright ones.  The mask
responses are therefore counted per signal level (the sample's 3x3 luma mean; for
a half-resolution chroma sample the mean of its 2x2 luma block) and a line
``variance = a + b * level`` is fitted per plane (:func:`noise_model`).
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_device, cpu_kernel, cuda, cuda_kernel, twin

#: Histogram of |mask response| used by the noise estimator: bins of BIN_WIDTH levels.
NOISE_BINS = 1024
NOISE_BIN_WIDTH = 0.5
#: Noise-mask responses a plane's noise estimate needs at most (see :func:`noise_step`).
NOISE_SAMPLES = 65536
#: Signal-level bins of the noise histogram (16 levels each).
NOISE_LEVELS = 16
#: Responses a level bin needs to count in the noise fit.
NOISE_MIN_BIN_SAMPLES = 64


def _response_px(c, n, s, e, w, ne, nw, se, sw):
    # Immerkaer's mask [1 -2 1; -2 4 -2; 1 -2 1]: cancels planes and ramps.  Float sums:
    # uint8 (I420) samples would wrap in uint8 arithmetic (the CUDA simulator's).
    f = np.float32
    return abs(f(4.0) * f(c) - f(2.0) * (f(n) + f(s) + f(e) + f(w)) + (f(ne) + f(nw) + f(se) + f(sw)))


def _level_at_px(pl, lum, row, col, sub):
    # The luma level a sample's noise depends on (see the module docstring).
    f = np.float32
    if sub:
        lh, lw = lum.shape
        r0 = min(2 * row, lh - 1)
        r1 = min(2 * row + 1, lh - 1)
        c0 = min(2 * col, lw - 1)
        c1 = min(2 * col + 1, lw - 1)
        return (f(lum[r0, c0]) + f(lum[r0, c1]) + f(lum[r1, c0]) + f(lum[r1, c1])) * f(0.25)
    return (f(pl[row, col]) + f(pl[row - 1, col]) + f(pl[row + 1, col]) + f(pl[row, col + 1]) + f(pl[row, col - 1])
            + f(pl[row - 1, col + 1]) + f(pl[row - 1, col - 1]) + f(pl[row + 1, col + 1])
            + f(pl[row + 1, col - 1])) * f(1.0 / 9.0)


def _bins_at_px(pl, lum, row, col, sub, inv_bin, levels, last):
    # The (level bin, response bin) of one sample; levels outside 0..255 (BGR chroma never, luma
    # float rounding) are clamped into the end bins.
    r = _response_i(pl[row, col], pl[row - 1, col], pl[row + 1, col], pl[row, col + 1],  # noqa: F821 (bound per target)
                    pl[row, col - 1], pl[row - 1, col + 1], pl[row - 1, col - 1],
                    pl[row + 1, col + 1], pl[row + 1, col - 1])
    level = _level_i(pl, lum, row, col, sub)  # noqa: F821 (bound per target)
    lb = min(max(int(level * np.float32(levels / 256.0)), 0), levels - 1)
    return lb, min(int(r * inv_bin), last)


_bins_at_cpu, _bins_at_cuda = twin(_bins_at_px, _response_i=twin(_response_px), _level_i=twin(_level_at_px))


@cpu_device
def _hist_plane_cpu(pl, lum, sub, step, inv_bin, hist, p):
    height, width = pl.shape
    levels = hist.shape[1]
    last = hist.shape[2] - 1
    for row in range(1, height - 1, step):
        for col in range(1, width - 1, step):
            lb, rb = _bins_at_cpu(pl, lum, row, col, sub, inv_bin, levels, last)
            hist[p, lb, rb] += 1


@cpu_kernel
def _noise_hist_cpu(luma, chroma, luma_step, chroma_step, inv_bin, hist):
    # One plane per parallel iteration keeps the histograms race-free without atomics.
    for p in prange(3):
        if p == 0:
            _hist_plane_cpu(luma, luma, False, luma_step, inv_bin, hist, 0)
        else:
            _hist_plane_cpu(chroma[p - 1], luma, True, chroma_step, inv_bin, hist, p)


@cuda_kernel
def _noise_hist_cuda(pl, lum, sub, step, inv_bin, hist, p):
    j, i = cuda.grid(2)
    height, width = pl.shape
    row = 1 + i * step
    col = 1 + j * step
    if row >= height - 1 or col >= width - 1:
        return
    lb, rb = _bins_at_cuda(pl, lum, row, col, sub, inv_bin, hist.shape[1], hist.shape[2] - 1)
    cuda.atomic.add(hist, (p, lb, rb), 1)


def noise_step(height: int, width: int) -> int:
    """Sampling step of :func:`noise_histogram` on a ``height x width`` plane.

    Every other row and column, sparser on large planes: the fit needs no more
    than about :data:`NOISE_SAMPLES` responses, and the histogram pass (a
    scatter, which does not vectorize) then costs the same at any resolution.
    """
    return max(2, math.isqrt(height * width // NOISE_SAMPLES))


def noise_histogram(luma, chroma, *, step: int | None = None, out, backend: Backend = CPU):
    """Histogram of the noise-mask response per plane and signal level (input of :func:`noise_model`).

    Parameters
    ----------
    luma, chroma : ndarray
        Planes from :func:`kernels.denoise_bgr.to_planes` or :func:`kernels.planes.i420_luma_chroma` (float32 or uint8).
    step : int, optional
        Sample every ``step``-th row and column (>= 1) of every plane; default
        :func:`noise_step` of each plane.
    out : ndarray
        ``(3, NOISE_LEVELS, NOISE_BINS) int32``; overwritten (plane 0 luma, 1-2 chroma; level
        bins of ``256 / NOISE_LEVELS`` luma levels). Returned.
    backend : Backend
        Where to run.
    """
    out[...] = 0
    inv_bin = np.float32(1.0 / NOISE_BIN_WIDTH)
    luma_step = step or noise_step(*luma.shape)
    chroma_step = step or noise_step(*chroma.shape[1:])
    if backend.is_cuda:
        for p, pl, pstep in ((0, luma, luma_step), (1, chroma[0], chroma_step), (2, chroma[1], chroma_step)):
            rows = (pl.shape[0] - 2 + pstep - 1) // pstep
            cols = (pl.shape[1] - 2 + pstep - 1) // pstep
            if rows > 0 and cols > 0:
                backend.launch_2d(_noise_hist_cuda, rows, cols)(pl, luma, p > 0, pstep, inv_bin, out, p)
    else:
        _noise_hist_cpu(luma, chroma, luma_step, chroma_step, inv_bin, out)
    return out


def _median_sigma(counts: np.ndarray) -> float:
    """Noise sigma from one histogram of ``|mask response|``: the median of ``|N(0, 6 sigma)|`` is
    ``0.6745 * 6 * sigma``; texture only lifts the upper tail, so the median stays close to the noise."""
    total = int(counts.sum())
    if total == 0:
        return 0.0
    cum = np.cumsum(counts)
    k = int(np.searchsorted(cum, total / 2.0))
    # Linear interpolation inside the median bin.
    before = cum[k - 1] if k > 0 else 0
    frac = (total / 2.0 - before) / max(int(counts[k]), 1)
    return float((k + frac) * NOISE_BIN_WIDTH / (0.6745 * 6.0))


def noise_model(hist: np.ndarray, min_samples: int = NOISE_MIN_BIN_SAMPLES) -> np.ndarray:
    """Signal-dependent noise per plane, ``variance = a + b * level``, from :func:`noise_histogram` counts.

    Per level bin with at least ``min_samples`` responses, the median sigma; then a line
    through the variances, each weighted by its count over its square (a variance estimate's
    error grows with it, and texture only inflates: the lowest bins are the most trusted).
    ``a`` and ``b`` are kept non-negative.

    Parameters
    ----------
    hist : ndarray
        ``(3, NOISE_LEVELS, NOISE_BINS)`` host counts.
    min_samples : int
        Level bins with fewer responses are left out.

    Returns
    -------
    ndarray
        ``(3, 3) float64``: per plane ``a`` (levels squared), ``b`` (levels) and the mean luma
        level of the samples (0 where there were none).
    """
    planes, levels = hist.shape[0], hist.shape[1]
    centres = (np.arange(levels) + 0.5) * (256.0 / levels)
    out = np.zeros((planes, 3))
    for p in range(planes):
        counts = hist[p].sum(axis=1).astype(np.float64)
        if counts.sum() == 0:
            continue
        out[p, 2] = float((counts * centres).sum() / counts.sum())
        used = counts >= min(min_samples, counts.max())
        var = np.array([_median_sigma(hist[p, k]) ** 2 for k in np.flatnonzero(used)])
        out[p, :2] = _fit_line(centres[used], var, counts[used])
    return out


def _fit_line(x: np.ndarray, y: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """Weighted least squares ``y = a + b x`` with weights ``n / y^2``, ``a, b >= 0``."""
    w = n / np.maximum(y, 1e-2) ** 2
    sw, sx, sy = w.sum(), (w * x).sum(), (w * y).sum()
    sxx, sxy = (w * x * x).sum(), (w * x * y).sum()
    det = sw * sxx - sx * sx
    if x.size < 2 or det <= 1e-9 * sw * sxx:
        return float(sy / sw), 0.0
    b = (sw * sxy - sx * sy) / det
    a = (sy - b * sx) / sw
    if b < 0:  # noise falling with the level: clipping or texture; one variance for all
        return float(sy / sw), 0.0
    if a < 0:  # pure shot noise: a line through the origin
        return 0.0, float(sxy / sxx)
    return float(a), float(b)


def luma_sigma(luma, *, rows: int = 64, xp=np) -> float:
    """One noise sigma for a whole luma plane, from about ``rows`` rows: the median Immerkaer response.

    As :func:`noise_model` reads each level's histogram, without the levels (a coring threshold
    needs one number); texture lifts it a little.  ``xp``: ``numpy`` or ``cupy``, ``luma``'s module.
    """
    step = max(1, (luma.shape[0] - 2) // rows)
    a, b, c = (luma[k:luma.shape[0] - 2 + k:step].astype(xp.float32) for k in range(3))
    if b.shape[0] == 0 or b.shape[1] < 3:
        return 0.0
    r = 4 * b[:, 1:-1] - 2 * (a[:, 1:-1] + c[:, 1:-1] + b[:, :-2] + b[:, 2:]) + a[:, :-2] + a[:, 2:] + c[:, :-2] + c[:, 2:]
    return float(xp.median(xp.abs(r))) / (0.6745 * 6.0)
