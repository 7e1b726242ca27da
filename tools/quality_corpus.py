"""Quality on the evaluation corpus (``tools/corpus.py``): vqe against its peers, case by case, per half.

``python tools/quality.py --corpus tune|report ...`` runs this.  Defaults are tuned on the
``tune`` half only; the README's quality tables come from the ``report`` half.

Cases
-----
For every source of the half present on this machine (missing ones are skipped and named),
a few cases per task, each from a fixed seed, named ``TASK/SOURCE/sSEED`` (``--case NAME``
reruns one alone).  A case is a short clip (a real clip's real frames from a seeded start, or
a photograph under a seeded virtual pan) at ``--size`` (smaller where the source would be
upscaled more than 1.5x), degraded by a draw of :func:`corpus.draw` and written as lossless
4:2:0 ``.y4m``; the truth goes through the same 4:2:0 round trip.

=========  ===================================================  ======================================
task       input                                                methods
=========  ===================================================  ======================================
color      kind ``color`` (night sources: ``night``)            vqe contrast,color; ffmpeg normalize,
                                                                eq; OpenCV CLAHE
clean      the source untouched (scored against itself)         as color
denoise    kind ``noise`` (every third case ``strong_noise``),   vqe denoise --preset fast / quality;
           32 frames a clip in full runs                        ffmpeg hqdn3d (default and 16),
                                                                fftdnoiz; OpenCV bilateralFilter
                                                                (mild and 9, 75, 75)
sharpen    kind ``blur``                                        vqe sharpen; ffmpeg unsharp, cas
chain      kind ``dark_noisy`` (night sources: ``night_noisy``)  vqe denoise,contrast,color,sharpen;
                                                                ffmpeg hqdn3d,unsharp,eq / normalize
multishot  two sources back to back (a hard cut), each with     as color
           its own ``color``/``night`` draw
=========  ===================================================  ======================================

Peers run one fixed setting for every case, as an automatic has to.  A method is a vqe
command line (``--vqe TASK=ARGS`` adds one, e.g. a future ``--analyze`` pass), an ffmpeg
filter or an OpenCV function per frame.

Metrics: color, clean, chain, multishot: mean CIEDE2000 (dE00), PSNR over B, G, R,
temporal error, flicker index against the truth's; denoise, sharpen: PSNR over Y and over
all planes, SSIM on Y, temporal error.  fps is whole-process (start-up included, which
dominates on these short clips); OpenCV peers run in this process (``[in-process]``).
Per task and method: mean, median and worst of the task's main metric (highest dE00, lowest
PSNR; clean: lowest PSNR; an identical output, PSNR inf, counts as 60 dB in a mean), and the
cases where the method is worse than its input (clean: where it changes the picture visibly,
mean dE00 > 1).

Examples
--------
::

    python tools/quality.py --corpus report --task all                  # the README's figures
    python tools/quality.py --corpus tune --task color --json tune.json   # for tuning
    python tools/quality.py --corpus report --quick --sheet /tmp/sheets
    python tools/quality.py --corpus tune --case color/china/s1
    python tools/quality.py --corpus tune --task color --vqe 'color=--stages contrast,color --set color.wb_strength=0.8'
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

import corpus
from corpus import Degradation, Source
from qualitylib import (
    EQ,
    bilateral,
    clahe,
    color_score,
    edge_overshoot,
    ffmpeg_exe,
    plane_score,
    read_y4m_bgr,
    read_y4m_planes,
    run_ffmpeg,
    run_per_frame,
    run_vqe,
    write_y4m,
)

log = logging.getLogger("quality_corpus")

TASKS = ("color", "clean", "denoise", "sharpen", "chain", "multishot")
#: Cases per source (multishot: per pair of sources) and task, full run and ``--quick``.
CASES = {"color": 3, "clean": 1, "denoise": 3, "sharpen": 2, "chain": 2, "multishot": 1}
QUICK_CASES = dict.fromkeys(TASKS, 1)
SIZE, QUICK_SIZE = (640, 360), (320, 180)
FRAMES, QUICK_FRAMES = 16, 8
#: Longer clips where a method's state needs them: a recursive temporal denoiser takes about ten
#: frames to settle, and real video runs for thousands (full runs only, unless --frames is given).
TASK_FRAMES = {"denoise": 32}
#: Multishot pairs in a ``--quick`` run.
QUICK_PAIRS = 2
#: A clean case "changes the picture" when its mean dE00 against the input passes this (about one JND).
CLEAN_DE00 = 1.0
#: An identical output (PSNR inf) counts as this many dB in a mean.
PSNR_CAP = 60.0


# --- methods ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Method:
    """One way to enhance a case: ``kind`` vqe (``arg``: its arguments), ffmpeg (``arg``: the filter) or
    opencv (``arg``: a function of one BGR frame, run in this process)."""

    label: str
    kind: str
    arg: object
    #: The vqe method the picture sheet picks its worst cases by.
    lead: bool = False

    @property
    def is_vqe(self) -> bool:
        return self.kind == "vqe"

    def run(self, src: Path, dst: Path) -> float:
        if self.kind == "vqe":
            return run_vqe(src, dst, *self.arg)
        if self.kind == "ffmpeg":
            return run_ffmpeg(src, dst, self.arg)
        return run_per_frame(src, dst, self.arg)


def vqe(args: str, label: str | None = None, lead: bool = False) -> Method:
    return Method(label or f"vqe {args}", "vqe", tuple(shlex.split(args)), lead)


def ffmpeg(vf: str) -> Method:
    return Method(f"ffmpeg {vf}", "ffmpeg", vf)


def opencv(label: str, fn: Callable[[np.ndarray], np.ndarray]) -> Method:
    return Method(f"OpenCV {label} [in-process]", "opencv", fn)


NORMALIZE = "normalize=smoothing=10"
COLOR_METHODS = (vqe("--stages contrast,color", lead=True), ffmpeg(NORMALIZE), ffmpeg(EQ),
                 opencv("CLAHE (2.0, 8x8)", clahe))
#: Fixed peer strengths for the noise draws (read sigma 1-12 plus shot noise; about 6 at mid-gray typical).
DENOISE_SIGMA = 6.0
METHODS: dict[str, tuple[Method, ...]] = {
    "color": COLOR_METHODS,
    "clean": COLOR_METHODS,
    "multishot": COLOR_METHODS,
    "denoise": (vqe("--stages denoise --preset fast"), vqe("--stages denoise --preset quality", lead=True),
                ffmpeg("hqdn3d"), ffmpeg("hqdn3d=16"), ffmpeg(f"fftdnoiz=sigma={DENOISE_SIGMA:g}"),
                opencv(f"bilateralFilter (5, {2 * DENOISE_SIGMA:g}, 2)", partial(bilateral, sigma=DENOISE_SIGMA)),
                opencv("bilateralFilter (9, 75, 75)", partial(cv2.bilateralFilter, d=9, sigmaColor=75,
                                                              sigmaSpace=75))),
    "sharpen": (vqe("--stages sharpen", lead=True), ffmpeg("unsharp"), ffmpeg("cas=0.8")),
    "chain": (vqe("--stages denoise,contrast,color,sharpen", lead=True), ffmpeg(f"hqdn3d,unsharp,{EQ}"),
              ffmpeg(f"hqdn3d,unsharp,{NORMALIZE}")),
}

#: The main metric of each task and whether higher is better; the secondary ones shown beside it.
PRIMARY = {"color": ("de00", False), "clean": ("psnr", True), "multishot": ("de00", False),
           "chain": ("de00", False), "denoise": ("psnr", True), "sharpen": ("psnr_y", True)}
SECONDARY = {"color": ("psnr", "temporal", "flicker_excess"), "clean": ("de00", "temporal", "flicker_excess"),
             "multishot": ("psnr", "temporal", "flicker_excess"), "chain": ("psnr", "temporal", "flicker_excess"),
             "denoise": ("psnr_y", "ssim_y", "temporal"), "sharpen": ("psnr", "ssim_y", "temporal", "overshoot")}
NAMES = {"de00": "dE00", "psnr": "PSNR", "psnr_y": "PSNR-Y", "ssim_y": "SSIM-Y", "temporal": "temporal err",
         "flicker_excess": "flicker - truth's", "ssim": "SSIM", "flicker": "flicker",
         "overshoot": "edge overshoot"}
COLOR_TASKS = ("color", "clean", "multishot", "chain")


# --- cases -----------------------------------------------------------------------------------

@dataclass
class Shot:
    source: Source
    degradation: Degradation
    seed: int  # the pan path of a photograph and the noise of the degradation
    start: int  # first frame of a clip


@dataclass
class Case:
    name: str
    task: str
    seed: int
    size: tuple[int, int]
    frames: int  # per shot
    shots: list[Shot] = field(default_factory=list)

    @property
    def middle(self) -> int:
        """The frame the picture sheet shows: the middle of the last shot (after the cut of a multishot)."""
        return (len(self.shots) - 1) * self.frames + self.frames // 2

    def describe(self) -> str:
        return " | ".join(f"{s.source.name}: {s.degradation.describe()}" for s in self.shots)

    def make(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(truth, degraded) BGR frames, the shots back to back."""
        truth, degraded = [], []
        for shot in self.shots:
            frames = corpus.frames_of(shot.source, self.size, self.frames, seed=shot.seed, start=shot.start)
            truth += frames
            degraded += shot.degradation.apply(frames, seed=shot.seed)
        return truth, degraded


