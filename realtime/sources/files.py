"""Frame sources behind one small protocol: ``info``, ``read_into(slot)``, ``close()``.

Files are decoded with PyAV, never with OpenCV: OpenCV 5's FFmpeg backend returns all-black frames
for interlaced-flagged streams.  Planar Y'CbCr comes straight from the decoder and is converted to
BGR by our own kernel with the stream's matrix and range, so no colour is lost at the boundary.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import cv2
import numpy as np

from kernels.colorspace import YuvFormat, yuv_to_bgr
from kernels.planes import i420_planes, i420_shape
from realtime.errors import SourceError
from realtime.run.ringbuffer import Slot
from realtime.sources.y4m import Y4mReader, default_matrix

if TYPE_CHECKING:  # PyAV is imported where a file is decoded: .y4m runs start faster without it
    import av

    from realtime.sources.audio import LiveAudio

log = logging.getLogger(__name__)

#: PyAV pixel format -> (subsampling x, y, bit depth, full range) read without swscale.
_PLANAR = {
    "yuv420p": (2, 2, 8, False), "yuvj420p": (2, 2, 8, True),
    "yuv422p": (2, 1, 8, False), "yuvj422p": (2, 1, 8, True),
    "yuv444p": (1, 1, 8, False), "yuvj444p": (1, 1, 8, True),
    "yuv420p10le": (2, 2, 10, False), "yuv422p10le": (2, 1, 10, False), "yuv444p10le": (1, 1, 10, False),
    "yuv420p12le": (2, 2, 12, False), "yuv422p12le": (2, 1, 12, False), "yuv444p12le": (1, 1, 12, False),
}
#: FFmpeg AVColorSpace codes -> our matrix names.
_MATRIX = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}
#: AVColorPrimaries / AVColorTransferCharacteristic codes that say nothing (reserved, unspecified).
_UNTAGGED = (0, 2, 3)
#: Clockwise display rotation -> the cv2.rotate code that turns a stored picture upright.
_CV_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass
class SourceInfo:
    """What a source knows about its video before the first frame."""

    path: str
    width: int
    height: int
    fps: Fraction
    frame_count: int | None
    fmt: YuvFormat
    field_order: str = "progressive"
    sar: Fraction = field(default_factory=lambda: Fraction(1))
    has_audio: bool = False
    #: Presentation time of the first video frame, seconds (for audio sync).
    start_s: float = 0.0
    #: Time base of the source's timestamps; outputs reuse it so pts stay exact.
    time_base: Fraction | None = None
    #: Clockwise degrees (0, 90, 180, 270) the source turns its stored frames by so they are
    #: delivered upright; ``width``/``height`` are the upright picture's.
    rotation: int = 0
    #: FFmpeg AVColorPrimaries / AVColorTransferCharacteristic codes of the input, ``None`` when
    #: untagged (writers then use what the matrix implies).  Transfer 16 is PQ, 18 is HLG (HDR).
    primaries: int | None = None
    transfer: int | None = None


class Source(Protocol):
    info: SourceInfo
    #: Deliver I420 frames (``(H*3/2, W)``, see :mod:`kernels.planes`) instead of BGR; only where
    #: :func:`delivers_i420` says the source can.  Optional: a source without it delivers BGR.
    planar: bool

    def read_into(self, slot: Slot) -> bool:
        """Decode the next frame into ``slot`` (BGR image and metadata); ``False`` at the end."""

    def close(self) -> None:
        ...

    # Optional: ``warm_up()`` runs the conversion ``read_into`` will run, on a frame that is not
    # delivered, so that its kernel is compiled (or loaded) before a live source starts.


def delivers_i420(info: SourceInfo) -> bool:
    """Whether frames of ``info`` come as I420 without conversion (8-bit 4:2:0, even size)."""
    fmt = info.fmt
    return (fmt.bit_depth, fmt.sub_x, fmt.sub_y) == (8, 2, 2) and info.width % 2 == 0 and info.height % 2 == 0


def check_input_path(path: str | Path) -> Path:
    """Fail early, with the fix, on inputs that cannot be a video."""
    p = Path(path)
    if not p.exists():
        raise SourceError(f"input {p} does not exist: check the path")
    if p.is_dir():
        raise SourceError(f"input {p} is a directory: give a video file")
    if not os.access(p, os.R_OK):
        raise SourceError(f"input {p} cannot be read (permission denied): check its permissions")
    if p.stat().st_size == 0:
        raise SourceError(f"input {p} is empty (0 bytes): give a video file with frames")
    return p


def open_source(path: str | Path, *, live_audio: bool = False) -> Source:
    """Open a video file: ``.y4m`` natively, everything else through PyAV.

    With ``live_audio`` (a file played live) the file's audio packets are read with its frames,
    for live recordings and network outputs (:class:`~realtime.sources.audio.LiveAudio`).
    """
    p = check_input_path(path)
    if p.suffix.lower() == ".y4m":
        return Y4mSource(p)
    return AvFileSource(p, live_audio=live_audio)


class Y4mSource:
    """Raw ``.y4m`` frames, converted to BGR on read (or read as they are when :attr:`planar`)."""

    planar = False

    def __init__(self, path: Path) -> None:
        try:
            self._reader = Y4mReader(path)
        except SourceError:
            raise
        except OSError as exc:
            raise SourceError(f"input {path} cannot be read ({exc.strerror})") from None
        r = self._reader
        self.info = SourceInfo(str(path), r.width, r.height, r.fps, r.frame_count(), r.fmt, r.field_order, r.sar,
                               time_base=Fraction(1, r.fps.numerator))
        self._interlaced = r.field_order in ("tff", "bff")
        self._index = 0

    def warm_up(self) -> None:
        """Convert a blank frame of the file's format once (BGR delivery only: I420 is read as it is)."""
        if not self.planar:
            fmt, (h, w) = self._reader.fmt, (self.info.height, self.info.width)
            blank = (np.zeros((h, w), fmt.dtype),) + tuple(np.zeros(fmt.chroma_shape(h, w), fmt.dtype) for _ in "uv")
            yuv_to_bgr(blank, fmt, out=np.empty((h, w, 3), np.uint8), interlaced=self._interlaced)

    def read_into(self, slot: Slot) -> bool:
        if self.planar:
            if self._reader.read_raw(slot.ensure_shape(i420_shape(self.info.height, self.info.width))) is None:
                return False
        else:
            planes = self._reader.read_planes()
            if planes is None:
                return False
            yuv_to_bgr(planes, self._reader.fmt, out=slot.ensure_shape((self.info.height, self.info.width, 3)),
                       interlaced=self._interlaced)
        slot.index, slot.pts_s, slot.capture_s = self._index, self._index / float(self.info.fps), time.monotonic()
        self._index += 1
        return True

    def close(self) -> None:
        self._reader.close()


