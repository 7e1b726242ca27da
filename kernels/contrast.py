"""Luma contrast: CLAHE tile mappings and automatic levels, applied in one pass.

The mappings and levels come from :mod:`kernels.contrast_stats`.
:func:`apply_contrast` then, per
pixel, maps luma through the levels and the bilinearly blended tile mappings
and moves all three channels by the same luma change, scaling the pixel's
colour difference uniformly so hue is kept.
"""
from __future__ import annotations

import cv2
import numba
import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_kernel, cuda, cuda_kernel, twin
from kernels.pixel import LUMA709_BGR
from kernels.pixel import u8_px as _u8_px

#: Histogram bins per tile (one per 8-bit level).
BINS = 256
#: Entries of the per-frame coefficient vector read by :func:`apply_contrast`.
N_COEFFS = 4


# --- per-pixel math, written once -----------------------------------------------------------

def _luma_px(b, g, r):
    return np.float32(LUMA709_BGR[0]) * b + np.float32(LUMA709_BGR[1]) * g + np.float32(LUMA709_BGR[2]) * r


def _bin_px(y):
    return min(max(int(y + np.float32(0.5)), 0), BINS - 1)


def _axis_px(pos, tiles):
    # Pixel centre -> the two nearest tile centres and the weight of the second
    # (tile centres sit at (t + 0.5) * tile size; outside them the edge tile rules).
    f = max(pos, np.float32(0.0))
    t0 = min(int(f), tiles - 1)
    t1 = min(t0 + 1, tiles - 1)
    return t0, t1, min(f - np.float32(t0), np.float32(1.0))


def _map_at_px(maps, ty, tx, i):
    return maps[ty, tx, i]


def _luma_map_px(y, maps, ty0, ty1, wy, tx0, tx1, wx, black, scale, strength):
    """New luma of a pixel of luma ``y`` (0..255): levels, then the CLAHE blend."""
    # Not clipped here: with chroma == scale the levels part is then exactly
    # (c - black) * scale on every channel, clipped once at the end.
    yl = (y - black) * scale
    yn = yl
    if strength > np.float32(0.0):
        # The mappings are read at the nearest level (as OpenCV's CLAHE does for
        # integer input): they are clipped CDFs averaged over time, so a level
        # between two entries changes the result by a fraction of a level.
        i = _bin_i(y)  # noqa: F821
        a = _map_at_i(maps, ty0, tx0, i)  # noqa: F821
        c = _map_at_i(maps, ty1, tx0, i)  # noqa: F821
        top = a + (_map_at_i(maps, ty0, tx1, i) - a) * wx  # noqa: F821
        bot = c + (_map_at_i(maps, ty1, tx1, i) - c) * wx  # noqa: F821
        yn = yl + (top + (bot - top) * wy - yl) * strength
    return yn


def _contrast_px(b, g, r, maps, ty0, ty1, wy, tx0, tx1, wx, black, scale, strength, chroma):
    """New BGR levels of one pixel: levels, CLAHE blend, uniform colour-difference scale."""
    y = _luma_i(b, g, r)  # noqa: F821
    yn = _luma_map_i(y, maps, ty0, ty1, wy, tx0, tx1, wx, black, scale, strength)  # noqa: F821
    return yn + (b - y) * chroma, yn + (g - y) * chroma, yn + (r - y) * chroma


def _planar_luma_px(code, maps, ty0, ty1, wy, tx0, tx1, wx, black, scale, strength, y_off, y_gain):
    """New Y' code value: the luma map runs on 0..255 levels (limited range is stretched there and back)."""
    yn = _luma_map_i((code - y_off) * y_gain, maps, ty0, ty1, wy, tx0, tx1, wx, black, scale, strength)  # noqa: F821
    return y_off + yn / y_gain


def _planar_chroma_px(code, chroma):
    # Scaling every channel's difference from luma by ``chroma`` scales Cb - 128 and Cr - 128 alike.
    return np.float32(128.0) + (code - np.float32(128.0)) * chroma