def _rng(task: str, name: str, k: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(task.encode()), zlib.crc32(name.encode()), k])


def _kind(task: str, source: Source, k: int = 0) -> str:
    if task == "denoise":  # every third case of a source at strong noise
        return "strong_noise" if k % 3 == 2 else "noise"
    if task in ("color", "multishot"):
        return "night" if source.night else "color"
    if task == "chain":
        return "night_noisy" if source.night else "dark_noisy"
    return {"clean": "clean", "denoise": "noise", "sharpen": "blur"}[task]


def _shot(task: str, source: Source, rng: np.random.Generator, frames: int, k: int = 0) -> Shot:
    degradation = corpus.draw(_kind(task, source, k), rng)
    seed = int(rng.integers(2 ** 31))
    count = corpus.frame_count(source)
    start = int(rng.integers(0, max(1, count - frames + 1))) if count else 0
    return Shot(source, degradation, seed, start)


def build_cases(present: Sequence[Source], tasks: Sequence[str], per_source: dict[str, int],
                size: tuple[int, int], frames: int, max_pairs: int | None = None,
                task_frames: dict[str, int] | None = None) -> list[Case]:
    """Every case of ``tasks`` on the ``present`` sources, in a fixed order (``task_frames``: frames per clip
    of the tasks that need another number than ``frames``)."""
    cases = []
    all_frames = frames
    for task in tasks:
        frames = (task_frames or {}).get(task, all_frames)
        if task == "multishot":
            half = len(present) // 2  # photographs come first in SOURCES: pair the i-th with the (i+half)-th
            pairs = [(present[i], present[i + half]) for i in range(half)][:max_pairs]
            for a, b in pairs:
                shot_size = tuple(min(p, q) for p, q in zip(corpus.fit_size(a, size, frames),
                                                            corpus.fit_size(b, size, frames)))
                for k in range(per_source[task]):
                    rng = _rng(task, f"{a.name}+{b.name}", k)
                    cases.append(Case(f"{task}/{a.name}+{b.name}/s{k}", task, k, shot_size, frames,
                                      [_shot(task, a, rng, frames), _shot(task, b, rng, frames)]))
            continue
        for source in present:
            case_size = corpus.fit_size(source, size, frames)
            for k in range(per_source[task]):
                cases.append(Case(f"{task}/{source.name}/s{k}", task, k, case_size, frames,
                                  [_shot(task, source, _rng(task, source.name, k), frames, k)]))
    return cases


