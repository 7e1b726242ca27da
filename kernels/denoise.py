"""Motion-adaptive temporal + edge-preserving spatial denoising.

The frame is split into a full-resolution luma plane and two half-resolution
colour-difference planes (2x2 means of ``B-Y`` and ``R-Y``; video is almost
always 4:2:0, and chroma noise can take much more filtering), so luma and
chroma get separate strengths.  Per plane and per sample, one fused pass does:

* a 3x3 edge-preserving spatial filter (a soft "sigma filter": neighbours
  further than ``spatial_range * sigma`` from the centre get no weight),
* a motion weight from the 3x3 mean of ``current - history`` (nine
  differences averaged, so noise-sized values read as "static"),
* a history clamp to the current sample's 3x3 range, so a moving edge cannot
  leave a ghost behind it,
* a recursive blend: static samples average over time (the new frame weighs
  at least ``temporal``); moving samples take the spatial estimate, which
  carries the load where time cannot.

Here are that per-sample math, its coefficients (:func:`plane_coefficients`; the luma plane's
thresholds follow the noise at each sample's level) and the CPU row loops of the passes,
:mod:`kernels.denoise_bgr` and :mod:`kernels.denoise_i420`.  The noise sigmas come from
:mod:`kernels.noise`; the history may be read displaced by a global integer shift (camera pan),
estimated on luma thumbnails by phase correlation (:mod:`kernels.thumbnail`).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from kernels.backend import cpu_device, cpu_row, twin

#: Number of per-plane coefficients the fused kernel reads (see :func:`plane_coefficients`).
N_COEFFS = 6
#: Level (8-bit) at which a plane's noise sigma is given; the coefficient ``slope`` scales it elsewhere.
NOISE_REF_LEVEL = 128.0
#: Smallest noise variance, relative to the reference level's, a dark sample is filtered for (pure shot
#: noise has none at black; some filtering is kept there for the read noise a fit may miss).
MIN_VARIANCE_RATIO = 1.0 / 16.0
#: Weight that disables the spatial filter (any non-zero difference gets weight 0).
_NO_SPATIAL = 1.0e30

#: The fused passes' CPU loops: :func:`kernels.backend.cpu_kernel` with NumPy's error model.  Numba's
#: default (Python) model puts a zero-divisor check, with its exception path, on every ``/``; that
#: branch stops LLVM vectorizing the spatial filter's ``acc / wsum`` (wsum >= 1): measured 3x slower.
_vector_kernel = numba.njit(parallel=True, nogil=True, cache=True, error_model="numpy")


# --- per-pixel math, written once ------------------------------------------------

def _tap_px(c0, n, inv_t2, acc, wsum):
    # Soft range weight (1 - d^2/t^2)+: no exp, and exactly 0 across edges.
    d = n - c0
    w = max(np.float32(0.0), np.float32(1.0) - d * d * inv_t2)
    return acc + w * n, wsum + w


def _spatial_px(c0, n1, n2, n3, n4, n5, n6, n7, n8, inv_t2):
    """Edge-preserving 3x3 mean: neighbours weighted by their closeness to the centre."""
    acc, wsum = c0, np.float32(1.0)
    acc, wsum = _tap_i(c0, n1, inv_t2, acc, wsum)  # noqa: F821
    acc, wsum = _tap_i(c0, n2, inv_t2, acc, wsum)  # noqa: F821
    acc, wsum = _tap_i(c0, n3, inv_t2, acc, wsum)  # noqa: F821
    acc, wsum = _tap_i(c0, n4, inv_t2, acc, wsum)  # noqa: F821
    acc, wsum = _tap_i(c0, n5, inv_t2, acc, wsum)  # noqa: F821
    acc, wsum = _tap_i(c0, n6, inv_t2, acc, wsum)  # noqa: F821
    acc, wsum = _tap_i(c0, n7, inv_t2, acc, wsum)  # noqa: F821
    acc, wsum = _tap_i(c0, n8, inv_t2, acc, wsum)  # noqa: F821
    return acc / wsum


def _settle_px(c0, s, h0, diff, lo, hi, amin, thr, mgain, spatial, fresh):
    """One plane sample from the 3x3 mean of ``current - history`` (``diff``) and the current 3x3 range.

    ``c0`` and ``h0`` are the sample and its history, ``s`` its spatial estimate.
    """
    # A reset (fresh = 1) counts as motion everywhere.
    m = min(np.float32(1.0), max(max(abs(diff) - thr, np.float32(0.0)) * mgain, fresh))
    # The history, clamped to the current 3x3 range: a moving edge leaves no ghost.
    h = min(max(h0, lo), hi)
    a = amin + (np.float32(1.0) - amin) * m
    cur = c0 + (s - c0) * (spatial * m)
    # Written as a convex mix so that a = 1 returns cur exactly (planes off = identity).
    return cur * a + h * (np.float32(1.0) - a)


def _temporal_px(c0, n1, n2, n3, n4, n5, n6, n7, n8, h0, h1, h2, h3, h4, h5, h6, h7, h8,
                 s, amin, thr, mgain, spatial, fresh):
    """One plane sample from its 3x3 current and history neighbourhoods, given its spatial estimate ``s``."""
    # Motion: the 3x3 mean of (current - history).  Averaging nine
    # differences cuts their noise by 3, so static texture stays "static"
    # while a per-pixel test would call every large noise sample motion (and
    # copy it into the history).
    diff = ((c0 - h0) + (n1 - h1) + (n2 - h2) + (n3 - h3) + (n4 - h4) + (n5 - h5) + (n6 - h6) + (n7 - h7)
            + (n8 - h8)) * np.float32(1.0 / 9.0)
    lo = min(min(min(c0, n1), min(n2, n3)), min(min(n4, n5), min(min(n6, n7), n8)))
    hi = max(max(max(c0, n1), max(n2, n3)), max(max(n4, n5), max(max(n6, n7), n8)))
    return _settle_i(c0, s, h0, diff, lo, hi, amin, thr, mgain, spatial, fresh)  # noqa: F821


def _level_scale_px(total, slope):
    """Noise sigma at a sample's level relative to the plane's reference sigma, and its reciprocal.

    ``total`` is the sum of the sample's 3x3 neighbourhood (the mean is a steadier level than
    the noisy sample); ``slope`` the relative change of the noise variance per level (shot
    noise grows with the signal).  Slope 0 gives exactly 1 and 1: one sigma for the plane.
    """
    level = total * np.float32(1.0 / 9.0)
    v = max(np.float32(1.0) + slope * (level - np.float32(NOISE_REF_LEVEL)), np.float32(MIN_VARIANCE_RATIO))
    sd = math.sqrt(v)
    return sd, np.float32(1.0) / sd


def _temporal_level_px(c0, n1, n2, n3, n4, n5, n6, n7, n8, h0, h1, h2, h3, h4, h5, h6, h7, h8,
                       s, amin, thr, mgain, spatial, slope, fresh):
    """:func:`_temporal_px` with the motion test scaled to the noise at the sample's level."""
    sd, rs = _level_scale_i(c0 + n1 + n2 + n3 + n4 + n5 + n6 + n7 + n8, slope)  # noqa: F821
    return _temporal_i(c0, n1, n2, n3, n4, n5, n6, n7, n8, h0, h1, h2, h3, h4, h5, h6, h7, h8,  # noqa: F821
                          s, amin, thr * sd, mgain * rs, spatial, fresh)


