"""Quality and speed of the ``deinterlace`` stage against ffmpeg ``bwdif`` and ``yadif``.

Cases
-----
``fields``
    Progressive real footage (clips of the shared media folder, resized) woven
    into fields as an interlaced camera makes them: frame ``k`` of the
    interlaced clip holds the top field of source frame ``2k`` and the bottom
    field of source frame ``2k+1`` (top field first), woven in the 4:2:0 planes
    (chroma rows by field too), written as a lossless ``.y4m`` flagged ``It``.
    The ground truth is source frame ``2k`` (one frame per frame: vqe's default
    mode against ``bwdif``/``yadif`` ``mode=send_frame``) and frames ``2k``,
    ``2k+1`` (field rate: ``deinterlace.mode=bob`` against ``send_field``).
    PSNR over luma and over all planes, SSIM on luma, flicker as in
    ``quality.py``; fps are whole-process figures (input frames over wall time,
    start-up included); a last table averages each method over the clips.
``speed``
    Whole-process throughput at 1920x1080 on a longer woven clip
    (``--speed-frames``): ``vqe --stages none`` (the pipeline's own cost),
    ``vqe --stages deinterlace`` and ``ffmpeg -i IN.y4m -vf bwdif=mode=send_frame
    OUT.y4m`` (and ``yadif``), interleaved so that load from other processes
    hits all alike; best of ``--repeat``.  The ratio to bwdif is printed, of the
    best times and of the median times.  vqe's start-up (about 0.4 s) weighs
    less on a longer clip.
``real``
    The real interlaced clip ``interlaced_aerial_576i_bff.mp4`` (bottom field
    first, but flagged progressive, so vqe has to detect both): the combing
    index (share of luma samples that zig-zag by more than 12 levels against
    both vertical neighbours, %) of the input and of vqe's and the peers'
    outputs (the peers are told ``parity=bff``), with a progressive clip's
    index for scale.
``passthrough``
    Every progressive clip of the shared folder, whole: ``vqe --stages
    deinterlace`` must write exactly what ``vqe --stages none`` writes (the
    detector must never fire on progressive footage).

Examples
--------
::

    python tools/quality.py deinterlace                    # all cases at 640x360 and 1920x1080
    python tools/quality_deinterlace.py --cases fields --size 640x360 --frames 60
    python tools/quality_deinterlace.py --cases speed --speed-frames 600 --repeat 3
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

import numpy as np
from quality import evaluate, print_table, run_ffmpeg, run_vqe, score

from qualitylib import (
    MEDIA,
    Y4mWriter,
    bgr_to_yuv,
    ffmpeg_exe,
    read_clip,
    read_y4m_planes,
    run_timed,
    vqe_command,
    yuv_format,
)

CASES = ("fields", "speed", "real", "passthrough")
#: Clips for the fields case: (file, first frame).  A handheld walk, a street with cuts, a slowly
#: opening flower, a static camera with people, a dark noisy alley, a shaky close-up face.
FIELD_CLIPS = (("shaky_seattle_walk_360p.avi", 0), ("clean_bikes_street_272p.mp4", 10),
               ("clean_flower_540p.mp4", 0), ("clean_person_indoor_432p.mp4", 100),
               ("noisy_lowlight_alley_720p.mp4", 0), ("shaky_foreman_cif.mp4", 0))
INTERLACED_CLIP = "interlaced_aerial_576i_bff.mp4"
SPEED_CLIP = ("clean_person_indoor_432p.mp4", 0)
PROGRESSIVE_CLIPS = ("clean_bikes_street_272p.mp4", "clean_flower_540p.mp4", "clean_person_indoor_432p.mp4",
                     "lowres_carphone_qcif.mp4", "noisy_lowlight_alley_720p.mp4", "shaky_foreman_cif.mp4",
                     "shaky_seattle_walk_360p.avi")
#: Zig-zag (levels) that counts as combing in the combing index.
COMB_LEVELS = 12
ENV = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))


# --- clips ---------------------------------------------------------------------------------------

def weave(first: tuple, second: tuple) -> tuple:
    """Top field of ``first``, bottom field of ``second``, in every plane (4:2:0 chroma rows alternate too)."""
    out = []
    for a, b in zip(first, second):
        w = a.copy()
        w[1::2] = b[1::2]
        out.append(w)
    return tuple(out)


def make_fields(clip: str, start: int, size: tuple[int, int], frames: int, path: Path) -> tuple[list, list]:
    """Write ``frames`` woven frames of ``clip`` to ``path``; return the truth at frame rate and at field rate."""
    source = read_clip(MEDIA / clip, size, 2 * frames, start)
    source = source[: len(source) // 2 * 2]
    fmt = yuv_format(size[1])
    planes = [tuple(p.copy() for p in bgr_to_yuv(np.ascontiguousarray(f), fmt)) for f in source]
    writer = Y4mWriter(path, size[0], size[1], Fraction(25), fmt, "tff")
    try:
        for k in range(len(planes) // 2):
            writer.write_planes(weave(planes[2 * k], planes[2 * k + 1]))
    finally:
        writer.close()
    return planes[0::2], planes


def combing_index(planes: list) -> float:
    """Share (%) of luma samples zig-zagging by more than COMB_LEVELS against both vertical neighbours."""
    hits = total = 0
    for p in planes:
        y = p[0].astype(np.int32)
        mid, up, down = y[1:-1], y[:-2], y[2:]
        hits += int(np.count_nonzero((mid - up) * (mid - down) > COMB_LEVELS ** 2))
        total += mid.size
    return 100.0 * hits / max(total, 1)


def vqe_cmd(src: Path, dst: Path, stages: str, *sets: str, stats: Path | None = None) -> list[str]:
    cmd = vqe_command("--file", str(src), "-o", str(dst), "--no-display", "--no-progress",
                      "--stages", stages)
    for s in sets:
        cmd += ["--set", s]
    if stats is not None:
        cmd += ["--stats", str(stats)]
    return cmd


# --- cases -------------------------------------------------------------------------------------------

def case_fields(sizes: list[tuple[int, int]], frames: int, bob: bool, work: Path) -> None:
    src, dst = work / "fields.y4m", work / "out.y4m"
    for size in sizes:
        totals: dict[str, list[float]] = {}
        for clip, start in FIELD_CLIPS:
            truth, truth_fields = make_fields(clip, start, size, frames, src)
            n = len(truth)
            inp = score(read_y4m_planes(src), truth)
            rows = [{"method": "weave (input)", "psnr_y": inp.psnr_y, "psnr": inp.psnr_yuv, "ssim": inp.ssim_y,
                         "flicker": inp.flicker, "fps": None}]
            methods = [("vqe deinterlace", lambda: run_vqe(src, dst, "deinterlace", None)),
                       ("vqe deinterlace mode=blend",
                        lambda: run_vqe(src, dst, "deinterlace", None, ("deinterlace.mode=blend",))),
                       ("bwdif send_frame", lambda: run_ffmpeg(src, dst, "bwdif=mode=send_frame")),
                       ("yadif send_frame", lambda: run_ffmpeg(src, dst, "yadif=mode=send_frame"))]
            for label, runner in methods:
                rows.append(evaluate(label, runner, dst, truth, n))
            if bob:
                for label, runner in (
                        ("vqe deinterlace mode=bob",
                         lambda: run_vqe(src, dst, "deinterlace", None, ("deinterlace.mode=bob",))),
                        ("bwdif send_field", lambda: run_ffmpeg(src, dst, "bwdif=mode=send_field")),
                        ("yadif send_field", lambda: run_ffmpeg(src, dst, "yadif=mode=send_field"))):
                    rows.append(evaluate(label, runner, dst, truth_fields, n))
            for r in rows:
                totals.setdefault(r["method"], []).append(r["psnr_y"])
            print_table(f"fields: {Path(clip).stem} at {size[0]}x{size[1]}, {n} frames (top field first)", rows)
        print(f"\nfields at {size[0]}x{size[1]}: mean PSNR-Y over {len(FIELD_CLIPS)} clips")
        for method, values in totals.items():
            print(f"  {method:<28}{np.mean(values):8.2f}   (per clip: {', '.join(f'{v:.2f}' for v in values)})")
        sys.stdout.flush()


def case_speed(frames: int, repeat: int, work: Path) -> None:
    size = (1920, 1080)
    src = work / "speed.y4m"
    clip, start = SPEED_CLIP
    make_fields(clip, start, size, frames, src)
    ff = ffmpeg_exe()
    stats = work / "stats.json"
    out = work / "out.y4m"  # one output at a time, removed after each run: long 1080p clips are large
    runs = {"vqe --stages none": vqe_cmd(src, out, "none", stats=stats),
            "vqe --stages deinterlace": vqe_cmd(src, out, "deinterlace", stats=stats),
            "ffmpeg bwdif=mode=send_frame": [ff, "-loglevel", "error", "-y", "-i", str(src), "-vf",
                                             "bwdif=mode=send_frame", "-f", "yuv4mpegpipe", "-strict", "-1", str(out)],
            "ffmpeg yadif=mode=send_frame": [ff, "-loglevel", "error", "-y", "-i", str(src), "-vf",
                                             "yadif=mode=send_frame", "-f", "yuv4mpegpipe", "-strict", "-1", str(out)]}
    times: dict[str, list[float]] = {name: [] for name in runs}
    stage_ms: dict[str, dict] = {}
    frames_as: dict[str, str] = {}
    for _ in range(max(repeat, 1)):
        for name, cmd in runs.items():
            times[name].append(run_timed(cmd, env=ENV))
            if name.startswith("vqe"):
                report = json.loads(stats.read_text())
                stages = report.get("stages", {})
                stage_ms[name] = {k: v.get("mean_ms") for k, v in stages.items() if isinstance(v, dict)}
                frames_as[name] = report.get("frames_as", "?")
            out.unlink(missing_ok=True)
    print(f"\nspeed: {frames} woven frames at 1920x1080 ({clip}), whole process, best of {repeat}, "
          f"{os.cpu_count()} cores")
    bwdif = times["ffmpeg bwdif=mode=send_frame"]
    for name, walls in times.items():
        extra = f"   stage ms {stage_ms[name]}" if stage_ms.get(name) else ""
        extra += f"   frames as {frames_as[name]}" if name in frames_as else ""
        print(f"  {name:<32}{frames / min(walls):8.1f} fps  ({min(bwdif) / min(walls):.2f}x bwdif; "
              f"ratio of medians {statistics.median(bwdif) / statistics.median(walls):.2f}x){extra}")
    sys.stdout.flush()


def case_real(work: Path) -> None:
    src = work / "aerial.y4m"
    # Decoded once by vqe's own decoder (PyAV), which every method then reads.
    run_timed(vqe_cmd(MEDIA / INTERLACED_CLIP, src, "none"), env=ENV)
    reference = work / "progressive.y4m"
    run_timed(vqe_cmd(MEDIA / "clean_flower_540p.mp4", reference, "none") + ["--max-frames", "31"], env=ENV)
    dst = work / "out.y4m"
    rows = [("input (woven, bottom field first)", None), ("vqe deinterlace (detects combing and order)",
                                                          vqe_cmd(src, dst, "deinterlace")),
            ("vqe deinterlace mode=blend", vqe_cmd(src, dst, "deinterlace", "deinterlace.mode=blend")),
            ("bwdif send_frame parity=bff", [ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(src), "-vf",
                                             "bwdif=mode=send_frame:parity=bff", "-f", "yuv4mpegpipe", "-strict",
                                             "-1", str(dst)]),
            ("yadif send_frame parity=bff", [ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(src), "-vf",
                                             "yadif=mode=send_frame:parity=bff", "-f", "yuv4mpegpipe", "-strict",
                                             "-1", str(dst)])]
    print(f"\nreal: {INTERLACED_CLIP}, combing index (% of luma samples zig-zagging > {COMB_LEVELS} levels)")
    for label, cmd in rows:
        if cmd is not None:
            run_timed(cmd, env=ENV)
        planes = read_y4m_planes(src if cmd is None else dst)
        print(f"  {label:<46}{combing_index(planes):8.3f}   ({len(planes)} frames)")
    print(f"  {'for scale: progressive clean_flower_540p':<46}{combing_index(read_y4m_planes(reference)):8.3f}")
    sys.stdout.flush()


def case_passthrough(work: Path) -> int:
    print("\npassthrough: progressive clips, vqe --stages deinterlace against --stages none (whole clips)")
    failures = 0
    for clip in PROGRESSIVE_CLIPS:
        plain, dei = work / "plain.y4m", work / "dei.y4m"
        run_timed(vqe_cmd(MEDIA / clip, plain, "none"), env=ENV)
        t0 = time.perf_counter()
        run_timed(vqe_cmd(MEDIA / clip, dei, "deinterlace"), env=ENV)
        wall = time.perf_counter() - t0
        same = subprocess.run(["cmp", "-s", str(plain), str(dei)], check=False).returncode == 0
        failures += not same
        count = len(read_y4m_planes(dei))
        print(f"  {clip:<34}{count:6d} frames  {'bit-exact' if same else 'CHANGED'}  ({wall:.1f} s)")
    sys.stdout.flush()
    return failures


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="quality_deinterlace", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    ap.add_argument("--size", default="640x360,1920x1080", help="frame sizes WxH for the fields case")
    ap.add_argument("--frames", type=int, default=60, help="interlaced frames per clip in the fields case")
    ap.add_argument("--no-bob", action="store_true", help="skip the field-rate comparison in the fields case")
    ap.add_argument("--speed-frames", type=int, default=300, help="interlaced frames of the 1080p speed clip")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per speed figure, best kept")
    ap.add_argument("--workdir", help="keep the clips here (default: a temporary folder)")
    args = ap.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case {unknown[0]!r}; use some of {', '.join(CASES)}")
    if not MEDIA.is_dir():
        ap.error(f"the shared clips are not at {MEDIA}")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="vqe-quality-deinterlace-") as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if "fields" in cases:
            case_fields([_size(s) for s in args.size.split(",")], args.frames, not args.no_bob, work)
        if "speed" in cases:
            case_speed(args.speed_frames, args.repeat, work)
        if "real" in cases:
            case_real(work)
        if "passthrough" in cases:
            failures += case_passthrough(work)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
