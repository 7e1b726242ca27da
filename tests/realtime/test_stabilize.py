"""The stabilize stage: it lowers jitter, keeps one output per input with lookahead, survives bad input."""
import math

import cv2
import numpy as np
import pytest

from kernels.backend import CPU
from kernels.colorspace import YuvFormat
from kernels.planes import i420_planes
from realtime.errors import ConfigError
from realtime.frames import Frame
from realtime.pipeline import Pipeline
from realtime.settings import build_settings
from realtime.stages import STAGES
from realtime.stages.stabilize import StabilizeParams, StabilizeStage, auto_smoothing

from tests.conftest import run_vqe


def texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w), np.float32)
    for sigma in (1.0, 3.0, 8.0):
        img += cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), sigma) * sigma
    img = 128 + (img - img.mean()) * (55 / max(img.std(), 1e-6))
    gray = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.stack([gray, np.roll(gray, 3, axis=1), np.roll(gray, 5, axis=0)], axis=-1))


def shaken_sequence(n=60, h=120, w=200, shake_px=3.0, pan_px=1.0, seed=0):
    """Frames of a large picture seen through a window that pans and shakes; returns frames and positions."""
    rng = np.random.default_rng(seed)
    big = texture(h + 80, w + 80 + int(pan_px * n), seed)
    xs = 40 + pan_px * np.arange(n) + shake_px * rng.standard_normal(n)
    ys = 40 + shake_px * rng.standard_normal(n)
    frames = []
    for x, y in zip(xs, ys):
        m = np.array([[1.0, 0.0, x], [0.0, 1.0, y]])
        frames.append(cv2.warpAffine(big, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP))
    return frames, xs, ys


def run_stage(stage, images):
    outs = []
    for i, img in enumerate(images):
        for f in stage.push(Frame(img, i, i / 30.0, 100.0 + i)):
            outs.append((f.index, f.pts_s, f.image.copy(), stage.last_correction, stage.last_zoom))
    for f in stage.flush():
        outs.append((f.index, f.pts_s, f.image.copy(), stage.last_correction, stage.last_zoom))
    return outs


def high_pass_rms(v, sigma=3.0):
    r = int(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    low = np.convolve(np.pad(v, r, mode="reflect"), k, mode="valid")
    return float(np.sqrt(np.mean((v - low) ** 2)))


@pytest.mark.parametrize("lookahead", [0, 4])
def test_stabilizer_lowers_jitter(lookahead):
    frames, xs, ys = shaken_sequence()
    outs = run_stage(StabilizeStage(StabilizeParams(lookahead=lookahead), CPU), frames)
    assert [o[0] for o in outs] == list(range(len(frames)))
    # Content position in the output: the window position moved by the applied correction.
    out_x = -xs + np.array([o[3][0] for o in outs])
    out_y = -ys + np.array([o[3][1] for o in outs])
    jitter_in = math.hypot(high_pass_rms(xs), high_pass_rms(ys))
    jitter_out = math.hypot(high_pass_rms(out_x[10:]), high_pass_rms(out_y[10:]))
    assert jitter_out < 0.5 * jitter_in
    # And the pictures agree: consecutive output frames differ less than consecutive inputs.
    diff_in = np.mean([np.abs(a.astype(int) - b)[20:-20, 20:-20].mean() for a, b in zip(frames[10:], frames[11:])])
    o = [x[2] for x in outs]
    diff_out = np.mean([np.abs(a.astype(int) - b)[20:-20, 20:-20].mean() for a, b in zip(o[10:], o[11:])])
    assert diff_out < 0.8 * diff_in


@pytest.mark.parametrize("lookahead", [0, 5])
def test_steady_pan_is_followed_not_fought(lookahead):
    frames, _, _ = shaken_sequence(n=40, shake_px=0.0, pan_px=5.0)
    outs = run_stage(StabilizeStage(StabilizeParams(lookahead=lookahead), CPU), frames)
    # After the filter has learnt the pan's speed, the correction is (nearly) nothing.
    assert max(abs(o[3][0]) for o in outs[15:]) < 1.0


@pytest.mark.parametrize("lookahead", [0, 1, 3, 7])
def test_lookahead_delays_and_flushes_one_output_per_input(lookahead):
    frames, _, _ = shaken_sequence(n=12, h=64, w=96)
    stage = StabilizeStage(StabilizeParams(lookahead=lookahead), CPU)
    assert stage.delay_frames == lookahead
    got = []
    for i, img in enumerate(frames):
        ready = stage.push(Frame(img, i, i / 25.0, 50.0 + i))
        assert len(ready) == (1 if i >= lookahead else 0)
        got.extend((f.index, f.pts_s, f.capture_s) for f in ready)
    tail = stage.flush()
    assert len(tail) == min(lookahead, len(frames))
    # Frames flushed together are distinct buffers, each valid at once.
    assert len({id(f.image) for f in tail}) == len(tail)
    got.extend((f.index, f.pts_s, f.capture_s) for f in tail)
    assert got == [(i, i / 25.0, 50.0 + i) for i in range(len(frames))]
    assert stage.flush() == []


def test_held_frames_are_copies():
    frames, _, _ = shaken_sequence(n=6, h=64, w=96)
    stage = StabilizeStage(StabilizeParams(lookahead=2, border="replicate"), CPU)
    buf = np.empty_like(frames[0])
    outs = []
    for i, img in enumerate(frames):
        buf[...] = img  # a producer that reuses its buffer
        outs += [f.image.copy() for f in stage.push(Frame(buf, i, 0.0, 0.0))]
    outs += [f.image.copy() for f in stage.flush()]
    for a, b in zip(outs, frames):
        # Each output is its own input, corrected by a few pixels at most: compare the middle.
        assert np.abs(a.astype(int) - b)[16:-16, 16:-16].mean() < np.abs(frames[0].astype(int) - frames[5]).mean()


def test_static_camera_gives_the_input_back():
    base = texture(96, 128, 3)
    rng = np.random.default_rng(1)
    frames = [np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8) for _ in range(30)]
    outs = run_stage(StabilizeStage(StabilizeParams(lookahead=2), CPU), frames)
    for (_, _, img, corr, zoom), src in zip(outs, frames):
        assert abs(corr[0]) < 0.3 and abs(corr[1]) < 0.3 and zoom < 1.01
        assert np.abs(img.astype(int) - src)[8:-8, 8:-8].mean() < 1.5


