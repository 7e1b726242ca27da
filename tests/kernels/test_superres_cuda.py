"""CUDA twins of the learned upscaler's kernels against their Numba CPU twins (the simulator in CI)."""
import numpy as np
import pytest
from test_superres import frame_of, random_model

from kernels.backend import CPU
from kernels.superres import upscale_learned

pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("shape", [(7, 9), (13, 17)])
def test_upscale_learned_parity(cuda_backend, shape, factor):
    # Few channels: the simulator runs every thread in Python.
    model = random_model(factor, channels=3, seed=shape[1])
    frame = frame_of(shape, seed=factor)
    cpu_work: dict = {}
    cpu = upscale_learned(frame, model, work=cpu_work, backend=CPU, use_opencv=False)
    gpu_work: dict = {}
    out = cuda_backend.empty((shape[0] * factor, shape[1] * factor, 3))
    gpu = upscale_learned(cuda_backend.asarray(frame), model, out=out, work=gpu_work, backend=cuda_backend)
    assert gpu is out
    # Every layer's activations: same float32 sums in the same order (a GPU may fuse multiply-adds).
    for key in [k for k in cpu_work if k.startswith("sr_act")]:
        plane = cpu_work[key]
        np.testing.assert_allclose(cuda_backend.to_host(gpu_work[key]), plane, rtol=1e-4,
                                   atol=1e-4 * max(1.0, float(np.abs(plane).max())))
    assert np.abs(cuda_backend.to_host(gpu).astype(int) - cpu).max() <= 1


def test_y_plane_parity(cuda_backend):
    model = random_model(2, channels=3, seed=1)
    y = frame_of((5, 7), seed=2)[..., :1].copy()
    cpu = upscale_learned(y, model, backend=CPU, use_opencv=False)
    gpu = upscale_learned(cuda_backend.asarray(y), model, backend=cuda_backend)
    assert gpu.shape == (10, 14, 1)
    assert np.abs(cuda_backend.to_host(gpu).astype(int) - cpu).max() <= 1
