"""The stabilize stage: it lowers jitter, keeps one output per input with lookahead, survives bad input."""
import json
import math

import cv2
import numpy as np
import pytest

from kernels.backend import CPU
from kernels.colorspace import YuvFormat
from kernels.planes import i420_planes
from realtime.errors import ConfigError
from realtime.run.frames import Frame
from realtime.run.pipeline import Pipeline
from realtime.run.ringbuffer import Slot
from realtime.settings import build_settings
from realtime.stages import STAGES, camera_path
from realtime.stages.camera_path import (
    LIGHT_SHARE,
    SETTLED_DEGREE,
    SETTLED_FULL,
    SETTLED_WHITE_SHARE,
    auto_smoothing,
    learned_past,
    learned_weights,
    path_weights,
    shake_and_speed,
    smoothing_share,
)
from realtime.stages.stabilize import StabilizeParams, StabilizeStage
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
    # Two seconds: the path smoother's window (2 s) is full for the second.
    frames, xs, ys = shaken_sequence(n=120)
    outs = run_stage(StabilizeStage(StabilizeParams(lookahead=lookahead), CPU), frames)
    assert [o[0] for o in outs] == list(range(len(frames)))
    # Content position in the output: the window position moved by the applied correction.
    out_x = -xs + np.array([o[3][0] for o in outs])
    out_y = -ys + np.array([o[3][1] for o in outs])
    jitter_in = math.hypot(high_pass_rms(xs[60:]), high_pass_rms(ys[60:]))
    jitter_out = math.hypot(high_pass_rms(out_x[60:]), high_pass_rms(out_y[60:]))
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


@pytest.mark.parametrize("lookahead", [0, 5])
def test_steady_pan_is_followed_through_the_hand_over_to_the_settled_smoother(lookahead):
    frames, _, _ = shaken_sequence(n=SETTLED_FULL + 30, h=72, w=120, shake_px=0.0, pan_px=3.0)
    params = StabilizeParams(lookahead=lookahead, smoothing=auto_smoothing(lookahead))  # the hand-made smoothers
    outs = run_stage(StabilizeStage(params, CPU), frames)
    assert max(abs(o[3][0]) for o in outs[15:]) < 1.0


@pytest.mark.parametrize("future", [0, 5])
def test_settled_weights_follow_a_cubic_move_exactly(future):
    w = path_weights(89 - future, future, 30.0, SETTLED_DEGREE, SETTLED_WHITE_SHARE)
    t = np.arange(-(89 - future), future + 1, dtype=np.float64)
    move = 3.0 + 0.5 * t - 0.02 * t ** 2 + 0.001 * t ** 3
    assert w.sum() == pytest.approx(1.0)
    assert w @ move == pytest.approx(3.0, abs=1e-6)


@pytest.mark.parametrize("lookahead", range(11))
def test_learned_weights_follow_a_still_camera_and_a_steady_pan_exactly(lookahead):
    w = learned_weights(lookahead, 30.0)
    assert w is not None and w.shape == (learned_past() + 1 + lookahead,)
    t = np.arange(-learned_past(), lookahead + 1, dtype=np.float64)
    assert w.sum() == pytest.approx(1.0)
    assert w @ (250.0 + 4.5 * t) == pytest.approx(250.0, abs=1e-6)


@pytest.mark.parametrize("lookahead", [0, 5, 10])
def test_learned_weights_take_out_shake_faster_than_the_corpus_has(lookahead):
    # Trained on shake up to 10 Hz, the weights must still not let a faster one (a vehicle, a motion estimate's own
    # noise) into the smoothed path: the path keeps under a tenth of it, hence the output loses nine tenths.
    w = learned_weights(lookahead, 30.0)
    t = np.arange(len(w)) - learned_past()
    gain = np.abs(np.exp(2j * np.pi * np.outer(np.linspace(10.0, 15.0, 101), t) / 30.0) @ w)
    assert gain.max() < 0.1


def test_the_hand_made_smoother_serves_what_the_learned_one_was_not_trained_for():
    assert learned_weights(0, 25.0) is not None
    assert learned_weights(11, 30.0) is None  # a longer lookahead
    assert learned_weights(0, 60.0) is None  # a frame rate that moves the shake's band in frames
    assert StabilizeStage(StabilizeParams(smoothing=12.0), CPU)._learned_weights(0) is None  # a time constant set
    assert StabilizeStage(StabilizeParams(), CPU)._learned_weights(0) is not None