@pytest.mark.parametrize("lookahead", [0, 3])
def test_scene_cut_restarts_the_path(lookahead):
    a, _, _ = shaken_sequence(n=12, shake_px=4.0, seed=0)
    b = [np.ascontiguousarray(255 - f[::-1]) for f in shaken_sequence(n=6, shake_px=0.0, seed=5)[0]]
    stage = StabilizeStage(StabilizeParams(lookahead=lookahead), CPU)
    outs = run_stage(stage, a + b)
    assert [o[0] for o in outs] == list(range(18))
    assert stage.motion_for(12).cut
    first_b = outs[12]
    assert first_b[3] == (0.0, 0.0, 0.0, 0.0) and first_b[4] == 1.0
    assert np.array_equal(first_b[2], b[0])


def test_motion_is_exposed():
    frames, _, _ = shaken_sequence(n=8, pan_px=2.0, shake_px=0.0)
    stage = StabilizeStage(StabilizeParams(lookahead=0), CPU)
    for i, img in enumerate(frames):
        stage.push(Frame(img, i, 0.0, 0.0))
    m = stage.last_motion
    assert m is not None and m.valid
    assert abs(m.dx_px + 2.0) < 0.3 and abs(m.dy_px) < 0.3  # the window moves right: content moves left
    assert stage.motion_for(5) is not None and stage.motion_for(999) is None
    assert stage.delay_ms(25.0) == 0.0


def check_outputs(outs, frames):
    assert len(outs) == len(frames)
    for (idx, _, img, corr, zoom), src in zip(outs, frames):
        assert img.shape == src.shape and img.dtype == np.uint8
        assert all(math.isfinite(c) for c in corr) and math.isfinite(zoom)


