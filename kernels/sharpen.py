"""Thresholded, range-clamped unsharp mask on luma.

``detail = Y - blur(Y)`` with a separable binomial blur; details smaller than
``threshold`` levels are cored away softly (flat-area noise is not
amplified); the sharpened luma is clamped to the 3x3 neighbourhood range of the
input, widened by ``overshoot`` levels (strong edges get no halos); the luma
change is added equally to B, G and R, so hue is kept.  Amount 0 is the
identity, bit for bit.  A one-channel frame (a Y plane) is its own luma.

Two passes: (1) luma and its horizontal blur, row by row; (2) vertical blur,
range clamp and the BGR output.

How soft a frame is comes from :func:`softness`: the blur sigma that explains how
much gradient energy a known extra blur removes (an edge blurred by ``s`` keeps
``s / sqrt(s^2 + r^2)`` of its gradient energy under a further blur ``r``).
"""
from __future__ import annotations

import numpy as np
from numba import prange

from kernels import MAX_RADIUS
from kernels.backend import CPU, Backend, cpu_device, cpu_kernel, cuda, cuda_device, cuda_kernel, twin
from kernels.pixel import LUMA601_BGR


def binomial_taps(radius: int) -> np.ndarray:
    """Normalised binomial blur weights of length ``2 * radius + 1`` (float32).

    A binomial is the cheapest good Gaussian approximation: sigma = sqrt(radius / 2).
    """
    if not 1 <= radius <= MAX_RADIUS:
        raise ValueError(f"radius {radius} outside 1..{MAX_RADIUS}")
    taps = np.array([1.0])
    for _ in range(2 * radius):
        taps = np.convolve(taps, [1.0, 1.0])
    return (taps / taps.sum()).astype(np.float32)


#: The known extra blur of :func:`softness` (a 5-tap binomial: sigma 1 pixel).
_REBLUR = np.array([1.0, 4.0, 6.0, 4.0, 1.0], np.float32) / 16.0
#: Largest softness :func:`softness` reports (pixels); beyond it the energy ratio is too close to 1.
MAX_SOFTNESS = 3.0


def softness(luma, *, row_step: int = 4, xp=np) -> float:
    """Blur sigma (pixels) of a luma plane, measured along every ``row_step``-th row.

    Horizontal differences before and after a further 1-pixel binomial blur: their energy
    ratio ``q`` gives ``sigma = q / sqrt(1 - q^2)`` for edges.  Texture and noise read as
    sharper than they are, so a noisy or detailed frame is sharpened less, never more.

    Parameters
    ----------
    luma : ndarray
        ``(H, W)`` luma (or one channel), any real dtype, NumPy or CuPy.
    row_step : int
        Rows sampled: a subset keeps this well under a millisecond at 720p.
    xp : module
        ``numpy`` or ``cupy``, the array module of ``luma``.

    Returns
    -------
    float
        In ``[0, MAX_SOFTNESS]``; 0 where the frame is flat or narrower than 6 pixels.
    """
    rows = luma[::max(1, row_step)].astype(xp.float32)
    if rows.shape[1] < 6:
        return 0.0
    k = _REBLUR
    # The 5-tap blur on the rows' interiors (two samples lost at each end).
    blurred = (k[0] * rows[:, :-4] + k[1] * rows[:, 1:-3] + k[2] * rows[:, 2:-2] + k[3] * rows[:, 3:-1]
               + k[4] * rows[:, 4:])
    d0 = xp.diff(rows[:, 2:-2], axis=1)
    d1 = xp.diff(blurred, axis=1)
    e0 = float((d0 * d0).sum())
    e1 = float((d1 * d1).sum())
    if e0 <= 1e-6:
        return 0.0
    q = min(e1 / e0, 0.995)
    return float(min(q / np.sqrt(1.0 - q * q), MAX_SOFTNESS))


# --- per-pixel math, written once ------------------------------------------------

def _luma_px(b, g, r):
    return np.float32(LUMA601_BGR[2]) * r + np.float32(LUMA601_BGR[1]) * g + np.float32(LUMA601_BGR[0]) * b


def _sharpen_px(y, blurred, lo, hi, amount, threshold, overshoot):
    """Luma change for one pixel: cored detail, scaled, clamped to the local range."""
    d = y - blurred
    # Soft coring, branch-free (a conditional here stopped vectorization):
    # d minus its clamp to [-threshold, threshold] is 0 inside and shrinks d outside.
    cored = d - min(max(d, -threshold), threshold)
    boosted = y + amount * cored
    return min(max(boosted, lo - overshoot), hi + overshoot) - y


def _add_u8_px(v, delta):
    return np.uint8(min(max(np.float32(v) + delta, np.float32(0.0)), np.float32(255.0)) + np.float32(0.5))


