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
from kernels.planes import i420_planes, is_i420
from realtime.errors import ConfigError, EncoderError, OutputError
from realtime.outfile import OutputFile
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
CRASH_SAFE = {".mp4": _FRAGMENTED, ".mov": _FRAGMENTED,
              ".mkv": {"cluster_time_limit": str(int(FRAGMENT_S * 1e3))}}
ENCODER_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
_CSP = {"bt601": 6, "bt709": 1, "bt2020": 9}        # AVColorSpace
_PRIMARIES = {"bt601": 6, "bt709": 1, "bt2020": 9}  # AVColorPrimaries
_TRC = {"bt601": 6, "bt709": 1, "bt2020": 14}       # AVColorTransferCharacteristic
#: HDR transfer characteristics (AVColorTransferCharacteristic) -> how a notice names them.
_HDR = {16: "PQ (smpte2084)", 18: "HLG (arib-std-b67)"}
#: Codecs (libx264, libx265) whose frame size must be a multiple of the chroma subsampling.
_WHOLE_CHROMA_SIZE = ("h264", "hevc")
#: Outputs that could store more than 8 bits a sample (``None``: raw .y4m), for the depth notice.
_DEEP = {"h264": "H.264 High 10", "hevc": "HEVC Main 10", "ffv1": "FFV1", None: ".y4m"}


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

    def warm_up(self, shape: tuple[int, ...]) -> None:
        """Run the conversion :meth:`write` runs on frames of ``shape``, writing nothing."""

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
    _note_precision(info, codec, options.encoder)
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


def _note_precision(info: SourceInfo, codec: str | None, encoder: str) -> None:
    """Say, once per output, what it keeps of a deeper-than-8-bit or HDR input: never silently SDR.

    Parameters
    ----------
    info : SourceInfo
        The input (its bit depth and transfer characteristic).
    codec : str or None
        Key of :data:`CODECS`; ``None`` for raw ``.y4m``.
    encoder : {"pyav", "opencv"}
        OpenCV picks its own codec and writes no colour tags.
    """
    # Raw .y4m is written by vqe itself whatever the encoder; it has no colour tags either.
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


def _colour_tags(info: SourceInfo, fmt: YuvFormat) -> tuple[int, int]:
    """Primaries and transfer codes for the output: the input's (HDR stays HDR), else what the matrix implies."""
    return info.primaries or _PRIMARIES[fmt.matrix], info.transfer or _TRC[fmt.matrix]


def _encoded_size(codec: str, fmt: YuvFormat, width: int, height: int) -> tuple[int, int]:
    """The frame size ``codec`` encodes a ``width`` x ``height`` picture in ``fmt`` at.

    libx264 and libx265 refuse sizes that are not a multiple of the chroma subsampling
    (odd sizes are common: 853x480 is 16:9 480p), so the last column or row is cropped off;
    FFV1, VP9, MPEG-4, MJPEG (and .y4m) store odd sizes as they are.
    """
    if codec not in _WHOLE_CHROMA_SIZE:
        return width, height
    return width - width % fmt.sub_x, height - height % fmt.sub_y


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
            self._writer = Y4mWriter(path, width, height, info.fps, fmt, info.field_order, info.sar,
                                     file=OutputFile(path))
        except OutputError:
            raise
        except OSError as exc:
            raise OutputError(f"output {path} cannot be written ({exc.strerror})") from None
        self._fmt = fmt
        self._interlaced = info.field_order in ("tff", "bff")
        self._planes = None
        # I420 frames are in info.fmt and are stored as they are: only in the file's own matrix.
        self._i420_matrix = info.fmt.matrix
        self.frames = 0

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
            stream = self._out.add_stream(CODECS[codec], rate=info.fps)
        except (av.FFmpegError, ValueError) as exc:
            self._out.close()
            raise EncoderError(f"encoder for --codec {codec} is not available ({exc}): try --codec h264") from None
        self._size = _encoded_size(codec, fmt, width, height)
        stream.width, stream.height = self._size
        if self._size != (width, height):
            log.info("output %dx%d cropped to %dx%d (right column / bottom row): %s needs sizes divisible by "
                     "its chroma subsampling; --codec ffv1 in .mkv, or .y4m, keeps the exact size",
                     width, height, *self._size, codec)
        stream.pix_fmt = {(2, 2): "yuv420p", (2, 1): "yuv422p", (1, 1): "yuv444p"}[(fmt.sub_x, fmt.sub_y)]
        if codec == "mjpeg":
            stream.pix_fmt = stream.pix_fmt.replace("yuv", "yuvj")
        stream.time_base = self._time_base
        ctx = stream.codec_context
        # The encoder keeps the frames' own clock: live capture times are irregular and must not be
        # rounded onto a 1/fps grid (duplicate timestamps would be rejected).
        ctx.time_base = self._time_base
        ctx.colorspace = _CSP[fmt.matrix]
        ctx.color_primaries, ctx.color_trc = _colour_tags(info, fmt)
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
        self._encode(frame)
        self._end_s = t + self._frame_s
        self.frames += 1

    def _picture(self, image: np.ndarray) -> av.VideoFrame:
        """``image`` (BGR or I420) as the encoder's frame, in the output's format and size."""
        width, height = self._size
        frame = self._av.VideoFrame(width, height, self._stream.pix_fmt)
        planes = tuple(np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in frame.planes)
        if is_i420(image):  # even-sized: never cropped
            for src, dst in zip(i420_planes(image), planes):
                np.copyto(dst, src)
        else:
            # A view of the whole image unless cropped: bgr_to_yuv copies only a column-cropped one.
            bgr_to_yuv(image[:height, :width], self._fmt, out=planes)
        frame.colorspace = _CSP[self._fmt.matrix]
        frame.color_range = 2 if self._fmt.full_range else 1
        return frame

    def _encode(self, frame: av.VideoFrame | None) -> None:
        try:
            for packet in self._stream.encode(frame):
                self._out.mux(packet)
        except OutputError:  # the disk, named by the output file
            raise
        except self._av.FFmpegError as exc:
            raise EncoderError(f"encoding {self._path} failed ({exc})") from None

    def close(self, complete: bool = True) -> None:
        """Flush the encoder, copy the remaining audio and finalize the file.

        With ``complete=False`` (the run stopped early) audio is cut where the video ends.
        After a write failure nothing more can be kept: the file is closed as
        it stands, playable up to its last complete fragment.
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

    Fragments keep a recording playable while it is written; a finished file
    is better whole: every player and editor reads it and shows its duration
    at once.  The packets are copied (no re-encoding) to a temporary file that
    replaces the original only when complete, so an interrupted rewrite (a
    full disk, a signal) leaves the fragmented recording as it was.
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