# --- running a case --------------------------------------------------------------------------------

def _metrics(task: str, test_path: Path, truth: dict) -> tuple[dict, list]:
    """The task's metrics of one ``.y4m`` against the truth, and its frames (BGR, or planes)."""
    if task in COLOR_TASKS:
        frames = read_y4m_bgr(test_path)
        s = asdict(color_score(frames, truth["bgr"]))
        s["flicker_excess"] = s["flicker"] - truth["flicker"]
    else:
        frames = read_y4m_planes(test_path)
        s = asdict(plane_score(frames, truth["planes"]))
        s["temporal"] = s.pop("flicker")  # the temporal error, as in the colour metrics
        s["psnr"] = s.pop("psnr_yuv")
        if task == "sharpen":
            s["overshoot"] = edge_overshoot(frames, truth["planes"])
    return s, frames


def run_case(case: Case, methods: Sequence[Method], work: Path, keep_frames: Path | None) -> dict:
    """Score the input and every method on one case; returns the case's record (JSON-ready)."""
    work.mkdir(parents=True, exist_ok=True)
    truth_bgr, degraded = case.make()
    truth_path, src, dst = work / "truth.y4m", work / "in.y4m", work / "out.y4m"
    write_y4m(truth_path, truth_bgr)
    if case.task == "clean":
        src = truth_path  # the source as it is: scored against itself
    else:
        write_y4m(src, degraded)
    del truth_bgr, degraded
    truth = {"bgr": read_y4m_bgr(truth_path)}
    truth["flicker"] = color_score(truth["bgr"], truth["bgr"]).flicker if case.task in COLOR_TASKS else 0.0
    if case.task not in COLOR_TASKS:
        truth["planes"] = read_y4m_planes(truth_path)
    n = len(truth["bgr"])
    middle = min(case.middle, n - 1)
    record = {"name": case.name, "task": case.task, "seed": case.seed, "size": list(case.size),
              "frames": n, "cut_at": case.frames if len(case.shots) > 1 else None,
              "shots": [{"source": s.source.name, "kind": s.source.kind, "night": s.source.night,
                         "degradation": s.degradation.describe(), "params": asdict(s.degradation),
                         "seed": s.seed, "start": s.start} for s in case.shots],
              "middle": middle, "truth_flicker": truth["flicker"], "metrics": {}}
    frames_dir = None
    if keep_frames is not None:
        frames_dir = keep_frames / case.name.replace("/", "__")
        frames_dir.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(frames_dir / "truth.png"), truth["bgr"][middle])

    def score(label: str, path: Path, wall: float | None) -> None:
        m, frames = _metrics(case.task, path, truth)
        m["fps"] = len(frames) / wall if wall else None
        record["metrics"][label] = m
        if frames_dir is not None:
            bgr = frames if case.task in COLOR_TASKS else read_y4m_bgr(path)
            cv2.imwrite(str(frames_dir / f"{_slug(label)}.png"), bgr[min(middle, len(bgr) - 1)])

    score("input", src, None)
    for method in methods:
        try:
            wall = method.run(src, dst)
            score(method.label, dst, wall)
        except Exception as exc:  # noqa: BLE001  (one broken method must not end a long run)
            log.error("%s: %s failed: %s", case.name, method.label, exc)
            record["metrics"][method.label] = {"error": str(exc)[-500:]}
        finally:
            dst.unlink(missing_ok=True)
    for p in (truth_path, work / "in.y4m"):
        p.unlink(missing_ok=True)
    return record


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)[:80]


