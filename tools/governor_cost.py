"""What each step of the real-time governor costs in picture quality, on one half of the corpus.

The governor (``realtime/run/governor.py``) makes a live chain cheaper in declared steps when the
machine cannot hold the source's rate.  This runs the live default chain on the corpus's noisy
cases (kind ``noise``: webcam-like read and shot noise; every third case strong) with the first
``k`` steps taken for the whole clip, ``k`` = 0 (the governor off) to all of them, and prints per
step the PSNR of its output against the governor-off output and against the truth (all planes
of the BGR frames, mean and worst over the cases).  In-process, BGR frames: no timing involved.

Examples
--------
::

    python tools/governor_cost.py --corpus report
    python tools/governor_cost.py --corpus tune --frames 24 --size 640x360
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

import numpy as np

from realtime import Pipeline, build_settings
from realtime.run.frames import Frame
from realtime.run.governor import chain_steps

import corpus
from qualitylib import psnr


def run_chain(frames: Sequence[np.ndarray], steps_taken: int) -> tuple[list[np.ndarray], list[str]]:
    """The default chain's output with its first ``steps_taken`` governor steps in force; and their names."""
    pipeline = Pipeline(build_settings(None, None, None, (), "cpu"))
    steps = chain_steps(pipeline)[:steps_taken]
    for step in steps:
        step.apply()
    out = []
    for i, f in enumerate(frames):
        out += [o.image.copy() for o in pipeline.push(Frame(np.ascontiguousarray(f), i, i / 30, 0.0))]
    out += [o.image.copy() for o in pipeline.flush()]
    return out, [s.name for s in steps]


def clip_psnr(test: Sequence[np.ndarray], ref: Sequence[np.ndarray]) -> float:
    mse = np.mean([np.mean((t.astype(np.float64) - r) ** 2) for t, r in zip(test, ref)])
    return psnr(float(mse))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=("tune", "report"), default="report")
    parser.add_argument("--size", default="640x360", help="WxH (smaller sources at their own size)")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--cases", type=int, default=3, help="cases per source")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    present, missing = corpus.available(corpus.sources(args.corpus))
    if missing:
        print("skipped (missing): " + ", ".join(missing))
    rows: dict[int, list[tuple[float, float]]] = {}
    names: list[str] = []
    for n, source in enumerate(present):
        for k in range(args.cases):
            rng = np.random.default_rng(7000 + 100 * n + k)
            kind = "strong_noise" if k % 3 == 2 else "noise"
            truth = corpus.frames_of(source, size, args.frames, seed=n)
            degraded = corpus.draw(kind, rng).apply(truth, seed=k)
            full, _ = run_chain(degraded, 0)
            line = [f"{source.name}/{k} {kind:12s}", f"off {clip_psnr(full, truth):6.2f}"]
            for taken in range(1, 4):
                out, names_now = run_chain(degraded, taken)
                if len(names_now) < taken:
                    break
                names = names_now
                rows.setdefault(taken, []).append((clip_psnr(out, full), clip_psnr(out, truth) - clip_psnr(full, truth)))
                line.append(f"+{taken}: {rows[taken][-1][0]:6.2f} dB vs off, {rows[taken][-1][1]:+6.2f} vs truth")
            print("  ".join(line), flush=True)
    print(f"\n{args.corpus} half, {sum(len(v) for v in rows.values()) // max(len(rows), 1)} cases, "
          f"{args.frames} frames each; the default chain with the governor's steps taken cumulatively:")
    print("| steps in force | PSNR against the governor-off output: mean / worst | change in PSNR against the truth: "
          "mean / worst |")
    print("|---|---|---|")
    for taken, values in sorted(rows.items()):
        v = np.array(values)
        print(f"| {' + '.join(names[:taken])} | {v[:, 0].mean():.2f} / {v[:, 0].min():.2f} dB | "
              f"{v[:, 1].mean():+.2f} / {v[:, 1].min():+.2f} dB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