def _denoise_px(c0, n1, n2, n3, n4, n5, n6, n7, n8, h0, h1, h2, h3, h4, h5, h6, h7, h8,
                inv_t2, amin, thr, mgain, spatial, fresh):
    """One plane sample: the spatial estimate, then the motion-adaptive temporal blend."""
    s = _spatial_i(c0, n1, n2, n3, n4, n5, n6, n7, n8, inv_t2)  # noqa: F821
    return _temporal_i(c0, n1, n2, n3, n4, n5, n6, n7, n8, h0, h1, h2, h3, h4, h5, h6, h7, h8,  # noqa: F821
                          s, amin, thr, mgain, spatial, fresh)


def _denoise_level_px(c0, n1, n2, n3, n4, n5, n6, n7, n8, h0, h1, h2, h3, h4, h5, h6, h7, h8,
                      inv_t2, amin, thr, mgain, spatial, slope, fresh):
    """:func:`_denoise_px` with both thresholds following the noise at the sample's level (``slope``,
    see :func:`_level_scale_px`); slope 0 gives exactly :func:`_denoise_px`'s result."""
    sd, rs = _level_scale_i(c0 + n1 + n2 + n3 + n4 + n5 + n6 + n7 + n8, slope)  # noqa: F821
    s = _spatial_i(c0, n1, n2, n3, n4, n5, n6, n7, n8, inv_t2 * (rs * rs))  # noqa: F821
    return _temporal_i(c0, n1, n2, n3, n4, n5, n6, n7, n8, h0, h1, h2, h3, h4, h5, h6, h7, h8,  # noqa: F821
                          s, amin, thr * sd, mgain * rs, spatial, fresh)


