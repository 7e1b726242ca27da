"""The stage registry: every stage the CLI and the pipeline can name."""
from __future__ import annotations

from realtime.stages.base import Stage
from realtime.stages.color import ColorStage
from realtime.stages.contrast import ContrastStage
from realtime.stages.deinterlace import DeinterlaceStage
from realtime.stages.denoise import DenoiseStage
from realtime.stages.sharpen import SharpenStage
from realtime.stages.stabilize import StabilizeStage
from realtime.stages.upscale import UpscaleStage

#: Stage name -> class, in the order that works best when several run
#: (deinterlace, denoise, stabilize, contrast, color, upscale, sharpen).
STAGES: dict[str, type[Stage]] = {cls.name: cls for cls in (DeinterlaceStage, DenoiseStage, StabilizeStage,
                                                                ContrastStage, ColorStage, UpscaleStage, SharpenStage)}

__all__ = ["STAGES", "Stage"]
