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

The output keeps each pixel's own full-resolution chroma and adds only the
half-resolution chroma change.  I420 frames (:func:`denoise_i420`) need no
planes of their own: their Y, Cb and Cr planes are read as they are (uint8, in
code values), and the pass writes the output planes directly; without the
spatial filter, its CPU loop takes the current 3x3 range and sum on uint8 and
int16 lanes (the same math; four and two times as many samples per vector).  The
history may be read displaced by a global integer shift (camera pan), estimated
on a small luma thumbnail by phase correlation.

Noise is estimated per plane from the median absolute response of Immerkaer's
3x3 mask (standard deviation ``6 * sigma`` for white noise), counted per signal
level so that read noise (constant) and shot noise (variance growing with the
level) are told apart: :func:`noise_model` fits ``variance = a + b * level``.
The luma plane's thresholds then follow the noise at each sample's level
(coefficient ``slope``, see :func:`plane_coefficients`).
"""
from __future__ import annotations

import math

import cv2
import numba
import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_device, cpu_kernel, cuda, cuda_device, cuda_kernel
from kernels.pixel import VECTOR_MINMAX
from kernels.pixel import u8_px as _u8_px
from kernels.planes import i420_luma_chroma

#: Histogram of |mask response| used by the noise estimator: bins of BIN_WIDTH levels.
NOISE_BINS = 1024
NOISE_BIN_WIDTH = 0.5
#: Noise-mask responses a plane's noise estimate needs at most (see :func:`noise_step`).
NOISE_SAMPLES = 65536
#: Signal-level bins of the noise histogram (16 levels each).
NOISE_LEVELS = 16
#: Responses a level bin needs to count in the noise fit.
NOISE_MIN_BIN_SAMPLES = 64
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

def _to_ycc_px(b, g, r):
    y = np.float32(0.299) * r + np.float32(0.587) * g + np.float32(0.114) * b
    return y, b - y, r - y


def _to_bgr_px(y, u, v):
    b = u + y
    r = v + y
    g = (y - np.float32(0.299) * r - np.float32(0.114) * b) * np.float32(1.0 / 0.587)
    return b, g, r


def _tap_px(c0, n, inv_t2, acc, wsum):
    # Soft range weight (1 - d^2/t^2)+: no exp, and exactly 0 across edges.
    d = n - c0
    w = max(np.float32(0.0), np.float32(1.0) - d * d * inv_t2)
    return acc + w * n, wsum + w


def _spatial_px(c0, n1, n2, n3, n4, n5, n6, n7, n8, inv_t2):
    """Edge-preserving 3x3 mean: neighbours weighted by their closeness to the centre."""
    acc, wsum = c0, np.float32(1.0)
    acc, wsum = _tap_px_i(c0, n1, inv_t2, acc, wsum)
    acc, wsum = _tap_px_i(c0, n2, inv_t2, acc, wsum)
    acc, wsum = _tap_px_i(c0, n3, inv_t2, acc, wsum)
    acc, wsum = _tap_px_i(c0, n4, inv_t2, acc, wsum)
    acc, wsum = _tap_px_i(c0, n5, inv_t2, acc, wsum)
    acc, wsum = _tap_px_i(c0, n6, inv_t2, acc, wsum)
    acc, wsum = _tap_px_i(c0, n7, inv_t2, acc, wsum)
    acc, wsum = _tap_px_i(c0, n8, inv_t2, acc, wsum)
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


_settle_px_i = _settle_px


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
    return _settle_px_i(c0, s, h0, diff, lo, hi, amin, thr, mgain, spatial, fresh)


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
    sd, rs = _level_scale_px_i(c0 + n1 + n2 + n3 + n4 + n5 + n6 + n7 + n8, slope)
    return _temporal_px_i(c0, n1, n2, n3, n4, n5, n6, n7, n8, h0, h1, h2, h3, h4, h5, h6, h7, h8,
                          s, amin, thr * sd, mgain * rs, spatial, fresh)


def _denoise_px(c0, n1, n2, n3, n4, n5, n6, n7, n8, h0, h1, h2, h3, h4, h5, h6, h7, h8,
                inv_t2, amin, thr, mgain, spatial, fresh):
    """One plane sample: the spatial estimate, then the motion-adaptive temporal blend."""
    s = _spatial_px_i(c0, n1, n2, n3, n4, n5, n6, n7, n8, inv_t2)
    return _temporal_px_i(c0, n1, n2, n3, n4, n5, n6, n7, n8, h0, h1, h2, h3, h4, h5, h6, h7, h8,
                          s, amin, thr, mgain, spatial, fresh)


def _denoise_level_px(c0, n1, n2, n3, n4, n5, n6, n7, n8, h0, h1, h2, h3, h4, h5, h6, h7, h8,
                      inv_t2, amin, thr, mgain, spatial, slope, fresh):
    """:func:`_denoise_px` with both thresholds following the noise at the sample's level (``slope``,
    see :func:`_level_scale_px`); slope 0 gives exactly :func:`_denoise_px`'s result."""
    sd, rs = _level_scale_px_i(c0 + n1 + n2 + n3 + n4 + n5 + n6 + n7 + n8, slope)
    s = _spatial_px_i(c0, n1, n2, n3, n4, n5, n6, n7, n8, inv_t2 * (rs * rs))
    return _temporal_px_i(c0, n1, n2, n3, n4, n5, n6, n7, n8, h0, h1, h2, h3, h4, h5, h6, h7, h8,
                          s, amin, thr * sd, mgain * rs, spatial, fresh)