@pytest.mark.parametrize("case", ["black", "repeated", "rot90", "tiny", "extreme", "noise"])
@pytest.mark.parametrize("lookahead", [0, 3])
def test_bad_input_degrades_to_identity(case, lookahead):
    frames, _, _ = shaken_sequence(n=16, h=96, w=128)
    if case == "black":
        frames = frames[:5] + [np.zeros_like(frames[0])] * 6 + frames[5:10]
    elif case == "repeated":
        frames = [frames[0]] * 12
    elif case == "rot90":
        sq = [np.ascontiguousarray(f[:, :96]) for f in frames]
        frames = sq[:8] + [np.ascontiguousarray(np.rot90(f)) for f in sq[8:]]
    elif case == "tiny":
        frames = [np.ascontiguousarray(f[:20, :24]) for f in frames[:6]]
    elif case == "extreme":
        big = texture(600, 600, 9)
        rng = np.random.default_rng(2)
        frames = [np.ascontiguousarray(np.roll(big, tuple(rng.integers(-150, 150, 2)), axis=(0, 1))[:96, :128])
                  for _ in range(12)]
    else:
        rng = np.random.default_rng(3)
        frames = [rng.integers(0, 256, (96, 128, 3)).astype(np.uint8) for _ in range(10)]
    stage = StabilizeStage(StabilizeParams(lookahead=lookahead), CPU)
    outs = run_stage(stage, frames)
    check_outputs(outs, frames)
    if case == "repeated":
        for _, _, img, corr, _ in outs:
            assert np.array_equal(img, frames[0]) or max(abs(c) for c in corr[:2]) < 0.1
    if case == "tiny":
        for (_, _, img, _, _), src in zip(outs, frames):
            assert np.array_equal(img, src)
    if case == "extreme":
        for _, _, _, _, zoom in outs:
            assert zoom <= 1 / StabilizeParams().min_crop + 1e-6


def test_single_pixel_and_frame_size_change():
    stage = StabilizeStage(StabilizeParams(lookahead=2), CPU)
    a, _, _ = shaken_sequence(n=5, h=64, w=96)
    b, _, _ = shaken_sequence(n=5, h=48, w=80, seed=1)
    one = [np.full((1, 1, 3), 9, np.uint8)] * 3
    seq = a + b + one
    outs = run_stage(stage, seq)
    check_outputs(outs, seq)
    assert [o[0] for o in outs] == list(range(len(seq)))


@pytest.mark.parametrize("text", ["stabilize.lookahead=-1", "stabilize.lookahead=61", "stabilize.lookahead=2.5",
                                  "stabilize.border=mirror", "stabilize.min_crop=0.2", "stabilize.smoothing=-3",
                                  "stabilize.analysis_width=10", "stabilize.scene_cut=2"])
def test_out_of_range_params_are_config_errors(text):
    with pytest.raises(ConfigError, match="stabilize"):
        build_settings(stages="stabilize", overrides=(text,), backend="cpu")


def test_registry_and_auto_smoothing():
    assert "stabilize" in STAGES
    names = list(STAGES)
    if "denoise" in names:
        assert names.index("denoise") < names.index("stabilize")
    assert auto_smoothing(0) > auto_smoothing(3) > auto_smoothing(5) == auto_smoothing(30) > 1


def test_pipeline_push_flush_counts_and_delay():
    frames, _, _ = shaken_sequence(n=10, h=64, w=96)
    pipe = Pipeline(build_settings(stages="stabilize", overrides=("stabilize.lookahead=4",), backend="cpu"))
    assert pipe.delay_frames == 4
    out = []
    for i, img in enumerate(frames):
        out += [f.index for f in pipe.push(Frame(img, i, 0.0, 0.0))]
    out += [f.index for f in pipe.flush()]
    assert out == list(range(10))


def test_cli_file_mode_writes_one_frame_per_input(make_y4m, tmp_path):
    from realtime.y4m import Y4mReader

    frames, _, _ = shaken_sequence(n=9, h=64, w=96)
    src = make_y4m(frames)
    dst = tmp_path / "out.y4m"
    res = run_vqe("--file", src, "-o", dst, "--no-display", "--no-progress", "--stages", "stabilize",
                  "--set", "stabilize.lookahead=3", "--stats", tmp_path / "stats.json", timeout_s=120)
    assert res.returncode == 0, res.stderr
    reader = Y4mReader(dst)
    n = 0
    while reader.read_planes() is not None:
        n += 1
    reader.close()
    assert n == len(frames)
    assert '"delay_frames": 3' in (tmp_path / "stats.json").read_text()


@pytest.mark.cuda
@pytest.mark.parametrize("kind", ["bgr", "i420"])
def test_cuda_stage_matches_cpu_stage(cuda_backend, kind):
    """The device path (held copies, thumbnail kernel, warp kernel) against the CPU stage, tiny frames."""
    frames, _, _ = shaken_sequence(n=4, h=34, w=40, shake_px=1.5)
    if kind == "i420":
        frames = i420_clip(frames)
    params = StabilizeParams(lookahead=1, analysis_width=64)
    cpu = run_stage(StabilizeStage(params, CPU), frames)
    gpu_stage = StabilizeStage(params, cuda_backend)
    gpu = []
    for i, img in enumerate(frames):
        gpu += [cuda_backend.to_host(f.image).copy() for f in gpu_stage.push(Frame(cuda_backend.asarray(img), i, 0, 0))]
    gpu += [cuda_backend.to_host(f.image).copy() for f in gpu_stage.flush()]
    assert len(gpu) == len(cpu)
    for a, (_, _, b, _, _) in zip(gpu, cpu):
        # OpenCV's 8-bit thumbnail and 1/32-px warp on the CPU, float32 on the device: close, not equal.
        assert np.abs(a.astype(int) - b).mean() < 3.0


