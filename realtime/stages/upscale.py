"""``upscale`` stage: bicubic, Lanczos, edge-adaptive (EASU + RCAS) or a learned network.

The output size comes from ``factor``, or ``width`` / ``height`` (:func:`output_size`: at most 8K).  Methods:

* ``bicubic``, ``lanczos``: :func:`kernels.resize.resize` (OpenCV on the CPU);
* ``edge``: :func:`kernels.upscale.upscale_edge`: deblur at the input's resolution, edge-adaptive
  luma interpolation, RCAS sharpen, bilinear chroma;
* ``learned``: :func:`kernels.superres.upscale_learned`, x2 and x4 only; a missing or corrupt
  weights file is an error, or with ``fallback=lanczos`` a logged switch to Lanczos.

No temporal state: buffers and tap tables follow the input size.
"""
from __future__ import annotations

import logging
import math
from typing import Any

from kernels.backend import Backend
from kernels.planes import i420_planes, i420_shape, i420_size, is_i420
from kernels.resize import ResizeTables, resize, resize_tables
from kernels.upscale import EdgeWork, edge_work, upscale_edge
from realtime.errors import ConfigError
from realtime.stages.base import Stage
from realtime.stages.params import MAX_OUTPUT, UpscaleParams

log = logging.getLogger(__name__)


def output_size(height: int, width: int, params: UpscaleParams) -> tuple[int, int]:
    """Output ``(height, width)`` for an input of ``height x width``; :class:`ConfigError` for a target
    smaller than the input or an output above 8K."""
    if params.width or params.height:
        scale_w = params.width / width if params.width else params.height / height
        scale_h = params.height / height if params.height else scale_w
        out_w = params.width or max(1, round(width * scale_w))
        out_h = params.height or max(1, round(height * scale_h))
        if out_w < width or out_h < height:
            raise ConfigError(f"upscale.width/height={out_w}x{out_h} is smaller than the {width}x{height} input: "
                              f"upscale only enlarges; set a size of at least {width}x{height}")
        what = f"upscale.width/height={out_w}x{out_h}"
    else:
        out_w = max(1, round(width * params.factor))
        out_h = max(1, round(height * params.factor))
        what = f"upscale.factor={params.factor:g} ({width}x{height} -> {out_w}x{out_h})"
    if out_w > MAX_OUTPUT[0] or out_h > MAX_OUTPUT[1]:
        largest = math.floor(min(MAX_OUTPUT[0] / width, MAX_OUTPUT[1] / height) * 100) / 100
        fix = (f"set both upscale.width and upscale.height within {MAX_OUTPUT[0]}x{MAX_OUTPUT[1]}"
               if params.width or params.height else f"use upscale.factor <= {largest:g} for this input")
        raise ConfigError(f"{what} exceeds 8K ({MAX_OUTPUT[0]}x{MAX_OUTPUT[1]}): {fix}")
    return out_h, out_w


class UpscaleStage(Stage):
    """Output size from the first frame of each size; one kernel call per frame into a kept buffer."""

    name = "upscale"
    Params = UpscaleParams
    planar = True

    def __init__(self, params: UpscaleParams, backend: Backend) -> None:
        super().__init__(params, backend)
        self.method = params.method
        self._model = None
        self._learned_work: dict = {}
        self._edge: EdgeWork | None = None
        self._tables: dict[tuple, ResizeTables] = {}
        self._sizes: dict[tuple[int, int], tuple[int, int]] = {}
        if self.method == "learned":
            self._model = _load_model(params)
            if self._model is None:
                self.method = "lanczos"

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Output ``(height, width)`` for an input size (cached; see :func:`output_size`)."""
        size = self._sizes.get((height, width))
        if size is None:
            size = self._sizes[(height, width)] = output_size(height, width, self.params)
        return size

    def apply(self, image: Any) -> Any:
        planar = is_i420(image)
        height, width = i420_size(image) if planar else image.shape[:2]
        out_h, out_w = self.output_size(height, width)
        if (out_h, out_w) == (height, width):
            return image
        if not planar:
            return self._upscale(image, self.output((out_h, out_w, 3)))
        # I420: the method on the Y plane; chroma is smooth, so the edge method resizes it
        # bilinearly (as its BGR path does) and the learned one bicubically (likewise).
        out = self.output(i420_shape(out_h, out_w))
        (y, u, v), (oy, ou, ov) = i420_planes(image), i420_planes(out)
        self._upscale(y[:, :, None], oy[:, :, None])
        method = {"edge": "bilinear", "learned": "bicubic"}.get(self.method, self.method)
        for src, dst in ((u, ou), (v, ov)):
            self._resize(src[:, :, None], dst[:, :, None], method)
        return out

    def _upscale(self, src: Any, dst: Any) -> Any:
        """``src`` ``(h, w, C)`` upscaled into ``dst`` ``(H, W, C)`` with this stage's method."""
        (height, width), (out_h, out_w), channels = src.shape[:2], dst.shape[:2], src.shape[2]
        if self.method == "edge":
            if self._edge is None or not self._edge.fits((height, width), (out_h, out_w), channels):
                self._edge = edge_work((height, width), (out_h, out_w), channels=channels, backend=self.backend)
            return upscale_edge(src, out=dst, deblur=self.params.deblur, sharpness=self.params.sharpness,
                                work=self._edge, backend=self.backend)
        if self.method == "learned":
            from kernels.superres import upscale_learned

            return upscale_learned(src, self._model, out=dst, work=self._learned_work, backend=self.backend)
        return self._resize(src, dst, self.method)

    def _resize(self, src: Any, dst: Any, method: str) -> Any:
        tables = None
        if self.backend.is_cuda:  # tap tables per (sizes, method), built once
            key = (tuple(src.shape[:2]), tuple(dst.shape[:2]), method)
            tables = self._tables.get(key)
            if tables is None:
                tables = self._tables[key] = resize_tables(key[0], key[1], method, backend=self.backend)
        return resize(src, out=dst, method=method, tables=tables, backend=self.backend)


def _load_model(params: UpscaleParams) -> Any:
    """The learned model, or None to fall back to Lanczos (``fallback=lanczos``)."""
    try:
        from kernels.superres import SrModelError, load_sr_model
    except ImportError as exc:
        raise ConfigError(f"upscale.method=learned is not available in this installation ({exc}); "
                          f"use upscale.method=edge") from None
    try:
        return load_sr_model(int(params.factor), params.weights or None)
    except SrModelError as exc:
        if params.fallback == "lanczos":
            log.warning("upscale: %s; upscaling with lanczos instead (upscale.fallback=lanczos)", exc)
            return None
        raise ConfigError(f"upscale.weights: {exc}; or --set upscale.fallback=lanczos to upscale with lanczos "
                          f"when the weights cannot be used") from None
