"""CUDA twins of the blending and combing kernels against their CPU twins (the simulator in CI).

The field interpolator is checked on both targets against its NumPy reference in test_deinterlace.py."""
import numpy as np
import pytest

from kernels.backend import CPU
from kernels.comb import PROBE_ROWS, comb_probe, probe_layout
from kernels.deinterlace import blend_fields

from conftest import on

pytestmark = pytest.mark.cuda
SHAPES = [(7, 9), (13, 17)]


def frames(shape, seed, n=3, channels=3):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, shape + (channels,)).astype(np.uint8) for _ in range(n)]


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("shape", SHAPES + [(1, 5)])
def test_blend_parity(cuda_backend, shape, channels):
    frame = frames(shape, 4, 1, channels)[0]
    gpu = blend_fields(on(cuda_backend, frame), backend=cuda_backend)
    assert np.abs(cuda_backend.to_host(gpu).astype(int) - blend_fields(frame, backend=CPU)).max() <= 1


@pytest.mark.parametrize("channels", [3, 1])
def test_probe_parity(cuda_backend, channels):
    frame = frames((13, 17), 6, 1, channels)[0]
    rows, step, cols = probe_layout(13, 17)
    cpu = comb_probe(frame, rows, step, out=np.empty((rows.size, PROBE_ROWS, cols), np.float32))
    gpu = comb_probe(on(cuda_backend, frame), on(cuda_backend, rows), step,
                     out=cuda_backend.empty((rows.size, PROBE_ROWS, cols), np.float32), backend=cuda_backend)
    np.testing.assert_allclose(cuda_backend.to_host(gpu), cpu, atol=1e-4)
