"""Bilinear, bicubic and Lanczos resize: the Numba twin of the CUDA kernel against OpenCV, tap tables, edge cases."""
import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.resize import METHODS, TAPS, axis_taps, resize, resize_tables

CV2 = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
SIZES = [((37, 53), (74, 106)), ((37, 53), (111, 80)), ((13, 17), (29, 41)), ((1, 9), (2, 18)), ((5, 1), (10, 3)),
         ((1, 1), (3, 2))]


def frame_of(shape, seed=0, blur=0.0):
    img = np.random.default_rng(seed).integers(0, 256, shape + (3,)).astype(np.uint8)
    return cv2.GaussianBlur(img, (0, 0), blur) if blur else img


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("src, dst", SIZES, ids=str)
def test_numba_twin_matches_opencv(method, src, dst):
    frame = frame_of(src, seed=src[0] * dst[1])
    got = resize(frame, out=np.empty(dst + (3,), np.uint8), method=method, use_opencv=False)
    ref = cv2.resize(frame, dst[::-1], interpolation=CV2[method])
    # OpenCV rounds its weights to 11 bits: a level apart at most (more often for the bilinear
    # weights, whose fixed-point sums OpenCV rounds differently on 8-bit input).
    diff = np.abs(got.astype(int) - ref)
    assert diff.max() <= 1
    assert diff.mean() < (0.25 if method == "bilinear" else 0.1)


@pytest.mark.parametrize("method", METHODS)
def test_opencv_path_is_opencv(method):
    frame = frame_of((37, 53), blur=1.0)
    out = np.empty((74, 106, 3), np.uint8)
    assert resize(frame, out=out, method=method) is out
    assert np.array_equal(out, cv2.resize(frame, (106, 74), interpolation=CV2[method]))


@pytest.mark.parametrize("method", METHODS)
def test_same_size_is_the_identity(method):
    frame = frame_of((13, 17), seed=3)
    out = resize(frame, out=np.empty_like(frame), method=method, use_opencv=False)
    assert np.array_equal(out, frame)


@settings(max_examples=30, deadline=None)
@given(src=st.integers(1, 40), dst=st.integers(1, 90), method=st.sampled_from(METHODS))
def test_tap_tables(src, dst, method):
    index, weights = axis_taps(src, dst, method)
    assert index.shape == weights.shape == (dst, TAPS[method])
    assert index.min() >= 0 and index.max() <= src - 1
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-5)


def test_tables_are_reused_and_checked():
    frame = frame_of((13, 17), seed=4)
    tables = resize_tables((13, 17), (26, 34), "lanczos")
    a = resize(frame, out=np.empty((26, 34, 3), np.uint8), method="lanczos", tables=tables, use_opencv=False)
    # Tables for another size are rebuilt, not misused.
    b = resize(frame, out=np.empty((26, 34, 3), np.uint8), method="lanczos",
               tables=resize_tables((13, 17), (39, 51), "lanczos"), use_opencv=False)
    assert np.array_equal(a, b)


def test_constant_frame_stays_constant_and_input_is_kept():
    frame = np.full((9, 11, 3), (10, 128, 250), np.uint8)
    before = frame.copy()
    for method in METHODS:
        out = resize(frame, out=np.empty((23, 31, 3), np.uint8), method=method, use_opencv=False)
        assert np.array_equal(out, np.broadcast_to(frame[:1, :1], out.shape))
    assert np.array_equal(frame, before)


def test_unknown_method():
    with pytest.raises(ValueError, match="bicubic"):
        resize(frame_of((4, 4)), out=np.empty((8, 8, 3), np.uint8), method="nearest")


@pytest.mark.parametrize("method", METHODS)
def test_one_channel_planes(method):
    plane = frame_of((13, 17), seed=1, blur=1.0)[..., :1].copy()
    opencv = resize(plane, out=np.empty((26, 30, 1), np.uint8), method=method)
    twin = resize(plane, out=np.empty((26, 30, 1), np.uint8), method=method, use_opencv=False)
    assert np.array_equal(opencv[..., 0], cv2.resize(plane[..., 0], (30, 26), interpolation=CV2[method]))
    assert np.abs(twin.astype(int) - opencv).max() <= 1
