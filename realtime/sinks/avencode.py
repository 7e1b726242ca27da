"""Encoding through PyAV/FFmpeg: the video stream every encoded output uses, and the file writer.

:class:`AvWriter` writes H.264/HEVC/FFV1/... files with the input's audio copied, in containers
that stay playable however the run ends (:data:`CRASH_SAFE`); :func:`add_video_stream` and
:func:`video_frame` are shared with the network outputs (:mod:`realtime.sinks.netout`).
"""
from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from kernels.colorspace import YuvFormat, bgr_to_yuv
from kernels.planes import i420_planes, is_i420
from realtime.errors import EncoderError, OutputError
from realtime.sinks import hwenc, live_preset
from realtime.sinks.outfile import OutputFile
from realtime.sinks.writers import CODECS, OutputOptions
from realtime.sources.files import SourceInfo

if TYPE_CHECKING:
    import av

    from realtime.sources.audio import AudioOutput, AudioPassthrough, LiveAudio

log = logging.getLogger(__name__)

#: Container extension -> FFmpeg muxer (a file object carries no name to guess it from).
_MUXERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
#: Muxer options that keep a recording playable however the run ends (SIGKILL, power loss, a full
#: disk): MP4/MOV as fragments of about a second after an empty index (a plain MP4 is unplayable
#: until its index is written at the end); Matroska in clusters of at most a second (the muxer
#: holds a cluster in memory until it is complete).  AVI is written packet by packet.
FRAGMENT_S = 1.0
# delay_moov: the index waits for the first fragment, so it can carry the edit list that starts the
# video at the audio's time (without it, B-frame reordering delays the video by two frames).
_FRAGMENTED = {"movflags": "+frag_keyframe+empty_moov+delay_moov+default_base_moof",
               "frag_duration": str(int(FRAGMENT_S * 1e6))}
CRASH_SAFE = {".mp4": _FRAGMENTED, ".mov": _FRAGMENTED, ".mkv": {"cluster_time_limit": str(int(FRAGMENT_S * 1e3))}}
_CSP = {"bt601": 6, "bt709": 1, "bt2020": 9}        # AVColorSpace
_PRIMARIES = {"bt601": 6, "bt709": 1, "bt2020": 9}  # AVColorPrimaries
_TRC = {"bt601": 6, "bt709": 1, "bt2020": 14}       # AVColorTransferCharacteristic
#: Encoder options that mean the same to every encoder (FFmpeg's own, not x264's).
_GENERIC_OPTIONS = ("g", "bf", "b", "maxrate", "bufsize")
#: Codecs (libx264, libx265) whose frame size must be a multiple of the chroma subsampling.
_WHOLE_CHROMA_SIZE = ("h264", "hevc")


def _encoded_size(codec: str, fmt: YuvFormat, width: int, height: int) -> tuple[int, int]:
    """The frame size ``codec`` encodes a ``width`` x ``height`` picture in ``fmt`` at.

    libx264 and libx265 refuse sizes that are not a multiple of the chroma subsampling (odd sizes are
    common: 853x480 is 16:9 480p), so the last column or row is cropped off; FFV1, VP9, MPEG-4, MJPEG
    (and .y4m) store odd sizes as they are.
    """
    if codec not in _WHOLE_CHROMA_SIZE:
        return width, height
    return width - width % fmt.sub_x, height - height % fmt.sub_y