# --- reporting -------------------------------------------------------------------------------------

def _fmt(key: str, v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.4f}" if key.startswith("ssim") else f"{v:.2f}"


def print_case(record: dict) -> None:
    task = record["task"]
    keys = (PRIMARY[task][0],) + SECONDARY[task]
    shots = " | ".join(f"{s['source']}: {s['degradation']}" for s in record["shots"])
    w, h = record["size"]
    print(f"\n{record['name']}  {w}x{h}, {record['frames']} frames  [{shots}]")
    for label, m in record["metrics"].items():
        if "error" in m:
            print(f"  {label[:46]:<46} FAILED: {m['error'][-120:]}")
            continue
        cols = "  ".join(f"{NAMES[k]} {_fmt(k, m[k]):>6}" for k in keys)
        fps = f"  fps {m['fps']:.1f}" if m.get("fps") else ""
        print(f"  {label[:46]:<46} {cols}{fps}")
    sys.stdout.flush()


def _worse(task: str, m: dict, inp: dict) -> bool:
    key, higher = PRIMARY[task]
    if task == "clean":
        return m["de00"] > CLEAN_DE00
    return m[key] < inp[key] if higher else m[key] > inp[key]


def _mean(key: str, vals: np.ndarray) -> float:
    """The mean; an identical output (PSNR inf) counts as ``PSNR_CAP`` dB unless all are identical."""
    if key.startswith("psnr") and not np.isinf(vals).all():
        vals = np.minimum(vals, PSNR_CAP)
    return float(vals.mean())


