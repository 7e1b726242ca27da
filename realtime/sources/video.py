"""Reading a video file's frames as numpy arrays, for the Python API.

The command line reads files through its capture thread and ring buffer; a script that wants the frames of
a file, in order, as arrays, opens it here.  The frames are decoded by the same sources (PyAV, or ``.y4m``
natively), upright and in the stream's own colour matrix, as every ``vqe --file`` run sees them.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from realtime.run.ringbuffer import Slot
from realtime.sources.files import Source, SourceInfo, open_source


class Video:
    """An opened video file: iterate for its frames, close when done (or use ``with``).

    Parameters
    ----------
    path : str or Path
        Any file FFmpeg decodes, or a ``.y4m``.
    channel_order : {"bgr", "rgb"}
        Order of the colour channels of the frames given out.

    Attributes
    ----------
    info : SourceInfo
        Size, frame rate, frame count (when the container says it), colour format, audio.

    Raises
    ------
    SourceError
        The file is missing, empty, unreadable or not a video (the message says which).
    """

    def __init__(self, path: str | Path, *, channel_order: str = "bgr") -> None:
        if channel_order not in ("bgr", "rgb"):
            raise ValueError(f"channel_order={channel_order!r}: use 'bgr' or 'rgb'")
        self.channel_order = channel_order
        self._source: Source | None = open_source(path)
        self.info: SourceInfo = self._source.info

    @property
    def width(self) -> int:
        """Frame width in pixels (of the upright picture)."""
        return self.info.width

    @property
    def height(self) -> int:
        """Frame height in pixels (of the upright picture)."""
        return self.info.height

    @property
    def fps(self) -> Fraction:
        """Frame rate, exact (30000/1001 for NTSC rates)."""
        return self.info.fps

    @property
    def frame_count(self) -> int | None:
        """Frames the container says it holds (``None`` where it does not say)."""
        return self.info.frame_count

    def __iter__(self) -> Iterator[np.ndarray]:
        """The frames, ``(H, W, 3) uint8``, each a new array."""
        for image, _ in self.timed_frames():
            yield image

    def timed_frames(self) -> Iterator[tuple[np.ndarray, float]]:
        """The frames with their presentation times in seconds from the first."""
        if self._source is None:
            raise ValueError("the video is closed")
        slot = Slot(np.empty(0, np.uint8))
        while self._source is not None and self._source.read_into(slot):
            rgb = self.channel_order == "rgb"
            yield (np.ascontiguousarray(slot.image[:, :, ::-1]) if rgb else slot.image.copy()), slot.pts_s

    def close(self) -> None:
        """Release the file (idempotent)."""
        if self._source is not None:
            self._source.close()
            self._source = None

    def __enter__(self) -> "Video":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_video(path: str | Path, *, channel_order: str = "bgr") -> Video:
    """Open a video file for reading its frames as arrays.

    Examples
    --------
    >>> from realtime import Pipeline, open_video
    >>> with open_video("tools/samples/flower_540p.mp4") as video, Pipeline(["color"], backend="cpu") as pipe:
    ...     first = next(pipe.frames(video))
    >>> first.shape == (video.height, video.width, 3)
    True
    """
    return Video(path, channel_order=channel_order)
