#!/usr/bin/env python3
"""Kernel and pipeline speed per backend: CUDA against the CPU, same frames, same run.

For each frame size (720p, 1080p and 2160p by default), in one process:

* **per stage, frames resident**: a one-stage pipeline fed frames that already
  sit in the backend's memory, results left there (``push(..., to_host=False)``):
  the stage's kernels and its small host work (statistics, motion estimation);
* **chain, resident**: the full chain (default: denoise, stabilize, contrast,
  color, sharpen) the same way;
* **chain, with transfers**: the chain fed host frames in page-locked memory
  through ``Pipeline.run`` (upload of frame t+1 overlapping frame t) and
  downloaded to host memory: what a file or live run gets.

Frames are a real picture (the bundled sample clip's frames, resized) moving a
little each frame, so temporal stages see motion.  Every figure is frames per
second over at least ``--seconds`` of work after a warm-up; the CPU column is
the same code on the CPU backend, for the ratio.

    python tools/bench.py --backend cuda                 # CUDA vs CPU, 720p/1080p/2160p
    python tools/bench_backend.py --backend cpu --sizes 1280x720
    NUMBA_ENABLE_CUDASIM=1 python tools/bench_backend.py --backend cuda --sizes 64x36 --seconds 0.1   # glue check
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from realtime import Frame, Pipeline, build_settings  # noqa: E402
from realtime.errors import VqeError  # noqa: E402

SAMPLE = ROOT / "tools" / "samples" / "flower_540p.mp4"
CHAIN = "denoise,stabilize,contrast,color,sharpen"
SIZES = ("1280x720", "1920x1080", "3840x2160")


def test_frames(width: int, height: int, count: int = 8) -> list[np.ndarray]:
    """``count`` frames of the sample clip at ``width x height``, each shifted a little (camera motion)."""
    cap = cv2.VideoCapture(str(SAMPLE))
    ok, picture = cap.read()
    cap.release()
    if not ok:
        sys.exit(f"bench: cannot read {SAMPLE}")
    big = cv2.resize(picture, (width + 16, height + 16), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    offsets = np.clip(np.cumsum(rng.integers(-2, 3, (count, 2)), axis=0) + 8, 0, 16)
    return [np.ascontiguousarray(big[dy:dy + height, dx:dx + width]) for dx, dy in offsets]


def _timed_fps(step, seconds: float, min_frames: int = 5) -> float:
    """Frames per second of ``step(first_index) -> frames done``, after one warm-up call."""
    n = step(0)  # warm-up: kernels compiled or loaded, buffers allocated
    done, t0 = 0, time.perf_counter()
    while done < min_frames or time.perf_counter() - t0 < seconds:
        done += step(n + done)
    return done / (time.perf_counter() - t0)


def resident_fps(stages: str, backend: str, frames: list[np.ndarray], seconds: float) -> float:
    """Frames per second of ``stages`` on frames already in the backend's memory, results left there."""
    pipe = Pipeline(build_settings(stages=stages, backend=backend))
    device = [pipe.backend.asarray(f) for f in frames]

    def step(i: int) -> int:
        for _ in pipe.push(Frame(device[i % len(device)], i, i / 30, 0.0), to_host=False):
            pass
        pipe.backend.synchronize()
        return 1

    return _timed_fps(step, seconds)


def transfer_fps(stages: str, backend: str, frames: list[np.ndarray], seconds: float) -> float:
    """Frames per second of ``stages`` from page-locked host frames to host results, uploads overlapped."""
    pipe = Pipeline(build_settings(stages=stages, backend=backend))
    host = []
    for f in frames:
        buf = pipe.backend.host_empty(f.shape)
        buf[...] = f
        host.append(buf)

    def step(start: int) -> int:
        # One pass over the frames through Pipeline.run, which reads one frame ahead.
        batch = (Frame(host[i % len(host)], i, i / 30, 0.0) for i in range(start, start + len(host)))
        for _ in pipe.run(batch):
            pass
        return len(host)

    return _timed_fps(step, seconds)


def bench_size(width: int, height: int, backends: list[str], stages: list[str], chain: str,
               seconds: float) -> list[dict]:
    frames = test_frames(width, height)
    rows = []
    for label, what, kind in ([(s, s, "resident") for s in stages]
                              + [(f"chain ({chain})", chain, "resident"),
                                 (f"chain ({chain}), with upload/download", chain, "transfer")]):
        row = {"size": f"{width}x{height}", "what": label}
        for backend in backends:
            run = resident_fps if kind == "resident" else transfer_fps
            row[backend] = run(what, backend, frames, seconds)
        rows.append(row)
        print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
              file=sys.stderr)
    return rows


def table(rows: list[dict], backends: list[str]) -> str:
    cols = " | ".join(f"{b} fps" for b in backends)
    ratio = len(backends) == 2
    head = f"| size | stages | {cols} |" + (f" {backends[0]} / {backends[1]} |" if ratio else "")
    sep = "|---|---|" + "---|" * (len(backends) + ratio)
    lines = [head, sep]
    for r in rows:
        vals = " | ".join(f"{r[b]:.1f}" for b in backends)
        lines.append(f"| {r['size']} | {r['what']} | {vals} |" + (f" {r[backends[0]] / r[backends[1]]:.1f}x |"
                                                                   if ratio else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("cuda", "cpu"), default="cuda",
                    help="cuda: CUDA and CPU side by side (default); cpu: the CPU only")
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), help="WxH frame sizes (default: 720p 1080p 2160p)")
    ap.add_argument("--stages", default=CHAIN, help=f"chain, and the stages timed one by one (default {CHAIN})")
    ap.add_argument("--seconds", type=float, default=2.0, help="least timed work per figure (default 2 s)")
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    backends = ["cuda", "cpu"] if args.backend == "cuda" else ["cpu"]
    rows = []
    try:
        for size in args.sizes:
            width, height = (int(v) for v in size.lower().split("x"))
            rows += bench_size(width, height, backends, args.stages.split(","), args.stages, args.seconds)
    except VqeError as exc:
        sys.exit(f"bench: {exc}")
    text = table(rows, backends)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
