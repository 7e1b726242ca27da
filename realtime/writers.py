"""Video file writers: ``.y4m`` (raw), PyAV (H.264/HEVC/FFV1/... with audio), OpenCV (fallback).

Every writer takes BGR frames with their presentation time and is finalized by
``close()``, which is also what makes an interrupted recording playable.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from kernels.colorspace import YuvFormat, bgr_to_yuv
from kernels.planes import i420_planes, i420_size, is_i420
from realtime.errors import ConfigError, EncoderError, OutputError
from realtime.sources import SourceInfo
from realtime.y4m import Y4mWriter, default_matrix

if TYPE_CHECKING:  # PyAV is imported by the writer that encodes: .y4m runs start faster without it
    import av

    from realtime.audio import AudioPassthrough

log = logging.getLogger(__name__)

#: --codec name -> FFmpeg encoder.
CODECS = {"h264": "libx264", "hevc": "libx265", "ffv1": "ffv1", "mpeg4": "mpeg4", "vp9": "libvpx-vp9",
          "mjpeg": "mjpeg"}
LOSSLESS = ("ffv1",)
#: Container extension -> codecs it can carry; the first is the default.
CONTAINERS = {".mp4": ("h264", "hevc", "mpeg4"), ".mov": ("h264", "hevc", "mpeg4", "mjpeg"),
              ".mkv": ("h264", "hevc", "ffv1", "mpeg4", "vp9", "mjpeg"), ".avi": ("h264", "mpeg4", "mjpeg", "ffv1")}
ENCODER_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
_CSP = {"bt601": 6, "bt709": 1, "bt2020": 9}        # AVColorSpace
_PRIMARIES = {"bt601": 6, "bt709": 1, "bt2020": 9}  # AVColorPrimaries
_TRC = {"bt601": 6, "bt709": 1, "bt2020": 14}       # AVColorTransferCharacteristic


@dataclass(frozen=True)
class OutputOptions:
    """How to encode.

    Attributes
    ----------
    codec : str or None
        Key of :data:`CODECS`; ``None`` picks the container's default.
    encoder : {"pyav", "opencv"}
    crf : int
        Quality for H.264/HEVC (lower is better; 18 is visually lossless).
    preset : str
        x264/x265 speed preset.
    """

    codec: str | None = None
    encoder: str = "pyav"
    crf: int = 18
    preset: str = "medium"


class Writer(Protocol):
    frames: int

    def write(self, image: np.ndarray, pts_s: float) -> None:
        ...

    def close(self, complete: bool = True) -> None:
        ...


def check_output_path(path: str | Path, input_path: str | Path | None = None) -> Path:
    """Fail before any work on an output that cannot be written, naming the fix."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext != ".y4m" and ext not in CONTAINERS:
        raise ConfigError(f"output {p}: unsupported extension {ext or '(none)'!r}; "
                          f"use .mp4, .mkv, .mov, .avi or .y4m")
    if input_path is not None and p.resolve() == Path(input_path).resolve():
        raise ConfigError(f"output {p} is the input file: choose another -o path")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise OutputError(f"output directory {parent} does not exist: create it or choose another -o path")
    if not parent.is_dir():
        raise OutputError(f"output {p}: {parent} is not a directory: choose another -o path")
    if p.is_dir():
        raise OutputError(f"output {p} is a directory: give a file name such as {p / 'out.mp4'}")
    existed = p.exists()
    try:  # the only reliable test (root ignores mode bits, read-only mounts don't)
        with p.open("ab"):
            pass
    except OSError as exc:
        raise OutputError(f"output {p} cannot be written ({exc.strerror}): choose a writable -o path") from None
    if not existed:
        os.unlink(p)
    return p


def resolve_codec(path: Path, options: OutputOptions) -> str | None:
    """The codec for ``path`` (``None`` for raw ``.y4m``), checked against its container."""
    ext = path.suffix.lower()
    if ext == ".y4m":
        if options.codec is not None:
            raise ConfigError(f"--codec {options.codec}: .y4m holds raw frames; drop --codec or use .mkv")
        return None
    if options.codec is not None and options.codec not in CODECS:
        raise ConfigError(f"unknown --codec {options.codec!r}: use one of {', '.join(CODECS)}")
    codec = options.codec or CONTAINERS[ext][0]
    if codec not in CONTAINERS[ext]:
        raise ConfigError(f"--codec {codec} cannot go in {ext}: use {', '.join(CONTAINERS[ext])}, or .mkv")
    return codec


def output_format(info: SourceInfo, codec: str | None) -> YuvFormat:
    """Lossless outputs keep the input's subsampling and range; delivery codecs get 8-bit 4:2:0 limited."""
    if codec is None or codec in LOSSLESS:
        return YuvFormat(info.fmt.matrix, info.fmt.full_range, 8, info.fmt.sub_x, info.fmt.sub_y)
    return YuvFormat(info.fmt.matrix, codec == "mjpeg", 8, 2, 2)


