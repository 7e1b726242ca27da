"""vqe: a real-time video quality enhancer for cameras, streams and files.

The Python API works on numpy frames without the command line::

    from realtime import Pipeline, open_video

    pipe = Pipeline(["denoise", "color"], color={"saturation": 1.2})
    enhanced = pipe(frame)                          # one (H, W, 3) uint8 BGR picture
    with open_video("in.mp4") as video, pipe:
        for enhanced in pipe.frames(video):         # every frame of a file
            ...

Importing vqe changes nothing process-wide (thread pools, the parallel runtime): the ``vqe``
command does that, and a program can ask for it with :func:`tune_process`.  The names below
are imported on first use, so ``import realtime`` stays light.
"""
from __future__ import annotations

import importlib
from typing import Any

from realtime.errors import (
    BackendUnavailableError,
    ConfigError,
    EncoderError,
    OutputError,
    SourceError,
    VqeError,
)

__version__ = "0.1.0"

#: Public names and the modules they live in (loaded when first asked for).
_LAZY = {
    "Pipeline": "realtime.run.pipeline",
    "Settings": "realtime.settings",
    "build_settings": "realtime.settings",
    "Frame": "realtime.run.frames",
    "open_video": "realtime.sources.video",
    "Video": "realtime.sources.video",
    "run_file": "realtime.run.filejob",
    "tune_process": "realtime.run.process",
}

__all__ = ["BackendUnavailableError", "ConfigError", "EncoderError", "Frame", "OutputError", "Pipeline", "Settings",
           "SourceError", "Video", "VqeError", "__version__", "build_settings", "open_video", "run_file",
           "tune_process"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'realtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
