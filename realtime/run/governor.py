"""The real-time governor: a live run that cannot hold its source's rate degrades in declared steps
before it drops frames, and restores quality when there is headroom again.

The load is the time the processing thread was busy with a frame over the source's frame interval, smoothed over about
half a second of frames.  Above :data:`HIGH` the next step is taken; below :data:`LOW` for a while the last one is
undone.  As WebRTC's overuse detector does (its ``overuse_frame_detector.cc``: 85% and 42% of the frame interval), with
two changes for a whole chain: it reacts within about a second, not ten, and a step undone that brings the overload back
doubles the wait before the next try, so it does not oscillate.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    from realtime.run.pipeline import Pipeline

log = logging.getLogger(__name__)

#: Smoothed load above which the next step is taken (busy time / frame interval).
HIGH = 0.85
#: Smoothed load below which the last step may be undone.
LOW = 0.42
#: Time constant of the load's smoothing, seconds.
SMOOTHING_S = 0.5
#: After any change, the load is left to settle this long before the next decision, seconds.
SETTLE_S = 1.0
#: How long the load must stay below :data:`LOW` before a step is undone, at first, seconds.
FIRST_UP_WAIT_S = 2.0
#: The longest that wait grows to, seconds.
MAX_UP_WAIT_S = 60.0
#: A step taken again within this long of being undone counts as a failed try, seconds.
RELAPSE_S = 5.0
#: The ladder, mildest loss of quality first: (stage, parameter values or ``None`` for off, what the
#: HUD says).  Denoise without its spatial filter costs about half (the ``fast`` preset's setting);
#: sharpen and then denoise go off last.  The stabilizer, contrast and colour stay: switched
#: mid-run they would jolt or shift the picture, and they cost the least.
LADDER: tuple[tuple[str, dict[str, Any] | None, str], ...] = (
    ("denoise", {"spatial": 0.0}, "denoise: temporal only"),
    ("sharpen", None, "sharpen: off"),
    ("denoise", None, "denoise: off"),
)


@dataclass
class Step:
    """One way to make the chain cheaper, with its way back (``apply``, ``revert``: called between frames)."""

    #: What it does, as the HUD and ``--stats`` say it (``"denoise: temporal only"``).
    name: str
    apply: Callable[[], None]
    revert: Callable[[], None]
    #: Seconds the step has been in force, over the run.
    active_s: float = 0.0
    #: How many times it was taken.
    taken: int = 0


@dataclass
class Governor:
    """Takes and undoes :class:`Step` s, in order, from the load of each processed frame."""

    #: Cheapest loss of quality first.
    steps: Sequence[Step]
    #: The source's frame interval.
    interval_s: float
    #: Steps in force: ``steps[:level]``.
    level: int = 0
    load: float = 0.0
    _last_change_s: float = -math.inf
    _low_since_s: float | None = None
    _up_wait_s: float = FIRST_UP_WAIT_S
    _undone_at_s: float = -math.inf
    _last_frame_s: float | None = None
    _said_too_slow: bool = False
    _high_since_s: float | None = None

    def observe(self, busy_s: float, now_s: float) -> str | None:
        """Account one processed frame (``busy_s`` of the processing thread's time, finished at monotonic
        ``now_s``); take or undo a step where the load says so, and return a line saying what changed."""
        dt = self.interval_s if self._last_frame_s is None else max(now_s - self._last_frame_s, 0.0)
        self._last_frame_s = now_s
        weight = 1.0 - math.exp(-max(dt, self.interval_s) / SMOOTHING_S)
        self.load += weight * (busy_s / self.interval_s - self.load)
        for step in self.steps[: self.level]:
            step.active_s += dt
        if self.load <= HIGH:
            self._high_since_s = None
        elif self._high_since_s is None:
            self._high_since_s = now_s
        if now_s - self._last_change_s < SETTLE_S:
            return None
        overloaded_s = 0.0 if self._high_since_s is None else now_s - self._high_since_s
        if overloaded_s >= SETTLE_S and self.level == len(self.steps) and not self._said_too_slow:
            self._said_too_slow = True  # once: it keeps running, dropping what it cannot take
            fps = 1.0 / self.interval_s
            return (f"the source's {fps:.0f} fps are more than this machine can enhance"
                    f"{' even with every step taken' if self.steps else ''}: it holds about "
                    f"{fps / self.load:.0f} fps and drops the other frames (a smaller or slower source, "
                    f"or fewer --stages, would keep them)")
        if self.load > HIGH and self.level < len(self.steps):
            self._low_since_s = None
            if now_s - self._undone_at_s < RELAPSE_S:  # undoing it brought the overload back: wait longer
                self._up_wait_s = min(2 * self._up_wait_s, MAX_UP_WAIT_S)
            step = self.steps[self.level]
            step.apply()
            step.taken += 1
            self.level += 1
            self._last_change_s = now_s
            return f"load {self.load:.0%} of the frame interval: {step.name}"
        if self.load < LOW and self.level > 0:
            if self._low_since_s is None:
                self._low_since_s = now_s
            if now_s - self._low_since_s >= self._up_wait_s:
                self.level -= 1
                step = self.steps[self.level]
                step.revert()
                self._last_change_s = self._undone_at_s = now_s
                self._low_since_s = None
                return f"load {self.load:.0%} of the frame interval: undone: {step.name}"
        else:
            self._low_since_s = None
        return None

    @property
    def current(self) -> str:
        """The steps in force, for the HUD (empty at full quality)."""
        return ", ".join(step.name for step in self.steps[: self.level])

    def as_dict(self) -> dict:
        """The ``governor`` entry of ``--stats``: each step, how often taken and how long in force."""
        return {"level": self.level, "load": round(self.load, 3),
                "steps": [{"name": s.name, "taken": s.taken, "active_s": round(s.active_s, 2)} for s in self.steps]}


def chain_steps(pipeline: "Pipeline") -> list[Step]:
    """The :data:`LADDER` steps that apply to ``pipeline``'s chain.

    A parameter step is left out where the stage already has those values; an off step that finds its
    stage switched off (by the user's key) changes nothing, and its undo leaves it off.
    """
    stages = {stage.name: stage for stage in pipeline.stages}
    steps = []
    for name, values, label in LADDER:
        stage = stages.get(name)
        if stage is None:
            continue
        if values is not None:
            if all(getattr(stage.params, key) == value for key, value in values.items()):
                continue
            steps.append(_params_step(stage, values, label))
        else:
            steps.append(_off_step(pipeline, name, label))
    return steps


def _params_step(stage: Any, values: dict[str, Any], label: str) -> Step:
    kept: list[Any] = []

    def apply() -> None:
        kept.append(stage.params)
        stage.params = dataclasses.replace(stage.params, **values)

    def revert() -> None:
        stage.params = kept.pop()

    return Step(label, apply, revert)


def _off_step(pipeline: "Pipeline", name: str, label: str) -> Step:
    switched: list[bool] = []

    def apply() -> None:
        switched.append(name not in pipeline.disabled)
        pipeline.set_enabled(name, False)

    def revert() -> None:
        if switched.pop():
            pipeline.set_enabled(name, True)

    return Step(label, apply, revert)
