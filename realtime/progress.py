"""A one-line progress bar with fps and ETA for file mode (stderr, terminals only)."""
from __future__ import annotations

import sys
import time
from typing import TextIO


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
        elapsed = max(now - self._start, 1e-9)
        fps = self.done / elapsed
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
