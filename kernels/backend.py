"""Compute backends and the one-source kernel pattern.

Per-pixel math is written once as plain Python on scalars and wrapped twice:
``cpu_device`` for Numba CPU loops and ``cuda_device`` for CUDA kernels, so the
two targets agree by construction; :func:`twin` does both, each wrapping calling
its own target's wrappings of the callees.  A :class:`Backend` tells a kernel which
target to launch and which array module (NumPy or CuPy) owns its buffers.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import time
import types
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, NamedTuple

import numba
import numpy as np

log = logging.getLogger(__name__)

_HERE = os.path.dirname(os.path.abspath(__file__))
#: A cache folder of other kernel sources unused for this long is removed, seconds.
STALE_CACHE_S = 24 * 3600


def _kernel_sources_digest(folder: str = _HERE) -> str:
    """A short hash of every kernel module's source.

    Numba keys a cached kernel on the file that defines it, but kernels inline math from other
    files (:mod:`kernels.pixel`, :mod:`kernels.lanes`, ...): an edit there would leave stale
    kernels in the cache.  Keying the whole cache on every source makes any edit a fresh cache.
    """
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as fh:
                digest.update(name.encode() + b"\0" + fh.read())
    return digest.hexdigest()[:16]


def _cache_dir() -> str:
    """Where compiled kernels are kept: beside the package (or under ``NUMBA_CACHE_DIR`` when set,
    or the user's cache when the package's folder is read-only), in a folder named by
    :func:`_kernel_sources_digest`.  The folders of other sources are removed once unused for a
    day (not at once: another process, of another version, may be compiling into one)."""
    own = os.path.join(_HERE, "__pycache__") if os.access(_HERE, os.W_OK) else \
        os.path.join(os.path.expanduser("~"), ".cache", "vqe")
    base = os.environ.get("NUMBA_CACHE_DIR") or own
    current = f"numba-{_kernel_sources_digest()}"
    try:
        for old in os.listdir(base):
            path = os.path.join(base, old)
            if old.startswith("numba-") and old != current and time.time() - os.path.getmtime(path) > STALE_CACHE_S:
                shutil.rmtree(path, ignore_errors=True)
    except OSError:
        pass  # no cache yet
    return os.path.join(base, current)


# Before any kernel module defines a cached kernel: Numba reads it when a dispatcher is made.
numba.config.CACHE_DIR = _cache_dir()


class _LazyCuda:
    """``numba.cuda``, imported on first use.

    Importing it costs about 0.3 s, a third of vqe's start-up, and CPU runs
    never need it.  Kernel modules name it ``cuda`` as usual; CUDA functions are
    :class:`_Deferred` until a CUDA launch first needs them.
    """

    def __getattr__(self, name: str) -> Any:
        from numba import cuda as real

        return getattr(real, name)


cuda = _LazyCuda() if importlib.util.find_spec("numba.cuda") is not None else None


#: Every CUDA device function and kernel made so far (:func:`cuda_device`, :func:`cuda_kernel`), for the
#: check that none of them calls a CPU wrapping (tests/kernels/test_twins.py).
CUDA_WRAPPINGS: list[_Deferred] = []


class _Deferred:
    """A CUDA device function or kernel, handed to ``numba.cuda.jit`` on first launch.

    Realizing one swaps the deferred objects (and the lazy ``cuda`` module) in
    its globals for the real ones, recursively, so Numba sees real device
    functions when it compiles.
    """

    def __init__(self, fn: Callable, device: bool) -> None:
        self.fn = fn
        self.device = device
        self._real: Any = None
        CUDA_WRAPPINGS.append(self)

    def realize(self) -> Any:
        if self._real is None:
            from numba import cuda as real

            # jit() compiles lazily, so setting _real first ends any recursion through globals.
            if self.device:
                self._real = real.jit(device=True, inline="always")(self.fn)
            else:
                # On disk beside the module (per compute capability): later runs skip the PTX compile.
                self._real = real.jit(self.fn) if SIMULATOR else real.jit(cache=True)(self.fn)
            names = self.fn.__globals__
            for key, value in list(names.items()):
                if isinstance(value, _Deferred):
                    names[key] = value.realize()
                elif isinstance(value, _LazyCuda):
                    names[key] = real
        return self._real

    def __getitem__(self, launch: Any) -> Any:
        return self.realize()[launch]


def bind(fn: Callable, **calls: Callable) -> Callable:
    """A copy of ``fn`` whose globals ``calls`` point at other functions.

    Numba resolves a function's callees from its globals at compile time; math
    that calls other math through a global name (``_tap_i`` say) is bound once
    per target to that target's wrapping of the callee.
    """
    if not calls:
        return fn
    bound = types.FunctionType(fn.__code__, dict(fn.__globals__, **calls), fn.__name__, fn.__defaults__)
    # Numba's disk cache files a function under its qualified name and keys it by its bytecode, which
    # every binding of ``fn`` shares: a name per binding, or one binding would load another's code.
    # (A CUDA wrapping is named by its function: a name the same in every process.)
    names = ",".join(f"{key}={getattr(value, '__qualname__', None) or getattr(value, 'fn', value).__qualname__}"
                     for key, value in sorted(calls.items()) if value is not None)
    bound.__qualname__ = f"{fn.__qualname__}_{hashlib.sha256(names.encode()).hexdigest()[:8]}"
    return bound

#: True when ``NUMBA_ENABLE_CUDASIM=1`` was set before numba was imported.
SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"

#: Threads per block for 2-D kernels: 32 columns (one warp, coalesced) by 8 rows.
BLOCK_2D = (32, 8)


def cpu_device(fn: Callable, **calls: Callable) -> Callable:
    """Wrap per-pixel math for use inside Numba CPU loops (``calls``: see :func:`bind`)."""
    return numba.njit(inline="always", nogil=True, cache=True)(bind(fn, **calls))


def cpu_row(fn: Callable, **calls: Callable) -> Callable:
    """Wrap a row's loops for CPU kernels to call: compiled once per argument types, where inlined
    they are compiled anew at every call site (the I420 denoise kernel's four took 99 s of a 135 s
    first run).  The math inside is inlined and vectorizes as before; NumPy's error model."""
    return numba.njit(nogil=True, cache=True, error_model="numpy")(bind(fn, **calls))


