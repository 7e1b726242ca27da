"""CUDA twins of the deinterlacing kernels against their Numba CPU twins (the simulator in CI)."""
import numpy as np
import pytest

from kernels.backend import CPU
from kernels.comb import PROBE_ROWS, comb_probe, probe_layout
from kernels.deinterlace import blend_fields, interpolate_field

pytestmark = pytest.mark.cuda
SHAPES = [(7, 9), (13, 17)]


def on(backend, arr):
    return backend.asarray(np.ascontiguousarray(arr))


def frames(shape, seed, n=3, channels=3):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, shape + (channels,)).astype(np.uint8) for _ in range(n)]


@pytest.mark.parametrize("history", ["none", "previous", "previous_and_next"])
@pytest.mark.parametrize("parity", [0, 1])
@pytest.mark.parametrize("shape, channels", [(s, 3) for s in SHAPES] + [((13, 17), 1)])
def test_interpolate_parity(cuda_backend, shape, channels, parity, history):
    f = frames(shape, shape[0] + parity, channels=channels)
    memory = np.random.default_rng(9).integers(0, 40, shape + (channels,)).astype(np.uint8)
    args = {"none": {}, "previous": {"before": f[0], "after": f[1], "kept_prev": f[0]},
            "previous_and_next": {"before": f[1], "after": f[2], "kept_prev": f[0], "kept_next": f[2]}}[history]
    cpu_mem = memory.copy()
    cpu = interpolate_field(f[1], parity=parity, memory=cpu_mem, use_memory=True, **args)
    gpu_mem = on(cuda_backend, memory)
    gpu = interpolate_field(on(cuda_backend, f[1]), parity=parity, memory=gpu_mem, use_memory=True,
                            backend=cuda_backend, **{k: on(cuda_backend, v) for k, v in args.items()})
    # The same exact integer math.
    np.testing.assert_array_equal(cuda_backend.to_host(gpu), cpu)
    np.testing.assert_array_equal(cuda_backend.to_host(gpu_mem), cpu_mem)


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
