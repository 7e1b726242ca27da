"""CUDA twins of the denoise and sharpen kernels against the CPU kernels.

Run with ``NUMBA_ENABLE_CUDASIM=1 python -m pytest -m cuda tests`` where there is
no GPU; the simulator is slow, so frames are tiny.
"""
import numpy as np
import pytest

from kernels.backend import CPU, cuda_status, make_cuda_backend
from kernels.colorspace import YuvFormat
from kernels.denoise import plane_coefficients
from kernels.denoise_bgr import chroma_shape, denoise_planes, to_planes
from kernels.denoise_i420 import denoise_i420
from kernels.noise import NOISE_BINS, NOISE_LEVELS, noise_histogram
from kernels.planes import i420_luma_chroma
from kernels.sharpen import binomial_taps, sharpen
from kernels.thumbnail import luma_thumbnail
from realtime.stages.denoise import DenoiseParams, DenoiseStage
from realtime.stages.sharpen import SharpenParams, SharpenStage

from conftest import host, on

SHAPES = [(7, 9), (13, 17), (1, 1)]
HIST = (3, NOISE_LEVELS, NOISE_BINS)


@pytest.fixture
def gpu():
    ok, why = cuda_status()
    if not ok:
        pytest.skip(f"CUDA kernels need a GPU or NUMBA_ENABLE_CUDASIM=1: {why}")
    return make_cuda_backend()


def frame_of(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape + (3,)).astype(np.uint8)


def planes_on(backend, shape):
    return backend.empty(shape, np.float32), backend.empty((2,) + chroma_shape(*shape), np.float32)


@pytest.mark.cuda
@pytest.mark.parametrize("shape", SHAPES)
def test_to_planes_parity(gpu, shape):
    frame = frame_of(shape)
    luma, chroma = planes_on(CPU, shape)
    to_planes(frame, luma=luma, chroma=chroma)
    d_luma, d_chroma = planes_on(gpu, shape)
    to_planes(on(gpu, frame), luma=d_luma, chroma=d_chroma, backend=gpu)
    assert np.allclose(host(gpu, d_luma), luma, atol=1e-4)
    assert np.allclose(host(gpu, d_chroma), chroma, atol=1e-4)


@pytest.mark.cuda
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("shift,fresh", [((0, 0), False), ((1, -3), False), ((0, 0), True)])
@pytest.mark.parametrize("slope", [0.0, 1.0 / 128])
def test_denoise_planes_parity(gpu, shape, shift, fresh, slope):
    rng = np.random.default_rng(1)
    frame = frame_of(shape, 2)
    luma, chroma = planes_on(CPU, shape)
    to_planes(frame, luma=luma, chroma=chroma)
    luma_hist = (luma + rng.normal(0, 5, luma.shape)).astype(np.float32)
    chroma_hist = (chroma + rng.normal(0, 5, chroma.shape)).astype(np.float32)
    coeffs = plane_coefficients([6.0, 12.0, 0.0], temporal=0.2, spatial=0.9, slopes=(slope, 0.0, 0.0))
    out = np.empty(shape + (3,), np.uint8)
    luma_out, chroma_out = planes_on(CPU, shape)
    denoise_planes(frame, luma, chroma, luma_hist, chroma_hist, coeffs, shift=shift, fresh=fresh, out=out,
                   luma_out=luma_out, chroma_out=chroma_out)
    d_out = gpu.empty(shape + (3,))
    d_luma_out, d_chroma_out = planes_on(gpu, shape)
    denoise_planes(on(gpu, frame), on(gpu, luma), on(gpu, chroma), on(gpu, luma_hist), on(gpu, chroma_hist),
                   on(gpu, coeffs), shift=shift, fresh=fresh, out=d_out, luma_out=d_luma_out,
                   chroma_out=d_chroma_out, backend=gpu)
    assert np.abs(host(gpu, d_luma_out) - luma_out).max() < 1e-3
    assert np.abs(host(gpu, d_chroma_out) - chroma_out).max() < 1e-3
    assert np.abs(host(gpu, d_out).astype(int) - out).max() <= 1


