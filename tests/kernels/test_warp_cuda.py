"""CUDA twins of the warp and thumbnail kernels against their Numba CPU twins (the simulator in CI)."""
import numpy as np
import pytest

from kernels.backend import CPU
from kernels.planes import i420_shape
from kernels.warp import gray_thumbnail, warp_affine, warp_i420

from conftest import on

pytestmark = pytest.mark.cuda
SHAPES = [(7, 9), (13, 17)]
MATRICES = [np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
            np.array([[0.99, -0.12, 1.3], [0.12, 0.99, -0.7]]),
            np.array([[1.1, 0.0, -2.25], [0.0, 0.9, 3.5]])]


@pytest.mark.parametrize("border", ["black", "replicate"])
@pytest.mark.parametrize("m", range(len(MATRICES)))
@pytest.mark.parametrize("shape", SHAPES)
def test_warp_parity(cuda_backend, shape, m, border):
    frame = np.random.default_rng(m).integers(0, 256, shape + (3,)).astype(np.uint8)
    cpu = warp_affine(frame, MATRICES[m], border=border, backend=CPU, use_opencv=False)
    out = cuda_backend.empty(shape + (3,))
    gpu = warp_affine(on(cuda_backend, frame), MATRICES[m], out=out, border=border, backend=cuda_backend)
    # Same float32 math; a GPU may fuse multiply-adds, which moves a rounding by one level at most.
    assert np.abs(cuda_backend.to_host(gpu).astype(int) - cpu).max() <= 1


@pytest.mark.parametrize("border", ["black", "replicate"])
@pytest.mark.parametrize("m", range(len(MATRICES)))
def test_plane_warp_parity(cuda_backend, m, border):
    plane = np.random.default_rng(10 + m).integers(0, 256, (11, 15)).astype(np.uint8)
    cpu = warp_affine(plane, MATRICES[m], border=border, border_value=16.0, backend=CPU, use_opencv=False)
    gpu = warp_affine(on(cuda_backend, plane), MATRICES[m], out=cuda_backend.empty((11, 15)), border=border,
                      border_value=16.0, backend=cuda_backend)
    assert np.abs(cuda_backend.to_host(gpu).astype(int) - cpu).max() <= 1


@pytest.mark.parametrize("border", ["black", "replicate"])
def test_float_plane_warp_parity(cuda_backend, border):
    plane = np.random.default_rng(20).uniform(0, 255, (11, 15)).astype(np.float32)
    cpu = warp_affine(plane, MATRICES[1], border=border, border_value=16.0, backend=CPU, use_opencv=False)
    gpu = warp_affine(on(cuda_backend, plane), MATRICES[1], out=cuda_backend.empty((11, 15), "float32"),
                      border=border, border_value=16.0, backend=cuda_backend)
    # The same float32 math; fused multiply-adds on a GPU move the last bits only.
    assert np.abs(cuda_backend.to_host(gpu) - cpu).max() < 1e-3


@pytest.mark.parametrize("border", ["black", "replicate"])
def test_i420_warp_parity(cuda_backend, border):
    frame = np.random.default_rng(3).integers(0, 256, i420_shape(10, 14)).astype(np.uint8)
    cpu = warp_i420(frame, MATRICES[1], out=np.empty_like(frame), border=border, black=(16, 128, 128),
                    backend=CPU, use_opencv=False)
    gpu = warp_i420(on(cuda_backend, frame), MATRICES[1], out=cuda_backend.empty(frame.shape), border=border,
                    black=(16, 128, 128), backend=cuda_backend)
    assert np.abs(cuda_backend.to_host(gpu).astype(int) - cpu).max() <= 1


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("factor", [1, 2, 3])
def test_thumbnail_parity(cuda_backend, factor, channels):
    shape = (13, 17, 3) if channels == 3 else (13, 17)
    frame = np.random.default_rng(factor).integers(0, 256, shape).astype(np.uint8)
    tshape = (13 // factor, 17 // factor)
    cpu = gray_thumbnail(frame, factor, out=np.empty(tshape, np.float32), backend=CPU, use_opencv=False)
    gpu = gray_thumbnail(on(cuda_backend, frame), factor, out=cuda_backend.empty(tshape, np.float32),
                         backend=cuda_backend)
    assert np.allclose(cuda_backend.to_host(gpu), cpu, atol=1e-3)
