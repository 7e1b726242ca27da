"""Batch throughput: N files one after another (one ``vqe`` each) vs one batch, one or several processes.

Each round times, on the same inputs:

* ``separate``: ``vqe --file F -o OUT`` for each file, one after another (what a
  user without batch mode runs);
* ``jobs1``: one batch, one worker process that uses every core for its kernel threads;
* ``jobs2`` (``jobsN``): one batch, one worker process per core, one kernel thread each;
* ``startup``: ``vqe --file F --max-frames 1`` (start-up and first frame, nothing written);
* ``ray`` (with ``--ray``): one batch with ``--cluster ray`` (a local Ray cluster, started by the run).
  Ray starts its workers at nice 15 (its ``RAY_worker_niceness``), which on a machine busy
  with other work starves them; ``--ray-niceness 0`` sets it for the cluster the run starts.

With ``--long CLIP`` it times one long file instead: ``single`` (``vqe --file CLIP -o OUT``,
one process, the whole file), against the same file in chunks (``realtime.batch.chunks``) on
``jobsN`` local worker processes (N > 1 in ``--jobs``) and, with ``--ray``, on a local Ray
cluster.  The chunked outputs are checked against the single run's: the same frame count
and timestamps, and the frames' mean absolute difference (encoders started at other frames
round differently; within a level).

Rounds interleave the modes, so that load from other work on the machine falls
on all of them alike; medians are reported.  The outputs of every batch are
compared byte for byte with the separate runs' (one code path per file).

Usage::

    python tools/bench_batch.py                      # 6 copies of the bundled sample, 2 rounds
    python tools/bench_batch.py --cpus 0,1 --rounds 3   # pinned to two cores (on a bigger machine)
    python tools/bench_batch.py --clips a.mp4 b.mkv ...  # your own files
    python tools/bench_batch.py --ray --ray-niceness 0    # and on a local Ray cluster
    python tools/bench_batch.py --long long1080.mp4 --ray --jobs 1 --rounds 1  # one long file: chunks on Ray
"""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tools" / "samples" / "flower_540p.mp4"


