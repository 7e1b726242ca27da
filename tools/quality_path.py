"""The stabilizer's camera-path logic alone, on the shake corpus's exact motions: seconds where the pictures take an hour.

``tools/quality_stabilize.py corpus`` renders every case, runs the motion estimator on it and registers every output
frame to the intended one: about 45 minutes for a half on 2 cores.  Where a change touches only the camera path (the
smoother, the start of a path, the crop margin's knee, the border zoom), the pictures add little but the motion
estimate's own small error.  This tool gives the stage the exact frame-to-frame motion of each case's camera (the
corpus's shakes, seeds and intended moves: :func:`quality_stabilize.case_seed`), collects the correction and zoom of
every frame it emits, and scores them with the corpus's metrics (:func:`quality_stabilize.fit_metrics`), the fit of the
intended frame onto the output computed from the geometry instead of registered.

Only the cases on photographs are scored (``hand``, ``light``, ``strong``, ``walk``, ``tremor``, ``zoom``, ``roll``,
``bump``): over moving content (``pet``, ``water``, ``clip``) the motion estimate is the whole question.  ``--extra N``
adds N more shakes per case type (their seeds drawn from names that no source has), for a worst case over more than
a half's few sources.  ``--head N`` also scores the first N frames and the rest apart: without lookahead the first
frame leaves as it came, so its whole shake is the error there, and a short clip's start weighs on its worst case.

Examples
--------
::

    python tools/quality_path.py --split tune
    python tools/quality_path.py --split tune --cases hand,strong --extra 12 --head 30
    python tools/quality_path.py --split tune --set stabilize.min_crop=0.8
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_stabilize import (  # noqa: E402
    SHAKES,
    TARGETS,
    WATERY,
    Camera,
    _view,
    case_seed,
    case_sources,
    fit_metrics,
    intended_move,
    shake_of,
)

from kernels.backend import CPU  # noqa: E402
from realtime.motion import Motion  # noqa: E402
from realtime.run.frames import Frame  # noqa: E402
from realtime.settings import build_settings  # noqa: E402
from realtime.stages.framing import inverse_matrix  # noqa: E402
from realtime.stages.stabilize import StabilizeStage  # noqa: E402

#: Case types scored here: those on photographs, whose difficulty is the path, not the motion estimate.
PATH_CASES = tuple(name for name, s in SHAKES.items() if not s.layer and name not in WATERY)


class ExactMotionStage(StabilizeStage):
    """The stabilizer given each frame's true motion in place of its estimate; it records what it emits."""

    def __init__(self, params, motions: list[Motion]) -> None:
        super().__init__(params, CPU)
        self._feed = iter(motions)
        self.emitted: list[tuple[np.ndarray, float]] = []

    def _measure(self, image):
        return next(self._feed)

    def _emit(self) -> Frame:
        frame = super()._emit()
        self.emitted.append((np.array(self.last_correction), self.last_zoom))
        return frame


def _matrix(cam: Camera, i: int, size: tuple[int, int]) -> np.ndarray:
    """Frame ``i``'s pixels -> world (3x3); the corpus's magnification scales every frame alike, so 1 here."""
    return np.vstack([_view(cam, i, size, 1.0, (0.0, 0.0)), [0.0, 0.0, 1.0]])


def exact_motions(cam: Camera, frames: int, size: tuple[int, int]) -> list[Motion]:
    """The true frame-to-frame similarity of the content under camera ``cam``, as :class:`Motion` gives it."""
    centre = np.array([(size[0] - 1) / 2.0, (size[1] - 1) / 2.0, 1.0])
    out = [Motion()]
    for i in range(1, frames):
        m = np.linalg.inv(_matrix(cam, i, size)) @ _matrix(cam, i - 1, size)
        d = (m @ centre)[:2] - centre[:2]
        out.append(Motion(dx_px=float(d[0]), dy_px=float(d[1]), angle_rad=math.atan2(m[1, 0], m[0, 0]),
                          scale=math.hypot(m[0, 0], m[1, 0]), confidence=1.0, valid=True, method="lk"))
    return out