def _recombine_px(b, r, y_cur, y_new, du, dv):
    """Output BGR: new luma, the pixel's own chroma plus the (half-resolution) chroma change."""
    return _to_bgr_px_i(y_new, (b - y_cur) + du, (r - y_cur) + dv)


def _response_px(c, n, s, e, w, ne, nw, se, sw):
    # Immerkaer's mask [1 -2 1; -2 4 -2; 1 -2 1]: cancels planes and ramps.  Float sums:
    # uint8 (I420) samples would wrap in uint8 arithmetic (the CUDA simulator's).
    f = np.float32
    return abs(f(4.0) * f(c) - f(2.0) * (f(n) + f(s) + f(e) + f(w)) + (f(ne) + f(nw) + f(se) + f(sw)))


_to_ycc_cpu = cpu_device(_to_ycc_px)
_to_bgr_cpu = cpu_device(_to_bgr_px)
_u8_cpu = cpu_device(_u8_px, **VECTOR_MINMAX)
_response_cpu = cpu_device(_response_px)
_to_ycc_cuda = cuda_device(_to_ycc_px)
_to_bgr_cuda = cuda_device(_to_bgr_px)
_u8_cuda = cuda_device(_u8_px)
_response_cuda = cuda_device(_response_px)


# The math below calls other math through module globals (``*_i``); each target binds its own.
_tap_px_i = cpu_device(_tap_px)
_spatial_px_i = cpu_device(_spatial_px)
_settle_px_i = _settle_cpu = cpu_device(_settle_px)
_temporal_px_i = cpu_device(_temporal_px)
_level_scale_px_i = _level_scale_cpu = cpu_device(_level_scale_px)
_temporal_cpu = cpu_device(_temporal_px)
_temporal_level_cpu = cpu_device(_temporal_level_px)
_to_bgr_px_i = _to_bgr_cpu
_denoise_cpu = cpu_device(_denoise_px)
_denoise_level_cpu = cpu_device(_denoise_level_px)
_recombine_cpu = cpu_device(_recombine_px)
_denoise_level_cuda = cuda_device(
    _denoise_level_px, _spatial_px_i=cuda_device(_spatial_px, _tap_px_i=cuda_device(_tap_px)),
    _temporal_px_i=cuda_device(_temporal_px, _settle_px_i=cuda_device(_settle_px)),
    _level_scale_px_i=cuda_device(_level_scale_px))
_recombine_cuda = cuda_device(_recombine_px, _to_bgr_px_i=_to_bgr_cuda)


# --- BGR -> planes -------------------------------------------------------------------

def chroma_shape(height: int, width: int) -> tuple[int, int]:
    """Shape of the half-resolution chroma planes for a ``height x width`` frame."""
    return (height + 1) // 2, (width + 1) // 2


def _block_px(frame, luma, chroma, crow, ccol):
    """One 2x2 block (partial at odd edges): its luma samples and mean chroma, one summation order."""
    height, width = frame.shape[0], frame.shape[1]
    su = np.float32(0.0)
    sv = np.float32(0.0)
    n = 0
    for row in range(2 * crow, min(2 * crow + 2, height)):
        for col in range(2 * ccol, min(2 * ccol + 2, width)):
            y, u, v = _to_ycc_i(  # noqa: F821 (bound per target)
                np.float32(frame[row, col, 0]), np.float32(frame[row, col, 1]), np.float32(frame[row, col, 2]))
            luma[row, col] = y
            su += u
            sv += v
            n += 1
    inv = np.float32(1.0) / np.float32(n)
    chroma[0, crow, ccol] = su * inv
    chroma[1, crow, ccol] = sv * inv