def add_video_stream(out: "av.container.OutputContainer", codec: str, width: int, height: int, info: SourceInfo,
                     fmt: YuvFormat, options: OutputOptions, time_base: Fraction,
                     codec_options: dict[str, str | None] | None = None) -> tuple["av.VideoStream", tuple[int, int]]:
    """Add the video stream every PyAV output encodes into: codec, size, pixel format, colour tags.

    Returns the stream and the size it encodes at (``width`` x ``height``, or one pixel less where the
    codec needs whole chroma samples).  ``codec_options`` add to (or replace) the x264/x265 options (a
    network output's low-latency settings; ``None`` removes one).  Raises :class:`EncoderError` where
    the codec's encoder is not in this FFmpeg build.
    """
    import av

    size = _encoded_size(codec, fmt, width, height)
    hardware = None
    if (fmt.sub_x, fmt.sub_y) == (2, 2):  # the hardware encoders take 4:2:0
        fast = "superfast" if options.preset == live_preset.AUTO else options.preset
        hardware = hwenc.pick(options.hw_encoder, codec, *size, info.fps, options.crf, fast,
                              low_latency=codec_options is not None, bitrate=options.bitrate)
    try:
        stream = out.add_stream(hardware.name if hardware else CODECS[codec], rate=info.fps)
    except (av.FFmpegError, ValueError) as exc:
        raise EncoderError(f"encoder for --codec {codec} is not available ({exc}): try --codec h264") from None
    stream.width, stream.height = size
    if size != (width, height):
        log.info("output %dx%d cropped to %dx%d (right column / bottom row): %s needs sizes divisible by "
                 "its chroma subsampling; --codec ffv1 in .mkv, or .y4m, keeps the exact size",
                 width, height, *size, codec)
    stream.pix_fmt = {(2, 2): "yuv420p", (2, 1): "yuv422p", (1, 1): "yuv444p"}[(fmt.sub_x, fmt.sub_y)]
    if codec == "mjpeg":
        stream.pix_fmt = stream.pix_fmt.replace("yuv", "yuvj")
    if hardware:
        stream.pix_fmt = hardware.pix_fmt
    stream.time_base = time_base
    ctx = stream.codec_context
    # The encoder keeps the frames' own clock: live capture times are irregular and must not be
    # rounded onto a 1/fps grid (duplicate timestamps would be rejected).
    ctx.time_base = time_base
    ctx.colorspace = _CSP[fmt.matrix]
    # Primaries and transfer: the input's (HDR stays HDR), else what the matrix implies.
    ctx.color_primaries = info.primaries or _PRIMARIES[fmt.matrix]
    ctx.color_trc = info.transfer or _TRC[fmt.matrix]
    ctx.color_range = 2 if fmt.full_range else 1
    if hardware:
        # Of a network output's x264 settings, those every encoder has (GOP, B-frames, rate); the
        # hardware's own low-latency and rate settings are in its options.
        generic = {k: v for k, v in (codec_options or {}).items() if k in _GENERIC_OPTIONS and v is not None}
        stream.options = {**hardware.options, **generic}
    elif codec in ("h264", "hevc"):
        preset = live_preset.live_preset(*size, info.fps) if options.preset == live_preset.AUTO else options.preset
        chosen = {"crf": str(options.crf), "preset": preset, **(codec_options or {})}
        stream.options = {k: v for k, v in chosen.items() if v is not None}
    return stream, size


def video_frame(av_module: ModuleType, image: np.ndarray, size: tuple[int, int], pix_fmt: str,
                fmt: YuvFormat) -> "av.VideoFrame":
    """``image`` (BGR or I420) as an encoder's frame of ``size`` in ``pix_fmt`` and ``fmt``."""
    width, height = size
    frame = av_module.VideoFrame(width, height, pix_fmt)
    planes = tuple(np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in frame.planes)
    if is_i420(image) and pix_fmt == "nv12":  # a hardware encoder's: Cb and Cr interleaved in one plane
        luma, cb, cr = i420_planes(image)
        np.copyto(planes[0], luma)
        uv = frame.planes[1]  # its width counts sample pairs
        pairs = np.frombuffer(uv, np.uint8).reshape(uv.height, uv.line_size)[:, : 2 * uv.width].reshape(uv.height, -1, 2)
        pairs[..., 0], pairs[..., 1] = cb, cr
    elif is_i420(image):  # even-sized: never cropped
        for src, dst in zip(i420_planes(image), planes):
            np.copyto(dst, src)
    else:
        # A view of the whole image unless cropped: bgr_to_yuv copies only a column-cropped one.
        bgr_to_yuv(image[:height, :width], fmt, out=planes)
    frame.colorspace = _CSP[fmt.matrix]
    frame.color_range = 2 if fmt.full_range else 1
    return frame


