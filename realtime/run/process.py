"""Process-wide tuning: thread pools and the parallel runtime, for the command line or on request.

These settings act on the whole Python process (every library in it), so importing vqe does
not make them: the ``vqe`` command does, first thing, and a program that embeds vqe and wants
the same speed calls :func:`tune_process` before it imports NumPy or vqe's kernels.
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)


def cpu_cores() -> int:
    """Cores this process may run on (its affinity, as ``taskset`` or a container limits it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def tune_process() -> None:
    """Set vqe's thread and runtime choices for this process (an explicit setting wins).

    - One BLAS thread: vqe's matrix work is 2x2 and 3x3, so a BLAS thread pool only costs start-up (its threads take
      0.1-0.2 s of CPU as they spin up, measured) and competes with the kernel threads.  Read when NumPy loads OpenBLAS.
    - Idle OpenMP workers sleep instead of spinning: several threads (decode, processing, encode) call parallel kernels
      on few cores, and spinning teams starve each other (measured: about 8 ms per call with the default policy against
      0.1 ms passive, in a multi-threaded process on 2 cores).
    - No host wait on a CuPy array's stream before each Numba CUDA launch: vqe's kernels and
      CuPy's work share one stream, already in order.
    - TBB's work-stealing threads for parallel kernels where the ``tbb`` wheel is installed (:func:`load_tbb`).
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("NUMBA_CUDA_ARRAY_INTERFACE_SYNC", "0")
    late = [name for name in ("numpy", "numba") if name in sys.modules]
    if late:
        log.debug("tune_process: %s already imported; some settings come too late for it", ", ".join(late))
    load_tbb()


def load_tbb() -> None:
    """Load the ``tbb`` wheel's runtime, so that Numba runs parallel kernels on TBB rather than OpenMP.

    TBB's threads steal work: when the capture or recorder thread takes a core in the middle of a kernel, the other
    kernel thread goes on with the rest of the rows, where OpenMP's static split leaves it waiting (measured, whole
    process on 2 cores, rounds interleaved: 1080p deinterlace 12% and 720p denoise 6% less wall time).  pip puts the
    library in ``<prefix>/lib``, off the loader's path; once loaded by its full path, Numba finds it by name.  Without
    it Numba uses OpenMP.  Must run before the first parallel kernel.
    """
    lib = os.path.join(sys.prefix, "lib", "libtbb.so.12")
    if sys.platform.startswith("linux") and os.path.exists(lib):
        try:
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:  # a broken install: OpenMP still works
            log.debug("TBB not loaded (%s): parallel kernels use OpenMP", exc)