_settle = twin(_settle_px)
_level_scale = twin(_level_scale_px)
_spatial = twin(_spatial_px, _tap_i=twin(_tap_px))
_temporal = twin(_temporal_px, _settle_i=_settle)
_denoise_level = twin(_denoise_level_px, _level_scale_i=_level_scale, _spatial_i=_spatial, _temporal_i=_temporal)
_settle_cpu, _level_scale_cpu, _temporal_cpu = _settle.cpu, _level_scale.cpu, _temporal.cpu
_temporal_level_cpu = twin(_temporal_level_px, _level_scale_i=_level_scale, _temporal_i=_temporal).cpu
_denoise_cpu = twin(_denoise_px, _spatial_i=_spatial, _temporal_i=_temporal).cpu
_denoise_level_cpu = _denoise_level.cpu


# --- the fused denoise pass --------------------------------------------------------------

def _denoise_at_px(cur, hist, k, row, col, shift_y, shift_x, fresh):
    # Clamped (replicated-border) taps.  The CPU loop uses it for the few columns at the plane
    # edges (its interior loop is unrolled for speed); the CUDA kernel for every sample.
    height, width = cur.shape[0], cur.shape[1]
    rn = max(row - 1, 0)
    rs = min(row + 1, height - 1)
    cw = max(col - 1, 0)
    ce = min(col + 1, width - 1)
    hr = min(max(row - shift_y, 0), height - 1)
    hn = min(max(row - shift_y - 1, 0), height - 1)
    hs = min(max(row - shift_y + 1, 0), height - 1)
    hc = min(max(col - shift_x, 0), width - 1)
    hw = min(max(col - shift_x - 1, 0), width - 1)
    he = min(max(col - shift_x + 1, 0), width - 1)
    f = np.float32  # uint8 (I420) planes are read as levels, float32 ones as they are
    return _denoise_i(  # noqa: F821 (bound per target)
        f(cur[row, col]), f(cur[rn, cw]), f(cur[rn, col]), f(cur[rn, ce]), f(cur[row, cw]), f(cur[row, ce]),
        f(cur[rs, cw]), f(cur[rs, col]), f(cur[rs, ce]),
        f(hist[hr, hc]), f(hist[hn, hw]), f(hist[hn, hc]), f(hist[hn, he]), f(hist[hr, hw]), f(hist[hr, he]),
        f(hist[hs, hw]), f(hist[hs, hc]), f(hist[hs, he]), k[0], k[1], k[2], k[3], k[4], k[5], fresh)


_denoise_at_cpu, _denoise_at_cuda = twin(_denoise_at_px, _denoise_i=_denoise_level)


@cpu_device
def _row_window_cpu(cur, hist, row, shift_y, shift_x):
    """Interior columns ``lo:hi`` of ``row`` and the three current and (shifted) history rows around it.

    Interior columns need no clamping: their taps and their shifted history taps are inside
    the rows, so the inner loops are plain contiguous loads.
    """
    height, width = cur.shape
    last_r = height - 1
    lo = min(max(1, 1 + shift_x), width)
    hi = max(min(width - 1, width - 1 + shift_x), lo)
    return (lo, hi, cur[max(row - 1, 0)], cur[row], cur[min(row + 1, last_r)],
            hist[min(max(row - shift_y - 1, 0), last_r)], hist[min(max(row - shift_y, 0), last_r)],
            hist[min(max(row - shift_y + 1, 0), last_r)])


