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
stabilizer evaluations (``tools/quality_color.py``, ``tools/quality_stabilize.py``);
``quality.py --corpus tune|report ...`` the evaluation corpus, every task, vqe against its
peers case by case on one half of the corpus (``tools/quality_corpus.py``, ``tools/corpus.py``).

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
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

import qualitylib
from corpus import pan_clip
from qualitylib import MEDIA, bilateral, read_clip, run_per_frame, write_y4m
from qualitylib import PlaneScore as Score  # noqa: F401  (quality_deinterlace and older scripts import these)
from qualitylib import plane_score as score
from qualitylib import read_y4m_planes as read_y4m

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


# --- runners (qualitylib's, with this tool's signatures) -------------------------------------

def run_vqe(src: Path, dst: Path, stages: str, preset: str | None, sets: tuple[str, ...] = ()) -> float:
    args = ["--stages", stages] + (["--preset", preset] if preset else [])
    for s in sets:
        args += ["--set", s]
    return qualitylib.run_vqe(src, dst, *args)


run_ffmpeg = qualitylib.run_ffmpeg


def run_bilateral(src: Path, dst: Path, sigma: float) -> float:
    """OpenCV bilateralFilter per frame (BGR), in this process, whole loop timed."""
    return run_per_frame(src, dst, lambda f: bilateral(f, sigma))


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
    if any(a == "--corpus" or a.startswith("--corpus=") for a in argv):
        import quality_corpus

        return quality_corpus.main(argv)
    if argv and argv[0] in DELEGATES:
        import importlib

        return importlib.import_module(DELEGATES[argv[0]]).main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="also: quality.py color --help, quality.py stabilize --help, "
                                       "quality.py --corpus report --help")
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
