"""Byte-identity of outputs across a code change: a fixed matrix of runs, hashed.

Refactors must keep every output byte-identical.  This runs the same commands (the default
chain, ``quality``, deinterlace, upscale edge and learned, stabilize, a ``.cube`` LUT; each as
a headless file run, a file run with the preview open and a ``--live`` run) on one source tree
or two, writes raw ``.y4m`` outputs (no encoder in between) and compares their SHA-256.

    python tools/identity.py --save before.json            # on the old code
    python tools/identity.py --check before.json           # on the new code
    python tools/identity.py --base-rev HEAD~3             # both in one go (git archive of the old rev)
    python tools/identity.py --tree /tmp/old --save a.json # another unpacked source tree

A ``--live`` run that dropped frames or had its real-time governor make frames cheaper (a busy
machine) cannot be compared and is reported so, not counted as a difference.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "media"
FRAMES = 40

#: name -> (clip, vqe arguments); clips are the bundled sample or ../shared/media.
CASES: dict[str, tuple[str, list[str]]] = {
    "default": ("tools/samples/flower_540p.mp4", []),
    "quality": ("tools/samples/flower_540p.mp4", ["--preset", "quality"]),
    "deinterlace": (str(SHARED / "interlaced_aerial_576i_bff.mp4"), ["--stages", "deinterlace"]),
    "upscale_edge": (str(SHARED / "lowres_carphone_qcif.mp4"),
                     ["--stages", "upscale", "--set", "upscale.method=edge"]),
    "upscale_learned": (str(SHARED / "lowres_carphone_qcif.mp4"),
                        ["--stages", "upscale", "--set", "upscale.method=learned"]),
    "stabilize": (str(SHARED / "shaky_foreman_cif.mp4"), ["--stages", "stabilize"]),
    "cube": ("tools/samples/flower_540p.mp4", ["--stages", "color", "--set", "color.lut={cube}"]),
}
MODES = {"file": ["--no-display"], "preview": [], "live": ["--live", "--no-display"]}


def _write_cube(path: Path) -> None:
    """A small warming grade: 5 points a side, red fastest (the Resolve layout)."""
    n = 5
    rows = [f"{min(1.0, r / (n - 1) * 1.08):.6f} {g / (n - 1):.6f} {b / (n - 1) * 0.92:.6f}"
            for b in range(n) for g in range(n) for r in range(n)]
    path.write_text(f"TITLE \"warm\"\nLUT_3D_SIZE {n}\n" + "\n".join(rows) + "\n")


def run_matrix(tree: Path, work: Path, cases: list[str], modes: list[str]) -> dict[str, str]:
    """Run every case x mode with the source tree ``tree``; return name -> sha256 or a reason."""
    cube = work / "warm.cube"
    _write_cube(cube)
    env = dict(os.environ, PYTHONPATH=str(tree), SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy")
    results: dict[str, str] = {}
    for name in cases:
        clip, args = CASES[name]
        clip_path = ROOT / clip
        if not clip_path.exists():
            results[name] = f"skipped: {clip_path} missing"
            continue
        for mode in modes:
            key = f"{name}/{mode}"
            out, stats = work / f"{name}_{mode}.y4m", work / f"{name}_{mode}.json"
            command = [sys.executable, "-m", "realtime", "--file", str(clip_path), "-o", str(out),
                       "--max-frames", str(FRAMES), "--backend", "cpu", "--no-progress", "--stats", str(stats),
                       *[a.format(cube=cube) for a in args], *MODES[mode]]
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                results[key] = f"failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}"
            elif mode == "live" and _dropped(stats):
                results[key] = "not comparable: frames dropped or made cheaper (the real-time governor)"
            else:
                results[key] = hashlib.sha256(out.read_bytes()).hexdigest()
            print(f"{key:28s} {results[key]}", flush=True)
    return results


def _dropped(stats: Path) -> bool:
    """Whether a live run dropped any frame (capture or recorder), or its governor made any cheaper."""
    report = json.loads(stats.read_text())
    drops = report.get("drops", {})
    stepped = any(step["taken"] for step in report.get("governor", {}).get("steps", ()))
    return stepped or (any(int(v) for v in drops.values()) if isinstance(drops, dict) else bool(drops))


def export_rev(rev: str, into: Path) -> Path:
    """The source tree of a git revision, unpacked (no change to the repository's state)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def compare(before: dict[str, str], after: dict[str, str]) -> int:
    """Print the verdict per run; the number of runs that differ."""
    differ = 0
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key, "missing"), after.get(key, "missing")
        hashed = len(a) == 64 and len(b) == 64
        verdict = ("identical" if a == b else "DIFFERENT") if hashed else f"not compared ({a[:40]} | {b[:40]})"
        differ += hashed and a != b
        print(f"{key:28s} {verdict}")
    return differ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--save", type=Path, help="write this tree's hashes here")
    parser.add_argument("--check", type=Path, help="compare this tree's hashes with a saved file")
    parser.add_argument("--base-rev", help="compare this tree with a git revision's")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the source tree to run (default: this one)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: file, preview, live")
    args = parser.parse_args()
    cases, modes = args.cases.split(","), args.modes.split(",")
    with tempfile.TemporaryDirectory(prefix="vqe-identity-") as tmp:
        work = Path(tmp)
        before = None
        if args.base_rev:
            base = export_rev(args.base_rev, Path(tempfile.mkdtemp(prefix="vqe-base-")))
            (work / "base").mkdir()
            print(f"# {args.base_rev}")
            before = run_matrix(base, work / "base", cases, modes)
        elif args.check:
            before = json.loads(args.check.read_text())
        (work / "this").mkdir()
        print(f"# {args.tree}")
        after = run_matrix(args.tree.resolve(), work / "this", cases, modes)
    if args.save:
        args.save.write_text(json.dumps(after, indent=1) + "\n")
    if before is None:
        return 0
    differ = compare(before, after)
    print(f"{differ} run(s) differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
