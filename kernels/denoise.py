"""Motion-adaptive temporal + edge-preserving spatial denoising.

The frame is taken to a luma/colour-difference space (``Y, B-Y, R-Y``, three
float32 planes) so that luma and chroma can get separate strengths.  Per plane
and per pixel, one fused pass then does:

* a 3x3 edge-preserving spatial filter (a soft "sigma filter": neighbours
  further than about ``spatial_range * sigma`` from the centre get no weight),
* a history clamp to the current pixel's 3x3 range, so a moving edge cannot
  leave a ghost behind it,
* a motion weight from the difference between the spatial estimate and the
  clamped history (noise-sized differences mean "static"),
* a recursive blend: static pixels average over time (history weight up to
  ``1 - temporal``); moving pixels take the spatial estimate, which carries the
  load where time cannot.

The history may be read displaced by a global integer shift (camera pan),
estimated on a small luma thumbnail by phase correlation.  Noise sigma can be
estimated per plane from the median absolute response of a 3x3 Laplacian-like
mask (Immerkaer), whose standard deviation is ``6 * sigma`` for white noise.
"""
from __future__ import annotations

import logging
import math
import types

import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_device, cpu_kernel, cuda, cuda_device, cuda_kernel

log = logging.getLogger(__name__)

#: Histogram of |mask response| used by the noise estimator: bins of BIN_WIDTH levels.
NOISE_BINS = 1024
NOISE_BIN_WIDTH = 0.5
#: Number of per-plane coefficients the fused kernel reads (see :func:`plane_coefficients`).
N_COEFFS = 6
#: Weight that disables the spatial filter (any non-zero difference gets weight 0).
_NO_SPATIAL = 1.0e30


# --- per-pixel math, written once ------------------------------------------------

def _to_ycc_px(b, g, r):
    y = np.float32(0.299) * r + np.float32(0.587) * g + np.float32(0.114) * b
    return y, b - y, r - y


def _to_bgr_px(y, u, v):
    b = u + y
    r = v + y
    g = (y - np.float32(0.299) * r - np.float32(0.114) * b) * np.float32(1.0 / 0.587)
    return b, g, r


def _u8_px(v):
    return np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)) + np.float32(0.5))


def _tap_px(c0, n, inv_t2, acc, wsum, lo, hi):
    # Soft range weight (1 - d^2/t^2)+: no exp, and exactly 0 across edges.
    d = n - c0
    w = max(np.float32(0.0), np.float32(1.0) - d * d * inv_t2)
    return acc + w * n, wsum + w, min(lo, n), max(hi, n)


def _denoise_px(c0, n1, n2, n3, n4, n5, n6, n7, n8, hist, inv_t2, amin, thr, mgain, spatial, fresh):
    """One plane sample: spatial estimate, clamped history, motion-weighted blend."""
    acc, wsum, lo, hi = c0, np.float32(1.0), c0, c0
    acc, wsum, lo, hi = _tap_px_i(c0, n1, inv_t2, acc, wsum, lo, hi)
    acc, wsum, lo, hi = _tap_px_i(c0, n2, inv_t2, acc, wsum, lo, hi)
    acc, wsum, lo, hi = _tap_px_i(c0, n3, inv_t2, acc, wsum, lo, hi)
    acc, wsum, lo, hi = _tap_px_i(c0, n4, inv_t2, acc, wsum, lo, hi)
    acc, wsum, lo, hi = _tap_px_i(c0, n5, inv_t2, acc, wsum, lo, hi)
    acc, wsum, lo, hi = _tap_px_i(c0, n6, inv_t2, acc, wsum, lo, hi)
    acc, wsum, lo, hi = _tap_px_i(c0, n7, inv_t2, acc, wsum, lo, hi)
    acc, wsum, lo, hi = _tap_px_i(c0, n8, inv_t2, acc, wsum, lo, hi)
    s = acc / wsum
    h = min(max(hist, lo), hi)
    # Motion: how far the (less noisy) spatial estimate is from the history,
    # beyond what noise explains; 0 = static, 1 = moving.  A reset counts as motion.
    m = min(np.float32(1.0), max(max(abs(s - h) - thr, np.float32(0.0)) * mgain, fresh))
    a = amin + (np.float32(1.0) - amin) * m
    cur = c0 + (s - c0) * (spatial * m)
    return h + (cur - h) * a


def _response_px(c, n, s, e, w, ne, nw, se, sw):
    # Immerkaer's mask [1 -2 1; -2 4 -2; 1 -2 1]: cancels planes and ramps.
    return abs(np.float32(4.0) * c - np.float32(2.0) * (n + s + e + w) + (ne + nw + se + sw))


