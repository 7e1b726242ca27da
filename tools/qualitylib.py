"""Shared pieces of the quality tools: real clips, lossless .y4m I/O, metrics, the ffmpeg binary."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernels.colorspace import YuvFormat, bgr_to_yuv, yuv_to_bgr  # noqa: E402
from realtime.y4m import Y4mReader, Y4mWriter, default_matrix  # noqa: E402

#: The shared real clips (beside the checkout).
MEDIA = ROOT.parent / "shared" / "media"


def vqe_command(*args: str) -> list[str]:
    """The command line that runs vqe with ``args``: ``python -m realtime ...``.

    vqe runs in this interpreter unless ``VQE_PYTHON`` names another.  The tools'
    environment has SciPy (scikit-image needs it), and Numba imports SciPy when it
    loads its first kernel, about 0.3 s of start-up that a plain ``pip install``
    of vqe does not pay; ``VQE_PYTHON=/venv/bin/python`` measures vqe installed
    on its own.
    """
    return [os.environ.get("VQE_PYTHON") or sys.executable, "-m", "realtime", *args]


def ffmpeg_exe() -> str:
    """The ffmpeg binary imageio-ffmpeg ships (the peers run through it)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def read_clip(path: Path, size: tuple[int, int] | None, frames: int | None, start: int = 0,
              step: int = 1) -> list[np.ndarray]:
    """Up to ``frames`` (all when None) BGR frames of a progressive clip from ``start``, every ``step``-th,
    resized to ``size`` (w, h)."""
    cap = cv2.VideoCapture(str(path))
    out: list[np.ndarray] = []
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        index = -1
        while frames is None or len(out) < frames:
            ok, frame = cap.read()
            if not ok:
                break
            index += 1
            if index % step:
                continue
            if size is not None and frame.shape[1::-1] != tuple(size):
                shrink = size[0] < frame.shape[1]
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
            out.append(frame)
    finally:
        cap.release()
    if not out:
        raise SystemExit(f"cannot read frames of {path}")
    return out


def yuv_format(height: int) -> YuvFormat:
    return YuvFormat(matrix=default_matrix(height), full_range=False)


def write_y4m(path: Path, frames: Sequence[np.ndarray], fps: int = 30) -> None:
    """Lossless 4:2:0 ``.y4m`` of BGR frames (what vqe and the peers read)."""
    height, width = frames[0].shape[:2]
    fmt = yuv_format(height)
    writer = Y4mWriter(path, width, height, Fraction(fps), fmt)
    try:
        for f in frames:
            writer.write_planes(bgr_to_yuv(np.ascontiguousarray(f), fmt))
    finally:
        writer.close()


def read_y4m_planes(path: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    reader = Y4mReader(path)
    out = []
    try:
        while (planes := reader.read_planes()) is not None:
            out.append(tuple(p.copy() for p in planes))
    finally:
        reader.close()
    return out


def read_y4m_bgr(path: Path) -> list[np.ndarray]:
    reader = Y4mReader(path)
    out = []
    try:
        while (planes := reader.read_planes()) is not None:
            out.append(yuv_to_bgr(planes, reader.fmt).copy())
    finally:
        reader.close()
    return out


def psnr(mse: float) -> float:
    return float("inf") if mse <= 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two 8-bit-range planes (Gaussian window, sigma 1.5)."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    ma, mb = g(a), g(b)
    va, vb, cov = g(a * a) - ma * ma, g(b * b) - mb * mb, g(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return float(s.mean())


def run_timed(cmd: list[str], env: dict | None = None) -> float:
    """Wall seconds of one command (a whole process, as the peers are measured); raises on failure."""
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()[-800:]}")
    return wall
