"""Quality evaluation of the denoise and sharpen stages against ffmpeg and OpenCV peers.

Builds clips with a known ground truth, runs ``vqe`` (``python -m realtime``) and
its peers on lossless ``.y4m`` files, and prints PSNR, SSIM, a temporal-flicker
figure and whole-process fps side by side.

Clips
-----
* ``pan``: real photographs (frames of the shared clean clips) panned by a
  virtual camera (smooth sub-pixel path, a little hand shake);
* ``clip``: a real clip from the shared media folder as is.

``quality.py color ...`` and ``quality.py stabilize ...`` run the contrast/colour and
stabilizer evaluations (``tools/quality_color.py``, ``tools/quality_stabilize.py``).

Denoise inputs add Gaussian + signal-dependent noise (``sigma`` is the total
standard deviation at mid-gray; a third of the variance is Gaussian, the rest
proportional to the signal level), per colour channel, before 4:2:0
conversion.  Sharpen inputs are the ground truth blurred with a Gaussian
(``--blur`` sigma); the no-harm check runs sharpen on the clean ground truth.

Examples
--------
::

    python tools/quality.py denoise --size 1280x720 --frames 90 --sigma 10
    python tools/quality.py denoise --size 640x360 --sigma 5,10,20 --peers all
    python tools/quality.py sharpen --size 1280x720 --frames 60
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from qualitylib import (MEDIA, Y4mReader, Y4mWriter, bgr_to_yuv, ffmpeg_exe, psnr, read_clip, ssim,  # noqa: E402
                        run_timed, vqe_command, write_y4m, yuv_to_bgr)
from qualitylib import read_y4m_planes as read_y4m  # noqa: E402

log = logging.getLogger("quality")
#: Photographs for the virtual camera: (clip, frame index).
PHOTOS = (("clean_flower_540p.mp4", 60), ("clean_bikes_street_272p.mp4", 30),
          ("clean_person_indoor_432p.mp4", 200), ("shaky_seattle_walk_360p.avi", 0))



# --- clip making -------------------------------------------------------------------------

def read_frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"cannot read frame {index} of {path}")
        return frame
    finally:
        cap.release()



def pan_clip(photo: np.ndarray, size: tuple[int, int], frames: int, speed_px: float, seed: int) -> list[np.ndarray]:
    """A virtual camera moving over ``photo``: steady pan plus small shake, sub-pixel (bilinear)."""
    width, height = size
    margin = 1.25 + 2.0 * speed_px * frames / max(width, 1)
    scale = max(margin * width / photo.shape[1], margin * height / photo.shape[0])
    if scale != 1.0:
        # Downscaling (area) keeps a photograph's full sharpness; upscaling is only for sizes above the source.
        photo = cv2.resize(photo, None, fx=scale, fy=scale,
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    ph, pw = photo.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    vx, vy = speed_px * np.cos(angle), speed_px * np.sin(angle)
    cx0 = pw / 2 - vx * frames / 2
    cy0 = ph / 2 - vy * frames / 2
    shake = np.cumsum(rng.normal(0, 0.3, (frames, 2)), axis=0) * 0.5
    out = []
    for t in range(frames):
        cx = float(np.clip(cx0 + vx * t + shake[t, 0], width / 2 + 1, pw - width / 2 - 1))
        cy = float(np.clip(cy0 + vy * t + shake[t, 1], height / 2 + 1, ph - height / 2 - 1))
        out.append(cv2.getRectSubPix(photo, (width, height), (cx, cy)))
    return out


def add_noise(frames: list[np.ndarray], sigma: float, seed: int) -> list[np.ndarray]:
    """Gaussian + signal-dependent noise; total sigma ``sigma`` at level 128."""
    rng = np.random.default_rng(seed)
    gauss_var = sigma ** 2 / 3.0
    shot_gain = (sigma ** 2 - gauss_var) / 128.0
    out = []
    for f in frames:
        x = f.astype(np.float32)
        std = np.sqrt(gauss_var + shot_gain * x)
        out.append(np.clip(x + std * rng.standard_normal(x.shape, dtype=np.float32) + 0.5, 0, 255).astype(np.uint8))
    return out


def blur(frames: list[np.ndarray], sigma: float) -> list[np.ndarray]:
    return [cv2.GaussianBlur(f, (0, 0), sigma) for f in frames]





# --- metrics -------------------------------------------------------------------------------



@dataclass
class Score:
    psnr_y: float
    psnr_yuv: float
    ssim_y: float
    flicker: float


def score(test: list, truth: list, ssim_every: int = 5) -> Score:
    """PSNR (luma and all planes), SSIM on luma, and flicker.

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
    return Score(psnr(se_y / count_y), psnr(se_all / count_all), float(np.mean(ssims)),
                 float(np.mean(flick)) if flick else 0.0)


