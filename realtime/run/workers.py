"""Worker threads with a lifecycle: start, stop, join, and errors re-raised on the caller's thread."""
from __future__ import annotations

import threading
from typing import Callable


class Worker:
    """Runs ``target`` on a daemon thread and keeps its exception for the owner.

    The owner calls :meth:`check` (or :meth:`join`) on its own thread, which
    re-raises whatever the worker died of: a worker error never passes silently.
    """

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        self._target = target
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.error: BaseException | None = None
        self.stop_requested = threading.Event()
        self.done = threading.Event()

    def _run(self) -> None:
        try:
            self._target()
        except BaseException as exc:  # kept and re-raised on the owner's thread
            self.error = exc
        finally:
            self.done.set()

    def start(self) -> "Worker":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_requested.set()

    def check(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def join(self, timeout_s: float | None = None, reraise: bool = True) -> None:
        """Wait for the worker to finish (or ``timeout_s``), then re-raise its error.

        Waits on an Event, not ``Thread.join``: a Ctrl-C that interrupts ``Thread.join`` leaves the thread
        looking finished on Python < 3.13, and the clean-up after it would then not wait.
        """
        if self.done.wait(timeout_s) and self._thread.is_alive():
            self._thread.join()
        if reraise:
            self.check()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.done.is_set()
