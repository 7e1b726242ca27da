"""The stage registry: every stage the CLI and the pipeline can name.

A stage module loads its kernels (Numba dispatchers, OpenCV) when imported, which takes a noticeable
share of start-up; so :data:`STAGES` imports a stage only when it is looked up, and :data:`PARAMS`
gives every stage's parameters without importing any stage.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from realtime.params import StageParams
from realtime.stages.base import Stage
from realtime.stages.params import (
    ColorParams,
    ContrastParams,
    DeinterlaceParams,
    DenoiseParams,
    SharpenParams,
    StabilizeParams,
    UpscaleParams,
)

PARAMS: dict[str, type[StageParams]] = {cls.stage: cls for cls in (
    DeinterlaceParams, DenoiseParams, StabilizeParams, ContrastParams, ColorParams, UpscaleParams, SharpenParams)}
"""Stage name -> parameter class, in the order that works best when several run (settings and help
text read these without importing any stage)."""


class _StageRegistry(Mapping[str, type[Stage]]):
    """Read-only mapping of stage name -> :class:`Stage` class that imports a stage on first lookup.

    Keys, their order, ``in`` and ``len`` come from :data:`PARAMS` and import nothing; ``STAGES[name]``
    imports ``realtime.stages.<name>`` once and returns its ``<Name>Stage`` class.  ``values()`` and
    ``items()`` import every stage.
    """

    def __init__(self) -> None:
        self._loaded: dict[str, type[Stage]] = {}

    def __getitem__(self, name: str) -> type[Stage]:
        cls = self._loaded.get(name)
        if cls is None:
            if name not in PARAMS:
                raise KeyError(name)
            module = importlib.import_module(f"{__name__}.{name}")
            cls = self._loaded[name] = getattr(module, f"{name.capitalize()}Stage")
        return cls

    def __contains__(self, name: object) -> bool:
        return name in PARAMS

    def __iter__(self) -> Iterator[str]:
        return iter(PARAMS)

    def __len__(self) -> int:
        return len(PARAMS)

    def __repr__(self) -> str:
        return f"STAGES({', '.join(PARAMS)})"


STAGES: Mapping[str, type[Stage]] = _StageRegistry()
"""Stage name -> :class:`Stage` class, same keys and order as :data:`PARAMS` (see :class:`_StageRegistry`)."""

__all__ = ["PARAMS", "STAGES", "Stage"]