@pytest.mark.cuda
@pytest.mark.parametrize("shape", [(7, 9), (13, 17)])
def test_noise_histogram_and_thumbnail_parity(gpu, shape):
    frame = frame_of(shape, 3)
    luma, chroma = planes_on(CPU, shape)
    to_planes(frame, luma=luma, chroma=chroma)
    cpu = noise_histogram(luma, chroma, step=1, out=np.zeros(HIST, np.int32))
    dev = noise_histogram(on(gpu, luma), on(gpu, chroma), step=1, out=gpu.empty(HIST, np.int32),
                          backend=gpu)
    assert np.array_equal(host(gpu, dev), cpu)
    tshape = (shape[0] // 2, shape[1] // 2)
    cpu_t = luma_thumbnail(luma, 2, out=np.empty(tshape, np.float32))
    dev_t = luma_thumbnail(on(gpu, luma), 2, out=gpu.empty(tshape, np.float32), backend=gpu)
    assert np.allclose(host(gpu, dev_t), cpu_t, atol=1e-3)


I420_SHAPES = [(6, 10), (14, 18), (2, 2)]


@pytest.mark.cuda
@pytest.mark.parametrize("shape", I420_SHAPES)
@pytest.mark.parametrize("shift,fresh", [((0, 0), False), ((1, -3), False), ((0, 0), True)])
@pytest.mark.parametrize("spatial", [0.9, 0.0])
@pytest.mark.parametrize("slope", [0.0, 1.0 / 128])
def test_denoise_i420_parity(gpu, shape, shift, fresh, spatial, slope):
    rng = np.random.default_rng(6)
    h, w = shape
    frame = rng.integers(0, 256, (h * 3 // 2, w)).astype(np.uint8)
    luma, chroma = i420_luma_chroma(frame)
    luma_hist = (luma + rng.normal(0, 5, luma.shape)).astype(np.float32)
    chroma_hist = (chroma + rng.normal(0, 5, chroma.shape)).astype(np.float32)
    coeffs = plane_coefficients([6.0, 4.0, 0.0], temporal=0.2, spatial=spatial, slopes=(slope, 0.0, 0.0))
    d_luma_hist, d_chroma_hist = on(gpu, luma_hist), on(gpu, chroma_hist)  # before a fresh pass zeroes them
    out = np.empty_like(frame)
    luma_out, chroma_out = planes_on(CPU, shape)
    denoise_i420(frame, luma_hist, chroma_hist, coeffs, shift=shift, fresh=fresh, out=out, luma_out=luma_out,
                 chroma_out=chroma_out)
    d_out = gpu.empty(frame.shape)
    d_luma_out, d_chroma_out = planes_on(gpu, shape)
    denoise_i420(on(gpu, frame), d_luma_hist, d_chroma_hist, on(gpu, coeffs), shift=shift, fresh=fresh, out=d_out,
                 luma_out=d_luma_out, chroma_out=d_chroma_out, backend=gpu)
    assert np.abs(host(gpu, d_luma_out) - luma_out).max() < 1e-3
    assert np.abs(host(gpu, d_chroma_out) - chroma_out).max() < 1e-3
    assert np.abs(host(gpu, d_out).astype(int) - out).max() <= 1


@pytest.mark.cuda
def test_noise_histogram_and_thumbnail_parity_on_i420_planes(gpu):
    frame = np.random.default_rng(7).integers(0, 256, (21, 16)).astype(np.uint8)
    luma, chroma = i420_luma_chroma(frame)
    cpu = noise_histogram(luma, chroma, step=1, out=np.zeros(HIST, np.int32))
    d_luma, d_chroma = i420_luma_chroma(on(gpu, frame))
    dev = noise_histogram(d_luma, d_chroma, step=1, out=gpu.empty(HIST, np.int32), backend=gpu)
    assert np.array_equal(host(gpu, dev), cpu)
    cpu_t = luma_thumbnail(luma, 2, out=np.empty((7, 8), np.float32))
    dev_t = luma_thumbnail(d_luma, 2, out=gpu.empty((7, 8), np.float32), backend=gpu)
    assert np.array_equal(host(gpu, dev_t), cpu_t)  # integer sums: exact on both


@pytest.mark.cuda
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("radius", [1, 2])
def test_sharpen_parity(gpu, shape, radius):
    frame = frame_of(shape, 4)
    taps = binomial_taps(radius)
    cpu = sharpen(frame, taps, amount=1.3, threshold=1.0, overshoot=3.0)
    dev = sharpen(on(gpu, frame), on(gpu, taps), amount=1.3, threshold=1.0, overshoot=3.0, backend=gpu)
    assert np.abs(host(gpu, dev).astype(int) - cpu).max() <= 1


@pytest.mark.cuda
def test_sharpen_plane_parity(gpu):
    from kernels.planes import i420_shape

    frame = np.random.default_rng(6).integers(0, 256, i420_shape(10, 14)).astype(np.uint8)
    cpu = SharpenStage(SharpenParams(), CPU).apply(frame)
    dev = host(gpu, SharpenStage(SharpenParams(), gpu).apply(on(gpu, frame)))
    assert np.abs(dev.astype(int) - cpu).max() <= 1


@pytest.mark.cuda
def test_stages_parity_over_frames(gpu):
    # Whole stages, a few frames, a size change: same state handling on both backends.
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, (9, 11, 3)).astype(np.uint8) for _ in range(3)]
    frames.append(rng.integers(0, 256, (7, 9, 3)).astype(np.uint8))
    params = DenoiseParams(motion_search=True)
    cpu_stage, dev_stage = DenoiseStage(params, CPU), DenoiseStage(params, gpu)
    # Automatic sharpening: the softness is measured on the device frame, the same on both.
    cpu_sh, dev_sh = SharpenStage(SharpenParams(auto=True), CPU), SharpenStage(SharpenParams(auto=True), gpu)
    for f in frames:
        a = cpu_sh.apply(cpu_stage.apply(f))
        b = host(gpu, dev_sh.apply(dev_stage.apply(on(gpu, f))))
        assert np.abs(a.astype(int) - b).max() <= 1


@pytest.mark.cuda
def test_denoise_stage_parity_on_i420_frames(gpu):
    rng = np.random.default_rng(8)
    frames = [rng.integers(0, 256, (15, 12)).astype(np.uint8) for _ in range(3)]
    frames.append(rng.integers(0, 256, (9, 8)).astype(np.uint8))
    params = DenoiseParams(motion_search=True)
    cpu_stage, dev_stage = DenoiseStage(params, CPU), DenoiseStage(params, gpu)
    cpu_stage.yuv_format = dev_stage.yuv_format = YuvFormat("bt709", False)
    for f in frames:
        a = cpu_stage.apply(f)
        b = host(gpu, dev_stage.apply(on(gpu, f)))
        assert a.shape == f.shape and np.abs(a.astype(int) - b).max() <= 1


@pytest.mark.cuda
def test_denoise_stage_parity_with_the_history_moved_below_a_pixel(gpu):
    import cv2

    rng = np.random.default_rng(9)
    base = cv2.resize(rng.integers(0, 256, (10, 12, 3)).astype(np.uint8), (72, 60), interpolation=cv2.INTER_CUBIC)
    frames = [cv2.warpAffine(base, np.float32([[1, 0, -1.4 * t], [0, 1, -0.6 * t]]), (48, 40)) for t in range(4)]
    params = DenoiseParams(sigma=8.0, motion_search=True, subpixel=True)
    cpu_stage, dev_stage = DenoiseStage(params, CPU), DenoiseStage(params, gpu)
    for f in frames:
        a = cpu_stage.apply(f)
        b = host(gpu, dev_stage.apply(on(gpu, f)))
        # The CPU moves the history through OpenCV (positions to 1/32 px), the device exactly.
        assert np.abs(a.astype(int) - b).max() <= 2
    # The history was moved on both (the scratch planes exist only then).
    assert {"luma_moved", "chroma_moved"} & set(cpu_stage._buffers) & set(dev_stage._buffers)