_luma_cpu, _luma_cuda = twin(_luma_px)
_sharpen_cpu, _sharpen_cuda = twin(_sharpen_px)
_add_u8_cpu, _add_u8_cuda = twin(_add_u8_px)


# --- pass 1: luma and horizontal blur ------------------------------------------------

@cpu_device
def _hblur_clamped_cpu(y, taps, col, radius, width):
    acc = np.float32(0.0)
    for k in range(taps.shape[0]):
        acc += taps[k] * y[min(max(col + k - radius, 0), width - 1)]
    return acc


@cpu_kernel
def _luma_hblur_cpu(frame, taps, luma, hblur):
    height, width = frame.shape[0], frame.shape[1]
    radius = (taps.shape[0] - 1) // 2
    lo = min(radius, width)
    hi = max(width - radius, lo)
    plane = frame.shape[2] == 1
    for row in prange(height):
        src = frame[row].reshape(-1)  # flat (3*col + c) indexing: 2-D indexing does not vectorize
        y = luma[row]
        dst = hblur[row]
        # Unsigned indices throughout: Numba's negative-index wraparound on
        # signed indices stops LLVM vectorizing these loops.
        if plane:
            for c in range(width):
                y[np.uintp(c)] = np.float32(src[np.uintp(c)])
        else:
            for c in range(width):
                col = np.uintp(c)
                i = np.uintp(3) * col
                y[col] = _luma_cpu(np.float32(src[i]), np.float32(src[i + np.uintp(1)]),
                                   np.float32(src[i + np.uintp(2)]))
        # Taps outer, columns inner: each tap is one contiguous, vectorized
        # multiply-add over the row (a per-pixel tap loop does not vectorize).
        for c in range(width):
            dst[np.uintp(c)] = np.float32(0.0)
        for k in range(taps.shape[0]):
            w = taps[k]
            for c in range(lo, hi):
                dst[np.uintp(c)] += w * y[np.uintp(c + k - radius)]
        # The columns within the radius of the edges, with clamped taps (only those: a branch
        # per column over the whole row cost as much as the blur).
        for col in range(lo):
            dst[col] = _hblur_clamped_cpu(y, taps, col, radius, width)
        for col in range(hi, width):
            dst[col] = _hblur_clamped_cpu(y, taps, col, radius, width)


def _luma_at(frame, row, col):
    if frame.shape[2] == 1:
        return np.float32(frame[row, col, 0])
    return _luma_cuda(np.float32(frame[row, col, 0]), np.float32(frame[row, col, 1]), np.float32(frame[row, col, 2]))


_luma_at_cuda = cuda_device(_luma_at)


@cuda_kernel
def _luma_hblur_cuda(frame, taps, luma, hblur):
    col, row = cuda.grid(2)
    height, width = frame.shape[0], frame.shape[1]
    if row >= height or col >= width:
        return
    radius = (taps.shape[0] - 1) // 2
    luma[row, col] = _luma_at_cuda(frame, row, col)
    acc = np.float32(0.0)
    for k in range(taps.shape[0]):
        acc += taps[k] * _luma_at_cuda(frame, row, min(max(col + k - radius, 0), width - 1))
    hblur[row, col] = acc


# --- pass 2: vertical blur, clamp, output ------------------------------------------------

@cpu_device
def _delta_at_cpu(luma, vrow, row, rn, rs, col, cw, ce, amount, threshold, overshoot):
    lo = min(min(min(luma[rn, cw], luma[rn, col]), min(luma[rn, ce], luma[row, cw])),
             min(min(luma[row, ce], luma[rs, cw]), min(luma[rs, col], luma[rs, ce])))
    hi = max(max(max(luma[rn, cw], luma[rn, col]), max(luma[rn, ce], luma[row, cw])),
             max(max(luma[row, ce], luma[rs, cw]), max(luma[rs, col], luma[rs, ce])))
    y = luma[row, col]
    return _sharpen_cpu(y, vrow[col], min(lo, y), max(hi, y), amount, threshold, overshoot)


