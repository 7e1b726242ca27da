"""The pipeline: stage order, per-stage timing, the numpy API, and the CUDA glue."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from kernels.backend import cuda_status
from kernels.color import adjust_color, tone_curves
from realtime import Frame, Pipeline, build_settings, open_video
from realtime.errors import BackendUnavailableError, ConfigError, SourceError
from realtime.run.pipeline import resolve_backend
from realtime.stages.params import ColorParams, ContrastParams

SAMPLE = Path(__file__).resolve().parents[2] / "tools" / "samples" / "flower_540p.mp4"


def frames(n, shape=(24, 31, 3)):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, shape).astype(np.uint8) for _ in range(n)]


def test_color_stage_matches_kernel_and_times_itself():
    # Automatic white balance off: the stage is then exactly the kernel with the baked curves.
    settings = build_settings(stages="color", overrides=("color.gamma=1.5", "color.saturation=1.3",
                                                         "color.white_balance=off"), backend="cpu")
    pipe = Pipeline(settings)
    p = settings.params["color"]
    assert (p.gamma, p.saturation) == (1.5, 1.3)
    curves = tone_curves(p.brightness, p.contrast, p.gamma)
    for i, img in enumerate(frames(5)):
        before = img.copy()
        (out,) = pipe.push(Frame(img, i, i / 25, 0.0))
        assert np.array_equal(out.image, adjust_color(img, curves, 1.3))
        assert out.index == i and np.array_equal(img, before)
    summary = pipe.stats.as_dict()["stages"]
    assert list(summary) == ["color"] and summary["color"]["mean_ms"] > 0
    assert pipe.stats.stages["color"].count == 5


def test_empty_chain_passes_frames_through():
    pipe = Pipeline(build_settings(stages="none", backend="cpu"))
    img = frames(1)[0]
    assert np.array_equal(pipe(img), img) and pipe.stage_names == ()
    assert list(pipe.flush()) == []


def test_call_rejects_bad_frames():
    pipe = Pipeline(build_settings(stages="color", backend="cpu"))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) or \(H, W\) uint8"):
        pipe(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        pipe(np.zeros((4, 4, 3), np.float32))


def test_stage_names_and_typed_params_build_the_same_pipeline_as_settings():
    img = frames(1, (24, 40, 3))[0]
    reference = Pipeline(build_settings(stages="color", overrides=("color.gamma=1.3",), backend="cpu"))(img)
    assert np.array_equal(Pipeline(["color"], color={"gamma": 1.3}, backend="cpu")(img), reference)
    assert np.array_equal(Pipeline("color", color=ColorParams(gamma=1.3), backend="cpu")(img), reference)
    assert not np.array_equal(Pipeline(["color"], backend="cpu")(img), reference)  # the value is used
    with pytest.raises(ConfigError, match="ColorParams"):
        Pipeline(["color"], color=ContrastParams(), backend="cpu")
    with pytest.raises(ConfigError, match="unknown parameter color.gama"):
        Pipeline(["color"], color={"gama": 1.3})
    with pytest.raises(ConfigError, match="in the settings"):
        Pipeline(build_settings(stages="color"), color={"gamma": 1.3})


def test_rgb_and_gray_frames_come_back_in_their_own_layout():
    img = frames(1, (24, 40, 3))[0]

    def pipe(order="bgr"):
        return Pipeline(["color"], color={"saturation": 1.5, "gamma": 1.2}, backend="cpu", channel_order=order)

    assert np.array_equal(pipe("rgb")(img[:, :, ::-1])[:, :, ::-1], pipe()(img))
    gray = np.ascontiguousarray(img[:, :, 1])
    out = pipe()(gray)
    assert out.shape == gray.shape and out.dtype == np.uint8
    assert np.array_equal(out, cv2.cvtColor(pipe()(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)), cv2.COLOR_BGR2GRAY))


def test_call_is_eager_and_stamps_real_times():
    pipe = Pipeline(["denoise"], backend="cpu")
    clip = frames(3, (16, 16, 3))
    outs = [pipe(f, t=i / 25) for i, f in enumerate(clip)]
    assert pipe.stats.stages["denoise"].count == 3 and outs[0] is not outs[1]
    seen = []
    pipe.stages[0].push = lambda frame, seen=seen, push=pipe.stages[0].push: seen.append(frame) or push(frame)
    pipe(clip[0])
    pipe(clip[1])
    assert seen[1].index == seen[0].index + 1 and seen[1].pts_s >= seen[0].pts_s
    assert len(pipe.push(Frame(clip[2], 9, 0.5, 0.0))) == 1  # push runs at once: no iteration needed
    assert pipe.stats.stages["denoise"].count == 6


def test_frames_of_a_delaying_chain_gives_every_frame_each_its_own_array():
    clip = frames(8, (32, 48, 3))
    pipe = Pipeline(["stabilize"], stabilize={"lookahead": 3}, backend="cpu")
    with pytest.raises(ValueError, match="frames"):
        pipe(clip[0])
    with Pipeline(["stabilize"], stabilize={"lookahead": 3}, backend="cpu") as pipe:
        outs = list(pipe.frames(clip))
    assert len(outs) == len(clip) and len({id(o) for o in outs}) == len(outs)
    assert pipe.stages == []  # closed


def test_open_video_reads_the_frames_a_file_run_sees(tmp_path):
    with open_video(SAMPLE) as video:
        assert (video.width, video.height) == (960, 540) and video.fps > 0
        first = [f for _, f in zip(range(3), video)]
    assert len(first) == 3 and first[0].shape == (540, 960, 3) and not np.array_equal(first[0], first[2])
    with open_video(SAMPLE, channel_order="rgb") as video:
        assert np.array_equal(next(iter(video)), first[0][:, :, ::-1])
    with pytest.raises(SourceError, match="does not exist"):
        open_video(tmp_path / "missing.mp4")


def test_frame_size_change_reallocates():
    pipe = Pipeline(build_settings(stages="color", backend="cpu"))
    assert pipe(frames(1, (8, 8, 3))[0]).shape == (8, 8, 3)
    assert pipe(frames(1, (5, 13, 3))[0]).shape == (5, 13, 3)


@pytest.mark.skipif(cuda_status()[0], reason="a CUDA device is present")
def test_cuda_backend_without_gpu_is_a_clear_error():
    with pytest.raises(BackendUnavailableError, match="pip install vqe\\[gpu\\]"):
        resolve_backend("cuda")
    assert resolve_backend("auto").name == "cpu"


@pytest.mark.cuda
def test_cuda_pipeline_matches_cpu_pipeline():
    """Upload, stages on device buffers, download: the same frames as the CPU chain."""
    over = ("color.gamma=1.4", "color.contrast=1.2", "color.saturation=1.4")
    cpu = Pipeline(build_settings(stages="color", overrides=over, backend="cpu"))
    gpu = Pipeline(build_settings(stages="color", overrides=over, backend="cuda"))
    assert gpu.backend.is_cuda
    for img in frames(2, (9, 14, 3)):
        assert np.array_equal(gpu(img), cpu(img))


def test_warm_up_leaves_no_trace():
    """Warm-up loads kernels but records no timing and leaves no temporal state behind."""
    imgs = frames(3, (16, 20, 3))
    fresh = Pipeline(build_settings(backend="cpu"))
    warmed = Pipeline(build_settings(backend="cpu"))
    warmed.warm_up((16, 20, 3))
    assert all(t.count == 0 for t in warmed.stats.stages.values())
    for i, img in enumerate(imgs):
        (a,) = fresh.push(Frame(img, i, i / 25, 0.0))
        (b,) = warmed.push(Frame(img, i, i / 25, 0.0))
        assert np.array_equal(a.image, b.image)


def test_frames_flushed_together_each_keep_their_picture():
    """A lookahead stage flushing several frames into a 1:1 stage: every frame its own image."""
    imgs = [np.full((40, 48, 3), (20 + 30 * i, 200 - 25 * i, 90), np.uint8) for i in range(6)]
    pipe = Pipeline(build_settings(stages="stabilize,color", overrides=("stabilize.lookahead=3",
                                                                       "color.white_balance=off"), backend="cpu"))
    ref = Pipeline(build_settings(stages="color", overrides=("color.white_balance=off",), backend="cpu"))
    seen = []
    for i, img in enumerate(imgs):
        seen += [(f.index, f.image.copy()) for f in pipe.push(Frame(img, i, i / 25, 0.0))]
    seen += [(f.index, f.image.copy()) for f in pipe.flush()]
    assert [i for i, _ in seen] == list(range(6))
    # Flat frames give the stabilizer no motion to correct: each output is its own input, coloured.
    for i, image in seen:
        assert np.array_equal(image, ref(imgs[i]))


def _temporal_chain(backend):
    return Pipeline(build_settings(stages="denoise,stabilize,sharpen", overrides=("stabilize.lookahead=2",),
                                   backend=backend))


def _outputs(frames_out):
    return [(f.index, f.image.copy()) for f in frames_out]


def test_run_equals_push_then_flush():
    imgs = frames(6, (20, 26, 3))
    stream = [Frame(img, i, i / 25, 0.0) for i, img in enumerate(imgs)]
    ref = _temporal_chain("cpu")
    expected = _outputs(f for fr in stream for f in ref.push(fr)) + _outputs(ref.flush())
    got = _outputs(_temporal_chain("cpu").run(iter(stream)))
    assert [i for i, _ in got] == [i for i, _ in expected] == list(range(6))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, expected))


@pytest.mark.cuda
def test_cuda_run_with_lookahead_upload_matches_cpu():
    """The GPU path stages frame t+1's upload before frame t runs (two device inputs): same frames as the CPU."""
    imgs = frames(5, (11, 14, 3))
    stream = [Frame(img, i, i / 25, 0.0) for i, img in enumerate(imgs)]
    cpu = _outputs(_temporal_chain("cpu").run(iter(stream)))
    gpu_pipe = _temporal_chain("cuda")
    gpu = _outputs(gpu_pipe.run(iter(stream)))
    assert [i for i, _ in gpu] == [i for i, _ in cpu]
    assert all(np.abs(a.astype(int) - b).max() <= 1 for (_, a), (_, b) in zip(gpu, cpu))
    # The next frame was uploaded while the current one was held: two device input buffers.
    assert len(gpu_pipe._device_in) >= 2