def aggregate(records: Sequence[dict]) -> dict:
    """Per task and method: mean, median and worst of the main metric (with the worst case's name), the
    means of the others, cases worse than the input, failures, median fps."""
    out: dict = {}
    for task in TASKS:
        recs = [r for r in records if r["task"] == task]
        if not recs:
            continue
        key, higher = PRIMARY[task]
        labels = list(dict.fromkeys(label for r in recs for label in r["metrics"]))
        table = {}
        for label in labels:
            rows = [(r["name"], r["metrics"][label], r["metrics"]["input"]) for r in recs
                    if label in r["metrics"]]
            ok = [(name, m, inp) for name, m, inp in rows if "error" not in m]
            if not ok:
                table[label] = {"cases": 0, "failed": len(rows)}
                continue
            vals = np.array([m[key] for _, m, _ in ok], dtype=np.float64)
            worst_i = int(np.argmin(vals) if higher else np.argmax(vals))
            entry = {"cases": len(ok), "failed": len(rows) - len(ok), "mean": _mean(key, vals),
                     "median": float(np.median(vals)), "worst": float(vals[worst_i]), "worst_case": ok[worst_i][0]}
            for k in SECONDARY[task]:
                entry[f"mean_{k}"] = _mean(k, np.array([m[k] for _, m, _ in ok], dtype=np.float64))
            if label != "input":
                entry["worse_than_input"] = int(sum(_worse(task, m, inp) for _, m, inp in ok))
            fps = [m["fps"] for _, m, _ in ok if m.get("fps")]
            entry["median_fps"] = float(np.median(fps)) if fps else None
            table[label] = entry
        out[task] = {"metric": key, "higher_is_better": higher, "methods": table}
    return out


TASK_TITLES = {"color": "colour and exposure (kind color; night sources: night)",
               "clean": "clean footage left alone (PSNR and dE00 of the output against the input)",
               "denoise": "denoise (kind noise)", "sharpen": "sharpen (kind blur)",
               "chain": "the chain denoise,contrast,color,sharpen (kind dark_noisy; night: night_noisy)",
               "multishot": "two shots with a hard cut (each its own color/night draw)"}