def open_writer(path: str | Path, info: SourceInfo, size: tuple[int, int], options: OutputOptions,
                keep_audio: bool = True) -> Writer:
    """Open the writer that fits ``path``'s extension and ``options``.

    Parameters
    ----------
    path : path
        Output file, already checked with :func:`check_output_path`.
    info : SourceInfo
        The input's properties (rate, colour format, audio).
    size : (width, height)
        Output frame size (stages may resize).
    """
    path = Path(path)
    codec = resolve_codec(path, options)
    fmt = _written_format(path, info, size, options)
    width, height = size
    if codec is None:
        return Y4mFileWriter(path, width, height, info, fmt)
    if options.encoder == "opencv":
        return CvWriter(path, width, height, info.fps)
    return AvWriter(path, width, height, info, fmt, codec, options, keep_audio)


def writes_i420_of(path: str | Path, info: SourceInfo, size: tuple[int, int], options: OutputOptions) -> bool:
    """Whether the writer for ``path`` stores I420 frames of ``info``'s layout and range as they are.

    Then frames that stayed planar through the pipeline need no conversion on the way out, once
    they are in :func:`written_matrix` (a resized ``.y4m`` may imply another matrix than the
    input's: the caller re-expresses the frames, with :func:`kernels.colorspace.change_matrix_i420`).
    """
    fmt = info.fmt
    if options.encoder == "opencv" or (fmt.bit_depth, fmt.sub_x, fmt.sub_y) != (8, 2, 2):
        return False
    return replace(_written_format(Path(path), info, size, options), matrix=fmt.matrix) == fmt


def written_matrix(path: str | Path, info: SourceInfo, size: tuple[int, int], options: OutputOptions) -> str:
    """The matrix the writer for ``path`` stores frames of ``size`` (width, height) in.

    The input's, except for a resized ``.y4m``, whose readers assume a matrix from its height.
    """
    return _written_format(Path(path), info, size, options).matrix


def _written_format(path: Path, info: SourceInfo, size: tuple[int, int], options: OutputOptions) -> YuvFormat:
    codec = resolve_codec(path, options)
    fmt = output_format(info, codec)
    if codec is None and tuple(size) != (info.width, info.height):
        # .y4m cannot tag the matrix and readers assume it from the height, so a resized
        # output (an upscale to HD) is written in the matrix its own height implies.
        fmt = replace(fmt, matrix=default_matrix(size[1]))
    return fmt


class Y4mFileWriter:
    """BGR or I420 frames to a ``.y4m`` file."""

    def __init__(self, path: Path, width: int, height: int, info: SourceInfo, fmt: YuvFormat) -> None:
        try:
            self._writer = Y4mWriter(path, width, height, info.fps, fmt, info.field_order, info.sar)
        except OSError as exc:
            raise OutputError(f"output {path} cannot be written ({exc.strerror})") from None
        self._fmt = fmt
        self._interlaced = info.field_order in ("tff", "bff")
        self._planes = None
        # I420 frames are in info.fmt and are stored as they are: only in the file's own matrix.
        self._i420_matrix = info.fmt.matrix
        self.frames = 0

    def write(self, image: np.ndarray, pts_s: float) -> None:
        if is_i420(image):
            if self._i420_matrix != self._fmt.matrix:
                raise ValueError(f"I420 frames in {self._i420_matrix} for a .y4m stored in {self._fmt.matrix}: "
                                 f"re-express them first (kernels.colorspace.change_matrix_i420)")
            self._writer.write_planes((image,))
        else:
            self._planes = bgr_to_yuv(image, self._fmt, out=self._planes, interlaced=self._interlaced)
            self._writer.write_planes(self._planes)
        self.frames += 1

    def close(self, complete: bool = True) -> None:
        self._writer.close()


