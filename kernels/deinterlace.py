"""Deinterlacing: field interpolation (motion-adaptive, one field of lookahead), field blending, combing probes.

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
bwdif.  All math is float32 on scalars, written once and compiled for the CPU
and for CUDA.  Kept rows are copied unchanged.  The CPU loop checks runs of
:data:`STILL_RUN` samples for motion first: where nothing moves the clamp leaves
exactly ``d``, so such runs skip the rest of the formula (same output; 30% less
CPU time on the 1080p speed clip of ``tools/quality_deinterlace.py``, 5-10% more
where everything moves).

Frames are ``(H, W, C)``: BGR (``C = 3``), or one plane of an I420 frame as an
``(h, w, 1)`` view; channels never mix, so a plane is deinterlaced on its own.

:func:`blend_fields` is the cheap alternative: a vertical ``[1, 2, 1] / 4``
filter that averages the two fields (no combing, half the vertical detail,
no motion artefacts).

:func:`comb_probe` and :func:`comb_measures` measure combing on a few sampled
row groups (luma or a luma proxy, every ``col_step``-th column) so a detector can tell
woven fields from progressive frames and the field order, at a small fraction
of a frame's cost.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_device, cpu_kernel, cuda, cuda_device, cuda_kernel
from kernels.pixel import VECTOR_MINMAX
from kernels.pixel import u8_px as _u8_px

#: Vertical filters (Weston 3-field coefficients, /8192): spatial-only 4-tap, and the
#: low-frequency part plus temporal high-frequency part used on still vertical detail.
SP = (np.float32(5077 / 8192), np.float32(981 / 8192))
LF = (np.float32(4309 / 8192), np.float32(213 / 8192))
HF = (np.float32(5570 / 32768), np.float32(3801 / 32768), np.float32(1016 / 32768))
#: Sample differences up to this many levels are coding noise, not motion.
MOTION_CORE = np.float32(1.0)
#: ``floor`` that turns :func:`interpolate_field` into a purely spatial interpolator.
SPATIAL_ONLY = np.float32(255.0)
#: Rows of one probe group: two rows above a sampled even row, it, and two below.
PROBE_ROWS = 5
#: Row groups a probe samples at most.
PROBE_GROUPS = 48


# --- per-pixel math, written once ------------------------------------------------

def _kept_change_px(kp, k):
    return abs(kp - k)


def _td1_px(au, ad, nu, nd):
    # Change of the kept rows above and below since the previous frame (au, ad) and to the next (nu, nd).
    return max(au + ad, nu + nd) * np.float32(0.5)


def _motion_px(td0, near, memory, use_memory):
    """(raw motion, kept as the memory; motion for the clamp: with the memory, cored)."""
    raw = max(td0, near)
    cored = max(max(raw, memory * use_memory) - MOTION_CORE, np.float32(0.0))
    return raw, cored


def _round_px(v):
    # A level known to lie in [0, 255] (a mean or difference of levels) to uint8, rounded half up as
    # u8_px rounds; without u8_px's clamp, which LLVM vectorizes into a dozen mask instructions.
    return np.uint8(v + np.float32(0.5))


def _temporal_px(dsum):
    # The temporal estimate: the mean of the missing sample one field before and after.
    return dsum * np.float32(0.5)


def _adaptive_px(c, e, c3, dsum, td0, du2, dd2, du4, dd4, motion, floor, inner, spat):
    """One missing sample.

    ``c``, ``e``: kept samples above and below; ``c3``: sum of the kept samples three rows up and
    down; ``dsum``: sum of the missing samples one field before and after, ``td0`` their absolute
    difference; ``du2`` .. ``dd4``: the same sums two and four rows up and down.
    """
    d = _temporal_px(dsum)
    diff = max(motion, floor)
    # Spatial check: if d leaves the kept rows' range in a way the temporal rows two above and
    # below do not, the clamp widens.  min(.., diff * 1024) keeps diff == 0 exactly at d.
    b = du2 * np.float32(0.5) - c
    f = dd2 * np.float32(0.5) - e
    dc = d - c
    de = d - e
    hi = max(max(de, dc), min(b, f))
    lo = min(min(de, dc), max(b, f))
    widen = max(lo, -hi) * spat
    diff = max(diff, min(widen, diff * np.float32(1024.0)))
    ce = c + e
    sp = SP[0] * ce - SP[1] * c3
    hf = HF[0] * dsum - HF[1] * (du2 + dd2) + HF[2] * (du4 + dd4) + LF[0] * ce - LF[1] * c3
    interp = hf if abs(c - e) > max(td0, floor) else sp
    lin = ce * np.float32(0.5)
    interp = lin + (interp - lin) * inner
    return min(max(interp, d - diff), d + diff)


def _blend_px(a, b, c):
    return (a + b + b + c) * np.float32(0.25)


def _proxy_px(b, g, r):
    # A luma proxy: any fixed weighting shows combing; this one is cheap and channel-fair.
    return (b + g + g + r) * np.float32(0.25)


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
    inner = np.float32(1.0) if row >= 4 and row + 5 <= height else np.float32(0.0)
    spat = np.float32(1.0) if row >= 2 and row + 3 <= height else np.float32(0.0)
    return u1, d1, u3, d3, u2, d2, u4, d4, inner, spat


# Selects for min/max on the CPU: the interpolator's main loop did not vectorize with the builtins.
_vector_minmax = VECTOR_MINMAX
_max_cpu = VECTOR_MINMAX["max"]
_kept_change_cpu = cpu_device(_kept_change_px)
_td1_cpu = cpu_device(_td1_px, **_vector_minmax)
_motion_cpu = cpu_device(_motion_px, **_vector_minmax)
_temporal_cpu = cpu_device(_temporal_px)
_round_cpu = cpu_device(_round_px)
_adaptive_cpu_px = cpu_device(_adaptive_px, _temporal_px=_temporal_cpu, **_vector_minmax)
_u8_cpu = cpu_device(_u8_px, **_vector_minmax)
_blend_cpu_px = cpu_device(_blend_px)
_proxy_cpu = cpu_device(_proxy_px)
_rows_cpu = cpu_device(_neighbour_rows)
_kept_change_cuda = cuda_device(_kept_change_px)
_td1_cuda = cuda_device(_td1_px)
_motion_cuda = cuda_device(_motion_px)
_adaptive_cuda_px = cuda_device(_adaptive_px, _temporal_px=cuda_device(_temporal_px))
_u8_cuda = cuda_device(_u8_px)
_round_cuda = cuda_device(_round_px)
_blend_cuda_px = cuda_device(_blend_px)
_proxy_cuda = cuda_device(_proxy_px)
_rows_cuda = cuda_device(_neighbour_rows)


# --- field interpolation -----------------------------------------------------------------

#: Rows each per-thread ring holds: the missing rows -4 .. +4 or the kept rows -3 .. +3 around a row.
RING = 5
#: Per-thread scratch rows: rings of temporal sums, temporal differences, kept rows, kept-row
#: change to the previous and to the next frame; then the kept-row motion of the current row and
#: the motion of its samples.
_DSUM, _TDIF, _KEPT, _KPREV, _KNEXT, _NEAR, _MOTION = 0, RING, 2 * RING, 3 * RING, 4 * RING, 5 * RING, 5 * RING + 1
#: Samples per run of a row that is checked for motion at once: a run where nothing moves takes
#: the temporal estimate without the rest of the formula (the same result, a fraction of the work).
STILL_RUN = 128


@cpu_device
def _ensure_missing_cpu(before, after, r, n, scratch, held):
    # Sum and difference of the missing row r one field before and after, once per row.
    slot = (r >> 1) % RING
    if held[slot] != r:
        held[slot] = r
        b = before[r].reshape(-1)
        a = after[r].reshape(-1)
        s = scratch[_DSUM + slot]
        t = scratch[_TDIF + slot]
        for k in range(n):
            i = np.uintp(k)
            x = np.float32(b[i])
            y = np.float32(a[i])
            s[i] = x + y
            t[i] = abs(x - y)
    return slot


@cpu_device
def _ensure_kept_cpu(kept, kprev, knext, has_next, r, n, scratch, held):
    # A kept row as float and its change to the previous (and next) frame, once per row.
    slot = (r >> 1) % RING
    if held[slot] != r:
        held[slot] = r
        src = kept[r].reshape(-1)
        p = kprev[r].reshape(-1)
        kf = scratch[_KEPT + slot]
        pa = scratch[_KPREV + slot]
        for k in range(n):
            i = np.uintp(k)
            v = np.float32(src[i])
            kf[i] = v
            pa[i] = _kept_change_cpu(np.float32(p[i]), v)
        if has_next:
            q = knext[r].reshape(-1)
            na = scratch[_KNEXT + slot]
            for k in range(n):
                i = np.uintp(k)
                na[i] = _kept_change_cpu(np.float32(q[i]), kf[i])
    return slot


@cpu_device
def _missing_row_cpu(scratch, slots, mem, dst, n, step, floor, use_memory, inner, spat):
    # One interpolated row from the rings (``slots``: kept rows -1, +1, -3, +3, missing rows 0, -2, +2, -4, +4).
    ku1, kd1, ku3, kd3, s0, su2, sd2, su4, sd4 = slots
    near = scratch[_NEAR]
    moved = scratch[_MOTION]
    c = scratch[_KEPT + ku1]
    e = scratch[_KEPT + kd1]
    cu3 = scratch[_KEPT + ku3]
    cd3 = scratch[_KEPT + kd3]
    dsum = scratch[_DSUM + s0]
    tdif = scratch[_TDIF + s0]
    du2 = scratch[_DSUM + su2]
    dd2 = scratch[_DSUM + sd2]
    du4 = scratch[_DSUM + su4]
    dd4 = scratch[_DSUM + sd4]
    for start in range(0, n, STILL_RUN):
        stop = min(start + STILL_RUN, n)
        moving = 0
        for k in range(start, stop):
            i = np.uintp(k)
            # The kept-row motion of this pixel and its left and right neighbours (a pixel apart).
            m = _max_cpu(_max_cpu(near[i], near[i + step]), near[i + step + step])
            raw, motion = _motion_cpu(tdif[i], m, np.float32(mem[i]), use_memory)
            mem[i] = _round_cpu(raw)
            moved[i] = motion
            moving += motion > np.float32(0.0)
        if moving == 0 and floor <= 0:
            # Nothing moves: the clamp to d +- 0 leaves d, whatever the spatial estimate.
            for k in range(start, stop):
                i = np.uintp(k)
                dst[i] = _round_cpu(_temporal_cpu(dsum[i]))
            continue
        for k in range(start, stop):
            i = np.uintp(k)
            dst[i] = _u8_cpu(_adaptive_cpu_px(c[i], e[i], cu3[i] + cd3[i], dsum[i], tdif[i], du2[i], dd2[i], du4[i],
                                              dd4[i], moved[i], floor, inner, spat))


@cpu_kernel
def _adaptive_cpu(kept, before, after, kprev, knext, has_next, parity, floor, use_memory, memory, chunks, save,
                  out):
    # Rows go in one chunk per thread; each thread keeps rings of converted rows (every input row
    # is read and converted about once, not once per output row that needs it) in one scratch
    # array, so the inner loops read few distinct arrays and vectorize over the flat row
    # (index channels*col + c, unsigned).
    height = kept.shape[0]
    channels = kept.shape[2]
    n = kept.shape[1] * channels
    saving = save.shape[0] == height
    per = (height + chunks - 1) // chunks
    step = np.uintp(channels)
    for chunk in prange(chunks):
        scratch = np.empty((5 * RING + 2, n + 2 * channels), np.float32)
        held_missing = np.full(RING, -1, np.int64)
        held_kept = np.full(RING, -1, np.int64)
        near = scratch[_NEAR]
        for row in range(chunk * per, min(chunk * per + per, height)):
            src = kept[row].reshape(-1)
            dst = out[row].reshape(-1)
            if saving:
                keep = save[row].reshape(-1)
                for k in range(n):
                    keep[np.uintp(k)] = src[np.uintp(k)]
            if (row & 1) == parity or height < 2:
                for k in range(n):
                    dst[np.uintp(k)] = src[np.uintp(k)]
                continue
            u1, d1, u3, d3, u2, d2, u4, d4, inner, spat = _rows_cpu(row, height)
            s0 = _ensure_missing_cpu(before, after, row, n, scratch, held_missing)
            su2 = _ensure_missing_cpu(before, after, u2, n, scratch, held_missing)
            sd2 = _ensure_missing_cpu(before, after, d2, n, scratch, held_missing)
            su4 = _ensure_missing_cpu(before, after, u4, n, scratch, held_missing)
            sd4 = _ensure_missing_cpu(before, after, d4, n, scratch, held_missing)
            ku1 = _ensure_kept_cpu(kept, kprev, knext, has_next, u1, n, scratch, held_kept)
            kd1 = _ensure_kept_cpu(kept, kprev, knext, has_next, d1, n, scratch, held_kept)
            ku3 = _ensure_kept_cpu(kept, kprev, knext, has_next, u3, n, scratch, held_kept)
            kd3 = _ensure_kept_cpu(kept, kprev, knext, has_next, d3, n, scratch, held_kept)
            pu = scratch[_KPREV + ku1]
            pd = scratch[_KPREV + kd1]
            nu = scratch[(_KNEXT if has_next else _KPREV) + ku1]
            nd = scratch[(_KNEXT if has_next else _KPREV) + kd1]
            for k in range(n):
                i = np.uintp(k)
                near[i + step] = _td1_cpu(pu[i], pd[i], nu[i], nd[i])
            for k in range(channels):
                near[k] = near[k + channels]
                near[n + channels + k] = near[n + k]
            slots = (ku1, kd1, ku3, kd3, s0, su2, sd2, su4, sd4)
            mem = memory[row].reshape(-1)
            if inner == 1 and spat == 1 and floor == 0 and use_memory == 1:
                # Most rows: with these as constants LLVM drops the multiplies and maxima they make no-ops.
                one = np.float32(1.0)
                _missing_row_cpu(scratch, slots, mem, dst, n, step, np.float32(0.0), one, one, one)
            else:
                _missing_row_cpu(scratch, slots, mem, dst, n, step, floor, use_memory, inner, spat)


@cuda_kernel
def _adaptive_cuda(kept, before, after, kprev, knext, has_next, parity, floor, use_memory, memory, save, out):
    col, row = cuda.grid(2)
    height, width = kept.shape[0], kept.shape[1]
    if row >= height or col >= width:
        return
    channels = kept.shape[2]
    if save.shape[0] == height:
        for ch in range(channels):
            save[row, col, ch] = kept[row, col, ch]
    if (row & 1) == parity or height < 2:
        for ch in range(channels):
            out[row, col, ch] = kept[row, col, ch]
        return
    u1, d1, u3, d3, u2, d2, u4, d4, inner, spat = _rows_cuda(row, height)
    for ch in range(channels):
        m = np.float32(0.0)
        for x in range(max(col - 1, 0), min(col + 2, width)):
            cu = np.float32(kept[u1, x, ch])
            cd = np.float32(kept[d1, x, ch])
            pu = _kept_change_cuda(np.float32(kprev[u1, x, ch]), cu)
            pd = _kept_change_cuda(np.float32(kprev[d1, x, ch]), cd)
            nu = pu
            nd = pd
            if has_next:
                nu = _kept_change_cuda(np.float32(knext[u1, x, ch]), cu)
                nd = _kept_change_cuda(np.float32(knext[d1, x, ch]), cd)
            m = max(m, _td1_cuda(pu, pd, nu, nd))
        p0 = np.float32(before[row, col, ch])
        n0 = np.float32(after[row, col, ch])
        td0 = abs(p0 - n0)
        raw, motion = _motion_cuda(td0, m, np.float32(memory[row, col, ch]), use_memory)
        memory[row, col, ch] = _round_cuda(raw)
        out[row, col, ch] = _u8_cuda(_adaptive_cuda_px(
            np.float32(kept[u1, col, ch]), np.float32(kept[d1, col, ch]),
            np.float32(kept[u3, col, ch]) + np.float32(kept[d3, col, ch]), p0 + n0, td0,
            np.float32(before[u2, col, ch]) + np.float32(after[u2, col, ch]),
            np.float32(before[d2, col, ch]) + np.float32(after[d2, col, ch]),
            np.float32(before[u4, col, ch]) + np.float32(after[u4, col, ch]),
            np.float32(before[d4, col, ch]) + np.float32(after[d4, col, ch]),
            motion, floor, inner, spat))


def interpolate_field(kept, *, parity: int, before=None, after=None, kept_prev=None, kept_next=None, memory,
                      use_memory: bool = False, out=None, save=None, backend: Backend = CPU):
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
    save : ndarray, optional
        ``(H, W, C) uint8``: also receives a copy of ``kept`` (history for the next frame, in the same pass).
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
    floor = np.float32(0.0)
    if before is None or after is None:
        before = after = kept
        floor = SPATIAL_ONLY
    kept_prev = before if kept_prev is None else kept_prev
    has_next = kept_next is not None
    kept_next = kept_prev if kept_next is None else kept_next
    if save is None:
        save = backend.empty((0, 1, 3))
    args = (has_next, np.int64(parity & 1), floor, np.float32(1.0 if use_memory else 0.0), memory)
    if backend.is_cuda:
        backend.launch_2d(_adaptive_cuda, kept.shape[0], kept.shape[1])(
            kept, before, after, kept_prev, kept_next, *args, save, out)
    else:
        chunks = max(1, min(numba.get_num_threads(), kept.shape[0]))
        _adaptive_cpu(kept, before, after, kept_prev, kept_next, *args, chunks, save, out)
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
        ``(H, W, C) uint8`` destination; must not alias ``frame``.
    backend : Backend

    Returns
    -------
    ndarray
        ``out``.
    """
    if out is None:
        out = backend.empty(frame.shape)
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        return out
    if backend.is_cuda:
        backend.launch_2d(_blend_cuda, frame.shape[0], frame.shape[1])(frame, out)
    else:
        _blend_cpu(frame, out)
    return out