# --- runners ---------------------------------------------------------------------------------


def run_vqe(src: Path, dst: Path, stages: str, preset: str | None, sets: tuple[str, ...] = ()) -> float:
    cmd = vqe_command("--file", str(src), "-o", str(dst), "--no-display", "--no-progress",
                      "--stages", stages)
    if preset:
        cmd += ["--preset", preset]
    for s in sets:
        cmd += ["--set", s]
    return run_timed(cmd, env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])))


def run_ffmpeg(src: Path, dst: Path, vf: str) -> float:
    return run_timed([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(src), "-vf", vf, "-f", "yuv4mpegpipe",
                      "-strict", "-1", str(dst)])


def run_bilateral(src: Path, dst: Path, sigma: float) -> float:
    """OpenCV bilateralFilter per frame (BGR), in this process, whole loop timed."""
    t0 = time.perf_counter()
    reader = Y4mReader(src)
    fmt = reader.fmt
    writer = Y4mWriter(dst, reader.width, reader.height, reader.fps, fmt)
    bgr = np.empty((reader.height, reader.width, 3), np.uint8)
    try:
        while (planes := reader.read_planes()) is not None:
            yuv_to_bgr(planes, fmt, out=bgr)
            writer.write_planes(bgr_to_yuv(cv2.bilateralFilter(bgr, 5, 2.0 * sigma, 2.0), fmt))
    finally:
        reader.close()
        writer.close()
    return time.perf_counter() - t0


# --- experiments -------------------------------------------------------------------------------

def ground_truth(args: argparse.Namespace, size: tuple[int, int]) -> list[tuple[str, list[np.ndarray]]]:
    clips = []
    for i, (name, index) in enumerate(PHOTOS[: args.photos]):
        photo = read_frame(MEDIA / name, index)
        clips.append((f"pan:{name.split('_')[1]}", pan_clip(photo, size, args.frames, args.speed, seed=i)))
    for name in args.clip:
        clips.append((f"clip:{Path(name).stem}", read_clip(MEDIA / name, size, args.frames)))
    return clips


def denoise_peers(sigma: float, size: tuple[int, int], which: str) -> list[tuple[str, str, object]]:
    peers = [("hqdn3d=16", "ffmpeg", "hqdn3d=16"), ("hqdn3d(default)", "ffmpeg", "hqdn3d")]
    if which == "all":
        peers += [("atadenoise", "ffmpeg", "atadenoise"),
                  ("fftdnoiz", "ffmpeg", f"fftdnoiz=sigma={sigma:g}"),
                  ("bilateral(cv2)", "bilateral", sigma)]
        if size[1] <= 360:
            peers.append(("nlmeans", "ffmpeg", f"nlmeans=s={max(1.0, sigma * 0.6):g}"))
    return peers


#: Runs per method; fps is taken from the fastest (the machine may be shared).
REPEAT = 1


def evaluate(label: str, runner, dst: Path, truth: list, frames: int) -> dict:
    wall = min(runner() for _ in range(max(REPEAT, 1)))
    sc = score(read_y4m(dst), truth)
    return dict(method=label, psnr_y=sc.psnr_y, psnr=sc.psnr_yuv, ssim=sc.ssim_y, flicker=sc.flicker,
                fps=frames / wall)


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'method':<28}{'PSNR-Y':>8}{'PSNR':>8}{'SSIM-Y':>8}{'flicker':>9}{'fps':>8}")
    for r in rows:
        fps = f"{r['fps']:.0f}" if r.get("fps") else "-"
        print(f"{r['method']:<28}{r['psnr_y']:8.2f}{r['psnr']:8.2f}{r['ssim']:8.4f}{r['flicker']:9.2f}{fps:>8}")
    sys.stdout.flush()


def cmd_denoise(args: argparse.Namespace, work: Path) -> None:
    size = args.size
    for clip_name, clean in ground_truth(args, size):
        n = len(clean)
        gt_path = work / "gt.y4m"
        write_y4m(gt_path, clean)
        truth = read_y4m(gt_path)
        for sigma in args.sigma:
            src = work / "noisy.y4m"
            write_y4m(src, add_noise(clean, sigma, seed=int(sigma * 10)))
            inp = score(read_y4m(src), truth)
            rows = [dict(method="input (noisy)", psnr_y=inp.psnr_y, psnr=inp.psnr_yuv, ssim=inp.ssim_y,
                         flicker=inp.flicker, fps=None)]
            dst = work / "out.y4m"
            for preset in args.presets:
                sets = tuple(args.set)
                rows.append(evaluate(f"vqe denoise --preset {preset}",
                                     lambda p=preset: run_vqe(src, dst, "denoise", p, sets), dst, truth, n))
            for label, kind, arg in denoise_peers(sigma, size, args.peers):
                runner = (lambda a=arg: run_ffmpeg(src, dst, a)) if kind == "ffmpeg" else \
                    (lambda a=arg: run_bilateral(src, dst, a))
                rows.append(evaluate(label, runner, dst, truth, n))
            print_table(f"denoise: {clip_name} {size[0]}x{size[1]}, {n} frames, noise sigma {sigma:g}", rows)


