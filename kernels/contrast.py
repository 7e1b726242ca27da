"""Luma contrast: CLAHE tile mappings and automatic levels, applied in one pass.

Statistics come from a box-averaged thumbnail (:func:`bgr_stats_thumbnail`)
holding luma and the darkest and brightest channel: per-tile 256-bin luma
histograms (:func:`tile_histograms`) for CLAHE, and global histograms of the
darkest and brightest channel that auto-levels reads its black and white
points from (:func:`levels_from_histogram`, on the host).
:func:`tile_mappings` clips each tile histogram, redistributes the excess,
integrates it into a CDF and blends the result into a float32 state (an
exponential moving average, so the mappings follow the scene without
flicker).  :func:`apply_contrast` then, per
pixel, maps luma through the levels and the bilinearly blended tile mappings
and moves all three channels by the same luma change, scaling the pixel's
colour difference uniformly so hue is kept.
"""
from __future__ import annotations

import cv2
import numba
import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_device, cpu_kernel, cuda, cuda_device, cuda_kernel
from kernels.color import LUMA_BGR
from kernels.pixel import u8_px as _u8_px


def _serial_kernel(fn):
    # Small statistics loops: serial, and holding the GIL, since they take
    # well under a millisecond; handing the GIL to the decode/encode threads
    # and taking it back can cost a 5 ms switch interval.
    return numba.njit(cache=True)(fn)


#: Histogram bins per tile (one per 8-bit level).
BINS = 256
#: Entries of the per-frame coefficient vector read by :func:`apply_contrast`.
N_COEFFS = 4


# --- per-pixel math, written once -----------------------------------------------------------

def _luma_px(b, g, r):
    return np.float32(LUMA_BGR[0]) * b + np.float32(LUMA_BGR[1]) * g + np.float32(LUMA_BGR[2]) * r


def _stats_px(b, g, r):
    return _luma_i(b, g, r), min(b, min(g, r)), max(b, max(g, r))


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
        i = _bin_i(y)
        a = _map_at_i(maps, ty0, tx0, i)
        c = _map_at_i(maps, ty1, tx0, i)
        top = a + (_map_at_i(maps, ty0, tx1, i) - a) * wx
        bot = c + (_map_at_i(maps, ty1, tx1, i) - c) * wx
        yn = yl + (top + (bot - top) * wy - yl) * strength
    return yn


def _contrast_px(b, g, r, maps, ty0, ty1, wy, tx0, tx1, wx, black, scale, strength, chroma):
    """New BGR levels of one pixel: levels, CLAHE blend, uniform colour-difference scale."""
    y = _luma_i(b, g, r)
    yn = _luma_map_i(y, maps, ty0, ty1, wy, tx0, tx1, wx, black, scale, strength)
    return yn + (b - y) * chroma, yn + (g - y) * chroma, yn + (r - y) * chroma


def _planar_luma_px(code, maps, ty0, ty1, wy, tx0, tx1, wx, black, scale, strength, y_off, y_gain):
    """New Y' code value: the luma map runs on 0..255 levels (limited range is stretched there and back)."""
    yn = _luma_map_i((code - y_off) * y_gain, maps, ty0, ty1, wy, tx0, tx1, wx, black, scale, strength)
    return y_off + yn / y_gain


def _planar_chroma_px(code, chroma):
    # Scaling every channel's difference from luma by ``chroma`` scales Cb - 128 and Cr - 128 alike.
    return np.float32(128.0) + (code - np.float32(128.0)) * chroma


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


_luma_cpu = cpu_device(_luma_px)
_u8_cpu = cpu_device(_u8_px)
_bin_cpu = cpu_device(_bin_px)
_axis_cpu = cpu_device(_axis_px)
_luma_i = _luma_cpu
_bin_i = _bin_cpu
_map_at_i = cpu_device(_map_at_px)
_luma_map_i = _luma_map_cpu = cpu_device(_luma_map_px)
_contrast_cpu = cpu_device(_contrast_px)
_planar_luma_cpu = cpu_device(_planar_luma_px)
_planar_chroma_cpu = cpu_device(_planar_chroma_px)
_stats_cpu = cpu_device(_stats_px)
_tile_map_cpu = cpu_device(_tile_map_px)

