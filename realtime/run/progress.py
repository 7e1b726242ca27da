"""Progress displays on stderr (terminals only): a one-line bar for a file, a batch's bars with its ETA,
and a first run's kernel compilation."""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, TextIO


class Progress:
    """Redraws at most a few times a second; silent when ``enabled`` is false."""

    def __init__(self, total: int | None, enabled: bool, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.total = total
        self.enabled = enabled
        self.stream = stream
        self.width = width
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        if self.enabled and now - self._last_draw >= 0.25:
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        fps = self.done / max(now - self._start, 1e-9)
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * self.width)
            eta = (self.total - self.done) / fps if fps > 0 else 0.0
            line = (f"\r[{bar:<{self.width}}] {self.done}/{self.total} {100 * frac:5.1f}% "
                    f"{fps:6.1f} fps ETA {int(eta) // 60}:{int(eta) % 60:02d}")
        else:
            line = f"\r{self.done} frames {fps:6.1f} fps"
        self.stream.write(line)
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class CompileProgress:
    """A line that says whose kernels a first run is compiling, and for how long it has waited.

    Numba compiles on the calling thread, for tens of seconds per stage, so the line is redrawn from
    a thread of its own.  Use as a context manager; :meth:`stage` as each stage starts.
    """

    def __init__(self, stages: int, enabled: bool, stream: TextIO = sys.stderr) -> None:
        self.stages = stages
        self.enabled = enabled
        self.stream = stream
        self._what = ""
        self._start = time.perf_counter()
        self._done = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="vqe-compile-progress", daemon=True)

    def __enter__(self) -> "CompileProgress":
        if self.enabled:
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self.enabled:
            self._ticker.join()
            self.stream.write(f"\rkernels compiled in {_clock(time.perf_counter() - self._start)}; "
                              f"later runs load them in a second{' ' * 20}\n")
            self.stream.flush()

    def stage(self, name: str, n: int) -> None:
        """The ``n``-th stage (of :attr:`stages`), ``name``, starts compiling."""
        self._what = f"{name} ({n} of {self.stages})"

    def _tick(self) -> None:
        while not self._done.wait(0.5):
            self.stream.write(f"\rfirst run: compiling the kernels, {self._what} "
                              f"{_clock(time.perf_counter() - self._start)}  ")
            self.stream.flush()


class BatchProgress:
    """One display for a batch: a bar per running file (named by ``names``) and an overall line with the ETA.

    The ETA is the frames left in the batch (``totals``: each file's expected frames, ``None`` where unknown) over the
    rate measured so far: frames done by all workers together per second of wall time since the first file began, so it
    follows the parallelism the batch really gets and includes each file's set-up.  Silent when ``enabled`` is false;
    other output (log lines) goes through :meth:`clear` first, so the display redraws below it instead of mixing with
    it.  ``on_start`` is told the index of each file as it begins.
    """

    def __init__(self, totals: list[int | None], names: list[str], enabled: bool,
                 stream: TextIO = sys.stderr, width: int = 24, on_start: Callable[[int], None] | None = None) -> None:
        self.totals = list(totals)
        self.names = names
        self.done = [0] * len(totals)
        self.finished: set[int] = set()
        self.running: dict[int, float] = {}
        self.enabled = enabled
        self.stream = stream
        self.width = width
        self._on_start = on_start
        self._start = time.perf_counter()
        self._began_s: float | None = None
        self._lines = 0
        self._last_draw = 0.0

    def start(self, index: int) -> None:
        """File ``index`` began processing (the first one starts the batch's clock)."""
        if self._on_start is not None:
            self._on_start(index)
        self.running[index] = time.perf_counter()
        if self._began_s is None:
            self._began_s = self.running[index]

    def update(self, index: int, done: int, total: int | None) -> None:
        """File ``index`` has ``done`` frames of ``total`` (the file's own count replaces the probed one)."""
        if self._began_s is None:
            self._began_s = time.perf_counter()
        self.done[index] = done
        if total is not None:
            self.totals[index] = total
        self.draw()

    def end(self, index: int) -> None:
        """File ``index`` is over (done, failed or interrupted): its frames left count no more."""
        self.running.pop(index, None)
        self.finished.add(index)
        self.draw(force=True)

    @property
    def frames_done(self) -> int:
        return sum(self.done)

    def frames_left(self) -> int:
        """Frames still to do: finished files count none, unknown totals count as the mean known one."""
        known = [t for t in self.totals if t]
        guess = sum(known) / len(known) if known else 0
        return int(sum(max((total or guess) - self.done[i], 0) for i, total in enumerate(self.totals)
                       if i not in self.finished))

    def eta_s(self) -> float | None:
        """Seconds left at the rate measured so far; ``None`` before the first frame."""
        rate = self.rate()
        return self.frames_left() / rate if rate > 0 else None

    def rate(self) -> float:
        """Frames per second of the whole batch since its first file began (0 before any frame)."""
        if self._began_s is None or not self.frames_done:
            return 0.0
        return self.frames_done / max(time.perf_counter() - self._began_s, 1e-9)

    def clear(self) -> None:
        """Erase the display (before a log line is written)."""
        if self.enabled and self._lines:
            self.stream.write(f"\x1b[{self._lines}F\x1b[J")  # up to the display's first line, erase to the end
            self.stream.flush()
            self._lines = 0

    def draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not self.enabled or (not force and now - self._last_draw < 0.25):
            return
        self._last_draw = now
        lines = []
        for index, began in sorted(self.running.items()):
            total, done = self.totals[index], self.done[index]
            fps = done / max(now - began, 1e-9)
            frac = min(done / total, 1.0) if total else 0.0
            lines.append(f"  [{'#' * int(frac * self.width):<{self.width}}] {done}/{total or '?'} "
                         f"{fps:5.1f} fps  {self.names[index]}")
        eta = self.eta_s()
        total_frames = self.frames_done + self.frames_left()
        frac = self.frames_done / total_frames if total_frames else 0.0
        lines.append(f"[{'#' * int(frac * self.width):<{self.width}}] {len(self.finished)}/{len(self.totals)} files "
                     f"{self.frames_done}/{total_frames} frames {self.rate():5.1f} fps "
                     f"ETA {_clock(eta) if eta is not None else '?'}")
        self.clear()
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self._lines = len(lines)

    def finish(self) -> None:
        """Draw the final state and leave it on screen."""
        self.draw(force=True)
        self._lines = 0
