"""Narrow integer operations: the CPU intrinsics compute what the plain operators do, at their width."""
import numba
import numpy as np
import pytest

from kernels import lanes

_add16 = lanes.CPU_LANES["add16"]


def _apply(name):
    op = lanes.CPU_LANES[name]

    @numba.njit
    def apply(a, b, out):
        for i in range(a.size):
            out[i] = op(a[i], b[i])

    return apply


@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("kind", ["add", "sub", "mul", "max", "min", "shr"])
def test_cpu_ops_match_the_plain_operators(kind, bits):
    dtype = np.int16 if bits == 16 else np.int32
    rng = np.random.default_rng(bits)
    a = rng.integers(-600, 600, 500).astype(dtype)
    b = (rng.integers(0, 15, 500) if kind == "shr" else rng.integers(-600, 600, 500)).astype(dtype)
    if kind == "mul" and bits == 16:
        a, b = a // 30, b // 30  # products within int16, as callers keep them
    out = np.empty_like(a)
    _apply(f"{kind}{bits}")(a, b, out)
    plain = getattr(lanes, f"{kind}{bits}")
    expected = np.array([plain(int(x), int(y)) for x, y in zip(a, b)])
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == dtype


def test_cpu_ops_are_narrow():
    """They work at their width (the caller keeps values in range): int16 wraps where int64 would not."""
    out = np.empty(1, np.int64)

    @numba.njit
    def wide_sum(a, b, out):
        out[0] = _add16(a, b)

    wide_sum(np.int64(30000), np.int64(30000), out)
    assert out[0] == 60000 - 65536
