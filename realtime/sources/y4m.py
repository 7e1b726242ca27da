"""YUV4MPEG2 (``.y4m``) reading and writing: raw planes, no codec in between.

Frames are read with ``readinto`` into one reusable buffer and returned as plane views, so a
lossless test pipeline costs one copy per frame.
"""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from kernels.colorspace import YuvFormat
from realtime.errors import SourceError

MAGIC = b"YUV4MPEG2"
_CHROMA = re.compile(r"^(420|422|444|mono)(jpeg|mpeg2|paldv)?(?:p(\d+))?$")
_SUBSAMPLING = {"420": (2, 2), "422": (2, 1), "444": (1, 1), "mono": (1, 1)}
FIELD_ORDERS = {"p": "progressive", "t": "tff", "b": "bff", "m": "mixed", "?": "unknown"}


def default_matrix(height: int) -> str:
    """The matrix players assume for untagged video: BT.709 for HD, BT.601 below."""
    return "bt709" if height >= 720 else "bt601"


class Y4mReader:
    """Sequential reader of a ``.y4m`` file: its ``width``, ``height``, ``fps``, ``fmt``, ``field_order``
    (``progressive``, ``tff``, ``bff``, ``mixed`` or ``unknown``: the ``I`` tag), ``sar`` (the ``A`` tag;
    1 when unknown) and ``mono`` (luma only; chroma reads as neutral gray)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: BinaryIO = self.path.open("rb")
        try:
            self._parse_header(self._fh.readline(4096))
        except Exception:
            self._fh.close()
            raise

    def _fail(self, why: str) -> SourceError:
        return SourceError(f"input {self.path} is not a valid .y4m file: {why}")

    def _parse_header(self, line: bytes) -> None:
        if not line.startswith(MAGIC) or not line.endswith(b"\n"):
            raise self._fail("missing YUV4MPEG2 header line")
        tags = {t[:1]: t[1:] for t in line[len(MAGIC):].decode("ascii", "replace").split()}
        try:
            self.width, self.height = int(tags["W"]), int(tags["H"])
            num, den = (int(x) for x in tags.get("F", "25:1").split(":"))
            self.fps = Fraction(num, den)
        except (KeyError, ValueError, ZeroDivisionError):
            raise self._fail("bad or missing W, H or F tag") from None
        if self.width <= 0 or self.height <= 0:
            raise self._fail(f"frame size {self.width}x{self.height}")
        match = _CHROMA.match(tags.get("C", "420jpeg"))
        if not match:
            raise self._fail(f"unsupported colour space C{tags.get('C')}")
        sub_x, sub_y = _SUBSAMPLING[match.group(1)]
        bits = int(match.group(3) or 8)
        self.mono = match.group(1) == "mono"
        self.field_order = FIELD_ORDERS.get(tags.get("I", "p")[:1], "unknown")
        try:
            n, d = (int(x) for x in tags.get("A", "1:1").split(":"))
            self.sar = Fraction(n, d) if n > 0 and d > 0 else Fraction(1)
        except ValueError:
            self.sar = Fraction(1)
        full = "XCOLORRANGE=FULL" in line.decode("ascii", "replace")
        self.fmt = YuvFormat(default_matrix(self.height), full, bits, sub_x, sub_y)
        ch, cw = self.fmt.chroma_shape(self.height, self.width)
        itemsize = self.fmt.dtype.itemsize
        self._luma_bytes = self.width * self.height * itemsize
        self._chroma_bytes = 0 if self.mono else ch * cw * itemsize
        self._buf = np.empty(self._luma_bytes + 2 * self._chroma_bytes, np.uint8)
        if self.mono:
            gray = np.full((self.height, self.width), 128 << (bits - 8), self.fmt.dtype)
            self._neutral = (gray, gray)

    def read_raw(self, out: np.ndarray | None = None) -> np.ndarray | None:
        """The next frame's bytes, planes one after the other, into ``out`` (default: a reused buffer), or
        ``None`` at the end.  For 8-bit 4:2:0 this is an I420 frame (:mod:`kernels.planes`)."""
        marker = self._fh.readline(4096)
        if not marker:
            return None
        if not marker.startswith(b"FRAME"):
            raise self._fail("frame marker missing (file corrupt or truncated)")
        buf = self._buf if out is None else out
        got = self._fh.readinto(memoryview(buf.reshape(-1)))
        if got != self._buf.size:
            raise SourceError(f"input {self.path} is truncated: last frame has {got} of {self._buf.size} bytes")
        return buf

    def read_planes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The next frame's Y, Cb, Cr planes (views into a reused buffer), or ``None`` at the end."""
        if self.read_raw() is None:
            return None
        dtype = self.fmt.dtype
        y = self._buf[: self._luma_bytes].view(dtype).reshape(self.height, self.width)
        if self.mono:
            return y, *self._neutral
        shape = self.fmt.chroma_shape(self.height, self.width)
        u = self._buf[self._luma_bytes: self._luma_bytes + self._chroma_bytes].view(dtype).reshape(shape)
        v = self._buf[self._luma_bytes + self._chroma_bytes:].view(dtype).reshape(shape)
        return y, u, v

    def frame_count(self) -> int | None:
        """Frames in the file, from its size (exact for single-line frame markers)."""
        size = self.path.stat().st_size
        header = len(b"FRAME\n") + self._buf.size
        first = self._fh.tell()
        return max(0, (size - first) // header) if header else None

    def close(self) -> None:
        self._fh.close()


def chroma_tag(fmt: YuvFormat) -> str:
    """The Y4M ``C`` tag for ``fmt``."""
    base = {(2, 2): "420", (2, 1): "422", (1, 1): "444"}[(fmt.sub_x, fmt.sub_y)]
    if fmt.bit_depth > 8:
        return f"{base}p{fmt.bit_depth}"
    return base + "jpeg" if base == "420" else base


class Y4mWriter:
    """Writes planar frames to a ``.y4m`` file (``path``, or the open binary ``file`` given for it)."""

    def __init__(self, path: str | Path, width: int, height: int, fps: Fraction, fmt: YuvFormat,
                 field_order: str = "progressive", sar: Fraction = Fraction(1), file: BinaryIO | None = None) -> None:
        self.path = Path(path)
        self.fmt = fmt
        interlace = {v: k for k, v in FIELD_ORDERS.items()}.get(field_order, "?")
        rng = "FULL" if fmt.full_range else "LIMITED"
        header = (f"YUV4MPEG2 W{width} H{height} F{fps.numerator}:{fps.denominator} I{interlace} "
                  f"A{sar.numerator}:{sar.denominator} C{chroma_tag(fmt)} XCOLORRANGE={rng}\n")
        self._fh: BinaryIO = file if file is not None else self.path.open("wb")
        self._fh.write(header.encode("ascii"))

    def write_planes(self, planes: tuple[np.ndarray, ...]) -> None:
        """Write one frame: its planes in order (or one array holding them all, like an I420 frame)."""
        self._fh.write(b"FRAME\n")
        for plane in planes:
            self._fh.write(np.ascontiguousarray(plane).data)

    def close(self) -> None:
        self._fh.close()
