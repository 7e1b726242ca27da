"""The unit of work passed between threads and stages."""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from kernels.planes import i420_planes, i420_shape, i420_size, is_i420

#: Frame layouts: planar Y'CbCr 4:2:0 as one ``(H*3/2, W)`` array (:mod:`kernels.planes`), or ``(H, W, 3)`` BGR.
I420, BGR = "I420", "BGR"


@dataclass(slots=True)
class Frame:
    """One picture and where it sits in time.

    Attributes
    ----------
    image : ndarray
        ``(H, W, 3) uint8`` BGR, or ``(H*3/2, W) uint8`` I420 (:mod:`kernels.planes`) where the run's plan keeps frames
        planar (:mod:`realtime.run.plan`).  A buffer from a pool (:mod:`realtime.run.buffers`): nobody writes into it
        while anyone holds it, so keep the array itself to keep the frame, and never write into a frame you were given.
    index : int
        0-based position in the source.
    pts_s : float
        Presentation time in seconds from the start of the source.
    capture_s : float
        ``time.monotonic()`` when the frame entered the process (latency origin).
    """

    image: np.ndarray
    index: int
    pts_s: float
    capture_s: float

    @property
    def layout(self) -> str:
        """:data:`I420` or :data:`BGR`: the run's plan (:mod:`realtime.run.plan`) chose it for every
        frame, and the array's shape says it (2-D is I420; gray frames become BGR on the way in)."""
        return I420 if self.image.ndim == 2 else BGR

    def with_image(self, image: np.ndarray) -> "Frame":
        """The same moment in time carrying another picture."""
        return replace(self, image=image)


def picture_size(image: np.ndarray) -> tuple[int, int]:
    """``(width, height)`` of a BGR or I420 frame."""
    height, width = i420_size(image) if is_i420(image) else image.shape[:2]
    return width, height


def scaled(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """A BGR or I420 frame scaled to ``width`` x ``height`` (area averaging: for a smaller picture), new."""
    if not is_i420(image):
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    out = np.empty(i420_shape(height, width), np.uint8)
    for src, dst in zip(i420_planes(image), i420_planes(out)):
        cv2.resize(src, dst.shape[::-1], dst=dst, interpolation=cv2.INTER_AREA)
    return out