@pytest.mark.cuda
def test_cuda_push_keeps_frames_resident_when_asked():
    pipe = Pipeline(build_settings(stages="color", overrides=("color.gamma=1.3",), backend="cuda"))
    img = frames(1, (9, 12, 3))[0]
    device_img = pipe.backend.asarray(img)
    (resident,) = pipe.push(Frame(device_img, 0, 0.0, 0.0), to_host=False)
    out = pipe.backend.to_host(resident.image).copy()
    (host,) = pipe.push(Frame(img, 1, 0.0, 0.0))
    assert np.array_equal(out, host.image)


def test_a_broken_cuda_runtime_is_a_clear_error_and_auto_takes_the_cpu(monkeypatch):
    """A GPU that passes the presence checks but cannot run a kernel (old driver, missing NVVM)."""
    import realtime.run.pipeline as pipeline_module
    from kernels.backend import Backend

    monkeypatch.setattr(pipeline_module, "cuda_status", lambda: (True, "CUDA GPU"))
    monkeypatch.setattr(pipeline_module, "make_cuda_backend", lambda: Backend("cuda", np))
    monkeypatch.setattr(pipeline_module, "cuda_smoke_test", lambda backend: "CudaSupportError: driver too old")
    with pytest.raises(BackendUnavailableError, match=r"CUDA runtime does not work here \(CudaSupportError.*"
                                                      r"pip install vqe\[gpu\]"):
        resolve_backend("cuda")
    assert resolve_backend("auto").name == "cpu"


@pytest.mark.cuda
def test_cuda_smoke_test_passes_on_a_working_backend():
    from kernels.backend import cuda_smoke_test, make_cuda_backend

    assert cuda_smoke_test(make_cuda_backend()) is None


def test_a_frame_says_its_layout():
    assert Frame(np.zeros((6, 4), np.uint8), 0, 0.0, 0.0).layout == "I420"  # (H*3/2, W): planar
    assert Frame(np.zeros((4, 4, 3), np.uint8), 0, 0.0, 0.0).layout == "BGR"
