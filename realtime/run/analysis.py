"""``--analyze``: a first pass over a whole file that fixes levels and white balance per shot.

A single pass has to estimate as it goes: it smooths its per-frame estimates over time (so a shot's start lags, and a
long shot drifts with its content) and restarts on each cut.  The first pass reads every frame's statistics, cuts the
file into shots with the same scene-cut logic, and gives each shot one value from all of its frames (the median: robust
to a person walking through or a few odd frames), which the enhancing pass applies from a shot's first frame to its
last.  It is cheap: frames are decoded as planar Y'CbCr, and each analysed stage reads only its statistics thumbnail
from them with its own code, on the CPU.

Stages take part by having ``measure(image) -> (event, reading)``,
``plan_shot(readings, seen) -> value`` and an ``analysable`` flag (contrast, color); a stage whose
fixed value changes what later stages measure also has ``through(thumb, value)``.
"""
from __future__ import annotations

import bisect
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from kernels.backend import CPU
from realtime.run.ringbuffer import Slot
from realtime.settings import Settings
from realtime.sources.files import delivers_i420, open_source
from realtime.stages import STAGES, Stage
from realtime.stages.base import tell_source
from realtime.stages.temporal import SceneWatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    """Values that hold per shot, looked up by frame index.

    Shot ``k`` covers frames ``starts[k]`` up to ``starts[k + 1] - 1``; the first shot also covers
    any frame before its start, the last any frame after.
    """

    starts: tuple[int, ...]
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.starts or len(self.starts) != len(self.values) or list(self.starts) != sorted(self.starts):
            raise ValueError("a schedule needs one value per shot and its shots' starts in order")

    def at(self, index: int) -> Any:
        """The value of the shot that frame ``index`` belongs to."""
        return self.values[max(bisect.bisect_right(self.starts, index) - 1, 0)]

    def scaled(self, factor: int) -> "Schedule":
        """The same shots for a stream with ``factor`` frames per frame (after a field-rate deinterlacer)."""
        return self if factor == 1 else Schedule(tuple(s * factor for s in self.starts), self.values)


@dataclass
class Analysis:
    """What the first pass found: the shots, and each analysed stage's value per shot."""

    #: Frames read.
    frames: int = 0
    #: First frame of each shot.
    starts: tuple[int, ...] = ()
    #: Stage name -> its values per shot.
    plans: dict[str, Schedule] = field(default_factory=dict)
    #: Wall time of the pass.
    seconds: float = 0.0

    @property
    def shots(self) -> int:
        return len(self.starts)

    def stats(self) -> dict[str, Any]:
        """The ``--stats`` fields of the pass."""
        return {"analysis_s": round(self.seconds, 3), "shots": self.shots, "analysis_frames": self.frames}


class EvenSample:
    """At most ``cap`` items of a stream, evenly spread over it (every item while there is room).

    When full, every other item is dropped and from then on only every second one is taken, and
    so on: memory stays bounded however long the stream.
    """

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.items: list[Any] = []
        self._stride = 1
        self._seen = 0

    def add(self, item: Any) -> None:
        if self._seen % self._stride == 0:
            self.items.append(item)
            if self.cap is not None and len(self.items) > self.cap:
                del self.items[1::2]
                self._stride *= 2
        self._seen += 1


def analysed_stages(settings: Settings) -> list[Stage]:
    """Fresh CPU instances of the chain's stages that a first pass has something to fix for, in chain order."""
    stages = []
    for name in settings.stages:
        cls = STAGES[name]
        if callable(getattr(cls, "plan_shot", None)):
            stage = cls(settings.params[name], CPU)
            if stage.analysable:
                stages.append(stage)
    return stages


