"""The upscale stage: output sizes, methods, bad parameters, the learned wiring, the CLI end to end."""
import importlib.util
from contextlib import closing

import cv2
import numpy as np
import pytest

from kernels.backend import CPU
from realtime import errors
from realtime.errors import ConfigError
from realtime.run.pipeline import Pipeline
from realtime.settings import build_settings
from realtime.sources.y4m import Y4mReader
from realtime.stages import STAGES
from realtime.stages.upscale import UpscaleParams, UpscaleStage, output_size
from tests.conftest import run_vqe, textured_frames

HAVE_SUPERRES = importlib.util.find_spec("kernels.superres") is not None
needs_superres = pytest.mark.skipif(not HAVE_SUPERRES, reason="kernels/superres.py (the learned network) is absent")


def frame_of(h, w, seed=0):
    img = np.random.default_rng(seed).integers(0, 256, (h // 2 + 1, w // 2 + 1, 3)).astype(np.uint8)
    return np.ascontiguousarray(cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR))


def stage(**values):
    return UpscaleStage(UpscaleParams().replaced(values), CPU)


def test_registered_between_color_and_sharpen():
    names = list(STAGES)
    assert names.index("color") < names.index("upscale") < names.index("sharpen")


@pytest.mark.parametrize("values, size", [
    ({}, (108, 192)), ({"factor": 1.5}, (81, 144)), ({"factor": 3}, (162, 288)), ({"width": 200}, (113, 200)),
    ({"height": 100}, (100, 178)), ({"width": 300, "height": 60}, (60, 300)), ({"factor": 1.0}, (54, 96)),
])
def test_output_size(values, size):
    assert output_size(54, 96, UpscaleParams().replaced(values)) == size


@pytest.mark.parametrize("method, flag", [("bicubic", cv2.INTER_CUBIC), ("lanczos", cv2.INTER_LANCZOS4)])
def test_classical_methods_are_opencvs(method, flag):
    frame = frame_of(27, 35)
    out = stage(method=method, factor=2.5).apply(frame)
    assert np.array_equal(out, cv2.resize(frame, (88, 68), interpolation=flag))


@pytest.mark.parametrize("method", ["edge", "bicubic", "lanczos"])
def test_a_held_output_is_not_written_over_and_input_is_not_touched(method):
    s = stage(method=method)
    frame = frame_of(27, 35)
    before = frame.copy()
    a = s.apply(frame)
    kept = a.copy()
    b = s.apply(frame_of(27, 35) // 2)
    assert b is not a and a.shape == (54, 70, 3) and np.array_equal(a, kept) and np.array_equal(frame, before)
    # A new input size gets new buffers of the new output size.
    assert s.apply(frame_of(10, 12)).shape == (20, 24, 3)


def test_factor_one_is_the_identity():
    frame = frame_of(9, 11)
    assert stage(factor=1).apply(frame) is frame


@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (17, 1), (2, 3)])
@pytest.mark.parametrize("method", ["edge", "bicubic", "lanczos"])
def test_tiny_frames(shape, method):
    frame = np.full(shape + (3,), (30, 120, 220), np.uint8)
    out = stage(method=method, factor=3).apply(frame)
    assert out.shape == (shape[0] * 3, shape[1] * 3, 3)
    assert np.abs(out.astype(int) - frame[0, 0]).max() <= 1


@pytest.mark.parametrize("value, words", [("0", "[1.0, 8.0]"), ("-2", "[1.0, 8.0]"), ("abc", "not a number"),
                                          ("nan", "[1.0, 8.0]"), ("9", "[1.0, 8.0]")])
def test_bad_factor_is_one_clear_line(value, words):
    with pytest.raises(ConfigError) as err:
        build_settings(stages="upscale", overrides=(f"upscale.factor={value}",))
    text = str(err.value)
    assert "\n" not in text and "upscale.factor" in text and value in text and words in text


def test_beyond_8k_is_refused_with_the_largest_factor_that_fits():
    s = stage(factor=8)
    with pytest.raises(ConfigError) as err:
        s.apply(np.zeros((600, 1000, 3), np.uint8))
    text = str(err.value)
    assert "8000x4800" in text and "7680x4320" in text and "upscale.factor <= 7.2" in text and "\n" not in text
    with pytest.raises(ConfigError, match="7680x6144 exceeds 8K"):
        stage(width=7680).apply(np.zeros((800, 1000, 3), np.uint8))


def test_target_smaller_than_input_is_refused():
    with pytest.raises(ConfigError, match="smaller than the 96x54 input"):
        stage(width=80).apply(frame_of(54, 96))


@pytest.mark.parametrize("values, words", [({"factor": 3}, "use 2 or 4"), ({"factor": 2, "width": 640}, "factor")])
def test_learned_needs_factor_two_or_four(values, words):
    with pytest.raises(ConfigError, match=words):
        UpscaleParams(method="learned", **values)


@needs_superres
@pytest.mark.parametrize("content", [None, b"not a zip file"])
def test_learned_with_a_missing_or_corrupt_weights_file(tmp_path, content):
    path = tmp_path / "weights.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        stage(method="learned", weights=str(path))
    text = str(err.value)
    assert str(path) in text and "upscale.fallback=lanczos" in text and "\n" not in text


@needs_superres
def test_learned_falls_back_to_lanczos_only_when_asked(tmp_path, caplog):
    s = stage(method="learned", weights=str(tmp_path / "missing.npz"), fallback="lanczos")
    frame = frame_of(27, 35)
    assert s.method == "lanczos" and "missing.npz" in caplog.text
    assert np.array_equal(s.apply(frame), cv2.resize(frame, (70, 54), interpolation=cv2.INTER_LANCZOS4))


