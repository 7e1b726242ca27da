"""Stop signals end a run the way Ctrl-C does: the recording is finalized, the run reported.

systemd, Docker and ``timeout`` stop a process with SIGTERM, a closed terminal sends SIGHUP.  Each of them
(and SIGINT) raises :class:`StopSignal` on the main thread, which unwinds through the same ``finally``
blocks as a ``KeyboardInterrupt``; the process then exits with ``128 + signal`` as shells report it.  A
second signal while that clean-up runs exits at once: the recording is still playable up to its last
fragment, because vqe writes crash-safe containers (see :mod:`realtime.sinks.avencode`).
"""
from __future__ import annotations

import os
import signal
from contextlib import contextmanager, suppress
from typing import Iterator

#: The signals that stop a run gracefully.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class StopSignal(KeyboardInterrupt):
    """A stop signal arrived; ``exit_code`` is what the process should exit with."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise :class:`StopSignal` (the second exits at once).

    Signals the process was started with ignored (``nohup`` ignores SIGHUP, a background job SIGINT) stay ignored.  Only
    the main thread can install handlers: elsewhere the block runs with the handlers as they are.
    """
    stopping: list[int] = []

    def on_signal(signum: int, _frame) -> None:
        if stopping:  # the user insists: no more clean-up
            os.write(2, f"\nvqe: second {signal.Signals(signum).name}: exiting now\n".encode())
            os._exit(128 + signum)
        stopping.append(signum)
        raise StopSignal(signum)

    previous = {}
    with suppress(ValueError):  # not the main thread
        for sig in STOP_SIGNALS:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
