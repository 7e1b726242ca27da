"""The fused denoise pass on BGR frames (see :mod:`kernels.denoise` for the per-sample math).

The frame is split into a full-resolution luma plane and two half-resolution
colour-difference planes (2x2 means of ``B-Y`` and ``R-Y``, :func:`to_planes`);
the output keeps each pixel's own full-resolution chroma and adds only the
half-resolution chroma change (:func:`denoise_planes`).
"""
from __future__ import annotations

import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_kernel, cuda, cuda_kernel, twin
from kernels.denoise import _denoise_at_cuda, _denoise_row_cpu, _shifts, _vector_kernel
from kernels.pixel import LUMA601_BGR, VECTOR_MINMAX
from kernels.pixel import u8_px as _u8_px


def _to_ycc_px(b, g, r):
    y = np.float32(LUMA601_BGR[2]) * r + np.float32(LUMA601_BGR[1]) * g + np.float32(LUMA601_BGR[0]) * b
    return y, b - y, r - y


def _to_bgr_px(y, u, v):
    b = u + y
    r = v + y
    g = (y - np.float32(LUMA601_BGR[2]) * r - np.float32(LUMA601_BGR[0]) * b) * np.float32(1.0 / LUMA601_BGR[1])
    return b, g, r


def _recombine_px(b, r, y_cur, y_new, du, dv):
    """Output BGR: new luma, the pixel's own chroma plus the (half-resolution) chroma change."""
    return _to_bgr_i(y_new, (b - y_cur) + du, (r - y_cur) + dv)  # noqa: F821


_to_ycc_cpu, _to_ycc_cuda = _to_ycc = twin(_to_ycc_px)
_recombine_cpu, _recombine_cuda = twin(_recombine_px, _to_bgr_i=twin(_to_bgr_px))
_u8_cpu, _u8_cuda = twin(_u8_px, cpu_only=VECTOR_MINMAX)


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


_block_cpu, _block_cuda = twin(_block_px, _to_ycc_i=_to_ycc)


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
    backend.run_2d(_to_planes_cpu, _to_planes_cuda, chroma.shape[1], chroma.shape[2], frame, luma, chroma)
    return luma, chroma

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
        ``(3, N_COEFFS) float32`` from :func:`~kernels.denoise.plane_coefficients`, on ``backend``.
    shift : (int, int)
        Global content motion ``(dy, dx)`` from the previous frame to this one; the
        history is read at ``(row - dy, col - dx)`` (half that on the chroma planes).
    fresh : bool
        ``True`` after a reset: the history is not used and every pixel is
        filtered as moving (spatially).
    out : ndarray
        ``(H, W, 3) uint8`` denoised BGR frame. Returned.
    luma_out, chroma_out : ndarray
        New history planes; must not alias the inputs.
    backend : Backend
        Where to run.
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
