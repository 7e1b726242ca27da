"""CUDA twins of the warp and thumbnail kernels against their Numba CPU twins (the simulator in CI)."""
import numpy as np
import pytest

from kernels.backend import CPU
from kernels.warp import gray_thumbnail, warp_affine

pytestmark = pytest.mark.cuda
SHAPES = [(7, 9), (13, 17)]
MATRICES = [np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
            np.array([[0.99, -0.12, 1.3], [0.12, 0.99, -0.7]]),
            np.array([[1.1, 0.0, -2.25], [0.0, 0.9, 3.5]])]


def on(backend, arr):
    return backend.asarray(np.ascontiguousarray(arr))


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


@pytest.mark.parametrize("factor", [1, 2, 3])
def test_thumbnail_parity(cuda_backend, factor):
    frame = np.random.default_rng(factor).integers(0, 256, (13, 17, 3)).astype(np.uint8)
    shape = (13 // factor, 17 // factor)
    cpu = gray_thumbnail(frame, factor, out=np.empty(shape, np.float32), backend=CPU, use_opencv=False)
    gpu = gray_thumbnail(on(cuda_backend, frame), factor, out=cuda_backend.empty(shape, np.float32),
                         backend=cuda_backend)
    assert np.allclose(cuda_backend.to_host(gpu), cpu, atol=1e-3)
