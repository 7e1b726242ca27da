"""Shared pieces of the quality tools: real clips, lossless .y4m I/O, metrics, runners of vqe and its peers."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kernels.colorspace import YuvFormat, bgr_to_yuv, yuv_to_bgr  # noqa: E402
from realtime.sources.y4m import Y4mReader, Y4mWriter, default_matrix  # noqa: E402

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


# --- metrics on .y4m planes (denoise, sharpen, deinterlace) -----------------------------------

@dataclass
class PlaneScore:
    psnr_y: float
    psnr_yuv: float
    ssim_y: float
    flicker: float


def plane_score(test: Sequence, truth: Sequence, ssim_every: int = 5) -> PlaneScore:
    """PSNR (luma and all planes), SSIM on luma, and flicker of two lists of (Y, U, V) planes.

    Flicker is the RMS, over frames, of the error in the frame-to-frame luma
    change: ``(out_t - out_{t-1}) - (gt_t - gt_{t-1})``; 0 means the output
    moves exactly as the truth does.
    """
    n = min(len(test), len(truth))
    se_y = se_all = count_y = count_all = 0.0
    ssims = []
    flick = []
    for i in range(n):
        for k, (t, g) in enumerate(zip(test[i], truth[i])):
            d = t.astype(np.float64) - g
            s = float(np.sum(d * d))
            se_all += s
            count_all += d.size
            if k == 0:
                se_y += s
                count_y += d.size
        if i % ssim_every == 0:
            ssims.append(ssim(test[i][0], truth[i][0]))
        if i > 0:
            dt = test[i][0].astype(np.float64) - test[i - 1][0]
            dg = truth[i][0].astype(np.float64) - truth[i - 1][0]
            flick.append(np.sqrt(np.mean((dt - dg) ** 2)))
    return PlaneScore(psnr(se_y / count_y), psnr(se_all / count_all), float(np.mean(ssims)),
                      float(np.mean(flick)) if flick else 0.0)


#: An edge, for :func:`edge_overshoot`: a 5x5 neighbourhood of the truth spanning this many levels.
EDGE_SPAN = 32


def edge_overshoot(test: Sequence, truth: Sequence, every: int = 5) -> float:
    """Halo size at the truth's strong edges: how far a sharpened luma passes the truth's own range.

    Per pixel where the truth's 5x5 neighbourhood spans at least :data:`EDGE_SPAN` levels, the
    distance (levels) by which ``test`` lies above that neighbourhood's maximum or below its
    minimum; the mean over those pixels and every ``every``-th frame.  The truth and any blur of
    it score 0 (a blur never leaves the local range); an unsharp mask's halos score above 0.

    Parameters
    ----------
    test, truth : sequence of (Y, U, V) planes
        As :func:`plane_score` takes them.
    """
    kernel = np.ones((5, 5), np.uint8)
    total = count = 0.0
    for t, g in zip(test[::every], truth[::every]):
        hi, lo = cv2.dilate(g[0], kernel), cv2.erode(g[0], kernel)
        edge = (hi.astype(np.int16) - lo) >= EDGE_SPAN
        y = t[0].astype(np.float64)[edge]
        total += float(np.sum(np.maximum(np.maximum(y - hi[edge], lo[edge] - y), 0.0)))
        count += float(edge.sum())
    return total / count if count else 0.0


# --- colour metrics on BGR frames (contrast, colour) --------------------------------------------

LUMA_BGR = np.array([0.0722, 0.7152, 0.2126])


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference of two ``(..., 3)`` CIELAB arrays (Sharma, Wu & Dalal 2005)."""
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c1 = np.hypot(a1, b1)
    c2 = np.hypot(a2, b2)
    cm = 0.5 * (c1 + c2)
    g = 0.5 * (1 - np.sqrt(cm ** 7 / (cm ** 7 + 25.0 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl = L2 - L1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dH = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    lm = 0.5 * (L1 + L2)
    cmp_ = 0.5 * (c1p + c2p)
    hsum = h1p + h2p
    wrapped = np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2)
    hm = np.where(c1p * c2p == 0, hsum, np.where(np.abs(h1p - h2p) <= 180, hsum / 2, wrapped))
    t = (1 - 0.17 * np.cos(np.radians(hm - 30)) + 0.24 * np.cos(np.radians(2 * hm))
         + 0.32 * np.cos(np.radians(3 * hm + 6)) - 0.20 * np.cos(np.radians(4 * hm - 63)))
    d_theta = 30 * np.exp(-(((hm - 275) / 25) ** 2))
    rc = 2 * np.sqrt(cmp_ ** 7 / (cmp_ ** 7 + 25.0 ** 7))
    sl = 1 + 0.015 * (lm - 50) ** 2 / np.sqrt(20 + (lm - 50) ** 2)
    sc = 1 + 0.045 * cmp_
    sh = 1 + 0.015 * cmp_ * t
    rt = -np.sin(np.radians(2 * d_theta)) * rc
    return np.sqrt((dl / sl) ** 2 + (dc / sc) ** 2 + (dH / sh) ** 2 + rt * (dc / sc) * (dH / sh))


def lab(frame: np.ndarray, step: int = 3) -> np.ndarray:
    """CIELAB of a BGR uint8 frame on a ``step``-subsampled grid."""
    sub = np.ascontiguousarray(frame[::step, ::step]).astype(np.float32) / 255.0
    return cv2.cvtColor(sub, cv2.COLOR_BGR2Lab).astype(np.float64)


def luma(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float64) @ LUMA_BGR


def flicker_index(frames: Sequence[np.ndarray]) -> float:
    """Standard deviation of the frame-to-frame change of mean luma (levels)."""
    means = np.array([luma(f[::2, ::2]).mean() for f in frames])
    return float(np.std(np.diff(means))) if len(means) > 2 else 0.0


@dataclass
class ColorScore:
    psnr: float
    ssim: float
    de00: float
    temporal: float
    flicker: float


def color_score(test: Sequence[np.ndarray], truth: Sequence[np.ndarray], every: int = 3) -> ColorScore:
    """PSNR over B, G, R; SSIM on luma and mean CIEDE2000 (every ``every``-th frame, dE00 on a 1/3 grid);
    temporal error (RMS over frames of the error in the frame-to-frame luma change); flicker index."""
    n = min(len(test), len(truth))
    se = 0.0
    count = 0
    ssims, des, temporal = [], [], []
    prev = None
    for i in range(n):
        t, g = test[i], truth[i]
        d = t.astype(np.float64) - g
        se += float(np.sum(d * d))
        count += d.size
        yt, yg = luma(t), luma(g)
        if i % every == 0:
            ssims.append(ssim(yt, yg))
            des.append(float(ciede2000(lab(t), lab(g)).mean()))
        if prev is not None:
            e = (yt - prev[0]) - (yg - prev[1])
            temporal.append(float(np.mean(e * e)))
        prev = (yt, yg)
    mse = se / max(count, 1)
    return ColorScore(psnr=psnr(mse), ssim=float(np.mean(ssims)), de00=float(np.mean(des)),
                      temporal=float(np.sqrt(np.mean(temporal))) if temporal else 0.0,
                      flicker=flicker_index(test[:n]))


# --- runners: vqe, ffmpeg, OpenCV per frame ---------------------------------------------------

#: Generic brightening for the ffmpeg ``eq`` peer (one setting for every clip, as an automatic has to be).
EQ = "eq=contrast=1.35:brightness=0.06:gamma=1.25"


def run_vqe(src: Path, dst: Path, *args: str) -> float:
    """Wall seconds of ``vqe --file src -o dst --no-display --no-progress ARGS`` (as users run it, this checkout)."""
    cmd = vqe_command("--file", str(src), "-o", str(dst), "--no-display", "--no-progress", *args)
    return run_timed(cmd, env=dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1"))


def run_ffmpeg(src: Path, dst: Path, vf: str) -> float:
    """Wall seconds of ``ffmpeg -i src -vf VF`` writing a 4:2:0 ``.y4m``."""
    return run_timed([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(src), "-vf", vf, "-pix_fmt", "yuv420p",
                      "-f", "yuv4mpegpipe", "-strict", "-1", str(dst)])


def run_per_frame(src: Path, dst: Path, fn: Callable[[np.ndarray], np.ndarray]) -> float:
    """``fn`` on every BGR frame of a ``.y4m``, in this process; seconds of the whole loop (with the I/O)."""
    t0 = time.perf_counter()
    reader = Y4mReader(src)
    fmt = reader.fmt
    writer = Y4mWriter(dst, reader.width, reader.height, reader.fps, fmt)
    bgr = np.empty((reader.height, reader.width, 3), np.uint8)
    try:
        while (planes := reader.read_planes()) is not None:
            yuv_to_bgr(planes, fmt, out=bgr)
            writer.write_planes(bgr_to_yuv(np.ascontiguousarray(fn(bgr)), fmt))
    finally:
        reader.close()
        writer.close()
    return time.perf_counter() - t0


def bilateral(frame: np.ndarray, sigma: float) -> np.ndarray:
    """OpenCV ``bilateralFilter`` (d 5, colour sigma ``2 sigma``, space sigma 2) on a BGR frame."""
    return cv2.bilateralFilter(frame, 5, 2.0 * sigma, 2.0)


def clahe(frame: np.ndarray, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """OpenCV CLAHE on the L channel of Lab, one BGR frame (no temporal smoothing)."""
    op = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
    lab_f = cv2.cvtColor(frame, cv2.COLOR_BGR2Lab)
    lab_f[..., 0] = op.apply(np.ascontiguousarray(lab_f[..., 0]))
    return cv2.cvtColor(lab_f, cv2.COLOR_Lab2BGR)
