#!/usr/bin/env python3
"""Whole-process and per-stage speed of ``vqe --file`` against an ffmpeg filter chain on the same clips.

Both tools decode the same input and write raw ``.y4m`` output to a temporary
folder, so the difference is the processing itself.  The two commands run
in ``--repeat`` alternating rounds (both see the same drift in machine load);
the best wall time counts (the least disturbed run), and the ratio of the
median times is shown beside it.  The ratio is whole process, start-up included
(Python, imports, kernel loading: about 0.4 s, much of a short clip); "without
interpreter start-up" is vqe's own ``--stats`` fps of its best run, measured
from the start of its main function.

    python tools/bench.py                          # colour stage vs. ffmpeg eq, 540p and 720p clips
    python tools/bench.py --stages none --peer null
    python tools/bench.py --clips my.mp4 --markdown table.md
    python tools/bench.py --stages denoise --preset fast            # vs hqdn3d=16
    python tools/bench.py --stages denoise --preset quality --peer fftdnoiz=sigma=20
    python tools/bench.py --stages sharpen                          # vs unsharp
    python tools/bench.py --stages contrast,color                   # vs normalize
    python tools/bench.py --live                   # live preview latency and drops, 720p30, default stages
    python tools/bench.py --live --formats 1080p30,720p60   # also with stabilize and recording
    python tools/bench.py --backend cuda           # kernels and chain on the GPU vs the CPU (tools/bench_backend.py)
    python tools/bench.py --camera                 # a 1080p30 MJPEG camera, live: OpenCV's camera input vs vqe's
    python tools/bench.py --stages denoise --preset fast --against 5bcbf7f --repeat 10   # this tree vs a revision

``--against REV`` runs a ``git archive`` of REV beside this checkout: in each round the old tree, this
one (alternating which goes first) and the peer, and reports both trees' ratio of medians to the peer
and the median of each round's wall-time ratio (this tree / REV), the steadiest figure on a busy
machine.  ``--set`` passes settings to this checkout only, to turn off what changed on purpose since
REV so that both trees do the same work.  Run it with the bytecode cache on (a normal install has it):
with ``PYTHONDONTWRITEBYTECODE`` set, every run compiles each module it imports and the tree that
imports more modules pays for it.

``--live`` plays clips of each ``--formats`` (made from ``--source``, by default the bundled sample)
with ``--file CLIP --live`` and the preview window open (SDL's dummy video driver, so no screen is
needed), with and without recording (and, for the default chain, the stabilizer), and reports
capture-to-display latency, rates and drops per place from ``--stats``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Sequence

from qualitylib import MEDIA, ROOT, ffmpeg_exe, vqe_command

DEFAULT_CLIPS = [ROOT / "tools" / "samples" / "flower_540p.mp4", MEDIA / "noisy_lowlight_alley_720p.mp4"]

#: The same adjustment for both tools: vqe's parameters and ffmpeg's equivalent filter.
COLOR_SETTINGS = ("color.contrast=1.2", "color.saturation=1.3", "color.gamma=1.1", "color.brightness=0.02",
                  "color.white_balance=off")  # eq has no white balance: compare like with like
PEERS = {"color": "eq=contrast=1.2:saturation=1.3:gamma=1.1:brightness=0.02", "none": "null",
         # Denoise: the fast preset's peer, the strong hqdn3d (``--peer fftdnoiz=sigma=20`` for the quality
         # preset's); sharpen: ffmpeg's unsharp at its defaults.
         "denoise": "hqdn3d=16", "sharpen": "unsharp",
         # Automatic levels and white balance against ffmpeg's automatic per-channel stretch.
         "contrast,color": "normalize=smoothing=10,format=yuv420p"}  # (normalize works in RGB)


def timed(cmd: list[str], cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"bench: command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr.strip()[-2000:]}")
    return wall


def count_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.demux(video=0) if _.size)


def commands(clip: Path, out: Path, stages: str, peer: str, preset: str | None,
             sets: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """The vqe command (``--set`` for each of ``sets``) and the ffmpeg peer's, both writing ``out``."""
    settings = [*(COLOR_SETTINGS if stages == "color" else ()), *sets]
    vqe = vqe_command("--file", str(clip), "-o", str(out), "--no-display", "--backend", "cpu", "--stages", stages,
                      "--no-progress", *(["--preset", preset] if preset else []),
                      *(a for s in settings for a in ("--set", s)))
    ff = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-an", "-vf", peer, "-f", "yuv4mpegpipe",
          "-strict", "-1", str(out)]
    return vqe, ff


