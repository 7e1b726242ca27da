"""Network outputs: the enhanced stream sent live to a server or a receiver, through PyAV/FFmpeg.

``-o URL`` picks the container from the scheme: FLV for ``rtmp://``/``rtmps://`` (YouTube, Twitch,
nginx-rtmp, MediaMTX), MPEG-TS for ``srt://``, ``udp://`` and ``tcp://``, RTSP for ``rtsp://`` (pushed to
a server).  PyAV's own FFmpeg has no SRT, so ``srt://`` goes through an ``ffmpeg`` process that forwards
the MPEG-TS unchanged (:class:`~realtime.sinks.srt.SrtRelay`).  The encoder is set for low latency: x264's
``zerolatency`` tune (no frame lookahead, no B-frames), a keyframe every second so a receiver that joins
late starts within a second, and constant bitrate with a one-second buffer when ``--bitrate`` is given.

A server that goes away does not end the run: the writer closes the connection, counts the frames it cannot send as
dropped, and reconnects with a growing pause (0.5 s, doubling to 8 s), each attempt bounded by a short network timeout.
It writes from the recorder's thread, whose bounded queue keeps the processing thread from ever waiting on the network.
"""
from __future__ import annotations

import contextlib
import logging
import time
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from kernels.colorspace import YuvFormat
from realtime.errors import ConfigError, OutputError
from realtime.redact import redact
from realtime.sinks.avencode import add_video_stream, video_frame
from realtime.sinks.srt import SrtRelay, ffmpeg_binary
from realtime.sinks.writers import NETWORK_MUXERS as MUXERS
from realtime.sinks.writers import OutputOptions, output_format
from realtime.sources.files import SourceInfo

if TYPE_CHECKING:
    import av

    from realtime.sources.audio import LiveAudio

log = logging.getLogger(__name__)

#: Muxer options per muxer: FLV's header cannot be rewritten on a stream; RTSP pushes over TCP; MPEG-TS
#: states each frame's PES length, so that a demuxer can pass a frame on once it has it whole (FFmpeg's
#: H.264 parser still waits for the next frame's start: docs/performance.md, live latency).
MUXER_OPTIONS = {"flv": {"flvflags": "no_duration_filesize"}, "rtsp": {"rtsp_transport": "tcp"},
                 "mpegts": {"omit_video_pes_length": "0"}}
#: How long one connection attempt or one blocked write may take, seconds.
NETWORK_TIMEOUT_S = 3.0
#: Pause before the first reconnection attempt, and the longest pause.
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 8.0


def check_network_output(url: str, options: OutputOptions) -> str:
    """Fail before any work on a network output that cannot work, naming the fix; returns ``url``."""
    scheme, _, rest = url.partition("://")
    if not rest or rest.startswith("/"):
        raise ConfigError(f"-o {redact(url)}: no host in the URL; e.g. {scheme}://127.0.0.1:9000")
    if options.encoder != "pyav":
        raise ConfigError(f"-o {redact(url)}: network outputs are encoded by PyAV; drop --encoder opencv")
    if options.codec not in (None, "h264", "hevc"):
        raise ConfigError(f"-o {redact(url)}: --codec {options.codec} cannot be streamed; use h264 (default) or hevc")
    if options.codec == "hevc" and MUXERS[scheme.lower()] == "flv":
        raise ConfigError(f"-o {redact(url)}: RTMP (FLV) carries H.264 only; drop --codec hevc")
    if scheme.lower() == "srt" and ffmpeg_binary() is None:
        raise ConfigError(f"-o {redact(url)}: SRT is sent through an ffmpeg program and none was found: install "
                          f"ffmpeg (with SRT), or pip install imageio-ffmpeg")
    return url


