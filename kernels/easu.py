"""Per-sample math of the edge-adaptive upscaler (:mod:`kernels.upscale`), EASU's analysis and taps and RCAS,
and its kernels for any factor: one output sample per iteration (CUDA, and the CPU's non-integer factors).
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from kernels.backend import cpu_device, cpu_kernel, cuda, cuda_kernel, twin
from kernels.pixel import lerp_px as _lerp_px
from kernels.pixel import u8_px as _u8_px
from kernels.sharpen import _luma_px

#: Columns and rows of edge replication around the analysed luma: the 12 taps reach two pixels
#: beyond the 2x2 quad around a sample, so no tap needs a bounds check.
PAD = 2
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


def _analysis_px(n, w, c, e, s, lob_flat, lob_edge):
    """EASU's direction and anisotropy of one input pixel, as the five coefficients the taps need.

    A tap at offset ``(ox, oy)`` is rotated into the edge's frame (``u`` = unit gradient) and
    scaled: ``vx = (ox*ux + oy*uy) * across``, ``vy = (oy*ux - ox*uy) * along``.  Its squared
    distance is the quadratic form ``A*ox^2 + B*oy^2 + C*ox*oy`` returned here, so a tap costs
    three multiply-adds for its distance instead of six.
    """
    dx, lx = _axis_i(w, c, e)  # noqa: F821
    dy, ly = _axis_i(n, c, s)  # noqa: F821
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
    wb = _tap_w_i(xx0, yym, x0 * ym, qa, qb, qc, lob, clp)  # noqa: F821
    wc = _tap_w_i(xx1, yym, x1 * ym, qa, qb, qc, lob, clp)  # noqa: F821
    we = _tap_w_i(xxm, yy0, xm * y0, qa, qb, qc, lob, clp)  # noqa: F821
    wf = _tap_w_i(xx0, yy0, x0 * y0, qa, qb, qc, lob, clp)  # noqa: F821
    wg = _tap_w_i(xx1, yy0, x1 * y0, qa, qb, qc, lob, clp)  # noqa: F821
    wh = _tap_w_i(xx2, yy0, x2 * y0, qa, qb, qc, lob, clp)  # noqa: F821
    wi = _tap_w_i(xxm, yy1, xm * y1, qa, qb, qc, lob, clp)  # noqa: F821
    wj = _tap_w_i(xx0, yy1, x0 * y1, qa, qb, qc, lob, clp)  # noqa: F821
    wk = _tap_w_i(xx1, yy1, x1 * y1, qa, qb, qc, lob, clp)  # noqa: F821
    wl = _tap_w_i(xx2, yy1, x2 * y1, qa, qb, qc, lob, clp)  # noqa: F821
    wn = _tap_w_i(xx0, yy2, x0 * y2, qa, qb, qc, lob, clp)  # noqa: F821
    wo = _tap_w_i(xx1, yy2, x1 * y2, qa, qb, qc, lob, clp)  # noqa: F821
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


_luma_cpu, _luma_cuda = twin(_luma_px)
_u8_cpu, _u8_cuda = twin(_u8_px)
_lerp_cpu, _lerp_cuda = twin(_lerp_px)
_analysis_cpu_px, _analysis_cuda_px = twin(_analysis_px, _axis_i=twin(_axis_px))
_easu_cpu_px, _easu_cuda_px = twin(_easu_px, _tap_w_i=twin(_tap_w_px))
_rcas_cpu, _rcas_cuda = twin(_rcas_px)
_quad_cpu, _quad_cuda = twin(_quad_px)


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
