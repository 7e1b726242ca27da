"""Deinterlacing: field interpolation (motion-adaptive, one field of lookahead) and field blending.

A woven interlaced frame holds two fields: the even rows (top field) and the
odd rows (bottom field), sampled one field period apart.  :func:`interpolate_field`
keeps the rows of one field and rebuilds the others, per sample:

* the temporal estimate ``d`` is the mean of the missing rows one field before
  and one field after (the other field of the previous frame and of this frame:
  one field of lookahead, no frame of latency);
* the spatial estimate is a 4-tap vertical filter of the kept field, plus the
  vertical detail of the temporal neighbours where the picture is vertically
  detailed and still (the 3-field filter of Weston, as in FFmpeg's bwdif);
* the result is the spatial estimate clamped to ``d +- motion``: where nothing
  moves it is ``d`` (full vertical detail), where things move it follows the
  kept field.  ``motion`` is the largest of the missing rows' own change, the
  kept rows' change since the previous frame (at the pixel and its left and
  right neighbours) and the same measure one frame earlier (a one-frame motion
  memory, which stands in for the future frame a lookahead deinterlacer would
  read); differences of one level count as none (coding noise).  A spatial
  check widens the clamp where ``d`` would leave the range of the rows around
  it.

Within four rows of the top and bottom the spatial estimate is the mean of the
two kept neighbours, and the spatial check needs two rows on each side, as in
bwdif.  The arithmetic is exact integer math: levels and their differences in
half-levels (``d`` is half a sum of two levels), the filters in 1/32768 of a
level, rounded half up once at the end.  It is written once and compiled for the
CPU, on 16- and 32-bit vector lanes (:mod:`kernels.lanes`), and for CUDA.  Kept
rows are copied unchanged.  The CPU loop checks runs of :data:`STILL_RUN`
samples for motion first: where nothing moves the clamp leaves exactly ``d``, so
such runs skip the rest of the formula.

Frames are ``(H, W, C)``: BGR (``C = 3``), or one plane of an I420 frame as an
``(h, w, 1)`` view; channels never mix, so a plane is deinterlaced on its own.

:func:`blend_fields` is the cheap alternative: a vertical ``[1, 2, 1] / 4``
filter that averages the two fields (no combing, half the vertical detail,
no motion artefacts).  Whether and in which order a frame is woven is measured by
:mod:`kernels.comb`.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_kernel, cuda, cuda_kernel, twin
from kernels.lanes import (
    LANES,
    add16,
    add32,
    max16,
    max32,
    min16,
    min32,
    mul16,
    mul32,
    shr16,
    shr32,
    sub16,
    sub32,
)
from kernels.pixel import VECTOR_MINMAX
from kernels.pixel import u8_px as _u8_px

#: Vertical filters (Weston 3-field coefficients): spatial-only 4-tap and the low-frequency part
#: (/8192, on sums of two kept levels), and the temporal high-frequency part (/32768, on sums of
#: the missing rows before and after, two rows apart).
SP = (5077, 981)
LF = (4309, 213)
HF = (5570, 3801, 1016)
#: Differences up to this many half-levels (one level) are coding noise, not motion.
MOTION_CORE = 2
#: ``floor`` (half-levels) that turns :func:`interpolate_field` into a purely spatial interpolator.
SPATIAL_ONLY = 510

# The filters on the 1/32768 scale, and half of it (the weight of one level in a sum of two).
_SP = (4 * SP[0], 4 * SP[1])
_LF = (4 * LF[0], 4 * LF[1])
_HALF = 16384


# --- per-pixel math, written once ------------------------------------------------
# Levels are int16 (sums and differences of two levels fit); the filters run on int32.

def _absdiff_px(a, b):
    d = sub16(a, b)
    return max16(d, sub16(0, d))


def _td1_px(cu, cd, pu, pd, nu, nd):
    # Change of the kept rows above and below (cu, cd) since the previous frame (pu, pd) and to the
    # next (nu, nd), as a sum of two level differences: half-levels of their mean.
    return max16(add16(_absdiff_px(pu, cu), _absdiff_px(pd, cd)), add16(_absdiff_px(nu, cu), _absdiff_px(nd, cd)))


def _motion_px(td0, near, memory, use_memory):
    """(this sample's motion rounded to levels, kept as the memory; the cored motion for the clamp, half-levels).

    ``td0``: change of the missing sample (levels); ``near``: kept-row motion (half-levels);
    ``memory``: the previous frame's motion (levels), counted when ``use_memory`` is 1.
    """
    raw = max16(add16(td0, td0), near)
    cored = max16(sub16(max16(raw, mul16(add16(memory, memory), use_memory)), MOTION_CORE), 0)
    return shr16(add16(raw, 1), 1), cored


def _temporal_px(dsum):
    # The temporal estimate: the mean of the missing sample one field before and after, rounded half up.
    return shr16(add16(dsum, 1), 1)


def _adaptive_px(c, e, c3, dsum, td0, du2, dd2, du4, dd4, motion, floor, inner, spat):
    """One missing sample (uint8 level).

    ``c``, ``e``: kept samples above and below; ``c3``: sum of the kept samples three rows up and
    down; ``dsum``: sum of the missing samples one field before and after, ``td0`` their absolute
    difference; ``du2`` .. ``dd4``: the same sums two and four rows up and down; ``motion`` and
    ``floor`` in half-levels; ``inner``, ``spat`` 0 or 1.  In levels, with ``d = dsum / 2``::

        diff   = max(motion, floor), widened by the spatial check where it is not 0
        interp = hf if |c - e| > max(td0, floor) else sp   (the mean of c and e near the edges)
        result = clamp(interp, d - diff, d + diff)
    """
    diff = max16(motion, floor)
    # Spatial check: if d leaves the kept rows' range in a way the temporal rows two above and
    # below do not, the clamp widens (where diff is 0 it stays exactly at d).
    c2 = add16(c, c)
    e2 = add16(e, e)
    b = sub16(du2, c2)
    f = sub16(dd2, e2)
    dc = sub16(dsum, c2)
    de = sub16(dsum, e2)
    hi = max16(max16(de, dc), min16(b, f))
    lo = min16(min16(de, dc), max16(b, f))
    widen = mul16(max16(lo, sub16(0, hi)), spat)
    if diff > 0:
        diff = max16(diff, widen)
    ce = np.int32(add16(c, e))
    kept3 = np.int32(c3)
    temporal = np.int32(dsum)
    lin = mul32(_HALF, ce)  # before the branches: so they vectorize as selects (12% faster, measured)
    step = _absdiff_px(c, e)
    if inner == 0:
        interp = lin
    elif add16(step, step) > max16(add16(td0, td0), floor):
        # Vertical detail: the temporal rows' high frequencies join the kept rows' low ones.
        hf = sub32(mul32(HF[0], temporal), mul32(HF[1], np.int32(add16(du2, dd2))))
        hf = add32(hf, mul32(HF[2], np.int32(add16(du4, dd4))))
        interp = add32(hf, sub32(mul32(_LF[0], ce), mul32(_LF[1], kept3)))
    else:
        interp = sub32(mul32(_SP[0], ce), mul32(_SP[1], kept3))
    d = mul32(_HALF, temporal)
    spread = mul32(_HALF, np.int32(diff))
    v = min32(max32(interp, sub32(d, spread)), add32(d, spread))
    return np.uint8(min32(max32(shr32(add32(v, _HALF), 15), 0), 255))


def _blend_px(a, b, c):
    return (a + b + b + c) * np.float32(0.25)


def _neighbour_rows(row, height):
    """Rows around missing ``row``: kept at -1, +1, -3, +3; missing at -2, +2, -4, +4 (clamped to the frame)."""
    u1 = row - 1 if row >= 1 else row + 1
    d1 = row + 1 if row + 1 < height else row - 1
    u3 = row - 3 if row >= 3 else u1
    d3 = row + 3 if row + 3 < height else d1
    u2 = row - 2 if row >= 2 else row
    d2 = row + 2 if row + 2 < height else row
    u4 = row - 4 if row >= 4 else u2
    d4 = row + 4 if row + 4 < height else d2
    # Near the top and bottom: linear interpolation, and the spatial check only with two rows each side.
    inner = np.int16(1 if row >= 4 and row + 5 <= height else 0)
    spat = np.int16(1 if row >= 2 and row + 3 <= height else 0)
    return u1, d1, u3, d3, u2, d2, u4, d4, inner, spat


_absdiff_cpu, _absdiff_cuda = _absdiff = twin(_absdiff_px, **LANES)
_td1_cpu, _td1_cuda = _td1 = twin(_td1_px, _absdiff_px=_absdiff, **LANES)
_motion_cpu, _motion_cuda = _motion = twin(_motion_px, **LANES)
_adaptive_cpu_px, _adaptive_cuda_px = _adaptive = twin(_adaptive_px, _absdiff_px=_absdiff, **LANES)
_u8_cpu, _u8_cuda = twin(_u8_px, cpu_only=VECTOR_MINMAX)
_blend_cpu_px, _blend_cuda_px = twin(_blend_px)
_rows_cpu, _rows_cuda = twin(_neighbour_rows)


# --- field interpolation -----------------------------------------------------------------

#: Samples per run of a row that is checked for motion at once: a run where nothing moves takes
#: the temporal estimate without the rest of the formula (the same result, a fraction of the work).
STILL_RUN = 128


def _kept_change_row(cu, cd, pu, pd, nu, nd, near, n, step):
    # _td1_px along a row into near[step:n + step], padded with the edge pixels' values.
    h = np.int16
    for k in range(n):
        i = np.uintp(k)
        near[i + step] = _td1_px(h(cu[i]), h(cd[i]), h(pu[i]), h(pd[i]), h(nu[i]), h(nd[i]))
    for k in range(step):
        near[k] = near[k + step]
        near[n + step + k] = near[n + k]


def _missing_row(rows, near, moved, mem, dst, n, step, floor, use_memory, inner, spat):
    # One interpolated row from the uint8 ``rows``: kept rows -1, +1, -3, +3 (c, e, cu3, cd3); the
    # missing rows before (b*) and after (a*) at 0, -2, +2, -4, +4.  ``near``: its _kept_change_row.
    c, e, cu3, cd3, b0, a0, bu2, au2, bd2, ad2, bu4, au4, bd4, ad4 = rows
    h = np.int16
    for start in range(0, n, STILL_RUN):
        stop = min(start + STILL_RUN, n)
        moving = h(0)
        for k in range(start, stop):
            i = np.uintp(k)
            # The kept-row motion of this pixel and its left and right neighbours (a pixel apart).
            m = max16(max16(near[i], near[i + step]), near[i + step + step])
            keep, motion = _motion_px(_absdiff_px(h(b0[i]), h(a0[i])), m, h(mem[i]), use_memory)
            mem[i] = np.uint8(keep)
            moved[i] = motion
            moving = max16(moving, motion)
        if moving == 0 and floor == 0:
            # Nothing moves: the clamp to d +- 0 leaves d, whatever the spatial estimate.
            for k in range(start, stop):
                i = np.uintp(k)
                dst[i] = np.uint8(_temporal_px(add16(h(b0[i]), h(a0[i]))))
            continue
        for k in range(start, stop):
            i = np.uintp(k)
            p0 = h(b0[i])
            n0 = h(a0[i])
            dst[i] = _adaptive_px(h(c[i]), h(e[i]), add16(h(cu3[i]), h(cd3[i])), add16(p0, n0), _absdiff_px(p0, n0),
                                  add16(h(bu2[i]), h(au2[i])), add16(h(bd2[i]), h(ad2[i])),
                                  add16(h(bu4[i]), h(au4[i])), add16(h(bd4[i]), h(ad4[i])),
                                  moved[i], floor, inner, spat)


_row_math = dict(_td1_px=_td1, _motion_px=_motion, _absdiff_px=_absdiff, _temporal_px=twin(_temporal_px, **LANES),
                 _adaptive_px=_adaptive, **LANES)
_kept_change_row_cpu = twin(_kept_change_row, **_row_math).cpu
_missing_row_cpu = twin(_missing_row, **_row_math).cpu


@cpu_kernel
def _adaptive_cpu(kept, before, after, kprev, knext, has_next, parity, floor, use_memory, memory, channels, chunks,
                  out):
    # Frames come as (H, W * channels) rows (see _flat_rows), which index into 1-D row views at no
    # cost; each row is read from the uint8 frames and worked on whole, so the inner loops vectorize
    # over it.  Rows go in one chunk per thread.
    height = kept.shape[0]
    n = kept.shape[1]
    per = (height + chunks - 1) // chunks
    step = np.uintp(channels)
    floor16 = np.int16(floor)
    use16 = np.int16(use_memory)
    for chunk in prange(chunks):
        near = np.empty(n + 2 * channels, np.int16)
        moved = np.empty(n, np.int16)
        for row in range(chunk * per, min(chunk * per + per, height)):
            src = kept[row]
            dst = out[row]
            if (row & 1) == parity or height < 2:
                for k in range(n):
                    dst[np.uintp(k)] = src[np.uintp(k)]
                continue
            u1, d1, u3, d3, u2, d2, u4, d4, inner, spat = _rows_cpu(row, height)
            nxt = knext if has_next else kprev
            _kept_change_row_cpu(kept[u1], kept[d1], kprev[u1], kprev[d1], nxt[u1], nxt[d1], near, n, step)
            rows = (kept[u1], kept[d1], kept[u3], kept[d3], before[row], after[row], before[u2], after[u2],
                    before[d2], after[d2], before[u4], after[u4], before[d4], after[d4])
            if inner == 1 and spat == 1 and floor16 == 0 and use16 == 1:
                # Most rows: with these as constants LLVM drops the multiplies and maxima they make no-ops.
                one = np.int16(1)
                _missing_row_cpu(rows, near, moved, memory[row], dst, n, step, np.int16(0), one, one, one)
            else:
                _missing_row_cpu(rows, near, moved, memory[row], dst, n, step, floor16, use16, inner, spat)


def _flat_rows(frame):
    """An ``(H, W, C)`` frame as ``(H, W * C)`` rows, a view (so results written to it land in ``frame``)."""
    rows = frame.view()
    rows.shape = (frame.shape[0], frame.shape[1] * frame.shape[2])  # raises, not copies, if rows are not contiguous
    return rows


@cuda_kernel
def _adaptive_cuda(kept, before, after, kprev, knext, has_next, parity, floor, use_memory, memory, out):
    col, row = cuda.grid(2)
    height, width = kept.shape[0], kept.shape[1]
    if row >= height or col >= width:
        return
    channels = kept.shape[2]
    if (row & 1) == parity or height < 2:
        for ch in range(channels):
            out[row, col, ch] = kept[row, col, ch]
        return
    h = np.int16
    u1, d1, u3, d3, u2, d2, u4, d4, inner, spat = _rows_cuda(row, height)
    nxt = knext if has_next else kprev
    for ch in range(channels):
        m = h(0)
        for x in range(max(col - 1, 0), min(col + 2, width)):
            m = max(m, _td1_cuda(h(kept[u1, x, ch]), h(kept[d1, x, ch]), h(kprev[u1, x, ch]), h(kprev[d1, x, ch]),
                                 h(nxt[u1, x, ch]), h(nxt[d1, x, ch])))
        p0 = h(before[row, col, ch])
        n0 = h(after[row, col, ch])
        td0 = _absdiff_cuda(p0, n0)
        keep, motion = _motion_cuda(td0, m, h(memory[row, col, ch]), h(use_memory))
        memory[row, col, ch] = np.uint8(keep)
        out[row, col, ch] = _adaptive_cuda_px(
            h(kept[u1, col, ch]), h(kept[d1, col, ch]), h(kept[u3, col, ch]) + h(kept[d3, col, ch]), p0 + n0, td0,
            h(before[u2, col, ch]) + h(after[u2, col, ch]), h(before[d2, col, ch]) + h(after[d2, col, ch]),
            h(before[u4, col, ch]) + h(after[u4, col, ch]), h(before[d4, col, ch]) + h(after[d4, col, ch]),
            motion, h(floor), inner, spat)


def interpolate_field(kept, *, parity: int, before=None, after=None, kept_prev=None, kept_next=None, memory,
                      use_memory: bool = False, out=None, backend: Backend = CPU):
    """Rebuild a progressive frame from one field, interpolating the other (motion-adaptive).

    Parameters
    ----------
    kept : ndarray
        ``(H, W, C) uint8`` woven frame whose rows of ``parity`` are kept: BGR (``C = 3``) or one
        plane of an I420 frame as an ``(h, w, 1)`` view (each plane is deinterlaced on its own with
        the same parity: in 4:2:0 the chroma rows alternate fields too).  Every array argument has
        this shape.
    parity : {0, 1}
        Rows kept: 0 the even rows (top field), 1 the odd rows (bottom field).
    before, after : ndarray, optional
        Frames whose other-parity rows are the missing field one field period before and
        after the kept one.  Both ``None``: spatial interpolation only (no history yet).
    kept_prev, kept_next : ndarray, optional
        Frames whose ``parity`` rows are the kept field one frame earlier and later, for the
        motion test; ``kept_next`` may be ``None`` (no lookahead), ``kept_prev`` defaults to ``before``.
    memory : ndarray
        ``(H, W, C) uint8`` motion memory, read and updated on the interpolated rows.
    use_memory : bool
        Whether ``memory`` holds the motion of the previous frame's same field (False after a reset).
    out : ndarray, optional
        ``(H, W, C) uint8`` destination; must not alias an input.
    backend : Backend

    Returns
    -------
    ndarray
        ``out``.  Frames under two rows high are copied.
    """
    if out is None:
        out = backend.empty(kept.shape)
    if kept.shape[0] == 0 or kept.shape[1] == 0:
        return out
    floor = 0
    if before is None or after is None:
        before = after = kept
        floor = SPATIAL_ONLY
    kept_prev = before if kept_prev is None else kept_prev
    has_next = kept_next is not None
    kept_next = kept_prev if kept_next is None else kept_next
    flags = (has_next, np.int64(parity & 1), np.int64(floor), np.int64(1 if use_memory else 0))
    if backend.is_cuda:
        backend.launch_2d(_adaptive_cuda, kept.shape[0], kept.shape[1])(
            kept, before, after, kept_prev, kept_next, *flags, memory, out)
    else:
        chunks = max(1, min(numba.get_num_threads(), kept.shape[0]))
        frames = [_flat_rows(a) for a in (kept, before, after, kept_prev, kept_next)]
        _adaptive_cpu(*frames, *flags, _flat_rows(memory), kept.shape[2], chunks, _flat_rows(out))
    return out


# --- field blending ------------------------------------------------------------------------

@cpu_kernel
def _blend_cpu(frame, out):
    height = frame.shape[0]
    n = frame.shape[1] * frame.shape[2]
    for r in prange(height):
        row = np.int64(r)  # signed: the mirrored neighbours below need row - 1
        # Mirrored at the top and bottom, so an edge row still mixes both fields.
        up = frame[abs(row - 1) if height > 1 else row].reshape(-1)
        down = frame[row + 1 if row + 1 < height else max(row - 1, 0)].reshape(-1)
        mid = frame[row].reshape(-1)
        dst = out[row].reshape(-1)
        for k in range(n):
            i = np.uintp(k)
            dst[i] = _u8_cpu(_blend_cpu_px(np.float32(up[i]), np.float32(mid[i]), np.float32(down[i])))


@cuda_kernel
def _blend_cuda(frame, out):
    col, row = cuda.grid(2)
    height = frame.shape[0]
    if row >= height or col >= frame.shape[1]:
        return
    up = abs(row - 1) if height > 1 else row
    down = row + 1 if row + 1 < height else max(row - 1, 0)
    for ch in range(frame.shape[2]):
        out[row, col, ch] = _u8_cuda(_blend_cuda_px(np.float32(frame[up, col, ch]), np.float32(frame[row, col, ch]),
                                                    np.float32(frame[down, col, ch])))


def blend_fields(frame, *, out=None, backend: Backend = CPU):
    """Average the two fields with a vertical ``[1, 2, 1] / 4`` filter (mirrored at the edges).

    Parameters
    ----------
    frame : ndarray
        ``(H, W, C) uint8`` woven frame (BGR, or an I420 plane as an ``(h, w, 1)`` view).
    out : ndarray, optional
        ``(H, W, C) uint8`` destination; must not alias ``frame``. Returned.
    backend : Backend
    """
    if out is None:
        out = backend.empty(frame.shape)
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        return out
    backend.run_2d(_blend_cpu, _blend_cuda, frame.shape[0], frame.shape[1], frame, out)
    return out