def print_aggregate(agg: dict, split: str) -> None:
    for task, t in agg.items():
        key, higher = t["metric"], t["higher_is_better"]
        sec = SECONDARY[task]
        n = max(e.get("cases", 0) for e in t["methods"].values())
        worse = f"{NAMES['de00']} > {CLEAN_DE00:g}" if task == "clean" else "worse than input"
        print(f"\n### {split}: {TASK_TITLES[task]}, {n} cases\n")
        head = [f"{NAMES[key]} mean", "median", f"worst ({'lowest' if higher else 'highest'})", "worst case"]
        head += [f"{NAMES[k]} mean" for k in sec] + [worse, "fps (median)"]
        print("| method | " + " | ".join(head) + " |")
        print("|---" * (len(head) + 1) + "|")
        for label, e in t["methods"].items():
            if not e.get("cases"):
                print(f"| {label} | failed in {e['failed']} cases |" + " |" * (len(head) - 1))
                continue
            cells = [_fmt(key, e["mean"]), _fmt(key, e["median"]), _fmt(key, e["worst"]), e["worst_case"]]
            cells += [_fmt(k, e[f"mean_{k}"]) for k in sec]
            wi = e.get("worse_than_input")
            failed = f" ({e['failed']} failed)" if e["failed"] else ""
            cells.append("-" if wi is None else f"{wi}/{e['cases']}{failed}")
            cells.append("-" if e["median_fps"] is None else f"{e['median_fps']:.1f}")
            print(f"| {label} | " + " | ".join(cells) + " |")
    sys.stdout.flush()


# --- picture sheet -------------------------------------------------------------------------------

TILE_W = 400