_to_ycc_cpu = cpu_device(_to_ycc_px)
_to_bgr_cpu = cpu_device(_to_bgr_px)
_u8_cpu = cpu_device(_u8_px)
_response_cpu = cpu_device(_response_px)
_to_ycc_cuda = cuda_device(_to_ycc_px)
_to_bgr_cuda = cuda_device(_to_bgr_px)
_u8_cuda = cuda_device(_u8_px)
_response_cuda = cuda_device(_response_px)



def _rebound(fn, **names):
    """A copy of ``fn`` whose global ``names`` point elsewhere.

    ``_denoise_px`` calls ``_tap_px`` through the global ``_tap_px_i``; Numba
    resolves it at compile time, so each target gets a copy bound to its own
    wrapping of the same math.
    """
    return types.FunctionType(fn.__code__, dict(fn.__globals__, **names), fn.__name__ + "_rebound")


# _denoise_px calls _tap_px through a module global; each target binds its own wrapping.
_tap_px_i = cpu_device(_tap_px)
_denoise_cpu = cpu_device(_denoise_px)
_denoise_cuda = cuda_device(_rebound(_denoise_px, _tap_px_i=cuda_device(_tap_px))) if cuda is not None else None


# --- BGR -> planes -------------------------------------------------------------------

@cpu_kernel
def _to_planes_cpu(frame, planes):
    height, width = frame.shape[0], frame.shape[1]
    for row in prange(height):
        for col in range(width):
            y, u, v = _to_ycc_cpu(np.float32(frame[row, col, 0]), np.float32(frame[row, col, 1]),
                                  np.float32(frame[row, col, 2]))
            planes[0, row, col] = y
            planes[1, row, col] = u
            planes[2, row, col] = v


@cuda_kernel
def _to_planes_cuda(frame, planes):
    col, row = cuda.grid(2)
    if row >= frame.shape[0] or col >= frame.shape[1]:
        return
    y, u, v = _to_ycc_cuda(np.float32(frame[row, col, 0]), np.float32(frame[row, col, 1]),
                           np.float32(frame[row, col, 2]))
    planes[0, row, col] = y
    planes[1, row, col] = u
    planes[2, row, col] = v


def to_planes(frame, *, out, backend: Backend = CPU):
    """Split a BGR frame into float32 ``Y, B-Y, R-Y`` planes.

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3) uint8`` BGR.
    out : ndarray
        ``(3, H, W) float32`` destination.
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``out``.
    """
    if backend.is_cuda:
        backend.launch_2d(_to_planes_cuda, frame.shape[0], frame.shape[1])(frame, out)
    else:
        _to_planes_cpu(frame, out)
    return out


# --- the fused denoise pass --------------------------------------------------------------

@cpu_kernel
def _denoise_cpu_kernel(planes, history, coeffs, shift_y, shift_x, fresh, out, history_out):
    height, width = planes.shape[1], planes.shape[2]
    last_r = height - 1
    last_c = width - 1
    for row in prange(height):
        rn = max(row - 1, 0)
        rs = min(row + 1, last_r)
        rh = min(max(row - shift_y, 0), last_r)
        for p in range(3):
            inv_t2 = coeffs[p, 0]
            amin = coeffs[p, 1]
            thr = coeffs[p, 2]
            mgain = coeffs[p, 3]
            spatial = coeffs[p, 4]
            pl = planes[p]
            hp = history[p]
            for col in range(width):
                cw = max(col - 1, 0)
                ce = min(col + 1, last_c)
                ch = min(max(col - shift_x, 0), last_c)
                history_out[p, row, col] = _denoise_cpu(
                    pl[row, col], pl[rn, cw], pl[rn, col], pl[rn, ce], pl[row, cw], pl[row, ce],
                    pl[rs, cw], pl[rs, col], pl[rs, ce], hp[rh, ch], inv_t2, amin, thr, mgain, spatial, fresh)
        for col in range(width):
            b, g, r = _to_bgr_cpu(history_out[0, row, col], history_out[1, row, col], history_out[2, row, col])
            out[row, col, 0] = _u8_cpu(b)
            out[row, col, 1] = _u8_cpu(g)
            out[row, col, 2] = _u8_cpu(r)


@cuda_kernel
def _denoise_cuda_kernel(planes, history, coeffs, shift_y, shift_x, fresh, out, history_out):
    col, row = cuda.grid(2)
    height, width = planes.shape[1], planes.shape[2]
    if row >= height or col >= width:
        return
    last_r = height - 1
    last_c = width - 1
    rn = max(row - 1, 0)
    rs = min(row + 1, last_r)
    rh = min(max(row - shift_y, 0), last_r)
    cw = max(col - 1, 0)
    ce = min(col + 1, last_c)
    ch = min(max(col - shift_x, 0), last_c)
    y = np.float32(0.0)
    u = np.float32(0.0)
    v = np.float32(0.0)
    for p in range(3):
        val = _denoise_cuda(
            planes[p, row, col], planes[p, rn, cw], planes[p, rn, col], planes[p, rn, ce], planes[p, row, cw],
            planes[p, row, ce], planes[p, rs, cw], planes[p, rs, col], planes[p, rs, ce], history[p, rh, ch],
            coeffs[p, 0], coeffs[p, 1], coeffs[p, 2], coeffs[p, 3], coeffs[p, 4], fresh)
        history_out[p, row, col] = val
        if p == 0:
            y = val
        elif p == 1:
            u = val
        else:
            v = val
    b, g, r = _to_bgr_cuda(y, u, v)
    out[row, col, 0] = _u8_cuda(b)
    out[row, col, 1] = _u8_cuda(g)
    out[row, col, 2] = _u8_cuda(r)