def _describe_av_error(path: Path | str, exc: Exception) -> str:
    if isinstance(exc, PermissionError):
        return f"input {path} cannot be read (permission denied): check its permissions"
    why = getattr(exc, "strerror", None) or str(exc)
    return f"input {path} is not a video file FFmpeg can read ({why}): check the file"


class AvFrameConverter:
    """Decoded PyAV frames -> BGR, with the frame's own matrix and range, without swscale where possible."""

    def __init__(self, default_matrix_name: str) -> None:
        self.default_matrix = default_matrix_name
        self._formats: dict[tuple, YuvFormat] = {}
        self._stored: np.ndarray | None = None  # a frame as stored, before it is turned upright

    def into(self, frame: av.VideoFrame, allocate: Callable[[tuple[int, ...]], np.ndarray], planar: bool,
             rotate: int | None = None) -> None:
        """``frame`` into ``allocate(shape)``: I420 where ``planar`` and its size allow, else BGR.

        With ``rotate`` (a ``cv2.ROTATE_*`` code) it is turned upright on the way.  A planar run may still
        get BGR frames (a stream that reconnects at an odd size): stages take both.
        """
        height, width = frame.height, frame.width
        if rotate in (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE):
            height, width = width, height
        if planar and height % 2 == 0 and width % 2 == 0:
            self.to_i420(frame, allocate(i420_shape(height, width)), rotate)
        elif rotate is None:
            self.convert(frame, allocate((height, width, 3)))
        else:
            if self._stored is None or self._stored.shape != (frame.height, frame.width, 3):
                self._stored = np.empty((frame.height, frame.width, 3), np.uint8)
            self.convert(frame, self._stored)
            cv2.rotate(self._stored, rotate, dst=allocate((height, width, 3)))

    def to_i420(self, frame: av.VideoFrame, out: np.ndarray, rotate: int | None = None) -> None:
        """Copy an 8-bit 4:2:0 frame's planes into the I420 array ``out`` (converted if it is not one).

        With ``rotate`` (a ``cv2.ROTATE_*`` code) each plane is turned as it is copied: ``out`` has the
        turned size, and the frame costs no more copies than an unturned one.
        """
        if frame.format.name not in ("yuv420p", "yuvj420p"):
            # A full-range ("j") frame stays full range: swscale would squeeze it into yuv420p's range.
            frame = frame.reformat(format="yuvj420p" if frame.format.name.startswith("yuvj") else "yuv420p")
        for src, dst in zip(frame.planes, i420_planes(out)):
            rows = np.frombuffer(src, np.uint8).reshape(src.height, src.line_size)
            if rotate is None:
                np.copyto(dst, rows[:, : src.width])
            else:
                cv2.rotate(rows[:, : src.width], rotate, dst=dst)

    def convert(self, frame: av.VideoFrame, out: np.ndarray) -> None:
        planes, fmt = self._planes(frame)
        if planes is None:
            np.copyto(out, frame.to_ndarray(format="bgr24"))
        else:
            yuv_to_bgr(planes, fmt, out=out, interlaced=bool(frame.interlaced_frame))

    def _planes(self, frame: av.VideoFrame):
        """Plane views and their format, or ``(None, None)`` when swscale must convert."""
        layout = _PLANAR.get(frame.format.name)
        if layout is None:
            if frame.format.name.startswith(("gray", "yuv", "nv", "yuyv", "uyvy")):
                frame = frame.reformat(format="yuv444p")
                layout = _PLANAR["yuv444p"]
            else:
                return None, None
        sub_x, sub_y, bits, full = layout
        matrix = _MATRIX.get(int(frame.colorspace or 2), self.default_matrix)
        full = full or int(frame.color_range or 0) == 2
        key = (matrix, full, bits, sub_x, sub_y)
        fmt = self._formats.get(key)
        if fmt is None:
            fmt = self._formats[key] = YuvFormat(*key)
        dtype = np.dtype(np.uint8 if bits == 8 else "<u2")
        planes = []
        for p in frame.planes[:3]:
            rows = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)
            planes.append(rows[:, : p.width * dtype.itemsize].view(dtype))
        return tuple(planes), fmt