@cpu_row
def _denoise_edges_cpu(cur, hist, k, row, shift_y, shift_x, fresh, lo, hi, dst):
    # The columns outside [lo, hi), whose taps reach past the row or the history: a few per row.
    for col in range(0, lo):
        dst[col] = _denoise_at_cpu(cur, hist, k, row, col, shift_y, shift_x, fresh)
    for col in range(hi, cur.shape[1]):
        dst[col] = _denoise_at_cpu(cur, hist, k, row, col, shift_y, shift_x, fresh)


@cpu_row
def _denoise_row_cpu(cur, hist, k, row, shift_y, shift_x, fresh, dst):
    lo, hi, north, mid, south, h_n, h_m, h_s = _row_window_cpu(cur, hist, row, shift_y, shift_x)
    inv_t2 = k[0]
    amin = k[1]
    thr = k[2]
    mgain = k[3]
    spatial = k[4]
    slope = k[5]
    # Unsigned indices: Numba adds a negative-index wraparound select to every
    # signed index, which stops LLVM vectorizing this loop (measured 5x slower).
    one = np.uintp(1)
    f = np.float32  # uint8 (I420) planes are read as levels, float32 ones as they are
    # Four loops, not one with branches: the level-following math costs a quarter more per sample,
    # and planes with one noise level (slope 0: chroma, manual sigma) skip it.
    if spatial > 0 and slope == 0:
        for c in range(lo, hi):
            col = np.uintp(c)
            j = np.uintp(c - shift_x)
            dst[col] = _denoise_cpu(f(mid[col]), f(north[col - one]), f(north[col]), f(north[col + one]),
                                    f(mid[col - one]), f(mid[col + one]), f(south[col - one]), f(south[col]),
                                    f(south[col + one]), f(h_m[j]), f(h_n[j - one]), f(h_n[j]), f(h_n[j + one]),
                                    f(h_m[j - one]), f(h_m[j + one]), f(h_s[j - one]), f(h_s[j]), f(h_s[j + one]),
                                    inv_t2, amin, thr, mgain, spatial, fresh)
    elif spatial > 0:
        for c in range(lo, hi):
            col = np.uintp(c)
            j = np.uintp(c - shift_x)
            dst[col] = _denoise_level_cpu(
                f(mid[col]), f(north[col - one]), f(north[col]), f(north[col + one]), f(mid[col - one]),
                f(mid[col + one]), f(south[col - one]), f(south[col]), f(south[col + one]), f(h_m[j]),
                f(h_n[j - one]), f(h_n[j]), f(h_n[j + one]), f(h_m[j - one]), f(h_m[j + one]), f(h_s[j - one]),
                f(h_s[j]), f(h_s[j + one]), inv_t2, amin, thr, mgain, spatial, slope, fresh)
    elif slope == 0:
        # Without spatial filtering its eight taps are skipped (same result: the
        # spatial estimate gets weight 0), which halves the work per sample.
        for c in range(lo, hi):
            col = np.uintp(c)
            j = np.uintp(c - shift_x)
            c0 = f(mid[col])
            dst[col] = _temporal_cpu(c0, f(north[col - one]), f(north[col]), f(north[col + one]),
                                     f(mid[col - one]), f(mid[col + one]), f(south[col - one]), f(south[col]),
                                     f(south[col + one]), f(h_m[j]), f(h_n[j - one]), f(h_n[j]), f(h_n[j + one]),
                                     f(h_m[j - one]), f(h_m[j + one]), f(h_s[j - one]), f(h_s[j]), f(h_s[j + one]),
                                     c0, amin, thr, mgain, spatial, fresh)
    else:
        for c in range(lo, hi):
            col = np.uintp(c)
            j = np.uintp(c - shift_x)
            c0 = f(mid[col])
            dst[col] = _temporal_level_cpu(
                c0, f(north[col - one]), f(north[col]), f(north[col + one]), f(mid[col - one]), f(mid[col + one]),
                f(south[col - one]), f(south[col]), f(south[col + one]), f(h_m[j]), f(h_n[j - one]), f(h_n[j]),
                f(h_n[j + one]), f(h_m[j - one]), f(h_m[j + one]), f(h_s[j - one]), f(h_s[j]), f(h_s[j + one]),
                c0, amin, thr, mgain, spatial, slope, fresh)
    _denoise_edges_cpu(cur, hist, k, row, shift_y, shift_x, fresh, lo, hi, dst)


