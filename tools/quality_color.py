"""Quality evaluation of the contrast and color stages against ffmpeg and OpenCV peers.

Real footage (the shared clean clips) is degraded in a known way and the
original is the ground truth.  Every method reads the same lossless 4:2:0
``.y4m`` input and writes a ``.y4m``; the truth goes through the same 4:2:0
round trip so chroma subsampling is no one's error.  ``vqe`` runs as users run
it (``python -m realtime --file IN -o OUT --no-display --stages ...``) and
ffmpeg peers as ``ffmpeg -i IN -vf FILTER OUT``, so the fps columns are
whole-process figures (decode + filter + encode + start-up).

Cases
-----
``cast``
    Darkened (exposure x0.6), low contrast (a veiling haze: ``0.65 x + 0.1``)
    and colour cast (warm: B x0.78, R x1.22) real footage.
``flicker``
    A static camera with people walking (``clean_person_indoor_432p``), degraded
    as ``cast``; the flicker index is the standard deviation of the
    frame-to-frame change of mean luma, shown against the truth's.  Per-frame
    automatics (vqe with ``smoothing=0``, ffmpeg ``normalize``, OpenCV CLAHE)
    are shown beside the smoothed ones.
``dark``
    Dark (exposure x0.35), cool (B x1.3, R x0.75), with sensor noise (Gaussian
    read noise plus signal-dependent shot noise), for the
    ``denoise,contrast,color,sharpen`` chain against ffmpeg
    ``hqdn3d,unsharp,eq`` and ``hqdn3d,unsharp,normalize``.
``clean``
    A clean clip as is: the automatic mode should leave it nearly untouched
    (PSNR against the input).
``speed``
    Whole-process throughput on a longer degraded clip (``--speed-frames``,
    the flower clip looped), ``vqe --stages contrast,color`` against ffmpeg
    ``normalize`` and ``eq``, runs interleaved so that load from other
    processes hits all of them alike; best of ``--repeat``.

Metrics: PSNR over B, G, R; SSIM on luma; mean CIEDE2000 (dE00, on a 1/3
subsampled grid); temporal error (RMS over frames of the error in the
frame-to-frame luma change, ``(out_t - out_t-1) - (gt_t - gt_t-1)``; noise and
shimmer raise it); flicker index as above.

Examples
--------
::

    python tools/quality_color.py                      # all cases, 1280x720, 60 frames
    python tools/quality_color.py --cases cast,clean --frames 30 --size 640x360
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from qualitylib import MEDIA, ffmpeg_exe, read_clip, ssim, vqe_command, write_y4m  # noqa: E402
from qualitylib import read_y4m_bgr as read_y4m  # noqa: E402

log = logging.getLogger("quality_color")
CASES = ("cast", "flicker", "dark", "clean", "speed")
#: Generic brightening for the ffmpeg ``eq`` peer (one setting for every clip, as an automatic has to be).
EQ = "eq=contrast=1.35:brightness=0.06:gamma=1.25"
LUMA_BGR = np.array([0.0722, 0.7152, 0.2126])



# --- clips ------------------------------------------------------------------------------------


def degrade_cast(frames: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    gains = np.array([0.78, 1.0, 1.22]) * 0.6
    return [np.clip((0.65 * (f / 255.0) * gains + 0.1) * 255.0 + 0.5, 0, 255).astype(np.uint8) for f in frames]


def degrade_dark(frames: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    gains = np.array([1.3, 1.0, 0.75]) * 0.35
    out = []
    for f in frames:
        x = f * gains
        # Sensor noise: read noise (sigma 3 levels) plus shot noise (variance 0.15 * level).
        sigma = np.sqrt(9.0 + 0.15 * x)
        out.append(np.clip(x + rng.normal(0.0, 1.0, x.shape) * sigma + 0.5, 0, 255).astype(np.uint8))
    return out





def roundtrip(frames: Sequence[np.ndarray], work: Path, name: str) -> list[np.ndarray]:
    path = work / f"{name}.y4m"
    write_y4m(path, frames)
    return read_y4m(path)


# --- metrics --------------------------------------------------------------------------------------

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
    sub = np.ascontiguousarray(frame[::step, ::step]).astype(np.float32) / 255.0
    return cv2.cvtColor(sub, cv2.COLOR_BGR2Lab).astype(np.float64)



def luma(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float64) @ LUMA_BGR


def flicker_index(frames: Sequence[np.ndarray]) -> float:
    """Standard deviation of the frame-to-frame change of mean luma (levels)."""
    means = np.array([luma(f[::2, ::2]).mean() for f in frames])
    return float(np.std(np.diff(means))) if len(means) > 2 else 0.0


@dataclass
class Score:
    psnr: float
    ssim: float
    de00: float
    temporal: float
    flicker: float


def score(test: Sequence[np.ndarray], truth: Sequence[np.ndarray], every: int = 3) -> Score:
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
    return Score(psnr=10 * np.log10(255.0 ** 2 / mse) if mse > 0 else float("inf"), ssim=float(np.mean(ssims)),
                 de00=float(np.mean(des)), temporal=float(np.sqrt(np.mean(temporal))) if temporal else 0.0,
                 flicker=flicker_index(test[:n]))


# --- methods ---------------------------------------------------------------------------------------

@dataclass
class Result:
    name: str
    frames: list[np.ndarray]
    fps: float | None


def run_vqe(name: str, src: Path, work: Path, stages: str, sets: Sequence[str] = (), repeat: int = 1) -> Result:
    out = work / f"out_{abs(hash(name)) % 10**8}.y4m"
    cmd = vqe_command("--file", str(src), "-o", str(out), "--no-display", "--no-progress",
                      "--backend", "cpu", "--stages", stages)
    for s in sets:
        cmd += ["--set", s]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        best = min(best, time.perf_counter() - t0)
        if r.returncode != 0:
            raise SystemExit(f"quality_color: vqe failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    frames = read_y4m(out)
    out.unlink()
    return Result(name, frames, len(frames) / best)


def run_ffmpeg(name: str, src: Path, work: Path, vf: str, repeat: int = 1) -> Result:
    out = work / "ff.y4m"
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-vf", vf, "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe",
           str(out)]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t0)
        if r.returncode != 0:
            raise SystemExit(f"quality_color: ffmpeg failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    frames = read_y4m(out)
    out.unlink()
    return Result(name, frames, len(frames) / best)


def run_opencv_clahe(src_frames: Sequence[np.ndarray], work: Path) -> Result:
    """OpenCV CLAHE on the L channel of Lab, per frame (no temporal smoothing); fps of the filtering alone."""
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    out = []
    t0 = time.perf_counter()
    for f in src_frames:
        lab_f = cv2.cvtColor(f, cv2.COLOR_BGR2Lab)
        lab_f[..., 0] = clahe.apply(np.ascontiguousarray(lab_f[..., 0]))
        out.append(cv2.cvtColor(lab_f, cv2.COLOR_Lab2BGR))
    fps = len(out) / (time.perf_counter() - t0)
    return Result("OpenCV CLAHE per frame (2.0, 8x8) [filter only]", roundtrip(out, work, "cv"), fps)


# --- cases ---------------------------------------------------------------------------------------------

def table(title: str, rows: list[tuple[str, Score, float | None]], truth_flicker: float) -> str:
    lines = [f"\n### {title}\n", "| method | PSNR dB | SSIM | dE00 | temporal err | flicker (x truth) | fps |",
             "|---|---|---|---|---|---|---|"]
    for name, s, fps in rows:
        ratio = s.flicker / truth_flicker if truth_flicker > 0 else float("nan")
        lines.append(f"| {name} | {s.psnr:.2f} | {s.ssim:.4f} | {s.de00:.2f} | {s.temporal:.2f} | "
                     f"{s.flicker:.3f} ({ratio:.2f}x) | {'-' if fps is None else f'{fps:.1f}'} |")
    lines.append(f"| ground truth | - | - | - | - | {truth_flicker:.3f} (1.00x) | - |")
    return "\n".join(lines)


def evaluate(title: str, truth_bgr: list[np.ndarray], degrade: Callable, methods: Callable, work: Path) -> str:
    truth = roundtrip(truth_bgr, work, "truth")
    src = work / "in.y4m"
    write_y4m(src, degrade(truth_bgr))
    inp = read_y4m(src)
    rows: list[tuple[str, Score, float | None]] = [("input", score(inp, truth), None)]
    for res in methods(src, inp, work):
        rows.append((res.name, score(res.frames, truth), res.fps))
        log.info("%s: %s done", title, res.name)
    return table(title, rows, flicker_index(truth))


def cast_methods(repeat: int) -> Callable:
    def methods(src: Path, inp: list[np.ndarray], work: Path) -> list[Result]:
        return [run_vqe("vqe contrast,color (automatic)", src, work, "contrast,color", repeat=repeat),
                run_vqe("vqe contrast,color + CLAHE 0.3", src, work, "contrast,color", ("contrast.clahe=0.3",)),
                run_ffmpeg(f"ffmpeg {EQ}", src, work, EQ, repeat=repeat),
                run_ffmpeg("ffmpeg normalize", src, work, "normalize", repeat=repeat),
                run_opencv_clahe(inp, work)]
    return methods


def flicker_methods(src: Path, inp: list[np.ndarray], work: Path) -> list[Result]:
    return [run_vqe("vqe contrast,color (automatic, smoothed)", src, work, "contrast,color"),
            run_vqe("vqe contrast,color + CLAHE 1.0 smoothed", src, work, "contrast,color", ("contrast.clahe=1.0",)),
            run_vqe("vqe per-frame auto-levels (smoothing=0)", src, work, "contrast,color",
                    ("contrast.smoothing=0", "color.smoothing=0")),
            run_vqe("vqe per-frame CLAHE 1.0 (smoothing=0)", src, work, "contrast,color",
                    ("contrast.clahe=1.0", "contrast.smoothing=0", "color.smoothing=0")),
            run_ffmpeg("ffmpeg normalize (per frame)", src, work, "normalize"),
            run_opencv_clahe(inp, work)]


def dark_methods(src: Path, inp: list[np.ndarray], work: Path) -> list[Result]:
    return [run_vqe("vqe denoise,contrast,color,sharpen", src, work, "denoise,contrast,color,sharpen"),
            run_ffmpeg(f"ffmpeg hqdn3d,unsharp,{EQ}", src, work, f"hqdn3d,unsharp,{EQ}"),
            run_ffmpeg("ffmpeg hqdn3d,unsharp,normalize", src, work, "hqdn3d,unsharp,normalize")]


def clean_case(frames: int, work: Path) -> str:
    clip = read_clip(MEDIA / "clean_flower_540p.mp4", None, frames)
    src = work / "clean.y4m"
    write_y4m(src, clip)
    inp = read_y4m(src)
    lines = ["\n### clean input left alone (clean_flower_540p, PSNR of the output against the input)\n",
             "| method | PSNR dB vs input | SSIM | dE00 |", "|---|---|---|---|"]
    for res in (run_vqe("vqe contrast,color (automatic)", src, work, "contrast,color"),
                run_vqe("vqe contrast,color + CLAHE 0.3", src, work, "contrast,color", ("contrast.clahe=0.3",)),
                run_ffmpeg("ffmpeg normalize", src, work, "normalize")):
        s = score(res.frames, inp)
        lines.append(f"| {res.name} | {s.psnr:.2f} | {s.ssim:.4f} | {s.de00:.2f} |")
    return "\n".join(lines)


def speed_case(size: tuple[int, int], frames: int, repeat: int, work: Path) -> str:
    clip = read_clip(MEDIA / "clean_flower_540p.mp4", size, 150)
    looped = [clip[i % len(clip)] if (i // len(clip)) % 2 == 0 else clip[len(clip) - 1 - i % len(clip)]
              for i in range(frames)]
    src = work / "speed.y4m"
    write_y4m(src, degrade_cast(looped))
    del clip, looped
    runs = {"vqe --stages contrast,color (automatic)": [], "ffmpeg -vf normalize": [], f"ffmpeg -vf {EQ}": []}
    vqe = vqe_command("--file", str(src), "-o", str(work / "o.y4m"), "--no-display",
                      "--no-progress", "--backend", "cpu", "--stages", "contrast,color")
    ff = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(src)]
    tail = ["-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(work / "o.y4m")]
    cmds = {"vqe --stages contrast,color (automatic)": vqe, "ffmpeg -vf normalize": ff + ["-vf", "normalize"] + tail,
            f"ffmpeg -vf {EQ}": ff + ["-vf", EQ] + tail}
    subprocess.run(vqe, capture_output=True)  # warm-up: numba's cache and the page cache
    for _ in range(repeat):
        for name, cmd in cmds.items():
            t0 = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True)
            runs[name].append(time.perf_counter() - t0)
            if r.returncode != 0:
                raise SystemExit(f"quality_color: failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    lines = [f"\n### speed: {frames} frames at {size[0]}x{size[1]}, whole process, best of {repeat} (interleaved)\n",
             "| command | best s | fps | median fps |", "|---|---|---|---|"]
    for name, times in runs.items():
        lines.append(f"| {name} | {min(times):.2f} | {frames / min(times):.1f} | {frames / float(np.median(times)):.1f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen cases and print one markdown table per case; returns the exit status."""
    ap = argparse.ArgumentParser(prog="quality_color", description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    ap.add_argument("--size", default="1280x720", help="frame size WxH for the degraded cases (default 1280x720)")
    ap.add_argument("--frames", type=int, default=60, help="frames per clip (default 60)")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per speed figure, best kept (default 2)")
    ap.add_argument("--clips", default="clean_person_indoor_432p.mp4,clean_bikes_street_272p.mp4,clean_flower_540p.mp4",
                    help="shared clips for the cast case")
    ap.add_argument("--dark-clips", default="clean_person_indoor_432p.mp4,clean_flower_540p.mp4",
                    help="shared clips for the dark case")
    ap.add_argument("--speed-frames", type=int, default=300, help="frames of the speed clip (default 300)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    for c in cases:
        if c not in CASES:
            ap.error(f"unknown case {c!r}; use some of {', '.join(CASES)}")
    w, h = (int(v) for v in args.size.lower().split("x"))
    if not MEDIA.is_dir():
        ap.error(f"the shared clips are not at {MEDIA}")
    print(f"quality_color: {args.size}, {args.frames} frames, ffmpeg {ffmpeg_exe()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="vqe-quality-color-") as tmp:
        work = Path(tmp)
        if "cast" in cases:
            for clip in args.clips.split(","):
                truth = read_clip(MEDIA / clip, (w, h), args.frames)
                print(evaluate(f"cast: {clip} at {w}x{h}, darkened + low contrast + warm cast", truth, degrade_cast,
                               cast_methods(args.repeat), work))
        if "flicker" in cases:
            truth = read_clip(MEDIA / "clean_person_indoor_432p.mp4", None, max(args.frames, 90), start=0)
            print(evaluate("flicker: clean_person_indoor_432p (static camera, people walking), degraded as cast",
                           truth, degrade_cast, flicker_methods, work))
        if "dark" in cases:
            for clip in args.dark_clips.split(","):
                truth = read_clip(MEDIA / clip, (w, h), args.frames)
                print(evaluate(f"dark noisy: {clip} at {w}x{h}, dark + cool + sensor noise", truth,
                               degrade_dark, dark_methods, work))
        if "clean" in cases:
            print(clean_case(args.frames, work))
        if "speed" in cases:
            print(speed_case((w, h), args.speed_frames, max(args.repeat, 1), work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
