"""Tune the automatic contrast and colour defaults on the corpus's tuning half, in-process and fast.

Runs ``contrast,color`` through :class:`realtime.Pipeline` in this process (no encoder, no
start-up per case) on the ``tune`` half of :mod:`corpus` and prints mean, median and worst
CIEDE2000 against the truth, the clean cases' PSNR against themselves, and, once per case
set, ffmpeg ``normalize`` beside it.  The report half is never touched here: its figures come
from ``tools/quality.py --corpus report``.

Examples
--------
::

    python tools/tune_color.py                                   # today's defaults
    python tools/tune_color.py --set contrast.white_pct=99.8 --set color.wb_strength=0.8
    python tools/tune_color.py --grid contrast.tolerance=0,6,12
"""
from __future__ import annotations

import argparse
import itertools
import logging
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from realtime import Pipeline, build_settings
from realtime.run.frames import Frame

import corpus
from quality_color import ciede2000, lab
from qualitylib import ffmpeg_exe, psnr, read_y4m_bgr, write_y4m

SIZE = (480, 272)
#: Clean footage must come out at least this close to itself (PSNR, dB).
CLEAN_PSNR = 35.0
FRAMES = 10


def cases(split: str, per_source: int) -> list[tuple[str, str, list[np.ndarray], list[np.ndarray]]]:
    """(name, kind, truth, degraded) for every color, night and clean case of ``split``."""
    out = []
    present, _ = corpus.available(corpus.sources(split))
    for n, source in enumerate(present):
        truth = corpus.frames_of(source, SIZE, FRAMES, seed=n)
        out.append((f"{source.name}/clean", "clean", truth, truth))
        for k in range(per_source):
            rng = np.random.default_rng(1000 * n + k)
            degradation = corpus.draw("night" if source.night else "color", rng)
            out.append((f"{source.name}/{k} {degradation.describe()}", "color", truth,
                        degradation.apply(truth, seed=k)))
    return out


def enhance(frames: Sequence[np.ndarray], overrides: Sequence[str]) -> list[np.ndarray]:
    pipeline = Pipeline(build_settings(None, "contrast,color", None, tuple(overrides), "cpu"))
    out = []
    for i, f in enumerate(frames):
        for o in pipeline.push(Frame(np.ascontiguousarray(f), i, i / 30, 0.0)):
            out.append(o.image.copy())
    return out


def normalize(frames: Sequence[np.ndarray], work: Path) -> list[np.ndarray]:
    src, dst = work / "in.y4m", work / "out.y4m"
    write_y4m(src, frames)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(src), "-vf", "normalize=smoothing=10",
                    "-pix_fmt", "yuv420p", str(dst)], check=True)
    return read_y4m_bgr(dst)


def de00(test: Sequence[np.ndarray], truth: Sequence[np.ndarray]) -> float:
    return float(np.mean([ciede2000(lab(t), lab(g)).mean() for t, g in zip(test[::3], truth[::3])]))


def frame_psnr(test: Sequence[np.ndarray], truth: Sequence[np.ndarray]) -> float:
    mse = np.mean([np.mean((t.astype(np.float64) - g) ** 2) for t, g in zip(test, truth)])
    return psnr(float(mse))


def evaluate(all_cases, overrides: Sequence[str], peers: dict | None, verbose: bool) -> dict:
    des, cleans, inputs, worse, harmed = [], [], [], [], []
    for name, kind, truth, degraded in all_cases:
        out = enhance(degraded, overrides)
        source = name.split("/")[0]
        if kind == "clean":
            cleans.append(frame_psnr(out, truth))
            if cleans[-1] < CLEAN_PSNR:
                harmed.append(f"{source} {cleans[-1]:.1f}")
            if verbose:
                print(f"  {name:60s} clean PSNR {cleans[-1]:6.2f}")
            continue
        des.append(de00(out, truth))
        inputs.append(de00(degraded, truth))
        if des[-1] > inputs[-1]:
            worse.append(f"{name.split(' ')[0]} {inputs[-1]:.1f}->{des[-1]:.1f}")
        if verbose:
            peer = f"  normalize {peers[name]:5.2f}" if peers else ""
            print(f"  {name[:60]:60s} in {inputs[-1]:5.2f}  vqe {des[-1]:5.2f}{peer}")
    d = np.array(des)
    return {"mean": d.mean(), "median": float(np.median(d)), "worst": d.max(),
            "worse_than_input": worse, "clean_min": min(cleans), "harmed": harmed}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--set", action="append", default=[], help="stage parameter override (repeatable)")
    p.add_argument("--grid", action="append", default=[], help="NAME=V1,V2,...: try every combination")
    p.add_argument("--per-source", type=int, default=3)
    p.add_argument("--peers", action="store_true", help="also run ffmpeg normalize on each case")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    all_cases = cases("tune", args.per_source)
    peers = None
    if args.peers:
        with tempfile.TemporaryDirectory() as tmp:
            peers = {name: de00(normalize(degraded, Path(tmp)), truth)
                     for name, kind, truth, degraded in all_cases if kind == "color"}
        v = np.array(list(peers.values()))
        print(f"normalize: mean {v.mean():.2f} median {np.median(v):.2f} worst {v.max():.2f}")
    grid = [[f"{k}={v}" for v in vals.split(",")] for k, vals in (g.split("=", 1) for g in args.grid)]
    for combo in itertools.product(*grid) if grid else [()]:
        overrides = list(args.set) + list(combo)
        r = evaluate(all_cases, overrides, peers, args.verbose)
        print(f"{' '.join(overrides) or 'defaults':60s} dE00 mean {r['mean']:5.2f} median {r['median']:5.2f} "
              f"worst {r['worst']:5.2f} worse-than-input {len(r['worse_than_input'])}  "
              f"clean PSNR min {r['clean_min']:5.2f}, below {CLEAN_PSNR:.0f} dB: {len(r['harmed'])}")
        if args.verbose:
            print(f"    worse than input: {', '.join(r['worse_than_input']) or 'none'}")
            print(f"    clean below {CLEAN_PSNR:.0f} dB: {', '.join(r['harmed']) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