_block_cpu = cpu_device(_block_px, _to_ycc_i=_to_ycc_cpu)
_block_cuda = cuda_device(_block_px, _to_ycc_i=_to_ycc_cuda)


@cpu_kernel
def _to_planes_cpu(frame, luma, chroma):
    height, width = frame.shape[0], frame.shape[1]
    quarter = np.float32(0.25)
    for crow in prange(chroma.shape[1]):
        full = 0
        if 2 * crow + 1 < height:
            full = width // 2
            # Whole 2x2 blocks, unrolled, unsigned indices (vectorizable).
            top = frame[2 * crow]
            bot = frame[2 * crow + 1]
            ytop = luma[2 * crow]
            ybot = luma[2 * crow + 1]
            cu = chroma[0, crow]
            cv = chroma[1, crow]
            for c in range(full):
                j = np.uintp(c)
                i0 = np.uintp(2 * c)
                i1 = i0 + np.uintp(1)
                y0, u0, v0 = _to_ycc_cpu(np.float32(top[i0, 0]), np.float32(top[i0, 1]), np.float32(top[i0, 2]))
                y1, u1, v1 = _to_ycc_cpu(np.float32(top[i1, 0]), np.float32(top[i1, 1]), np.float32(top[i1, 2]))
                y2, u2, v2 = _to_ycc_cpu(np.float32(bot[i0, 0]), np.float32(bot[i0, 1]), np.float32(bot[i0, 2]))
                y3, u3, v3 = _to_ycc_cpu(np.float32(bot[i1, 0]), np.float32(bot[i1, 1]), np.float32(bot[i1, 2]))
                ytop[i0] = y0
                ytop[i1] = y1
                ybot[i0] = y2
                ybot[i1] = y3
                cu[j] = (((np.float32(0.0) + u0) + u1) + u2 + u3) * quarter
                cv[j] = (((np.float32(0.0) + v0) + v1) + v2 + v3) * quarter
        for ccol in range(full, chroma.shape[2]):
            _block_cpu(frame, luma, chroma, crow, ccol)


@cuda_kernel
def _to_planes_cuda(frame, luma, chroma):
    # One thread per chroma sample; it also writes the luma of its 2x2 block.
    ccol, crow = cuda.grid(2)
    if crow >= chroma.shape[1] or ccol >= chroma.shape[2]:
        return
    _block_cuda(frame, luma, chroma, crow, ccol)


def to_planes(frame, *, luma, chroma, backend: Backend = CPU):
    """Split a BGR frame into a float32 luma plane and half-resolution ``B-Y, R-Y`` planes.

    Chroma is filtered at half resolution: video is almost always 4:2:0 or
    4:2:2, so full-resolution chroma carries little but noise, and the work
    on the two chroma planes drops fourfold.

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3) uint8`` BGR.
    luma : ndarray
        ``(H, W) float32`` destination for ``Y``.
    chroma : ndarray
        ``(2,) + chroma_shape(H, W)`` float32 destination: 2x2 means of ``B-Y`` and ``R-Y``.
    backend : Backend
        Where to run.

    Returns
    -------
    tuple of ndarray
        ``(luma, chroma)``.
    """
    if backend.is_cuda:
        backend.launch_2d(_to_planes_cuda, chroma.shape[1], chroma.shape[2])(frame, luma, chroma)
    else:
        _to_planes_cpu(frame, luma, chroma)
    return luma, chroma


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


_denoise_at_cpu = cpu_device(_denoise_at_px, _denoise_i=_denoise_level_cpu)
_denoise_at_cuda = cuda_device(_denoise_at_px, _denoise_i=_denoise_level_cuda)


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


@cpu_device
def _denoise_row_cpu(cur, hist, k, row, shift_y, shift_x, fresh, dst):
    width = cur.shape[1]
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
    for col in range(0, lo):
        dst[col] = _denoise_at_cpu(cur, hist, k, row, col, shift_y, shift_x, fresh)
    for col in range(hi, width):
        dst[col] = _denoise_at_cpu(cur, hist, k, row, col, shift_y, shift_x, fresh)