def output_fits(intended: Camera, shaken: Camera, emitted: list[tuple[np.ndarray, float]],
                size: tuple[int, int]) -> np.ndarray:
    """``(n, 4)``: the similarity taking each intended frame onto its output, ``(dx, dy, angle, zoom)`` about the
    centre, as :func:`quality_stabilize.register` measures it on pictures."""
    w, h = size
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0, 1.0])
    fits = []
    for i, (corr, zoom) in enumerate(emitted):
        warp = inverse_matrix(corr, zoom, w, h) if zoom > 1.0 or np.any(corr != 0.0) else np.eye(3)[:2]
        # intended px -> world -> shaken frame px -> output px (the warp maps output px to the shaken frame).
        m = np.linalg.inv(np.vstack([warp, [0.0, 0.0, 1.0]])) @ np.linalg.inv(_matrix(shaken, i, size)) \
            @ _matrix(intended, i, size)
        d = (m @ centre)[:2] - centre[:2]
        fits.append((d[0], d[1], math.atan2(m[1, 0], m[0, 0]), math.hypot(m[0, 0], m[1, 0])))
    return np.asarray(fits)


def score(name: str, seed: int, lookahead: int, sets: tuple[str, ...], frames: int, size: tuple[int, int],
          head: int = 0) -> dict[str, float]:
    """One case: the metrics over the whole clip; with ``head``, jitter and drift over the first ``head`` frames and
    over the rest (each split by its own moving average); for a knocked tripod the share of its still part left
    identical."""
    shake = SHAKES[name]
    scale = size[1] / 720.0
    intended = intended_move(shake.move, frames, scale)
    shaken = intended + shake_of(shake, frames, scale, seed)
    params = build_settings(stages="stabilize", overrides=(f"stabilize.lookahead={lookahead}", *sets),
                            backend="cpu").params["stabilize"]
    stage = ExactMotionStage(params, exact_motions(shaken, frames, size))
    image = np.zeros((size[1], size[0], 3), np.uint8)
    for i in range(frames):
        stage.push(Frame(image, i, i / 30.0, float(i)))
    stage.flush()
    fits = output_fits(intended, shaken, stage.emitted, size)
    row = dict(zip(("jitter", "drift", "corner", "crop"), fit_metrics(fits, *size)))
    if head:
        first, rest = fit_metrics(fits[:head], *size), fit_metrics(fits[head:], *size)
        row.update({"head jitter": first[0], "head drift": first[1], "rest jitter": rest[0], "rest drift": rest[1]})
    if shake.bump:
        still = frames // 3
        row["identical"] = float(np.mean([not np.any(c) and z == 1.0 for c, z in stage.emitted[:still]]))
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", choices=("tune", "report"), default="tune", help="the corpus half (default tune)")
    p.add_argument("--cases", default=",".join(PATH_CASES), help=f"case types (default {','.join(PATH_CASES)})")
    p.add_argument("--lookahead", default="0,5", help="lookaheads, comma-separated (default 0,5)")
    p.add_argument("--set", action="append", default=[], help="extra --set stabilize.PARAM=VALUE")
    p.add_argument("--extra", type=int, default=0, help="more shakes per case type beyond the half's sources")
    p.add_argument("--head", type=int, default=0, help="also score the first HEAD frames and the rest apart")
    p.add_argument("--frames", type=int, default=180, help="frames per case (default 180, as the corpus)")
    p.add_argument("--seed", type=int, default=0, help="added to every case's seed (default 0, as the corpus)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    size = (1280, 720)
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in PATH_CASES]
    if unknown:
        p.error(f"case types {', '.join(unknown)} are not scored here: use {', '.join(PATH_CASES)}")
    print(f"{args.split} half, exact motions, {args.frames} frames, {size[0]}x{size[1]}: mean / worst over sources")
    for name in names:
        sources = [s.name for s, _ in case_sources(args.split, SHAKES[name])]
        sources += [f"{args.split}-extra-{k}" for k in range(args.extra)]
        for lookahead in (int(v) for v in args.lookahead.split(",")):
            rows = []
            for source in sources:
                row = score(name, case_seed(source, args.seed), lookahead, tuple(args.set), args.frames, size,
                            args.head)
                rows.append(row)
                if args.verbose:
                    print(f"  {name:<7}{source:<16}L{lookahead} " + "  ".join(f"{k} {v:.2f}" for k, v in row.items()))
            _print(name, lookahead, rows)
    return 0


def _print(name: str, lookahead: int, rows: list[dict[str, float]]) -> None:
    target = TARGETS[lookahead] if lookahead in TARGETS else {}
    parts = []
    for key in rows[0]:
        v = np.array([r[key] for r in rows])
        worst = v.min() if key in ("crop", "identical") else v.max()
        mark = ""
        if key in ("jitter", "drift") and key in target:
            mark = " ok" if worst <= target[key] else " MISS"
        parts.append(f"{key} {v.mean():.2f}/{worst:.2f}{mark}")
    print(f"{name:<7}L{lookahead:<2} n={len(rows):<3}" + "  ".join(parts), flush=True)


if __name__ == "__main__":
    sys.exit(main())
