"""Video writers: ``.y4m`` (raw), PyAV (H.264/HEVC/FFV1/... with audio, :mod:`realtime.sinks.avencode`),
OpenCV (fallback), and network streams (:mod:`realtime.sinks.netout`); the checks on an output before a run.

Every writer takes frames with their presentation time and is finalized by ``close()``, which is also
what makes an interrupted recording playable.
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
from kernels.planes import is_i420
from realtime.errors import ConfigError, EncoderError, OutputError
from realtime.sinks.outfile import OutputFile
from realtime.sources.files import SourceInfo
from realtime.sources.y4m import Y4mWriter, default_matrix

if TYPE_CHECKING:
    from realtime.sources.audio import LiveAudio

log = logging.getLogger(__name__)

#: --codec name -> FFmpeg encoder.
CODECS = {"h264": "libx264", "hevc": "libx265", "ffv1": "ffv1", "mpeg4": "mpeg4", "vp9": "libvpx-vp9", "mjpeg": "mjpeg"}
LOSSLESS = ("ffv1",)
#: Container extension -> codecs it can carry; the first is the default.
CONTAINERS = {".mp4": ("h264", "hevc", "mpeg4"), ".mov": ("h264", "hevc", "mpeg4", "mjpeg"),
              ".mkv": ("h264", "hevc", "ffv1", "mpeg4", "vp9", "mjpeg"), ".avi": ("h264", "mpeg4", "mjpeg", "ffv1")}
#: Network output URL scheme -> FFmpeg muxer (:mod:`realtime.sinks.netout`).
NETWORK_MUXERS = {"rtmp": "flv", "rtmps": "flv", "srt": "mpegts", "udp": "mpegts", "tcp": "mpegts", "rtsp": "rtsp"}
ENCODER_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
#: HDR transfer characteristics (AVColorTransferCharacteristic) -> how a notice names them.
_HDR = {16: "PQ (smpte2084)", 18: "HLG (arib-std-b67)"}
#: Outputs that could store more than 8 bits a sample (``None``: raw .y4m), for the depth notice.
_DEEP = {"h264": "H.264 High 10", "hevc": "HEVC Main 10", "ffv1": "FFV1", None: ".y4m"}


@dataclass(frozen=True)
class OutputOptions:
    """How to encode."""

    #: Key of :data:`CODECS`; ``None`` picks the container's default.
    codec: str | None = None
    #: ``pyav`` or ``opencv``.
    encoder: str = "pyav"
    #: Quality for H.264/HEVC (lower is better; 18 is visually lossless).
    crf: int = 18
    #: x264/x265 speed preset.
    preset: str = "medium"
    #: Network outputs only: constant bitrate (bits per second) instead of constant quality.
    bitrate: int | None = None
    #: H.264/HEVC on a hardware encoder: a family of :data:`realtime.sinks.hwenc.FAMILIES`, ``auto`` (the
    #: first that opens here) or ``off``; x264/x265 where none opens.
    hw_encoder: str = "off"


class Writer(Protocol):
    """What the recorder thread drives; a writer that can tell its size also counts ``bytes_out``."""

    frames: int

    def warm_up(self, shape: tuple[int, ...]) -> None:
        """Run the conversion :meth:`write` runs on frames of ``shape``, writing nothing."""

    def write(self, image: np.ndarray, pts_s: float) -> None:
        ...

    def close(self, complete: bool = True) -> None:
        ...


def is_network_output(target: str | Path) -> bool:
    """Whether ``target`` is a URL vqe sends a live stream to (``rtmp://``, ``srt://``, ...) rather than a file."""
    scheme, sep, _ = str(target).partition("://")
    return isinstance(target, str) and bool(sep) and scheme.lower() in NETWORK_MUXERS


def check_output_path(path: str | Path, input_path: str | Path | None = None) -> Path:
    """Fail before any work on an output file that cannot be written, naming the fix (a network output is
    checked by :func:`realtime.sinks.netout.check_network_output`)."""
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
                keep_audio: bool = True, live_audio: LiveAudio | None = None) -> Writer:
    """Open the writer that fits ``path``'s extension (a file checked by :func:`check_output_path`, or a
    network URL) and ``options``, for frames of ``size`` (width, height) of the input ``info`` describes.

    ``keep_audio`` copies the input file's audio; ``live_audio``, a live source's, is muxed beside
    the video (PyAV outputs).
    """
    if is_network_output(path):
        from realtime.sinks.netout import NetworkWriter  # (imports this module)

        return NetworkWriter(str(path), size[0], size[1], info, options, live_audio)
    path = Path(path)
    codec = resolve_codec(path, options)
    fmt = _written_format(path, info, size, options)
    width, height = size
    _note_precision(info, codec, options.encoder)
    if codec is None:
        return Y4mFileWriter(path, width, height, info, fmt)
    if options.encoder == "opencv":
        return CvWriter(path, width, height, info.fps)
    from realtime.sinks.avencode import AvWriter  # PyAV loads only for the outputs that encode

    return AvWriter(path, width, height, info, fmt, codec, options, keep_audio, live_audio)


