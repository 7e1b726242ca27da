"""Edge-adaptive upscaling (FSR1-EASU-like) and a ringing-free sharpen (RCAS-like), both on luma.

:func:`upscale_edge` runs, per frame:

1. *deblur* (optional): the input is sharpened at its own resolution with
   :func:`kernels.sharpen.sharpen` (range-clamped unsharp mask): a quarter of
   the output's pixels at 2x, and it undoes the softness a camera or a
   downscale left better than sharpening after the upscale does;
2. *analysis*, once per input pixel (:func:`analyse`): BT.601 luma and the
   chroma differences (B, G, R minus luma) into edge-padded planes, and from
   the luma's ``+`` neighbourhood the local gradient direction and how
   edge-like it is (EASU's measure: 0 on flat or reversing gradients, 1 on
   clean edges), baked into five kernel coefficients;
3. *EASU* (:func:`easu`): each output luma sample is a 12-tap weighted sum of
   the input luma around it.  The weights are an approximate Lanczos-2 of the
   tap's distance after rotating it into the edge's frame and scaling it:
   squeezed across the edge (a sharp transition) and stretched along it (no
   staircase); the window widens on edges.  The result is clamped to the 2x2
   input neighbourhood, so interpolation adds no ringing.  Each output sample
   reads the analysis of its nearest input pixel: at 2x one analysis serves
   four outputs;
4. *RCAS + colour* (:func:`rcas_compose`): a sharpen of the upscaled luma on
   its ``+`` neighbourhood, FSR's lobe limit (strongest where local contrast
   leaves room, never clipping) plus a clamp to that neighbourhood's range (no
   ringing, no halo); the chroma differences, interpolated bilinearly, are
   added back.  Chroma is smooth, so the expensive edge work is on luma only.

On the CPU, integer factors take one fused pass for steps 2 to 4 whose inner
loops run over input columns at a fixed output phase (constant tap offsets,
contiguous loads) and vectorize, with the upscaled luma kept in a ring of three
rows and the analysis in a cache of two input rows; other factors, and CUDA,
compute each output sample on its own.  Both
paths call the same per-sample math and give the same result.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numba import prange

from kernels import MAX_FACTOR as MAX_FACTOR  # the limit, kept importable from here
from kernels.backend import CPU, Backend, cpu_device, cpu_kernel, cuda, cuda_device, cuda_kernel
from kernels.pixel import lerp_px as _lerp_px
from kernels.pixel import u8_px as _u8_px
from kernels.sharpen import _luma_px, binomial_taps, sharpen

#: Columns and rows of edge replication around the analysed luma: the 12 taps reach two pixels
#: beyond the 2x2 quad around a sample, so no tap needs a bounds check.
PAD = 2
#: EASU's kernel window (``lob``, inverse squared window radius) on flat areas and on clean edges.
#: FSR uses 0.5 (flat, a short soft window) to 0.21; 0.3 on flat areas keeps more texture.
LOB_FLAT = 0.3
LOB_EDGE = 0.21
#: Overshoot (8-bit levels) the deblur may add beyond the local 3x3 range: small, so no halos.
DEBLUR_OVERSHOOT = 8.0
#: RCAS's largest negative lobe (FSR's ``FSR_RCAS_LIMIT``): beyond it the sharpen looks unnatural.
RCAS_LIMIT = 0.25 - 1.0 / 16.0

_F = np.float32
_EPS = _F(1.0 / 1024.0)
#: Squared gradient length (8-bit levels) below which the direction is undefined: FSR's 1/32768
#: of full scale squared.
_DIR_EPS = _F(255.0 * 255.0 / 32768.0)


# --- per-pixel math, written once ------------------------------------------------

def _axis_px(w, c, e):
    """Gradient along one axis of the ``+`` (west, centre, east) and how edge-like it is, in [0, 1]."""
    grad = e - w
    # A clean edge has both half-differences of one sign and |e - w| = |e - c| + |c - w|; a peak or
    # a reversal has |e - w| small next to the larger half-difference.
    edge = min(abs(grad) / max(max(abs(e - c), abs(c - w)), _EPS), _F(1.0))
    return grad, edge * edge


# Callees of the math below, bound per target by cpu_device/cuda_device (kernels.backend.bind);
# the plain-Python functions by default.
_axis_i = _axis_px


def _analysis_px(n, w, c, e, s, lob_flat, lob_edge):
    """EASU's direction and anisotropy of one input pixel, as the five coefficients the taps need.

    A tap at offset ``(ox, oy)`` is rotated into the edge's frame (``u`` = unit gradient) and
    scaled: ``vx = (ox*ux + oy*uy) * across``, ``vy = (oy*ux - ox*uy) * along``.  Its squared
    distance is the quadratic form ``A*ox^2 + B*oy^2 + C*ox*oy`` returned here, so a tap costs
    three multiply-adds for its distance instead of six.
    """
    dx, lx = _axis_i(w, c, e)
    dy, ly = _axis_i(n, c, s)
    d2 = dx * dx + dy * dy
    flat = d2 < _DIR_EPS
    inv = _F(1.0) / math.sqrt(max(d2, _DIR_EPS))
    ux = _F(1.0) if flat else dx * inv
    uy = _F(0.0) if flat else dy * inv
    edge = (lx + ly) * _F(0.5)
    edge = edge * edge
    # Kernel scale across the gradient: 1 on flat areas up to the diagonal stretch (sqrt 2 at 45
    # degrees, which keeps the kernel's footprint square-fitting); along the edge: 1 down to 0.5.
    stretch = _F(1.0) / max(abs(ux), abs(uy))
    across = _F(1.0) + (stretch - _F(1.0)) * edge
    along = _F(1.0) - _F(0.5) * edge
    across2 = across * across
    along2 = along * along
    lob = lob_flat + (lob_edge - lob_flat) * edge
    return (ux * ux * across2 + uy * uy * along2, uy * uy * across2 + ux * ux * along2,
            _F(2.0) * ux * uy * (across2 - along2), lob, _F(1.0) / lob)


def _tap_w_px(xx, yy, xy, qa, qb, qc, lob, clp):
    """Weight of one tap (``xx, yy, xy`` = ox^2, oy^2, ox*oy): approximate Lanczos-2 of its scaled distance.

    FSR's ``(25/16 (2/5 d2 - 1)^2 - 9/16) * (lob d2 - 1)^2`` with the first factor expanded to
    ``(d2/4 - 5/4) d2 + 1``; ``d2`` is clipped at the end of the window.
    """
    d2 = min(qa * xx + qb * yy + qc * xy, clp)
    window = lob * d2 - _F(1.0)
    return ((_F(0.25) * d2 - _F(1.25)) * d2 + _F(1.0)) * (window * window)


_tap_w_i = _tap_w_px


def _easu_px(ppx, ppy, qa, qb, qc, lob, clp, b, c, e, f, g, h, i, j, k, l, n, o):
    """One output sample from the 12 taps around it.

    ``(ppx, ppy)`` in [0, 1) is the sample's position inside the quad ``f g / j k``;
    the taps are (column offset, row offset) from ``f``::

             b( 0,-1) c( 1,-1)
        e(-1, 0) f( 0, 0) g( 1, 0) h( 2, 0)
        i(-1, 1) j( 0, 1) k( 1, 1) l( 2, 1)
             n( 0, 2) o( 1, 2)

    ``qa, qb, qc, lob, clp`` are the analysis of the input pixel nearest to the sample.
    """
    # Tap offsets from the sample, their squares and products: loop-invariant on the CPU path.
    xm = _F(-1.0) - ppx
    x0 = -ppx
    x1 = _F(1.0) - ppx
    x2 = _F(2.0) - ppx
    ym = _F(-1.0) - ppy
    y0 = -ppy
    y1 = _F(1.0) - ppy
    y2 = _F(2.0) - ppy
    xxm, xx0, xx1, xx2 = xm * xm, x0 * x0, x1 * x1, x2 * x2
    yym, yy0, yy1, yy2 = ym * ym, y0 * y0, y1 * y1, y2 * y2
    wb = _tap_w_i(xx0, yym, x0 * ym, qa, qb, qc, lob, clp)
    wc = _tap_w_i(xx1, yym, x1 * ym, qa, qb, qc, lob, clp)
    we = _tap_w_i(xxm, yy0, xm * y0, qa, qb, qc, lob, clp)
    wf = _tap_w_i(xx0, yy0, x0 * y0, qa, qb, qc, lob, clp)
    wg = _tap_w_i(xx1, yy0, x1 * y0, qa, qb, qc, lob, clp)
    wh = _tap_w_i(xx2, yy0, x2 * y0, qa, qb, qc, lob, clp)
    wi = _tap_w_i(xxm, yy1, xm * y1, qa, qb, qc, lob, clp)
    wj = _tap_w_i(xx0, yy1, x0 * y1, qa, qb, qc, lob, clp)
    wk = _tap_w_i(xx1, yy1, x1 * y1, qa, qb, qc, lob, clp)
    wl = _tap_w_i(xx2, yy1, x2 * y1, qa, qb, qc, lob, clp)
    wn = _tap_w_i(xx0, yy2, x0 * y2, qa, qb, qc, lob, clp)
    wo = _tap_w_i(xx1, yy2, x1 * y2, qa, qb, qc, lob, clp)
    acc = (wb * b + wc * c + we * e + wf * f + wg * g + wh * h + wi * i + wj * j + wk * k + wl * l
           + wn * n + wo * o)
    total = wb + wc + we + wf + wg + wh + wi + wj + wk + wl + wn + wo
    lo = min(min(f, g), min(j, k))
    hi = max(max(f, g), max(j, k))
    return min(max(acc / total, lo), hi)


def _rcas_px(n, w, c, e, s, amount):
    """RCAS on one sample: the strongest ``+`` sharpen (times ``amount``) that stays inside the neighbourhood."""
    mn = min(min(n, s), min(w, e))
    mx = max(max(n, s), max(w, e))
    # The lobes at which the output would reach 0 or 255 (FSR's hitMin / hitMax, in 8-bit levels).
    hit_min = min(mn, c) / max(_F(4.0) * mx, _EPS)
    hit_max = (_F(255.0) - max(mx, c)) / min(_F(4.0) * mn - _F(1020.0), -_EPS)
    lobe = max(-hit_min, hit_max)
    lobe = max(_F(-RCAS_LIMIT), min(lobe, _F(0.0))) * amount
    sharp = (lobe * (n + s + w + e) + c) / (_F(4.0) * lobe + _F(1.0))
    # FSR's limit only keeps the output within [0, 255]; the clamp to the neighbourhood's range
    # makes the sharpen ringing-free (no halo, no overshoot on edges).
    return min(max(sharp, min(mn, c)), max(mx, c))


def _quad_px(index, n_in, n_out):
    """Quad origin (input pixel, may be -1), position in the quad and nearest input pixel of output ``index``.

    The source position ``(index + 0.5) * n_in / n_out - 0.5`` is ``num / den`` with integers, so
    the floor is exact and integer factors land on the same phases as the vectorized CPU path.
    """
    num = (2 * index + 1) * n_in - n_out
    den = 2 * n_out
    first = num // den
    pp = np.float32(num - first * den) / np.float32(den)
    near = min(max((num + n_out) // den, 0), n_in - 1)
    return first, pp, near


_luma_cpu = cpu_device(_luma_px)
_u8_cpu = cpu_device(_u8_px)
_lerp_cpu = cpu_device(_lerp_px)
_axis_cpu = cpu_device(_axis_px)
_analysis_cpu_px = cpu_device(_analysis_px, _axis_i=_axis_cpu)
_tap_w_cpu = cpu_device(_tap_w_px)
_easu_cpu_px = cpu_device(_easu_px, _tap_w_i=_tap_w_cpu)
_rcas_cpu = cpu_device(_rcas_px)
_quad_cpu = cpu_device(_quad_px)
_luma_cuda = cuda_device(_luma_px)
_u8_cuda = cuda_device(_u8_px)
_lerp_cuda = cuda_device(_lerp_px)
_axis_cuda = cuda_device(_axis_px)
_analysis_cuda_px = cuda_device(_analysis_px, _axis_i=_axis_cuda)
_tap_w_cuda = cuda_device(_tap_w_px)
_easu_cuda_px = cuda_device(_easu_px, _tap_w_i=_tap_w_cuda)
_rcas_cuda = cuda_device(_rcas_px)
_quad_cuda = cuda_device(_quad_px)


# --- analysis: padded luma and chroma, then five coefficients per input pixel ---------------

@cpu_kernel
def _planes_cpu(frame, lp, cp):
    height, width = frame.shape[0], frame.shape[1]
    for prow in prange(lp.shape[0]):
        src = frame[min(max(prow - PAD, 0), height - 1)].reshape(-1)
        y_row = lp[prow]
        if frame.shape[2] == 1:  # a Y plane: it is the luma, and there is no colour to keep
            for c in range(width):
                y_row[np.uintp(c + PAD)] = np.float32(src[np.uintp(c)])
            for k in range(PAD):
                y_row[k] = y_row[PAD]
                y_row[PAD + width + k] = y_row[PAD + width - 1]
            continue
        b_row, g_row, r_row = cp[0, prow], cp[1, prow], cp[2, prow]
        for c in range(width):
            col = np.uintp(c)
            i = np.uintp(3) * col
            p = col + np.uintp(PAD)
            b = np.float32(src[i])
            g = np.float32(src[i + np.uintp(1)])
            r = np.float32(src[i + np.uintp(2)])
            y = _luma_cpu(b, g, r)
            y_row[p] = y
            b_row[p] = b - y
            g_row[p] = g - y
            r_row[p] = r - y
        for plane in (y_row, b_row, g_row, r_row):
            for k in range(PAD):
                plane[k] = plane[PAD]
                plane[PAD + width + k] = plane[PAD + width - 1]


@cuda_kernel
def _planes_cuda(frame, lp, cp):
    col, prow = cuda.grid(2)
    if prow >= lp.shape[0] or col >= lp.shape[1]:
        return
    r = min(max(prow - PAD, 0), frame.shape[0] - 1)
    c = min(max(col - PAD, 0), frame.shape[1] - 1)
    if frame.shape[2] == 1:
        lp[prow, col] = np.float32(frame[r, c, 0])
        return
    b = np.float32(frame[r, c, 0])
    g = np.float32(frame[r, c, 1])
    red = np.float32(frame[r, c, 2])
    y = _luma_cuda(b, g, red)
    lp[prow, col] = y
    cp[0, prow, col] = b - y
    cp[1, prow, col] = g - y
    cp[2, prow, col] = red - y


@cpu_device
def _analysis_row_cpu(lp, row, lob_flat, lob_edge, coef_row):
    # One input row's five coefficients into ``coef_row`` (5, w).
    north = lp[row + PAD - 1]
    mid = lp[row + PAD]
    south = lp[row + PAD + 1]
    qa, qb, qc, lob, clp = coef_row[0], coef_row[1], coef_row[2], coef_row[3], coef_row[4]
    for c in range(coef_row.shape[1]):
        col = np.uintp(c)
        p = col + np.uintp(PAD)
        qa[col], qb[col], qc[col], lob[col], clp[col] = _analysis_cpu_px(
            north[p], mid[p - np.uintp(1)], mid[p], mid[p + np.uintp(1)], south[p], lob_flat, lob_edge)


@cpu_kernel
def _analysis_cpu(lp, lob_flat, lob_edge, coef):
    for row in prange(coef.shape[1]):
        _analysis_row_cpu(lp, row, lob_flat, lob_edge, coef[:, row])


@cuda_kernel
def _analysis_cuda(lp, lob_flat, lob_edge, coef):
    col, row = cuda.grid(2)
    if row >= coef.shape[1] or col >= coef.shape[2]:
        return
    r = row + PAD
    p = col + PAD
    qa, qb, qc, lob, clp = _analysis_cuda_px(lp[r - 1, p], lp[r, p - 1], lp[r, p], lp[r, p + 1], lp[r + 1, p],
                                             lob_flat, lob_edge)
    coef[0, row, col] = qa
    coef[1, row, col] = qb
    coef[2, row, col] = qc
    coef[3, row, col] = lob
    coef[4, row, col] = clp


# --- any factor: one output sample per iteration (the CUDA kernels and their CPU twins) ----------

@cpu_kernel
def _easu_cpu(lp, coef, out):
    height, width = coef.shape[1], coef.shape[2]
    out_h, out_w = out.shape
    for row in prange(out_h):
        fy, ppy, ny = _quad_cpu(row, height, out_h)
        r = fy + PAD
        for col in range(out_w):
            fx, ppx, nx = _quad_cpu(col, width, out_w)
            p = fx + PAD
            out[row, col] = _easu_cpu_px(
                ppx, ppy, coef[0, ny, nx], coef[1, ny, nx], coef[2, ny, nx], coef[3, ny, nx], coef[4, ny, nx],
                lp[r - 1, p], lp[r - 1, p + 1], lp[r, p - 1], lp[r, p], lp[r, p + 1], lp[r, p + 2],
                lp[r + 1, p - 1], lp[r + 1, p], lp[r + 1, p + 1], lp[r + 1, p + 2], lp[r + 2, p], lp[r + 2, p + 1])


@cuda_kernel
def _easu_cuda(lp, coef, out):
    col, row = cuda.grid(2)
    out_h, out_w = out.shape
    if row >= out_h or col >= out_w:
        return
    fy, ppy, ny = _quad_cuda(row, coef.shape[1], out_h)
    fx, ppx, nx = _quad_cuda(col, coef.shape[2], out_w)
    r = fy + PAD
    p = fx + PAD
    out[row, col] = _easu_cuda_px(
        ppx, ppy, coef[0, ny, nx], coef[1, ny, nx], coef[2, ny, nx], coef[3, ny, nx], coef[4, ny, nx],
        lp[r - 1, p], lp[r - 1, p + 1], lp[r, p - 1], lp[r, p], lp[r, p + 1], lp[r, p + 2],
        lp[r + 1, p - 1], lp[r + 1, p], lp[r + 1, p + 1], lp[r + 1, p + 2], lp[r + 2, p], lp[r + 2, p + 1])


@cpu_kernel
def _rcas_compose_cpu(luma, cp, amount, out):
    height, width = luma.shape
    in_h, in_w = cp.shape[1] - 2 * PAD, cp.shape[2] - 2 * PAD
    for row in prange(height):
        fy, ppy, _ = _quad_cpu(row, in_h, height)
        r = fy + PAD
        for col in range(width):
            y = _rcas_cpu(luma[max(row - 1, 0), col], luma[row, max(col - 1, 0)], luma[row, col],
                          luma[row, min(col + 1, width - 1)], luma[min(row + 1, height - 1), col], amount)
            if out.shape[2] == 1:
                out[row, col, 0] = _u8_cpu(y)
                continue
            fx, ppx, _ = _quad_cpu(col, in_w, width)
            p = fx + PAD
            for ch in range(3):
                # Vertical first, then horizontal: the order of the vectorized path, so both round alike.
                v0 = _lerp_cpu(cp[ch, r, p], cp[ch, r + 1, p], ppy)
                v1 = _lerp_cpu(cp[ch, r, p + 1], cp[ch, r + 1, p + 1], ppy)
                out[row, col, ch] = _u8_cpu(y + _lerp_cpu(v0, v1, ppx))


@cuda_kernel
def _rcas_compose_cuda(luma, cp, amount, out):
    col, row = cuda.grid(2)
    height, width = luma.shape
    if row >= height or col >= width:
        return
    y = _rcas_cuda(luma[max(row - 1, 0), col], luma[row, max(col - 1, 0)], luma[row, col],
                   luma[row, min(col + 1, width - 1)], luma[min(row + 1, height - 1), col], amount)
    if out.shape[2] == 1:
        out[row, col, 0] = _u8_cuda(y)
        return
    fy, ppy, _ = _quad_cuda(row, cp.shape[1] - 2 * PAD, height)
    fx, ppx, _ = _quad_cuda(col, cp.shape[2] - 2 * PAD, width)
    r = fy + PAD
    p = fx + PAD
    for ch in range(3):
        v0 = _lerp_cuda(cp[ch, r, p], cp[ch, r + 1, p], ppy)
        v1 = _lerp_cuda(cp[ch, r, p + 1], cp[ch, r + 1, p + 1], ppy)
        out[row, col, ch] = _u8_cuda(y + _lerp_cuda(v0, v1, ppx))


# --- integer factors on the CPU: vectorized rows, EASU + RCAS + compose fused ------------------------

def _interleave(phases, factor, width, line):
    """``line[factor*j + p] = phases[p, j]``; factor 2 as one loop of paired stores, which vectorizes."""
    if factor == 2:
        even = phases[0]
        odd = phases[1]
        for c in range(width):
            j = np.uintp(c)
            line[np.uintp(2) * j] = even[j]
            line[np.uintp(2) * j + np.uintp(1)] = odd[j]
        return
    for phase in range(factor):
        src = phases[phase]
        for c in range(width):
            line[np.uintp(factor * c + phase)] = src[np.uintp(c)]


_interleave_i = _interleave


def _easu_row(lp, coef_row, factor, row, out_h, phases, line):
    """EASU output row ``row`` into ``line`` (integer factor).

    The row is input row ``row // factor`` at a fixed vertical phase; ``coef_row`` ``(5, w)`` is
    the analysis of its nearest input row.  For each horizontal phase
    the loop runs over input columns with constant tap offsets (contiguous loads LLVM
    vectorizes) into a per-phase scratch row, then the phases are interleaved.
    """
    height, width = lp.shape[0] - 2 * PAD, coef_row.shape[1]
    fy, ppy, _ = _quad_cpu(row, height, out_h)
    r = fy + PAD
    up, top, low, down = lp[r - 1], lp[r], lp[r + 1], lp[r + 2]
    qa, qb, qc, lob, clp = coef_row[0], coef_row[1], coef_row[2], coef_row[3], coef_row[4]
    one = np.uintp(1)
    two = np.uintp(2)
    for phase in range(factor):
        # Output column factor*j + phase: quad origin j + fx, nearest input pixel j.
        fx, ppx, _ = _quad_cpu(phase, width, factor * width)
        shift = np.uintp(fx + PAD)
        dst = phases[phase]
        for c in range(width):
            j = np.uintp(c)
            p = j + shift
            dst[j] = _easu_cpu_px(ppx, ppy, qa[j], qb[j], qc[j], lob[j], clp[j],
                                  up[p], up[p + one], top[p - one], top[p], top[p + one], top[p + two],
                                  low[p - one], low[p], low[p + one], low[p + two], down[p], down[p + one])
    _interleave_i(phases, factor, width, line)


_interleave_cpu = cpu_device(_interleave)
_easu_row_cpu = cpu_device(_easu_row, _interleave_i=_interleave_cpu)


@cpu_device
def _nearest_row_cpu(row, in_h, out_h):
    # The input row whose analysis output row ``row`` reads.
    return _quad_cpu(row, in_h, out_h)[2]


@cpu_kernel
def _easu_int_cpu(lp, coef, factor, out):
    for row in prange(out.shape[0]):
        phases = np.empty((factor, coef.shape[2]), np.float32)
        ny = _nearest_row_cpu(row, coef.shape[1], out.shape[0])
        _easu_row_cpu(lp, coef[:, ny], factor, row, out.shape[0], phases, out[row])


@cpu_device
def _coef_rows_cpu(lp, ny, lob_flat, lob_edge, cache, held):
    # The analysis of input row ``ny`` from a two-row cache: consecutive output rows read the
    # same or the next input row, so each input row is analysed about once per chunk.
    slot = ny & 1
    if held[slot] != ny:
        held[slot] = ny
        _analysis_row_cpu(lp, ny, lob_flat, lob_edge, cache[slot])
    return cache[slot]


@cpu_kernel
def _edge_int_cpu(lp, cp, lob_flat, lob_edge, factor, amount, chunks, out):
    # One chunk of output rows per thread.  EASU rows go into a ring of three (the RCAS
    # neighbourhood) and the analysis of their input rows into a cache of two, so neither the
    # upscaled luma nor the coefficients make a full-frame round trip through memory; a chunk
    # recomputes the one row above it.  Chroma differences are interpolated vertically once per
    # row over the input width, then horizontally per phase.
    height, width = lp.shape[0] - 2 * PAD, lp.shape[1] - 2 * PAD
    out_h, out_w = out.shape[0], out.shape[1]
    per = (out_h + chunks - 1) // chunks
    one = np.uintp(1)
    for chunk in prange(chunks):
        first = chunk * per
        last = min(first + per, out_h)
        ring = np.empty((3, out_w), np.float32)
        phases = np.empty((factor, width), np.float32)
        vert = np.empty((3, width + 2 * PAD), np.float32)
        horiz = np.empty((3, out_w), np.float32)
        sharp = np.empty(out_w, np.float32)
        packed = np.empty(3 * out_w, np.float32)
        cache = np.empty((2, 5, width), np.float32)
        held = np.full(2, -1, np.int64)
        if first < last:
            above = max(first - 1, 0)
            rows = _coef_rows_cpu(lp, _nearest_row_cpu(above, height, out_h), lob_flat, lob_edge, cache, held)
            _easu_row_cpu(lp, rows, factor, above, out_h, phases, ring[above % 3])
            if first > above:
                rows = _coef_rows_cpu(lp, _nearest_row_cpu(first, height, out_h), lob_flat, lob_edge, cache, held)
                _easu_row_cpu(lp, rows, factor, first, out_h, phases, ring[first % 3])
        for row in range(first, last):
            below = min(row + 1, out_h - 1)
            if below > row:
                rows = _coef_rows_cpu(lp, _nearest_row_cpu(below, height, out_h), lob_flat, lob_edge, cache, held)
                _easu_row_cpu(lp, rows, factor, below, out_h, phases, ring[below % 3])
            north = ring[max(row - 1, 0) % 3]
            mid = ring[row % 3]
            south = ring[below % 3]
            for c in range(1, out_w - 1):
                col = np.uintp(c)
                sharp[col] = _rcas_cpu(north[col], mid[col - one], mid[col], mid[col + one], south[col], amount)
            end = out_w - 1
            sharp[0] = _rcas_cpu(north[0], mid[0], mid[0], mid[min(1, end)], south[0], amount)
            if out_w > 1:
                sharp[end] = _rcas_cpu(north[end], mid[end - 1], mid[end], mid[end], south[end], amount)
            if out.shape[2] == 1:
                dst = out[row].reshape(-1)
                for c in range(out_w):
                    dst[np.uintp(c)] = _u8_cpu(sharp[np.uintp(c)])
                continue
            fy, ppy, _ = _quad_cpu(row, height, out_h)
            r = fy + PAD
            for ch in range(3):
                a = cp[ch, r]
                b = cp[ch, r + 1]
                v = vert[ch]
                for c in range(width + 2 * PAD):
                    j = np.uintp(c)
                    v[j] = _lerp_cpu(a[j], b[j], ppy)
            for ch in range(3):
                v = vert[ch]
                for phase in range(factor):
                    fx, ppx, _ = _quad_cpu(phase, width, factor * width)
                    shift = np.uintp(fx + PAD)
                    dst = phases[phase]
                    for c in range(width):
                        j = np.uintp(c)
                        dst[j] = _lerp_cpu(v[j + shift], v[j + shift + one], ppx)
                _interleave_cpu(phases, factor, width, horiz[ch])
            # Interleave in float, then round and clamp in a contiguous loop: clamping 8-bit
            # stores at stride 3 did not vectorize (measured 3x slower).
            hb, hg, hr = horiz[0], horiz[1], horiz[2]
            for c in range(out_w):
                col = np.uintp(c)
                i = np.uintp(3) * col
                y = sharp[col]
                packed[i] = y + hb[col]
                packed[i + one] = y + hg[col]
                packed[i + np.uintp(2)] = y + hr[col]
            dst = out[row].reshape(-1)
            for c in range(3 * out_w):
                i = np.uintp(c)
                dst[i] = _u8_cpu(packed[i])


# --- public functions --------------------------------------------------------------------------

def analyse(frame, *, luma_pad, chroma_pad, coef, lob_flat: float = LOB_FLAT, lob_edge: float = LOB_EDGE,
            backend: Backend = CPU) -> None:
    """Luma and chroma of ``frame`` (edge-padded) and EASU's kernel coefficients per input pixel.

    Parameters
    ----------
    frame : ndarray
        ``(h, w, 3) uint8`` BGR, or ``(h, w, 1) uint8`` luma (a Y plane), on ``backend``.
    luma_pad : ndarray
        ``(h + 2*PAD, w + 2*PAD) float32`` destination: BT.601 luma, 8-bit levels, edges replicated.
    chroma_pad : ndarray
        ``(3, h + 2*PAD, w + 2*PAD) float32`` destination: B, G and R minus luma, edges replicated
        (not written for a Y plane).
    coef : ndarray
        ``(5, h, w) float32`` destination: per pixel the quadratic form of the rotated, scaled tap
        distance (three values), the window ``lob`` and its clip ``1 / lob``.
    lob_flat, lob_edge : float
        Window of the kernel on flat areas and on clean edges (smaller = wider, sharper).
    backend : Backend
    """
    height, width = frame.shape[:2]
    args = (np.float32(lob_flat), np.float32(lob_edge), coef)
    if backend.is_cuda:
        backend.launch_2d(_planes_cuda, luma_pad.shape[0], luma_pad.shape[1])(frame, luma_pad, chroma_pad)
        backend.launch_2d(_analysis_cuda, height, width)(luma_pad, *args)
    else:
        _planes_cpu(frame, luma_pad, chroma_pad)
        _analysis_cpu(luma_pad, *args)


def _integer_factor(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> int:
    """The common integer factor of both axes, or 0."""
    (h, w), (oh, ow) = src_hw, dst_hw
    factor = ow // w
    return factor if factor * w == ow and factor * h == oh else 0


def _fused(src_hw: tuple[int, int], dst_hw: tuple[int, int], backend: Backend, vectorized: bool) -> bool:
    """Whether :func:`upscale_edge` takes the fused CPU pass (integer factors)."""
    return vectorized and not backend.is_cuda and _integer_factor(src_hw, dst_hw) > 0


def easu(luma_pad, coef, *, out, backend: Backend = CPU, vectorized: bool = True):
    """Edge-adaptive upscale of the analysed luma to the size of ``out``.

    Parameters
    ----------
    luma_pad, coef : ndarray
        From :func:`analyse` of an ``(h, w)`` frame.
    out : ndarray
        ``(H, W) float32`` destination, ``H >= h`` and ``W >= w``; values stay in the input's range.
    backend : Backend
    vectorized : bool
        On the CPU, take the vectorized path when ``H / h == W / w`` is an integer (same result);
        False always runs the per-sample twin of the CUDA kernel.

    Returns
    -------
    ndarray
        ``out``.
    """
    if backend.is_cuda:
        backend.launch_2d(_easu_cuda, out.shape[0], out.shape[1])(luma_pad, coef, out)
        return out
    factor = _integer_factor(coef.shape[1:], out.shape)
    if vectorized and factor:
        _easu_int_cpu(luma_pad, coef, factor, out)
    else:
        _easu_cpu(luma_pad, coef, out)
    return out


def rcas_compose(luma, chroma_pad, *, amount: float = 1.0, out, backend: Backend = CPU):
    """Sharpen the upscaled ``luma`` (RCAS) and add bilinearly upscaled chroma: BGR out.

    ``out[..., c] = rcas(luma) + bilinear(chroma_pad[c])``: the chroma differences keep
    the input's colour, and the luma of ``out`` is the sharpened luma.

    Parameters
    ----------
    luma : ndarray
        ``(H, W) float32`` luma in 8-bit levels (from :func:`easu`).
    chroma_pad : ndarray
        From :func:`analyse` of the ``(h, w)`` input.
    amount : float
        Sharpening in [0, 1]: the share of RCAS's strongest lobe (0 = the luma as is).
    out : ndarray
        ``(H, W, 3) uint8`` BGR destination, or ``(H, W, 1)``: the sharpened luma alone.
    backend : Backend

    Returns
    -------
    ndarray
        ``out``.
    """
    height, width = luma.shape
    if backend.is_cuda:
        backend.launch_2d(_rcas_compose_cuda, height, width)(luma, chroma_pad, np.float32(amount), out)
    else:
        _rcas_compose_cpu(luma, chroma_pad, np.float32(amount), out)
    return out


@dataclass
class EdgeWork:
    """Buffers of :func:`upscale_edge` for one (input, output) size, allocated once."""

    src_hw: tuple[int, int]
    dst_hw: tuple[int, int]
    channels: int
    luma_pad: Any
    chroma_pad: Any
    coef: Any
    luma_up: Any
    deblurred: Any
    sharpen_work: Any
    taps: Any

    def fits(self, src_hw: tuple[int, int], dst_hw: tuple[int, int], channels: int = 3) -> bool:
        return self.src_hw == tuple(src_hw) and self.dst_hw == tuple(dst_hw) and self.channels == channels


def edge_work(src_hw: tuple[int, int], dst_hw: tuple[int, int], *, channels: int = 3,
              backend: Backend = CPU, vectorized: bool = True) -> EdgeWork:
    """Allocate the buffers :func:`upscale_edge` needs for ``src_hw -> dst_hw`` (``(height, width)``).

    ``channels`` is 3 for BGR frames, 1 for a Y plane (no chroma buffers then); ``vectorized``
    as :func:`upscale_edge`'s.
    """
    (h, w), (oh, ow) = src_hw, dst_hw
    padded = (h + 2 * PAD, w + 2 * PAD)
    # The fused CPU path for integer factors needs neither a full-size luma plane nor the
    # coefficients of the whole frame.
    fused = _fused((h, w), (oh, ow), backend, vectorized)
    chroma = (3,) + padded if channels == 3 else (3, 1, 1)
    return EdgeWork((h, w), (oh, ow), channels, backend.empty(padded, np.float32), backend.empty(chroma, np.float32),
                    None if fused else backend.empty((5, h, w), np.float32),
                    None if fused else backend.empty((oh, ow), np.float32),
                    backend.empty((h, w, channels)), backend.empty((3, h, w), np.float32),
                    backend.asarray(binomial_taps(1)))


def upscale_edge(frame, *, out, deblur: float = 0.0, sharpness: float = 1.0, work: EdgeWork | None = None,
                 backend: Backend = CPU, vectorized: bool = True):
    """Edge-adaptive upscale (EASU-like) with a ringing-free sharpen (RCAS-like).

    Parameters
    ----------
    frame : ndarray
        ``(h, w, 3) uint8`` BGR on ``backend``, or ``(h, w, 1)``: a Y plane, upscaled alone (its
        chroma planes are smooth: resize them bilinearly).
    out : ndarray
        ``(H, W, C) uint8`` destination, C as ``frame``'s, ``H >= h``, ``W >= w`` (any factor; integer factors are
        fastest on the CPU); must not alias ``frame``.
    deblur : float
        Gain of the unsharp mask applied at the input's resolution before upscaling (0 = none).
    sharpness : float
        RCAS strength in [0, 1] after upscaling (0 = none, 1 = FSR's strongest).
    work : EdgeWork, optional
        From :func:`edge_work` for these sizes; allocated here when not given.
    backend : Backend
    vectorized : bool
        On the CPU, fuse EASU, RCAS and the colour for integer factors (same result); False
        runs the per-sample twins of the CUDA kernels.

    Returns
    -------
    ndarray
        ``out``.
    """
    (h, w), (oh, ow) = frame.shape[:2], out.shape[:2]
    if h == 0 or w == 0 or oh == 0 or ow == 0:
        return out
    channels = frame.shape[2]
    fused = _fused((h, w), (oh, ow), backend, vectorized)
    if work is None or not work.fits((h, w), (oh, ow), channels) or (work.coef is None) != fused:
        work = edge_work((h, w), (oh, ow), channels=channels, backend=backend, vectorized=vectorized)
    src = frame
    if deblur > 0.0:
        # No coring and a small overshoot: sharpening of a soft picture, not of noise, and no halos.
        src = sharpen(frame, work.taps, amount=deblur, threshold=0.0, overshoot=DEBLUR_OVERSHOOT,
                      out=work.deblurred, work=work.sharpen_work, backend=backend)
    if fused:  # analyses row by row as it goes
        _planes_cpu(src, work.luma_pad, work.chroma_pad)
        _edge_int_cpu(work.luma_pad, work.chroma_pad, np.float32(LOB_FLAT), np.float32(LOB_EDGE),
                      _integer_factor((h, w), (oh, ow)), np.float32(sharpness), numba.get_num_threads(), out)
        return out
    analyse(src, luma_pad=work.luma_pad, chroma_pad=work.chroma_pad, coef=work.coef, backend=backend)
    luma_up = work.luma_up if work.luma_up is not None else backend.empty((oh, ow), np.float32)
    easu(work.luma_pad, work.coef, out=luma_up, backend=backend, vectorized=vectorized)
    return rcas_compose(luma_up, work.chroma_pad, amount=sharpness, out=out, backend=backend)
