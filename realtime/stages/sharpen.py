"""``sharpen`` stage: cored, halo-free unsharp mask on luma (see :mod:`kernels.sharpen`)."""
from __future__ import annotations

from typing import Any

from kernels.backend import Backend
from kernels.planes import i420_planes, is_i420
from kernels.sharpen import binomial_taps, sharpen
from realtime.stages.base import Stage
from realtime.stages.params import SharpenParams


class SharpenStage(Stage):
    """Blur taps baked once; two passes per frame into preallocated buffers."""

    name = "sharpen"
    Params = SharpenParams
    planar = True

    def __init__(self, params: SharpenParams, backend: Backend) -> None:
        super().__init__(params, backend)
        self._taps = backend.asarray(binomial_taps(params.radius))

    def apply(self, image: Any) -> Any:
        if self.params.amount == 0.0:
            return image
        p = self.params
        out = self.buffer("out", image.shape)
        src, dst = image, out
        if is_i420(image):
            # Only the Y plane changes; the chroma planes are copied (one contiguous run).
            luma = i420_planes(image)[0]
            src, dst = luma[:, :, None], i420_planes(out)[0][:, :, None]
            self.backend.xp.copyto(out.reshape(-1)[luma.size:], image.reshape(-1)[luma.size:])
        work = self.buffer("work", (3, src.shape[0], src.shape[1]), "float32")
        sharpen(src, self._taps, amount=p.amount, threshold=p.threshold, overshoot=p.overshoot,
                out=dst, work=work, backend=self.backend)
        return out
