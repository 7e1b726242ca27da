"""Train the stabilizer's learned path smoother (``kernels/models/path_smoother.npz``) on the shake corpus's tune half.

The smoothed camera path of a frame is ``h @ samples``: the raw path over a window of :data:`PAST` samples before the
frame, the frame and the lookahead's ``L`` after it (a young path padded as the stage pads it).  For each lookahead
``0 .. MAX_LOOKAHEAD`` this fits the weights ``h`` that leave the least jitter and drift, as the corpus measures them
(``tools/quality_stabilize.py``), over every tune-half shake on its photographs, at 720p with the exact motions of
their cameras (``tools/quality_path.py``; the motion estimate's own error is not the question here):

* the stage runs each case and records, per frame it emits, the window and the correction it applied; away from the
  crop margin the output's centre error is linear in ``h`` (the correction is ``h @ samples`` less the frame's own
  raw sample), so
* ``h`` minimises, summed over cases, ``w_case^2 * (jitter^2 + DRIFT_WEIGHT * drift^2)``, plus per frame
  ``NOISE_PX^2 |h|^2`` (as if every path sample carried that much white measurement noise) and the jitter that
  :data:`STOPBAND_PX` of shake above the corpus's band would leave (weights that bet on the corpus's exact shake
  spectrum let it through), subject to ``sum h = 1`` and ``sum t h = 0``: a camera that holds still or pans at a
  steady speed is followed exactly, wherever its path has got to;
* then once more, linearised about the first fit's own run (the crop margin's knee and the border zoom move with it).

The tune half's intended pans differ in how fast they speed up (a period drawn per case from :data:`PAN_PERIODS_S`),
so the weights are not fitted to one pan; the report half keeps the corpus's own pan.  The lookaheads are fitted in
order, so a clip's last frames (fewer frames after them) use the weights of the shorter lookaheads, as in the stage.

Examples
--------
::

    python tools/train_path.py                  # writes kernels/models/path_smoother.npz
    python tools/quality_path.py --split report # then judge it on the other half
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_path import PATH_CASES, ExactMotionStage, exact_motions, output_fits  # noqa: E402
from quality_stabilize import (  # noqa: E402
    SHAKES,
    case_seed,
    case_sources,
    fit_metrics,
    intended_move,
    moving_average,
    shake_of,
)

from kernels import MODEL_DIR  # noqa: E402
from realtime.run.frames import Frame  # noqa: E402
from realtime.settings import build_settings  # noqa: E402
from realtime.stages.camera_path import SETTLED_DEGREE, SETTLED_WHITE_SHARE, path_weights  # noqa: E402

#: Samples before the frame in the window (3 s at 30 fps).
PAST = 89
#: Largest lookahead trained; longer ones get the stage's hand-made smoother.
MAX_LOOKAHEAD = 10
#: Frame rate of the training paths (the stage uses the weights near it).
FPS = 30.0
#: Weight of drift against jitter (both squared): lower trades lag on a pan that changes speed for less shake.
DRIFT_WEIGHT = 0.3
#: White measurement noise (px a sample) the weights must not amplify.
NOISE_PX = 0.25
#: The corpus's shakes stop at 10 Hz, and weights free above it let most of a faster shake through (a camera on a
#: vehicle, a vibrating floor, a motion estimate's own noise): every case is also taken to carry this much shake
#: (px RMS per axis) spread evenly over :data:`STOPBAND_HZ`, all of it jitter where it is left in.
STOPBAND_PX = 2.0
STOPBAND_HZ = (9.0, 15.0)
#: Weight of each case type's error (the others 1): walking shake (1-3 Hz) and tremor (4-10 Hz) lie at the two
#: ends of the band and are few; without more weight one set of weights serves the middle of the band alone.
CASE_WEIGHTS = {"walk": 3.0, "tremor": 6.0}
#: Periods (s) of the intended pans: how fast they speed up and slow down (the corpus's is 8).
PAN_PERIODS_S = (6.0, 11.0)
FRAMES = 180
SIZE = (1280, 720)


class TrainingStage(ExactMotionStage):
    """The stabilizer given exact motions and candidate weights; it records each emitted frame's window."""

    def __init__(self, params, motions, weights: dict[int, np.ndarray]) -> None:
        super().__init__(params, motions)
        self.candidate = weights
        self.windows: list[tuple[np.ndarray, int]] = []
        self._seen: dict[int, tuple[np.ndarray, int]] = {}

    def _learned_past(self) -> int:
        return PAST

    def _learned_weights(self, future: int) -> np.ndarray | None:
        return self.candidate.get(future)

    def push(self, frame):
        self._seen.clear()  # history indices shift as the window fills
        return super().push(frame)

    def _smoothed_at(self, j: int) -> np.ndarray:
        smooth = super()._smoothed_at(j)
        self._seen[j] = self._last_window
        return smooth

    def _padded_samples(self, j, first, last, past):
        samples = super()._padded_samples(j, first, last, past)
        self._last_window = (samples, last - j)
        return samples

    def _emit_correction(self, held):
        correction = super()._emit_correction(held)  # smooths the frame leaving, if not yet done
        self.windows.append(self._seen[len(self._history) - len(self._window)])
        return correction


def training_cases(extra: int) -> list[tuple[str, int, float]]:
    """(case type, shake seed, pan period) of every tune-half case, ``extra`` more shakes per type."""
    cases = []
    for name in PATH_CASES:
        sources = [s.name for s, _ in case_sources("tune", SHAKES[name])] + [f"tune-extra-{k}" for k in range(extra)]
        for source in sources:
            seed = case_seed(source)
            period = float(np.random.default_rng(seed).uniform(*PAN_PERIODS_S))
            cases.append((name, seed, period))
    return cases