@pytest.mark.parametrize("content", [None, b"not a zip file", "bad shape"])
def test_a_missing_or_broken_learned_smoother_falls_back_with_a_warning(content, tmp_path, monkeypatch, caplog):
    path = tmp_path / "path_smoother.npz"
    if content == "bad shape":
        np.savez(path, past=89, fps=30.0, L0=np.ones(5), L1=np.full(91, np.nan))
    elif content is not None:
        path.write_bytes(content)
    monkeypatch.setattr(camera_path, "LEARNED_MODEL", path)
    camera_path._learned_model.cache_clear()
    try:
        with caplog.at_level("WARNING"):
            assert learned_weights(0, 30.0) is None and learned_weights(1, 30.0) is None
        assert "hand-made" in caplog.text
        frames, _, _ = shaken_sequence(n=20, h=64, w=96)
        outs = run_stage(StabilizeStage(StabilizeParams(), CPU), frames)
        assert len(outs) == 20
    finally:
        camera_path._learned_model.cache_clear()


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


def test_held_frames_stay_as_they_were_while_the_producer_goes_on():
    frames, _, _ = shaken_sequence(n=6, h=64, w=96)
    stage = StabilizeStage(StabilizeParams(lookahead=2, border="replicate"), CPU)
    slot = Slot(np.empty_like(frames[0]))  # a capture slot: it never writes over a frame someone holds
    outs = []
    for i, img in enumerate(frames):
        np.copyto(slot.ensure_shape(img.shape), img)
        outs += [f.image.copy() for f in stage.push(Frame(slot.image, i, 0.0, 0.0))]
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
    # A new path starts at the cut: nothing of the old scene's correction or zoom.  Without lookahead
    # the first frame is the path's origin (no correction); with one, it is placed on the path its
    # next frames show, so it moves by less than the new scene's own motion over the lookahead.
    assert first_b[4] < 1.02
    if lookahead == 0:
        assert first_b[3] == (0.0, 0.0, 0.0, 0.0)
        assert np.array_equal(first_b[2], b[0])
    else:
        assert math.hypot(first_b[3][0], first_b[3][1]) < 1.0 * lookahead


def test_motion_is_exposed():
    frames, _, _ = shaken_sequence(n=8, pan_px=2.0, shake_px=0.0)
    stage = StabilizeStage(StabilizeParams(lookahead=0), CPU)
    for i, img in enumerate(frames):
        stage.push(Frame(img, i, 0.0, 0.0))
    m = stage.last_motion
    assert m is not None and m.valid
    assert abs(m.dx_px + 2.0) < 0.3 and abs(m.dy_px) < 0.3  # the window moves right: content moves left
    assert stage.motion_for(5) is not None and stage.motion_for(999) is None


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


def _band_noise(n, rms, seed, low_hz=1.5, high_hz=7.0, fps=30.0):
    spec = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fps)
    spec[(f < low_hz) | (f > high_hz)] = 0
    sig = np.fft.irfft(spec, n)
    return rms * sig / sig.std()


def test_shake_and_speed_tell_shake_from_a_pan():
    t = np.arange(60, dtype=np.float64)
    pan = np.zeros((60, 4))
    pan[:, 0] = 3.0 * t + 0.02 * t ** 2  # a pan that speeds up: the cubic takes it all
    slow, speed = shake_and_speed(pan, 30.0)
    assert slow < 1e-6 and speed == pytest.approx(3.0 + 0.02 * 59, rel=1e-6)
    still = np.zeros((60, 4))
    still[:, 0], still[:, 1] = _band_noise(60, 4.0, 1), _band_noise(60, 4.0, 2)
    slow, speed = shake_and_speed(still, 30.0)
    assert 0.3 < slow < 2.0 and speed < 0.3 * 1.0  # light hand shake, no pan
    # Tremor (4-10 Hz) of the same size has next to no slow part.
    still[:, 0], still[:, 1] = _band_noise(60, 4.0, 1, 4.0, 10.0), _band_noise(60, 4.0, 2, 4.0, 10.0)
    assert shake_and_speed(still, 30.0)[0] < 0.5 * slow


def test_smoothing_share_shortens_only_a_moving_lightly_shaken_path():
    assert smoothing_share(0.5, 0.0) == 1.0  # a still camera: nothing to lag behind
    assert smoothing_share(0.5, 5.0) == LIGHT_SHARE
    assert smoothing_share(5.0, 5.0) == 1.0  # hand shake needs the whole window
    assert LIGHT_SHARE < smoothing_share(1.8, 5.0) < 1.0