def cuda_device(fn: Callable, **calls: Callable) -> Callable | None:
    """Wrap per-pixel math as a CUDA device function, compiled on first use (``calls``: see :func:`bind`)."""
    if cuda is None:
        return None
    return _Deferred(bind(fn, **calls), device=True)


class Twin(NamedTuple):
    """Per-pixel math wrapped for both targets (see :func:`twin`)."""

    cpu: Callable
    cuda: Callable | None


def twin(fn: Callable, *, cpu_only: dict[str, Callable] | None = None,
         cuda_only: dict[str, Callable] | None = None, **calls: Twin) -> Twin:
    """Wrap per-pixel math for both targets, each wrapping calling its own target's callees.

    Parameters
    ----------
    fn : callable
        The ``_px`` function.
    cpu_only, cuda_only : dict, optional
        Globals bound in one target's wrapping only (:data:`kernels.pixel.VECTOR_MINMAX` say).
    **calls : Twin
        Globals ``fn`` calls, each a twin: the CPU wrapping gets its ``cpu`` member, the CUDA
        wrapping its ``cuda`` member, so no CUDA function can reach a CPU one.

    Returns
    -------
    Twin
        ``(cpu_device(fn, ...), cuda_device(fn, ...))``.
    """
    return Twin(cpu_device(fn, **{name: callee.cpu for name, callee in calls.items()}, **(cpu_only or {})),
                cuda_device(fn, **{name: callee.cuda for name, callee in calls.items()}, **(cuda_only or {})))


def cpu_kernel(fn: Callable) -> Callable:
    """Compile a whole-frame CPU loop: parallel over rows, GIL released."""
    return numba.njit(parallel=True, nogil=True, cache=True)(fn)


def cuda_kernel(fn: Callable) -> Callable | None:
    """Compile a CUDA kernel (on first launch)."""
    if cuda is None:
        return None
    return _Deferred(fn, device=False)


def kernels_compiled() -> bool:
    """Whether Numba's on-disk cache already holds compiled kernels of these sources."""
    for _, _, names in os.walk(numba.config.CACHE_DIR):
        if any(name.endswith(".nbi") for name in names):
            return True
    return False


