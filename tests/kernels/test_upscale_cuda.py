"""CUDA twins of the resize, EASU and RCAS kernels against their Numba CPU twins (the simulator in CI).

Run with ``NUMBA_ENABLE_CUDASIM=1 python -m pytest -m cuda tests/kernels/test_upscale_cuda.py``
where there is no GPU; the simulator is slow, so frames are tiny.
"""
import numpy as np
import pytest

from kernels.backend import CPU
from kernels.easu import PAD
from kernels.resize import METHODS, resize, resize_tables
from kernels.upscale import analyse, easu, rcas_compose, upscale_edge

from conftest import on

pytestmark = pytest.mark.cuda
#: (input, output) sizes: integer and fractional factors, a single line.
SIZES = [((7, 9), (14, 18)), ((5, 6), (8, 13)), ((1, 5), (2, 10))]


def frame_of(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape + (3,)).astype(np.uint8)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("src, dst", SIZES, ids=str)
def test_resize_parity(cuda_backend, method, src, dst):
    frame = frame_of(src, seed=dst[1])
    cpu = resize(frame, out=np.empty(dst + (3,), np.uint8), method=method, use_opencv=False)
    tables = resize_tables(src, dst, method, backend=cuda_backend)
    gpu = resize(on(cuda_backend, frame), out=cuda_backend.empty(dst + (3,)), method=method, tables=tables,
                 backend=cuda_backend)
    # Same float32 math; a GPU may fuse multiply-adds, which moves a rounding by one level at most.
    assert np.abs(cuda_backend.to_host(gpu).astype(int) - cpu).max() <= 1


@pytest.mark.parametrize("src, dst", SIZES, ids=str)
def test_analysis_and_easu_parity(cuda_backend, src, dst):
    frame = frame_of(src, seed=src[1])
    h, w = src
    planes = []
    for backend in (CPU, cuda_backend):
        lp = backend.empty((h + 2 * PAD, w + 2 * PAD), np.float32)
        cp = backend.empty((3, h + 2 * PAD, w + 2 * PAD), np.float32)
        coef = backend.empty((5, h, w), np.float32)
        analyse(on(backend, frame), luma_pad=lp, chroma_pad=cp, coef=coef, backend=backend)
        up = easu(lp, coef, out=backend.empty(dst, np.float32), backend=backend)
        planes.append([backend.to_host(a) for a in (lp, cp, coef, up)])
    (lp_c, cp_c, coef_c, up_c), (lp_g, cp_g, coef_g, up_g) = planes
    assert np.allclose(lp_c, lp_g, atol=1e-3) and np.allclose(cp_c, cp_g, atol=1e-3)
    assert np.allclose(coef_c, coef_g, rtol=1e-4, atol=1e-4)
    assert np.allclose(up_c, up_g, atol=1e-2)


def test_rcas_compose_parity(cuda_backend):
    rng = np.random.default_rng(3)
    luma = rng.uniform(0, 255, (13, 17)).astype(np.float32)
    frame = frame_of((5, 7), seed=3)
    cp = np.empty((3, 5 + 2 * PAD, 7 + 2 * PAD), np.float32)
    analyse(frame, luma_pad=np.empty(cp.shape[1:], np.float32), chroma_pad=cp,
            coef=np.empty((5, 5, 7), np.float32))
    cpu = rcas_compose(luma, cp, amount=0.5, out=np.empty((13, 17, 3), np.uint8))
    gpu = rcas_compose(on(cuda_backend, luma), on(cuda_backend, cp), amount=0.5,
                       out=cuda_backend.empty((13, 17, 3)), backend=cuda_backend)
    assert np.abs(cuda_backend.to_host(gpu).astype(int) - cpu).max() <= 1


@pytest.mark.parametrize("src, dst", SIZES, ids=str)
def test_upscale_edge_parity(cuda_backend, src, dst):
    frame = frame_of(src, seed=7)
    cpu = upscale_edge(frame, out=np.empty(dst + (3,), np.uint8), deblur=0.75, sharpness=0.5)
    gpu = upscale_edge(on(cuda_backend, frame), out=cuda_backend.empty(dst + (3,)), deblur=0.75, sharpness=0.5,
                       backend=cuda_backend)
    assert np.abs(cuda_backend.to_host(gpu).astype(int) - cpu).max() <= 1


@pytest.mark.parametrize("method", ["bicubic", "lanczos", "edge"])
def test_stage_parity(cuda_backend, method):
    from realtime.stages.upscale import UpscaleParams, UpscaleStage

    frame = frame_of((7, 9), seed=11)
    params = UpscaleParams(method=method, factor=2.0)
    cpu = UpscaleStage(params, CPU).apply(frame)
    gpu = UpscaleStage(params, cuda_backend).apply(on(cuda_backend, frame))
    # The CPU stage resizes with OpenCV (11-bit weights), a level from the float kernels at most.
    assert np.abs(cuda_backend.to_host(gpu).astype(int) - cpu).max() <= 2


def test_plane_paths_parity(cuda_backend):
    # One-channel frames (Y and chroma planes of I420): resize, edge and the stage as a whole.
    from kernels.planes import i420_shape
    from realtime.stages.upscale import UpscaleParams, UpscaleStage

    frame = np.random.default_rng(9).integers(0, 256, i420_shape(6, 8)).astype(np.uint8)
    for method in ("edge", "bicubic"):
        params = UpscaleParams(method=method, factor=2.0)
        cpu = UpscaleStage(params, CPU).apply(frame)
        gpu = cuda_backend.to_host(UpscaleStage(params, cuda_backend).apply(on(cuda_backend, frame)))
        assert gpu.shape == cpu.shape == i420_shape(12, 16)
        assert np.abs(gpu.astype(int) - cpu).max() <= 1
