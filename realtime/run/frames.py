"""The unit of work passed between threads and stages."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np


def interchangeable(a: object, b: object) -> bool:
    """Whether array ``b`` may take array ``a``'s place: the same array type, shape and dtype."""
    return type(a) is type(b) and a.shape == b.shape and a.dtype == b.dtype


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
    trader : callable, optional
        ``trader(image, spare) -> bool``, set by a source that can let its image go
        (see :meth:`trade_image`).
    """

    image: np.ndarray
    index: int
    pts_s: float
    capture_s: float
    trader: Callable[[np.ndarray, np.ndarray], bool] | None = field(default=None, repr=False, compare=False)

    def with_image(self, image: np.ndarray) -> "Frame":
        """The same moment in time carrying another picture."""
        return replace(self, image=image)

    def trade_image(self, spare: np.ndarray) -> bool:
        """Keep this frame's image for good, giving its source ``spare`` to fill in its place.

        A stage that holds an input past its call (a deinterlacer's history) takes it this
        way instead of copying it.  ``spare`` has the image's shape, dtype and array type,
        and the caller is done with it.

        Returns
        -------
        bool
            Whether the image is now the caller's; if not (the source cannot give it up, or
            this image is not the source's), copy it.
        """
        return self.trader is not None and self.trader(self.image, spare)
