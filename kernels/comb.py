"""Combing probes: :func:`comb_probe` and :func:`comb_measures` measure combing on a few sampled
row groups (luma or a luma proxy, every ``col_step``-th column) so a detector can tell woven
fields from progressive frames and the field order, at a small fraction of a frame's cost.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_kernel, cuda, cuda_kernel, twin

#: Rows of one probe group: two rows above a sampled even row, it, and two below.
PROBE_ROWS = 5
#: Row groups a probe samples at most.
PROBE_GROUPS = 48


def _proxy_px(b, g, r):
    # A luma proxy: any fixed weighting shows combing; this one is cheap and channel-fair.
    return (b + g + g + r) * np.float32(0.25)



_proxy_cpu, _proxy_cuda = twin(_proxy_px)


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
        ``(G, PROBE_ROWS, cols) float32`` on ``backend``. Returned.
    backend : Backend
    """
    if out.shape[0] == 0 or out.shape[2] == 0:
        return out
    backend.run_2d(_probe_cpu, _probe_cuda, out.shape[0] * PROBE_ROWS, out.shape[2], frame, rows, int(col_step), out)
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