_luma = twin(_luma_px)
_bin = twin(_bin_px)
_luma_map = twin(_luma_map_px, _bin_i=_bin, _map_at_i=twin(_map_at_px))
_axis_cpu, _axis_cuda = _axis = twin(_axis_px)
_u8_cpu, _u8_cuda = _u8 = twin(_u8_px)
_contrast_cpu, _contrast_cuda = twin(_contrast_px, _luma_i=_luma, _luma_map_i=_luma_map)
_planar_luma_cpu, _planar_luma_cuda = _planar_luma = twin(_planar_luma_px, _luma_map_i=_luma_map)
_planar_chroma_cpu, _planar_chroma_cuda = _planar_chroma = twin(_planar_chroma_px)


# --- the fused per-pixel pass ----------------------------------------------------------------------

@cpu_kernel
def _contrast_cpu_kernel(frame, maps, coef, out):
    height, width = frame.shape[0], frame.shape[1]
    gy, gx = maps.shape[0], maps.shape[1]
    black, scale, strength, chroma = coef[0], coef[1], coef[2], coef[3]
    sy = np.float32(gy / height)
    sx = np.float32(gx / width)
    for row in prange(height):
        src = frame[row]
        dst = out[row]
        if strength <= np.float32(0.0):
            # Levels only: a branch-free loop over the row (no tile look-ups).
            for col in range(width):
                b, g, r = _contrast_cpu(np.float32(src[col, 0]), np.float32(src[col, 1]), np.float32(src[col, 2]),
                                        maps, 0, 0, np.float32(0.0), 0, 0, np.float32(0.0), black, scale,
                                        np.float32(0.0), chroma)
                dst[col, 0] = _u8_cpu(b)
                dst[col, 1] = _u8_cpu(g)
                dst[col, 2] = _u8_cpu(r)
            continue
        ty0, ty1, wy = _axis_cpu((np.float32(row) + np.float32(0.5)) * sy - np.float32(0.5), gy)
        # Columns in runs that share their two tiles: between consecutive tile
        # centres the horizontal weight is linear in the column, and the tile
        # indices need no per-pixel integer work.
        col = 0
        for seg in range(gx + 1):
            tx0 = max(seg - 1, 0)
            tx1 = min(seg, gx - 1)
            # Columns whose centre lies before tile centre ``seg``: (col + 0.5) * sx - 0.5 < seg.
            stop = min(width, int(np.ceil((np.float32(seg) + np.float32(0.5)) / sx - np.float32(0.5))))
            if seg == gx:
                stop = width
            while col < stop:
                pos = (np.float32(col) + np.float32(0.5)) * sx - np.float32(0.5)
                wx = min(max(pos - np.float32(tx0), np.float32(0.0)), np.float32(1.0))
                b, g, r = _contrast_cpu(np.float32(src[col, 0]), np.float32(src[col, 1]), np.float32(src[col, 2]),
                                        maps, ty0, ty1, wy, tx0, tx1, wx, black, scale, strength, chroma)
                dst[col, 0] = _u8_cpu(b)
                dst[col, 1] = _u8_cpu(g)
                dst[col, 2] = _u8_cpu(r)
                col += 1


@cuda_kernel
def _contrast_cuda_kernel(frame, maps, coef, out):
    col, row = cuda.grid(2)
    height, width = frame.shape[0], frame.shape[1]
    if row >= height or col >= width:
        return
    gy, gx = maps.shape[0], maps.shape[1]
    sy = np.float32(gy) / np.float32(height)
    sx = np.float32(gx) / np.float32(width)
    ty0, ty1, wy = _axis_cuda((np.float32(row) + np.float32(0.5)) * sy - np.float32(0.5), gy)
    tx0, tx1, wx = _axis_cuda((np.float32(col) + np.float32(0.5)) * sx - np.float32(0.5), gx)
    b, g, r = _contrast_cuda(np.float32(frame[row, col, 0]), np.float32(frame[row, col, 1]),
                             np.float32(frame[row, col, 2]), maps, ty0, ty1, wy, tx0, tx1, wx,
                             coef[0], coef[1], coef[2], coef[3])
    out[row, col, 0] = _u8_cuda(b)
    out[row, col, 1] = _u8_cuda(g)
    out[row, col, 2] = _u8_cuda(r)


