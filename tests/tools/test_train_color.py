"""The learned levels / white-balance experiment (tools/train_color.py): its targets, features and the
in-process swap of the stages' estimates; no corpus source is loaded."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))

pytest.importorskip("sklearn")
import train_color as tc  # noqa: E402

from kernels.backend import CPU  # noqa: E402
from realtime.stages.color import ColorStage  # noqa: E402
from realtime.stages.contrast import ContrastStage  # noqa: E402
from realtime.stages.params import ColorParams, ContrastParams  # noqa: E402

from corpus import Degradation  # noqa: E402


def _scene(h=136, w=240, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 100 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    tint = 1 + 0.2 * np.stack([np.sin(yy / 7.0), np.cos(xx / 5.0), -np.sin(xx / 11.0)], -1)
    return np.clip(base[..., None] * tint + rng.normal(0, 2, (h, w, 3)), 0, 255).astype(np.uint8)


def test_level_target_recovers_a_flat_tone_and_is_identity_on_the_truth():
    truth = _scene()
    stats = tc.Statistics()
    true_luma = stats.histograms(truth)[3]
    assert tc.level_target(true_luma, true_luma) == pytest.approx((0.0, 1.0), abs=1e-6)
    flat = Degradation(tone=("flat", 0.6, 0.15)).apply([truth], seed=0)[0]
    black, gain = tc.level_target(stats.histograms(flat)[3], true_luma)
    assert gain == pytest.approx(1 / 0.6, rel=0.03) and black == pytest.approx(0.15 * 255, abs=3)


def test_cast_target_undoes_a_channel_gain_on_the_chroma_axes():
    truth = _scene().astype(np.float32)
    cast = truth * np.array([0.8, 1.0, 1.2], np.float32)
    amber, green = tc.cast_target(cast, truth)
    assert amber == pytest.approx(0.5 * (math.log(1 / 0.8) - math.log(1 / 1.2)), abs=1e-3)
    assert green == pytest.approx(-0.5 * (math.log(1 / 0.8) + math.log(1 / 1.2)), abs=1e-3)
    assert np.allclose(tc.axes_to_log_gains(tc.chroma_axes(np.array([0.3, -0.1, 0.2]) - 0.4 / 3))
                       - (np.array([0.3, -0.1, 0.2]) - 0.4 / 3), 0.0)


@pytest.mark.parametrize("value", [(0, 0, 0), (255, 255, 255), (40, 130, 220)], ids=["black", "white", "single"])
@pytest.mark.parametrize("shape", [(1, 1), (240, 1), (37, 53)])
def test_features_on_bad_frames_are_finite_or_none(value, shape):
    frame = np.zeros(shape + (3,), np.uint8) + np.array(value, np.uint8)
    stats = tc.Statistics()
    luma, darkest, brightest, _ = stats.histograms(frame)
    x = tc.level_features(luma, darkest, brightest)
    assert x is None or np.all(np.isfinite(x))
    c = tc.cast_features(stats.thumbnail(frame))
    assert c is None or np.all(np.isfinite(c))


def test_estimators_swap_the_stages_only_inside_the_block():
    frame = _scene()
    plain = ContrastStage(ContrastParams(), CPU).apply(frame).copy()
    with tc.estimators(lambda hists: (20.0, 200.0), lambda stage, thumb: np.array([0.1, 0.0])):
        contrast, color = ContrastStage(ContrastParams(), CPU), ColorStage(ColorParams(), CPU)
        color.apply(contrast.apply(frame))
        assert contrast.levels == pytest.approx((20.0, 200.0))
        assert tc.chroma_axes(np.log(color.gains))[0] == pytest.approx(0.1, abs=1e-6)
    assert np.array_equal(ContrastStage(ContrastParams(), CPU).apply(frame), plain)