def vqe(*args: str | Path) -> tuple[float, float]:
    """Run ``python -m realtime`` with ``args``: its wall time and its CPU time (every process), in seconds.

    A failure stops the benchmark.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "realtime", *map(str, args), "--no-progress"], cwd=ROOT,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"vqe {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", nargs="+", type=Path, help="input files (default: the bundled sample, --copies times)")
    p.add_argument("--copies", type=int, default=6, help="copies of the sample without --clips (default 6)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="batch worker counts to time (default 1 2)")
    p.add_argument("--cpus", help="run everything on these CPUs only, e.g. 0,1 (Linux)")
    p.add_argument("--ray", action="store_true", help="also time the batch on a local Ray cluster")
    p.add_argument("--ray-niceness", type=int, help="nice level of the Ray workers (RAY_worker_niceness)")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--long", type=Path, help="time this one long file whole against in chunks (see above)")
    args = p.parse_args()
    if args.ray_niceness is not None:
        os.environ["RAY_worker_niceness"] = str(args.ray_niceness)  # read by the raylet the run starts
    if args.cpus:
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})  # inherited by every vqe started
    cores = len(os.sched_getaffinity(0))
    work = Path(tempfile.mkdtemp(prefix="vqe-bench-batch-"))
    if args.long:
        try:
            return bench_long(args, work, cores)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    try:
        inputs = work / "in"
        inputs.mkdir()
        clips = args.clips or [SAMPLE] * args.copies
        files = []
        for i, clip in enumerate(clips):
            files.append(inputs / f"{i:02d}_{clip.name}")
            shutil.copyfile(clip, files[-1])
        times: dict[str, list[float]] = {}
        cpu_times: dict[str, list[float]] = {}
        for r in range(args.rounds):
            order = ["separate", *[f"jobs{j}" for j in args.jobs], *(["ray"] if args.ray else []), "startup"]
            if r % 2:
                order = order[::-1]  # alternate which mode runs first in a round
            for mode in order:
                out = work / mode
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                if mode == "separate":
                    runs = [vqe("--file", f, "-o", out / f.name, "--no-display") for f in files]
                    wall, cpu = sum(w for w, _ in runs), sum(c for _, c in runs)
                elif mode == "ray":  # CPU time: the driver only (the cluster's processes are not its children)
                    wall, cpu = vqe("--file", inputs, "-o", f"{out}/", "--cluster", "ray")
                elif mode == "startup":
                    wall, cpu = vqe("--file", files[0], "--max-frames", "1", "--no-display")
                else:
                    wall, cpu = vqe("--file", inputs, "-o", f"{out}/", "--jobs", mode[4:])
                times.setdefault(mode, []).append(wall)
                cpu_times.setdefault(mode, []).append(cpu)
                print(f"round {r + 1} {mode:9s} {wall:7.2f} s wall {cpu:7.2f} s CPU  (load {os.getloadavg()[0]:.1f})",
                      flush=True)
        batches = [f"jobs{j}" for j in args.jobs] + (["ray"] if args.ray else [])
        # Per batch mode, against the separate runs of the last round (a change to the kernels' sources
        # while the benchmark runs shows here too).
        same = {mode: all(filecmp.cmp(work / "separate" / f.name, work / mode / f.name, shallow=False) for f in files)
                for mode in batches}
        median = {mode: statistics.median(v) for mode, v in times.items()}
        result = {"cores": cores, "cpu": _cpu_name(), "files": [str(c) for c in clips], "rounds": args.rounds,
                  "load_avg_1m_at_end": os.getloadavg()[0], "median_s": {k: round(v, 2) for k, v in median.items()},
                  "all_s": times,
                  "cpu_s_median": {k: round(statistics.median(v), 2) for k, v in cpu_times.items()},
                  "batch_outputs_identical_to_separate_runs": same,
                  "ratio_to_separate": {m: round(median[m] / median["separate"], 3)
                                        for m in median if m in batches}}
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_long(args: argparse.Namespace, work: Path, cores: int) -> None:
    """One long file: whole in one process against in chunks on local workers and on Ray (``--long``)."""
    modes = ["single", *[f"jobs{j}" for j in args.jobs if j > 1], *(["ray"] if args.ray else [])]
    times: dict[str, list[float]] = {}
    load: dict[str, list[float]] = {}
    vqe("--file", args.long, "--max-frames", "2", "--no-display")  # compiles the kernels if their cache is cold
    for r in range(args.rounds):
        for mode in modes if r % 2 == 0 else modes[::-1]:
            out = work / mode
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            if mode == "single":
                wall, _ = vqe("--file", args.long, "-o", out / args.long.name, "--no-display")
            elif mode == "ray":
                wall, _ = vqe("--file", args.long, "-o", f"{out}/", "--cluster", "ray")
            else:
                wall, _ = vqe("--file", args.long, "-o", f"{out}/", "--jobs", mode[4:])
            times.setdefault(mode, []).append(wall)
            load.setdefault(mode, []).append(os.getloadavg()[0])
            print(f"round {r + 1} {mode:7s} {wall:8.2f} s wall  (load {os.getloadavg()[0]:.1f})", flush=True)
    checks = {mode: _compare(work / "single" / args.long.name, work / mode / args.long.name) for mode in modes[1:]}
    median = {mode: statistics.median(v) for mode, v in times.items()}
    result = {"cores": cores, "cpu": _cpu_name(), "file": str(args.long), "rounds": args.rounds,
              "median_s": {k: round(v, 2) for k, v in median.items()}, "all_s": times, "load_avg_1m_after": load,
              "speedup_over_single": {m: round(median["single"] / median[m], 3) for m in modes[1:]},
              "chunked_against_single": checks}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


def _compare(whole: Path, chunked: Path) -> dict:
    """Frame count, timestamps and per-frame mean absolute difference (luma) of two outputs, read side by side."""
    import itertools

    import av
    import numpy as np

    mad, same_pts, frames = [], True, [0, 0]
    with av.open(str(whole)) as a, av.open(str(chunked)) as b:
        for fa, fb in itertools.zip_longest(a.decode(video=0), b.decode(video=0)):
            frames[0] += fa is not None
            frames[1] += fb is not None
            if fa is None or fb is None:
                same_pts = False
                continue
            same_pts &= fa.pts == fb.pts
            ya, yb = (f.to_ndarray(format="gray").astype(np.float32) for f in (fa, fb))
            mad.append(float(np.abs(ya - yb).mean()))
    return {"frames": frames, "same_frames_and_timestamps": same_pts and frames[0] == frames[1],
            "mad_max": round(max(mad), 3), "mad_mean": round(sum(mad) / len(mad), 3)}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


if __name__ == "__main__":
    main()