def load_cpu_compiler() -> None:
    """Load Numba's CPU typing and lowering registries now, which the first CPU kernel call would
    otherwise do (about 0.3 s).

    Call it near the bottom of a thread's stack, before the thread's first kernel.  CPython 3.11
    frees a thread's 16 KiB frame-stack chunk the moment it empties, and this loading makes
    thousands of short calls: made deep in a stage's call chain, it crossed a chunk boundary over
    and over, mapping and unmapping a chunk each time (measured on a file run: 4,400 extra
    mmap/munmap pairs, about 40 ms of start-up).
    """
    from numba.core.registry import cpu_target

    cpu_target.target_context.refresh()


def serial_kernels_in_this_thread() -> None:
    """Run this thread's CPU kernels on one core.

    For I/O threads (decode, encode): they overlap with the processing thread,
    which keeps every core for the stages; parallel kernels here would only
    oversubscribe the machine.  Numba's thread count is per calling thread.
    """
    numba.set_num_threads(1)


def grid_2d(height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Launch configuration covering ``height x width`` threads (x = column)."""
    bx, by = BLOCK_2D
    return ((width + bx - 1) // bx, (height + by - 1) // by), BLOCK_2D


class GpuStreams:
    """The CUDA streams of a real-GPU backend (never under the simulator).

    Stages run on one non-blocking ``compute`` stream; host-to-device uploads
    run on their own ``copy`` stream, so the next frame's upload overlaps the
    current frame's kernels, and the compute stream waits for the upload's
    event before it reads the frame.
    """

    def __init__(self, cupy: ModuleType) -> None:
        from numba import cuda as real

        self.cupy = cupy
        self.compute = cupy.cuda.Stream(non_blocking=True)
        self.copy = cupy.cuda.Stream(non_blocking=True)
        # Numba launches on the same stream as CuPy's work: one queue, ordered.
        self.launch = real.external_stream(self.compute.ptr)


@dataclass(frozen=True)
class Backend:
    """Where kernels run and which array module holds their buffers.

    Attributes
    ----------
    name : {"cpu", "cuda"}
        Kernel target.
    xp : module
        ``numpy`` for the CPU and for the CUDA simulator, ``cupy`` on a real GPU.
    streams : GpuStreams or None
        The compute and copy streams on a real GPU; ``None`` otherwise.
    """

    name: str
    xp: ModuleType
    streams: GpuStreams | None = field(default=None, compare=False, repr=False)

    @property
    def is_cuda(self) -> bool:
        return self.name == "cuda"

    def launch_2d(self, kernel: Any, height: int, width: int) -> Any:
        """Configure ``kernel`` to cover a ``height x width`` frame (on the compute stream)."""
        blocks, threads = grid_2d(height, width)
        if self.streams is not None:
            return kernel[blocks, threads, self.streams.launch]
        return kernel[blocks, threads]

    def run_2d(self, cpu: Callable, gpu: Any, height: int, width: int, *args: Any) -> None:
        """Run a whole-frame kernel here: the CPU loop ``cpu(*args)``, or the CUDA kernel ``gpu``
        launched over ``height x width`` threads (:meth:`launch_2d`) with the same arguments."""
        if self.is_cuda:
            self.launch_2d(gpu, height, width)(*args)
        else:
            cpu(*args)

    def use_in_this_thread(self) -> None:
        """Make the compute stream current for CuPy work issued by the calling thread (the processing thread)."""
        if self.streams is not None:
            self.streams.compute.use()

    def asarray(self, host: np.ndarray) -> Any:
        """Copy a host array to this backend's memory (no copy on the CPU); for tables, not frames.

        On a GPU the copy is complete on return: it may run on another thread's
        stream than the kernels that read it (stages build their tables where
        the pipeline is made).
        """
        if self.xp is np:
            return host
        device = self.xp.asarray(host)
        self.xp.cuda.get_current_stream().synchronize()
        return device

    def host_empty(self, shape: tuple[int, ...], dtype: Any = np.uint8) -> np.ndarray:
        """A host array for frames that go to or come from this backend (page-locked on a GPU: async copies)."""
        if self.streams is not None:
            import cupyx

            return cupyx.empty_pinned(shape, dtype=dtype)
        return np.empty(shape, dtype)

    def upload(self, host: np.ndarray, out: Any) -> Any:
        """Copy a host array into the preallocated backend array ``out``, in order with the kernels."""
        if self.xp is np:
            np.copyto(out, host)
        elif self.streams is None:
            out.set(host)
        else:
            out.set(host, stream=self.streams.compute)
        return out

    def upload_ahead(self, host: np.ndarray, out: Any) -> Any:
        """Like :meth:`upload`, but on a GPU the copy runs on the copy stream, beside the kernels.

        For frames: the compute stream waits for the copy before anything it
        queues next, and from page-locked memory (:meth:`host_empty`) the call
        returns at once.  ``out`` must not be in use by queued kernels, and
        ``host`` must stay unchanged until the frame has been processed.
        """
        if self.streams is None:
            return self.upload(host, out)
        out.set(host, stream=self.streams.copy)
        self.streams.compute.wait_event(self.streams.copy.record())
        return out

    def empty(self, shape: tuple[int, ...], dtype: Any = np.uint8) -> Any:
        return self.xp.empty(shape, dtype=dtype)

    def to_host(self, array: Any, out: np.ndarray | None = None) -> np.ndarray:
        """Copy ``array`` to host memory, into ``out`` when given; returns when the copy is done."""
        if self.xp is np:
            if out is None:
                return array
            np.copyto(out, array)
            return out
        if self.streams is None:
            return array.get(out=out)
        return array.get(out=out, stream=self.streams.compute)  # blocking: returns once the copy is done

    def mark(self) -> Any:
        """A point in time for :meth:`elapsed_ms`: an event queued on the compute stream on a GPU
        (recording it does not wait for the GPU), the clock elsewhere."""
        if self.streams is None:
            self.synchronize()
            return time.perf_counter()
        event = self.streams.cupy.cuda.Event()
        event.record(self.streams.compute)
        return event

    def elapsed_ms(self, start: Any, end: Any) -> float:
        """Milliseconds between two marks (on a GPU, waits until the later one is reached)."""
        if self.streams is None:
            return (end - start) * 1e3
        end.synchronize()
        return float(self.streams.cupy.cuda.get_elapsed_time(start, end))

    def synchronize(self) -> None:
        """Wait for every kernel queued so far."""
        if self.streams is not None:
            self.streams.compute.synchronize()
        elif self.xp is not np:
            self.xp.cuda.get_current_stream().synchronize()


CPU = Backend("cpu", np)


def cuda_status() -> tuple[bool, str]:
    """Whether CUDA kernels can run here, and if not, why (one line)."""
    if cuda is None:
        return False, "numba's CUDA target is not installed"
    if SIMULATOR:
        return True, "Numba CUDA simulator"
    # Checked first: cheap, and it spares CPU-only installs the import of numba.cuda.
    if importlib.util.find_spec("cupy") is None:
        return False, "CuPy is not installed"
    try:
        if not cuda.is_available():
            return False, "no CUDA GPU or driver found"
    except Exception as exc:  # driver errors surface here
        return False, f"CUDA driver error: {exc}"
    try:
        import cupy  # noqa: F401
    except Exception as exc:
        return False, f"CuPy is not importable ({exc.__class__.__name__})"
    return True, "CUDA GPU"


def make_cuda_backend() -> Backend:
    """The CUDA backend: CuPy arrays on a GPU, NumPy arrays under the simulator.

    Call only after :func:`cuda_status` said yes.
    """
    if SIMULATOR:
        return Backend("cuda", np)
    import cupy

    return Backend("cuda", cupy, GpuStreams(cupy))


def _fill_px(i):
    return np.float32(i) * np.float32(0.5)


_fill_cuda_px = cuda_device(_fill_px)


@cuda_kernel
def _smoke_cuda(out):
    x, y = cuda.grid(2)
    if y < out.shape[0] and x < out.shape[1]:
        out[y, x] = _fill_cuda_px(y * out.shape[1] + x)


def cuda_smoke_test(backend: Backend) -> str | None:
    """Compile and run one tiny kernel on ``backend``; ``None`` if it worked, else why not (one line).

    A driver too old for the CUDA toolkit, a missing NVVM or a CuPy built for
    another CUDA version pass :func:`cuda_status` and fail only here, at the
    first launch: better before the first frame than in the middle of a run.
    """
    try:
        out = backend.empty((3, 5), np.float32)
        backend.launch_2d(_smoke_cuda, 3, 5)(out)
        got = backend.to_host(out, out=np.empty((3, 5), np.float32))
    except Exception as exc:  # any driver, compiler or runtime error means the same to the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"{exc.__class__.__name__}: {first[:160]}"
    if not np.array_equal(got, np.arange(15, dtype=np.float32).reshape(3, 5) * 0.5):
        return "a test kernel returned wrong values"
    return None