class AvWriter:
    """Encodes through PyAV/FFmpeg and remuxes the input's audio unchanged."""

    def __init__(self, path: Path, width: int, height: int, info: SourceInfo, fmt: YuvFormat, codec: str,
                 options: OutputOptions, keep_audio: bool) -> None:
        import av

        self._av = av  # imported here, not at module level: .y4m runs never load PyAV
        ext = path.suffix.lower()
        container_options = {"movflags": "+faststart"} if ext in (".mp4", ".mov") else {}
        try:
            self._out = av.open(str(path), "w", options=container_options)
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"output {path} cannot be written ({exc}): choose a writable -o path") from None
        self._path = path
        self._fmt = fmt
        self._time_base = info.time_base or Fraction(1, info.fps.numerator)
        try:
            stream = self._out.add_stream(CODECS[codec], rate=info.fps)
        except (av.FFmpegError, ValueError) as exc:
            self._out.close()
            raise EncoderError(f"encoder for --codec {codec} is not available ({exc}): try --codec h264") from None
        stream.width, stream.height = width, height
        stream.pix_fmt = {(2, 2): "yuv420p", (2, 1): "yuv422p", (1, 1): "yuv444p"}[(fmt.sub_x, fmt.sub_y)]
        if codec == "mjpeg":
            stream.pix_fmt = stream.pix_fmt.replace("yuv", "yuvj")
        stream.time_base = self._time_base
        ctx = stream.codec_context
        # The encoder keeps the frames' own clock: live capture times are irregular and must not be
        # rounded onto a 1/fps grid (duplicate timestamps would be rejected).
        ctx.time_base = self._time_base
        ctx.colorspace = _CSP[fmt.matrix]
        ctx.color_primaries = _PRIMARIES[fmt.matrix]
        ctx.color_trc = _TRC[fmt.matrix]
        ctx.color_range = 2 if fmt.full_range else 1
        if codec in ("h264", "hevc"):
            stream.options = {"crf": str(options.crf), "preset": options.preset}
        if codec == "hevc" and ext in (".mp4", ".mov"):
            ctx.codec_tag = "hvc1"  # what Apple players require
        self._stream = stream
        self._audio: AudioPassthrough | None = None
        # Both streams start at the earlier of their origins, so sync is kept exactly.
        self._shift_s = info.start_s
        if keep_audio and info.has_audio:
            self._audio = self._open_audio(info)
        self._last_pts = -1
        self._frame_s = 1.0 / float(info.fps)
        self._end_s = 0.0
        self.frames = 0

    def _open_audio(self, info: SourceInfo) -> AudioPassthrough | None:
        import av

        from realtime.audio import AudioPassthrough

        try:
            probe = av.open(info.path, metadata_errors="ignore")
            a = probe.streams.audio[0]
            audio_start = float(a.start_time * a.time_base) if a.start_time is not None else info.start_s
            probe.close()
            origin = min(info.start_s, audio_start)
            self._shift_s = info.start_s - origin
            return AudioPassthrough(info.path, self._out, origin)
        except (av.FFmpegError, ValueError) as exc:
            log.warning("audio of %s cannot be copied into %s (%s); writing video only: use .mkv to keep it",
                        info.path, self._path.suffix, exc)
            self._shift_s = 0.0
            return None

    def write(self, image: np.ndarray, pts_s: float) -> None:
        height, width = i420_size(image) if is_i420(image) else image.shape[:2]
        frame = self._av.VideoFrame(width, height, self._stream.pix_fmt)
        planes = tuple(np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in frame.planes)
        if is_i420(image):
            for src, dst in zip(i420_planes(image), planes):
                np.copyto(dst, src)
        else:
            bgr_to_yuv(image, self._fmt, out=planes)
        t = pts_s + self._shift_s
        pts = max(round(t / self._time_base), self._last_pts + 1)
        frame.pts = self._last_pts = pts
        frame.time_base = self._time_base
        frame.colorspace = _CSP[self._fmt.matrix]
        frame.color_range = 2 if self._fmt.full_range else 1
        if self._audio is not None:
            self._audio.mux_until(t)
        self._encode(frame)
        self._end_s = t + self._frame_s
        self.frames += 1

    def _encode(self, frame: av.VideoFrame | None) -> None:
        try:
            for packet in self._stream.encode(frame):
                self._out.mux(packet)
        except self._av.FFmpegError as exc:
            raise EncoderError(f"encoding {self._path} failed ({exc})") from None

    def close(self, complete: bool = True) -> None:
        """Flush the encoder, copy the remaining audio and finalize the file.

        With ``complete=False`` (the run stopped early) audio is cut where the video ends.
        """
        try:
            self._encode(None)
            if self._audio is not None:
                self._audio.mux_until(None if complete else self._end_s)
                self._audio.close()
        finally:
            self._out.close()


class CvWriter:
    """OpenCV ``VideoWriter``: no audio, codec chosen by extension (the fallback encoder)."""

    _FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".mkv": "XVID", ".avi": "MJPG"}

    def __init__(self, path: Path, width: int, height: int, fps: Fraction) -> None:
        fourcc = cv2.VideoWriter_fourcc(*self._FOURCC[path.suffix.lower()])
        self._writer = cv2.VideoWriter(str(path), fourcc, float(fps), (width, height))
        if not self._writer.isOpened():
            raise EncoderError(f"OpenCV cannot open a {path.suffix} writer for {path}: use --encoder pyav")
        log.info("--encoder opencv writes video only (no audio)")
        self.frames = 0

    def write(self, image: np.ndarray, pts_s: float) -> None:
        self._writer.write(image)
        self.frames += 1

    def close(self, complete: bool = True) -> None:
        self._writer.release()
