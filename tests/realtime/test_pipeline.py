"""The pipeline: stage order, per-stage timing, the numpy API, and the CUDA glue."""
import numpy as np
import pytest

from kernels.color import adjust_color, tone_curves
from realtime import Frame, Pipeline, build_settings
from realtime.errors import BackendUnavailableError
from realtime.pipeline import resolve_backend
from kernels.backend import cuda_status


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
    assert np.array_equal(pipe.process(img), img) and pipe.stage_names == ()
    assert list(pipe.flush()) == []


def test_process_rejects_bad_frames():
    pipe = Pipeline(build_settings(stages="color", backend="cpu"))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        pipe.process(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        pipe.process(np.zeros((4, 4, 3), np.float32))


def test_frame_size_change_reallocates():
    pipe = Pipeline(build_settings(stages="color", backend="cpu"))
    assert pipe.process(frames(1, (8, 8, 3))[0]).shape == (8, 8, 3)
    assert pipe.process(frames(1, (5, 13, 3))[0]).shape == (5, 13, 3)


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
        assert np.array_equal(gpu.process(img), cpu.process(img))


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
        assert np.array_equal(image, ref.process(imgs[i]))


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
    # Both device input buffers were used: consecutive uploads alternate.
    assert all(buf is not None for buf in gpu_pipe._device_in)


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
    import realtime.pipeline as pipeline_module
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
