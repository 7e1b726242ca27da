"""Run statistics: per-stage timings, throughput, drops, latency; JSON output."""
from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from realtime.errors import OutputError

#: Samples kept for percentiles; the mean covers every sample.
WINDOW = 100_000


class Timings:
    """Millisecond samples of one measured thing: running mean and recent p95."""

    def __init__(self) -> None:
        self._recent: deque[float] = deque(maxlen=WINDOW)
        self._total_ms = 0.0
        self.count = 0

    def add(self, ms: float) -> None:
        self._recent.append(ms)
        self._total_ms += ms
        self.count += 1

    def recent_mean(self, n: int = 30) -> float:
        """Mean of the last ``n`` samples (what a live display shows)."""
        if not self._recent:
            return 0.0
        k = min(n, len(self._recent))
        return sum(self._recent[-i] for i in range(1, k + 1)) / k

    def summary(self) -> dict[str, float]:
        if not self.count:
            return {"mean_ms": 0.0, "p95_ms": 0.0}
        return {"mean_ms": round(self._total_ms / self.count, 3),
                "p95_ms": round(float(np.percentile(np.fromiter(self._recent, float), 95)), 3)}


class RateMeter:
    """Events per second over the last ``window_s`` seconds (for live readouts)."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque(maxlen=1000)
        self.count = 0

    def tick(self) -> None:
        self._times.append(time.monotonic())
        self.count += 1

    @property
    def rate(self) -> float:
        now = time.monotonic()
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        return len(self._times) / self.window_s


class RunStats:
    """What a run measured, shaped as the ``--stats`` JSON."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.finished: float | None = None
        self.frames = 0
        self.stages: dict[str, Timings] = {}
        self.io: dict[str, Timings] = {}
        self.drops: dict[str, int] = {}
        self.latency = Timings()
        self.extra: dict[str, Any] = {}

    def stage(self, name: str) -> Timings:
        return self.stages.setdefault(name, Timings())

    def stop(self) -> None:
        self.finished = time.perf_counter()

    @property
    def wall_s(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    def as_dict(self, live: bool = False) -> dict[str, Any]:
        wall = self.wall_s
        out: dict[str, Any] = {
            "frames": self.frames,
            "wall_s": round(wall, 3),
            "fps": round(self.frames / wall, 2) if wall > 0 else 0.0,
            "stages": {name: t.summary() for name, t in self.stages.items()},
            "io": {name: t.summary() for name, t in self.io.items()},
            "drops": dict(self.drops),
        }
        if live:
            lat = self.latency.summary()
            out["latency_ms"] = {"mean": lat["mean_ms"], "p95": lat["p95_ms"]}
        out.update(self.extra)
        return out

    def write_json(self, path: str | Path, live: bool = False) -> None:
        try:
            Path(path).write_text(json.dumps(self.as_dict(live), indent=2) + "\n")
        except OSError as exc:
            raise OutputError(f"cannot write stats to {path} ({exc.strerror}): choose a writable --stats path") from None
