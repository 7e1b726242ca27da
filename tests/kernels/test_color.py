"""The fused colour/tone kernel against a float64 numpy reference."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from kernels.color import LUMA_BGR, adjust_color, tone_curves


def adjust_color_ref(frame, brightness=0.0, contrast=1.0, gamma=1.0, saturation=1.0):
    x = frame.astype(np.float64) / 255.0
    t = 255.0 * np.clip((x - 0.5) * contrast + 0.5 + brightness, 0, 1) ** (1 / gamma)
    y = (t * np.array(LUMA_BGR)).sum(-1, keepdims=True)
    return np.clip(np.floor(y + (t - y) * saturation + 0.5), 0, 255).astype(np.uint8)


CASES = [dict(), dict(brightness=0.1), dict(contrast=1.4), dict(gamma=2.2), dict(saturation=0.0),
         dict(brightness=-0.05, contrast=1.2, gamma=0.8, saturation=1.7)]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_reference_on_odd_shape(case):
    frame = np.random.default_rng(0).integers(0, 256, (37, 53, 3)).astype(np.uint8)
    curves = tone_curves(case.get("brightness", 0.0), case.get("contrast", 1.0), case.get("gamma", 1.0))
    got = adjust_color(frame, curves, case.get("saturation", 1.0))
    assert np.abs(got.astype(int) - adjust_color_ref(frame, **case)).max() <= 1


def test_saturation_zero_is_gray_and_contrast_spreads_levels():
    frame = np.random.default_rng(1).integers(60, 200, (8, 8, 3)).astype(np.uint8)
    gray = adjust_color(frame, tone_curves(), 0.0)
    assert np.abs(gray.astype(int) - gray[..., :1]).max() <= 1
    punchy = adjust_color(frame, tone_curves(contrast=1.5), 1.0)
    assert punchy.astype(float).std() > frame.astype(float).std() * 1.3


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20), seed=st.integers(0, 9999))
def test_identity_parameters_give_identity(h, w, seed):
    frame = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    before = frame.copy()
    out = adjust_color(frame, tone_curves(), 1.0)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.array_equal(out, frame)
    assert np.array_equal(frame, before)


def test_writes_into_out():
    frame = np.full((4, 5, 3), 100, np.uint8)
    out = np.zeros_like(frame)
    assert adjust_color(frame, tone_curves(brightness=0.2), 1.0, out=out) is out
    assert (out == 151).all()