def plane_coefficients(sigmas, *, temporal: float, spatial: float, spatial_range: float = 2.5,
                       motion_threshold=3.0, motion_ramp: float = 2.0, motion_sigmas=None,
                       slopes=None, out: np.ndarray | None = None) -> np.ndarray:
    """Per-plane coefficients of :func:`~kernels.denoise_bgr.denoise_planes` from noise sigmas.

    Parameters
    ----------
    sigmas : sequence of 3 floats
        Effective noise sigma of the luma plane and the two half-resolution
        chroma planes, in 8-bit levels; 0 leaves the plane untouched.
    temporal : float
        Smallest weight of the current frame in static areas, in (0, 1]; 1 disables temporal averaging.
    spatial : float
        How much of the spatial estimate moving pixels take, in [0, 1].
    spatial_range : float
        Neighbours further than ``spatial_range * sigma`` from the centre get no spatial weight.
    motion_threshold, motion_ramp : float
        A 3x3 mean difference below ``motion_threshold`` times its noise (``sigma / 3``)
        is static; motion is full ``motion_ramp`` times that noise above it.
        ``motion_threshold`` may also be a sequence of 3, one per plane.
    motion_sigmas : sequence of 3 floats, optional
        Noise sigmas for the motion test (default ``sigmas``).  A strength above 1
        should widen the spatial filter, not the motion test: a wider test
        lets real motion through as "static" and ghosts.
    slopes : sequence of 3 floats, optional
        Relative change of each plane's noise variance per level of its samples (3x3 mean):
        the sigmas hold at :data:`NOISE_REF_LEVEL` and are scaled by
        ``sqrt(max(1 + slope * (level - NOISE_REF_LEVEL), MIN_VARIANCE_RATIO))`` elsewhere.
        Default 0: one sigma per plane.
    out : ndarray, optional
        ``(3, N_COEFFS) float32`` host destination.

    Returns
    -------
    ndarray
        ``(3, N_COEFFS) float32``: ``inv_t2, amin, thr, mgain, spatial, slope`` per plane.
    """
    if out is None:
        out = np.zeros((3, N_COEFFS), np.float32)
    if motion_sigmas is None:
        motion_sigmas = sigmas
    if slopes is None:
        slopes = (0.0, 0.0, 0.0)
    thresholds = np.broadcast_to(np.asarray(motion_threshold, np.float64), (3,))
    for p, (sigma, msigma, slope, mthr) in enumerate(zip(sigmas, motion_sigmas, slopes, thresholds)):
        sigma = float(sigma)
        msigma = max(float(msigma), 1e-3)
        if sigma <= 1e-3:
            out[p] = (_NO_SPATIAL, 1.0, 0.0, 0.0, 0.0, 0.0)
            continue
        # The motion test reads a 3x3 mean difference, whose noise is sigma / 3.
        out[p] = (1.0 / (spatial_range * sigma) ** 2, temporal, float(mthr) * msigma / 3.0,
                  3.0 / (motion_ramp * msigma), spatial, float(slope))
    return out

def _shifts(shift: tuple[int, int]) -> tuple[int, int, int, int]:
    """The history's luma shift ``(dy, dx)`` and the half-resolution chroma planes' (rounded)."""
    dy, dx = int(shift[0]), int(shift[1])
    return dy, dx, int(round(dy / 2)), int(round(dx / 2))
