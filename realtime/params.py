"""Declarative, validated stage parameters.

Each stage declares a frozen dataclass whose fields are made with :func:`param` (default, range or choices, one-line
help).  Values are checked once, when the dataclass is built, and errors name the ``stage.param`` and the valid range.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

from realtime.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def param(default: Any, *, low: float | None = None, high: float | None = None,
          choices: tuple[str, ...] | None = None, doc: str = "") -> Any:
    """Declare a stage parameter (a dataclass field with validation metadata)."""
    return dataclasses.field(default=default, metadata={"low": low, "high": high, "choices": choices, "doc": doc})


@dataclasses.dataclass(frozen=True)
class StageParams:
    """Base of every stage's parameter dataclass; validates on construction."""

    stage: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _check(self.stage, f, getattr(self, f.name)))

    @classmethod
    def describe(cls) -> list[str]:
        """One help line per parameter: name, default, range and meaning."""
        lines = []
        for f in dataclasses.fields(cls):
            m = f.metadata
            span = f" in [{m['low']}, {m['high']}]" if m.get("low") is not None else ""
            span = f" one of {'|'.join(m['choices'])}" if m.get("choices") else span
            lines.append(f"{cls.stage}.{f.name} = {f.default!r}{span}: {m.get('doc', '')}")
        return lines

    def replaced(self, values: dict[str, Any]) -> "StageParams":
        """A copy with ``values`` applied; strings are parsed by field type."""
        known = {f.name: f for f in dataclasses.fields(self)}
        parsed = {}
        for name, value in values.items():
            if name not in known:
                raise ConfigError(f"unknown parameter {self.stage}.{name}: "
                                  f"{self.stage} has {', '.join(sorted(known))}")
            parsed[name] = parse_value(self.stage, known[name], value) if isinstance(value, str) else value
        return dataclasses.replace(self, **parsed)


def _kind(f: dataclasses.Field) -> str:
    return (f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))).replace(" ", "")


def parse_value(stage: str, f: dataclasses.Field, text: str) -> Any:
    """Parse the text of ``--set stage.name=text`` into the field's type."""
    kind = _kind(f)
    where = f"{stage}.{f.name}={text}"
    if kind == "bool":
        low = text.strip().lower()
        if low in _TRUE | _FALSE:
            return low in _TRUE
        raise ConfigError(f"{where}: not a boolean; use true or false")
    if kind in ("int", "float"):
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError:
            raise ConfigError(f"{where}: not {'an integer' if kind == 'int' else 'a number'}"
                              f"{_range_hint(f)}") from None
    return text


def _range_hint(f: dataclasses.Field) -> str:
    m = f.metadata
    if m.get("low") is not None:
        return f"; use a value in [{m['low']}, {m['high']}]"
    return f"; use one of {', '.join(m['choices'])}" if m.get("choices") else ""


def _check(stage: str, f: dataclasses.Field, value: Any) -> Any:
    kind = _kind(f)
    where = f"{stage}.{f.name}={value!r}"
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: not a boolean; use true or false")
        return value
    if kind in ("int", "float"):
        ok = isinstance(value, int) if kind == "int" else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok:
            raise ConfigError(f"{where}: not {'an integer' if kind == 'int' else 'a number'}{_range_hint(f)}")
        value = float(value) if kind == "float" else value
        low, high = f.metadata.get("low"), f.metadata.get("high")
        if not math.isfinite(value) or (low is not None and not low <= value <= high):
            raise ConfigError(f"{where}: out of range{_range_hint(f)}")
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where}: not text{_range_hint(f)}")
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{where}: unknown value{_range_hint(f)}")
    return value
