"""A run's frame plan: how frames travel from the source to every output, decided once.

Files keep the decoder's own planar Y'CbCr (I420) from decoder to encoder wherever the chain, the input and every output
allow it: at 1080p the two BGR conversions cost more than most stages.  The plan is negotiated from the source, the
chain and the outputs before the first frame, logged in one line and stored in ``--stats``; nothing re-decides it later.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from kernels.colorspace import change_matrix_i420, matrix_change, yuv_to_bgr
from kernels.planes import i420_planes, i420_shape
from realtime.run.frames import BGR, I420, scaled
from realtime.run.pipeline import Pipeline
from realtime.sinks.writers import OutputOptions, is_network_output, writes_i420_of, written_matrix
from realtime.sources.files import Source, SourceInfo, delivers_i420

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """How one run's frames travel, from the capture thread to every output."""

    #: ``I420`` or ``BGR``: the frames' layout from the capture ring to the outputs.
    layout: str
    #: The input as the chain sees it: in I420, its matrix may be the outputs' (see ``convert``).
    source: SourceInfo
    #: What the chain makes: rate, field order and time base after a deinterlacer, the source's colour format.
    output: SourceInfo
    #: ``(width, height)`` of the chain's output frames (an upscale changes it).
    size: tuple[int, int]
    #: Applied in place by the capture thread to each frame as it is read: I420 frames re-expressed in
    #: the matrix the outputs store (a resized ``.y4m``).
    convert: Callable[[np.ndarray], None] | None = None

    @property
    def planar(self) -> bool:
        """Whether frames stay I420 from decoder to encoder."""
        return self.layout == I420

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the frames the capture thread reads."""
        height, width = self.source.height, self.source.width
        return i420_shape(height, width) if self.planar else (height, width, 3)

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of the frames the chain makes."""
        width, height = self.size
        return i420_shape(height, width) if self.planar else (height, width, 3)

    def to_bgr(self, image: np.ndarray, out: np.ndarray | None = None,
               fit: tuple[int, int] | None = None) -> np.ndarray:
        """A frame of this plan as BGR, for a picture to look at (the preview, a snapshot).

        ``fit`` ``(width, height)``, smaller than the frame: the planes are scaled down to about it first,
        so only what is shown is converted (the preview's window).
        """
        if not self.planar:
            return image
        height, width = image.shape[0] * 2 // 3, image.shape[1]
        if fit is not None and fit[0] < width - 1 and fit[1] < height - 1:
            width, height = max(fit[0] - fit[0] % 2, 2), max(fit[1] - fit[1] % 2, 2)
            image = scaled(image, width, height)
        if out is None or out.shape != (height, width, 3):
            out = np.empty((height, width, 3), np.uint8)
        return yuv_to_bgr(i420_planes(image), self.source.fmt, out=out,
                          interlaced=self.output.field_order in ("tff", "bff"))

    def describe(self) -> str:
        """The plan in one log line."""
        src, (width, height) = self.source, self.size
        matrix = f" {src.fmt.matrix} {'full' if src.fmt.full_range else 'limited'} range" if self.planar else ""
        return (f"frames as {self.layout}{matrix}; {src.width}x{src.height} @ {float(src.fps):.3f} fps in, "
                f"{width}x{height} @ {float(self.output.fps):.3f} fps {self.output.field_order} out"
                + ("; matrix changed on capture" if self.convert is not None else ""))

    def as_dict(self) -> dict[str, Any]:
        """The plan for ``--stats``."""
        width, height = self.size
        return {"layout": self.layout, "matrix": self.source.fmt.matrix, "full_range": self.source.fmt.full_range,
                "input_size": [self.source.width, self.source.height], "output_size": [width, height],
                "output_fps": round(float(self.output.fps), 3), "output_field_order": self.output.field_order,
                "convert_on_capture": self.convert is not None}


def negotiate(pipeline: Pipeline, source: Source, outputs: Sequence[Path | str], options: OutputOptions, *,
              planar: bool | None = None) -> Plan:
    """Decide a run's :class:`Plan` and set the source (``source.planar``) and the chain up for it.

    Frames are I420 wherever the chain, the input and every output (a network URL keeps them BGR)
    allow; ``planar=False`` forces BGR.
    """
    info = source.info
    height, width = pipeline.output_size(info.height, info.width)
    if planar is None:
        # A source that can deliver I420 has a ``planar`` switch (files, .y4m, streams, V4L2 cameras);
        # OpenCV's camera input converts to BGR as it reads.
        planar = hasattr(source, "planar") and _can_stay_planar(pipeline, info, (width, height), outputs, options)
    if hasattr(source, "planar"):
        source.planar = planar
    convert = None
    if planar and outputs:
        info, convert = _in_output_matrix(info, (width, height), outputs[0], options)
    output = pipeline.set_source(info, planar=planar)
    plan = Plan(I420 if planar else BGR, info, output, (width, height), convert)
    log.info("%s", plan.describe())
    return plan


def _can_stay_planar(pipeline: Pipeline, info: SourceInfo, size: tuple[int, int],
                     outputs: Sequence[Path | str], options: OutputOptions) -> bool:
    """Frames stay I420 when the input decodes to it, every stage takes it and every output stores it as is.

    Outputs written in different matrices would need the frames in two: they stay BGR then.
    """
    if not (pipeline.planar and delivers_i420(info)) or size[0] % 2 or size[1] % 2:
        return False
    if any(is_network_output(out) or not writes_i420_of(out, info, size, options) for out in outputs):
        return False
    return len({written_matrix(out, info, size, options) for out in outputs}) <= 1


def _in_output_matrix(info: SourceInfo, size: tuple[int, int], output: Path | str,
                      options: OutputOptions) -> tuple[SourceInfo, Callable[[np.ndarray], None] | None]:
    """The input's info in the matrix ``output`` is written in, and the in-place I420 conversion to it.

    A resized ``.y4m`` (an upscale to HD) is written in the matrix its height implies.  The frames
    are re-expressed in it as they are read, at the input's size: the output of an upscale has
    several times the pixels.  ``(info, None)`` when the matrices agree.
    """
    matrix = written_matrix(output, info, size, options)
    if matrix == info.fmt.matrix:
        return info, None
    fmt = replace(info.fmt, matrix=matrix)
    coeffs = matrix_change(info.fmt, fmt)
    log.debug("frames re-expressed from %s to %s as they are read", info.fmt.matrix, matrix)

    def convert(image: np.ndarray) -> None:
        if image.ndim != 2:  # a BGR frame in a planar run (a stream's odd-sized frame): no planes to change
            return
        planes = i420_planes(image)
        change_matrix_i420(planes, coeffs, out=planes)

    return replace(info, fmt=fmt), convert
