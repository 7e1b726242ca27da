"""Reading ``.cube`` 3D LUT files (the Adobe / DaVinci Resolve text format).

A ``.cube`` file has keyword lines (``TITLE``, ``LUT_3D_SIZE N``, ``DOMAIN_MIN r g b``, ``DOMAIN_MAX r g b``, Resolve's
``LUT_3D_INPUT_RANGE lo hi``), ``#`` comments, then ``N**3`` rows of three numbers ``r g b`` with red varying fastest,
then green, then blue.  Every problem raises :class:`~realtime.errors.ConfigError` naming the file and the line.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kernels.color import lut_coefficients
from realtime.errors import ConfigError

log = logging.getLogger(__name__)

#: Largest lattice accepted (a 256-node LUT already holds 16.7 M entries).
MAX_SIZE = 256
#: Keyword lines are upper-case words; anything else is a table row (so "abc" is a bad number, not a keyword).
_KEYWORD = re.compile(r"^[A-Z_][A-Z0-9_]*$")


@dataclass(frozen=True)
class CubeLut:
    """A parsed 3D LUT."""

    #: Where it was read from.
    path: Path
    #: The ``TITLE`` line, or ``""``.
    title: str
    #: Lattice nodes per axis.
    size: int
    #: ``(size, size, size, 3) float32`` indexed ``[b, g, r]`` (file order reshaped), values ``(r, g, b)``
    #: as written in the file.
    table: np.ndarray
    #: Input domain in RGB order.
    domain_min: tuple[float, float, float]
    domain_max: tuple[float, float, float]

    def kernel_table(self) -> np.ndarray:
        """The LUT as :func:`kernels.color.adjust_color` wants it: BGR output levels in [0, 255], contiguous."""
        return np.ascontiguousarray(self.table[..., ::-1] * np.float32(255.0), dtype=np.float32)

    def kernel_coefficients(self) -> np.ndarray:
        """``(2, 3) float32`` lattice scale/offset per BGR channel for :func:`kernels.color.adjust_color`."""
        return lut_coefficients(self.size, self.domain_min[::-1], self.domain_max[::-1])


def _numbers(path: Path, lineno: int, words: list[str], count: int, what: str) -> list[float]:
    if len(words) != count:
        raise ConfigError(f"{path}:{lineno}: {what} needs {count} numbers, found {len(words)}")
    try:
        values = [float(w) for w in words]
    except ValueError:
        raise ConfigError(f"{path}:{lineno}: {what}: {' '.join(words)!r} is not numeric") from None
    if not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{path}:{lineno}: {what}: {' '.join(words)!r} is not finite")
    return values


def _size(path: Path, lineno: int, words: list[str]) -> int:
    if len(words) != 1:
        raise ConfigError(f"{path}:{lineno}: LUT_3D_SIZE needs one integer, found {len(words)} values")
    try:
        size = int(words[0])
    except ValueError:
        raise ConfigError(f"{path}:{lineno}: LUT_3D_SIZE {words[0]!r} is not an integer") from None
    if not 2 <= size <= MAX_SIZE:
        raise ConfigError(f"{path}:{lineno}: LUT_3D_SIZE {size} is out of range; use 2 to {MAX_SIZE}")
    return size


def parse_cube(text: str, path: str | Path = "<string>") -> CubeLut:
    """Parse the text of a ``.cube`` file (``path`` names it in error messages).

    Raises :class:`ConfigError`, naming the file and line, on a missing, repeated or out-of-range size line, a 1D LUT,
    bad domain, non-numeric or non-finite values, rows with other than three numbers, or too few / too many rows.
    """
    path = Path(path)
    size = size_line = domain_line = rows = last_line = 0
    title, dmin, dmax = "", [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    table: np.ndarray | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        last_line = lineno
        words = line.split()
        key = words[0]
        if _KEYWORD.match(key):
            if rows:
                raise ConfigError(f"{path}:{lineno}: keyword {words[0]} after the table rows started; "
                                  f"keywords belong before the data")
            if key == "TITLE":
                title = line[len(words[0]):].strip().strip('"')
            elif key == "LUT_3D_SIZE":
                if size:
                    raise ConfigError(f"{path}:{lineno}: second LUT_3D_SIZE (first on line {size_line})")
                size, size_line = _size(path, lineno, words[1:]), lineno
                table = np.empty((size ** 3, 3), np.float32)
            elif key == "LUT_1D_SIZE":
                raise ConfigError(f"{path}:{lineno}: 1D LUTs (LUT_1D_SIZE) are not supported; "
                                  f"export a 3D LUT (LUT_3D_SIZE)")
            elif key == "DOMAIN_MIN":
                dmin, domain_line = _numbers(path, lineno, words[1:], 3, key), lineno
            elif key == "DOMAIN_MAX":
                dmax, domain_line = _numbers(path, lineno, words[1:], 3, key), lineno
            elif key == "LUT_3D_INPUT_RANGE":
                lo, hi = _numbers(path, lineno, words[1:], 2, key)
                dmin, dmax, domain_line = [lo] * 3, [hi] * 3, lineno
            else:
                # Tools add their own keywords (e.g. LUT_IN_VIDEO_RANGE); they do not change the table.
                log.debug("%s:%d: ignoring keyword %s", path, lineno, words[0])
            continue
        if table is None:
            raise ConfigError(f"{path}:{lineno}: table row before LUT_3D_SIZE; the size line must come first")
        if rows >= table.shape[0]:
            raise ConfigError(f"{path}:{lineno}: more rows than LUT_3D_SIZE {size} allows "
                              f"({size}^3 = {table.shape[0]})")
        table[rows] = _numbers(path, lineno, words, 3, "table row")
        rows += 1
    if table is None:
        raise ConfigError(f"{path}: no LUT_3D_SIZE line; not a 3D .cube LUT")
    if rows < table.shape[0]:
        raise ConfigError(f"{path}:{last_line}: only {rows} table rows, LUT_3D_SIZE {size} "
                          f"(line {size_line}) needs {table.shape[0]}")
    if any(hi <= lo for lo, hi in zip(dmin, dmax)):
        raise ConfigError(f"{path}:{domain_line}: DOMAIN_MAX {dmax} must exceed DOMAIN_MIN {dmin} in every channel")
    # Red varies fastest: row index = r + size * (g + size * b).
    return CubeLut(path, title, size, table.reshape(size, size, size, 3), tuple(dmin), tuple(dmax))


def load_cube(path: str | Path) -> CubeLut:
    """Read and parse a ``.cube`` file; :class:`ConfigError` when it is missing, unreadable, not text, or
    malformed (see :func:`parse_cube`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"LUT file {path} does not exist: check color.lut") from None
    except IsADirectoryError:
        raise ConfigError(f"LUT file {path} is a directory: point color.lut at a .cube file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"LUT file {path} is not a text .cube file") from None
    except OSError as exc:
        raise ConfigError(f"LUT file {path} cannot be read ({exc.strerror}): check its permissions") from None
    return parse_cube(text, path)
