"""The enhanced frames as a virtual camera, for video-call apps, OBS and browsers.

Frames go out through ``pyvirtualcam`` (v4l2loopback on Linux, OBS Virtual Camera on Windows and macOS)
from a thread of their own: the processing thread leaves each frame in a mailbox that keeps only the
newest (a slow consumer drops frames and counts them, it never holds up processing), and the sender paces
itself at the camera's rate with ``sleep_until_next_frame``, sending the newest frame again when no new
one came in time (a call app expects a steady camera).
"""
from __future__ import annotations

import logging
import sys
from typing import Any, Callable

import numpy as np

from realtime.errors import OutputError
from realtime.run.frames import Frame
from realtime.run.ringbuffer import Closed, DropPolicy, RingBuffer
from realtime.run.workers import Worker

log = logging.getLogger(__name__)

#: How a missing virtual-camera backend is installed, per platform.
SETUP_HINT = {
    "linux": "install v4l2loopback and load it: sudo modprobe v4l2loopback exclusive_caps=1 card_label=vqe",
    "win32": "install OBS Studio (26 or newer) and start its Virtual Camera once",
    "darwin": "install OBS Studio (26 or newer) and start its Virtual Camera once",
}


class VirtualCamera:
    """A virtual camera fed with enhanced frames (BGR ``(H, W, 3)`` uint8) on its own thread.

    Parameters
    ----------
    width, height : int
        The frames' size (the camera's).
    fps : float
        The camera's frame rate, which the sender keeps.
    name : str, optional
        The device to use (``/dev/video10`` on Linux); default: the backend's first free one.
    camera_factory : callable, optional
        Makes the camera (``pyvirtualcam.Camera``'s signature); for tests.

    Raises
    ------
    OutputError
        ``pyvirtualcam`` is not installed, or no virtual-camera backend is there (the message says how to install it).
    """

    def __init__(self, width: int, height: int, fps: float, name: str | None = None, *,
                 camera_factory: Callable[..., Any] | None = None) -> None:
        if camera_factory is None:
            try:
                import pyvirtualcam
            except ImportError:
                raise OutputError("--virtual-camera needs pyvirtualcam: pip install \"vqe[vcam]\"") from None
            camera_factory = pyvirtualcam.Camera
            fmt = pyvirtualcam.PixelFormat.BGR
        else:
            fmt = "BGR"
        try:
            self._camera = camera_factory(width, height, fps, fmt=fmt, device=name or None)
        except RuntimeError as exc:  # pyvirtualcam's error when no backend or device is there
            hint = SETUP_HINT.get(sys.platform, SETUP_HINT["linux"])
            raise OutputError(f"no virtual camera is available ({str(exc).strip().rstrip('.')}): {hint}") from None
        self.device = str(getattr(self._camera, "device", name or "virtual camera"))
        self.size = (width, height)
        self._mailbox = RingBuffer(2, None, DropPolicy.DROP_OLDEST)  # frames by reference (realtime.run.buffers)
        self._last = np.zeros((height, width, 3), np.uint8)
        #: Frames sent to the camera (repeats included), and frames given but replaced by a newer one first.
        self.sent = 0
        self._worker = Worker("vqe-virtual-camera", self._send_loop)
        self._started = False
        log.info("virtual camera %s: %dx%d at %.2f fps", self.device, width, height, fps)

    @property
    def drops(self) -> int:
        """Frames the camera never showed because a newer one came first."""
        return self._mailbox.drops

    def start(self) -> "VirtualCamera":
        """Start sending (the camera shows black until the first frame is given)."""
        self._worker.start()
        self._started = True
        return self

    def give(self, frame: Frame) -> None:
        """Leave ``frame`` for the camera (the frame itself: no copy); never waits.  Call from the processing thread."""
        slot = self._mailbox.acquire_write(timeout_s=0)
        if slot is None:
            return
        slot.image = frame.image
        self._mailbox.publish(slot)

    def _send_loop(self) -> None:
        period = 1.0 / float(self._camera.fps)
        while not self._worker.stop_requested.is_set():
            try:
                slot = self._mailbox.acquire_read(timeout_s=period, newest=True)
            except Closed:
                return
            if slot is not None:
                try:
                    if slot.image.shape == self._last.shape:
                        np.copyto(self._last, slot.image)
                finally:
                    slot.let_go()
                    self._mailbox.release(slot)
            self._camera.send(self._last)
            self.sent += 1
            self._camera.sleep_until_next_frame()

    def close(self) -> None:
        """Stop the sender and release the device (idempotent); re-raises the sender's error."""
        self._worker.stop()
        self._mailbox.close()
        if self._started:
            self._worker.join(timeout_s=5, reraise=False)
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.close()
        self._worker.check()

    def __enter__(self) -> "VirtualCamera":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