@pytest.mark.parametrize("smoothing", [0.0, 11.0])
def test_a_lightly_shaken_pan_gets_a_shorter_window_unless_the_time_constant_is_set(smoothing):
    # A lookahead beyond the learned smoother's: the hand-made one and its automatic time constant.
    def time_constant_after(frames):
        stage = StabilizeStage(StabilizeParams(lookahead=20, smoothing=smoothing), CPU)
        for i, img in enumerate(frames):
            stage.push(Frame(img, i, i / 30.0, 100.0 + i))
        assert stage.base_smoothing == 11.0
        return stage.smoothing_frames

    pan, _, _ = shaken_sequence(n=60, h=90, w=160, shake_px=0.05, pan_px=0.5)
    still, _, _ = shaken_sequence(n=60, h=90, w=160, shake_px=0.05, pan_px=0.0)
    assert time_constant_after(pan) == (11.0 if smoothing else pytest.approx(LIGHT_SHARE * 11.0, abs=0.25))
    assert time_constant_after(still) == 11.0


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
    from realtime.sources.y4m import Y4mReader

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
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["delay_frames"] == 3
    # Per-frame correction figures of every output frame (warm-up frames do not count).
    assert stats["stabilize"]["frames"] == len(frames) and "clamped_px" in stats["stabilize"]


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
    frames, xs, ys = shaken_sequence(n=120)
    clip = i420_clip(frames)
    outs = run_stage(planar_stage(lookahead=lookahead), clip)
    assert [o[0] for o in outs] == list(range(len(clip)))
    out_x = -xs + np.array([o[3][0] for o in outs])
    out_y = -ys + np.array([o[3][1] for o in outs])
    jitter_in = math.hypot(high_pass_rms(xs[60:]), high_pass_rms(ys[60:]))
    jitter_out = math.hypot(high_pass_rms(out_x[60:]), high_pass_rms(out_y[60:]))
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


# --- hard input: the stabilizer restarts, says so at debug level, and never runs away ----------------

STAGE_LOG = "realtime.stages.stabilize"


def restarts(caplog):
    return [r.getMessage() for r in caplog.records if r.name == STAGE_LOG and "path restarted" in r.getMessage()]


def assert_sane(outs, frames, params=StabilizeParams()):
    check_outputs(outs, frames)
    for _, _, _, corr, zoom in outs:
        assert 1.0 <= zoom <= 1 / params.min_crop + 1e-6