def bench_clip(clip: Path, stages: str, peer: str, repeat: int, work: Path, preset: str | None = None) -> dict:
    frames = count_frames(clip)
    stats = work / "stats.json"
    vqe, ff = commands(clip, work / "out.y4m", stages, peer, preset)
    vqe += ["--stats", str(stats)]
    timed(vqe)  # warm-up: compiles or loads the cached kernels, fills the page cache
    # Rounds of one run each, not back-to-back repeats: both tools see the same drift in machine load.
    vqe_s, ff_s, best = [], [], None
    for _ in range(max(repeat, 1)):
        vqe_s.append(timed(vqe))
        if vqe_s[-1] == min(vqe_s):
            best = json.loads(stats.read_text())  # vqe's own figures from its best run
        ff_s.append(timed(ff))
    return {"clip": clip.name, "frames": frames, "vqe_fps": frames / min(vqe_s), "peer_fps": frames / min(ff_s),
            "median_ratio": statistics.median(ff_s) / statistics.median(vqe_s),
            "run_fps": best["fps"], "stages": best["stages"], "io": best["io"]}


def bench_against(clip: Path, stages: str, peer: str, repeat: int, work: Path, old_tree: Path, preset: str | None,
                  sets: list[str]) -> dict:
    """Whole-process time of ``clip`` through REV's tree and this one, alternating, with the peer each round."""
    old, ff = commands(clip, work / "out.y4m", stages, peer, preset)
    today, _ = commands(clip, work / "out.y4m", stages, peer, preset, sets)
    # Each tree runs from its own folder: ``python -m realtime`` takes the package from there first.
    trees = {"before": (old_tree, old), "today": (ROOT, today)}
    for tree, cmd in trees.values():
        timed(cmd, tree)  # warm-up: compiles or loads each tree's kernels, writes its bytecode cache
    times: dict[str, list[float]] = {"before": [], "today": [], "peer": []}
    for i in range(max(repeat, 1)):
        for name in (["before", "today"] if i % 2 == 0 else ["today", "before"]):
            times[name].append(timed(trees[name][1], trees[name][0]))
        times["peer"].append(timed(ff))
    peer_s = statistics.median(times["peer"])
    return {"clip": clip.name, "frames": count_frames(clip),
            "before": peer_s / statistics.median(times["before"]), "today": peer_s / statistics.median(times["today"]),
            "paired": statistics.median(t / b for b, t in zip(times["before"], times["today"]))}


def against_table(rows: list[dict], rev: str, stages: str, peer: str, repeat: int) -> str:
    head = (f"| clip | frames | {rev}: ratio to {peer.split('=')[0]} | this tree | change | this tree / {rev}, "
            f"wall per round (median of {repeat}) |\n|---|---|---|---|---|---|\n")
    return head + "\n".join(f"| {r['clip']} | {r['frames']} | {r['before']:.3f} | {r['today']:.3f} | "
                            f"{r['today'] / r['before'] - 1:+.1%} | {r['paired']:.3f} |" for r in rows)


def table(rows: list[dict], stages: str, peer: str) -> str:
    head = (f"| clip | frames | vqe --stages {stages} fps | ffmpeg -vf {peer.split('=')[0]} fps | ratio "
            f"| ratio of medians | vqe fps without interpreter start-up | per-stage ms (mean / p95) | decode ms "
            f"| encode ms |\n|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        per_stage = ", ".join(f"{k} {v['mean_ms']:.2f} / {v['p95_ms']:.2f}" for k, v in r["stages"].items()) or "-"
        lines.append(f"| {r['clip']} | {r['frames']} | {r['vqe_fps']:.1f} | {r['peer_fps']:.1f} | "
                     f"{r['vqe_fps'] / r['peer_fps']:.2f}x | {r['median_ratio']:.2f}x | {r['run_fps']:.1f} | "
                     f"{per_stage} | "
                     f"{r['io']['decode']['mean_ms']:.2f} | "
                     f"{r['io'].get('encode', {}).get('mean_ms', 0):.2f} |")
    return head + "\n".join(lines)


#: ``--live`` formats: name -> (width, height, frame rate as ffmpeg takes it).
LIVE_FORMATS = {"720p30": (1280, 720, "30000/1001"), "1080p30": (1920, 1080, "30000/1001"),
                "720p60": (1280, 720, "60000/1001")}
#: The default chain with the stabilizer, as a user adds it (``--stages``).
STABILIZED = "denoise,stabilize,contrast,color,sharpen"


def make_live_clip(work: Path, fmt: str, source: Path, seconds: float = 12.0) -> Path:
    """An H.264 clip of ``fmt`` (see :data:`LIVE_FORMATS`) made from ``source``, looped to ``seconds``."""
    width, height, rate = LIVE_FORMATS[fmt]
    clip = work / f"live_{source.stem}_{fmt}.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source),
                    "-t", str(seconds), "-vf", f"scale={width}:{height}", "-r", rate, "-an", "-c:v", "libx264",
                    "-preset", "veryfast", "-crf", "18", str(clip)], check=True)
    return clip


