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

import numpy as np

import qualitylib
from qualitylib import (  # noqa: F401  (scripts import these from here)
    EQ,
    LUMA_BGR,
    MEDIA,
    ciede2000,
    clahe,
    ffmpeg_exe,
    flicker_index,
    lab,
    luma,
    read_clip,
    vqe_command,
    write_y4m,
)
from qualitylib import ColorScore as Score
from qualitylib import color_score as score
from qualitylib import read_y4m_bgr as read_y4m

log = logging.getLogger("quality_color")
CASES = ("cast", "flicker", "dark", "clean", "speed")


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


# --- metrics: qualitylib's (PSNR, SSIM, CIEDE2000, temporal error, flicker index) ---------------

# --- methods ---------------------------------------------------------------------------------------

@dataclass
class Result:
    name: str
    frames: list[np.ndarray]
    fps: float | None


def run_vqe(name: str, src: Path, work: Path, stages: str, sets: Sequence[str] = (), repeat: int = 1) -> Result:
    out = work / f"out_{abs(hash(name)) % 10**8}.y4m"
    args = ["--backend", "cpu", "--stages", stages]
    for s in sets:
        args += ["--set", s]
    try:
        best = min(qualitylib.run_vqe(src, out, *args) for _ in range(repeat))
    except RuntimeError as exc:
        raise SystemExit(f"quality_color: vqe failed: {exc}")
    frames = read_y4m(out)
    out.unlink()
    return Result(name, frames, len(frames) / best)


def run_ffmpeg(name: str, src: Path, work: Path, vf: str, repeat: int = 1) -> Result:
    out = work / "ff.y4m"
    try:
        best = min(qualitylib.run_ffmpeg(src, out, vf) for _ in range(repeat))
    except RuntimeError as exc:
        raise SystemExit(f"quality_color: ffmpeg failed: {exc}")
    frames = read_y4m(out)
    out.unlink()
    return Result(name, frames, len(frames) / best)


def run_opencv_clahe(src_frames: Sequence[np.ndarray], work: Path) -> Result:
    """OpenCV CLAHE on the L channel of Lab, per frame (no temporal smoothing); fps of the filtering alone."""
    t0 = time.perf_counter()
    out = [clahe(f, 2.0, 8) for f in src_frames]
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