#: FFmpeg's AVFieldOrder (codec parameters) -> SourceInfo.field_order; unknown reads as progressive.
_FIELD_ORDER = {1: "progressive", 2: "tff", 3: "bff", 4: "tff", 5: "bff"}


def video_info(container: av.container.InputContainer, name: str) -> SourceInfo:
    """What the container's first video stream announces (raises SourceError when it has none)."""
    if not container.streams.video:
        raise SourceError(f"input {name} has no video stream: give a file with video")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    width, height = ctx.width, ctx.height
    if not width or not height:
        raise SourceError(f"input {name} has a video stream with no frame size: the file is damaged")
    sub_x, sub_y, bits, full = _PLANAR.get(ctx.pix_fmt or "yuv420p", (2, 2, 8, False))
    matrix = _MATRIX.get(int(ctx.colorspace or 2), default_matrix(height))
    full = full or int(ctx.color_range or 0) == 2
    fps = stream.average_rate or stream.guessed_rate or Fraction(25)
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    # Only MP4/MOV index every frame; elsewhere the count is an estimate (or wrong).
    exact = any(n in container.format.name for n in ("mp4", "mov"))
    return SourceInfo(name, width, height, Fraction(fps), (stream.frames or None) if exact else None,
                      YuvFormat(matrix, full, bits, sub_x, sub_y), _FIELD_ORDER.get(int(ctx.field_order or 0),
                                                                                    "progressive"),
                      sar=Fraction(stream.sample_aspect_ratio or 1),
                      has_audio=bool(container.streams.audio), start_s=start,
                      time_base=Fraction(stream.time_base) if stream.time_base else None,
                      primaries=_colour_tag(ctx.color_primaries), transfer=_colour_tag(ctx.color_trc))


def _colour_tag(code: int | None) -> int | None:
    """An FFmpeg colour code, or ``None`` when it says nothing."""
    return None if code is None or int(code) in _UNTAGGED else int(code)


def display_rotation(frame: av.VideoFrame, name: str) -> int:
    """Clockwise degrees (0, 90, 180, 270) that turn a decoded ``frame`` upright, from the display matrix
    FFmpeg copies into its side data; 0 when there is none, or one that is not applied.

    Phones store the sensor's landscape picture and a display matrix saying how to turn it (the old
    ``rotate=90`` tag).  Matrices that mirror, or turn by other angles, are not applied: a warning
    (naming the input ``name``) says so and the frame is taken as it is stored.
    """
    from av.sidedata.sidedata import Type

    data = frame.side_data.get(Type.DISPLAYMATRIX)
    if data is None:
        return 0
    # 3x3 matrix in 16.16 fixed point; its top-left 2x2 block turns (and maybe mirrors) the picture.
    a, b, _, c, d = (int(v) for v in np.frombuffer(memoryview(data), np.int32)[:5])
    # FFmpeg's av_display_rotation_get() is the counter-clockwise angle -atan2(b, a).
    degrees = math.degrees(math.atan2(b, a)) % 360
    quarters = round(degrees / 90)
    if a * d - b * c < 0:
        log.warning("input %s: its display matrix mirrors the picture; not applied (the video is read as "
                    "stored)", name)
        return 0
    if abs(degrees - 90 * quarters) > 0.5:
        log.warning("input %s: its display matrix turns the picture by %.1f degrees, not a multiple of 90; "
                    "not applied (the video is read as stored)", name, degrees)
        return 0
    return 90 * quarters % 360


