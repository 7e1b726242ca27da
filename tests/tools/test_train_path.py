"""tools/train_path.py: the learned path smoother's fit (exact motions, no pictures, no shared clips)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))

import train_path  # noqa: E402


def _objective(metrics):
    jitter, drift = metrics
    return jitter ** 2 + train_path.DRIFT_WEIGHT * drift ** 2


@pytest.mark.parametrize("lookahead", [0, 2])
def test_the_fit_keeps_a_steady_pan_exact_and_lowers_its_own_objective(lookahead):
    cases = [("hand", 11, 8.0), ("walk", 12, 7.0)]
    weights = {k: train_path.path_weights(train_path.PAST, k, train_path.FPS, train_path.SETTLED_DEGREE,
                                          train_path.SETTLED_WHITE_SHARE).copy() for k in range(lookahead + 1)}
    runs = [train_path.run_case(case, lookahead, weights) for case in cases]
    # One row per frame, each with its window (past + frame + the frames after it, fewer at the clip's end).
    rows = runs[0][0]
    assert len(rows) == train_path.FRAMES
    assert [r[1] for r in rows[-lookahead - 1:]] == list(range(lookahead, -1, -1))
    assert rows[0][0].shape == (train_path.PAST + 1 + lookahead, 4)
    before = sum(_objective(m) for _, m in runs)
    fitted = train_path.fit_weights(runs, cases, lookahead)
    t = np.arange(len(fitted)) - train_path.PAST
    assert fitted.sum() == pytest.approx(1.0) and fitted @ t == pytest.approx(0.0, abs=1e-9)
    weights[lookahead] = fitted
    after = sum(_objective(train_path.run_case(case, lookahead, weights)[1]) for case in cases)
    assert after < 0.9 * before