@pytest.mark.parametrize("kind", ["wall", "black", "fog"])
@pytest.mark.parametrize("lookahead", [0, 3])
def test_textureless_stretch_mid_pan_restarts_the_path(kind, lookahead, caplog):
    caplog.set_level("DEBUG", logger=STAGE_LOG)
    frames, _, _ = shaken_sequence(n=50, h=72, w=96, shake_px=2.0, pan_px=1.5)
    if kind == "wall":
        blank = np.full_like(frames[0], 120)
    elif kind == "black":
        blank = np.zeros_like(frames[0])
    else:  # fog: the picture washed out to a faint, blurred veil
        blank = (200 + cv2.GaussianBlur(frames[0], (0, 0), 6) // 40).astype(np.uint8)
    seq = frames[:15] + [blank] * 20 + frames[15:]
    outs = run_stage(StabilizeStage(StabilizeParams(lookahead=lookahead), CPU), seq)
    assert_sane(outs, seq)
    assert any("no motion measured" in m or "scene cut" in m for m in restarts(caplog))


@pytest.mark.parametrize("lookahead", [0, 3])
def test_scene_cut_mid_pan_is_logged(lookahead, caplog):
    caplog.set_level("DEBUG", logger=STAGE_LOG)
    a, _, _ = shaken_sequence(n=20, shake_px=2.0, pan_px=2.0, seed=0)
    b = [np.ascontiguousarray(255 - f[::-1]) for f in shaken_sequence(n=10, pan_px=2.0, seed=5)[0]]
    outs = run_stage(StabilizeStage(StabilizeParams(lookahead=lookahead), CPU), a + b)
    assert_sane(outs, a + b)
    assert any("scene cut" in m for m in restarts(caplog))


def test_frame_size_change_is_logged(caplog):
    caplog.set_level("DEBUG", logger=STAGE_LOG)
    a, _, _ = shaken_sequence(n=8, h=64, w=96)
    b, _, _ = shaken_sequence(n=8, h=80, w=120, seed=2)
    outs = run_stage(StabilizeStage(StabilizeParams(lookahead=2), CPU), a + b)
    assert_sane(outs, a + b)
    assert any("frame size" in m for m in restarts(caplog))


def test_one_pixel_shake_is_taken_out():
    base = texture(140, 180, 4)
    rng = np.random.default_rng(7)
    offsets = rng.integers(-1, 2, (40, 2))
    frames = [np.ascontiguousarray(base[20 + dy:120 + dy, 20 + dx:160 + dx]) for dx, dy in offsets]
    outs = run_stage(StabilizeStage(StabilizeParams(lookahead=0), CPU), frames)
    assert_sane(outs, frames)
    # Where the content sits in the output: the window offset, moved by the correction.
    x = -offsets[:, 0] + np.array([o[3][0] for o in outs])
    y = -offsets[:, 1] + np.array([o[3][1] for o in outs])
    assert np.std(x[15:]) + np.std(y[15:]) < 0.6 * (np.std(offsets[15:, 0]) + np.std(offsets[15:, 1]))
    assert max(o[4] for o in outs) < 1.1


@pytest.mark.parametrize("lookahead", [0, 3])
def test_hundred_pixel_jump_restarts_without_runaway_zoom(lookahead, caplog):
    caplog.set_level("DEBUG", logger=STAGE_LOG)
    big = texture(300, 520, 11)
    xs = [40 + 2 * i for i in range(12)] + [140 + 2 * i for i in range(12)]
    frames = [np.ascontiguousarray(big[40:160, x:x + 200]) for x in xs]
    stage = StabilizeStage(StabilizeParams(lookahead=lookahead), CPU)
    outs = run_stage(stage, frames)
    assert_sane(outs, frames)
    assert restarts(caplog)
    # After the jump the path starts afresh: no correction chasing 100 px, the zoom back near 1.
    assert max(abs(c) for c in outs[-1][3][:2]) < 5.0 and outs[-1][4] < 1.05


def test_jump_larger_than_the_margin_is_a_restart(caplog):
    caplog.set_level("DEBUG", logger=STAGE_LOG)
    big = texture(200, 260, 12)
    xs = [30] * 10 + [60] * 10  # 30 px at once, the margin at 128 px wide is about 8 px
    frames = [np.ascontiguousarray(big[30:126, x:x + 128]) for x in xs]
    outs = run_stage(StabilizeStage(StabilizeParams(lookahead=0), CPU), frames)
    assert_sane(outs, frames)
    assert any("jump" in m for m in restarts(caplog))
    # The frames after the jump are the input again (a new, still path), not a correction pinned at the margin.
    assert all(np.array_equal(o[2], f) for o, f in zip(outs[12:], frames[12:]))


def test_large_moving_foreground_does_not_drag_the_frame():
    back = texture(96, 160, 21)
    sprite = texture(70, 80, 22)
    frames = []
    for i in range(40):
        f = back.copy()
        x = 10 + 3 * i % 70  # half the frame wide, moving 3 px a frame on its own
        f[13:83, x:x + 80] = sprite
        frames.append(f)
    outs = run_stage(StabilizeStage(StabilizeParams(lookahead=0), CPU), frames)
    assert_sane(outs, frames)
    assert max(abs(c) for o in outs for c in o[3][:2]) < 1.0
    assert sum(np.array_equal(o[2], f) for o, f in zip(outs, frames)) >= 36


def test_correction_and_clamp_are_recorded_and_shown():
    from realtime.run.stats import RunStats

    frames, _, _ = shaken_sequence(n=30, h=72, w=96, shake_px=6.0)
    stage = StabilizeStage(StabilizeParams(lookahead=0, min_crop=0.95), CPU)
    stats = RunStats()
    for i, img in enumerate(frames):
        stage.push(Frame(img, i, 0.0, 0.0))
        stage.record_stats(stats)
    entry = stats.extra["stabilize"]
    assert entry["frames"] == 30
    assert entry["correction_px"]["max"] > entry["correction_px"]["mean"] > 0
    # A 5 % margin cannot hold 6 px of shake on a 96 px frame: part of it is clamped, and said.
    assert entry["clamped_frames"] > 0 and entry["clamped_px"]["max"] > 0.5
    line = stage.hud_lines()[0]
    assert line.startswith("stabilize: correction") and "clamped" in line
    stage.record_stats(stats)  # nothing new: nothing counted twice
    assert stats.extra["stabilize"]["frames"] == 30


@pytest.mark.parametrize("lookahead", [0, 5])
def test_border_zoom_changes_slowly_and_hides_the_borders(lookahead):
    from realtime.stages.framing import needed_zoom as _needed_zoom
    from realtime.stages.stabilize import ZOOM_FREE_FRAMES

    frames, _, _ = shaken_sequence(n=90, shake_px=3.0, pan_px=1.0, seed=4)
    params = StabilizeParams(lookahead=lookahead)
    outs = run_stage(StabilizeStage(params, CPU), frames)
    assert_sane(outs, frames)
    zooms = np.array([o[4] for o in outs])
    assert zooms.max() > 1.01  # the shake needs a zoom
    steps = np.diff(zooms[ZOOM_FREE_FRAMES:])
    # No jump: a zoom that changes from frame to frame is shake at the corners.
    assert np.abs(steps).max() < 0.01 and steps.min() >= -params.zoom_release - 1e-9
    for _, _, img, corr, zoom in outs:
        # The correction gives way while the zoom rises: no border is ever shown.
        assert _needed_zoom(np.asarray(corr), img.shape) <= zoom + 1e-6
