"""``sharpen`` stage: cored, halo-free unsharp mask on luma (see :mod:`kernels.sharpen`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernels.backend import Backend
from kernels.planes import i420_planes, is_i420
from kernels.sharpen import MAX_RADIUS, binomial_taps, sharpen
from realtime.params import StageParams, param
from realtime.stages.base import Stage


@dataclass(frozen=True)
class SharpenParams(StageParams):
    stage = "sharpen"
    amount: float = param(1.5, low=0.0, high=4.0, doc="gain on luma detail (0 = unchanged)")
    radius: int = param(2, low=1, high=MAX_RADIUS, doc="blur radius of the detail extraction, pixels")
    threshold: float = param(1.0, low=0.0, high=32.0,
                             doc="luma detail up to this many levels is noise and is not boosted")
    overshoot: float = param(2.0, low=0.0, high=64.0,
                             doc="levels the result may pass the local 3x3 range (0 = no halos at all)")


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
