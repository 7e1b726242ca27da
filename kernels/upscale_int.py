"""Edge-adaptive upscaling by integer factors on the CPU: vectorized rows, EASU + RCAS + compose fused.

The inner loops run over input columns at a fixed output phase (constant tap
offsets, contiguous loads) and vectorize, with the upscaled luma kept in a ring
of three rows and the analysis in a cache of two input rows.  The per-sample
math is :mod:`kernels.easu`'s, so the result is the per-sample path's.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from kernels.backend import cpu_device, cpu_kernel
from kernels.easu import PAD, _analysis_row_cpu, _easu_cpu_px, _lerp_cpu, _quad_cpu, _rcas_cpu, _u8_cpu


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
    _interleave_i(phases, factor, width, line)  # noqa: F821


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