# --- I420 frames --------------------------------------------------------------------------------

def i420_clip(frames):
    """I420 frames whose chroma planes are the 2x2 box average of the luma plane (so the planes'
    geometry can be compared) and of its negative."""
    out = []
    for f in frames:
        y = cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)
        u = cv2.resize(y, (y.shape[1] // 2, y.shape[0] // 2), interpolation=cv2.INTER_AREA)
        out.append(np.concatenate([y.ravel(), u.ravel(), (255 - u).ravel()]).reshape(-1, y.shape[1]))
    return out


def planar_stage(full_range=False, **params):
    stage = StabilizeStage(StabilizeParams(**params), CPU)
    stage.yuv_format = YuvFormat("bt709", full_range)
    return stage


@pytest.mark.parametrize("lookahead", [0, 4])
def test_i420_shaken_clip_gets_lower_jitter(lookahead):
    frames, xs, ys = shaken_sequence()
    clip = i420_clip(frames)
    outs = run_stage(planar_stage(lookahead=lookahead), clip)
    assert [o[0] for o in outs] == list(range(len(clip)))
    out_x = -xs + np.array([o[3][0] for o in outs])
    out_y = -ys + np.array([o[3][1] for o in outs])
    jitter_in = math.hypot(high_pass_rms(xs), high_pass_rms(ys))
    jitter_out = math.hypot(high_pass_rms(out_x[10:]), high_pass_rms(out_y[10:]))
    assert jitter_out < 0.5 * jitter_in
    luma_in = [i420_planes(f)[0] for f in clip]
    luma_out = [i420_planes(o[2])[0] for o in outs]
    diff_in = np.mean([np.abs(a.astype(int) - b)[20:-20, 20:-20].mean() for a, b in zip(luma_in[10:], luma_in[11:])])
    diff_out = np.mean([np.abs(a.astype(int) - b)[20:-20, 20:-20].mean() for a, b in zip(luma_out[10:], luma_out[11:])])
    assert diff_out < 0.8 * diff_in
    # The chroma planes moved with the luma plane, on their half-resolution grid: they are still the
    # box average of the output luma (bilinear and box do not commute exactly on this sharp texture:
    # about 3 levels; a chroma plane warped with the luma matrix is about 20 off).
    for _, _, img, corr, _ in outs[10:]:
        y, u, v = i420_planes(img)
        box = cv2.resize(y, (u.shape[1], u.shape[0]), interpolation=cv2.INTER_AREA).astype(int)
        assert np.abs(u.astype(int) - box)[10:-10, 10:-10].mean() < 5.0
        assert np.abs(255 - v.astype(int) - box)[10:-10, 10:-10].mean() < 5.0


@pytest.mark.parametrize("full_range", [False, True])
def test_i420_black_border_is_ycbcr_black(full_range):
    frames, _, _ = shaken_sequence(n=20, h=64, w=96, shake_px=4.0)
    clip = [np.maximum(f, 40) for f in i420_clip(frames)]  # no sample as dark as black
    outs = run_stage(planar_stage(full_range, lookahead=0, border="black", min_crop=0.8), clip)
    y_black = 0 if full_range else 16
    bordered = 0
    for _, _, img, corr, zoom in outs:
        y, u, v = i420_planes(img)
        assert zoom == 1.0 and y.min() >= y_black
        dark = y == y_black
        if dark.any():
            bordered += 1
            # Well inside the luma's border (beyond the chroma taps' reach) the chroma is neutral too.
            deep = cv2.erode(dark.astype(np.uint8), np.ones((7, 7), np.uint8), borderType=cv2.BORDER_REPLICATE)
            deep = deep[::2, ::2].astype(bool)
            assert (u[deep] == 128).all() and (v[deep] == 128).all()
    assert bordered >= 5


def test_i420_static_camera_gives_the_input_back():
    base = texture(96, 128, 3)
    rng = np.random.default_rng(1)
    clip = i420_clip([np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8) for _ in range(20)])
    outs = run_stage(planar_stage(lookahead=2), clip)
    assert sum(np.array_equal(o[2], f) for o, f in zip(outs, clip)) >= 18