def plane_coefficients(sigmas, *, temporal: float, spatial: float, spatial_range: float = 2.0,
                       motion_threshold: float = 1.0, motion_ramp: float = 1.5, out: np.ndarray | None = None
                       ) -> np.ndarray:
    """Per-plane coefficients of :func:`denoise_planes` from noise sigmas.

    Parameters
    ----------
    sigmas : sequence of 3 floats
        Effective noise sigma per plane (Y, B-Y, R-Y) in 8-bit levels; 0 leaves the plane untouched.
    temporal : float
        Smallest weight of the current frame in static areas, in (0, 1]; 1 disables temporal averaging.
    spatial : float
        How much of the spatial estimate moving pixels take, in [0, 1].
    spatial_range : float
        Neighbours further than ``spatial_range * sigma`` from the centre get no spatial weight.
    motion_threshold, motion_ramp : float
        A difference below ``motion_threshold * sigma`` is noise; motion is full
        ``motion_ramp * sigma`` above that.
    out : ndarray, optional
        ``(3, N_COEFFS) float32`` host destination.

    Returns
    -------
    ndarray
        ``(3, N_COEFFS) float32``: ``inv_t2, amin, thr, mgain, spatial, 0`` per plane.
    """
    if out is None:
        out = np.zeros((3, N_COEFFS), np.float32)
    for p, sigma in enumerate(sigmas):
        sigma = float(sigma)
        if sigma <= 1e-3:
            out[p] = (_NO_SPATIAL, 1.0, 0.0, 0.0, 0.0, 0.0)
            continue
        out[p] = (1.0 / (spatial_range * sigma) ** 2, temporal, motion_threshold * sigma,
                  1.0 / (motion_ramp * sigma), spatial, 0.0)
    return out


def denoise_planes(planes, history, coeffs, *, shift: tuple[int, int] = (0, 0), fresh: bool = False,
                   out, history_out, backend: Backend = CPU):
    """One fused temporal + spatial denoise step.

    Parameters
    ----------
    planes : ndarray
        ``(3, H, W) float32`` current frame from :func:`to_planes`.
    history : ndarray
        ``(3, H, W) float32`` previous output planes (ignored when ``fresh``).
    coeffs : ndarray
        ``(3, N_COEFFS) float32`` from :func:`plane_coefficients`, on ``backend``.
    shift : (int, int)
        Global content motion ``(dy, dx)`` from the previous frame to this one; the
        history is read at ``(row - dy, col - dx)``.
    fresh : bool
        ``True`` after a reset: the history is not used and moving-area filtering applies everywhere.
    out : ndarray
        ``(H, W, 3) uint8`` denoised BGR frame.
    history_out : ndarray
        ``(3, H, W) float32`` new history; must not alias ``history`` or ``planes``.
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``out``.
    """
    dy, dx = int(shift[0]), int(shift[1])
    fr = np.float32(1.0 if fresh else 0.0)
    if backend.is_cuda:
        backend.launch_2d(_denoise_cuda_kernel, planes.shape[1], planes.shape[2])(
            planes, history, coeffs, dy, dx, fr, out, history_out)
    else:
        _denoise_cpu_kernel(planes, history, coeffs, dy, dx, fr, out, history_out)
    return out


# --- noise estimation ----------------------------------------------------------------------

@cpu_kernel
def _noise_hist_cpu(planes, step, inv_bin, hist):
    height, width = planes.shape[1], planes.shape[2]
    last = hist.shape[1] - 1
    # One plane per parallel iteration keeps the histograms race-free without atomics.
    for p in prange(3):
        pl = planes[p]
        for row in range(1, height - 1, step):
            for col in range(1, width - 1, step):
                r = _response_cpu(pl[row, col], pl[row - 1, col], pl[row + 1, col], pl[row, col + 1],
                                  pl[row, col - 1], pl[row - 1, col + 1], pl[row - 1, col - 1],
                                  pl[row + 1, col + 1], pl[row + 1, col - 1])
                hist[p, min(int(r * inv_bin), last)] += 1


