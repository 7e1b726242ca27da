"""SRT through an ``ffmpeg`` program: PyAV's own FFmpeg is built without it.

:class:`SrtRelay` runs ``ffmpeg`` as a byte pipe between vqe and an SRT peer, in either direction.  The bytes (MPEG-TS)
pass as they are, in FFmpeg's ``data`` format: nothing is demuxed, so no packet waits in the relay for the one after it.
"""
from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import time
from typing import IO

from realtime.redact import redact

try:
    import fcntl
except ImportError:  # Windows: pipes keep their default size
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: How long a sender stays connected after its last bytes, seconds: an SRT receiver holds packets
#: for its latency window (120 ms by default) and drops what it still holds when the sender hangs up.
DRAIN_S = 0.5
#: The relay pipe's buffer: about 2 s of a 4 Mb/s stream.
PIPE_BYTES = 1 << 20
#: How long ending the relay may take before it is killed, seconds.
CLOSE_TIMEOUT_S = 3.0


def ffmpeg_binary() -> str | None:
    """An ``ffmpeg`` program: the one on ``PATH``, else imageio-ffmpeg's, else ``None``."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):  # not installed, or the package without its binary
        return None


def _widen(pipe: IO[bytes]) -> None:
    """Give ``pipe`` a buffer of :data:`PIPE_BYTES` where the system allows (Linux).

    The relay connects once the first bytes arrive; meanwhile the writer must not block on a full
    pipe of 64 KiB (a keyframe or two), or its output's queue overflows.
    """
    if fcntl is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
        with contextlib.suppress(OSError):  # above the system's limit (/proc/sys/fs/pipe-max-size): the default stays
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _with_option(url: str, key: str, value: str) -> str:
    """``url`` with ``key=value`` in its query, unless the URL sets ``key`` itself."""
    if f"{key}=" in url:
        return url
    return url + ("&" if "?" in url else "?") + f"{key}={value}"


class SrtRelay:
    """An ``ffmpeg`` process sending the bytes written to :attr:`pipe` to ``srt://HOST:PORT[?OPTIONS]``
    (``send``: an output), or receiving from it into :attr:`pipe` (an input).

    It is the SRT caller unless the URL says ``mode=``.  A connection that fails, drops, or (when
    receiving) brings nothing for ``timeout_s`` ends the process; vqe sees that as a failed write or
    the end of the bytes, and reconnects as for any stream.  Raises ``OSError`` without an ``ffmpeg``.
    """

    def __init__(self, url: str, send: bool, timeout_s: float = 5.0) -> None:
        binary = ffmpeg_binary()
        if binary is None:
            raise OSError("no ffmpeg program to relay SRT through (install ffmpeg, or pip install imageio-ffmpeg)")
        peer = _with_option(url, "mode", "caller")
        if not send:
            peer = _with_option(peer, "timeout", str(int(timeout_s * 1e6)))  # microseconds
        source, target = ("pipe:0", peer) if send else (peer, "pipe:1")
        self._send = send
        self._shown = redact(url)
        self._process = subprocess.Popen(
            [binary, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "data", "-i", source,
             "-map", "0", "-c", "copy", "-f", "data", target],
            stdin=subprocess.PIPE if send else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if send else subprocess.PIPE, stderr=subprocess.PIPE)
        #: Where vqe writes (sending) or reads (receiving) the MPEG-TS bytes.
        self.pipe: IO[bytes] = self._process.stdin if send else self._process.stdout
        _widen(self.pipe)

    def close(self) -> None:
        """End the relay (a sender's last bytes are delivered first); its last error line goes to the debug log."""
        if self._send and self._process.poll() is None:
            time.sleep(DRAIN_S)
        with contextlib.suppress(OSError):  # the relay is gone already
            self.pipe.close()
        self._process.stdin = self._process.stdout = None  # closed here: communicate() must not touch them
        if not self._send:
            self._process.terminate()  # a receiver would otherwise wait on the network
        try:
            _, err = self._process.communicate(timeout=CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            _, err = self._process.communicate()
        lines = err.decode(errors="replace").strip().splitlines()
        if lines:
            log.debug("the SRT relay for %s ended: %s", self._shown, redact(lines[-1]))
