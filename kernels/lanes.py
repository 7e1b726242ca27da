"""Integer arithmetic that stays 16 or 32 bits wide in vectorized CPU loops.

Numba types every integer sum, difference and product as int64, so a CPU loop of
small-integer math vectorizes on 64-bit lanes: a quarter of what 16-bit lanes
hold.  LLVM narrows some of it back, not reliably (comparisons, min and max
stay wide).  Per-pixel math that must run on narrow lanes calls the operations
below by name (``add16(a, b)``, ``max32(a, b)``, ...): as plain Python they are
the ordinary operators (what CUDA kernels and the CUDA simulator run), and the
CPU wrapping binds them to Numba intrinsics that emit exactly one 16- or 32-bit
LLVM instruction (``twin(fn, **LANES)``).  The caller keeps values in
range: the narrow forms wrap on overflow.
"""
from __future__ import annotations

from typing import Any, Callable

from numba import types
from numba.extending import intrinsic

from kernels.backend import Twin, cuda_device


def _add(a, b):
    return a + b


def _sub(a, b):
    return a - b


def _mul(a, b):
    return a * b


def _max(a, b):
    return a if a > b else b


def _min(a, b):
    return a if a < b else b


def _shr(a, b):
    return a >> b


add16 = add32 = _add
sub16 = sub32 = _sub
mul16 = mul32 = _mul
max16 = max32 = _max
min16 = min32 = _min
shr16 = shr32 = _shr


def _emit(kind: str, builder: Any, x: Any, y: Any) -> Any:
    if kind == "add":
        return builder.add(x, y)
    if kind == "sub":
        return builder.sub(x, y)
    if kind == "mul":
        return builder.mul(x, y)
    if kind == "max":
        return builder.select(builder.icmp_signed(">", x, y), x, y)
    if kind == "min":
        return builder.select(builder.icmp_signed("<", x, y), x, y)
    return builder.ashr(x, y)


def _narrow(kind: str, width: types.Integer) -> Callable:
    """An intrinsic ``(a, b) -> a <kind> b`` on ``width`` integers (arguments converted to it)."""

    def typer(typingctx, a, b):
        if not (isinstance(a, types.Integer) and isinstance(b, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            return _emit(kind, builder, *args)

        return width(width, width), codegen

    typer.__name__ = f"{kind}{width.bitwidth}"
    return intrinsic(typer)


_KINDS = ("add", "sub", "mul", "max", "min", "shr")
#: The narrow operations for CPU loops (bind with ``cpu_device(fn, **CPU_LANES)``).
CPU_LANES = {f"{kind}{bits}": _narrow(kind, getattr(types, f"int{bits}")) for kind in _KINDS for bits in (16, 32)}
#: Both targets' (bind with ``twin(fn, **LANES)``): on CUDA the plain operators (CUDA lanes are scalar).
LANES = {name: Twin(op, cuda_device(globals()[name])) for name, op in CPU_LANES.items()}
