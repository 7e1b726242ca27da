"""Fused colour point operation: tone curves, white balance, saturation and a 3D LUT.

The per-channel tone work (white-balance gains, brightness, contrast, gamma) is
baked once per parameter change into a ``(3, 256)`` float32 curve table; the
per-pixel pass looks up three values, mixes them towards their luma for
saturation and, when a 3D LUT is loaded, interpolates it (trilinear or
tetrahedral), so the whole operation is one pass over the frame whatever the
number of parameters.

Automatic white balance works on statistics of a small box-averaged thumbnail
(:func:`bgr_thumbnail`, then :func:`shades_of_gray_gains` on the host); only
the resulting three gains reach the per-pixel pass, through the curve table.

I420 frames (:mod:`kernels.planes`) get the same statistics from
:func:`i420_bgr_thumbnail` and the same curves and saturation from
:func:`adjust_color_i420`, each sample taken to BGR and back in registers.
"""
from __future__ import annotations

import math
from typing import Any

import cv2
import numba
import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_device, cpu_kernel, cuda, cuda_device, cuda_kernel
from kernels.colorspace import _ycc_to_bgr_px
from kernels.pixel import VECTOR_MINMAX
from kernels.pixel import u8_px as _u8_px

#: BT.709 luma weights in BGR order, used to mix towards gray for saturation.
LUMA_BGR = (0.0722, 0.7152, 0.2126)

#: 3D LUT interpolation modes understood by :func:`adjust_color` (index = kernel code).
LUT_MODES = ("none", "trilinear", "tetrahedral")