@needs_superres
def test_learned_runs_the_network(tmp_path):
    from kernels.superres import SrModel, save_sr_model, upscale_learned

    rng = np.random.default_rng(0)
    sizes = [(4, 1, 5), (4, 4, 3)]
    model = SrModel(2, tuple(rng.normal(0, 0.1, (o, i, k, k)).astype(np.float32) for o, i, k in sizes),
                    tuple(np.zeros(o, np.float32) for o, _, _ in sizes), (np.full(4, 0.1, np.float32),), "test")
    path = tmp_path / "sr.npz"
    save_sr_model(model, path)
    frame = frame_of(27, 35)
    out = stage(method="learned", weights=str(path)).apply(frame)
    ref = upscale_learned(frame, model, out=np.empty((54, 70, 3), np.uint8))
    assert np.array_equal(out, ref)


def test_pipeline_process_changes_the_size():
    pipe = Pipeline(build_settings(stages="upscale", overrides=("upscale.factor=2",), backend="cpu"))
    assert pipe(frame_of(27, 35)).shape == (54, 70, 3)


def test_cli_writes_the_upscaled_file_and_stats(make_y4m, tmp_path):
    src = make_y4m(textured_frames(3, 36, 48))
    out = tmp_path / "out.y4m"
    stats = tmp_path / "stats.json"
    r = run_vqe("--file", src, "-o", out, "--no-display", "--stages", "upscale", "--set", "upscale.factor=2",
                "--set", "upscale.method=edge", "--stats", stats)
    assert r.returncode == 0, r.stderr
    reader = Y4mReader(out)
    assert (reader.width, reader.height) == (96, 72)
    count = 0
    while reader.read_planes() is not None:
        count += 1
    reader.close()
    assert count == 3 and '"upscale"' in stats.read_text()


def test_cli_recording_with_the_preview_has_the_output_size(make_y4m, tmp_path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    src = make_y4m(textured_frames(3, 36, 48))
    out = tmp_path / "out.y4m"
    r = run_vqe("--file", src, "-o", out, "--stages", "upscale", "--set", "upscale.factor=1.5")
    assert r.returncode == 0, r.stderr
    reader = Y4mReader(out)
    assert (reader.width, reader.height) == (72, 54)
    reader.close()


@pytest.mark.parametrize("sets, words", [(("upscale.factor=0",), "upscale.factor=0"),
                                         (("upscale.factor=8",), "exceeds 8K")])
def test_cli_errors(make_y4m, tmp_path, sets, words):
    src = make_y4m(textured_frames(1, 600, 1000))
    args = [a for s in sets for a in ("--set", s)]
    r = run_vqe("--file", src, "-o", tmp_path / "o.y4m", "--no-display", "--stages", "upscale", *args)
    lines = [line for line in r.stderr.splitlines() if line.startswith("vqe: error:")]
    assert r.returncode == errors.EXIT_CONFIG and len(lines) == 1 and words in lines[0], r.stderr


@pytest.mark.parametrize("method", ["edge", "bicubic", "learned"])
def test_i420_frames_upscale_luma_by_the_method_and_chroma_smoothly(method):
    from kernels.planes import i420_planes, i420_shape
    from kernels.resize import resize
    from kernels.upscale import upscale_edge

    rng = np.random.default_rng(2)
    frame = cv2.GaussianBlur(rng.integers(0, 256, i420_shape(12, 16)).astype(np.uint8), (0, 0), 1.0)
    params = UpscaleParams(method=method, factor=2.0)
    out = UpscaleStage(params, CPU).apply(frame)
    assert out.shape == i420_shape(24, 32)
    (y, u, v), (oy, ou, ov) = i420_planes(frame), i420_planes(out)
    if method == "edge":
        want = upscale_edge(y[:, :, None].copy(), out=np.empty((24, 32, 1), np.uint8), deblur=params.deblur,
                            sharpness=params.sharpness)[..., 0]
    else:
        want = cv2.resize(y, (32, 24), interpolation=cv2.INTER_CUBIC)
    if method != "learned":  # the network adds its residual to the bicubic luma
        assert np.array_equal(oy, want)
    chroma = "bilinear" if method == "edge" else "bicubic"
    for src, got in ((u, ou), (v, ov)):
        assert np.array_equal(got[:, :, None], resize(src[:, :, None].copy(), out=np.empty((12, 16, 1), np.uint8),
                                                      method=chroma))


def test_an_upscaled_y4m_stays_planar_and_is_written_in_the_matrix_its_height_implies(make_y4m, tmp_path):
    from realtime.run.filejob import run_file

    from conftest import textured_frames

    src = make_y4m(textured_frames(2, 360, 480))  # BT.601 (SD)
    settings = build_settings(stages="upscale", overrides=("upscale.method=bicubic",), backend="cpu")
    planar = run_file(src, tmp_path / "planar.y4m", settings)
    run_file(src, tmp_path / "bgr.y4m", settings, planar=False)
    assert planar.extra["frames_as"] == "I420"
    with closing(Y4mReader(tmp_path / "planar.y4m")) as a, closing(Y4mReader(tmp_path / "bgr.y4m")) as b:
        assert a.fmt.matrix == b.fmt.matrix == "bt709" and (a.width, a.height) == (960, 720)
        for x, y in zip(a.read_planes(), b.read_planes()):
            # Same picture through two routes (chroma resampled before or after the matrix change).
            err = np.mean((x.astype(float) - y) ** 2)
            assert 10 * np.log10(255 ** 2 / err) > 40
