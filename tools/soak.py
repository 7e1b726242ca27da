#!/usr/bin/env python3
"""Soak test of an unattended live recording: memory, latency, frame rate and drops over a long run.

Serves a looping 1280x720 30 fps stream on 127.0.0.1 (ffmpeg from imageio-ffmpeg,
MPEG-TS over TCP, made from a real clip), records it with
``vqe --stream tcp://127.0.0.1:PORT -o rec.mp4 --no-display --stats stats.json --stats-every S``
and the default chain, and every ``--interval`` seconds samples vqe's resident
memory (``VmRSS`` in ``/proc/PID/status``) and its periodic stats: frame rates,
latency p95 of the last ~10 s, capture and recorder drops.  At the end it stops
vqe with SIGINT (so the recording is finalized), checks that the recording
decodes, and prints a verdict against the targets:

- memory slope after the first minute (least-squares fit) below 1 MB per 10 minutes;
- no drops after the first minute (720p30 with the default chain must keep up);
- latency p95 steady: at the end at most 1.5 times (plus 5 ms) what it was at the start.

Output, in ``--out`` (default ``soak-YYYYmmdd-HHMMSS``): ``soak.csv`` (one row per
sample, written as it goes), ``soak.png`` (RSS with its fitted slope, latency
p95, fps, drops per minute against minutes), ``rec.mp4``, ``stats.json`` and
``vqe.log``.  The exit code is 0 on PASS, 1 on FAIL.

Usage
-----
::

    python tools/soak.py                              # an hour, default chain
    python tools/soak.py --minutes 3 --out /tmp/soak  # a quick check that it all works
    python tools/soak.py --minutes 600 --stages denoise,sharpen --set sharpen.amount=1.2
    python tools/soak.py --clip my_720p.mp4 --size 1920x1080 --fps 25

``VQE_PYTHON`` picks the interpreter that runs vqe (see ``tools/qualitylib.py``).
The first minute is left out of the slope and the drop rate: it holds the
start-up (imports, kernel loading, the encoder's first allocations) and the
burst of frames that queued while the kernels warmed up.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from realtime.errors import EXIT_INTERRUPTED

from qualitylib import MEDIA, ROOT, ffmpeg_exe, vqe_command

DEFAULT_CLIPS = (MEDIA / "noisy_lowlight_alley_720p.mp4", ROOT / "tools" / "samples" / "flower_540p.mp4")

#: Samples before this are start-up: left out of the memory slope and the drop rate.
SETTLE_S = 60.0
#: Targets of the verdict.
MAX_SLOPE_MB_PER_10MIN = 1.0
MAX_DROPS_PER_MIN = 0.0
LATENCY_GROWTH = 1.5  # end p95 may be this many times the start p95 ...
LATENCY_SLACK_MS = 5.0  # ... plus this much (scheduling noise on a busy machine)
#: Samples averaged (median) for "latency at the start" and "at the end".
EDGE_SAMPLES = 3


@dataclasses.dataclass
class Sample:
    """One row of the soak log; rates and drop rates are over the interval since the previous row."""

    t_s: float
    rss_mb: float
    #: VmRSS split: heap and other private memory (what a leak grows) ...
    rss_anon_mb: float = math.nan
    #: ... and pages of mapped files (libraries paged in as code paths first run).
    rss_file_mb: float = math.nan
    frames: int = 0
    captured: int = 0
    fps_in: float = math.nan
    fps_out: float = math.nan
    latency_p95_ms: float = math.nan
    drops_capture: int = 0
    drops_recorder: int = 0
    drops_per_min: float = math.nan
    stats_wall_s: float = math.nan


# --- the source stream and vqe -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(cmd: list[str], log: Path) -> subprocess.Popen:
    """Start ``cmd`` with its output in ``log``, in a session of its own: a Ctrl-C at the terminal reaches
    only the soak, which then stops vqe with one SIGINT (a second one could cut its clean-up short)."""
    with open(log, "w") as f:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)


def serve_loop(clip: Path, port: int, size: tuple[int, int], fps: float, log: Path) -> subprocess.Popen:
    """An ffmpeg process that streams ``clip`` looped forever, in real time, to the first client on ``port``.

    The clip is encoded once, before the run, and then sent as it is (``-c copy``): a camera
    encodes on its own hardware, so the sender must not take the cores vqe is measured on.
    """
    width, height = size
    encoded = log.with_name("stream_source.ts")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip), "-an",
                    "-vf", f"scale={width}:{height},fps={fps}", "-c:v", "libx264", "-preset", "veryfast",
                    "-tune", "zerolatency", "-g", str(round(fps)), "-f", "mpegts", str(encoded)], check=True)
    return spawn([ffmpeg_exe(), "-v", "error", "-stream_loop", "-1", "-re", "-i", str(encoded), "-c", "copy",
                  "-f", "mpegts", f"tcp://127.0.0.1:{port}?listen=1"], log)


def wait_listening(port: int, server: subprocess.Popen, log: Path, timeout_s: float = 10.0) -> None:
    """Wait until something listens on 127.0.0.1:``port`` (read from /proc: a test connection would be
    the server's one client)."""
    local = f"0100007F:{port:04X}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"soak: the stream server exited: {log.read_text(errors='replace').strip()}")
        with open("/proc/net/tcp") as f:
            if any(line.split()[1] == local and line.split()[3] == "0A" for line in f.readlines()[1:]):
                return
        time.sleep(0.05)
    sys.exit(f"soak: nothing listens on port {port} after {timeout_s:g} s")


def start_vqe(port: int, out: Path, stats_every_s: float, passthrough: list[str]) -> subprocess.Popen:
    """vqe recording the stream headless, its log in ``out/vqe.log``."""
    cmd = vqe_command("--stream", f"tcp://127.0.0.1:{port}", "-o", str(out / "rec.mp4"), "--no-display",
                      "--stats", str(out / "stats.json"), "--stats-every", f"{stats_every_s:g}", *passthrough)
    print("soak: " + " ".join(cmd), flush=True)
    return spawn(cmd, out / "vqe.log")


def stop(proc: subprocess.Popen, sig: int, timeout_s: float) -> int | None:
    """Send ``sig`` and wait; kill after ``timeout_s``.  Returns the exit code (None if it had to be killed)."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


# --- sampling ------------------------------------------------------------------------------------


def memory_mb(pid: int) -> dict[str, float]:
    """``VmRSS``, ``RssAnon`` and ``RssFile`` of ``pid`` in MB (NaN once it has exited)."""
    found = dict.fromkeys(("VmRSS", "RssAnon", "RssFile"), math.nan)
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in found:
                    found[key] = int(value.split()[0]) / 1024  # kB
    except OSError:
        pass
    return found


def read_stats(path: Path) -> dict | None:
    """The latest periodic stats, or None before the first (vqe replaces the file atomically)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def take_sample(t_s: float, pid: int, stats: dict | None, previous: Sample | None) -> Sample:
    """A row from vqe's memory now and its latest stats; rates over the stats' own clock since ``previous``."""
    mem = memory_mb(pid)
    s = Sample(t_s, mem["VmRSS"], mem["RssAnon"], mem["RssFile"])
    if stats is None:
        return s
    drops = stats.get("drops", {})
    s.frames, s.captured = stats["frames"], stats.get("captured_frames", 0)
    s.drops_capture, s.drops_recorder = drops.get("capture", 0), drops.get("recorder", 0)
    s.latency_p95_ms = stats.get("latency_ms", {}).get("p95_recent", math.nan)
    s.stats_wall_s = stats["wall_s"]
    if previous is not None and s.stats_wall_s > previous.stats_wall_s:  # not the same snapshot again
        dt = s.stats_wall_s - previous.stats_wall_s
        s.fps_in = (s.captured - previous.captured) / dt
        s.fps_out = (s.frames - previous.frames) / dt
        new_drops = s.drops_capture + s.drops_recorder - previous.drops_capture - previous.drops_recorder
        s.drops_per_min = 60 * new_drops / dt
    return s


class CsvLog:
    """``soak.csv``, a row per sample, flushed as it goes (a cut-short soak keeps its data)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "w", newline="")
        self._writer = csv.DictWriter(self._file, [f.name for f in dataclasses.fields(Sample)])
        self._writer.writeheader()

    def add(self, sample: Sample) -> None:
        self._writer.writerow({k: round(v, 3) if isinstance(v, float) else v
                               for k, v in dataclasses.asdict(sample).items()})
        self._file.flush()

    def close(self) -> None:
        self._file.close()


# --- verdict -------------------------------------------------------------------------------------


def settled(samples: list[Sample]) -> list[Sample]:
    """The samples after the first minute."""
    return [s for s in samples if s.t_s >= SETTLE_S]


def memory_fit(samples: list[Sample], column: str = "rss_mb") -> tuple[float, float] | None:
    """Least-squares line of memory (MB) against time (s) after the first minute: ``(slope, intercept)``."""
    pts = [(s.t_s, getattr(s, column)) for s in settled(samples) if math.isfinite(getattr(s, column))]
    if len(pts) < 3:
        return None
    t, rss = np.array(pts).T
    slope, intercept = np.polyfit(t, rss, 1)
    return float(slope), float(intercept)


def slope_per_10min(samples: list[Sample], column: str = "rss_mb") -> float:
    """The memory slope after the first minute in MB per 10 minutes (NaN when too short to tell)."""
    fit = memory_fit(samples, column)
    return fit[0] * 600 if fit else math.nan


def edge_latency(samples: list[Sample]) -> tuple[float, float]:
    """Median latency p95 of the first and the last few settled samples (ms)."""
    lat = [s.latency_p95_ms for s in settled(samples) if math.isfinite(s.latency_p95_ms)]
    if not lat:
        return math.nan, math.nan
    return float(np.median(lat[:EDGE_SAMPLES])), float(np.median(lat[-EDGE_SAMPLES:]))


def settled_drops_per_min(samples: list[Sample]) -> float:
    """Drops (capture + recorder) per minute between the first settled sample and the last one."""
    rows = [s for s in settled(samples) if math.isfinite(s.stats_wall_s)]
    if len(rows) < 2 or rows[-1].stats_wall_s <= rows[0].stats_wall_s:
        return math.nan
    drops = (rows[-1].drops_capture + rows[-1].drops_recorder) - (rows[0].drops_capture + rows[0].drops_recorder)
    return 60 * drops / (rows[-1].stats_wall_s - rows[0].stats_wall_s)


def verdict(samples: list[Sample], recording_ok: bool, vqe_ok: bool) -> tuple[list[str], bool]:
    """The report lines and whether every target was met."""
    slope, anon, file = (slope_per_10min(samples, c) for c in ("rss_mb", "rss_anon_mb", "rss_file_mb"))
    lat_start, lat_end = edge_latency(samples)
    per_min = settled_drops_per_min(samples)
    last = samples[-1] if samples else Sample(0.0, math.nan)
    checks = {
        "memory": slope < MAX_SLOPE_MB_PER_10MIN,
        "drops": per_min <= MAX_DROPS_PER_MIN,
        "latency": lat_end <= LATENCY_GROWTH * lat_start + LATENCY_SLACK_MS,
        "recording": recording_ok,
        "vqe": vqe_ok,
    }
    ok = all(checks.values())  # NaN (too short to tell) compares False: FAIL
    mark = {k: "ok" if v else "FAIL" for k, v in checks.items()}
    first = samples[0].rss_mb if samples else math.nan
    lines = [
        f"memory: RSS {first:.1f} -> {last.rss_mb:.1f} MB; slope after the first minute "
        f"{slope:+.2f} MB / 10 min (target < {MAX_SLOPE_MB_PER_10MIN:g})  [{mark['memory']}]",
        f"  of which private (RssAnon: heap, buffers) {anon:+.2f}, file-backed (RssFile: libraries paging in) "
        f"{file:+.2f} MB / 10 min",
        f"latency p95 (last ~10 s): {lat_start:.1f} ms at the start, {lat_end:.1f} ms at the end "
        f"(target <= {LATENCY_GROWTH:g} x start + {LATENCY_SLACK_MS:g} ms)  [{mark['latency']}]",
        f"drops after the first minute: {per_min:.2f} per minute (target {MAX_DROPS_PER_MIN:g}); in all "
        f"capture {last.drops_capture}, recorder {last.drops_recorder}  [{mark['drops']}]",
        f"frames: {last.captured} captured, {last.frames} processed in {last.stats_wall_s:.0f} s",
        f"verdict: {'PASS' if ok else 'FAIL'}",
    ]
    return lines, ok


def check_recording(path: Path) -> tuple[bool, str]:
    """Whether the recording decodes end to end without an error (ffmpeg to the null muxer), and a summary."""
    import av

    if not path.is_file():
        return False, f"{path} was not written"
    r = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
                       capture_output=True, text=True)
    errors = r.stderr.strip()
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = sum(1 for p in c.demux(stream) if p.size)
        seconds = float(stream.duration * stream.time_base) if stream.duration else math.nan
    ok = r.returncode == 0 and not errors and frames > 0
    detail = f"{frames} frames, {seconds:.1f} s" + ("" if ok else f"; decode errors: {errors[-500:] or r.returncode}")
    return ok, detail


# --- plot ----------------------------------------------------------------------------------------

WHITE, BLACK, GREY = (255, 255, 255), (40, 40, 40), (225, 225, 225)
BLUE, ORANGE, GREEN, RED = (180, 100, 30), (20, 120, 240), (60, 160, 60), (40, 40, 200)  # BGR
FONT = cv2.FONT_HERSHEY_SIMPLEX


def nice_ticks(lo: float, hi: float, count: int = 5) -> np.ndarray:
    """About ``count`` round tick values (steps of 1, 2 or 5 times a power of ten) covering ``lo..hi``."""
    if not hi > lo:  # a flat line: give it a range
        hi = lo + max(1.0, abs(lo) * 0.01)
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return np.arange(math.floor(lo / step) * step, hi + step * 0.999, step)


def text(img: np.ndarray, s: str, org: tuple[int, int], scale: float = 0.45, color=BLACK, anchor: str = "l") -> None:
    """Text anchored left, centred or right ("l", "c", "r") at ``org`` (its baseline)."""
    (w, _), _ = cv2.getTextSize(s, FONT, scale, 1)
    x = org[0] - {"l": 0, "c": w // 2, "r": w}[anchor]
    cv2.putText(img, s, (x, org[1]), FONT, scale, color, 1, cv2.LINE_AA)


def panel(img: np.ndarray, box: tuple[int, int, int, int], x: np.ndarray, series: list[tuple[str, np.ndarray, tuple]],
          title: str, ylabel: str, from_zero: bool = True) -> None:
    """One chart in ``box`` (left, top, right, bottom): axes, grid, tick labels, lines and a legend.

    ``from_zero=False`` fits the y axis to the data (a slow drift of a large value stays visible).
    """
    left, top, right, bottom = box
    ys = np.concatenate([y[np.isfinite(y)] for _, y, _ in series] + [np.zeros(0)])
    ylo, yhi = (float(ys.min()), float(ys.max())) if ys.size else (0.0, 1.0)
    yticks = nice_ticks(min(ylo, 0.0) if from_zero else ylo, yhi)
    xticks = nice_ticks(0.0, float(x.max()) if x.size else 1.0)
    y0, y1, x0, x1 = yticks[0], yticks[-1], xticks[0], xticks[-1]

    def px(xv, yv):
        return (np.round(left + (xv - x0) / (x1 - x0) * (right - left)).astype(np.int32),
                np.round(bottom - (yv - y0) / (y1 - y0) * (bottom - top)).astype(np.int32))

    for v in yticks:
        _, py = px(x0, v)
        cv2.line(img, (left, int(py)), (right, int(py)), GREY, 1)
        text(img, f"{v:g}", (left - 6, int(py) + 4), anchor="r")
    for v in xticks:
        qx, _ = px(v, y0)
        cv2.line(img, (int(qx), top), (int(qx), bottom), GREY, 1)
        text(img, f"{v:g}", (int(qx), bottom + 16), anchor="c")
    cv2.rectangle(img, (left, top), (right, bottom), BLACK, 1)
    text(img, title, (left, top - 8), 0.55)
    text(img, "minutes", ((left + right) // 2, bottom + 34), anchor="c")
    label_img = np.full((20, bottom - top), 255, np.uint8)  # the y label, written sideways
    text(label_img, ylabel, ((bottom - top) // 2, 14), color=0, anchor="c")
    rotated = cv2.rotate(label_img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    region = img[top:bottom, left - 80:left - 60]
    region[rotated < 128] = BLACK
    for _, y, color in series:
        ok = np.isfinite(y)
        if ok.any():
            qx, qy = px(x[ok], y[ok])
            cv2.polylines(img, [np.stack([qx, qy], axis=1)], False, color, 2, cv2.LINE_AA)
    legend(img, right, top - 8, series)


def legend(img: np.ndarray, right: int, baseline: int, series: list[tuple[str, np.ndarray, tuple]]) -> None:
    """Line samples and names in a row ending at ``right``, on the title's line (never over the data)."""
    x = right
    for name, _, color in reversed(series):
        (w, _), _ = cv2.getTextSize(name, FONT, 0.45, 1)
        x -= w
        text(img, name, (x, baseline))
        x -= 34
        cv2.line(img, (x, baseline - 4), (x + 26, baseline - 4), color, 2, cv2.LINE_AA)
        x -= 18


def plot(samples: list[Sample], path: Path, title: str) -> None:
    """The four charts against minutes, one above the other, as a PNG."""
    width, height, rows = 1100, 1160, 4
    img = np.full((height, width, 3), 255, np.uint8)
    text(img, title, (width // 2, 28), 0.6, anchor="c")
    x = np.array([s.t_s for s in samples]) / 60
    col = {f.name: np.array([getattr(s, f.name) for s in samples], float) for f in dataclasses.fields(Sample)}
    fit = memory_fit(samples)
    rss_series = [("RSS", col["rss_mb"], BLUE)]
    if fit:
        t = np.array([s.t_s for s in samples])
        line = np.where(t >= SETTLE_S, fit[0] * t + fit[1], np.nan)
        rss_series.append((f"fit {fit[0] * 600:+.2f} MB/10 min", line, RED))
    charts = [
        (rss_series, "resident memory (VmRSS)", "MB", False),
        ([("p95, last ~10 s", col["latency_p95_ms"], ORANGE)], "capture-to-output latency", "ms", True),
        ([("captured", col["fps_in"], BLUE), ("processed", col["fps_out"], GREEN)], "frame rate", "fps", True),
        ([("capture + recorder", col["drops_per_min"], RED)], "drops", "per minute", True),
    ]
    cell = (height - 60) // rows
    for i, (series, name, unit, from_zero) in enumerate(charts):
        top = 60 + i * cell + 10
        panel(img, (110, top, width - 30, top + cell - 70), x, series, name, unit, from_zero)
    cv2.imwrite(str(path), img)


# --- main ----------------------------------------------------------------------------------------


def parse_size(value: str) -> tuple[int, int]:
    w, _, h = value.lower().partition("x")
    return int(w), int(h)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the run (default 60)")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default 10)")
    ap.add_argument("--clip", type=Path, help="the clip looped as the stream (default: the 720p alley clip)")
    ap.add_argument("--size", type=parse_size, default=(1280, 720), metavar="WxH", help="stream size (1280x720)")
    ap.add_argument("--fps", type=float, default=30.0, help="stream frame rate (default 30)")
    ap.add_argument("--out", type=Path, help="folder for the csv, png, recording and logs")
    ap.add_argument("--stages", help="passed to vqe (default: the default chain)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="STAGE.PARAM=VALUE",
                    help="passed to vqe (repeatable)")
    ap.add_argument("--backend", help="passed to vqe")
    return ap


def passthrough(args: argparse.Namespace) -> list[str]:
    out = ["--stages", args.stages] if args.stages else []
    out += ["--backend", args.backend] if args.backend else []
    for item in args.overrides:
        out += ["--set", item]
    return out


def soak(args: argparse.Namespace, out: Path, log: CsvLog) -> tuple[list[Sample], int | None]:
    """Serve, record and sample for ``args.minutes``; returns the samples and vqe's exit code."""
    clip = args.clip or next((c for c in DEFAULT_CLIPS if c.is_file()), DEFAULT_CLIPS[-1])
    port = free_port()
    server = serve_loop(clip, port, args.size, args.fps, out / "server.log")
    samples: list[Sample] = []
    vqe = None
    try:
        wait_listening(port, server, out / "server.log")
        (out / "stats.json").unlink(missing_ok=True)  # a reused --out folder: never sample an old run's stats
        # Stats twice per sample: each sample then finds a fresh snapshot whatever the phase.
        vqe = start_vqe(port, out, args.interval / 2, passthrough(args))
        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        next_t = t0
        while time.monotonic() < end and vqe.poll() is None:
            next_t += args.interval
            time.sleep(max(0.0, min(next_t, end) - time.monotonic()))
            sample = take_sample(time.monotonic() - t0, vqe.pid, read_stats(out / "stats.json"),
                                 samples[-1] if samples else None)
            if math.isnan(sample.rss_mb):  # vqe has gone
                break
            samples.append(sample)
            log.add(sample)
            print(f"soak: {sample.t_s / 60:6.1f} min  RSS {sample.rss_mb:7.1f} MB  in {sample.fps_in:5.1f} fps  "
                  f"out {sample.fps_out:5.1f} fps  p95 {sample.latency_p95_ms:6.1f} ms  drops "
                  f"{sample.drops_capture}/{sample.drops_recorder}", flush=True)
    except KeyboardInterrupt:  # a shorter soak: still stop vqe cleanly and judge what was sampled
        print("soak: interrupted; stopping vqe", flush=True)
    finally:
        # SIGINT is Ctrl-C: vqe finalizes the recording and writes its last stats.
        code = stop(vqe, signal.SIGINT, 120) if vqe is not None else None
        stop(server, signal.SIGTERM, 10)
    return samples, code


def main() -> None:
    args = build_parser().parse_args()
    out = args.out or Path(f"soak-{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    log = CsvLog(out / "soak.csv")
    try:
        samples, code = soak(args, out, log)
    finally:
        log.close()
    vqe_ok = code == EXIT_INTERRUPTED  # stopped by our SIGINT, not by an error of its own
    if not vqe_ok:
        tail = (out / "vqe.log").read_text(errors="replace").strip().splitlines()[-5:]
        print(f"soak: vqe ended with exit code {code}:\n  " + "\n  ".join(tail))
    recording_ok, detail = check_recording(out / "rec.mp4")
    print(f"soak: recording {out / 'rec.mp4'}: {detail}")
    lines, ok = verdict(samples, recording_ok, vqe_ok)
    chain = args.stages or "default chain"
    plot(samples, out / "soak.png", f"vqe soak: {args.size[0]}x{args.size[1]} @ {args.fps:g} fps, {chain}, "
                                    f"{samples[-1].t_s / 60 if samples else 0:.1f} min")
    print("\n".join(f"soak: {line}" for line in lines))
    print(f"soak: wrote {out / 'soak.csv'} and {out / 'soak.png'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
