"""Every CUDA wrapping of per-pixel math calls CUDA functions only.

Math calls other math through global names, bound once per target (:func:`kernels.backend.twin`).
A CUDA wrapping left calling a CPU dispatcher (or plain Python) still passes the CUDA simulator,
which runs Python, and fails only on a GPU; this checks every binding without one.
"""
import builtins
import dis
import importlib
import pkgutil
import types

import pytest
from numba.core.extending import _Intrinsic
from numba.core.registry import CPUDispatcher

import kernels
from kernels import backend


def _global_names(code: types.CodeType):
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            yield instruction.argval
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def cpu_callees(wrapping) -> list[str]:
    """The globals a CUDA wrapping reads that no CUDA kernel can call: CPU dispatchers and
    intrinsics, plain Python functions and names bound to nothing."""
    fn = wrapping.fn
    found = []
    for name in sorted(set(_global_names(fn.__code__))):
        if name not in fn.__globals__:
            if not hasattr(builtins, name):
                found.append(f"{name} (unbound)")
            continue
        value = fn.__globals__[name]
        if isinstance(value, (CPUDispatcher, _Intrinsic, types.FunctionType)):
            found.append(f"{name} ({type(value).__name__})")
    return found


def _kernel_wrappings() -> list:
    for info in pkgutil.iter_modules(kernels.__path__):
        importlib.import_module(f"kernels.{info.name}")
    return [w for w in backend.CUDA_WRAPPINGS if w.fn.__module__.startswith("kernels.")]


pytestmark = pytest.mark.skipif(backend.cuda is None, reason="numba's CUDA target is not installed")


def test_no_cuda_wrapping_calls_a_cpu_function():
    wrappings = _kernel_wrappings()
    assert len(wrappings) > 100  # every kernel module's, device functions and kernels
    wrong = {f"{w.fn.__module__}.{w.fn.__qualname__}": cpu_callees(w) for w in wrappings}
    assert {name: callees for name, callees in wrong.items() if callees} == {}


def _half_px(v):
    return v * 0.5


def _scaled_px(v):
    return _half_i(v) * 2.0  # noqa: F821 (bound per target)


def test_the_check_finds_a_cuda_binding_to_a_cpu_wrapping():
    half = backend.twin(_half_px)
    assert cpu_callees(backend.twin(_scaled_px, _half_i=half).cuda) == []
    assert cpu_callees(backend.cuda_device(_scaled_px, _half_i=half.cpu)) == ["_half_i (CPUDispatcher)"]
    assert cpu_callees(backend.cuda_device(_scaled_px)) == ["_half_i (unbound)"]
    assert cpu_callees(backend.cuda_device(_scaled_px, _half_i=_half_px)) == ["_half_i (function)"]