def cmd_sharpen(args: argparse.Namespace, work: Path) -> None:
    size = args.size
    for clip_name, clean in ground_truth(args, size):
        n = len(clean)
        gt_path = work / "gt.y4m"
        write_y4m(gt_path, clean)
        truth = read_y4m(gt_path)
        src = work / "blurred.y4m"
        write_y4m(src, blur(clean, args.blur))
        inp = score(read_y4m(src), truth)
        rows = [dict(method="input (blurred)", psnr_y=inp.psnr_y, psnr=inp.psnr_yuv, ssim=inp.ssim_y,
                     flicker=inp.flicker, fps=None)]
        dst = work / "out.y4m"
        for preset in args.presets:
            rows.append(evaluate(f"vqe sharpen --preset {preset}",
                                 lambda p=preset: run_vqe(src, dst, "sharpen", p, tuple(args.set)), dst, truth, n))
        for label, vf in (("unsharp (default)", "unsharp"), ("cas=0.8", "cas=0.8")):
            rows.append(evaluate(label, lambda v=vf: run_ffmpeg(src, dst, v), dst, truth, n))
        print_table(f"sharpen: {clip_name} {size[0]}x{size[1]}, {n} frames, blur sigma {args.blur:g}", rows)
        # No-harm check: sharpening clean input must stay close to it.
        rows = []
        for preset in args.presets:
            rows.append(evaluate(f"vqe sharpen --preset {preset}",
                                 lambda p=preset: run_vqe(gt_path, dst, "sharpen", p, tuple(args.set)), dst,
                                 truth, n))
        for label, vf in (("unsharp (default)", "unsharp"), ("cas=0.8", "cas=0.8")):
            rows.append(evaluate(label, lambda v=vf: run_ffmpeg(gt_path, dst, v), dst, truth, n))
        print_table(f"sharpen no-harm: clean {clip_name} (PSNR vs the input itself)", rows)


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


#: Evaluations that live in their own modules: ``quality.py NAME ...`` runs ``MODULE.main(...)``.
DELEGATES = {"color": "quality_color", "stabilize": "quality_stabilize", "deinterlace": "quality_deinterlace",
             "upscale": "quality_upscale"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DELEGATES:
        import importlib

        return importlib.import_module(DELEGATES[argv[0]]).main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="also: quality.py color --help, quality.py stabilize --help")
    p.add_argument("what", choices=("denoise", "sharpen"))
    p.add_argument("--size", type=_size, default=(1280, 720), help="WxH of the test clips (default 1280x720)")
    p.add_argument("--frames", type=int, default=90, help="frames per clip (default 90)")
    p.add_argument("--photos", type=int, default=2, help=f"panned photographs to use, 0..{len(PHOTOS)} (default 2)")
    p.add_argument("--clip", action="append", default=[], help="also use this clip of the shared media folder as is")
    p.add_argument("--speed", type=float, default=2.0, help="virtual camera speed, pixels per frame (default 2)")
    p.add_argument("--sigma", type=lambda s: [float(x) for x in s.split(",")], default=[10.0],
                   help="noise sigmas, comma separated (default 10)")
    p.add_argument("--blur", type=float, default=1.0, help="Gaussian blur sigma for sharpen inputs (default 1)")
    p.add_argument("--presets", type=lambda s: s.split(","), default=["fast", "quality"],
                   help="vqe presets to run (default fast,quality)")
    p.add_argument("--set", action="append", default=[], help="extra vqe --set STAGE.PARAM=VALUE")
    p.add_argument("--peers", choices=("basic", "all"), default="all", help="peer filters to run (default all)")
    p.add_argument("--repeat", type=int, default=1, help="runs per method, fps from the fastest (default 1)")
    p.add_argument("--workdir", help="keep the clips here (default: a temporary folder)")
    args = p.parse_args(argv)
    global REPEAT
    REPEAT = args.repeat
    logging.basicConfig(level=logging.INFO, format="quality: %(message)s")
    if args.workdir:
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
        (cmd_denoise if args.what == "denoise" else cmd_sharpen)(args, work)
    else:
        with tempfile.TemporaryDirectory(prefix="vqe-quality-") as tmp:
            (cmd_denoise if args.what == "denoise" else cmd_sharpen)(args, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