_luma_cuda = cuda_device(_luma_px)
_u8_cuda = cuda_device(_u8_px)
_bin_cuda = cuda_device(_bin_px)
_axis_cuda = cuda_device(_axis_px)
_luma_map_cuda = cuda_device(_luma_map_px, _bin_i=_bin_cuda, _map_at_i=cuda_device(_map_at_px))
_contrast_cuda = cuda_device(_contrast_px, _luma_i=_luma_cuda, _luma_map_i=_luma_map_cuda)
_planar_luma_cuda = cuda_device(_planar_luma_px, _luma_map_i=_luma_map_cuda)
_planar_chroma_cuda = cuda_device(_planar_chroma_px)
_tile_map_cuda = cuda_device(_tile_map_px)
_stats_cuda = cuda_device(_stats_px, _luma_i=_luma_cuda)


# --- statistics thumbnail -----------------------------------------------------------------------

@_serial_kernel
def _thumb_cpu(frame, factor, taps, thumb):
    th, tw = thumb.shape[1], thumb.shape[2]
    inv = np.float32(1.0 / (taps * taps))
    skip = (factor - taps) // 2
    for i in range(th):
        for j in range(tw):
            y = np.float32(0.0)
            lo = np.float32(0.0)
            hi = np.float32(0.0)
            for r in range(i * factor + skip, i * factor + skip + taps):
                src = frame[r]
                for c in range(j * factor + skip, j * factor + skip + taps):
                    dy, dlo, dhi = _stats_cpu(np.float32(src[c, 0]), np.float32(src[c, 1]), np.float32(src[c, 2]))
                    y += dy
                    lo += dlo
                    hi += dhi
            thumb[0, i, j] = y * inv
            thumb[1, i, j] = lo * inv
            thumb[2, i, j] = hi * inv


@cuda_kernel
def _thumb_cuda(frame, factor, taps, thumb):
    j, i = cuda.grid(2)
    th, tw = thumb.shape[1], thumb.shape[2]
    if i >= th or j >= tw:
        return
    inv = np.float32(1.0) / np.float32(taps * taps)
    skip = (factor - taps) // 2
    y = np.float32(0.0)
    lo = np.float32(0.0)
    hi = np.float32(0.0)
    for r in range(i * factor + skip, i * factor + skip + taps):
        for c in range(j * factor + skip, j * factor + skip + taps):
            dy, dlo, dhi = _stats_cuda(np.float32(frame[r, c, 0]), np.float32(frame[r, c, 1]),
                                       np.float32(frame[r, c, 2]))
            y += dy
            lo += dlo
            hi += dhi
    thumb[0, i, j] = y * inv
    thumb[1, i, j] = lo * inv
    thumb[2, i, j] = hi * inv