@_vector_kernel
def _denoise_cpu_kernel(frame, luma, chroma, luma_hist, chroma_hist, coeffs, shift_y, shift_x, cshift_y,
                        cshift_x, fresh, out, luma_out, chroma_out):
    height, width = luma.shape
    # One chroma row and its two luma rows per iteration: the output rows
    # need exactly that chroma row, so everything stays in cache.
    for crow in prange(chroma.shape[1]):
        _denoise_row_cpu(chroma[0], chroma_hist[0], coeffs[1], crow, cshift_y, cshift_x, fresh, chroma_out[0, crow])
        _denoise_row_cpu(chroma[1], chroma_hist[1], coeffs[2], crow, cshift_y, cshift_x, fresh, chroma_out[1, crow])
        du_row = chroma_out[0, crow]
        dv_row = chroma_out[1, crow]
        cu_row = chroma[0, crow]
        cv_row = chroma[1, crow]
        for row in range(2 * crow, min(2 * crow + 2, height)):
            y_new = luma_out[row]
            _denoise_row_cpu(luma, luma_hist, coeffs[0], row, shift_y, shift_x, fresh, y_new)
            y_cur = luma[row]
            src = frame[row]
            dst = out[row]
            for c in range(width):
                col = np.uintp(c)
                cc = col >> np.uintp(1)
                b, g, r = _recombine_cpu(np.float32(src[col, 0]), np.float32(src[col, 2]), y_cur[col], y_new[col],
                                         du_row[cc] - cu_row[cc], dv_row[cc] - cv_row[cc])
                dst[col, 0] = _u8_cpu(b)
                dst[col, 1] = _u8_cpu(g)
                dst[col, 2] = _u8_cpu(r)


@cuda_kernel
def _denoise_chroma_cuda(chroma, chroma_hist, coeffs, shift_y, shift_x, fresh, chroma_out):
    col, row = cuda.grid(2)
    if row >= chroma.shape[1] or col >= chroma.shape[2]:
        return
    chroma_out[0, row, col] = _denoise_at_cuda(chroma[0], chroma_hist[0], coeffs[1], row, col, shift_y, shift_x,
                                               fresh)
    chroma_out[1, row, col] = _denoise_at_cuda(chroma[1], chroma_hist[1], coeffs[2], row, col, shift_y, shift_x,
                                               fresh)


@cuda_kernel
def _denoise_luma_cuda(frame, luma, chroma, luma_hist, coeffs, shift_y, shift_x, fresh, chroma_out, out, luma_out):
    # Runs after _denoise_chroma_cuda: the output needs the finished chroma.
    col, row = cuda.grid(2)
    if row >= luma.shape[0] or col >= luma.shape[1]:
        return
    y_new = _denoise_at_cuda(luma, luma_hist, coeffs[0], row, col, shift_y, shift_x, fresh)
    luma_out[row, col] = y_new
    cr = row >> 1
    cc = col >> 1
    b, g, r = _recombine_cuda(np.float32(frame[row, col, 0]), np.float32(frame[row, col, 2]), luma[row, col], y_new,
                              chroma_out[0, cr, cc] - chroma[0, cr, cc], chroma_out[1, cr, cc] - chroma[1, cr, cc])
    out[row, col, 0] = _u8_cuda(b)
    out[row, col, 1] = _u8_cuda(g)
    out[row, col, 2] = _u8_cuda(r)


