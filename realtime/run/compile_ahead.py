"""A first run's kernels compiled on two cores.

Numba compiles on one core.  On a first run (an empty kernel cache) a helper process compiles the later half of the
chain while this process compiles the earlier half; both write Numba's disk cache, so this process then loads what the
helper made.  Measured on the README's demo (2 cores): the whole first run in 22 s instead of 33 s.
"""
from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
from typing import TYPE_CHECKING, Any

import numba

if TYPE_CHECKING:
    from realtime.run.pipeline import Pipeline

log = logging.getLogger(__name__)


def start(pipeline: "Pipeline", shape: tuple[int, ...]) -> tuple[Any, int]:
    """Start a helper compiling the later half of ``pipeline``'s stages at frame ``shape``; return it and the
    index of the first stage it took.

    ``(None, len(stages))`` where it would not help: one kernel thread (a batch worker: the other
    cores run other files), a GPU, fewer than two stages, a source not set yet, or a stage before
    the split that resizes the frames (the helper's would see another shape).
    """
    stages = pipeline.stages
    split = len(stages) // 2
    source = pipeline.source
    if (numba.get_num_threads() < 2 or pipeline.backend.is_cuda or split == 0 or source is None
            or any(hasattr(stage, "output_size") for stage in stages[:split])):
        return None, len(stages)
    later = dataclasses.replace(pipeline.settings, stages=tuple(stage.name for stage in stages[split:]))
    try:
        helper = mp.get_context("spawn").Process(target=_compile, args=(later, *source, shape),
                                                 name="vqe-compile", daemon=True)
        helper.start()
    except (OSError, AssertionError) as exc:  # no process to spare (a daemon process may have no children)
        log.debug("compiling on one core: %s", exc)
        return None, len(stages)
    log.debug("compiling %s in a helper process", ", ".join(later.stages))
    return helper, split


def _compile(settings: Any, info: Any, planar: bool, shape: tuple[int, ...]) -> None:
    """The helper: warm ``settings``' chain up on blank frames, which compiles it into the disk cache."""
    from realtime.run.pipeline import Pipeline

    logging.disable(logging.INFO)
    pipeline = Pipeline(settings)
    pipeline.set_source(info, planar=planar)
    pipeline.warm_up(shape)