def run_case(case: tuple[str, int, float], lookahead: int, weights: dict[int, np.ndarray]):
    """One case through the stage: per emitted frame, the window, its lookahead, the frame's raw sample, the
    correction applied and the output's centre error; and the case's jitter and drift."""
    name, seed, period = case
    shake = SHAKES[name]
    intended = intended_move(shake.move, FRAMES, 1.0, FPS, period)
    shaken = intended + shake_of(shake, FRAMES, 1.0, seed, FPS)
    params = build_settings(stages="stabilize", overrides=(f"stabilize.lookahead={lookahead}",),
                            backend="cpu").params["stabilize"]
    stage = TrainingStage(params, exact_motions(shaken, FRAMES, SIZE), weights)
    image = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    for i in range(FRAMES):
        stage.push(Frame(image, i, i / FPS, float(i)))
    stage.flush()
    fits = output_fits(intended, shaken, stage.emitted, SIZE)
    rows = [(samples, future, samples[len(samples) - 1 - future, :2], corr[:2], fit[:2])
            for (samples, future), (corr, _), fit in zip(stage.windows, stage.emitted, fits)]
    return rows, fit_metrics(fits, *SIZE)[:2]


def fit_weights(runs, cases, lookahead: int) -> np.ndarray:
    """The constrained least-squares weights for ``lookahead`` from the cases' runs (see the module's text)."""
    width = PAST + 1 + lookahead
    low = moving_average(np.eye(FRAMES))
    high = np.eye(FRAMES) - low
    blocks, targets, noise_rows = [], [], 0.0
    for (rows, _), (name, _, _) in zip(runs, cases):
        w = CASE_WEIGHTS.get(name, 1.0)
        # e = const + A h per frame and axis; frames with fewer frames after them keep their (shorter) weights.
        const = np.zeros((FRAMES, 2))
        a = np.zeros((FRAMES, 2, width))
        for i, (samples, future, raw, corr, err) in enumerate(rows):
            if future == lookahead:
                const[i] = err - raw - corr
                a[i] = samples[:, :2].T
            else:
                const[i] = err
        for axis in range(2):
            for band, k in ((high, w), (low, w * math.sqrt(DRIFT_WEIGHT))):
                blocks.append(k * (band @ a[:, axis, :]))
                targets.append(-k * (band @ const[:, axis]))
        noise_rows += 2 * FRAMES * w * w
    # The stop band: per frequency, the share of that shake the smoothed path keeps is left in the output.
    freqs = np.linspace(*STOPBAND_HZ, 81)  # dense: between the points of a coarse grid the weights are free
    phases = np.exp(2j * np.pi * np.outer(freqs, np.arange(width) - PAST) / FPS)
    k = STOPBAND_PX * math.sqrt(noise_rows / len(freqs))
    blocks += [k * phases.real, k * phases.imag]
    targets += [np.zeros(len(freqs)), np.zeros(len(freqs))]
    matrix, target = np.vstack(blocks), np.concatenate(targets)
    # sum h = 1, sum t h = 0 (t: sample time from the frame): h = h0 + basis @ z.
    t = np.arange(width, dtype=np.float64) - PAST
    constraints = np.stack([np.ones(width), t])
    h0 = np.linalg.lstsq(constraints, np.array([1.0, 0.0]), rcond=None)[0]
    basis = np.linalg.svd(constraints)[2][2:].T
    ridge = NOISE_PX * math.sqrt(noise_rows)
    z = np.linalg.lstsq(np.vstack([matrix @ basis, ridge * np.eye(basis.shape[1])]),
                        np.concatenate([target - matrix @ h0, -ridge * (basis.T @ h0)]), rcond=None)[0]
    return h0 + basis @ z


def _runs(pool, cases, lookahead, weights):
    return list(pool.map(run_case, cases, [lookahead] * len(cases), [weights] * len(cases)))


def _summary(runs, cases) -> str:
    by_type: dict[str, list] = {}
    for (_, metrics), (name, _, _) in zip(runs, cases):
        by_type.setdefault(name, []).append(metrics)
    return "  ".join(f"{n} {np.mean([m[0] for m in v]):.2f}/{np.mean([m[1] for m in v]):.2f}"
                     for n, v in by_type.items())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--extra", type=int, default=4, help="more shakes per case type beyond the tune half's sources")
    p.add_argument("--out", type=Path, default=MODEL_DIR / "path_smoother.npz", help="where to write the weights")
    p.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    p.add_argument("--max-lookahead", type=int, default=MAX_LOOKAHEAD,
                   help=f"train lookaheads 0 to this (default {MAX_LOOKAHEAD})")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cases = training_cases(args.extra)
    print(f"{len(cases)} tune-half cases, window {PAST} + 1 + lookahead; jitter/drift (px) mean per case type")
    weights: dict[int, np.ndarray] = {}
    with ProcessPoolExecutor(args.jobs) as pool:
        for lookahead in range(args.max_lookahead + 1):
            # Start from the hand-made settled smoother over the same window.
            weights[lookahead] = path_weights(PAST, lookahead, FPS, SETTLED_DEGREE, SETTLED_WHITE_SHARE).copy()
            runs = _runs(pool, cases, lookahead, weights)
            print(f"L{lookahead:<2} hand-made: {_summary(runs, cases)}", flush=True)
            for _ in range(2):
                weights[lookahead] = fit_weights(runs, cases, lookahead)
                runs = _runs(pool, cases, lookahead, weights)
            print(f"L{lookahead:<2} learned:   {_summary(runs, cases)}", flush=True)
    np.savez(args.out, past=PAST, fps=FPS, **{f"L{k}": w for k, w in weights.items()})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