# --- combing probe ---------------------------------------------------------------------------

def probe_layout(height: int, width: int) -> tuple[np.ndarray, int, int]:
    """Where a probe samples a ``height x width`` frame.

    Returns
    -------
    rows : ndarray
        ``(G,) int64`` even centre rows of the sampled groups (each spans centre-2 .. centre+2);
        empty for frames under :data:`PROBE_ROWS` rows.
    col_step : int
        Every ``col_step``-th column is sampled (about 640 columns).
    cols : int
        Sampled columns.
    """
    col_step = max(1, width // 640)
    cols = (width + col_step - 1) // col_step
    if height < PROBE_ROWS:
        return np.zeros(0, np.int64), col_step, cols
    last = (height - 3) // 2 * 2  # largest even centre with two rows below it
    count = min(PROBE_GROUPS, (last - 2) // 2 + 1)
    rows = 2 + 2 * np.round(np.linspace(0, (last - 2) // 2, count)).astype(np.int64)
    return rows, col_step, cols


@cpu_kernel
def _probe_cpu(frame, rows, col_step, out):
    cols = out.shape[2]
    channels = frame.shape[2]
    for g in prange(rows.shape[0]):
        for r in range(PROBE_ROWS):
            src = frame[rows[g] - 2 + r].reshape(-1)
            dst = out[g, r]
            if channels == 1:  # a luma plane is its own proxy
                for j in range(cols):
                    dst[j] = np.float32(src[np.uintp(j * col_step)])
                continue
            for j in range(cols):
                i = np.uintp(channels * j * col_step)
                dst[j] = _proxy_cpu(np.float32(src[i]), np.float32(src[i + np.uintp(1)]),
                                    np.float32(src[i + np.uintp(2)]))


@cuda_kernel
def _probe_cuda(frame, rows, col_step, out):
    j, gr = cuda.grid(2)
    if gr >= out.shape[0] * PROBE_ROWS or j >= out.shape[2]:
        return
    g = gr // PROBE_ROWS
    r = gr - g * PROBE_ROWS
    y = rows[g] - 2 + r
    x = j * col_step
    if frame.shape[2] == 1:  # a luma plane is its own proxy
        out[g, r, j] = np.float32(frame[y, x, 0])
    else:
        out[g, r, j] = _proxy_cuda(np.float32(frame[y, x, 0]), np.float32(frame[y, x, 1]),
                                   np.float32(frame[y, x, 2]))


def comb_probe(frame, rows, col_step: int, *, out, backend: Backend = CPU):
    """Sample a frame for :func:`comb_measures` (layout from :func:`probe_layout`).

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3) uint8`` BGR (sampled as a luma proxy) or an ``(H, W, 1)`` luma plane (sampled
        as is), on ``backend``.
    rows : ndarray
        Centre rows from :func:`probe_layout`, on ``backend``.
    col_step : int
    out : ndarray
        ``(G, PROBE_ROWS, cols) float32`` on ``backend``.
    backend : Backend

    Returns
    -------
    ndarray
        ``out``.
    """
    if out.shape[0] == 0 or out.shape[2] == 0:
        return out
    if backend.is_cuda:
        backend.launch_2d(_probe_cuda, out.shape[0] * PROBE_ROWS, out.shape[2])(frame, rows, int(col_step), out)
    else:
        _probe_cpu(frame, rows, int(col_step), out)
    return out


@cpu_kernel
def _measures_cpu(prev, cur, partial):
    cols = cur.shape[2]
    for g in prange(cur.shape[0]):
        p = prev[g]
        c = cur[g]
        own = cross_a = cross_b = field = np.float32(0.0)
        for j in range(cols):
            # Rows 0, 2, 4 are of the top field, 1 and 3 of the bottom field.
            t0, b1, t2, b3, t4 = c[0, j], c[1, j], c[2, j], c[3, j], c[4, j]
            pt0, pb1, pt2, pb3, pt4 = p[0, j], p[1, j], p[2, j], p[3, j], p[4, j]
            own += abs(t0 + t2 - b1 - b1) + abs(b1 + b3 - t2 - t2) + abs(t2 + t4 - b3 - b3)
            # This frame's top field against the previous bottom field, and the reverse.
            cross_a += abs(t0 + t2 - pb1 - pb1) + abs(pb1 + pb3 - t2 - t2) + abs(t2 + t4 - pb3 - pb3)
            cross_b += abs(pt0 + pt2 - b1 - b1) + abs(b1 + b3 - pt2 - pt2) + abs(pt2 + pt4 - b3 - b3)
            field += abs(t0 + t4 - t2 - t2)
        partial[g, 0] = own
        partial[g, 1] = cross_a
        partial[g, 2] = cross_b
        partial[g, 3] = field


def comb_measures(prev, cur) -> np.ndarray:
    """Combing sums of two consecutive host probes, per sampled row and column.

    Returns
    -------
    ndarray
        ``(4,) float64``: ``own`` (vertical zig-zag of ``cur`` as woven), ``tff`` (``cur``'s top field
        woven with ``prev``'s bottom field), ``bff`` (``prev``'s top field with ``cur``'s bottom field)
        and ``field`` (zig-zag within ``cur``'s top field, rows two apart), each divided by the number
        of terms.  Progressive frames weave best as they are (``own`` smallest) and show no order
        (``tff ~ bff``); woven fields of a moving scene pair best with the field next in time, so
        the smaller of ``tff``/``bff`` names the order.  Zeros when the probe is empty.
    """
    if cur.shape[0] == 0 or cur.shape[2] == 0:
        return np.zeros(4)
    partial = np.empty((cur.shape[0], 4), np.float32)
    _measures_cpu(prev, cur, partial)
    sums = partial.astype(np.float64).sum(axis=0)
    terms = cur.shape[0] * cur.shape[2]
    return np.array([sums[0] / (3 * terms), sums[1] / (3 * terms), sums[2] / (3 * terms), sums[3] / terms])
