"""Box-averaged thumbnails: the small pictures every automatic decision is taken on.

- :func:`luma_thumbnail`: the temporal stages compare two for a scene cut (:func:`thumbnail_difference`)
  and phase-correlate them for a camera pan (:func:`estimate_motion`);
- :func:`bgr_thumbnail`, :func:`i420_bgr_thumbnail`: each block's colour, for the white balance;
- :func:`bgr_stats_thumbnail`: luma, darkest and brightest channel, for the contrast stage's levels.

The stabilizer's grey thumbnail, which weights the channels for motion, lives with its warp
(:func:`kernels.warp.gray_thumbnail`).  The CPU kernels here are serial and hold the GIL: a
thumbnail reads a small fraction of the frame, less work than a parallel region's start-up and
barrier (or a GIL hand-off) when the I/O threads hold the cores.
"""
from __future__ import annotations

import math

import cv2
import numba
import numpy as np

from kernels.backend import CPU, Backend, cuda, cuda_kernel, twin
from kernels.colorspace import _ycc_to_bgr_px
from kernels.contrast import _luma
from kernels.pixel import VECTOR_MINMAX, clamp255_px


# Reassociating the block sums lets them vectorize: sums of uint8 levels (I420) are exact in
# float32 in any order; the BGR path's float luma may differ in the last bits.
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
    """Box-average the luma plane by ``factor`` into ``out``, returned (scene-cut and global-motion input).

    Parameters
    ----------
    luma : ndarray
        ``(H, W)`` float32, or uint8 (an I420 Y plane).
    factor : int
        Downscale factor >= 1.
    out : ndarray
        ``(H // factor, W // factor) float32``.
    backend : Backend
    """
    if out.shape[0] == 0 or out.shape[1] == 0:
        return out
    backend.run_2d(_thumb_cpu, _thumb_cuda, out.shape[0], out.shape[1], luma, factor, out)
    return out


def estimate_motion(previous: np.ndarray, current: np.ndarray, factor: int, window: np.ndarray | None = None,
                    max_shift: int = 64) -> tuple[float, float] | None:
    """Global content motion ``(dy, dx)`` in full-frame pixels, sub-pixel, by phase correlation of thumbnails.

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
    (float, float) or None
        ``None`` when the thumbnails are too small or the peak is weak (no single dominant
        translation) or too large.
    """
    if previous.shape[0] < 8 or previous.shape[1] < 8:
        return None
    (sx, sy), response = cv2.phaseCorrelate(previous, current, window)
    if response < 0.1 or not (math.isfinite(sx) and math.isfinite(sy)):
        return None
    dy, dx = sy * factor, sx * factor
    if abs(dy) > max_shift + 0.5 or abs(dx) > max_shift + 0.5:
        return None
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


# --- the colour of each block (white balance) -----------------------------------------------

def _box_px(frame, row0, col0, taps, ch):
    acc = np.float32(0.0)
    for r in range(row0, row0 + taps):
        for c in range(col0, col0 + taps):
            acc += np.float32(frame[r, c, ch])
    return acc


_box_cpu, _box_cuda = twin(_box_px)


@numba.njit(cache=True)
def _bgr_thumb_cpu(frame, factor, taps, thumb):
    th, tw = thumb.shape[0], thumb.shape[1]
    inv = np.float32(1.0 / (taps * taps))
    skip = (factor - taps) // 2
    for i in range(th):
        for j in range(tw):
            for ch in range(3):
                thumb[i, j, ch] = _box_cpu(frame, i * factor + skip, j * factor + skip, taps, ch) * inv


@cuda_kernel
def _bgr_thumb_cuda(frame, factor, taps, thumb):
    j, i = cuda.grid(2)
    if i >= thumb.shape[0] or j >= thumb.shape[1]:
        return
    inv = np.float32(1.0) / np.float32(taps * taps)
    skip = (factor - taps) // 2
    for ch in range(3):
        thumb[i, j, ch] = _box_cuda(frame, i * factor + skip, j * factor + skip, taps, ch) * inv


def bgr_thumbnail(frame, factor: int, *, taps: int | None = None, out, backend: Backend = CPU):
    """Box-average a BGR frame by ``factor`` into ``out``, returned (white-balance statistics).

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3) uint8`` BGR.
    factor : int
        Downscale factor >= 1; the rows and columns past the last whole block are ignored.
    taps : int, optional
        Average only the central ``taps x taps`` pixels of each ``factor x factor``
        block (default: all of them); statistics need far fewer samples than
        the frame holds, and reading fewer keeps the pass cheap.
    out : ndarray
        ``(H // factor, W // factor, 3) float32`` destination.
    backend : Backend
        Where to run.
    """
    if out.shape[0] == 0 or out.shape[1] == 0:
        return out
    taps = factor if taps is None else min(max(int(taps), 1), factor)
    backend.run_2d(_bgr_thumb_cpu, _bgr_thumb_cuda, out.shape[0], out.shape[1], frame, factor, taps, out)
    return out


# --- the same statistics of I420 frames --------------------------------------------------------

