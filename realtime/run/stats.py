"""Run statistics: per-stage timings, throughput, drops, latency; JSON output."""
from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from realtime.errors import OutputError

#: Samples kept for percentiles; the mean covers every sample.
WINDOW = 100_000
#: Seconds of the latest samples behind the ``p95_recent`` of the stats (what a monitor follows over a run).
RECENT_S = 10.0


class Timings:
    """Millisecond samples of one measured thing: running mean and p95 of the recent samples.

    Memory is fixed from the first sample on: the last ``window`` samples (those of :meth:`recent_mean`,
    :meth:`recent_p95` and the p95 of :meth:`summary`) live in a float32 ring allocated whole at the first
    :meth:`add` (a recorder that runs for days must not grow), and the mean over every sample comes from a
    running total and count.  Making one costs nothing until then (callers build throwaway ones, as in
    ``dict.setdefault(name, Timings())``).  One thread adds; others may read at any time (a reader racing a
    writer sees at worst one sample from before or after, never an error).
    """

    def __init__(self, window: int = WINDOW) -> None:
        if window < 1:
            raise ValueError("a timing window needs at least 1 sample")
        self.window = window
        self._ring: np.ndarray | None = None
        self._total_ms = 0.0
        self.count = 0

    @property
    def nbytes(self) -> int:
        """Bytes the samples take: 0 before the first, then the ring's size for good."""
        return 0 if self._ring is None else self._ring.nbytes

    def add(self, ms: float) -> None:
        """Record one sample, in milliseconds."""
        ring = self._ring
        if ring is None:
            # Written through (np.full, not np.empty): pages never written are not resident yet, and
            # would make the process grow over the first hour as the ring fills.
            ring = self._ring = np.full(self.window, 0.0, np.float32)
        ring[self.count % ring.size] = ms
        self._total_ms += ms
        self.count += 1

    def recent(self, n: int | None = None) -> np.ndarray:
        """The last ``n`` samples (all kept ones when ``None``), oldest first, as a new float64 array."""
        count, ring = self.count, self._ring  # count first: another thread may be adding (ring set before)
        if not count:
            return np.zeros(0)
        size = ring.size
        k = min(count, size) if n is None else max(0, min(n, count, size))
        end = count % size
        if k <= end:
            return ring[end - k:end].astype(np.float64)
        return np.concatenate((ring[size - (k - end):], ring[:end])).astype(np.float64)

    def recent_mean(self, n: int = 30) -> float:
        """Mean of the last ``n`` samples (what a live display shows); 0 before any."""
        last = self.recent(n)
        return float(last.mean()) if last.size else 0.0

    def recent_p95(self, n: int | None = None) -> float:
        """95th percentile of the last ``n`` samples (all kept ones when ``None``); 0 before any."""
        last = self.recent(n)
        return float(np.percentile(last, 95)) if last.size else 0.0

    def summary(self) -> dict[str, float]:
        """``mean_ms`` over every sample and ``p95_ms`` over the kept window, rounded to microseconds."""
        mean = round(self._total_ms / self.count, 3) if self.count else 0.0
        return {"mean_ms": mean, "p95_ms": round(self.recent_p95(), 3)}


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

    def recent_samples(self, timings: Timings) -> int:
        """How many of the latest samples of ``timings`` span about :data:`RECENT_S` seconds, at its rate so far."""
        return max(1, math.ceil(RECENT_S * timings.count / max(self.wall_s, 1e-9)))

    def as_dict(self, live: bool = False) -> dict[str, Any]:
        """The stats as the ``--stats`` JSON; may be called while the run goes on (periodic stats).  With ``live``,
        ``latency_ms`` has the ``mean`` and ``p95`` of the run and ``p95_recent``, the p95 of about the last
        :data:`RECENT_S` seconds."""
        wall = self.wall_s
        # Copies first: the processing thread may add a stage or an I/O timing meanwhile.
        stages, io = dict(self.stages), dict(self.io)
        out: dict[str, Any] = {
            "frames": self.frames, "wall_s": round(wall, 3), "fps": round(self.frames / wall, 2) if wall > 0 else 0.0,
            "stages": {name: t.summary() for name, t in stages.items()},
            "io": {name: t.summary() for name, t in io.items()}, "drops": dict(self.drops)}
        if live:
            lat = self.latency.summary()
            recent = self.latency.recent_p95(self.recent_samples(self.latency))
            out["latency_ms"] = {"mean": lat["mean_ms"], "p95": lat["p95_ms"], "p95_recent": round(recent, 3)}
        out.update(self.extra)
        return out

    def write_json(self, path: str | Path, live: bool = False) -> None:
        """Write :meth:`as_dict` to ``path`` with :func:`write_json_atomic`."""
        write_json_atomic(path, self.as_dict(live))


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically: a reader sees the previous file or this one, never half;
    raises :class:`~realtime.errors.OutputError` when it cannot."""
    path = Path(path)
    # Beside the target, so the rename stays on one file system (atomic); named per process and
    # thread so concurrent writers never share one; created like any file (the umask applies).
    tmp = path.parent / f".{path.name or 'stats'}.{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write stats to {path} ({exc.strerror}): choose a writable --stats path") from None
