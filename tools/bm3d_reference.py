#!/usr/bin/env python3
"""BM3D as a quality yardstick for the denoise presets, on the corpus's ``denoise`` cases.

BM3D (the ``bm3d`` package, ``pip install -e .[tools]``) is a strong single-frame denoiser,
seconds per frame: far from real time, so not a peer but a reference for how much quality is
left.  It is given each plane's true noise sigma (the RMS of input minus truth on that plane;
an oracle no automatic has), and runs on a few frames per case (``--frames``, spread over the
clip).  The vqe presets run in this process over every frame of the same clips (their
temporal filter needs the frames before), are scored on the same frames, and their time per
frame is the median over the clip after the first frame (start-up apart).

PSNR is over all three 4:2:0 planes, as the corpus's denoise table reports it.

    python tools/bm3d_reference.py --corpus report --frames 1      # every report-half case, one frame each
    python tools/bm3d_reference.py --corpus report --quick --frames 1
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kernels.backend import CPU  # noqa: E402
from kernels.colorspace import bgr_to_yuv  # noqa: E402
from realtime.settings import PRESETS  # noqa: E402
from realtime.stages.denoise import DenoiseStage  # noqa: E402
from realtime.stages.params import DenoiseParams  # noqa: E402

import corpus  # noqa: E402
import quality_corpus as qc  # noqa: E402
from qualitylib import yuv_format  # noqa: E402

log = logging.getLogger("bm3d_reference")

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def psnr(test: Sequence[Planes], truth: Sequence[Planes]) -> float:
    """PSNR over every sample of every plane of the frames given."""
    se = count = 0.0
    for t, g in zip(test, truth):
        for a, b in zip(t, g):
            d = a.astype(np.float64) - b
            se += float((d * d).sum())
            count += d.size
    return float("inf") if se == 0 else 10.0 * np.log10(255.0 ** 2 * count / se)


def run_preset(preset: str, frames: Sequence[Planes]) -> tuple[list[Planes], float]:
    """The denoise stage with the preset's parameters over the I420 frames; outputs and median seconds per frame."""
    height, width = frames[0][0].shape
    stage = DenoiseStage(DenoiseParams(**PRESETS[preset]["denoise"]), CPU)
    stage.yuv_format = yuv_format(height)
    outs, times = [], []
    for y, u, v in frames:
        i420 = np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(height * 3 // 2, width)
        t0 = time.perf_counter()
        flat = stage.apply(i420).reshape(-1)
        times.append(time.perf_counter() - t0)
        q = u.size
        outs.append((flat[:y.size].reshape(y.shape).copy(), flat[y.size:y.size + q].reshape(u.shape).copy(),
                     flat[y.size + q:].reshape(v.shape).copy()))
    return outs, statistics.median(times[1:] or times)


def run_bm3d(frame: Planes, truth: Planes) -> tuple[Planes, float]:
    """BM3D on each plane with its true noise sigma; the planes and the seconds it took."""
    import bm3d

    t0 = time.perf_counter()
    out = []
    for noisy, clean in zip(frame, truth):
        sigma = float(np.sqrt(np.mean((noisy.astype(np.float64) - clean) ** 2)))
        den = bm3d.bm3d(noisy.astype(np.float64), sigma_psd=max(sigma, 0.1))
        out.append(np.clip(np.floor(den + 0.5), 0, 255).astype(np.uint8))
    return tuple(out), time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="report", choices=corpus.SPLITS, help="the half to run on")
    ap.add_argument("--quick", action="store_true", help="the corpus's --quick size, frames and cases")
    ap.add_argument("--frames", type=int, default=2, help="frames per case given to BM3D (default 2)")
    ap.add_argument("--case", action="append", default=[], help="only cases of this name (shell pattern)")
    ap.add_argument("--presets", default="fast,quality", help="vqe presets to compare (default fast,quality)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        import bm3d  # noqa: F401
    except ImportError:
        sys.exit("bm3d_reference: the bm3d package is missing; pip install -e .[tools]")

    import fnmatch

    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    size = qc.QUICK_SIZE if args.quick else qc.SIZE
    clip_frames = qc.QUICK_FRAMES if args.quick else qc.FRAMES
    per = qc.QUICK_CASES if args.quick else qc.CASES
    present, missing = corpus.available(corpus.sources(args.corpus))
    cases = qc.build_cases(present, ["denoise"], per, size, clip_frames)
    if args.case:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.name, p) for p in args.case)]
    print(f"corpus {args.corpus}: {len(cases)} denoise cases, BM3D on {args.frames} frame(s) each; "
          f"skipped (missing): {', '.join(missing) or 'none'}")
    labels = ["input", "bm3d (oracle sigma)"] + [f"vqe {p}" for p in presets]
    scores: dict[str, list[float]] = {k: [] for k in labels}
    seconds: dict[str, list[float]] = {k: [] for k in labels[1:]}
    print("\n| case | " + " | ".join(labels) + " |")
    print("|---" * (len(labels) + 1) + "|")
    for case in cases:
        truth_bgr, noisy_bgr = case.make()
        fmt = yuv_format(truth_bgr[0].shape[0])
        truth = [bgr_to_yuv(np.ascontiguousarray(f), fmt) for f in truth_bgr]
        noisy = [bgr_to_yuv(np.ascontiguousarray(f), fmt) for f in noisy_bgr]
        # The frames BM3D sees, spread over the clip, the first left out (the temporal filter starts there).
        picks = sorted({int(round(x)) for x in np.linspace(1, len(truth) - 1, max(1, args.frames) + 2)[1:-1]})
        row = {"input": psnr([noisy[i] for i in picks], [truth[i] for i in picks])}
        den = []
        for i in picks:
            out, sec = run_bm3d(noisy[i], truth[i])
            den.append(out)
            seconds["bm3d (oracle sigma)"].append(sec)
        row["bm3d (oracle sigma)"] = psnr(den, [truth[i] for i in picks])
        for p in presets:
            outs, sec = run_preset(p, noisy)
            row[f"vqe {p}"] = psnr([outs[i] for i in picks], [truth[i] for i in picks])
            seconds[f"vqe {p}"].append(sec)
        for k in labels:
            scores[k].append(row[k])
        print(f"| {case.name} | " + " | ".join(f"{row[k]:.2f}" for k in labels) + " |")
        sys.stdout.flush()
    print("\n| method | PSNR mean | worst | dB behind BM3D (mean) | ms per frame | BM3D time / its time |")
    print("|---|---|---|---|---|---|")
    ref_mean = float(np.mean(scores["bm3d (oracle sigma)"]))
    ref_sec = statistics.median(seconds["bm3d (oracle sigma)"])
    for k in labels:
        v = np.array(scores[k])
        sec = statistics.median(seconds[k]) if k in seconds else None
        speed = f"{ref_sec / sec:.0f}x" if sec else "-"
        ms = f"{sec * 1000:.1f}" if sec else "-"
        print(f"| {k} | {v.mean():.2f} | {v.min():.2f} | {ref_mean - v.mean():.2f} | {ms} | {speed} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