def writes_i420_of(path: str | Path, info: SourceInfo, size: tuple[int, int], options: OutputOptions) -> bool:
    """Whether the writer for ``path`` stores I420 frames of ``info``'s layout and range as they are.

    Then frames that stayed planar through the pipeline need no conversion on the way out, once they
    are in :func:`written_matrix` (a resized ``.y4m`` may imply another matrix than the input's: the
    caller re-expresses the frames, with :func:`kernels.colorspace.change_matrix_i420`).
    """
    fmt = info.fmt
    if options.encoder == "opencv" or (fmt.bit_depth, fmt.sub_x, fmt.sub_y) != (8, 2, 2):
        return False
    return replace(_written_format(Path(path), info, size, options), matrix=fmt.matrix) == fmt


def written_matrix(path: str | Path, info: SourceInfo, size: tuple[int, int], options: OutputOptions) -> str:
    """The matrix the writer for ``path`` stores frames of ``size`` (width, height) in: the input's, except
    for a resized ``.y4m``, whose readers assume a matrix from its height."""
    return _written_format(Path(path), info, size, options).matrix


def _note_precision(info: SourceInfo, codec: str | None, encoder: str) -> None:
    """Say, once per output, what it keeps of a deeper-than-8-bit or HDR input: never silently SDR.

    ``codec`` is ``None`` for raw ``.y4m`` (written by vqe itself whatever the encoder, with no colour
    tags); with ``encoder="opencv"``, OpenCV picks its own codec and writes no colour tags.
    """
    by_pyav = codec is not None and encoder == "pyav"
    bits = info.fmt.bit_depth
    if bits > 8:
        deep = _DEEP.get(codec) if by_pyav or codec is None else None
        # Honest even where the file could hold the bits: the kernels have already rounded them off.
        could = f" ({deep} could store {bits} bits, but vqe's kernels are 8-bit)" if deep else ""
        log.warning("input is %d-bit: vqe processes 8 bits a sample, the output is 8-bit%s", bits, could)
    hdr = _HDR.get(info.transfer)  # type: ignore[arg-type]
    if hdr is None:
        return
    if by_pyav:
        log.warning("input is HDR, %s: the output keeps its transfer and primaries tags, as 8-bit HDR "
                    "(banding possible)", hdr)
    else:
        log.warning("input is HDR, %s: this output cannot carry its transfer and primaries tags, so players "
                    "will show it as SDR; write .mkv or .mp4 with --encoder pyav to keep them", hdr)


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
        # Every failure of the disk comes as an OutputError that names it (OutputFile).
        self._writer = Y4mWriter(path, width, height, info.fps, fmt, info.field_order, info.sar, file=OutputFile(path))
        self._fmt = fmt
        self._interlaced = info.field_order in ("tff", "bff")
        self._planes = None
        # I420 frames are in info.fmt and are stored as they are: only in the file's own matrix.
        self._i420_matrix = info.fmt.matrix
        self.frames = 0
        #: Bytes of pictures written (headers aside).
        self.bytes_out = 0

    def warm_up(self, shape: tuple[int, ...]) -> None:
        """Convert a blank BGR frame of ``shape`` once, not written (I420 frames are stored as they are)."""
        if len(shape) == 3:
            self._planes = bgr_to_yuv(np.zeros(shape, np.uint8), self._fmt, out=self._planes,
                                      interlaced=self._interlaced)

    def write(self, image: np.ndarray, pts_s: float) -> None:
        if is_i420(image):
            if self._i420_matrix != self._fmt.matrix:
                raise ValueError(f"I420 frames in {self._i420_matrix} for a .y4m stored in {self._fmt.matrix}: "
                                 f"re-express them first (kernels.colorspace.change_matrix_i420)")
            planes = (image,)
        else:
            planes = self._planes = bgr_to_yuv(image, self._fmt, out=self._planes, interlaced=self._interlaced)
        self._writer.write_planes(planes)
        self.bytes_out += sum(plane.nbytes for plane in planes)
        self.frames += 1

    def close(self, complete: bool = True) -> None:
        self._writer.close()


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

    def warm_up(self, shape: tuple[int, ...]) -> None:
        """Nothing to compile: OpenCV converts."""

    def write(self, image: np.ndarray, pts_s: float) -> None:
        self._writer.write(image)
        self.frames += 1

    def close(self, complete: bool = True) -> None:
        self._writer.release()