class AvWriter:
    """Encodes through PyAV/FFmpeg and remuxes the input's audio unchanged."""

    def __init__(self, path: Path, width: int, height: int, info: SourceInfo, fmt: YuvFormat, codec: str,
                 options: OutputOptions, keep_audio: bool, live_audio: LiveAudio | None = None) -> None:
        import av

        self._av = av  # imported here, not at module level: .y4m runs never load PyAV
        ext = path.suffix.lower()
        self._file = OutputFile(path)
        try:
            self._out = av.open(self._file, "w", format=_MUXERS[ext], options=CRASH_SAFE.get(ext, {}))
        except (av.FFmpegError, OSError) as exc:
            self._file.close()
            raise OutputError(f"output {path} cannot be written ({exc}): choose a writable -o path") from None
        self._path = path
        self._fmt = fmt
        self._time_base = info.time_base or Fraction(1, info.fps.numerator)
        try:
            stream, self._size = add_video_stream(self._out, codec, width, height, info, fmt, options, self._time_base)
        except EncoderError:
            self._out.close()
            raise
        if codec == "hevc" and ext in (".mp4", ".mov"):
            stream.codec_context.codec_tag = "hvc1"  # what Apple players require
        self._stream = stream
        self._audio: AudioPassthrough | None = None
        self._shift_s = info.start_s
        if keep_audio and info.has_audio:
            from realtime.sources.audio import copy_audio

            self._audio = copy_audio(info.path, self._out, info.start_s, path.suffix)
            # Both streams start at the earlier of their origins, so sync is kept exactly.
            self._shift_s = info.start_s - self._audio.origin_s if self._audio is not None else 0.0
        self._live_audio: AudioOutput | None = live_audio.attach(self._out) if live_audio is not None else None
        self._last_pts = -1
        self._frame_s = 1.0 / float(info.fps)
        self._end_s = 0.0
        self.frames = 0
        #: Bytes of encoded video written.
        self.bytes_out = 0

    def warm_up(self, shape: tuple[int, ...]) -> None:
        """Convert a blank frame of ``shape`` once, not written: its kernel is ready for the first frame."""
        self._picture(np.zeros(shape, np.uint8))

    def write(self, image: np.ndarray, pts_s: float) -> None:
        frame = self._picture(image)
        t = pts_s + self._shift_s
        pts = max(round(t / self._time_base), self._last_pts + 1)
        frame.pts = self._last_pts = pts
        frame.time_base = self._time_base
        if self._audio is not None:
            self._audio.mux_until(t)
        if self._live_audio is not None:
            self._live_audio.mux_until(pts_s, self._shift_s)
        self._encode(frame)
        self._end_s = t + self._frame_s
        self.frames += 1

    def _picture(self, image: np.ndarray) -> av.VideoFrame:
        return video_frame(self._av, image, self._size, self._stream.pix_fmt, self._fmt)

    def _encode(self, frame: av.VideoFrame | None) -> None:
        try:
            for packet in self._stream.encode(frame):
                self.bytes_out += packet.size
                self._out.mux(packet)
        except OutputError:  # the disk, named by the output file
            raise
        except self._av.FFmpegError as exc:
            raise EncoderError(f"encoding {self._path} failed ({exc})") from None

    def close(self, complete: bool = True) -> None:
        """Flush the encoder, copy the remaining audio and finalize the file.

        With ``complete=False`` (the run stopped early) audio is cut where the video ends.  After a write failure
        nothing more can be kept: the file is closed as it stands, playable up to its last complete fragment.
        """
        failed = self._file.failed is not None  # already reported: the clean-up may only fail again
        try:
            if not failed:
                self._encode(None)
                if self._audio is not None:
                    self._audio.mux_until(None if complete else self._end_s)
        finally:
            if self._audio is not None:
                self._audio.close()
            if self._live_audio is not None:
                self._live_audio.close()
            try:
                self._out.close()
            except (OSError, self._av.FFmpegError):
                if not failed:
                    raise
            finally:
                self._file.close()
        if self._file.failed is None and self._path.suffix.lower() in (".mp4", ".mov"):
            fast_start(self._path)


def fast_start(path: Path) -> bool:
    """Rewrite a finished fragmented MP4/MOV as a plain one with its index first; whether it was.

    Fragments keep a recording playable while it is written; a finished file is better whole: every
    player and editor reads it and shows its duration at once.  The packets are copied (no
    re-encoding) to a temporary file that replaces the original only when complete, so an
    interrupted rewrite (a full disk, a signal) leaves the fragmented recording as it was.
    """
    import av

    tmp = path.with_name(f".{path.name}.vqe-tmp")
    try:
        with av.open(str(path), metadata_errors="ignore") as src, \
                av.open(str(tmp), "w", format=_MUXERS[path.suffix.lower()], options={"movflags": "+faststart"}) as dst:
            streams = {s.index: dst.add_stream_from_template(s) for s in src.streams if s.type in ("video", "audio")}
            for packet in src.demux(*[src.streams[i] for i in streams]):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
        os.replace(tmp, path)
        return True
    except (OSError, av.FFmpegError) as exc:
        log.warning("%s stays a fragmented %s (plays everywhere; rewriting it whole failed: %s)",
                    path, path.suffix, getattr(exc, "strerror", None) or exc)
        return False
    finally:
        tmp.unlink(missing_ok=True)
