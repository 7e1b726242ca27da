"""tools/quality_path.py: the geometry that scores the stabilizer on exact motions (no pictures, no shared clips)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))

import quality_path  # noqa: E402
from quality_stabilize import SHAKES, Camera, case_seed, fit_metrics, intended_move, shake_of  # noqa: E402

SIZE = (1280, 720)


def _cameras(name: str, frames: int = 90, seed: int = 3):
    intended = intended_move(SHAKES[name].move, frames, 1.0)
    return intended, intended + shake_of(SHAKES[name], frames, 1.0, seed)


def _level(cam: Camera) -> Camera:
    """``cam`` without its roll: content motion is then exactly minus the camera's."""
    return Camera(cam.x, cam.y, 0.0 * cam.roll, cam.log_zoom)


def test_an_uncorrected_output_is_off_by_the_shake():
    intended, shaken = map(_level, _cameras("hand"))
    fits = quality_path.output_fits(intended, shaken, [(np.zeros(4), 1.0)] * 90, SIZE)
    np.testing.assert_allclose(fits[:, 0], intended.x - shaken.x, atol=1e-6)
    np.testing.assert_allclose(fits[:, 1], intended.y - shaken.y, atol=1e-6)
    np.testing.assert_allclose(fits[:, 3], 1.0)


def test_exact_motions_add_up_to_the_camera_path():
    _, shaken = _cameras("hand")
    motions = quality_path.exact_motions(_level(shaken), 90, SIZE)
    assert not motions[0].valid and all(m.valid for m in motions[1:])
    np.testing.assert_allclose(np.cumsum([m.dx_px for m in motions[1:]]), -(shaken.x[1:] - shaken.x[0]), atol=1e-6)
    turned = quality_path.exact_motions(shaken, 90, SIZE)
    np.testing.assert_allclose(np.cumsum([m.angle_rad for m in turned[1:]]), -(shaken.roll[1:] - shaken.roll[0]),
                               atol=1e-9)


def test_the_stage_takes_out_most_of_the_shake_and_a_knocked_tripod_stays_identical_before_the_knock():
    intended, shaken = _cameras("hand", frames=150)
    before = fit_metrics(quality_path.output_fits(intended, shaken, [(np.zeros(4), 1.0)] * 150, SIZE), *SIZE)
    after = quality_path.score("hand", 3, 5, (), 150, SIZE)
    assert after["jitter"] < 0.3 * before[0]
    assert after["crop"] >= 0.88
    bump = quality_path.score("bump", case_seed("x"), 0, (), 90, SIZE)
    assert bump["identical"] == 1.0


def test_halves_never_share_a_shake():
    assert len({case_seed(name) for name in ("astronaut", "chelsea", "rocket", "coffee")}) == 4