def contrast_coefficients(black: float = 0.0, white: float = 255.0, strength: float = 0.0,
                          chroma: float | None = None, *, out: np.ndarray | None = None) -> np.ndarray:
    """Per-frame coefficients of :func:`apply_contrast`.

    Parameters
    ----------
    black, white : float
        Input levels mapped to 0 and 255 (auto-levels); ``white > black``.
    strength : float
        Weight of the CLAHE mapping against the levels mapping, in [0, 1].
    chroma : float, optional
        Multiplier on each pixel's colour difference from its luma; default:
        the levels slope, which makes the levels change exactly the same
        affine map on B, G and R (hue and the colour/luma ratio kept).
    out : ndarray, optional
        ``(N_COEFFS,) float32`` host destination.

    Returns
    -------
    ndarray
        ``(N_COEFFS,) float32``: ``black, scale, strength, chroma``.
    """
    scale = 255.0 / (white - black)
    if out is None:
        out = np.empty(N_COEFFS, np.float32)
    out[:] = (black, scale, strength, scale if chroma is None else chroma)
    return out


def apply_contrast(frame, maps, coef, *, out=None, backend: Backend = CPU):
    """Map luma through auto-levels and blended CLAHE tile mappings, keeping hue.

    Per pixel with luma ``Y``: ``Yl = (Y - black) * scale``,
    ``Y' = Yl + strength * (clahe(Y) - Yl)`` where ``clahe`` bilinearly blends
    the four nearest tile mappings, then every channel ``c`` becomes
    ``clip(Y' + (c - Y) * chroma, 0, 255)``.  With ``strength = 0`` and
    ``chroma = scale`` that is ``clip((c - black) * scale)`` on every channel.

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3) uint8`` BGR.
    maps : ndarray
        ``(gy, gx, 256) float32`` tile mappings from :func:`tile_mappings`.
    coef : ndarray
        ``(N_COEFFS,) float32`` from :func:`contrast_coefficients`, on ``backend``.
    out : ndarray, optional
        ``(H, W, 3) uint8`` destination; may not alias ``frame`` on the GPU. Returned.
    backend : Backend
        Where to run.
    """
    if out is None:
        out = backend.empty(frame.shape)
    if not backend.is_cuda and coef[2] <= 0.0 and coef[3] == coef[1]:
        # Levels alone are one affine map per channel: a table look-up, which
        # OpenCV does in SIMD (measured 1.7 ms against 5-8 ms for the loop at
        # 720p on a loaded 2-core machine).  Same values up to float rounding.
        cv2.LUT(frame, _levels_table(float(coef[0]), float(coef[1])), dst=out)
        return out
    backend.run_2d(_contrast_cpu_kernel, _contrast_cuda_kernel, *frame.shape[:2], frame, maps, coef, out)
    return out


def _levels_table(black: float, scale: float) -> np.ndarray:
    levels = (np.arange(256, dtype=np.float32) - np.float32(black)) * np.float32(scale)
    return np.clip(np.floor(levels + np.float32(0.5)), 0, 255).astype(np.uint8)


# --- the same on I420 frames ------------------------------------------------------------------------

def _planar_row_px(frame, maps, coef, y_off, y_gain, row, col, height, width, out):
    """One Y' sample at ``(row, col)`` and, in the first ``height / 2`` rows, one chroma sample.

    Rows ``height .. 3 * height / 2`` of an I420 frame hold Cb then Cr, each
    plane's rows laid end to end: as a ``(height / 2, width)`` block they are
    every chroma sample exactly once.
    """
    gy, gx = maps.shape[0], maps.shape[1]
    ty0, ty1, wy = _axis_i((np.float32(row) + np.float32(0.5)) * np.float32(gy) / np.float32(height)  # noqa: F821
                           - np.float32(0.5), gy)
    tx0, tx1, wx = _axis_i((np.float32(col) + np.float32(0.5)) * np.float32(gx) / np.float32(width)  # noqa: F821
                           - np.float32(0.5), gx)
    out[row, col] = _u8_i(_planar_luma_i(np.float32(frame[row, col]), maps, ty0, ty1, wy, tx0, tx1, wx,  # noqa: F821
                                         coef[0], coef[1], coef[2], y_off, y_gain))
    if row < height // 2:
        out[height + row, col] = _u8_i(_planar_chroma_i(np.float32(frame[height + row, col]), coef[3]))  # noqa: F821


