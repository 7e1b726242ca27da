"""Network streams (rtsp, http(s), udp, tcp, srt, ...) decoded by PyAV, reconnected when they die.

SRT comes in through an ``ffmpeg`` program (:class:`~realtime.sinks.srt.SrtRelay`): PyAV's own FFmpeg has none.
"""
from __future__ import annotations

import logging
import threading
import time
from fractions import Fraction

import av
import numpy as np

from realtime.errors import SourceError
from realtime.redact import redact
from realtime.run.ringbuffer import Slot
from realtime.sinks.srt import SrtRelay
from realtime.sources.audio import LiveAudio, demux_video
from realtime.sources.files import AvFrameConverter, SourceInfo, video_info

log = logging.getLogger(__name__)


class StreamLostError(SourceError):
    """The stream stopped and did not come back within the retry budget."""


def _why(exc: Exception) -> str:
    """What went wrong, in FFmpeg's words, with the URL it may quote (``str(exc)`` does) masked."""
    return redact(getattr(exc, "strerror", None) or str(exc))


class StreamSource:
    """A live stream at ``url`` (anything FFmpeg opens: ``rtsp://``, ``http(s)://``, ``udp://``, ``tcp://``,
    ``srt://``) with reconnect and exponential backoff: a stream with no data for ``timeout_s`` counts as
    stalled, and after a loss ``retries`` reconnect attempts follow, the first ``backoff_s`` later, each wait
    doubling up to 8 s.  Setting ``stop`` abandons waits and reconnects at once.

    The URL itself is kept private (it may hold a password, a token or a stream key): :attr:`url`,
    ``info.path``, every message and log line carry its :func:`~realtime.redact.redact` form.

    Frames carry their arrival time (``capture_s``, for latency) and a ``pts_s`` that keeps the sender's
    frame spacing (network bursts do not squeeze the timeline) anchored to the arrival clock at each
    (re)connection, so a recording plays at real speed and spans the gaps.
    """

    #: Sender timestamps further than this from the arrival clock are not trusted.
    MAX_CLOCK_SKEW_S = 2.0
    #: Deliver I420 (:attr:`realtime.sources.files.Source.planar`); the run's plan sets it.
    planar = False
    #: What the source is called in messages, and the fix when it cannot be opened.
    NOUN = "stream"
    OPEN_FIX = "check the URL and that the sender is running"

    def __init__(self, url: str, timeout_s: float = 5.0, retries: int = 5, backoff_s: float = 0.5,
                 stop: threading.Event | None = None) -> None:
        self._url = url  # for FFmpeg only: may hold a password
        #: The URL with its secrets masked: the only form shown, logged or stored.
        self.url = redact(url)
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.stop = stop or threading.Event()
        self._container: av.container.InputContainer | None = None
        self._relay: SrtRelay | None = None
        self._frames = None
        self._t0: float | None = None
        self._anchor: float | None = None
        self._last_pts = -1.0
        self._index = 0
        self._connect(first=True)

    def _open(self) -> av.container.InputContainer:
        """One connection's container (raises ``av.FFmpegError`` or ``OSError``)."""
        if self._url.lower().startswith("srt://"):
            # The relay ends when the connection stays silent for the timeout, which ends the bytes.
            self._relay = SrtRelay(self._url, send=False, timeout_s=self.timeout_s)
            return av.open(self._relay.pipe, format="mpegts", metadata_errors="ignore")
        options = {"rtsp_transport": "tcp"} if self._url.startswith("rtsp") else {}
        return av.open(self._url, options=options, timeout=(self.timeout_s, self.timeout_s),
                       metadata_errors="ignore")

    def _describe(self, info: SourceInfo, container: av.container.InputContainer) -> SourceInfo:
        """The first connection's :class:`SourceInfo` as this source announces it."""
        info.frame_count = None
        info.time_base = Fraction(1, 90000)
        return info

    def _connect(self, first: bool = False) -> None:
        try:
            container = self._open()
        except (av.FFmpegError, OSError) as exc:
            self.close()
            raise SourceError(f"{self.NOUN} {self.url} cannot be opened ({_why(exc)}): {self.OPEN_FIX}") from None
        self._container = container
        try:
            info = video_info(container, self.url)
        except SourceError:
            self.close()
            raise
        stream = container.streams.video[0]
        # Slice threads only: frame threads would hold each frame back by a frame per extra thread.
        stream.thread_type = "SLICE"
        sound = container.streams.audio[0] if container.streams.audio else None
        if first:
            self.info: SourceInfo = self._describe(info, container)
            self._converter = AvFrameConverter(self.info.fmt.matrix)
            self._frame_s = 1.0 / float(self.info.fps)
            #: The stream's audio for recordings and network outputs (``None``: the stream has none).
            self.audio = LiveAudio(sound) if sound is not None else None
        # The stream's clock, anchored like the video's: audio and video stay in sync in every output.
        self._frames = demux_video(container, stream, sound, self.audio,
                                   lambda t: None if self._anchor is None else self._anchor + t)

    def _next_frame(self) -> av.VideoFrame | None:
        try:
            return next(self._frames)
        except StopIteration:
            why = "the sender closed the stream"
        except (av.FFmpegError, OSError) as exc:
            why = _why(exc)
        log.warning("%s %s: no frames (%s)", self.NOUN, self.url, why)
        return None

    def _reconnect(self) -> bool:
        self.close()
        wait = self.backoff_s
        for attempt in range(1, self.retries + 1):
            log.warning("%s %s: reconnect attempt %d of %d in %.1f s", self.NOUN, self.url, attempt, self.retries,
                        wait)
            if self.stop.wait(wait):
                return False
            try:
                self._connect()
            except SourceError as exc:
                log.warning("%s", exc)
                wait = min(wait * 2, 8.0)
                continue
            self._anchor = None
            log.info("%s %s: reconnected", self.NOUN, self.url)
            return True
        return False

    def warm_up(self) -> None:
        """Convert a blank frame of the stream's pixel format once, so its kernel is ready for the first frame."""
        ctx = self._container.streams.video[0].codec_context if self._container is not None else None
        if ctx is not None and ctx.pix_fmt:
            blank = av.VideoFrame(self.info.width, self.info.height, ctx.pix_fmt)
            self._converter.into(blank, lambda shape: np.empty(shape, np.uint8), self.planar)

    def read_into(self, slot: Slot) -> bool:
        """Next frame; reconnects when the stream dies; raises StreamLostError when it stays dead."""
        while (frame := self._next_frame() if self._frames is not None else None) is None:
            if self.stop.is_set() or not self._reconnect():
                if self.stop.is_set():
                    return False
                raise StreamLostError(f"{self.NOUN} {self.url} lost: no frames after {self.retries} reconnect "
                                      f"attempts; what was recorded is kept")
        self._converter.into(frame, slot.ensure_shape, self.planar)
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        arrival = now - self._t0
        pts = -1.0 if frame.time is None or self._anchor is None else self._anchor + frame.time
        # Untimed frames go by arrival; timed ones (re)anchor at a new connection, a sender clock jump, or a drift
        # past what jitter explains; never earlier than the last frame: the timeline stays monotonic across gaps.
        if pts <= self._last_pts or abs(pts - arrival) > self.MAX_CLOCK_SKEW_S:
            pts = max(arrival, self._last_pts + self._frame_s)
            if frame.time is not None:
                self._anchor = pts - frame.time
        self._last_pts = pts
        slot.index, slot.pts_s, slot.capture_s = self._index, pts, now
        self._index += 1
        return True

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
            self._frames = None
        if self._relay is not None:
            self._relay.close()
            self._relay = None