def analyze(path: str | Path, settings: Settings, *, max_frames: int | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> Analysis:
    """Read a whole file (the first ``max_frames``, as the enhancing pass will) and fix each analysed stage's
    value per shot; empty (no plans) when no stage of ``settings``' chain has anything to fix.

    ``should_stop`` is polled per frame; ``True`` ends the pass early (a preview window closed).
    """
    stages = analysed_stages(settings)
    if not stages:
        log.info("--analyze: nothing to analyse in the chain %s (contrast levels or automatic white balance)",
                 ",".join(settings.stages) or "none")
        return Analysis()
    t0 = time.perf_counter()
    source = open_source(path)
    try:
        source.planar = delivers_i420(source.info)  # the statistics come straight from the decoded planes
        tell_source(stages, source.info, source.planar)
        shots = _Shots(stages)
        slot = Slot(np.empty(0, np.uint8))
        while (max_frames is None or shots.frames < max_frames) and not should_stop() and source.read_into(slot):
            shots.add(slot.image)
        result = shots.finish()
    finally:
        source.close()
    result.seconds = time.perf_counter() - t0
    log.info("--analyze: first pass over %d frames in %.2f s (%.2f ms a frame): %d shot%s; %s fixed per shot",
             result.frames, result.seconds, 1e3 * result.seconds / max(result.frames, 1), result.shots,
             "" if result.shots == 1 else "s", " and ".join(stage.name for stage in stages))
    return result


def plan_pipeline(pipeline: Any, path: str | Path, *, max_frames: int | None = None, stats: Any = None,
                  should_stop: Callable[[], bool] = lambda: False) -> Analysis:
    """Run :func:`analyze` for ``pipeline``'s settings and give its stages the plans (``--analyze``).

    ``pipeline`` is a :class:`~realtime.run.pipeline.Pipeline`; the pass's time and shot count go
    into ``stats.extra`` (a :class:`~realtime.run.stats.RunStats`) when given.
    """
    analysis = analyze(path, pipeline.settings, max_frames=max_frames, should_stop=should_stop)
    pipeline.set_plan(analysis.plans)
    if stats is not None:
        stats.extra.update(analysis.stats())
    return analysis


class _Shots:
    """The first pass's state: the readings of the shot under way, and the values of the shots before it."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = stages
        self.frames = 0
        self.starts: list[int] = []
        self.values: list[list[Any]] = []
        self._readings: list[EvenSample] = []

    def add(self, image: Any) -> None:
        """Measure one frame; the first stage's scene watch tells cuts and flashes for all of them."""
        measured = [stage.measure(image) for stage in self.stages]
        event = measured[0][0]
        if event == SceneWatch.CUT or not self.starts:
            self._close_shot()
            self.starts.append(self.frames)
            self._readings = [EvenSample(getattr(stage, "max_readings", None)) for stage in self.stages]
        if event != SceneWatch.FLASH:  # a flash lights the scene another way: not the shot's own statistics
            for sample, (_, reading) in zip(self._readings, measured):
                sample.add(reading)
        self.frames += 1

    def finish(self) -> Analysis:
        self._close_shot()
        if not self.starts:
            return Analysis()
        starts = tuple(self.starts)
        plans = {stage.name: Schedule(starts, tuple(v[i] for v in self.values)) for i, stage in enumerate(self.stages)}
        return Analysis(self.frames, starts, plans)

    def _close_shot(self) -> None:
        """The shot under way gets its values, each stage seeing what the stages before it fixed."""
        if len(self.values) == len(self.starts):
            return
        values: list[Any] = []
        seen: Callable[[np.ndarray], np.ndarray] = lambda thumb: thumb  # the first stage sees its input
        for stage, sample in zip(self.stages, self._readings):
            value = stage.plan_shot(sample.items, seen)
            values.append(value)
            through = getattr(stage, "through", None)
            if through is not None:
                seen = _then(seen, through, value)
        self.values.append(values)
        self._readings = []


def _then(first: Callable[[np.ndarray], np.ndarray], through: Callable[[np.ndarray, Any], np.ndarray],
          value: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``first``, then a stage's fixed ``value`` applied to the thumbnail."""
    return lambda thumb: through(first(thumb), value)
