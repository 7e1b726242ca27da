"""The fused denoise pass on I420 frames (see :mod:`kernels.denoise` for the per-sample math).

I420 frames need no planes of their own: their Y, Cb and Cr planes are read as they are
(uint8, in code values), and the pass writes the output planes directly.  Without the
spatial filter, its CPU loop takes the current 3x3 range and sum on uint8 and int16 lanes
(the same math; four and two times as many samples per vector).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_device, cpu_row, cuda, cuda_kernel, twin
from kernels.denoise import (
    _denoise_at_cuda,
    _denoise_edges_cpu,
    _denoise_row_cpu,
    _level_scale_cpu,
    _row_window_cpu,
    _settle_cpu,
    _shifts,
    _vector_kernel,
)
from kernels.pixel import VECTOR_MINMAX
from kernels.pixel import u8_px as _u8_px
from kernels.planes import i420_luma_chroma

_u8_cpu, _u8_cuda = twin(_u8_px, cpu_only=VECTOR_MINMAX)


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
    _denoise_edges_cpu(cur, hist, k, row, shift_y, shift_x, fresh, lo, hi, dst)
    for col in range(0, lo):
        out[col] = _u8_cpu(dst[col])
    for col in range(hi, width):
        out[col] = _u8_cpu(dst[col])


_temporal_row_u8_cpu = cpu_device(_temporal_row_u8, **VECTOR_MINMAX)


@cpu_row
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
    """:func:`~kernels.denoise_bgr.denoise_planes` on an I420 frame: its Y, Cb, Cr planes are the planes, read as they are.

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
        ``(3, N_COEFFS) float32`` from :func:`~kernels.denoise.plane_coefficients` (Y, Cb, Cr), on ``backend``.
    shift : (int, int)
        Global content motion ``(dy, dx)`` as in :func:`~kernels.denoise_bgr.denoise_planes`.
    fresh : bool
        ``True`` after a reset: the history is not used, every sample is filtered spatially.
    out : ndarray
        ``(H * 3 // 2, W) uint8`` denoised I420 frame; must not alias ``frame``. Returned.
    luma_out, chroma_out : ndarray
        New history planes; must not alias the inputs.
    backend : Backend
        Where to run.
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
