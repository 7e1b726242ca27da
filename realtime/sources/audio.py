"""Audio passthrough: the input's audio packets copied unchanged, in sync with the video.

:class:`AudioPassthrough` reads a file's audio for that file's output; :class:`LiveAudio` carries
a live stream's audio packets from the capture thread to the recordings and network outputs.
"""
from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path
from typing import Callable, Iterator

import av

log = logging.getLogger(__name__)


class AudioPassthrough:
    """Remuxes the first audio stream of ``input_path`` into ``output`` (before its header is written).

    Packets are copied bit for bit (no re-encode).  Timestamps move by the same offset as the video's
    (which starts at ``video_start_s`` on the input's clock), so the two stay in sync;
    :meth:`mux_until` keeps the muxer's interleaving queue short.
    """

    def __init__(self, input_path: str | Path, output: av.container.OutputContainer, video_start_s: float) -> None:
        self._input = av.open(str(input_path), metadata_errors="ignore")
        source = self._input.streams.audio[0]
        start_s = float(source.start_time * source.time_base) if source.start_time is not None else video_start_s
        #: The output's time origin, subtracted from every timestamp: the earlier of the video's and
        #: the audio's start, so that both keep their offset exactly.
        self.origin_s = min(video_start_s, start_s)
        self.stream = output.add_stream_from_template(source)
        self._output = output
        self._source = source
        self._shift = round(self.origin_s / source.time_base) if source.time_base else 0
        self._packets = self._input.demux(source)
        self._pending: av.Packet | None = None

    def _next(self) -> av.Packet | None:
        if self._pending is None:
            for packet in self._packets:
                if packet.pts is not None and packet.size:
                    self._pending = packet
                    break
        return self._pending

    def mux_until(self, t_s: float | None) -> None:
        """Mux every audio packet that starts before ``t_s`` seconds (all when ``None``)."""
        while (packet := self._next()) is not None:
            if t_s is not None and (packet.pts - self._shift) * packet.time_base >= t_s:
                return
            packet.pts -= self._shift
            if packet.dts is not None:
                packet.dts -= self._shift
            packet.stream = self.stream
            self._output.mux(packet)
            self._pending = None

    def close(self) -> None:
        self._input.close()


def copy_audio(input_path: str | Path, output: av.container.OutputContainer, video_start_s: float,
               output_name: str) -> AudioPassthrough | None:
    """An :class:`AudioPassthrough` into ``output``, or ``None`` (a warning says why) where it cannot carry the audio."""
    try:
        return AudioPassthrough(input_path, output, video_start_s)
    except (av.FFmpegError, ValueError) as exc:
        log.warning("audio of %s cannot be copied into %s (%s); writing video only: use .mkv to keep it",
                    input_path, output_name, exc)
        return None


def demux_video(container: "av.container.InputContainer", video: "av.video.stream.VideoStream",
                sound: "av.audio.stream.AudioStream | None", audio: "LiveAudio | None",
                timeline: "Callable[[float], float | None]") -> "Iterator[av.VideoFrame]":
    """Decoded frames of ``video``; ``sound``'s packets go to ``audio`` at ``timeline(packet time)``.

    ``timeline`` puts a packet's time (seconds on the source's clock) on the frames' timeline, as the
    source stamps its frames; ``None`` drops the packet (no frame has fixed the timeline yet).
    """
    for packet in container.demux(*(s for s in (video, sound) if s is not None)):
        if packet.stream.type == "video":
            yield from packet.decode()
        elif audio is not None and packet.pts is not None and packet.size:
            at = timeline(float(packet.pts * packet.time_base))
            if at is not None:
                audio.put(packet, at)