def _upright(info: SourceInfo, rotation: int) -> SourceInfo:
    """``info`` of frames turned clockwise by ``rotation``: a quarter turn swaps the size and the pixel aspect."""
    if rotation in (90, 270):
        return replace(info, width=info.height, height=info.width, sar=1 / info.sar, rotation=rotation)
    return replace(info, rotation=rotation)


class AvFileSource:
    """A video file decoded by PyAV (FFmpeg), with frame threading."""

    planar = False

    def __init__(self, path: Path, *, live_audio: bool = False) -> None:
        import av

        self._av = av  # imported here, not at module level: .y4m runs never load PyAV
        try:
            self._container = av.open(str(path), metadata_errors="ignore")
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise SourceError(_describe_av_error(path, exc)) from None
        self._path = path
        self._index = 0
        self.truncated = False
        #: The file's audio, read with the frames when it is played live (``None`` otherwise).
        self.audio: "LiveAudio | None" = None
        try:
            self.info = video_info(self._container, str(path))
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            sound = self._container.streams.audio[0] if live_audio and self._container.streams.audio else None
            if sound is None:
                self._frames = self._container.decode(stream)
            else:
                from realtime.sources.audio import LiveAudio, demux_video  # (PyAV: only for files)

                self.audio = LiveAudio(sound)
                start = self.info.start_s  # frames are stamped from the first video frame's time
                self._frames = demux_video(self._container, stream, sound, self.audio, lambda t: t - start)
            # The display matrix comes with decoded frames only: the first one is decoded now, so
            # the upright size is known before any stage or writer is set up.
            self._peeked = self._next_frame()
        except SourceError:
            self._container.close()
            raise
        self._converter = AvFrameConverter(self.info.fmt.matrix)
        self._rotate = self._turn_upright() if self._peeked is not None else None

    def _turn_upright(self) -> int | None:
        """Deliver frames upright when the display matrix turns them: the ``cv2.rotate`` code, or ``None``."""
        rotation = display_rotation(self._peeked, str(self._path))
        if not rotation:
            return None
        stored = self.info
        self.info = _upright(stored, rotation)
        log.info("input %s: display rotation applied (stored %dx%d, turned %d degrees clockwise to %dx%d)",
                 self._path, stored.width, stored.height, rotation, self.info.width, self.info.height)
        return _CV_ROTATE[rotation]

    def _next_frame(self) -> av.VideoFrame | None:
        try:
            return next(self._frames)
        except StopIteration:
            return None
        except self._av.FFmpegError as exc:
            if self._index == 0:
                raise SourceError(_describe_av_error(self._path, exc)) from None
            # Damaged or cut-off data after good frames: keep what decoded.
            log.warning("input %s: decoding stopped after %d frames (%s); the file looks truncated or damaged",
                        self._path, self._index, exc)
            self.truncated = True
            return None

    def warm_up(self) -> None:
        """Convert the first frame once into a scratch slot (it is still delivered by :meth:`read_into`)."""
        if self._peeked is not None:
            self._converter.into(self._peeked, lambda shape: np.empty(shape, np.uint8), self.planar, self._rotate)

    def read_into(self, slot: Slot) -> bool:
        frame = self._peeked if self._peeked is not None else self._next_frame()
        self._peeked = None
        if frame is None:
            return False
        self._converter.into(frame, slot.ensure_shape, self.planar, self._rotate)
        pts_s = (frame.time - self.info.start_s) if frame.time is not None else self._index / float(self.info.fps)
        slot.index, slot.pts_s, slot.capture_s = self._index, pts_s, time.monotonic()
        self._index += 1
        return True

    def close(self) -> None:
        self._container.close()


class PacedSource:
    """Plays a file source at its own frame rate, as if it were a camera (``--file PATH --live``).

    Frames are stamped when their time comes, so a slow consumer sees drops and latency exactly as
    it would with a real camera.
    """

    def __init__(self, source: Source) -> None:
        self.source = source
        self.info = source.info
        #: The file's audio on the frames' timeline, for live recordings (when it was opened with it).
        self.audio = getattr(source, "audio", None)
        self._t0: float | None = None

    @property
    def planar(self) -> bool:
        """The file's own switch (:attr:`Source.planar`)."""
        return self.source.planar

    @planar.setter
    def planar(self, value: bool) -> None:
        self.source.planar = value

    def warm_up(self) -> None:
        warm_up = getattr(self.source, "warm_up", None)
        if warm_up is not None:
            warm_up()

    def read_into(self, slot: Slot) -> bool:
        if not self.source.read_into(slot):
            return False
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now - slot.pts_s
        wait = self._t0 + slot.pts_s - now
        if wait > 0:
            time.sleep(wait)
        slot.capture_s = time.monotonic()
        return True

    def close(self) -> None:
        self.source.close()