@cuda_kernel
def _noise_hist_cuda(planes, step, inv_bin, hist):
    j, i = cuda.grid(2)
    height, width = planes.shape[1], planes.shape[2]
    row = 1 + i * step
    col = 1 + j * step
    if row >= height - 1 or col >= width - 1:
        return
    last = hist.shape[1] - 1
    for p in range(3):
        r = _response_cuda(planes[p, row, col], planes[p, row - 1, col], planes[p, row + 1, col],
                           planes[p, row, col + 1], planes[p, row, col - 1], planes[p, row - 1, col + 1],
                           planes[p, row - 1, col - 1], planes[p, row + 1, col + 1], planes[p, row + 1, col - 1])
        cuda.atomic.add(hist, (p, min(int(r * inv_bin), last)), 1)


def noise_histogram(planes, *, step: int = 2, out, backend: Backend = CPU):
    """Histogram of the noise-mask response per plane (input of :func:`sigma_from_histogram`).

    Parameters
    ----------
    planes : ndarray
        ``(3, H, W) float32``.
    step : int
        Sample every ``step``-th row and column (>= 1).
    out : ndarray
        ``(3, NOISE_BINS) int32``; overwritten.
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``out``.
    """
    out[...] = 0
    inv_bin = np.float32(1.0 / NOISE_BIN_WIDTH)
    height, width = planes.shape[1], planes.shape[2]
    if height < 3 or width < 3:
        return out
    if backend.is_cuda:
        rows = (height - 2 + step - 1) // step
        cols = (width - 2 + step - 1) // step
        backend.launch_2d(_noise_hist_cuda, rows, cols)(planes, step, inv_bin, out)
    else:
        _noise_hist_cpu(planes, step, inv_bin, out)
    return out


def sigma_from_histogram(hist: np.ndarray) -> np.ndarray:
    """Noise sigma per plane from :func:`noise_histogram` counts (host array).

    The median of ``|N(0, 6 sigma)|`` is ``0.6745 * 6 * sigma``; texture only
    lifts the upper tail, so the median stays close to the noise on typical video.

    Returns
    -------
    ndarray
        ``(3,) float64`` sigmas in 8-bit levels (0 where there were no samples).
    """
    sig = np.zeros(hist.shape[0])
    for p in range(hist.shape[0]):
        total = int(hist[p].sum())
        if total == 0:
            continue
        cum = np.cumsum(hist[p])
        k = int(np.searchsorted(cum, total / 2.0))
        # Linear interpolation inside the median bin.
        before = cum[k - 1] if k > 0 else 0
        frac = (total / 2.0 - before) / max(int(hist[p, k]), 1)
        median = (k + frac) * NOISE_BIN_WIDTH
        sig[p] = median / (0.6745 * 6.0)
    return sig


# --- thumbnails: scene cuts and global motion ------------------------------------------------

@cpu_kernel
def _thumb_cpu(planes, factor, thumb):
    th, tw = thumb.shape
    inv = np.float32(1.0 / (factor * factor))
    for i in prange(th):
        for j in range(tw):
            acc = np.float32(0.0)
            for r in range(i * factor, i * factor + factor):
                for c in range(j * factor, j * factor + factor):
                    acc += planes[0, r, c]
            thumb[i, j] = acc * inv


@cuda_kernel
def _thumb_cuda(planes, factor, thumb):
    j, i = cuda.grid(2)
    th, tw = thumb.shape
    if i >= th or j >= tw:
        return
    inv = np.float32(1.0) / np.float32(factor * factor)
    acc = np.float32(0.0)
    for r in range(i * factor, i * factor + factor):
        for c in range(j * factor, j * factor + factor):
            acc += planes[0, r, c]
    thumb[i, j] = acc * inv


def thumbnail_factor(height: int, width: int, target_width: int = 320) -> int:
    """Box-downscale factor that brings ``width`` near ``target_width`` (>= 1, fits the frame)."""
    return max(1, min(width // max(target_width, 1), height // 8 if height >= 8 else 1))


def luma_thumbnail(planes, factor: int, *, out, backend: Backend = CPU):
    """Box-average the luma plane by ``factor`` (scene-cut and global-motion input).

    Parameters
    ----------
    planes : ndarray
        ``(3, H, W) float32``.
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
        backend.launch_2d(_thumb_cuda, out.shape[0], out.shape[1])(planes, factor, out)
    else:
        _thumb_cpu(planes, factor, out)
    return out


def estimate_shift(previous: np.ndarray, current: np.ndarray, factor: int, window: np.ndarray | None = None,
                   max_shift: int = 64) -> tuple[int, int]:
    """Global content motion ``(dy, dx)`` in full-frame pixels, by phase correlation of thumbnails.

    Returns ``(0, 0)`` when the thumbnails are too small or the peak is weak
    (no single dominant translation) or implausibly large.
    """
    import cv2

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
