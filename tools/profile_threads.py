"""Where each thread's CPU time goes in one vqe run: capture, processing, recorder, and the native threads.

Runs ``vqe`` in this process with the arguments given and reads every thread's CPU time
(``/proc/self/task/*/stat``, Linux) a few times a second.  vqe's own threads are named
(``vqe-capture``, ``vqe-processing``, ``vqe-recorder``, ...); the threads that native code starts
(the kernels' TBB or OpenMP workers, FFmpeg's decoder and x264's encoder threads) have no
Python name and are listed by their thread id, each with when it first ran.  The table gives
each thread's CPU seconds, its share of one core over the run, and its milliseconds per
processed frame, beside the stage times of ``--stats``.

Examples
--------
::

    python tools/profile_threads.py -- --file clip1080.mp4 --live --no-display -o /dev/shm/rec.mp4
    python tools/profile_threads.py --json prof.json -- --file clip.mp4 --live --no-display --stages stabilize
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Seconds between two readings of the threads' CPU times.
PERIOD_S = 0.2
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(tid: int) -> float | None:
    """User + system CPU seconds of thread ``tid`` of this process; ``None`` once it has ended."""
    try:
        stat = Path(f"/proc/self/task/{tid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after the name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) * TICK_S  # utime, stime (fields 14 and 15 of stat)


def _comm(tid: int) -> str:
    try:
        return Path(f"/proc/self/task/{tid}/comm").read_text().strip()
    except OSError:
        return "?"


class Sampler:
    """Reads every thread's CPU time every :data:`PERIOD_S` until stopped; names vqe's threads."""

    def __init__(self) -> None:
        self.cpu: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.first_seen: dict[int, float] = {}
        #: The kernel's name of each thread: native libraries may name theirs (FFmpeg's "av:..." threads).
        self.comms: dict[int, str] = {}
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="profiler", daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.wall_s = time.monotonic() - self._start

    def _run(self) -> None:
        while not self._stop.wait(PERIOD_S):
            self._sample()

    def _sample(self) -> None:
        for t in threading.enumerate():
            if t.native_id is not None:
                self.names.setdefault(t.native_id, "main" if t is threading.main_thread() else t.name)
        for entry in os.listdir("/proc/self/task"):
            tid = int(entry)
            seconds = cpu_seconds(tid)
            if seconds is not None:
                self.cpu[tid] = seconds
                if tid not in self.first_seen:
                    self.first_seen[tid] = time.monotonic() - self._start
                    self.comms[tid] = _comm(tid)


def report(sampler: Sampler, frames: int, stages: dict[str, float]) -> dict:
    rows = []
    for tid, seconds in sorted(sampler.cpu.items(), key=lambda kv: -kv[1]):
        if tid in sampler.names and sampler.names[tid] == "profiler":
            continue
        rows.append({"thread": sampler.names.get(tid, f"native {tid} {sampler.comms.get(tid, '')}"), "first_seen_s": round(sampler.first_seen[tid], 2),
                     "cpu_s": round(seconds, 3), "core_share": round(seconds / sampler.wall_s, 3),
                     "ms_per_frame": round(1e3 * seconds / frames, 2) if frames else None})
    total = sum(r["cpu_s"] for r in rows)
    return {"wall_s": round(sampler.wall_s, 2), "frames": frames, "cpu_s": round(total, 2),
            "cores_busy": round(total / sampler.wall_s, 2), "threads": rows, "stage_ms": stages}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="also write the table here")
    parser.add_argument("--min-share", type=float, default=0.005,
                        help="leave out threads busy less than this share of one core")
    parser.add_argument("vqe_args", nargs=argparse.REMAINDER, help="-- then vqe's arguments")
    args = parser.parse_args(argv)
    vqe_args = [a for a in args.vqe_args if a != "--"] if args.vqe_args[:1] == ["--"] else list(args.vqe_args)
    from realtime.run.process import tune_process

    tune_process()  # as the vqe command does, before NumPy and the kernels load
    from realtime.cli import main as vqe

    with tempfile.TemporaryDirectory() as tmp:
        stats_path = Path(tmp) / "stats.json"
        if "--stats" not in vqe_args:
            vqe_args += ["--stats", str(stats_path)]
        else:
            stats_path = Path(vqe_args[vqe_args.index("--stats") + 1])
        with Sampler() as sampler:
            code = vqe(vqe_args)
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    stages = {name: s.get("mean_ms") for name, s in stats.get("stages", {}).items()}
    result = report(sampler, int(stats.get("frames", 0)), stages)
    print(f"\n{result['frames']} frames in {result['wall_s']} s; CPU {result['cpu_s']} s "
          f"({result['cores_busy']} cores busy on average)")
    print(f"{'thread':24s} {'from s':>7s} {'CPU s':>8s} {'cores':>6s} {'ms/frame':>9s}")
    for r in result["threads"]:
        if r["core_share"] >= args.min_share:
            per = f"{r['ms_per_frame']:9.2f}" if r["ms_per_frame"] is not None else f"{'-':>9s}"
            print(f"{r['thread'][:24]:24s} {r['first_seen_s']:7.2f} {r['cpu_s']:8.2f} {r['core_share']:6.2f} {per}")
    if stages:
        print("stages, mean ms a frame: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items() if v is not None))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