class LiveAudio:
    """A live source's audio packets, stamped on the source's timeline, for the outputs of a run.

    The capture thread :meth:`put`\\ s each audio packet of the stream with its time on the same timeline as the video
    frames' ``pts_s`` (the stream's own clock, anchored to the arrival clock at each connection), so the two stay in
    sync across drops, reconnections and a stabilizer's lookahead delay.  Each output (a recording, a network stream)
    :meth:`attach`\\ es and gets every packet from then on, plus the last ``keep_s`` seconds, in its own queue; it muxes
    them between its video frames (:meth:`AudioOutput.mux_until`) from the time :meth:`start_at` sets (the outputs'
    first frame).  Packets are copied bit for bit (no re-encode); the outputs' streams are made from ``template``, the
    source's audio stream.  With ``capture_clock`` the packets are stamped on the monotonic clock of the frames'
    ``capture_s`` (a microphone's), not on their ``pts_s`` timeline (a stream's own audio).
    """

    def __init__(self, template: "av.audio.stream.AudioStream", keep_s: float = 5.0,
                 capture_clock: bool = False) -> None:
        self.template = template
        self.keep_s = keep_s
        self.capture_clock = capture_clock
        self._recent: collections.deque = collections.deque()
        self._outputs: list[AudioOutput] = []
        self._lock = threading.Lock()

    def put(self, packet: "av.Packet", t_s: float) -> None:
        """Keep ``packet`` (of the source's audio stream) to be muxed at ``t_s`` on the video's timeline."""
        item = (t_s, bytes(packet), packet.time_base)
        with self._lock:
            self._recent.append(item)
            while self._recent[0][0] < t_s - self.keep_s:
                self._recent.popleft()
            for output in self._outputs:
                output.queue.append(item)

    def attach(self, output: "av.container.OutputContainer") -> "AudioOutput | None":
        """An audio stream in ``output`` like the source's (before the output's header is written).

        ``None`` (the output gets video only, a warning says why) for AAC framed as MPEG-TS senders
        frame it (ADTS) whose configuration cannot be told: MP4 and FLV need it in their header, and
        the stream carries it only in each packet's ADTS header.
        """
        stream = output.add_stream_from_template(self.template)
        ctx = self.template.codec_context
        bsf = None
        if ctx.name == "aac" and not ctx.extradata:
            with self._lock:
                first = self._recent[0][1] if self._recent else b""
            config = adts_audio_config(first) or aac_audio_config(ctx.profile, ctx.sample_rate, ctx.channels)
            if config is None:
                log.warning("the source's AAC audio (%s, %d Hz, %d channels) cannot be described to this output: "
                            "it gets video only", ctx.profile, ctx.sample_rate, ctx.channels)
                return None
            from av.bitstream import BitStreamFilterContext

            stream.codec_context.extradata = config
            # ADTS headers off every packet: the containers that carry AAC (MP4, FLV, Matroska) want it bare.
            bsf = BitStreamFilterContext("aac_adtstoasc", self.template, None)
        audio_output = AudioOutput(self, output, stream, bsf)
        with self._lock:
            audio_output.queue.extend(self._recent)
            self._outputs.append(audio_output)
        return audio_output

    def start_at(self, origin_s: float) -> None:
        """Time zero of the outputs attached now, on the source's timeline (their first frame's ``pts_s``)."""
        with self._lock:
            for output in self._outputs:
                if output.origin_s is None:
                    output.origin_s = origin_s

    def detach(self, output: "AudioOutput") -> None:
        """``output`` takes no more packets (it is closed)."""
        with self._lock:
            if output in self._outputs:
                self._outputs.remove(output)


def adts_audio_config(packet: bytes) -> bytes | None:
    """The AAC AudioSpecificConfig (2 bytes) that an ADTS-framed packet's header describes, or ``None``."""
    if len(packet) < 7 or packet[0] != 0xFF or packet[1] & 0xF0 != 0xF0:
        return None
    profile = (packet[2] >> 6) & 0x3  # object type - 1
    rate_index = (packet[2] >> 2) & 0xF
    channels = ((packet[2] & 0x1) << 2) | (packet[3] >> 6)
    return (((profile + 1) << 11) | (rate_index << 7) | (channels << 3)).to_bytes(2, "big")


#: AAC sampling frequency index -> rate (ISO 14496-3).
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
#: FFmpeg's AAC profile names -> audio object type; HE-AAC in ADTS is signalled as its AAC-LC core.
AAC_OBJECT_TYPES = {"Main": 1, "LC": 2, "SSR": 3, "LTP": 4, "HE-AAC": 2, "HE-AACv2": 2}


def aac_audio_config(profile: str | None, sample_rate: int, channels: int) -> bytes | None:
    """The AudioSpecificConfig for AAC of these parameters, or ``None`` where they do not fit one."""
    aot = AAC_OBJECT_TYPES.get(profile or "LC")
    if aot is None or sample_rate not in AAC_RATES or not 1 <= channels <= 7:
        return None
    return ((aot << 11) | (AAC_RATES.index(sample_rate) << 7) | (min(channels, 7) << 3)).to_bytes(2, "big")


class AudioOutput:
    """One output's audio stream made from a live source's: its queue of packets and the filter it needs."""

    def __init__(self, source: LiveAudio, output: "av.container.OutputContainer",
                 stream: "av.audio.stream.AudioStream", bsf: "av.bitstream.BitStreamFilterContext | None") -> None:
        self.source = source
        self.output = output
        self.stream = stream
        self._bsf = bsf
        #: ``(t_s, data, time_base)`` of every packet since this output attached, and a few seconds before.
        self.queue: collections.deque = collections.deque()
        #: The output's time zero on the source's timeline (set when its first frame is known).
        self.origin_s: float | None = None

    def mux_until(self, t_s: float, shift_s: float = 0.0) -> int:
        """Mux every packet up to ``t_s`` seconds after the output's start; return how many.  ``shift_s`` is
        added to every packet's time, as the writer adds it to the video's."""
        n = 0
        while self.origin_s is not None and self.queue and self.queue[0][0] - self.origin_s <= t_s:
            at, data, time_base = self.queue.popleft()  # (deque ends are thread-safe against put)
            if at < self.origin_s:
                continue  # before the output's first frame
            packet = av.Packet(data)
            packet.time_base = time_base
            packet.pts = packet.dts = round((at - self.origin_s + shift_s) / time_base)
            for out in (self._bsf.filter(packet) if self._bsf is not None else (packet,)):
                out.stream = self.stream
                self.output.mux(out)
            n += 1
        return n

    def close(self) -> None:
        """Take no more packets."""
        self.source.detach(self)