def bench_live(work: Path, stages: str | None, preset: str | None, formats: list[str], source: Path,
               governor: bool = True) -> str:
    """Each format played live (``--file CLIP --live``, the preview open on SDL's dummy driver): the
    chain alone, with the stabilizer, with a recording, with both; a table row per run."""
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")
    rows = []
    for fmt in formats:
        clip = make_live_clip(work, fmt, source)
        runs = [("preview", stages), ("preview + recording", stages)]
        if stages is None:  # the default chain: also with the stabilizer
            runs[1:1] = [("stabilize", STABILIZED)]
            runs.append(("stabilize + recording", STABILIZED))
        for label, chain in runs:
            stats = work / "live.json"
            cmd = vqe_command("--file", str(clip), "--live", "--backend", "cpu", "--stats", str(stats))
            cmd += ["-o", str(work / "rec.mp4")] if "recording" in label else []
            cmd += ["--stages", chain] if chain else []
            cmd += ["--preset", preset] if preset else []
            cmd += [] if governor else ["--no-governor"]
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if r.returncode != 0:
                sys.exit(f"bench: live run failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
            d = json.loads(stats.read_text())
            stage_ms = ", ".join(f"{k} {v['mean_ms']:.1f}" for k, v in d["stages"].items())
            drops = d["drops"]
            steps = ", ".join(f"{s['name']} {s['active_s']:.1f} s" for s in d.get("governor", {}).get("steps", ())
                              if s["taken"]) or ("none" if governor else "off")
            rows.append(f"| {fmt} {source.stem} | {label} | {d['startup_s']:.2f} | {d['capture_fps']:.1f} | "
                        f"{d['processed_fps']:.1f} | "
                        f"{d['displayed_fps']:.1f} | {d['latency_ms']['mean']:.0f} / {d['latency_ms']['p95']:.0f} | "
                        f"{drops['capture']} / {drops['display']} / {drops['recorder']} | {stage_ms} | {steps} |")
    head = ("| source (--file --live) | run | start-up s | capture fps | processed fps | shown fps "
            "| latency mean / p95 ms | drops capture / display / recorder | stage ms (mean) "
            "| governor steps (time in force) |\n|---|---|---|---|---|---|---|---|---|---|\n")
    return head + "\n".join(rows)


class OpenCvMjpegCamera:
    """An MJPEG camera as OpenCV's V4L2 input reads it (each JPEG decoded to BGR by ``imdecode``),
    fed from a recorded MJPEG file: the peer of :class:`~realtime.sources.camera.V4l2Camera`."""

    def __init__(self, path: Path) -> None:
        import av

        from realtime.sources.files import video_info

        self._container = av.open(str(path))
        self._packets = (p for p in self._container.demux(video=0) if p.size)
        self.info = video_info(self._container, "camera (OpenCV)")
        self._index = 0

    def read_into(self, slot) -> bool:
        import cv2
        import numpy as np

        packet = next(self._packets, None)
        if packet is None:
            return False
        image = cv2.imdecode(np.frombuffer(bytes(packet), np.uint8), cv2.IMREAD_COLOR)
        slot.ensure_shape(image.shape)[...] = image
        slot.index, slot.pts_s, slot.capture_s = self._index, self._index / float(self.info.fps), time.monotonic()
        self._index += 1
        return True

    def close(self) -> None:
        self._container.close()


def bench_camera(work: Path, source: Path, frames: int = 300) -> str:
    """A 1080p30 MJPEG camera (what most USB cameras send at their full rate) enhanced live with the
    default chain and recorded, in this process: read as OpenCV's V4L2 input reads it (JPEG to BGR,
    the chain and the encoder's conversion on BGR) and as vqe's :class:`V4l2Camera` does (libavcodec,
    repacked to I420 on the capture thread, planar to the encoder).  Both play the same JPEG frames,
    recorded from ``source`` (4:2:2, as cameras send them), at their own rate; each runs twice, the
    second counts (the first loads its kernels).  CPU is the whole process's (every thread)."""
    import resource

    from realtime import build_settings
    from realtime.run.session import Session
    from realtime.sinks.live_preset import live_preset
    from realtime.sinks.writers import OutputOptions
    from realtime.sources.camera import V4l2Camera
    from realtime.sources.files import PacedSource
    from realtime.sources.streams import StreamLostError

    clip = work / "camera.avi"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source), "-frames:v",
                    str(frames), "-vf", "scale=1920:1080", "-r", "30", "-an", "-c:v", "mjpeg", "-pix_fmt", "yuvj422p",
                    "-q:v", "4", str(clip)], check=True)

    def camera(kind: str):
        if kind == "OpenCV":
            return OpenCvMjpegCamera(clip)
        cam = V4l2Camera(str(clip), demuxer=None)
        cam.retries = 0
        return cam

    options = OutputOptions(preset=live_preset(1920, 1080, Fraction(30)))
    rows = []
    for kind in ("OpenCV", "vqe", "OpenCV", "vqe"):
        source = camera(kind)
        session = Session(PacedSource(source), build_settings(backend="cpu"), live=True, display=False,
                          output=work / "rec.mp4", options=options)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        try:
            session.run()
        except StreamLostError:  # the end of the recorded camera
            pass
        finally:
            source.close()
        stats = session.stats
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        d = stats.as_dict(live=True)
        # Per frame the camera sent: a run that drops frames saved their processing, not their capture.
        rows.append((kind, d["frames_as"], 1e3 * cpu_s / max(d["captured_frames"], 1), d["processed_fps"],
                     d["drops"]["capture"], d["drops"]["recorder"], d["latency_ms"]["p95"]))
    head = ("| 1080p30 MJPEG camera, default chain + recording | frames as | CPU ms a camera frame (all threads) "
            "| processed fps | drops capture / recorder | latency p95 ms |\n|---|---|---|---|---|---|\n")
    lines = [f"| {k} | {layout} | {cpu:.1f} | {fps:.1f} | {dc} / {dr} | {p95:.0f} |"
             for k, layout, cpu, fps, dc, dr, p95 in rows[2:]]
    return head + "\n".join(lines) + f"\n\nCPU a frame, OpenCV's / vqe's: {rows[2][2] / rows[3][2]:.2f}x"