@cpu_kernel
def _sharpen_out_cpu(frame, taps, luma, hblur, amount, threshold, overshoot, vblur, out):
    height, width = frame.shape[0], frame.shape[1]
    radius = (taps.shape[0] - 1) // 2
    for row in prange(height):
        # Vertical blur as whole-row multiply-adds: contiguous and vectorized.
        vrow = vblur[row]
        for c in range(width):
            vrow[np.uintp(c)] = np.float32(0.0)
        for k in range(taps.shape[0]):
            src_row = hblur[min(max(row + k - radius, 0), height - 1)]
            w = taps[k]
            for c in range(width):
                vrow[np.uintp(c)] += w * src_row[np.uintp(c)]
        rn = max(row - 1, 0)
        rs = min(row + 1, height - 1)
        north = luma[rn]
        mid = luma[row]
        south = luma[rs]
        # The luma change replaces the blurred value in place, in a loop of its
        # own: fused with the uint8 stores below it no longer vectorized (2x slower).
        last = vrow[width - 1]
        if width > 1:
            last = _delta_at_cpu(luma, vrow, row, rn, rs, width - 1, width - 2, width - 1, amount, threshold,
                                 overshoot)
        first = _delta_at_cpu(luma, vrow, row, rn, rs, 0, 0, min(1, width - 1), amount, threshold, overshoot)
        one = np.uintp(1)
        for c in range(1, width - 1):
            col = np.uintp(c)
            lo = min(min(min(north[col - one], north[col]), min(north[col + one], mid[col - one])),
                     min(min(mid[col + one], south[col - one]), min(south[col], south[col + one])))
            hi = max(max(max(north[col - one], north[col]), max(north[col + one], mid[col - one])),
                     max(max(mid[col + one], south[col - one]), max(south[col], south[col + one])))
            y = mid[col]
            vrow[col] = _sharpen_cpu(y, vrow[col], min(lo, y), max(hi, y), amount, threshold, overshoot)
        vrow[0] = first
        if width > 1:
            vrow[width - 1] = last
        src = frame[row].reshape(-1)
        dst = out[row].reshape(-1)
        if frame.shape[2] == 1:
            for c in range(width):
                col = np.uintp(c)
                dst[col] = _add_u8_cpu(src[col], vrow[col])
            continue
        for c in range(width):
            col = np.uintp(c)
            i = np.uintp(3) * col
            delta = vrow[col]
            dst[i] = _add_u8_cpu(src[i], delta)
            dst[i + np.uintp(1)] = _add_u8_cpu(src[i + np.uintp(1)], delta)
            dst[i + np.uintp(2)] = _add_u8_cpu(src[i + np.uintp(2)], delta)


@cuda_kernel
def _sharpen_out_cuda(frame, taps, luma, hblur, amount, threshold, overshoot, out):
    col, row = cuda.grid(2)
    height, width = frame.shape[0], frame.shape[1]
    if row >= height or col >= width:
        return
    radius = (taps.shape[0] - 1) // 2
    rn = max(row - 1, 0)
    rs = min(row + 1, height - 1)
    cw = max(col - 1, 0)
    ce = min(col + 1, width - 1)
    acc = np.float32(0.0)
    for k in range(taps.shape[0]):
        acc += taps[k] * hblur[min(max(row + k - radius, 0), height - 1), col]
    lo = min(min(min(luma[rn, cw], luma[rn, col]), min(luma[rn, ce], luma[row, cw])),
             min(min(luma[row, ce], luma[rs, cw]), min(luma[rs, col], luma[rs, ce])))
    hi = max(max(max(luma[rn, cw], luma[rn, col]), max(luma[rn, ce], luma[row, cw])),
             max(max(luma[row, ce], luma[rs, cw]), max(luma[rs, col], luma[rs, ce])))
    y = luma[row, col]
    delta = _sharpen_cuda(y, acc, min(lo, y), max(hi, y), amount, threshold, overshoot)
    for ch in range(frame.shape[2]):
        out[row, col, ch] = _add_u8_cuda(frame[row, col, ch], delta)


def sharpen(frame, taps, *, amount: float = 1.0, threshold: float = 2.0, overshoot: float = 2.0, out=None,
            work=None, backend: Backend = CPU):
    """Sharpen luma with a cored, halo-free unsharp mask.

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3) uint8`` BGR, or ``(H, W, 1) uint8`` luma (a Y plane).
    taps : ndarray
        Blur weights from :func:`binomial_taps`, on ``backend``.
    amount : float
        Gain on the detail; 0 is the identity.
    threshold : float
        Details up to this many 8-bit levels are treated as noise and not boosted.
    overshoot : float
        How far (levels) the result may leave the input's 3x3 range; 0 = no halos at all.
    out : ndarray, optional
        Destination shaped like ``frame``; must not alias it. Returned.
    work : ndarray, optional
        ``(3, H, W) float32`` scratch (luma, horizontal and vertical blur); allocated when not given.
    backend : Backend
        Where to run.
    """
    height, width = frame.shape[0], frame.shape[1]
    if out is None:
        out = backend.empty(frame.shape)
    if work is None:
        work = backend.empty((3, height, width), np.float32)
    luma, hblur, vblur = work[0], work[1], work[2]
    args = (np.float32(amount), np.float32(threshold), np.float32(overshoot))
    backend.run_2d(_luma_hblur_cpu, _luma_hblur_cuda, height, width, frame, taps, luma, hblur)
    if backend.is_cuda:
        backend.launch_2d(_sharpen_out_cuda, height, width)(frame, taps, luma, hblur, *args, out)
    else:
        _sharpen_out_cpu(frame, taps, luma, hblur, *args, vblur, out)
    return out