def _tile(path: Path, title: str, lines: Sequence[str], width: int, crop: bool) -> np.ndarray:
    """The picture at ``path`` ``width`` wide (``crop``: its centre at 1:1, else all of it resized) under a
    band with ``title`` and ``lines``."""
    img = cv2.imread(str(path)) if path.exists() else None
    if img is None:
        img = np.zeros((width * 9 // 16, width, 3), np.uint8)
    h, w = img.shape[:2]
    if crop and w > width:
        ch = min(h, round(width * h / w))
        x0, y0 = (w - width) // 2, (h - ch) // 2
        img = img[y0:y0 + ch, x0:x0 + width]
    else:
        img = cv2.resize(img, (width, max(2, round(h * width / w))), interpolation=cv2.INTER_AREA)
    band = np.full((18 * (1 + len(lines)) + 6, width, 3), 32, np.uint8)
    cv2.putText(band, title[:60], (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    for i, line in enumerate(lines):
        cv2.putText(band, line[:64], (6, 34 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (170, 230, 255), 1,
                    cv2.LINE_AA)
    return np.vstack([band, img])


def write_sheets(records: Sequence[dict], frames_dir: Path, out_dir: Path, split: str, worst: int,
                 methods: dict[str, Sequence[Method]]) -> list[Path]:
    """One PNG per task: its ``worst`` cases by the lead vqe method's main metric, a row each:
    input / vqe / best peer (on that case) / truth, the middle frame, labelled."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for task in TASKS:
        recs = [r for r in records if r["task"] == task]
        if not recs:
            continue
        key, higher = PRIMARY[task]
        lead = next((m.label for m in methods[task] if m.lead), None) or \
            next((m.label for m in methods[task] if m.is_vqe), None)
        peers = [m.label for m in methods[task] if not m.is_vqe]
        scored = [r for r in recs if "error" not in r["metrics"].get(lead, {"error": 1})]
        scored.sort(key=lambda r: r["metrics"][lead][key], reverse=not higher)
        rows = []
        for r in scored[:worst]:
            case_dir = frames_dir / r["name"].replace("/", "__")
            ok_peers = [p for p in peers if "error" not in r["metrics"].get(p, {"error": 1})]
            best = (max if higher else min)(ok_peers, key=lambda p: r["metrics"][p][key]) if ok_peers else None

            def lines(label: str) -> list[str]:
                m = r["metrics"][label]
                return ["  ".join(f"{NAMES[k]} {_fmt(k, m[k])}" for k in (key,) + SECONDARY[task][:2])]
            crop = task in ("denoise", "sharpen")  # grain and edges show at 1:1 only
            note = f"frame {r['middle']} of {r['frames']}" + (", centre 1:1" if crop else "")
            tiles = [_tile(case_dir / "input.png", "input", lines("input"), TILE_W, crop),
                     _tile(case_dir / f"{_slug(lead)}.png", lead, lines(lead), TILE_W, crop)]
            if best:
                tiles.append(_tile(case_dir / f"{_slug(best)}.png", f"best peer: {best}", lines(best), TILE_W, crop))
            tiles.append(_tile(case_dir / "truth.png", "truth", [note], TILE_W, crop))
            height = max(t.shape[0] for t in tiles)
            tiles = [np.vstack([t, np.zeros((height - t.shape[0], TILE_W, 3), np.uint8)]) for t in tiles]
            row = np.hstack([np.pad(t, ((0, 0), (0, 4), (0, 0))) for t in tiles])
            header = np.full((44, row.shape[1], 3), 0, np.uint8)
            cv2.putText(header, r["name"], (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (120, 255, 120), 1, cv2.LINE_AA)
            shots = " | ".join(f"{s['source']}: {s['degradation']}" for s in r["shots"])
            cv2.putText(header, shots[:180], (6, 37), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (220, 220, 220), 1, cv2.LINE_AA)
            rows.append(np.vstack([header, row, np.zeros((8, row.shape[1], 3), np.uint8)]))
        if not rows:
            continue
        width = max(r.shape[1] for r in rows)
        sheet = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows])
        path = out_dir / f"sheet_{split}_{task}.png"
        cv2.imwrite(str(path), sheet)
        written.append(path)
    return written


# --- main ------------------------------------------------------------------------------------------

def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def _workdir_base() -> str | None:
    """``$TMPDIR`` if set, else /dev/shm where it has room, else the system's temporary folder."""
    if os.environ.get("TMPDIR"):
        return None
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and shutil.disk_usage(shm).free > 2 << 30 and os.access(shm, os.W_OK):
            return str(shm)
    except OSError:
        pass
    return None


def _json_safe(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, np.generic):
        return _json_safe(x.item())
    return x


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="quality.py --corpus", description=__doc__.split("\n")[0],
                                 epilog="see the module docstring of tools/quality_corpus.py")
    ap.add_argument("--corpus", required=True, choices=corpus.SPLITS + ("all",), help="the half to run on")
    ap.add_argument("--task", default="all", help=f"comma-separated subset of {','.join(TASKS)}, or all")
    ap.add_argument("--quick", action="store_true",
                    help=f"{QUICK_SIZE[0]}x{QUICK_SIZE[1]}, {QUICK_FRAMES} frames, 1 case per source and task")
    ap.add_argument("--cases", type=int, help="cases per source (multishot: per pair) and task "
                                              f"(default {CASES}, --quick 1)")
    ap.add_argument("--case", action="append", default=[],
                    help="run only the case(s) of this name (repeatable; shell patterns, e.g. 'color/*/s0')")
    ap.add_argument("--size", type=_size, help=f"WxH (default {SIZE[0]}x{SIZE[1]}, --quick "
                                               f"{QUICK_SIZE[0]}x{QUICK_SIZE[1]}); smaller for small sources")
    ap.add_argument("--frames", type=int, help=f"frames per clip (per shot for multishot; default {FRAMES}, "
                                               f"--quick {QUICK_FRAMES})")
    ap.add_argument("--vqe", action="append", default=[], metavar="TASK=ARGS",
                    help="also run vqe with ARGS on TASK's cases (repeatable), e.g. "
                         "'color=--stages contrast,color --analyze'")
    ap.add_argument("--no-peers", action="store_true", help="run only vqe (and score the input)")
    ap.add_argument("--json", type=Path, help="write every number here")
    ap.add_argument("--sheet", type=Path, metavar="DIR", help="write picture sheets of the worst cases here")
    ap.add_argument("--worst", type=int, default=4, help="rows per picture sheet (default 4)")
    ap.add_argument("--list", action="store_true", help="list the cases and stop")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")

    tasks = TASKS if args.task == "all" else tuple(t.strip() for t in args.task.split(",") if t.strip())
    for t in tasks:
        if t not in TASKS:
            ap.error(f"unknown task {t!r}: use some of {', '.join(TASKS)} or all")
    per = dict(QUICK_CASES if args.quick else CASES)
    if args.cases is not None:
        per = dict.fromkeys(TASKS, max(1, args.cases))
    size = args.size or (QUICK_SIZE if args.quick else SIZE)
    frames = args.frames or (QUICK_FRAMES if args.quick else FRAMES)
    methods = {t: list(METHODS[t]) for t in TASKS}
    if args.no_peers:
        methods = {t: [m for m in ms if m.is_vqe] for t, ms in methods.items()}
    for spec in args.vqe:
        task, sep, rest = spec.partition("=")
        if not sep or task not in TASKS:
            ap.error(f"--vqe wants TASK=ARGS with TASK one of {', '.join(TASKS)}: {spec!r}")
        methods[task].append(vqe(rest))

    t_start = time.perf_counter()
    present, missing = corpus.available(corpus.sources(args.corpus))
    cases = build_cases(present, tasks, per, size, frames, max_pairs=QUICK_PAIRS if args.quick else None,
                        task_frames=None if args.quick or args.frames else TASK_FRAMES)
    if args.case:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.name, pat) for pat in args.case)]
        if not cases:
            ap.error(f"no case matches {args.case} in the {args.corpus} half (--list lists them)")
    if args.list:
        for c in cases:
            print(f"{c.name:40s} {c.size[0]}x{c.size[1]}  {c.describe()}")
        return 0
    print(f"corpus {args.corpus}: {len(present)} sources ({', '.join(s.name for s in present)}), "
          f"{len(cases)} cases, tasks {','.join(tasks)}, up to {size[0]}x{size[1]}, {frames} frames per clip; "
          f"ffmpeg {ffmpeg_exe()}, {os.cpu_count()} cores")
    print(f"skipped (missing): {', '.join(missing) if missing else 'none'}")
    sys.stdout.flush()

    records = []
    task_seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="vqe-corpus-", dir=_workdir_base()) as tmp:
        work = Path(tmp)
        keep = work / "middle" if args.sheet else None
        for i, case in enumerate(cases):
            t0 = time.perf_counter()
            record = run_case(case, methods[case.task], work / "case", keep)
            record["seconds"] = time.perf_counter() - t0
            task_seconds[case.task] = task_seconds.get(case.task, 0.0) + record["seconds"]
            records.append(record)
            print_case(record)
        agg = aggregate(records)
        elapsed = time.perf_counter() - t_start
        print(f"\n## Aggregate: corpus {args.corpus}, {len(records)} cases in {elapsed:.0f} s "
              f"({', '.join(f'{t} {s:.0f} s' for t, s in task_seconds.items())})")
        print(f"skipped (missing): {', '.join(missing) if missing else 'none'}")
        print_aggregate(agg, args.corpus)
        if args.sheet:
            for path in write_sheets(records, keep, args.sheet, args.corpus, args.worst, methods):
                print(f"sheet: {path}")
    if args.json:
        doc = {"split": args.corpus, "tasks": list(tasks), "quick": args.quick, "size": list(size), "frames": frames,
               "sources": [s.name for s in present], "skipped": missing, "cores": os.cpu_count(),
               "methods": {t: [{"label": m.label, "kind": m.kind,
                                "arg": list(m.arg) if m.is_vqe else (m.arg if m.kind == "ffmpeg" else m.label)}
                               for m in methods[t]] for t in tasks},
               "elapsed_s": elapsed, "task_seconds": task_seconds, "cases": records, "aggregate": agg}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_json_safe(doc), indent=1))
        print(f"json: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