def _ycc_box_px(y_plane, u_plane, v_plane, k, row0, col0, taps):
    """BGR levels (0..255) of the mean Y' of a ``taps`` square and the mean Cb, Cr of the chroma under it."""
    ys = np.float32(0.0)
    for r in range(row0, row0 + taps):
        for c in range(col0, col0 + taps):
            ys += np.float32(y_plane[r, c])
    cb = np.float32(0.0)
    cr = np.float32(0.0)
    r0, r1 = row0 // 2, (row0 + taps - 1) // 2
    c0, c1 = col0 // 2, (col0 + taps - 1) // 2
    for r in range(r0, r1 + 1):
        for c in range(c0, c1 + 1):
            cb += np.float32(u_plane[r, c])
            cr += np.float32(v_plane[r, c])
    n = np.float32((r1 - r0 + 1) * (c1 - c0 + 1))
    b, g, r = _ycc_to_bgr_i(ys / np.float32(taps * taps), cb / n, cr / n, k)  # noqa: F821
    return _clamp255_i(b), _clamp255_i(g), _clamp255_i(r)  # noqa: F821


_ycc_box_cpu, _ycc_box_cuda = twin(_ycc_box_px, _ycc_to_bgr_i=twin(_ycc_to_bgr_px),
                                    _clamp255_i=twin(clamp255_px, cpu_only=VECTOR_MINMAX))


@numba.njit(cache=True)
def _i420_thumb_cpu(y_plane, u_plane, v_plane, k, factor, taps, thumb):
    skip = (factor - taps) // 2
    for i in range(thumb.shape[0]):
        for j in range(thumb.shape[1]):
            b, g, r = _ycc_box_cpu(y_plane, u_plane, v_plane, k, i * factor + skip, j * factor + skip, taps)
            thumb[i, j, 0] = b
            thumb[i, j, 1] = g
            thumb[i, j, 2] = r


@cuda_kernel
def _i420_thumb_cuda(y_plane, u_plane, v_plane, k, factor, taps, thumb):
    j, i = cuda.grid(2)
    if i >= thumb.shape[0] or j >= thumb.shape[1]:
        return
    skip = (factor - taps) // 2
    b, g, r = _ycc_box_cuda(y_plane, u_plane, v_plane, k, i * factor + skip, j * factor + skip, taps)
    thumb[i, j, 0] = b
    thumb[i, j, 1] = g
    thumb[i, j, 2] = r


def i420_bgr_thumbnail(planes, to_bgr, factor: int, *, taps: int | None = None, out, backend: Backend = CPU):
    """:func:`bgr_thumbnail` of an I420 frame, averaged on the planes and converted per thumbnail sample.

    The box mean of Y' and of the chroma samples under it is converted to BGR
    (a sample's colour, not the mean of the pixels' colours: the same up to the
    gamut clipping of single pixels, and statistics need no more).

    Parameters
    ----------
    planes : tuple of 3 ndarrays
        ``(H, W)`` Y' and ``(H/2, W/2)`` Cb, Cr uint8 planes (:func:`kernels.planes.i420_planes`).
    to_bgr : ndarray
        ``float32[8]`` :meth:`kernels.colorspace.YuvFormat.to_bgr_coefficients`, on ``backend``.
    factor, taps, out, backend
        As for :func:`bgr_thumbnail`.

    Returns
    -------
    ndarray
        ``out``, ``(H // factor, W // factor, 3) float32`` BGR levels in [0, 255].
    """
    if out.shape[0] == 0 or out.shape[1] == 0:
        return out
    taps = factor if taps is None else min(max(int(taps), 1), factor)
    y_plane, u_plane, v_plane = planes
    backend.run_2d(_i420_thumb_cpu, _i420_thumb_cuda, out.shape[0], out.shape[1], y_plane, u_plane, v_plane, to_bgr,
                   factor, taps, out)
    return out


# --- the contrast stage's statistics: luma, darkest and brightest channel ------------------------

def _stats_px(b, g, r):
    return _luma_i(b, g, r), min(b, min(g, r)), max(b, max(g, r))  # noqa: F821


_stats_cpu, _stats_cuda = twin(_stats_px, _luma_i=_luma)


@numba.njit(cache=True)
def _stats_thumb_cpu(frame, factor, taps, thumb):
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
def _stats_thumb_cuda(frame, factor, taps, thumb):
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
    """Box-averaged luma, darkest and brightest channel of a BGR frame, downscaled by ``factor``, into ``out``.

    Luma feeds the CLAHE tile histograms; the darkest and brightest channel
    give auto-levels black and white points that clip no channel (a luma
    white point would push the channel of a colour cast past 255 and lose it).

    Parameters
    ----------
    frame, factor, taps, backend
        As for :func:`bgr_thumbnail`.
    out : ndarray
        ``(3, H // factor, W // factor) float32`` destination: luma, min channel, max channel, in [0, 255].
    """
    if out.shape[1] == 0 or out.shape[2] == 0:
        return out
    taps = factor if taps is None else min(max(int(taps), 1), factor)
    backend.run_2d(_stats_thumb_cpu, _stats_thumb_cuda, out.shape[1], out.shape[2], frame, factor, taps, out)
    return out