def tone_curves(brightness: float = 0.0, contrast: float = 1.0, gamma: float = 1.0,
                gains: tuple[float, float, float] = (1.0, 1.0, 1.0), *,
                out: np.ndarray | None = None) -> np.ndarray:
    """Bake per-channel tone curves for :func:`adjust_color`.

    For an input level ``x`` in [0, 1] and channel gain ``g`` the curve is
    ``clip((g*x - 0.5) * contrast + 0.5 + brightness, 0, 1) ** (1 / gamma)``.

    Parameters
    ----------
    brightness : float
        Offset as a fraction of full scale, in [-1, 1].
    contrast : float
        Slope around mid-gray; 1 is identity.
    gamma : float
        Gamma > 1 brightens the mid-tones; 1 is identity.
    gains : tuple of 3 floats
        Per-channel multipliers in BGR order (white balance), applied first.
    out : ndarray, optional
        ``(3, 256) float32`` host destination (re-baking without allocating).

    Returns
    -------
    ndarray
        ``(3, 256) float32`` output levels in [0, 255], BGR order.
    """
    x = np.arange(256, dtype=np.float64) / 255.0
    curves = np.empty((3, 256), dtype=np.float32) if out is None else out
    for ch, gain in enumerate(gains):
        v = np.clip((gain * x - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0)
        curves[ch] = 255.0 * v ** (1.0 / gamma)
    return curves


def temperature_tint_gains(temperature: float = 0.0, tint: float = 0.0) -> tuple[float, float, float]:
    """BGR channel gains for a manual temperature/tint shift.

    Parameters
    ----------
    temperature : float
        In [-1, 1]; positive warms (more red, less blue), negative cools.
        1 is roughly a 2x red/blue ratio change.
    tint : float
        In [-1, 1]; positive adds magenta (less green), negative adds green.

    Returns
    -------
    tuple of 3 floats
        ``(b, g, r)`` gains normalised so that gray keeps its luma.
    """
    half = 0.5 * math.log(2.0)
    b = math.exp(-half * temperature + 0.5 * half * tint)
    g = math.exp(-half * tint)
    r = math.exp(half * temperature + 0.5 * half * tint)
    norm = LUMA_BGR[0] * b + LUMA_BGR[1] * g + LUMA_BGR[2] * r
    return b / norm, g / norm, r / norm


@numba.njit(cache=True, nogil=True)
def _pow_px(x, p):
    # Integer norms by multiplication (a general power is several times slower).
    if p == 1.0:
        return x
    if p == 6.0:
        x2 = x * x
        return x2 * x2 * x2
    return x ** np.float32(p)


@numba.njit(cache=True, nogil=True)
def _masked_power_sums(px, p, low, high):
    """Per-channel sums of ``(px / 255) ** p`` over samples whose channels lie in [low, high]; and their count.

    One pass over the thumbnail (the NumPy version took a dozen, each a full temporary).
    """
    sums = np.zeros(3, np.float64)
    count = 0
    full = np.float32(255.0)
    for i in range(px.shape[0]):
        b, g, r = px[i, 0], px[i, 1], px[i, 2]
        if min(b, g, r) >= low and max(b, g, r) <= high:
            count += 1
            sums[0] += _pow_px(b / full, p)
            sums[1] += _pow_px(g / full, p)
            sums[2] += _pow_px(r / full, p)
    return sums, count


@numba.njit(cache=True, nogil=True)
def _edge_power_sums(x, p):
    """Per-channel sums of ``(|central-difference gradient| / 255) ** p`` over the thumbnail's interior."""
    sums = np.zeros(3, np.float64)
    full = np.float32(255.0)
    for i in range(1, x.shape[0] - 1):
        for j in range(1, x.shape[1] - 1):
            for c in range(3):
                gy = x[i + 1, j, c] - x[i - 1, j, c]
                gx = x[i, j + 1, c] - x[i, j - 1, c]
                sums[c] += _pow_px(np.sqrt(gx * gx + gy * gy) / full, p)
    return sums


def _p_mean(sums: np.ndarray, count: int, p: float) -> np.ndarray:
    mean = sums / count
    return mean if p == 1.0 else mean ** (1.0 / p)


def shades_of_gray_gains(thumb: np.ndarray, p: float = 6.0, *, low: float = 8.0, high: float = 247.0
                         ) -> tuple[tuple[float, float, float], float] | None:
    """Estimate white-balance gains by shades-of-gray on a BGR thumbnail (host).

    The illuminant per channel is the Minkowski ``p``-mean of the samples
    (``p = 1`` is gray-world, large ``p`` tends to max-RGB); samples with a
    channel near black (noise dominates) or near white (clipped, the true
    colour is lost) are left out.

    Parameters
    ----------
    thumb : ndarray
        ``(h, w, 3)`` float32 or uint8 BGR, levels in [0, 255].
    p : float
        Minkowski norm, >= 1.
    low, high : float
        Samples whose darkest channel is below ``low`` or brightest above ``high`` are ignored.

    Returns
    -------
    ((b, g, r), float) or None
        Gains that make the estimated illuminant gray at unchanged luma, and
        the fraction of samples used; ``None`` when too few samples qualify
        (an all-black, all-white or empty frame).
    """
    px = np.ascontiguousarray(thumb, dtype=np.float32).reshape(-1, 3)
    if px.shape[0] == 0:
        return None
    # Normalised before the power so large p cannot overflow float32.
    sums, count = _masked_power_sums(px, np.float32(p), np.float32(low), np.float32(high))
    used = count / px.shape[0]
    if count < 16:
        return None
    est = _p_mean(sums, count, p)
    if not np.all(np.isfinite(est)) or est.min() <= 1e-6:
        return None
    lum = float(np.dot(LUMA_BGR, est))
    gains = lum / est
    return (float(gains[0]), float(gains[1]), float(gains[2])), used


def white_patch_gains(thumb: np.ndarray, percentile: float = 99.0, *, high: float = 250.0
                      ) -> tuple[float, float, float] | None:
    """Estimate white-balance gains from the brightest unclipped samples of a BGR thumbnail (host).

    The illuminant per channel is a high percentile of the samples whose
    brightest channel is below ``high``: the brightest surfaces of a scene are
    mostly white or gray, so their colour is the light's.  A clipped sample has
    lost that colour and is left out.

    Returns
    -------
    (b, g, r) or None
        Gains at unchanged gray luma; ``None`` with fewer than 16 usable samples.
    """
    px = np.ascontiguousarray(thumb, dtype=np.float32).reshape(-1, 3)
    px = px[px.max(axis=1) < high]
    if px.shape[0] < 16:
        return None
    est = np.percentile(px, percentile, axis=0).astype(np.float64)
    if est.min() <= 1.0:
        return None
    gains = float(np.dot(LUMA_BGR, est)) / est
    return float(gains[0]), float(gains[1]), float(gains[2])


def gray_edge_gains(thumb: np.ndarray, p: float = 6.0) -> tuple[float, float, float] | None:
    """Estimate white-balance gains by gray-edge on a BGR thumbnail (host).

    The illuminant per channel is the Minkowski ``p``-mean of the gradient
    magnitude (van de Weijer et al. 2007): edges average to gray under a
    neutral light even in scenes whose surfaces do not, and an offset (haze)
    does not move the estimate.  Used as a second opinion next to
    :func:`shades_of_gray_gains`.

    Returns
    -------
    (b, g, r) or None
        Gains at unchanged gray luma; ``None`` for a flat thumbnail.
    """
    x = np.ascontiguousarray(thumb, dtype=np.float32)
    if x.shape[0] < 3 or x.shape[1] < 3:
        return None
    est = _p_mean(_edge_power_sums(x, np.float32(p)), (x.shape[0] - 2) * (x.shape[1] - 2), p)
    if not np.all(np.isfinite(est)) or est.min() <= 1e-6:
        return None
    gains = float(np.dot(LUMA_BGR, est)) / est
    return float(gains[0]), float(gains[1]), float(gains[2])


# --- per-pixel math, written once --------------------------------------------------------

def _color_px(tb, tg, tr, saturation):
    # Saturation mixes each channel with the pixel's luma; 1 keeps it, 0 is gray.
    y = np.float32(LUMA_BGR[0]) * tb + np.float32(LUMA_BGR[1]) * tg + np.float32(LUMA_BGR[2]) * tr
    return y + (tb - y) * saturation, y + (tg - y) * saturation, y + (tr - y) * saturation


def _lut_axis_px(v, scale, offset, last):
    # Level in [0, 255] -> lattice cell index and fraction; the cell index stops
    # one short of the last node so that index + 1 is always valid.
    pos = min(max(v * scale + offset, np.float32(0.0)), np.float32(last))
    i = min(int(pos), last - 1)
    return i, pos - np.float32(i)


def _lut_px(lut, coef, mode, b, g, r):
    """Interpolate the 3D LUT ``lut[b, g, r, ch]`` (values 0..255) at levels ``b, g, r``."""
    last = lut.shape[0] - 1
    ib, fb = _lut_axis_i(b, coef[0, 0], coef[1, 0], last)
    ig, fg = _lut_axis_i(g, coef[0, 1], coef[1, 1], last)
    ir, fr = _lut_axis_i(r, coef[0, 2], coef[1, 2], last)
    one = np.float32(1.0)
    if mode == 1:
        # Trilinear: eight corners, weights are products of the axis fractions.
        res0 = np.float32(0.0)
        res1 = np.float32(0.0)
        res2 = np.float32(0.0)
        for db in range(2):
            wb = fb if db == 1 else one - fb
            for dg in range(2):
                wg = fg if dg == 1 else one - fg
                for dr in range(2):
                    w = wb * wg * (fr if dr == 1 else one - fr)
                    res0 += w * lut[ib + db, ig + dg, ir + dr, 0]
                    res1 += w * lut[ib + db, ig + dg, ir + dr, 1]
                    res2 += w * lut[ib + db, ig + dg, ir + dr, 2]
        return res0, res1, res2
    # Tetrahedral: the unit cube is split into six tetrahedra along its
    # black-white diagonal; the ordering of the three fractions picks one, whose
    # four corners are c000, one single-axis step, one two-axis step and c111.
    if fr > fg:
        if fg > fb:    # r > g > b
            w1, w2, w3 = fr - fg, fg - fb, fb
            b1, g1, r1, b2, g2, r2 = 0, 0, 1, 0, 1, 1
            w0 = one - fr
        elif fr > fb:  # r > b >= g
            w1, w2, w3 = fr - fb, fb - fg, fg
            b1, g1, r1, b2, g2, r2 = 0, 0, 1, 1, 0, 1
            w0 = one - fr
        else:          # b >= r > g
            w1, w2, w3 = fb - fr, fr - fg, fg
            b1, g1, r1, b2, g2, r2 = 1, 0, 0, 1, 0, 1
            w0 = one - fb
    else:
        if fb > fg:    # b > g >= r
            w1, w2, w3 = fb - fg, fg - fr, fr
            b1, g1, r1, b2, g2, r2 = 1, 0, 0, 1, 1, 0
            w0 = one - fb
        elif fb > fr:  # g >= b > r
            w1, w2, w3 = fg - fb, fb - fr, fr
            b1, g1, r1, b2, g2, r2 = 0, 1, 0, 1, 1, 0
            w0 = one - fg
        else:          # g >= r >= b
            w1, w2, w3 = fg - fr, fr - fb, fb
            b1, g1, r1, b2, g2, r2 = 0, 1, 0, 0, 1, 1
            w0 = one - fg
    res0 = (w0 * lut[ib, ig, ir, 0] + w1 * lut[ib + b1, ig + g1, ir + r1, 0]
            + w2 * lut[ib + b2, ig + g2, ir + r2, 0] + w3 * lut[ib + 1, ig + 1, ir + 1, 0])
    res1 = (w0 * lut[ib, ig, ir, 1] + w1 * lut[ib + b1, ig + g1, ir + r1, 1]
            + w2 * lut[ib + b2, ig + g2, ir + r2, 1] + w3 * lut[ib + 1, ig + 1, ir + 1, 1])
    res2 = (w0 * lut[ib, ig, ir, 2] + w1 * lut[ib + b1, ig + g1, ir + r1, 2]
            + w2 * lut[ib + b2, ig + g2, ir + r2, 2] + w3 * lut[ib + 1, ig + 1, ir + 1, 2])
    return res0, res1, res2


def _pixel_px(fb, fg, fr, curves, saturation, lut, coef, mode):
    """One BGR pixel through curves, saturation and the optional LUT; float levels out."""
    b, g, r = _color_i(curves[0, fb], curves[1, fg], curves[2, fr], saturation)
    if mode != 0:
        b = min(max(b, np.float32(0.0)), np.float32(255.0))
        g = min(max(g, np.float32(0.0)), np.float32(255.0))
        r = min(max(r, np.float32(0.0)), np.float32(255.0))
        b, g, r = _lut_i(lut, coef, mode, b, g, r)
    return b, g, r


_color_cpu = cpu_device(_color_px)
_u8_cpu = cpu_device(_u8_px)
_lut_axis_i = _lut_axis_cpu = cpu_device(_lut_axis_px)
_lut_i = _lut_cpu = cpu_device(_lut_px)
_color_i = _color_cpu
_pixel_cpu = cpu_device(_pixel_px)

_color_cuda = cuda_device(_color_px)
_u8_cuda = cuda_device(_u8_px)
_lut_axis_cuda = cuda_device(_lut_axis_px)
_lut_cuda = cuda_device(_lut_px, _lut_axis_i=_lut_axis_cuda)
_pixel_cuda = cuda_device(_pixel_px, _color_i=_color_cuda, _lut_i=_lut_cuda)


@cpu_kernel
def _adjust_color_cpu(frame, curves, saturation, lut, coef, mode, out):
    height, width = frame.shape[0], frame.shape[1]
    for row in prange(height):
        src = frame[row]
        dst = out[row]
        for col in range(width):
            b, g, r = _pixel_cpu(src[col, 0], src[col, 1], src[col, 2], curves, saturation, lut, coef, mode)
            dst[col, 0] = _u8_cpu(b)
            dst[col, 1] = _u8_cpu(g)
            dst[col, 2] = _u8_cpu(r)


@cuda_kernel
def _adjust_color_cuda(frame, curves, saturation, lut, coef, mode, out):
    col, row = cuda.grid(2)
    if row >= frame.shape[0] or col >= frame.shape[1]:
        return
    b, g, r = _pixel_cuda(frame[row, col, 0], frame[row, col, 1], frame[row, col, 2], curves, saturation,
                          lut, coef, mode)
    out[row, col, 0] = _u8_cuda(b)
    out[row, col, 1] = _u8_cuda(g)
    out[row, col, 2] = _u8_cuda(r)


#: Placeholder LUT and coefficients per backend name when no LUT is applied (kernels need an array).
_NO_LUT: dict[str, tuple] = {}


def _no_lut(backend: Backend) -> tuple:
    got = _NO_LUT.get(backend.name)
    if got is None:
        got = (backend.asarray(np.zeros((2, 2, 2, 3), np.float32)), backend.asarray(np.zeros((2, 3), np.float32)))
        _NO_LUT[backend.name] = got
    return got


def lut_coefficients(size: int, domain_min=(0.0, 0.0, 0.0), domain_max=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Scale and offset that take a level in [0, 255] to a lattice position of a 3D LUT.

    Parameters
    ----------
    size : int
        Lattice nodes per axis (>= 2).
    domain_min, domain_max : sequence of 3 floats
        Input domain of the LUT in **BGR** order, in [0, 1] units (``.cube`` DOMAIN_MIN/MAX, reordered).

    Returns
    -------
    ndarray
        ``(2, 3) float32``: row 0 scales, row 1 offsets, BGR order.
    """
    lo = np.asarray(domain_min, np.float64)
    hi = np.asarray(domain_max, np.float64)
    scale = (size - 1) / (255.0 * (hi - lo))
    return np.stack([scale, -lo * (size - 1) / (hi - lo)]).astype(np.float32)


def adjust_color(frame, curves, saturation: float = 1.0, *, lut=None, lut_coef=None,
                 interpolation: str = "tetrahedral", out=None, backend: Backend = CPU):
    """Apply baked tone curves, a saturation change and an optional 3D LUT in one pass.

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3) uint8`` BGR, C-contiguous.
    curves : ndarray
        ``(3, 256) float32`` from :func:`tone_curves`, on the same backend as ``frame``.
    saturation : float
        0 is grayscale, 1 keeps colours, above 1 strengthens them.
    lut : ndarray, optional
        ``(N, N, N, 3) float32`` 3D LUT indexed ``[b, g, r]`` with BGR output
        levels in [0, 255] (see :func:`realtime.stages.cube.load_cube`), applied last.
    lut_coef : ndarray, optional
        ``(2, 3) float32`` from :func:`lut_coefficients`; default: the [0, 1] domain.
    interpolation : {"tetrahedral", "trilinear"}
        How the LUT is interpolated between lattice nodes.
    out : ndarray, optional
        ``(H, W, 3) uint8`` destination; may not alias ``frame`` on the GPU.
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``out``, the adjusted frame.
    """
    if out is None:
        out = backend.empty(frame.shape)
    sat = np.float32(saturation)
    if lut is None:
        lut, lut_coef = _no_lut(backend)
        mode = 0
    else:
        if interpolation not in LUT_MODES[1:]:
            raise ValueError(f"interpolation={interpolation!r}: use trilinear or tetrahedral")
        mode = LUT_MODES.index(interpolation)
        if lut_coef is None:
            lut_coef = backend.asarray(lut_coefficients(lut.shape[0]))
    if backend.is_cuda:
        backend.launch_2d(_adjust_color_cuda, frame.shape[0], frame.shape[1])(
            frame, curves, sat, lut, lut_coef, mode, out)
    elif mode == 0 and saturation == 1.0:
        # Curves alone are a per-channel table look-up: OpenCV's SIMD LUT
        # (measured 1.7 ms against 5-8 ms for the loop at 720p on a loaded
        # 2-core machine).  The table holds the loop's rounding of the curves.
        table = np.clip(np.floor(curves.T + np.float32(0.5)), 0, 255).astype(np.uint8).reshape(1, 256, 3)
        cv2.LUT(frame, table, dst=out)
    else:
        _adjust_color_cpu(frame, curves, sat, lut, lut_coef, mode, out)
    return out


# --- statistics: a box-averaged BGR thumbnail --------------------------------------------------

def _box_px(frame, row0, col0, taps, ch):
    acc = np.float32(0.0)
    for r in range(row0, row0 + taps):
        for c in range(col0, col0 + taps):
            acc += np.float32(frame[r, c, ch])
    return acc


_box_cpu = cpu_device(_box_px)
_box_cuda = cuda_device(_box_px)


# Serial and holding the GIL: a statistics thumbnail reads a small fraction of
# the frame, and a parallel region's start-up and barrier (or a GIL hand-off)
# cost more than that when the cores are busy.
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
    """Box-average a BGR frame by ``factor`` (white-balance statistics).

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

    Returns
    -------
    ndarray
        ``out``.
    """
    if out.shape[0] == 0 or out.shape[1] == 0:
        return out
    taps = factor if taps is None else min(max(int(taps), 1), factor)
    if backend.is_cuda:
        backend.launch_2d(_bgr_thumb_cuda, out.shape[0], out.shape[1])(frame, factor, taps, out)
    else:
        _bgr_thumb_cpu(frame, factor, taps, out)
    return out


# --- I420 frames: statistics and the point operation on the planes ---------------------------

def _clamp255_px(v):
    return min(max(v, np.float32(0.0)), np.float32(255.0))


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
    b, g, r = _ycc_to_bgr_i(ys / np.float32(taps * taps), cb / n, cr / n, k)
    return _clamp255_i(b), _clamp255_i(g), _clamp255_i(r)


_clamp255_i = _clamp255_cpu = cpu_device(_clamp255_px, **VECTOR_MINMAX)
_ycc_to_bgr_i = _ycc_to_bgr_cpu = cpu_device(_ycc_to_bgr_px)
_ycc_box_cpu = cpu_device(_ycc_box_px)
_clamp255_cuda = cuda_device(_clamp255_px)
_ycc_box_cuda = cuda_device(_ycc_box_px, _ycc_to_bgr_i=cuda_device(_ycc_to_bgr_px), _clamp255_i=_clamp255_cuda)


@numba.njit(cache=True)
def _i420_thumb_cpu(y_plane, u_plane, v_plane, k, factor, taps, thumb):
    # Serial and holding the GIL, as _bgr_thumb_cpu.
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
    if backend.is_cuda:
        backend.launch_2d(_i420_thumb_cuda, out.shape[0], out.shape[1])(y_plane, u_plane, v_plane, to_bgr,
                                                                        factor, taps, out)
    else:
        _i420_thumb_cpu(y_plane, u_plane, v_plane, to_bgr, factor, taps, out)
    return out


def _ycc_from_bgr_px(b, g, r, k):
    # ``k``: YuvFormat.from_bgr_coefficients (unrounded code values out).
    yf = k[0] * r + k[1] * g + k[2] * b
    return k[3] + k[4] * yf, k[5] + k[6] * (b - yf), k[5] + k[7] * (r - yf)


def _level_px(v):
    # The BGR path reads the curves at uint8 levels: clip (out-of-gamut Y'CbCr) and round the same way.
    return int(min(max(v, np.float32(0.0)), np.float32(255.0)) + np.float32(0.5))


def _tone_line_px(curves, lines, ch, v):
    # A curve without gamma is a clipped straight line: arithmetic, no table gather (several times faster).
    return _clamp255_i(lines[ch] * _clamp255_i(v) + lines[3 + ch])


def _tone_table_px(curves, lines, ch, v):
    return curves[ch, _level_i(v)]


def _tone_px(curves, lines, ch, v):
    if lines[0] >= np.float32(0.0):
        return _tone_line_i(curves, lines, ch, v)
    return _tone_table_i(curves, lines, ch, v)


def _ycc_point_px(y, cb, cr, curves, lines, saturation, to_bgr, from_bgr):
    """:func:`adjust_color`'s curves and saturation on one Y'CbCr sample; unrounded code values out."""
    b, g, r = _ycc_to_bgr_i(y, cb, cr, to_bgr)
    b, g, r = _color_i(_tone_i(curves, lines, 0, b), _tone_i(curves, lines, 1, g), _tone_i(curves, lines, 2, r),
                       saturation)
    return _ycc_from_bgr_i(_clamp255_i(b), _clamp255_i(g), _clamp255_i(r), from_bgr)


def _ycc_block_px(y_plane, u_plane, v_plane, curves, lines, saturation, to_bgr, from_bgr, crow, ccol,
                  y_out, u_out, v_out):
    """One chroma sample and its 2x2 luma block through the point operation.

    Each Y' sample is the new Y' of (its Y', the block's Cb, Cr); the chroma
    sample is the new Cb, Cr of (the block's mean Y', Cb, Cr).
    """
    cb = np.float32(u_plane[crow, ccol])
    cr = np.float32(v_plane[crow, ccol])
    acc = np.float32(0.0)
    for dy in range(2):
        for dx in range(2):
            yv = np.float32(y_plane[2 * crow + dy, 2 * ccol + dx])
            acc += yv
            ny, _, _ = _ycc_point_i(yv, cb, cr, curves, lines, saturation, to_bgr, from_bgr)
            y_out[2 * crow + dy, 2 * ccol + dx] = _u8_i(ny)
    _, ncb, ncr = _ycc_point_i(acc * np.float32(0.25), cb, cr, curves, lines, saturation, to_bgr, from_bgr)
    u_out[crow, ccol] = _u8_i(ncb)
    v_out[crow, ccol] = _u8_i(ncr)


def _ycc_rows_px(y_plane, u_plane, v_plane, curves, lines, saturation, to_bgr, from_bgr, crow, y_out, u_out, v_out):
    """:func:`_ycc_block_px` for a whole row of chroma samples, in loops a CPU vectorizes.

    Row by row (each luma sample with the chroma sample above it, then each
    chroma sample with its block's mean Y') rather than block by block: the
    same samples and math, about five times faster on the CPU.
    """
    for dy in range(2):
        row = 2 * crow + dy
        for x in range(2 * u_plane.shape[1]):
            ny, _, _ = _ycc_point_i(np.float32(y_plane[row, x]), np.float32(u_plane[crow, x >> 1]),
                                    np.float32(v_plane[crow, x >> 1]), curves, lines, saturation, to_bgr, from_bgr)
            y_out[row, x] = _u8_i(ny)
    for ccol in range(u_plane.shape[1]):
        mean = ((np.float32(y_plane[2 * crow, 2 * ccol]) + np.float32(y_plane[2 * crow, 2 * ccol + 1]))
                + (np.float32(y_plane[2 * crow + 1, 2 * ccol]) + np.float32(y_plane[2 * crow + 1, 2 * ccol + 1])))
        _, ncb, ncr = _ycc_point_i(mean * np.float32(0.25), np.float32(u_plane[crow, ccol]),
                                   np.float32(v_plane[crow, ccol]), curves, lines, saturation, to_bgr, from_bgr)
        u_out[crow, ccol] = _u8_i(ncb)
        v_out[crow, ccol] = _u8_i(ncr)


_level_i = _level_cpu = cpu_device(_level_px, **VECTOR_MINMAX)
_ycc_from_bgr_i = _ycc_from_bgr_cpu = cpu_device(_ycc_from_bgr_px)
_tone_line_i = cpu_device(_tone_line_px)
_tone_table_i = cpu_device(_tone_table_px)
_u8_i = cpu_device(_u8_px, **VECTOR_MINMAX)
# Callees bound per target (kernels.backend.bind); plain Python by default.
_tone_i = _tone_px
_ycc_point_i = _ycc_point_px
# The CPU picks the tone variant once per row, outside the vectorized loops.
_ycc_rows_line_cpu = cpu_device(_ycc_rows_px, _ycc_point_i=cpu_device(_ycc_point_px, _tone_i=_tone_line_i))
_ycc_rows_table_cpu = cpu_device(_ycc_rows_px, _ycc_point_i=cpu_device(_ycc_point_px, _tone_i=_tone_table_i))
_ycc_point_cuda = cuda_device(_ycc_point_px, _ycc_to_bgr_i=cuda_device(_ycc_to_bgr_px), _color_i=_color_cuda,
                              _tone_i=cuda_device(_tone_px, _tone_line_i=cuda_device(_tone_line_px,
                                                                                     _clamp255_i=_clamp255_cuda),
                                                  _tone_table_i=cuda_device(_tone_table_px,
                                                                            _level_i=cuda_device(_level_px))),
                              _clamp255_i=_clamp255_cuda, _ycc_from_bgr_i=cuda_device(_ycc_from_bgr_px))
_ycc_block_cuda = cuda_device(_ycc_block_px, _ycc_point_i=_ycc_point_cuda, _u8_i=_u8_cuda)


@cpu_kernel
def _adjust_i420_cpu(y_plane, u_plane, v_plane, curves, lines, saturation, to_bgr, from_bgr, y_out, u_out, v_out):
    # The small coefficient vectors as tuples: registers, not reloaded after every store.
    ln = (lines[0], lines[1], lines[2], lines[3], lines[4], lines[5])
    k1 = (to_bgr[0], to_bgr[1], to_bgr[2], to_bgr[3], to_bgr[4], to_bgr[5], to_bgr[6], to_bgr[7])
    k2 = (from_bgr[0], from_bgr[1], from_bgr[2], from_bgr[3], from_bgr[4], from_bgr[5], from_bgr[6], from_bgr[7])
    use_lines = lines[0] >= np.float32(0.0)
    for crow in prange(u_plane.shape[0]):
        if use_lines:
            _ycc_rows_line_cpu(y_plane, u_plane, v_plane, curves, ln, saturation, k1, k2, crow, y_out, u_out, v_out)
        else:
            _ycc_rows_table_cpu(y_plane, u_plane, v_plane, curves, ln, saturation, k1, k2, crow, y_out, u_out, v_out)


@cuda_kernel
def _adjust_i420_cuda(y_plane, u_plane, v_plane, curves, lines, saturation, to_bgr, from_bgr, y_out, u_out, v_out):
    ccol, crow = cuda.grid(2)
    if crow < u_plane.shape[0] and ccol < u_plane.shape[1]:
        _ycc_block_cuda(y_plane, u_plane, v_plane, curves, lines, saturation, to_bgr, from_bgr, crow, ccol,
                        y_out, u_out, v_out)


def tone_lines(brightness: float = 0.0, contrast: float = 1.0, gains: tuple[float, float, float] = (1.0, 1.0, 1.0),
               *, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`tone_curves` without gamma as straight lines: ``curve_c(x) = clip(slope_c * x + offset, 0, 255)``.

    Returns
    -------
    ndarray
        ``(6,) float32``: three slopes, then three offsets (levels), BGR order; for :func:`adjust_color_i420`.
    """
    lines = np.empty(6, np.float32) if out is None else out
    lines[:3] = [g * contrast for g in gains]
    lines[3:] = 255.0 * (0.5 * (1.0 - contrast) + brightness)
    return lines


#: ``lines`` argument of :func:`adjust_color_i420` that selects the curve table.
USE_CURVES = np.full(6, -1.0, np.float32)


def adjust_color_i420(planes, curves, saturation: float, to_bgr, from_bgr, *, lines=None, out,
                      backend: Backend = CPU):
    """:func:`adjust_color` (without a 3D LUT) on the planes of an I420 frame.

    The per-channel curves do not act separably on Y'CbCr, so each sample is
    taken to BGR, through the curves and saturation, and back, in registers:
    every Y' sample with its block's Cb, Cr, every chroma sample with its
    block's mean Y'.  Against converting the frame to BGR (bilinear chroma),
    applying :func:`adjust_color` and converting back (box chroma), the
    difference is a fraction of a code value on average (it comes from the
    chroma resampling, not from this math).

    Parameters
    ----------
    planes : tuple of 3 ndarrays
        ``(H, W)`` Y' and ``(H/2, W/2)`` Cb, Cr uint8 planes.
    curves : ndarray
        ``(3, 256) float32`` from :func:`tone_curves`, on ``backend``.
    saturation : float
        As for :func:`adjust_color`.
    to_bgr, from_bgr : ndarray
        ``float32[8]`` :meth:`kernels.colorspace.YuvFormat.to_bgr_coefficients` and
        ``from_bgr_coefficients`` of the stream, on ``backend``.
    lines : ndarray, optional
        ``(6,) float32`` :func:`tone_lines` equal to ``curves`` (no gamma), on ``backend``:
        computed instead of looked up, several times faster.  Default: the table.
    out : tuple of 3 ndarrays
        Destination planes, shaped as ``planes``; may not alias them.
    backend : Backend
        Where to run.

    Returns
    -------
    tuple
        ``out``.
    """
    y_plane, u_plane, v_plane = planes
    sat = np.float32(saturation)
    if lines is None:
        lines = _use_curves(backend)
    if backend.is_cuda:
        backend.launch_2d(_adjust_i420_cuda, u_plane.shape[0], u_plane.shape[1])(
            y_plane, u_plane, v_plane, curves, lines, sat, to_bgr, from_bgr, *out)
    else:
        _adjust_i420_cpu(y_plane, u_plane, v_plane, curves, lines, sat, to_bgr, from_bgr, *out)
    return out


_USE_CURVES: dict[str, Any] = {}


def _use_curves(backend: Backend) -> Any:
    got = _USE_CURVES.get(backend.name)
    if got is None:
        got = _USE_CURVES[backend.name] = backend.asarray(USE_CURVES.copy())
    return got
