"""Luma thumbnails: scene cuts and global motion.

A box-averaged luma thumbnail is small enough for the host: the temporal stages compare
two of them for a scene cut (:func:`thumbnail_difference`) and phase-correlate them for a
camera pan (:func:`estimate_shift`), which the denoiser's history is read displaced by.
"""
from __future__ import annotations

import math

import cv2
import numba
import numpy as np

from kernels.backend import CPU, Backend, cuda, cuda_kernel


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
    backend.run_2d(_thumb_cpu, _thumb_cuda, out.shape[0], out.shape[1], luma, factor, out)
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