class NetworkWriter:
    """Encodes frames of ``width`` x ``height`` and sends them to ``url`` (``rtmp(s)://``, ``srt://``,
    ``udp://``, ``tcp://`` or ``rtsp://``), reconnecting when the connection is lost.

    ``info`` gives the stream's rate and colour format, ``options`` the codec (H.264 by default),
    CRF, x264 preset and bitrate; ``live_audio``, the source's audio, is sent beside the video.
    Raises :class:`OutputError` when the first connection fails (the server is not there).
    """

    def __init__(self, url: str, width: int, height: int, info: SourceInfo, options: OutputOptions,
                 live_audio: LiveAudio | None = None) -> None:
        import av

        self._av = av
        self.url = url
        self._muxer = MUXERS[url.split("://", 1)[0].lower()]
        self._info = info
        self._options = options
        self._codec = options.codec or "h264"
        self._fmt: YuvFormat = output_format(info, self._codec)
        self._width, self._height = width, height
        self._time_base = Fraction(1, 90000)  # MPEG-TS's and RTSP's clock; FLV rounds to milliseconds
        self._out: av.container.OutputContainer | None = None
        self._stream = None
        self._live_audio = live_audio
        self._audio_out = None
        self._size = (width, height)
        self._relay: SrtRelay | None = None
        self._retry_at = 0.0
        self._pause_s = RETRY_FIRST_S
        self._last_pts = -1
        #: Frames sent, and frames that could not be (while the connection was down).
        self.frames = 0
        #: Bytes of encoded video sent.
        self.bytes_out = 0
        self.dropped = 0
        self.reconnects = 0
        try:
            self._connect()
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot send to {redact(url)} ({redact(str(exc))}): start the server or receiver "
                              f"first, or check the URL") from None
        log.info("streaming to %s (%s, %s)", redact(url), self._muxer, self._codec)

    def _connect(self) -> None:
        """Open the connection and the encoder (both new: a receiver that rejoins gets a clean start)."""
        av = self._av
        if self.url.lower().startswith("srt://"):
            self._relay = SrtRelay(self.url, send=True)
            # Each packet handed on at once: the relay's pipe must not hold back a frame.
            out = av.open(self._relay.pipe, "w", format=self._muxer,
                          container_options={**MUXER_OPTIONS[self._muxer], "flush_packets": "1"})
        else:
            timeout_us = str(int(NETWORK_TIMEOUT_S * 1e6))
            container_options = {**MUXER_OPTIONS.get(self._muxer, {}), "rw_timeout": timeout_us}
            out = av.open(self.url, "w", format=self._muxer, container_options=container_options,
                          timeout=NETWORK_TIMEOUT_S)
        try:
            fps = float(self._info.fps)
            low_latency: dict[str, str | None] = {"tune": "zerolatency", "g": str(max(round(fps), 1)), "bf": "0"}
            bitrate = self._options.bitrate
            if bitrate:  # constant bitrate with a one-second buffer, in place of constant quality
                low_latency.update({"crf": None, "b": str(bitrate), "maxrate": str(bitrate), "bufsize": str(bitrate)})
            self._stream, self._size = add_video_stream(out, self._codec, self._width, self._height, self._info,
                                                        self._fmt, self._options, self._time_base, low_latency)
            if bitrate:
                self._stream.codec_context.bit_rate = bitrate
            if self._live_audio is not None:
                before = self._audio_out  # the connection before this one: its time zero is kept
                if before is not None:
                    before.close()
                self._audio_out = self._live_audio.attach(out)
                if before is not None and self._audio_out is not None:
                    self._audio_out.origin_s = before.origin_s
            out.start_encoding()
        except BaseException:
            out.close()
            self._end_relay()
            raise
        self._out = out
        self._last_pts = -1

    def warm_up(self, shape: tuple[int, ...]) -> None:
        """Convert a blank frame of ``shape`` once, not sent: its kernel is ready for the first frame."""
        video_frame(self._av, np.zeros(shape, np.uint8), self._size, "yuv420p", self._fmt)

    def write(self, image: np.ndarray, pts_s: float) -> None:
        """Send one frame stamped ``pts_s`` (the live clock); dropped and counted while disconnected."""
        if self._out is None and not self._reconnect():
            self.dropped += 1
            return
        frame = video_frame(self._av, image, self._size, self._stream.pix_fmt, self._fmt)
        pts = max(round(pts_s / self._time_base), self._last_pts + 1)
        frame.pts = self._last_pts = pts
        frame.time_base = self._time_base
        try:
            if self._audio_out is not None:
                self._audio_out.mux_until(pts_s)
            for packet in self._stream.encode(frame):
                self._out.mux(packet)
                self.bytes_out += packet.size
        except (self._av.FFmpegError, OSError) as exc:
            log.warning("stream to %s lost (%s): reconnecting", redact(self.url), redact(str(exc)))
            self._close_quietly()
            self._retry_at = time.monotonic() + self._pause_s
            self.dropped += 1
            return
        self.frames += 1

    def _reconnect(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        try:
            self._connect()
        except (self._av.FFmpegError, OSError) as exc:
            log.debug("reconnecting to %s failed (%s)", redact(self.url), redact(str(exc)))
            self._pause_s = min(self._pause_s * 2, RETRY_MAX_S)
            self._retry_at = time.monotonic() + self._pause_s
            return False
        self._pause_s = RETRY_FIRST_S
        self.reconnects += 1
        log.warning("stream to %s reconnected (%d frames dropped so far)", redact(self.url), self.dropped)
        return True

    def _close_quietly(self) -> None:
        out, self._out = self._out, None
        if out is not None:
            with contextlib.suppress(self._av.FFmpegError, OSError):  # the connection is gone already
                out.close()
        self._end_relay()

    def _end_relay(self) -> None:
        if self._relay is not None:
            self._relay.close()
            self._relay = None

    def close(self, complete: bool = True) -> None:
        """Flush the encoder and close the connection (quietly if it is already gone)."""
        if self._out is not None:
            try:
                for packet in self._stream.encode(None):
                    self._out.mux(packet)
            except (self._av.FFmpegError, OSError) as exc:
                log.warning("stream to %s: the last frames were not sent (%s)", redact(self.url), redact(str(exc)))
        self._close_quietly()
        if self._audio_out is not None:
            self._audio_out.close()
        log.info("stream to %s closed: %d frames sent, %d dropped, %d reconnections", redact(self.url),
                 self.frames, self.dropped, self.reconnects)
