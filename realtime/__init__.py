"""vqe: a real-time video quality enhancer for cameras, streams and files.

The Python API works on numpy frames without the CLI::

    from realtime import Pipeline, build_settings
    pipe = Pipeline(build_settings(stages="color", overrides=("color.saturation=1.2",)))
    enhanced = pipe.process(bgr_frame)
"""
__version__ = "0.1.0"

import os  # noqa: E402

# vqe's matrix work is 2x2 and 3x3: a BLAS thread pool only costs start-up (its threads take
# 0.1-0.2 s of CPU as they spin up, measured) and competes with the kernel threads.  Set before
# NumPy loads OpenBLAS; an explicit setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from realtime.errors import (  # noqa: E402
    BackendUnavailableError,
    ConfigError,
    EncoderError,
    OutputError,
    SourceError,
    VqeError,
)
from realtime.frames import Frame  # noqa: E402
from realtime.pipeline import Pipeline  # noqa: E402
from realtime.settings import Settings, build_settings  # noqa: E402

__all__ = ["Pipeline", "Settings", "build_settings", "Frame", "VqeError", "ConfigError", "SourceError",
           "OutputError", "EncoderError", "BackendUnavailableError", "run_file", "__version__"]


def run_file(*args, **kwargs):
    """Enhance a video file; see :func:`realtime.filejob.run_file`."""
    from realtime.filejob import run_file as _run_file

    return _run_file(*args, **kwargs)
