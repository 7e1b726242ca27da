"""``color`` stage: brightness, contrast, gamma and saturation in one fused pass."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kernels.backend import Backend
from kernels.color import adjust_color, tone_curves
from realtime.params import StageParams, param
from realtime.stages.base import Stage


@dataclass(frozen=True)
class ColorParams(StageParams):
    stage = "color"
    brightness: float = param(0.0, low=-1.0, high=1.0, doc="offset, fraction of full scale")
    contrast: float = param(1.0, low=0.0, high=4.0, doc="slope around mid-gray (1 = unchanged)")
    gamma: float = param(1.0, low=0.1, high=10.0, doc="mid-tone gamma (>1 brightens, 1 = unchanged)")
    saturation: float = param(1.0, low=0.0, high=4.0, doc="colour strength (0 = gray, 1 = unchanged)")


class ColorStage(Stage):
    """Tone curves baked once from the parameters, applied per frame in one pass."""

    name = "color"
    Params = ColorParams

    def __init__(self, params: ColorParams, backend: Backend) -> None:
        super().__init__(params, backend)
        self._curves = backend.asarray(tone_curves(params.brightness, params.contrast, params.gamma))

    def apply(self, image: Any) -> Any:
        out = self.buffer("out", image.shape)
        return adjust_color(image, self._curves, self.params.saturation, out=out, backend=self.backend)