def main() -> None:
    if "--backend" in sys.argv[1:]:
        import bench_backend

        bench_backend.main(sys.argv[1:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", nargs="+", type=Path, default=DEFAULT_CLIPS)
    ap.add_argument("--stages", help="vqe stage chain (default: color; with --live, the preset's chain)")
    ap.add_argument("--peer", help="ffmpeg -vf filter chain (default: the stage chain's equivalent)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    ap.add_argument("--live", action="store_true", help="measure live preview latency and drops instead")
    ap.add_argument("--preset", help="vqe preset (default: the default preset)")
    ap.add_argument("--formats", default="720p30", help=f"with --live: comma-separated, of {', '.join(LIVE_FORMATS)}")
    ap.add_argument("--source", type=Path, default=DEFAULT_CLIPS[0],
                    help="with --live: the clip each format is made from (scaled, looped to 12 s)")
    ap.add_argument("--no-governor", action="store_true", help="with --live: quality fixed, frames drop instead")
    ap.add_argument("--camera", action="store_true",
                    help="a 1080p30 MJPEG camera enhanced and recorded live: OpenCV's camera input vs vqe's")
    ap.add_argument("--against", metavar="REV", help="also time a git revision's tree, same rounds (see above)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="with --against: a vqe setting for this checkout only")
    args = ap.parse_args()
    if args.set and not args.against:
        sys.exit("bench: --set applies to this checkout beside --against REV; give --against or drop --set")
    if args.camera:
        with tempfile.TemporaryDirectory() as tmp:
            print(bench_camera(Path(tmp), args.source))
        return
    if args.live:
        formats = args.formats.split(",")
        if unknown := [f for f in formats if f not in LIVE_FORMATS]:
            sys.exit(f"bench: unknown --formats {', '.join(unknown)}: use {', '.join(LIVE_FORMATS)}")
        with tempfile.TemporaryDirectory() as tmp:
            text = bench_live(Path(tmp), args.stages, args.preset, formats, args.source, not args.no_governor)
        print(text)
        if args.markdown:
            args.markdown.write_text(text + "\n")
        return
    args.stages = args.stages or "color"
    peer = args.peer or PEERS.get(args.stages)
    if peer is None:
        sys.exit(f"bench: no default ffmpeg peer for --stages {args.stages}; give --peer FILTER")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = None
        if args.against:
            from identity import export_rev

            (old := Path(tmp, "old").resolve()).mkdir()
            try:
                old_tree = export_rev(args.against, old)
            except subprocess.CalledProcessError:
                sys.exit(f"bench: --against {args.against}: not a revision of this repository (git log shows them)")
        for clip in args.clips:
            if not clip.exists():
                print(f"bench: skipping {clip} (not found)", file=sys.stderr)
                continue
            if old_tree is not None:
                rows.append(bench_against(clip.resolve(), args.stages, peer, args.repeat, Path(tmp), old_tree,
                                          args.preset, args.set))
            else:
                rows.append(bench_clip(clip, args.stages, peer, args.repeat, Path(tmp), args.preset))
    text = (against_table(rows, args.against, args.stages, peer, args.repeat) if old_tree is not None
            else table(rows, args.stages, peer))
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
