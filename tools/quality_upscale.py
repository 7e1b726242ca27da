"""Quality and speed of the ``upscale`` stage against ffmpeg's and OpenCV's scalers.

Quality: the held-out images of ``tools/sr_data.py`` (a real 1280x720
photograph, astronaut, coffee, frames of ``clean_flower_540p``; never used to
tune or train) are degraded by the usual super-resolution protocol (Gaussian
blur of sigma ``factor / 2``, area downscale).  Each low-resolution image is
written as a lossless ``.y4m``; every method reads it and writes a ``.y4m`` at
the original size, which is read back and scored against the original: luma
(BT.601) PSNR and SSIM with ``factor`` pixels cropped at every border, the mean
over the images.  Methods:

* ffmpeg ``scale`` with ``flags=bicubic``, ``flags=lanczos``, and lanczos
  followed by ``unsharp`` (its default 5x5 luma unsharp mask);
* OpenCV ``INTER_CUBIC`` and ``INTER_LANCZOS4`` (in this process);
* vqe ``--stages upscale`` with ``method=bicubic|lanczos|edge|learned``, each a
  whole ``vqe`` process.

Every output is decoded in the Y'CbCr matrix it was written in (``.y4m`` has no
matrix tag: ffmpeg keeps its BT.601 input's, vqe and the OpenCV rows write
BT.709 at 720 lines and more).

Speed: a clip of ``--speed-frames`` frames (60 by default) of
``clean_flower_540p.mp4`` (960x540) upscaled to 1920x1080, ``.y4m`` in and out,
best of ``--repeat`` runs.  fps is input frames over the wall time of the whole
process (start-up included, as for ffmpeg); the ratio is against ffmpeg's
lanczos in the same run.  "vqe fps" is vqe's own ``--stats`` figure, timed
from the start of its main function (without the interpreter's start-up), and
``--stages none`` (no upscale, 540p out) shows vqe's fixed cost.

Examples
--------
::

    python tools/quality.py upscale                       # x2 and x4 quality, then speed
    python tools/quality.py upscale --factors 2 --no-speed
    python tools/quality.py upscale --no-quality --speed-frames 600 --repeat 3
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from sr_data import EVAL_CLIP, degrade, eval_images, luma, sr_psnr

from qualitylib import (
    MEDIA,
    ROOT,
    ffmpeg_exe,
    read_clip,
    read_y4m_bgr,
    read_y4m_planes,
    run_timed,
    ssim,
    vqe_command,
    write_y4m,
    yuv_format,
    yuv_to_bgr,
)

log = logging.getLogger("quality_upscale")

VQE_METHODS = ("bicubic", "lanczos", "edge", "learned")
FFMPEG_PEERS = (("ffmpeg bicubic", "flags=bicubic", ""), ("ffmpeg lanczos", "flags=lanczos", ""),
                ("ffmpeg lanczos+unsharp", "flags=lanczos", "unsharp"))
OPENCV_PEERS = (("opencv INTER_CUBIC", cv2.INTER_CUBIC), ("opencv INTER_LANCZOS4", cv2.INTER_LANCZOS4))
SPEED_SIZE = (1920, 1080)


def vqe_cmd(src: Path, dst: Path, method: str, factor: float, stats: Path | None = None,
            sets: tuple[str, ...] = ()) -> list[str]:
    cmd = vqe_command("--file", str(src), "-o", str(dst), "--no-display", "--no-progress",
                      "--backend", "cpu")
    if method == "none":
        cmd += ["--stages", "none"]
    else:
        cmd += ["--stages", "upscale", "--set", f"upscale.factor={factor:g}", "--set", f"upscale.method={method}"]
    for s in sets:
        cmd += ["--set", s]
    if stats is not None:
        cmd += ["--stats", str(stats)]
    return cmd


def vqe_env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def ffmpeg_cmd(src: Path, dst: Path, size: tuple[int, int], flags: str, extra: str) -> list[str]:
    vf = f"scale={size[0]}:{size[1]}:{flags}" + (f",{extra}" if extra else "")
    return [ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(src), "-vf", vf, "-f", "yuv4mpegpipe", "-strict",
            "-1", str(dst)]


def first_error_line(exc: Exception) -> str:
    text = str(exc)
    for line in text.splitlines():
        if "error:" in line:
            return line.split("error:", 1)[1].strip()[:90]
    return text.strip().splitlines()[-1][:90] if text.strip() else exc.__class__.__name__


# --- quality -------------------------------------------------------------------------------------

def read_ffmpeg_output(path: Path, lr_height: int) -> np.ndarray:
    """The first frame of an ffmpeg ``.y4m``, decoded in the matrix of its input.

    ``.y4m`` carries no matrix and readers assume one from the height; ffmpeg's
    scaler keeps the input's Y'CbCr (BT.601 below 720 lines) while the upscaled
    height implies BT.709, so the output is decoded as what it is.
    """
    return yuv_to_bgr(read_y4m_planes(path)[0], yuv_format(lr_height)).copy()


def score(out: np.ndarray, hr: np.ndarray, factor: int) -> tuple[float, float]:
    c = factor
    return sr_psnr(out, hr, factor), ssim(luma(out)[c:-c, c:-c], luma(hr)[c:-c, c:-c])


def quality(factor: int, work: Path, sets: tuple[str, ...]) -> list[dict]:
    """Rows ``{method, psnr, ssim, note}``, the means over the evaluation images."""
    images = eval_images()
    if not any(name.startswith(EVAL_CLIP) for name, _ in images):
        log.warning("%s not found in %s: scoring the photographs only", EVAL_CLIP, MEDIA)
    results: dict[str, list[tuple[float, float]]] = {}
    notes: dict[str, str] = {}
    src, dst = work / "lr.y4m", work / "out.y4m"
    for name, image in images:
        hr, lr = degrade(image, factor)
        size = (hr.shape[1], hr.shape[0])
        write_y4m(src, [lr])
        lr_read = read_y4m_bgr(src)[0]
        runs: list[tuple[str, object]] = [(label, ffmpeg_cmd(src, dst, size, flags, extra))
                                          for label, flags, extra in FFMPEG_PEERS]
        runs += [(f"vqe {method}", vqe_cmd(src, dst, method, factor, sets=sets)) for method in VQE_METHODS]
        for label, cmd in runs:
            if label in notes:
                continue
            try:
                run_timed(cmd, env=vqe_env() if label.startswith("vqe") else None)
            except RuntimeError as exc:
                notes[label] = first_error_line(exc)
                continue
            out = read_ffmpeg_output(dst, lr.shape[0]) if label.startswith("ffmpeg") else read_y4m_bgr(dst)[0]
            results.setdefault(label, []).append(score(out, hr, factor))
        for label, flag in OPENCV_PEERS:
            write_y4m(dst, [cv2.resize(lr_read, size, interpolation=flag)])
            results.setdefault(label, []).append(score(read_y4m_bgr(dst)[0], hr, factor))
        log.info("x%d: %s done", factor, name)
    rows = []
    for label, values in results.items():
        arr = np.array(values)
        rows.append({"method": label, "psnr": float(arr[:, 0].mean()), "ssim": float(arr[:, 1].mean()), "note": "",
                     "n": len(values)})
    rows += [{"method": label, "psnr": None, "ssim": None, "note": note, "n": 0} for label, note in notes.items()]
    return rows


def print_quality(factor: int, rows: list[dict], count: int) -> None:
    print(f"\nupscale x{factor}: Y-PSNR / SSIM (luma, {factor} px borders cropped), mean of {count} held-out images")
    print(f"{'method':<34}{'Y-PSNR':>8}{'SSIM':>8}")
    for r in rows:
        if r["psnr"] is None:
            print(f"{r['method']:<34}{'n/a':>8}{'':>8}  ({r['note']})")
        else:
            print(f"{r['method']:<34}{r['psnr']:8.2f}{r['ssim']:8.4f}")
    sys.stdout.flush()


# --- speed ---------------------------------------------------------------------------------------

def speed(work: Path, frames: int, repeat: int, sets: tuple[str, ...]) -> list[dict]:
    """Rows ``{method, fps, vqe_fps, note}`` for 960x540 -> 1920x1080 on ``frames`` frames."""
    clip = read_clip(MEDIA / EVAL_CLIP, None, None)
    clip = [clip[i % len(clip)] for i in range(frames)]
    src, dst, stats = work / "speed.y4m", work / "speed_out.y4m", work / "stats.json"
    write_y4m(src, clip)
    factor = SPEED_SIZE[0] / clip[0].shape[1]
    runs = [(label, ffmpeg_cmd(src, dst, SPEED_SIZE, flags, extra)) for label, flags, extra in FFMPEG_PEERS[:2]]
    runs += [(f"vqe {m}", vqe_cmd(src, dst, m, factor, stats, sets)) for m in VQE_METHODS]
    runs.append(("vqe --stages none (540p out)", vqe_cmd(src, dst, "none", factor, stats)))
    best: dict[str, float] = {}
    inner: dict[str, float] = {}
    notes: dict[str, str] = {}
    # Rounds, not back-to-back repeats: every method sees the same machine load.
    for _ in range(max(repeat, 1)):
        for label, cmd in runs:
            if label in notes:
                continue
            is_vqe = label.startswith("vqe")
            try:
                wall = run_timed(cmd, env=vqe_env() if is_vqe else None)
            except RuntimeError as exc:
                notes[label] = first_error_line(exc)
                continue
            best[label] = min(best.get(label, wall), wall)
            if is_vqe:
                inner[label] = max(inner.get(label, 0.0), json.loads(stats.read_text())["fps"])
    rows = []
    for label, _ in runs:
        if label in notes:
            rows.append({"method": label, "fps": None, "vqe_fps": None, "note": notes[label]})
        else:
            rows.append({"method": label, "fps": frames / best[label], "vqe_fps": inner.get(label), "note": ""})
    return rows


def print_speed(rows: list[dict], frames: int, repeat: int) -> None:
    ref = next((r["fps"] for r in rows if r["method"] == "ffmpeg lanczos" and r["fps"]), None)
    print(f"\nspeed: 960x540 -> {SPEED_SIZE[0]}x{SPEED_SIZE[1]}, {frames} frames of {EVAL_CLIP}, .y4m in and out, CPU, "
          f"best of {repeat}")
    print(f"{'method':<34}{'fps':>8}{'x ffmpeg lanczos':>18}{'vqe fps':>9}")
    for r in rows:
        if r["fps"] is None:
            print(f"{r['method']:<34}{'n/a':>8}  ({r['note']})")
            continue
        ratio = f"{r['fps'] / ref:.2f}" if ref else "-"
        inner = f"{r['vqe_fps']:.1f}" if r["vqe_fps"] else "-"
        print(f"{r['method']:<34}{r['fps']:8.1f}{ratio:>18}{inner:>9}")
    print("fps: whole process, start-up included; vqe fps: vqe's --stats (from its main function on)")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Run the quality and speed evaluations; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--factors", type=lambda s: [int(x) for x in s.split(",")], default=[2, 4],
                   help="upscale factors to score, comma separated (default 2,4)")
    p.add_argument("--speed-frames", type=int, default=60, help="frames of the speed clip (default 60)")
    p.add_argument("--repeat", type=int, default=3, help="speed runs per method, fastest counts (default 3)")
    p.add_argument("--no-quality", action="store_true", help="skip the quality tables")
    p.add_argument("--no-speed", action="store_true", help="skip the speed table")
    p.add_argument("--set", action="append", default=[], help="extra vqe --set upscale.PARAM=VALUE")
    p.add_argument("--workdir", help="keep the files here (default: a temporary folder)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="quality_upscale: %(message)s")
    with tempfile.TemporaryDirectory(prefix="vqe-upscale-") as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if not args.no_quality:
            for factor in args.factors:
                rows = quality(factor, work, tuple(args.set))
                print_quality(factor, rows, max(r["n"] for r in rows))
        if not args.no_speed:
            print_speed(speed(work, args.speed_frames, args.repeat, tuple(args.set)), args.speed_frames, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
