"""CUDA twins against the CPU kernels (Numba's simulator where there is no GPU)."""
import numpy as np
import pytest

from kernels.backend import CPU
from kernels.color import adjust_color, tone_curves
from kernels.colorspace import YuvFormat, bgr_to_yuv, yuv_to_bgr

from conftest import on

pytestmark = pytest.mark.cuda
SHAPES = [(7, 9), (13, 17), (1, 1), (2, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_adjust_color_parity(cuda_backend, shape):
    frame = np.random.default_rng(0).integers(0, 256, shape + (3,)).astype(np.uint8)
    curves = tone_curves(0.05, 1.3, 1.4)
    cpu = adjust_color(frame, curves, 1.5, backend=CPU)
    gpu = adjust_color(on(cuda_backend, frame), on(cuda_backend, curves), 1.5, backend=cuda_backend)
    assert np.array_equal(cuda_backend.to_host(gpu), cpu)


@pytest.mark.parametrize("fmt", [YuvFormat("bt601", False), YuvFormat("bt709", True, 10, 2, 1),
                                 YuvFormat("bt2020", False, 8, 1, 1)], ids=str)
@pytest.mark.parametrize("shape", SHAPES)
def test_colorspace_parity(cuda_backend, fmt, shape):
    rng = np.random.default_rng(1)
    bgr = rng.integers(0, 256, shape + (3,)).astype(np.uint8)
    planes_cpu = bgr_to_yuv(bgr, fmt, backend=CPU)
    planes_gpu = bgr_to_yuv(on(cuda_backend, bgr), fmt, backend=cuda_backend)
    for a, b in zip(planes_cpu, planes_gpu):
        assert np.array_equal(cuda_backend.to_host(b), a)
    # yuv_to_bgr: on both targets against its float64 reference in test_colorspace.py.


@pytest.mark.parametrize("shape", [(8, 9), (12, 17), (4, 1)])
def test_interlaced_colorspace_parity(cuda_backend, shape):
    fmt = YuvFormat("bt601", False)
    bgr = np.random.default_rng(2).integers(0, 256, shape + (3,)).astype(np.uint8)
    planes_cpu = bgr_to_yuv(bgr, fmt, interlaced=True, backend=CPU)
    planes_gpu = bgr_to_yuv(on(cuda_backend, bgr), fmt, interlaced=True, backend=cuda_backend)
    for a, b in zip(planes_cpu, planes_gpu):
        assert np.array_equal(cuda_backend.to_host(b), a)
    back_cpu = yuv_to_bgr(planes_cpu, fmt, interlaced=True, backend=CPU)
    back_gpu = yuv_to_bgr(tuple(on(cuda_backend, p) for p in planes_cpu), fmt, interlaced=True, backend=cuda_backend)
    assert np.abs(cuda_backend.to_host(back_gpu).astype(int) - back_cpu).max() <= 1
