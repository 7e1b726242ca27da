"""Local cameras: V4L2 through FFmpeg on Linux, so frames stay planar Y'CbCr; OpenCV elsewhere."""
from __future__ import annotations

import glob
import logging
import sys
import threading
import time
from dataclasses import replace
from fractions import Fraction

import av
import cv2

from kernels.colorspace import YuvFormat
from realtime.errors import SourceError
from realtime.run.ringbuffer import Slot
from realtime.sources.files import Source, SourceInfo
from realtime.sources.streams import StreamSource

log = logging.getLogger(__name__)


def list_cameras() -> list[str]:
    """Video capture device nodes present on this machine."""
    return sorted(glob.glob("/dev/video*"))


def parse_size(text: str) -> tuple[int, int]:
    """``1280x720`` -> (1280, 720)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SourceError(f"--camera-size {text!r}: expected WIDTHxHEIGHT, e.g. 1280x720") from None
    if w <= 0 or h <= 0:
        raise SourceError(f"--camera-size {text!r}: width and height must be positive")
    return w, h


def open_camera(index: int, size: tuple[int, int] | None = None, fps: float | None = None) -> Source:
    """Camera ``index``, asked for ``size`` and ``fps``: through FFmpeg's V4L2 input where it has one.

    :class:`V4l2Camera` hands the chain the camera's own Y'CbCr (MJPEG decoded by libavcodec, raw YUYV or
    NV12 repacked), so a planar run never converts to BGR and back; elsewhere, or when FFmpeg cannot open a
    camera that OpenCV may, :class:`CameraSource` (OpenCV, BGR) reads it.
    """
    if sys.platform.startswith("linux") and any("v4l2" in name for name in av.formats_available):
        device = f"/dev/video{index}"
        if device not in list_cameras():
            raise _absent(index)
        try:
            return V4l2Camera(device, size, fps)
        except SourceError as exc:
            log.warning("%s; trying OpenCV's camera input (frames through BGR)", exc)
    return CameraSource(index, size, fps)


def _absent(index: int) -> SourceError:
    listed = ", ".join(list_cameras()) or "none (no /dev/video* devices)"
    return SourceError(f"camera {index} cannot be opened (absent or busy); cameras found: {listed}: "
                       f"use --camera N with one of them, or --file/--stream")


class V4l2Camera(StreamSource):
    """The V4L2 camera at ``device`` (e.g. ``/dev/video0``) read by FFmpeg, asked for ``size`` and ``fps`` (the log line
    says what it gave) and for MJPEG (most USB cameras' full rate) or else its own format.  ``demuxer`` is FFmpeg's input
    format, ``None`` to let FFmpeg probe ``device`` (a recorded file); setting ``stop`` abandons reopening at once.

    Frames keep the camera's Y'CbCr.  In a planar run each one is brought to video-range I420 in one swscale
    pass as it is read (about 1-3 ms at 1080p): MJPEG's full-range 4:2:2, raw YUYV and NV12 alike, so the
    frames reach the encoder, which stores video range, without a BGR round trip.  A camera that stops
    delivering (unplugged) is reopened like a stream.
    """

    NOUN = "camera"
    OPEN_FIX = "check that it is plugged in and not in use by another program, or try another --camera N"

    def __init__(self, device: str, size: tuple[int, int] | None = None, fps: float | None = None, *,
                 demuxer: str | None = "v4l2", stop: threading.Event | None = None) -> None:
        self._demuxer = demuxer
        self._asked = {"video_size": f"{size[0]}x{size[1]}"} if size else {}
        if fps:
            self._asked["framerate"] = f"{fps:g}"
        super().__init__(device, stop=stop)

    def _open(self):
        if self._demuxer is None:
            return av.open(self._url)
        try:
            return av.open(self._url, format=self._demuxer, options={**self._asked, "input_format": "mjpeg"})
        except av.FFmpegError:  # no MJPEG mode: the camera's own raw format
            return av.open(self._url, format=self._demuxer, options=dict(self._asked))

    def _describe(self, info: SourceInfo, container) -> SourceInfo:
        info = super()._describe(info, container)
        ctx = container.streams.video[0].codec_context
        log.info("camera %s: %dx%d @ %.2f fps, %s (asked %s @ %s)", self.url, info.width, info.height,
                 float(info.fps), ctx.pix_fmt if ctx.name == "rawvideo" else ctx.name,
                 self._asked.get("video_size", "default"), self._asked.get("framerate", "default"))
        return replace(info, path=f"camera {self.url}", fmt=YuvFormat(info.fmt.matrix, False, 8, 2, 2))

    def _next_frame(self):
        frame = super()._next_frame()
        if frame is None or not self.planar:
            return frame
        full = frame.format.name.startswith("yuvj") or int(frame.color_range or 0) == 2
        if frame.format.name == "yuv420p" and not full:
            return frame
        # The timestamp comes along; the range is said outright, as swscale takes an untagged one as video range.
        return frame.reformat(format="yuv420p", src_color_range="JPEG" if full else "MPEG", dst_color_range="MPEG")


class CameraSource:
    """A camera by index through OpenCV, asked for a size, rate and MJPG; reports what it actually gave."""

    def __init__(self, index: int, size: tuple[int, int] | None = None, fps: float | None = None) -> None:
        self._cap = cv2.VideoCapture(index, cv2.CAP_V4L2) if hasattr(cv2, "CAP_V4L2") else cv2.VideoCapture(index)
        if not self._cap.isOpened():
            raise _absent(index)
        # Most USB cameras give their full rate only as MJPG.
        self._cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        if size:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        if fps:
            self._cap.set(cv2.CAP_PROP_FPS, fps)
        width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        got_fps = self._cap.get(cv2.CAP_PROP_FPS) or fps or 30.0
        log.info("camera %d: %dx%d @ %.2f fps (asked %s @ %s)", index, width, height, got_fps,
                 f"{size[0]}x{size[1]}" if size else "default", fps or "default")
        self.info = SourceInfo(f"camera {index}", width, height, Fraction(got_fps).limit_denominator(1001),
                               None, YuvFormat("bt601", False), time_base=Fraction(1, 90000))
        self._index = 0
        self._t0: float | None = None

    def read_into(self, slot: Slot) -> bool:
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceError(f"{self.info.path} stopped delivering frames (unplugged or busy)")
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        slot.ensure_shape(image.shape)[...] = image
        slot.index, slot.pts_s, slot.capture_s = self._index, now - self._t0, now
        self._index += 1
        return True

    def close(self) -> None:
        self._cap.release()
