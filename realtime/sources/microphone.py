"""A microphone for live runs: its sound, encoded to AAC, in every output beside the enhanced video.

``--audio DEVICE`` opens a sound input through PyAV's capture devices (ALSA on Linux, AVFoundation
on macOS, DirectShow on Windows; ``FORMAT:NAME`` picks another, such as ``lavfi:sine`` for a test
tone).  A thread reads it as the device delivers, encodes AAC and hands each packet to a
:class:`~realtime.sources.audio.LiveAudio`, which the outputs mux as they do a stream's own audio.

Timing: a device delivers its samples in chunks as they are recorded, so a chunk's first sample was
taken one chunk's duration before it arrived.  The sound is placed on the monotonic clock, the
clock of the video frames' capture times, by :class:`SampleClock`.
"""
from __future__ import annotations

import io
import logging
import os
import sys
import threading
import time

import av

from realtime.errors import ConfigError, SourceError
from realtime.sources.audio import AAC_RATES, LiveAudio

log = logging.getLogger(__name__)

#: The capture-device format a bare device name is opened with, per platform.
PLATFORM_FORMATS = {"linux": "alsa", "darwin": "avfoundation", "win32": "dshow"}
#: Formats that ``--audio list`` asks for devices.
LISTED_FORMATS = ("pulse", "alsa", "avfoundation", "dshow")
#: How far the sample count may part from the arrival times before the sound is re-anchored, s.
RESYNC_S = 0.1
#: The rate the sound is encoded at when the device's own rate is not one AAC has.
FALLBACK_RATE = 48000


def parse_device(spec: str) -> tuple[str, str]:
    """``FORMAT:NAME`` (or a bare ``NAME`` in the platform's format) -> ``(format, name)``.

    AVFoundation's own names start with a colon (``:0``, the first audio device), so a name in that
    format is written ``avfoundation::0``.
    """
    fmt, sep, name = spec.partition(":")
    if sep and (fmt in av.formats_available or fmt in LISTED_FORMATS):
        return fmt, name
    default = PLATFORM_FORMATS.get(sys.platform)
    if default is None:
        raise ConfigError(f"--audio {spec}: no default sound input on this platform; write FORMAT:NAME")
    return default, spec


def list_devices() -> list[str]:
    """``FORMAT:NAME  description`` for each sound input PyAV can list here (empty if none)."""
    _use_system_alsa_config()
    lines = []
    for fmt in LISTED_FORMATS:
        if fmt not in av.formats_available:
            continue
        try:
            devices = av.enumerate_input_devices(fmt)
        except (av.FFmpegError, ValueError, OSError):
            continue  # this format cannot list its devices here
        for device in devices:
            if device.media_types and "audio" not in device.media_types:
                continue
            default = " (default)" if device.is_default else ""
            lines.append(f"{fmt}:{device.name}  {device.description}{default}")
    return lines


class SampleClock:
    """Where a device's chunks of sound sit on the monotonic clock.

    The first chunk's arrival anchors the clock; each next chunk starts where the samples counted so far end (an even
    timeline, free of the arrivals' jitter).  When the count and the arrivals part by more than :data:`RESYNC_S`, a late
    chunk moves the anchor on (the device lost samples: the gap stays in the timeline) and an early one is dropped (the
    device's clock runs fast: the sound must not run ahead of the video).
    """

    def __init__(self) -> None:
        #: Monotonic time of the first sample, seconds (``None`` before the first chunk).
        self.anchor: float | None = None
        self._counted_s = 0.0

    def take(self, arrived: float, duration_s: float) -> float | None:
        """The start time of a chunk of ``duration_s`` that arrived at ``arrived``; ``None``: drop it."""
        started = arrived - duration_s  # its first sample was taken one chunk before it arrived
        if self.anchor is None:
            self.anchor = started
        expected = self.anchor + self._counted_s
        if started - expected > RESYNC_S:
            self.anchor += started - expected
        elif expected - started > RESYNC_S:
            return None
        at = self.anchor + self._counted_s
        self._counted_s += duration_s
        return at


def _use_system_alsa_config() -> None:
    """Point PyAV's own ALSA library at the system's configuration, which it cannot find by itself."""
    if "ALSA_CONFIG_PATH" not in os.environ and os.path.exists("/usr/share/alsa/alsa.conf"):
        os.environ["ALSA_CONFIG_PATH"] = "/usr/share/alsa/alsa.conf"


class Microphone:
    """A sound input (``spec``: see :func:`parse_device`) read on its own thread, as AAC packets for a run's
    outputs, which attach to :attr:`audio` (stamped on the monotonic clock of the frames' ``capture_s``).

    Raises :class:`SourceError` where the device cannot be opened or has no sound, with the hint to list the devices.
    """

    def __init__(self, spec: str) -> None:
        fmt, name = parse_device(spec)
        _use_system_alsa_config()
        self.name = f"{fmt}:{name}"
        try:
            self._input = av.open(name, format=fmt, metadata_errors="ignore")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise SourceError(f"microphone {self.name} cannot be opened ({exc}): see the devices with "
                              f"--audio list") from None
        if not self._input.streams.audio:
            self._input.close()
            raise SourceError(f"microphone {self.name} gives no sound: see the devices with --audio list")
        source = self._input.streams.audio[0]
        rate = source.rate if source.rate in AAC_RATES else FALLBACK_RATE
        layout = "mono" if source.channels == 1 else "stereo"
        # The encoder lives in a container of its own, never written out: its stream is the template
        # the outputs copy their audio stream from (codec, rate, AAC configuration).
        self._template = av.open(io.BytesIO(), "w", format="mp4")
        self._encoder = self._template.add_stream("aac", rate=rate, layout=layout)
        self._template.start_encoding()
        self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate,
                                            frame_size=self._encoder.codec_context.frame_size)
        self.audio = LiveAudio(self._encoder, capture_clock=True)
        self._clock = SampleClock()
        self._samples = 0  # samples encoded so far, at the encoder's rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vqe-microphone", daemon=True)
        self._thread.start()
        log.info("microphone %s: %d Hz %s, AAC", self.name, rate, layout)

    def _run(self) -> None:
        try:
            for frame in self._input.decode(audio=0):
                if self._stop.is_set():
                    return
                self._take(frame, time.monotonic())
        except (av.FFmpegError, OSError) as exc:
            if not self._stop.is_set():
                log.warning("microphone %s stopped (%s): the outputs go on without sound", self.name, exc)

    def _take(self, frame: av.AudioFrame, arrived: float) -> None:
        """Encode one chunk that arrived at ``arrived`` (monotonic seconds)."""
        if self._clock.take(arrived, frame.samples / frame.sample_rate) is None:
            return
        for chunk in self._resampler.resample(frame):
            chunk.pts = self._samples
            self._samples += chunk.samples
            for packet in self._encoder.encode(chunk):
                self.audio.put(packet, self._clock.anchor + float(packet.pts * packet.time_base))

    def close(self) -> None:
        """Stop reading and release the device."""
        self._stop.set()
        self._thread.join(timeout=2.0)  # a device read returns within one chunk
        if not self._thread.is_alive():
            self._input.close()
        self._template.close()
