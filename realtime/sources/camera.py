"""Local cameras through OpenCV (V4L2 on Linux)."""
from __future__ import annotations

import glob
import logging
import time
from fractions import Fraction

import cv2

from kernels.colorspace import YuvFormat
from realtime.errors import SourceError
from realtime.run.ringbuffer import Slot
from realtime.sources.files import SourceInfo

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


class CameraSource:
    """A camera by index, asked for a size, rate and MJPG; reports what it actually gave."""

    def __init__(self, index: int, size: tuple[int, int] | None = None, fps: float | None = None,
                 mjpg: bool = True) -> None:
        self._cap = cv2.VideoCapture(index, cv2.CAP_V4L2) if hasattr(cv2, "CAP_V4L2") else cv2.VideoCapture(index)
        if not self._cap.isOpened():
            found = list_cameras()
            listed = ", ".join(found) if found else "none (no /dev/video* devices)"
            raise SourceError(f"camera {index} cannot be opened (absent or busy); cameras found: {listed}: "
                              f"use --camera N with one of them, or --file/--stream")
        if mjpg:  # most USB cameras give their full rate only as MJPG
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
        out = slot.ensure_shape(image.shape)
        out[...] = image
        slot.index, slot.pts_s, slot.capture_s = self._index, now - self._t0, now
        self._index += 1
        return True

    def close(self) -> None:
        self._cap.release()
