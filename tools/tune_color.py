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
    python tools/tune_color.py --crops 12 --grid color.wb_neutral=0,0.5   # white balance alone, on crops

``--crops N`` judges the white balance alone (``--stages color``) on N crops of each day source (15-60%
of the frame, where one subject's colour often fills the view), each clean and under two random casts:
how often it mistakes a scene's own colour for a cast, and how well it removes a real one.
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

import cv2
import numpy as np

from realtime import Pipeline, build_settings
from realtime.run.frames import Frame

import corpus
from quality_color import ciede2000, lab
from qualitylib import ffmpeg_exe, psnr, read_y4m_bgr, write_y4m

SIZE = (480, 272)
#: ``--crops``: crops are cut from frames of this size and scaled to the other.
CROP_FROM, CROP_SIZE = (640, 360), (320, 180)
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


def crops(split: str, per_source: int) -> list[tuple[str, np.ndarray, list[np.ndarray]]]:
    """(name, crop, the crop under two casts) for ``per_source`` random crops of every day source of ``split``."""
    out = []
    present, _ = corpus.available(corpus.sources(split))
    width, height = CROP_FROM
    for n, source in enumerate(present):
        if source.night:
            continue
        rng = np.random.default_rng(77 + n)
        frames = corpus.frames_of(source, CROP_FROM, 8, seed=n)
        for k in range(per_source):
            h = int(np.sqrt(rng.uniform(0.15, 0.6) * width * height * 9 / 16))
            w = h * 16 // 9
            y, x = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
            crop = cv2.resize(frames[k % len(frames)][y:y + h, x:x + w], CROP_SIZE, interpolation=cv2.INTER_AREA)
            casts = [corpus.Degradation(gains=corpus.cast_gains(rng.uniform(0, 2 * np.pi), rng.uniform(0.05, 0.4)))
                     .apply([crop], seed=0)[0] for _ in range(2)]
            out.append((f"{source.name}/crop{k}", crop, casts))
    return out


def evaluate_crops(all_crops, overrides: Sequence[str]) -> dict:
    clean, cast, worse = [], [], 0
    for _, crop, casts in all_crops:
        clean.append(de00(enhance([crop], overrides, "color"), [crop]))
        for degraded in casts:
            cast.append(de00(enhance([degraded], overrides, "color"), [crop]))
            worse += cast[-1] > de00([degraded], [crop])
    c, d = np.array(clean), np.array(cast)
    return {"clean": c.mean(), "clean_worst": c.max(), "cast": d.mean(), "cast_worst": d.max(),
            "worse": worse, "casts": len(d), "all": np.concatenate([c, d]).mean()}


def enhance(frames: Sequence[np.ndarray], overrides: Sequence[str],
            stages: str = "contrast,color") -> list[np.ndarray]:
    pipeline = Pipeline(build_settings(None, stages, None, tuple(overrides), "cpu"))
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
    p.add_argument("--crops", type=int, default=0, help="white balance alone on N crops per source (see above)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    grid = [[f"{k}={v}" for v in vals.split(",")] for k, vals in (g.split("=", 1) for g in args.grid)]
    if args.crops:
        all_crops = crops("tune", args.crops)
        for combo in itertools.product(*grid) if grid else [()]:
            overrides = list(args.set) + list(combo)
            r = evaluate_crops(all_crops, overrides)
            print(f"{' '.join(overrides) or 'defaults':40s} clean crops dE00 mean {r['clean']:5.2f} worst "
                  f"{r['clean_worst']:5.2f}; under a cast mean {r['cast']:5.2f} worst {r['cast_worst']:5.2f}, worse "
                  f"than the input {r['worse']}/{r['casts']}; all {r['all']:5.2f}")
        return 0
    all_cases = cases("tune", args.per_source)
    peers = None
    if args.peers:
        with tempfile.TemporaryDirectory() as tmp:
            peers = {name: de00(normalize(degraded, Path(tmp)), truth)
                     for name, kind, truth, degraded in all_cases if kind == "color"}
        v = np.array(list(peers.values()))
        print(f"normalize: mean {v.mean():.2f} median {np.median(v):.2f} worst {v.max():.2f}")
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