def plane_coefficients(sigmas, *, temporal: float, spatial: float, spatial_range: float = 2.5,
                       motion_threshold=3.0, motion_ramp: float = 2.0, motion_sigmas=None,
                       slopes=None, out: np.ndarray | None = None) -> np.ndarray:
    """Per-plane coefficients of :func:`denoise_planes` from noise sigmas.

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


def denoise_planes(frame, luma, chroma, luma_hist, chroma_hist, coeffs, *, shift: tuple[int, int] = (0, 0),
                   fresh: bool = False, out, luma_out, chroma_out, backend: Backend = CPU):
    """One fused temporal + spatial denoise step.

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3) uint8`` current BGR frame (its full-resolution chroma is kept;
        only the half-resolution chroma change is added).
    luma, chroma : ndarray
        Current planes from :func:`to_planes`.
    luma_hist, chroma_hist : ndarray
        Previous output planes, same shapes (not read when ``fresh``).
    coeffs : ndarray
        ``(3, N_COEFFS) float32`` from :func:`plane_coefficients`, on ``backend``.
    shift : (int, int)
        Global content motion ``(dy, dx)`` from the previous frame to this one; the
        history is read at ``(row - dy, col - dx)`` (half that on the chroma planes).
    fresh : bool
        ``True`` after a reset: the history is not used and every pixel is
        filtered as moving (spatially).
    out : ndarray
        ``(H, W, 3) uint8`` denoised BGR frame.
    luma_out, chroma_out : ndarray
        New history planes; must not alias the inputs.
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``out``.
    """
    dy, dx, cdy, cdx = _shifts(shift)
    if fresh:
        # The current planes stand in for the history: finite numbers, and a
        # zero difference, so only the "moving" (spatial) path acts.
        luma_hist, chroma_hist = luma, chroma
    fr = np.float32(1.0 if fresh else 0.0)
    if backend.is_cuda:
        backend.launch_2d(_denoise_chroma_cuda, chroma.shape[1], chroma.shape[2])(
            chroma, chroma_hist, coeffs, cdy, cdx, fr, chroma_out)
        backend.launch_2d(_denoise_luma_cuda, luma.shape[0], luma.shape[1])(
            frame, luma, chroma, luma_hist, coeffs, dy, dx, fr, chroma_out, out, luma_out)
    else:
        _denoise_cpu_kernel(frame, luma, chroma, luma_hist, chroma_hist, coeffs, dy, dx, cdy, cdx, fr, out,
                            luma_out, chroma_out)
    return out


def _shifts(shift: tuple[int, int]) -> tuple[int, int, int, int]:
    """The history's luma shift ``(dy, dx)`` and the half-resolution chroma planes' (rounded)."""
    dy, dx = int(shift[0]), int(shift[1])
    return dy, dx, int(round(dy / 2)), int(round(dx / 2))


# --- the fused pass on I420 frames -------------------------------------------------------------

@cpu_device
def _u8_row_cpu(src, dst):
    for c in range(src.shape[0]):
        col = np.uintp(c)
        dst[col] = _u8_cpu(src[col])


def _temporal_row_u8(cur, hist, k, row, shift_y, shift_x, fresh, ranges, sums, hsum, dst, out):
    # The temporal-only pass (spatial == 0) on one row of a uint8 plane: _temporal_px's math, with
    # the current 3x3 range and sum taken in separable passes on uint8 and int16 lanes (four and
    # two times as many per vector as float32); only the history's sums and the blend are float.
    # The difference mean sums in another order than _temporal_px: equal to a few ulps.
    width = cur.shape[1]
    lo, hi, north, mid, south, h_n, h_m, h_s = _row_window_cpu(cur, hist, row, shift_y, shift_x)
    vmin, vmax, rmin, rmax = ranges[0], ranges[1], ranges[2], ranges[3]
    vsum, rsum = sums[0], sums[1]
    f = np.float32
    for c in range(width):
        col = np.uintp(c)
        a = north[col]
        b = mid[col]
        d = south[col]
        vmin[col] = min(min(a, b), d)
        vmax[col] = max(max(a, b), d)
        vsum[col] = np.int16(a) + np.int16(b) + np.int16(d)
        hsum[col] = (f(h_n[col]) + f(h_m[col])) + f(h_s[col])
    one = np.uintp(1)
    for c in range(lo, hi):
        col = np.uintp(c)
        rmin[col] = min(min(vmin[col - one], vmin[col]), vmin[col + one])
        rmax[col] = max(max(vmax[col - one], vmax[col]), vmax[col + one])
        rsum[col] = vsum[col - one] + vsum[col] + vsum[col + one]
    amin = k[1]
    thr = k[2]
    mgain = k[3]
    spatial = k[4]
    slope = k[5]
    ninth = np.float32(1.0 / 9.0)
    if slope == 0:  # one noise level: the cheaper loop (see _denoise_row_cpu)
        for c in range(lo, hi):
            col = np.uintp(c)
            j = np.uintp(c - shift_x)
            diff = (f(rsum[col]) - ((hsum[j - one] + hsum[j]) + hsum[j + one])) * ninth
            c0 = f(mid[col])
            v = _settle_cpu(c0, c0, f(h_m[j]), diff, f(rmin[col]), f(rmax[col]), amin, thr, mgain, spatial, fresh)
            dst[col] = v
            out[col] = _u8_cpu(v)
    else:
        for c in range(lo, hi):
            col = np.uintp(c)
            j = np.uintp(c - shift_x)
            total = f(rsum[col])
            diff = (total - ((hsum[j - one] + hsum[j]) + hsum[j + one])) * ninth
            c0 = f(mid[col])
            sd, rs = _level_scale_cpu(total, slope)
            v = _settle_cpu(c0, c0, f(h_m[j]), diff, f(rmin[col]), f(rmax[col]), amin, thr * sd, mgain * rs,
                            spatial, fresh)
            dst[col] = v
            out[col] = _u8_cpu(v)
    for col in range(0, lo):
        dst[col] = _denoise_at_cpu(cur, hist, k, row, col, shift_y, shift_x, fresh)
        out[col] = _u8_cpu(dst[col])
    for col in range(hi, width):
        dst[col] = _denoise_at_cpu(cur, hist, k, row, col, shift_y, shift_x, fresh)
        out[col] = _u8_cpu(dst[col])


_temporal_row_u8_cpu = cpu_device(_temporal_row_u8, **VECTOR_MINMAX)


@cpu_device
def _i420_row_cpu(cur, hist, k, row, shift_y, shift_x, fresh, ranges, sums, hsum, dst, out):
    # One row of a plane: the new history into ``dst``, rounded into ``out``.
    if k[4] > 0:
        _denoise_row_cpu(cur, hist, k, row, shift_y, shift_x, fresh, dst)
        _u8_row_cpu(dst, out)
    else:
        _temporal_row_u8_cpu(cur, hist, k, row, shift_y, shift_x, fresh, ranges, sums, hsum, dst, out)


@_vector_kernel
def _denoise_i420_cpu_kernel(luma, chroma, luma_hist, chroma_hist, coeffs, shift_y, shift_x, cshift_y, cshift_x,
                             fresh, chunks, luma_out, chroma_out, out_luma, out_chroma):
    # One chunk of chroma rows per thread, with its scratch rows; per chroma row, that row of
    # each chroma plane and the two luma rows beside it (as in the BGR pass).
    rows = chroma.shape[1]
    per = (rows + chunks - 1) // chunks
    width = luma.shape[1]
    for chunk in prange(chunks):
        # Scratch allocated here rather than passed in: LLVM then knows it aliases nothing and
        # vectorizes without runtime overlap checks (caller-provided rows measured 35% slower).
        ranges = np.empty((4, width), np.uint8)
        sums = np.empty((2, width), np.int16)
        hsum = np.empty(width, np.float32)
        for crow in range(chunk * per, min(chunk * per + per, rows)):
            for p in range(2):
                _i420_row_cpu(chroma[p], chroma_hist[p], coeffs[1 + p], crow, cshift_y, cshift_x, fresh, ranges,
                              sums, hsum, chroma_out[p, crow], out_chroma[p, crow])
            for row in range(2 * crow, 2 * crow + 2):
                _i420_row_cpu(luma, luma_hist, coeffs[0], row, shift_y, shift_x, fresh, ranges, sums, hsum,
                              luma_out[row], out_luma[row])


@cuda_kernel
def _denoise_i420_cuda(luma, chroma, luma_hist, chroma_hist, coeffs, shift_y, shift_x, cshift_y, cshift_x, fresh,
                       luma_out, chroma_out, out_luma, out_chroma):
    # One thread per luma sample; those inside the chroma planes' size also do one sample of each.
    col, row = cuda.grid(2)
    if row >= luma.shape[0] or col >= luma.shape[1]:
        return
    y = _denoise_at_cuda(luma, luma_hist, coeffs[0], row, col, shift_y, shift_x, fresh)
    luma_out[row, col] = y
    out_luma[row, col] = _u8_cuda(y)
    if row < chroma.shape[1] and col < chroma.shape[2]:
        for p in range(2):
            c = _denoise_at_cuda(chroma[p], chroma_hist[p], coeffs[1 + p], row, col, cshift_y, cshift_x, fresh)
            chroma_out[p, row, col] = c
            out_chroma[p, row, col] = _u8_cuda(c)


def denoise_i420(frame, luma_hist, chroma_hist, coeffs, *, shift: tuple[int, int] = (0, 0), fresh: bool = False,
                 out, luma_out, chroma_out, backend: Backend = CPU):
    """:func:`denoise_planes` on an I420 frame: its Y, Cb, Cr planes are the planes, read as they are.

    The same per-sample math as the BGR pass, in the planes' own code values
    (``coeffs`` must come from sigmas in those units); the output planes are
    the new history rounded to uint8, with no conversion to or from BGR.

    Parameters
    ----------
    frame : ndarray
        ``(H * 3 // 2, W) uint8`` current I420 frame (see :mod:`kernels.planes`).
    luma_hist, chroma_hist : ndarray
        Previous output planes, ``(H, W)`` and ``(2, H/2, W/2)`` float32; zeroed when ``fresh``.
    coeffs : ndarray
        ``(3, N_COEFFS) float32`` from :func:`plane_coefficients` (Y, Cb, Cr), on ``backend``.
    shift : (int, int)
        Global content motion ``(dy, dx)`` as in :func:`denoise_planes`.
    fresh : bool
        ``True`` after a reset: the history is not used, every sample is filtered spatially.
    out : ndarray
        ``(H * 3 // 2, W) uint8`` denoised I420 frame; must not alias ``frame``.
    luma_out, chroma_out : ndarray
        New history planes; must not alias the inputs.
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``out``.
    """
    luma, chroma = i420_luma_chroma(frame)
    out_luma, out_chroma = i420_luma_chroma(out)
    dy, dx, cdy, cdx = _shifts(shift)
    if fresh:
        # The history gets weight 0 but must be finite (0 * NaN is NaN).  Zeros rather than the
        # current uint8 planes: those would compile and load a second variant of the kernel.
        luma_hist.fill(0)
        chroma_hist.fill(0)
    fr = np.float32(1.0 if fresh else 0.0)
    if backend.is_cuda:
        backend.launch_2d(_denoise_i420_cuda, luma.shape[0], luma.shape[1])(
            luma, chroma, luma_hist, chroma_hist, coeffs, dy, dx, cdy, cdx, fr, luma_out, chroma_out, out_luma,
            out_chroma)
    else:
        _denoise_i420_cpu_kernel(luma, chroma, luma_hist, chroma_hist, coeffs, dy, dx, cdy, cdx, fr,
                                 numba.get_num_threads(), luma_out, chroma_out, out_luma, out_chroma)
    return out


# --- noise estimation ----------------------------------------------------------------------
#
# Read noise has the same sigma at every level, shot noise a variance proportional to the
# signal: one sigma per plane over-smooths dark areas and leaves grain on bright ones.  The
# mask responses are therefore counted per signal level (the sample's 3x3 luma mean; for a
# half-resolution chroma sample the mean of its 2x2 luma block) and a line
# ``variance = a + b * level`` is fitted per plane (:func:`noise_model`).

def _level_at_px(pl, lum, row, col, sub):
    # The luma level a sample's noise depends on (see the section comment).
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
    r = _response_i(pl[row, col], pl[row - 1, col], pl[row + 1, col], pl[row, col + 1],  # noqa: F821
                    pl[row, col - 1], pl[row - 1, col + 1], pl[row - 1, col - 1],
                    pl[row + 1, col + 1], pl[row + 1, col - 1])
    level = _level_i(pl, lum, row, col, sub)  # noqa: F821
    lb = min(max(int(level * np.float32(levels / 256.0)), 0), levels - 1)
    return lb, min(int(r * inv_bin), last)


_level_at_cpu = cpu_device(_level_at_px)
_level_at_cuda = cuda_device(_level_at_px)
_bins_at_cpu = cpu_device(_bins_at_px, _response_i=_response_cpu, _level_i=_level_at_cpu)
_bins_at_cuda = cuda_device(_bins_at_px, _response_i=_response_cuda, _level_i=_level_at_cuda)


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
        Planes from :func:`to_planes` or :func:`kernels.planes.i420_luma_chroma` (float32 or uint8).
    step : int, optional
        Sample every ``step``-th row and column (>= 1) of every plane; default
        :func:`noise_step` of each plane.
    out : ndarray
        ``(3, NOISE_LEVELS, NOISE_BINS) int32``; overwritten (plane 0 luma, 1-2 chroma; level
        bins of ``256 / NOISE_LEVELS`` luma levels).
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``out``.
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


def sigma_from_histogram(hist: np.ndarray) -> np.ndarray:
    """One noise sigma per plane from :func:`noise_histogram` counts (host array), all levels pooled.

    Returns
    -------
    ndarray
        ``(3,) float64`` sigmas in the planes' units (0 where there were no samples).
    """
    pooled = hist.reshape(hist.shape[0], -1, hist.shape[-1]).sum(axis=1)
    return np.array([_median_sigma(pooled[p]) for p in range(hist.shape[0])])


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


# --- thumbnails: scene cuts and global motion ------------------------------------------------

# Serial and holding the GIL: a fraction of a millisecond of work, less than a parallel region's
# start-up when the I/O threads hold the cores.  Reassociating the block sums lets them vectorize:
# sums of uint8 levels (I420) are exact in float32 in any order; the BGR path's float luma may
# differ in the last bits.
@numba.njit(cache=True, fastmath={"reassoc"})
def _thumb_cpu(luma, factor, thumb):
    th, tw = thumb.shape
    inv = np.float32(1.0 / (factor * factor))
    f = np.uintp(factor)
    width = np.uintp(tw) * f
    sums = np.empty(width, np.float32)  # allocated here: known to alias nothing (see the I420 pass)
    for i in range(th):
        # Per thumbnail row: the column sums of its `factor` luma rows (contiguous loads, unsigned
        # indices: vectorized), then the sum of each block of `factor` columns.
        src = luma[i * factor]
        for c in range(width):
            sums[np.uintp(c)] = np.float32(src[np.uintp(c)])
        for r in range(i * factor + 1, i * factor + factor):
            src = luma[r]
            for c in range(width):
                sums[np.uintp(c)] += np.float32(src[np.uintp(c)])
        out = thumb[i]
        for j in range(tw):
            base = np.uintp(j) * f
            acc = np.float32(0.0)
            for c in range(factor):
                acc += sums[base + np.uintp(c)]
            out[np.uintp(j)] = acc * inv


@cuda_kernel
def _thumb_cuda(luma, factor, thumb):
    j, i = cuda.grid(2)
    th, tw = thumb.shape
    if i >= th or j >= tw:
        return
    inv = np.float32(1.0) / np.float32(factor * factor)
    acc = np.float32(0.0)
    for r in range(i * factor, i * factor + factor):
        for c in range(j * factor, j * factor + factor):
            acc += np.float32(luma[r, c])
    thumb[i, j] = acc * inv


def thumbnail_factor(height: int, width: int, target_width: int = 160) -> int:
    """Box-downscale factor that brings ``width`` near ``target_width`` (>= 1, fits the frame)."""
    return max(1, min(width // max(target_width, 1), height // 8 if height >= 8 else 1))


def luma_thumbnail(luma, factor: int, *, out, backend: Backend = CPU):
    """Box-average the luma plane by ``factor`` (scene-cut and global-motion input).

    Parameters
    ----------
    luma : ndarray
        ``(H, W)`` float32, or uint8 (an I420 Y plane).
    factor : int
        Downscale factor >= 1.
    out : ndarray
        ``(H // factor, W // factor) float32``.
    backend : Backend

    Returns
    -------
    ndarray
        ``out``.
    """
    if out.shape[0] == 0 or out.shape[1] == 0:
        return out
    if backend.is_cuda:
        backend.launch_2d(_thumb_cuda, out.shape[0], out.shape[1])(luma, factor, out)
    else:
        _thumb_cpu(luma, factor, out)
    return out


def estimate_shift(previous: np.ndarray, current: np.ndarray, factor: int, window: np.ndarray | None = None,
                   max_shift: int = 64) -> tuple[int, int]:
    """Global content motion ``(dy, dx)`` in full-frame pixels, by phase correlation of thumbnails.

    Parameters
    ----------
    previous, current : ndarray
        Host ``float32`` luma thumbnails from :func:`luma_thumbnail`, same shape.
    factor : int
        The thumbnails' downscale factor (the shift is scaled back by it).
    window : ndarray, optional
        Apodization window for ``cv2.phaseCorrelate``.
    max_shift : int
        Larger shifts are implausible for a pan and are ignored.

    Returns
    -------
    (int, int)
        ``(0, 0)`` when the thumbnails are too small or the peak is weak (no
        single dominant translation) or too large.
    """
    if previous.shape[0] < 8 or previous.shape[1] < 8:
        return 0, 0
    (sx, sy), response = cv2.phaseCorrelate(previous, current, window)
    if response < 0.1 or not (math.isfinite(sx) and math.isfinite(sy)):
        return 0, 0
    dy, dx = int(round(sy * factor)), int(round(sx * factor))
    if abs(dy) > max_shift or abs(dx) > max_shift:
        return 0, 0
    return dy, dx


def thumbnail_difference(previous: np.ndarray, current: np.ndarray, shift_thumb: tuple[int, int] = (0, 0)) -> float:
    """Mean absolute difference of two luma thumbnails after an integer thumbnail shift (scene-cut test)."""
    dy, dx = shift_thumb
    h, w = current.shape
    if abs(dy) >= h or abs(dx) >= w:
        dy, dx = 0, 0
    cur = current[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)]
    prev = previous[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    if cur.size == 0:
        return 0.0
    return float(np.mean(np.abs(cur - prev)))