def bgr_stats_thumbnail(frame, factor: int, *, taps: int | None = None, out, backend: Backend = CPU):
    """Box-averaged luma, darkest channel and brightest channel of a BGR frame, downscaled by ``factor``.

    Luma feeds the CLAHE tile histograms; the darkest and brightest channel
    give auto-levels black and white points that clip no channel (a luma
    white point would push the channel of a colour cast past 255 and lose it).

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3) uint8`` BGR.
    factor : int
        Downscale factor >= 1; rows and columns past the last whole block are ignored.
    taps : int, optional
        Average only the central ``taps x taps`` pixels of each block (default: all).
    out : ndarray
        ``(3, H // factor, W // factor) float32`` destination: luma, min channel, max channel, in [0, 255].
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``out``.
    """
    if out.shape[1] == 0 or out.shape[2] == 0:
        return out
    taps = factor if taps is None else min(max(int(taps), 1), factor)
    if backend.is_cuda:
        backend.launch_2d(_thumb_cuda, out.shape[1], out.shape[2])(frame, factor, taps, out)
    else:
        _thumb_cpu(frame, factor, taps, out)
    return out


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
        ``(gy, gx, 256) int32``; overwritten.
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``out``.
    """
    out[...] = 0
    if thumb.shape[0] == 0 or thumb.shape[1] == 0:
        return out
    if backend.is_cuda:
        backend.launch_2d(_tile_hist_cuda, thumb.shape[0], thumb.shape[1])(thumb, out)
    else:
        _tile_hist_cpu(thumb, out)
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
    if backend.is_cuda:
        backend.launch_2d(_tile_maps_cuda, hist.shape[0], hist.shape[1])(hist, clip, a, state)
    else:
        _tile_maps_cpu(hist, clip, a, state)
    return state


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
        ``(H, W, 3) uint8`` destination; may not alias ``frame`` on the GPU.
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``out``.
    """
    if out is None:
        out = backend.empty(frame.shape)
    if backend.is_cuda:
        backend.launch_2d(_contrast_cuda_kernel, frame.shape[0], frame.shape[1])(frame, maps, coef, out)
    elif coef[2] <= 0.0 and coef[3] == coef[1]:
        # Levels alone are one affine map per channel: a table look-up, which
        # OpenCV does in SIMD (measured 1.7 ms against 5-8 ms for the loop at
        # 720p on a loaded 2-core machine).  Same values up to float rounding.
        cv2.LUT(frame, _levels_table(float(coef[0]), float(coef[1])), dst=out)
    else:
        _contrast_cpu_kernel(frame, maps, coef, out)
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
    ty0, ty1, wy = _axis_i((np.float32(row) + np.float32(0.5)) * np.float32(gy) / np.float32(height)
                           - np.float32(0.5), gy)
    tx0, tx1, wx = _axis_i((np.float32(col) + np.float32(0.5)) * np.float32(gx) / np.float32(width)
                           - np.float32(0.5), gx)
    out[row, col] = _u8_i(_planar_luma_i(np.float32(frame[row, col]), maps, ty0, ty1, wy, tx0, tx1, wx,
                                         coef[0], coef[1], coef[2], y_off, y_gain))
    if row < height // 2:
        out[height + row, col] = _u8_i(_planar_chroma_i(np.float32(frame[height + row, col]), coef[3]))


_axis_i = _axis_cpu
_u8_i = _u8_cpu
_planar_luma_i = _planar_luma_cpu
_planar_chroma_i = _planar_chroma_cpu
_planar_row_cpu = cpu_device(_planar_row_px)
_planar_row_cuda = cuda_device(_planar_row_px, _axis_i=_axis_cuda, _u8_i=_u8_cuda,
                               _planar_luma_i=_planar_luma_cuda, _planar_chroma_i=_planar_chroma_cuda)


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
        ``(H * 3 / 2, W) uint8`` destination; may not alias ``frame``.
    backend : Backend
        Where to run.
    tables : ndarray, optional
        ``(2, 1, 256) uint8`` host scratch for the CPU's levels-only tables.

    Returns
    -------
    ndarray
        ``out``.
    """
    y_off, gain = np.float32(y_offset), np.float32(y_gain)
    if backend.is_cuda:
        height = frame.shape[0] * 2 // 3
        backend.launch_2d(_contrast_i420_cuda, height, frame.shape[1])(frame, maps, coef, y_off, gain, out)
        return out
    if coef[2] > 0.0:
        _contrast_i420_cpu(frame, maps, coef, y_off, gain, out)
        return out
    # Levels alone: two table look-ups in OpenCV's SIMD LUT, one over Y', one over Cb and Cr.
    if tables is None:
        tables = np.empty((2, 1, 256), np.uint8)
    _planar_tables_cpu(maps, coef, y_off, gain, tables[0], tables[1])
    height = frame.shape[0] * 2 // 3
    cv2.LUT(frame[:height], tables[0], dst=out[:height])
    cv2.LUT(frame[height:], tables[1], dst=out[height:])
    return out


# --- host statistics --------------------------------------------------------------------------------

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
