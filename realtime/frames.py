"""The unit of work passed between threads and stages."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(slots=True)
class Frame:
    """One picture and where it sits in time.

    Attributes
    ----------
    image : ndarray
        ``(H, W, 3) uint8`` BGR.  Owned by whoever produced it and valid until
        that producer's next frame: keep a copy to hold it longer.
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

    def with_image(self, image: np.ndarray) -> "Frame":
        """The same moment in time carrying another picture."""
        return replace(self, image=image)