_planar_row_cpu, _planar_row_cuda = twin(_planar_row_px, _axis_i=_axis, _u8_i=_u8, _planar_luma_i=_planar_luma,
                                        _planar_chroma_i=_planar_chroma)


@cpu_kernel
def _contrast_i420_cpu(frame, maps, coef, y_off, y_gain, out):
    height, width = frame.shape[0] * 2 // 3, frame.shape[1]
    for row in prange(height):
        for col in range(width):
            _planar_row_cpu(frame, maps, coef, y_off, y_gain, row, col, height, width, out)


@cuda_kernel
def _contrast_i420_cuda(frame, maps, coef, y_off, y_gain, out):
    col, row = cuda.grid(2)
    height, width = frame.shape[0] * 2 // 3, frame.shape[1]
    if row < height and col < width:
        _planar_row_cuda(frame, maps, coef, y_off, y_gain, row, col, height, width, out)


@numba.njit(cache=True)
def _planar_tables_cpu(maps, coef, y_off, y_gain, luma, chroma):
    # Levels without CLAHE are a function of the code value alone: the same math, tabulated.
    for i in range(256):
        luma[0, i] = _u8_cpu(_planar_luma_cpu(np.float32(i), maps, 0, 0, np.float32(0.0), 0, 0, np.float32(0.0),
                                              coef[0], coef[1], np.float32(0.0), y_off, y_gain))
        chroma[0, i] = _u8_cpu(_planar_chroma_cpu(np.float32(i), coef[3]))


def apply_contrast_i420(frame, maps, coef, y_offset: float, y_gain: float, *, out, backend: Backend = CPU,
                        tables=None):
    """:func:`apply_contrast` on an I420 frame: the luma map on Y', the colour-difference scale on Cb, Cr.

    In Y'CbCr the BGR operation ``c' = Y' + (c - Y) * chroma`` is
    ``Y' = map(Y)`` and ``C' = 128 + (C - 128) * chroma`` (exact for the
    BT.709 matrix the BGR path's luma uses, up to the per-channel clipping).

    Parameters
    ----------
    frame : ndarray
        ``(H * 3 / 2, W) uint8`` I420 (:mod:`kernels.planes`).
    maps, coef : ndarray
        As for :func:`apply_contrast`.
    y_offset, y_gain : float
        Y' code value of black and the factor to 0..255 levels
        (the first two :meth:`kernels.colorspace.YuvFormat.to_bgr_coefficients`).
    out : ndarray
        ``(H * 3 / 2, W) uint8`` destination; may not alias ``frame``. Returned.
    backend : Backend
        Where to run.
    tables : ndarray, optional
        ``(2, 1, 256) uint8`` host scratch for the CPU's levels-only tables.
    """
    y_off, gain = np.float32(y_offset), np.float32(y_gain)
    height = frame.shape[0] * 2 // 3
    if backend.is_cuda or coef[2] > 0.0:
        backend.run_2d(_contrast_i420_cpu, _contrast_i420_cuda, height, frame.shape[1], frame, maps, coef, y_off, gain,
                       out)
        return out
    # Levels alone: two table look-ups in OpenCV's SIMD LUT, one over Y', one over Cb and Cr.
    if tables is None:
        tables = np.empty((2, 1, 256), np.uint8)
    _planar_tables_cpu(maps, coef, y_off, gain, tables[0], tables[1])
    cv2.LUT(frame[:height], tables[0], dst=out[:height])
    cv2.LUT(frame[height:], tables[1], dst=out[height:])
    return out
