"""Deinterlacing kernels: a NumPy reference of the field interpolator, blending, the combing probe, properties."""
import cv2
import numpy as np
import pytest

from kernels.comb import comb_measures, comb_probe, probe_layout
from kernels.deinterlace import HF, LF, MOTION_CORE, SP, SPATIAL_ONLY, blend_fields, interpolate_field

from conftest import host, on

F32 = np.float32


def _rows_ref(y, h):
    u1 = y - 1 if y >= 1 else y + 1
    d1 = y + 1 if y + 1 < h else y - 1
    u2 = y - 2 if y >= 2 else y
    d2 = y + 2 if y + 2 < h else y
    return {"u1": u1, "d1": d1, "u3": y - 3 if y >= 3 else u1, "d3": y + 3 if y + 3 < h else d1, "u2": u2, "d2": d2,
            "u4": y - 4 if y >= 4 else u2, "d4": y + 4 if y + 4 < h else d2,
            "inner": y >= 4 and y + 5 <= h, "spat": y >= 2 and y + 3 <= h}


def interpolate_ref(kept, parity, before, after, kprev, knext, memory, use_memory, floor=0):
    """The documented algorithm, row by row in NumPy int64, exact; returns (out, memory).

    Written in levels: ``d`` and the motion are halves of integers, the filters fractions of
    8192 and 32768; everything is scaled to integers by 32768 before the one rounding.
    """
    i64 = np.int64
    h = kept.shape[0]
    k, b, a, p, n = (x.astype(i64) for x in (kept, before, after, kprev, knext))
    out, mem = kept.copy(), memory.copy()
    scale = 32768
    for y in range(h):
        if (y & 1) == parity or h < 2:
            continue
        r = _rows_ref(y, h)
        c, e, c3 = k[r["u1"]], k[r["d1"]], k[r["u3"]] + k[r["d3"]]
        dsum, td0 = b[y] + a[y], np.abs(b[y] - a[y])
        du2, dd2 = b[r["u2"]] + a[r["u2"]], b[r["d2"]] + a[r["d2"]]
        du4, dd4 = b[r["u4"]] + a[r["u4"]], b[r["d4"]] + a[r["d4"]]
        # In half-levels from here: td1 is the mean of two differences, d half of dsum.
        td1 = np.maximum(np.abs(p[r["u1"]] - c) + np.abs(p[r["d1"]] - e),
                         np.abs(n[r["u1"]] - c) + np.abs(n[r["d1"]] - e))
        padded = np.concatenate([td1[:1], td1, td1[-1:]])
        near = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])
        raw = np.maximum(2 * td0, near)
        motion = np.maximum(np.maximum(raw, 2 * mem[y].astype(i64) * int(use_memory)) - MOTION_CORE, 0)
        mem[y] = (raw + 1) // 2  # levels, rounded half up
        diff = np.maximum(motion, floor)
        bb, ff = du2 - 2 * c, dd2 - 2 * e
        dc, de = dsum - 2 * c, dsum - 2 * e
        hi = np.maximum(np.maximum(de, dc), np.minimum(bb, ff))
        lo = np.minimum(np.minimum(de, dc), np.maximum(bb, ff))
        widen = np.maximum(lo, -hi) * int(r["spat"])
        diff = np.where(diff > 0, np.maximum(diff, widen), 0)
        # The filters, in 1/32768 of a level.
        ce = c + e
        sp = 4 * (SP[0] * ce - SP[1] * c3)
        hf = HF[0] * dsum - HF[1] * (du2 + dd2) + HF[2] * (du4 + dd4) + 4 * (LF[0] * ce - LF[1] * c3)
        interp = np.where(2 * np.abs(c - e) > np.maximum(2 * td0, floor), hf, sp)
        if not r["inner"]:
            interp = ce * (scale // 2)
        v = np.clip(interp, (dsum - diff) * (scale // 2), (dsum + diff) * (scale // 2))
        out[y] = np.clip((v + scale // 2) // scale, 0, 255)
    return out, mem


def woven(frames, tff=True):
    """Interlaced frames from a progressive sequence: frame k = fields of frames 2k and 2k+1."""
    out = []
    for first, second in zip(frames[0::2], frames[1::2]):
        w = first.copy()
        if tff:
            w[1::2] = second[1::2]
        else:
            w[0::2] = second[0::2]
        out.append(w)
    return out


def moving_scene(n, height, width, speed=1.5, seed=0):
    """A detailed picture (cubic-upsampled noise) panning diagonally, as a progressive sequence."""
    rng = np.random.default_rng(seed)
    big = rng.integers(0, 256, ((height + 64) // 4, (width + 64) // 4, 3)).astype(np.uint8)
    base = cv2.resize(big, (big.shape[1] * 4, big.shape[0] * 4), interpolation=cv2.INTER_CUBIC)
    frames = []
    for t in range(n):
        off = round(speed * t) % 60
        frames.append(np.ascontiguousarray(base[off:off + height, off:off + width]))
    return frames


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


CASES = [(37, 53), (36, 20), (9, 5), (2, 7), (3, 4)]


@pytest.mark.parametrize("shape", CASES)
@pytest.mark.parametrize("parity", [0, 1])
@pytest.mark.parametrize("lookahead", [False, True])
def test_interpolate_matches_reference(backend, shape, parity, lookahead):
    rng = np.random.default_rng(shape[0] * 7 + parity)
    f = [rng.integers(0, 256, shape + (3,)).astype(np.uint8) for _ in range(3)]
    memory = rng.integers(0, 40, shape + (3,)).astype(np.uint8)
    knext = on(backend, f[2]) if lookahead else None
    mem = on(backend, memory.copy())  # on the CPU, on() is the array itself
    out = interpolate_field(on(backend, f[1]), parity=parity, before=on(backend, f[0]), after=on(backend, f[1]),
                            kept_prev=on(backend, f[0]), kept_next=knext, memory=mem, use_memory=True,
                            backend=backend)
    ref, ref_mem = interpolate_ref(f[1], parity, f[0], f[1], f[0], f[2] if lookahead else f[0], memory, 1)
    # Integer math throughout (int16 sums and shifts): exact on every target.
    np.testing.assert_array_equal(host(backend, out), ref)
    np.testing.assert_array_equal(host(backend, mem), ref_mem)


@pytest.mark.parametrize("parity", [0, 1])
def test_one_channel_plane_matches_reference(backend, parity):
    # An I420 plane goes in as an (h, w, 1) view: neighbours are one sample apart, not three.
    rng = np.random.default_rng(11 + parity)
    planes = [rng.integers(0, 256, (30, 44)).astype(np.uint8) for _ in range(3)]
    memory = rng.integers(0, 40, (30, 44, 1)).astype(np.uint8)
    mem = on(backend, memory.copy())  # on the CPU, on() is the array itself
    f = [p[:, :, None] for p in planes]
    out = interpolate_field(on(backend, f[1]), parity=parity, before=on(backend, f[0]), after=on(backend, f[1]),
                            kept_prev=on(backend, f[0]), kept_next=on(backend, f[2]), memory=mem, use_memory=True,
                            backend=backend)
    out = host(backend, out)
    ref, ref_mem = interpolate_ref(f[1], parity, f[0], f[1], f[0], f[2], memory, 1)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(host(backend, mem), ref_mem)
    # The same samples as one channel of a BGR frame give the same result (channels never mix).
    bgr = [np.repeat(x, 3, axis=2) for x in f]
    bgr_out = interpolate_field(bgr[1], parity=parity, before=bgr[0], after=bgr[1], kept_prev=bgr[0],
                                kept_next=bgr[2], memory=np.repeat(memory, 3, axis=2), use_memory=True)
    np.testing.assert_array_equal(bgr_out[:, :, 1:2], out)


def test_i420_plane_views_interpolate_each_plane():
    """The planes of one I420 array, as views, come out as each plane deinterlaced alone."""
    from kernels.planes import i420_planes, i420_shape

    rng = np.random.default_rng(12)
    prev, cur = (rng.integers(0, 256, i420_shape(12, 16)).astype(np.uint8) for _ in range(2))
    out, memory = np.zeros_like(cur), np.zeros_like(cur)
    views = [[p[:, :, None] for p in i420_planes(x)] for x in (prev, cur, out, memory)]
    for b, k, o, m in zip(*views):
        interpolate_field(k, parity=1, before=b, after=k, memory=m, out=o)
    for b, k, o in zip(i420_planes(prev), i420_planes(cur), i420_planes(out)):
        ref, _ = interpolate_ref(k[:, :, None], 1, b[:, :, None], k[:, :, None], b[:, :, None], b[:, :, None],
                                 np.zeros(k.shape + (1,), np.uint8), 0)
        np.testing.assert_array_equal(o, ref[:, :, 0])
        np.testing.assert_array_equal(o[1::2], k[1::2])  # the kept field is untouched


@pytest.mark.parametrize("channels", [1, 3])
def test_still_runs_match_reference(channels):
    """Rows with still and moving runs (the CPU loop shortcuts runs where nothing moves) against the reference."""
    from kernels.deinterlace import STILL_RUN

    width = (2 * STILL_RUN + 44) // channels + 1  # runs straddle pixels for BGR; a short last run
    rng = np.random.default_rng(21 + channels)
    prev = rng.integers(0, 256, (24, width, channels)).astype(np.uint8)
    cur = prev.copy()
    moving = slice(STILL_RUN // channels + 3, STILL_RUN // channels + 9)
    cur[:, moving] = rng.integers(0, 256, cur[:, moving].shape)
    cur[5:7, -2:] = 200  # motion on a few rows of the last run only
    memory = np.zeros_like(cur)
    memory[9, :4] = 30  # remembered motion alone keeps a run moving
    for use_memory in (True, False):
        mem = memory.copy()
        out = interpolate_field(cur, parity=0, before=prev, after=cur, memory=mem, use_memory=use_memory)
        ref, ref_mem = interpolate_ref(cur, 0, prev, cur, prev, prev, memory, int(use_memory))
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_array_equal(mem, ref_mem)


@pytest.mark.parametrize("shape", [(37, 53), (6, 3)])
def test_spatial_only_matches_reference(backend, shape):
    frame = np.random.default_rng(3).integers(0, 256, shape + (3,)).astype(np.uint8)
    out = interpolate_field(on(backend, frame), parity=0, memory=on(backend, np.zeros_like(frame)), backend=backend)
    ref, _ = interpolate_ref(frame, 0, frame, frame, frame, frame, np.zeros_like(frame), 0, SPATIAL_ONLY)
    np.testing.assert_array_equal(host(backend, out), ref)


def test_kept_rows_copied_input_untouched():
    rng = np.random.default_rng(5)
    prev, cur = (rng.integers(0, 256, (21, 30, 3)).astype(np.uint8) for _ in range(2))
    before = cur.copy()
    out = interpolate_field(cur, parity=1, before=prev, after=cur, memory=np.zeros_like(cur))
    np.testing.assert_array_equal(out[1::2], cur[1::2])
    np.testing.assert_array_equal(cur, before)


def test_still_scene_is_lossless():
    # A still picture woven from itself: nothing moves, so the missing rows come back exactly.
    frame = moving_scene(1, 40, 48)[0]
    memory = np.zeros_like(frame)
    out = interpolate_field(frame, parity=0, before=frame, after=frame, memory=memory, use_memory=True)
    np.testing.assert_array_equal(out, frame)


def still_and_moving(n, height, width):
    """A still detailed background with a detailed patch moving across it (progressive sequence)."""
    background = moving_scene(1, height, width, seed=1)[0]
    patch = moving_scene(1, height // 2, width // 3, seed=2)[0]
    frames = []
    for t in range(n):
        f = background.copy()
        y, x = height // 4 + (t % 3), 2 + 2 * t
        f[y:y + patch.shape[0], x:x + patch.shape[1]] = patch[:, : max(0, min(patch.shape[1], width - x))]
        frames.append(f)
    return frames


@pytest.mark.parametrize("tff", [True, False])
def test_motion_adaptive_beats_weave_and_line_doubling(tff):
    truth = still_and_moving(24, 72, 96)
    fields = woven(truth, tff)
    parity = 0 if tff else 1
    memory = np.zeros_like(fields[0])
    scores, weave, spatial = [], [], []
    for k in range(1, len(fields)):
        out = interpolate_field(fields[k], parity=parity, before=fields[k - 1], after=fields[k], memory=memory,
                                use_memory=k > 1)
        scores.append(psnr(out, truth[2 * k]))
        weave.append(psnr(fields[k], truth[2 * k]))
        alone = interpolate_field(fields[k], parity=parity, memory=np.zeros_like(memory))
        spatial.append(psnr(alone, truth[2 * k]))
    # Still areas come back with full detail, moving ones without combing.
    assert np.mean(scores) > np.mean(weave) + 3.0
    assert np.mean(scores) > np.mean(spatial) + 0.3


def test_tiny_frames_do_not_crash():
    for shape in [(1, 1), (1, 9), (2, 1), (3, 2)]:
        frame = np.random.default_rng(1).integers(0, 256, shape + (3,)).astype(np.uint8)
        for parity in (0, 1):
            out = interpolate_field(frame, parity=parity, before=frame, after=frame, memory=np.zeros_like(frame))
            assert out.shape == frame.shape
            if shape[0] == 1:
                np.testing.assert_array_equal(out, frame)


def blend_ref(frame):
    f = frame.astype(np.float32)
    h = f.shape[0]
    up = f[[abs(y - 1) if h > 1 else y for y in range(h)]]
    down = f[[y + 1 if y + 1 < h else max(y - 1, 0) for y in range(h)]]
    return (np.clip((up + f + f + down) * F32(0.25), 0, 255) + F32(0.5)).astype(np.uint8)


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("shape", [(37, 53), (2, 3), (1, 4)])
def test_blend_matches_reference_and_removes_combing(shape, channels):
    frame = np.random.default_rng(2).integers(0, 256, shape + (channels,)).astype(np.uint8)
    np.testing.assert_array_equal(blend_fields(frame), blend_ref(frame))
    combed = np.zeros((16, 8, 3), np.uint8)
    combed[1::2] = 200  # the strongest combing there is: every other line
    out = blend_fields(combed)
    assert np.ptp(out[1:-1].astype(int)) == 0


def test_probe_and_measures():
    truth = moving_scene(8, 120, 200, speed=2.0)
    rows, step, cols = probe_layout(120, 200)
    assert rows.size > 0 and np.all(rows % 2 == 0) and rows.min() >= 2 and rows.max() + 2 <= 119

    def probe(frame):
        return comb_probe(frame, rows, step, out=np.empty((rows.size, 5, cols), np.float32))

    # Progressive: own weave best, no order asymmetry.
    own, tff, bff, field = comb_measures(probe(truth[2]), probe(truth[3]))
    assert own < 0.8 * min(tff, bff) and 0.9 < tff / bff < 1.1
    # Woven top-field-first: zig-zag, and the top field pairs best with the previous bottom field.
    fields = woven(truth)
    own, tff, bff, field = comb_measures(probe(fields[1]), probe(fields[2]))
    assert own > field and tff < 0.8 * bff
    fields = woven(truth, tff=False)
    own, tff, bff, field = comb_measures(probe(fields[1]), probe(fields[2]))
    assert bff < 0.8 * tff
    # Probe values are the luma proxy (b + 2g + r) / 4 of the sampled pixels.
    p = probe(truth[0])
    expect = truth[0][rows[0] - 2:rows[0] + 3, ::step].astype(np.float32) @ np.array([0.25, 0.5, 0.25], np.float32)
    np.testing.assert_allclose(p[0], expect, atol=1e-4)
    # A luma plane ((h, w, 1)) is sampled as is.
    luma = cv2.cvtColor(truth[0], cv2.COLOR_BGR2GRAY)[:, :, None]
    np.testing.assert_array_equal(probe(luma)[0], luma[rows[0] - 2:rows[0] + 3, ::step, 0])


def test_probe_layout_small_frames():
    for h in range(5):
        rows, _, _ = probe_layout(h, 8)
        assert rows.size == 0
    rows, _, _ = probe_layout(5, 8)
    assert list(rows) == [2]
    rows, step, cols = probe_layout(1080, 1920)
    assert step == 3 and cols == 640 and rows.size == 48
