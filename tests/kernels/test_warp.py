"""The affine warp (BGR, planes, I420) against cv2.warpAffine, and the gray thumbnail against a numpy box average."""
import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.planes import i420_planes, yuv_black
from kernels.warp import LUMA601_BGR, chroma_matrix, gray_thumbnail, thumbnail_size, warp_affine, warp_i420


def smooth_image(h, w, seed=0):
    """Photograph-like content: smooth gradients plus mild texture (bilinear references agree on it)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(xx / 5 + yy / 7), 128 + 90 * np.cos(yy / 4 - xx / 11),
                    128 + 80 * np.sin((xx - yy) / 6)], axis=-1) + rng.normal(0, 3, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def similarity(angle_deg, scale, tx, ty):
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


def warp_ref(frame, m, border):
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    return cv2.warpAffine(frame, m, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=mode, borderValue=(0, 0, 0))


def shift_ref(plane, sx, sy, border, fill):
    """Exact bilinear ``plane(x + sx, y + sy)`` in float64, each tap read through the border mode."""
    h, w = plane.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = xs + sx, ys + sy
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    ax, ay = x - x0, y - y0

    def tap(r, c):
        if border == "replicate":
            return plane[np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)]
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        return np.where(inside, plane[np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)], fill)

    top = tap(y0, x0) * (1 - ax) + tap(y0, x0 + 1) * ax
    bottom = tap(y0 + 1, x0) * (1 - ax) + tap(y0 + 1, x0 + 1) * ax
    return top * (1 - ay) + bottom * ay


MATRICES = [similarity(0, 1, 0.5, -0.25), similarity(7, 1.05, 3.3, -2.7), similarity(-20, 0.9, -4.1, 6.6),
            np.array([[1.02, 0.05, -1.5], [-0.03, 0.97, 2.25]])]


@pytest.mark.parametrize("border", ["black", "replicate"])
@pytest.mark.parametrize("m", MATRICES, ids=range(len(MATRICES)))
def test_numba_kernel_matches_opencv_on_odd_shape(m, border):
    frame = smooth_image(37, 53)
    ref = warp_ref(frame, m, border).astype(int)
    got = warp_affine(frame, m, border=border, use_opencv=False).astype(int)
    # OpenCV quantises positions to 1/32 px and weights to 1/1024: a level or two on steep slopes.
    diff = np.abs(got - ref)
    assert diff[2:-2, 2:-2].max() <= 2
    assert diff.mean() <= 0.3


@pytest.mark.parametrize("border", ["black", "replicate"])
def test_opencv_path_is_cv2_and_writes_into_out(border):
    frame = smooth_image(37, 53, 1)
    before = frame.copy()
    out = np.full_like(frame, 7)
    got = warp_affine(frame, MATRICES[1], out=out, border=border)
    assert got is out
    assert np.array_equal(out, warp_ref(frame, MATRICES[1], border))
    assert np.array_equal(frame, before)


def test_black_border_is_black_and_replicate_is_edge():
    frame = smooth_image(20, 30, 2)
    shift = np.array([[1.0, 0.0, -5.0], [0.0, 1.0, 0.0]])  # output column x reads source x - 5
    black = warp_affine(frame, shift, border="black", use_opencv=False)
    rep = warp_affine(frame, shift, border="replicate", use_opencv=False)
    assert (black[:, :5] == 0).all()
    assert np.array_equal(black[:, 5:], frame[:, :-5])
    assert np.array_equal(rep[:, :5], np.repeat(frame[:, :1], 5, axis=1))


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 24), w=st.integers(1, 24), dy=st.integers(-3, 3), dx=st.integers(-3, 3),
       seed=st.integers(0, 999))
def test_identity_and_integer_shifts_are_exact(h, w, dy, dx, seed):
    frame = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    got = warp_affine(frame, np.array([[1.0, 0, 0], [0, 1.0, 0]]), use_opencv=False)
    assert np.array_equal(got, frame)
    shifted = warp_affine(frame, np.array([[1.0, 0, dx], [0, 1.0, dy]]), use_opencv=False)
    rows = np.clip(np.arange(h) + dy, 0, h - 1)
    cols = np.clip(np.arange(w) + dx, 0, w - 1)
    assert np.array_equal(shifted, frame[rows][:, cols])


def test_extreme_matrix_gives_border_not_garbage():
    frame = smooth_image(9, 13)
    far = np.array([[1.0, 0, 1e9], [0, 1.0, -1e9]])
    assert (warp_affine(frame, far, border="black", use_opencv=False) == 0).all()
    rep = warp_affine(frame, far, border="replicate", use_opencv=False)
    assert (rep == frame[0, -1]).all()


@pytest.mark.parametrize("bad", [np.array([[np.nan, 0, 0], [0, 1, 0]]), np.eye(3),
                                 np.array([[1, 0, np.inf], [0, 1, 0]])])
def test_bad_matrix_is_rejected(bad):
    with pytest.raises(ValueError):
        warp_affine(smooth_image(5, 5), bad)


def test_unknown_border_is_rejected():
    with pytest.raises(ValueError, match="border"):
        warp_affine(smooth_image(5, 5), MATRICES[0], border="mirror")


def thumb_ref(frame, factor):
    th, tw = frame.shape[0] // factor, frame.shape[1] // factor
    y = frame[:th * factor, :tw * factor].astype(np.float64) @ np.array(LUMA601_BGR)
    return y.reshape(th, factor, tw, factor).mean(axis=(1, 3))


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
@pytest.mark.parametrize("use_opencv", [True, False])
def test_gray_thumbnail_is_a_box_average(factor, use_opencv):
    frame = smooth_image(37, 53, 3)
    _, th, tw = thumbnail_size(37, 53, 53 // factor)
    out = np.empty((37 // factor, 53 // factor), np.float32)
    gray_thumbnail(frame, factor, out=out, use_opencv=use_opencv)
    # OpenCV rounds to 8 bits twice (gray, then resize); the Numba kernel stays in float32.
    assert np.abs(out - thumb_ref(frame, factor)).max() <= (1.01 if use_opencv else 1e-3)


def test_thumbnail_size_fits_tiny_frames():
    assert thumbnail_size(720, 1280, 320) == (4, 180, 320)
    f, th, tw = thumbnail_size(3, 2, 320)
    assert f >= 1 and th >= 1 and tw >= 1


# --- planes and I420 frames ---------------------------------------------------------------

def i420_from_planes(y, u, v):
    return np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(y.shape[0] * 3 // 2, y.shape[1])


def chroma_matrix_ref(m):
    """S^-1 M S with S(c) = 2 c + 0.5: 4:2:0 chroma sited at the centre of its 2x2 luma block."""
    s = np.array([[2.0, 0.0, 0.5], [0.0, 2.0, 0.5], [0.0, 0.0, 1.0]])
    return (np.linalg.inv(s) @ np.vstack([m, [0.0, 0.0, 1.0]]) @ s)[:2]


def smooth_i420(h, w, seed=0):
    bgr = smooth_image(h, w, seed)
    return i420_from_planes(bgr[..., 0], np.ascontiguousarray(bgr[::2, ::2, 1]), np.ascontiguousarray(bgr[1::2, 1::2, 2]))


def test_chroma_matrix_is_the_luma_map_on_the_half_grid():
    for m in MATRICES:
        assert np.allclose(chroma_matrix(m), chroma_matrix_ref(m))
    # A luma shift by 2 px is a chroma shift by 1 px; the identity stays the identity.
    assert np.allclose(chroma_matrix([[1, 0, 2], [0, 1, -4]]), [[1, 0, 1], [0, 1, -2]])
    assert np.allclose(chroma_matrix(np.eye(2, 3)), np.eye(2, 3))


@pytest.mark.parametrize("border", ["black", "replicate"])
@pytest.mark.parametrize("use_opencv", [True, False])
@pytest.mark.parametrize("m", MATRICES, ids=range(len(MATRICES)))
def test_i420_warp_equals_per_plane_reference(m, use_opencv, border):
    frame = smooth_i420(38, 54, 4)
    before = frame.copy()
    black = (16, 128, 128)
    out = np.full_like(frame, 7)
    got = warp_i420(frame, m, out=out, border=border, black=black, use_opencv=use_opencv)
    assert got is out and np.array_equal(frame, before)
    y, u, v = i420_planes(frame)
    mc = chroma_matrix_ref(m)
    refs = [cv2.warpAffine(p, mat, (p.shape[1], p.shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT,
                           borderValue=(fill,) * 3)
            for p, mat, fill in zip((y, u, v), (m, mc, mc), black)]
    for plane, ref in zip(i420_planes(out), refs):
        assert np.abs(plane.astype(int) - ref).max() <= 1


@pytest.mark.parametrize("use_opencv", [True, False])
@pytest.mark.parametrize("full_range", [False, True])
def test_i420_black_border_is_ycbcr_black(use_opencv, full_range):
    frame = smooth_i420(20, 30, 5)
    shift = np.array([[1.0, 0.0, -6.0], [0.0, 1.0, 4.0]])  # output (x, y) reads source (x - 6, y + 4)
    out = warp_i420(frame, shift, out=np.empty_like(frame), border="black", black=yuv_black(full_range),
                    use_opencv=use_opencv)
    y, u, v = i420_planes(out)
    y0, u0, v0 = i420_planes(frame)
    assert (y[:, :6] == (0 if full_range else 16)).all() and (y[-4:] == (0 if full_range else 16)).all()
    assert (u[:, :3] == 128).all() and (v[-2:] == 128).all()
    assert np.array_equal(y[:-4, 6:], y0[4:, :-6])
    assert np.array_equal(u[:-2, 3:], u0[2:, :-3]) and np.array_equal(v[:-2, 3:], v0[2:, :-3])


@pytest.mark.parametrize("border", ["black", "replicate"])
def test_float_plane_keeps_its_values_unrounded(border):
    plane = smooth_image(37, 53)[..., 1].astype(np.float32) + np.float32(0.25)
    m = np.array([[1.0, 0.0, -0.3], [0.0, 1.0, 0.45]])  # a sub-pixel shift, as a denoiser's history gets
    twin = warp_affine(plane, m, border=border, border_value=16.0, use_opencv=False)
    cv = warp_affine(plane, m, border=border, border_value=16.0)
    assert twin.dtype == cv.dtype == np.float32
    ref = shift_ref(plane.astype(np.float64), -0.3, 0.45, border, 16.0)
    # Exact bilinear math in float32; OpenCV quantises the position to 1/32 px.
    assert np.abs(twin - ref).max() < 1e-3
    assert np.abs(cv - ref).max() < 1.0 and np.abs(cv - ref).mean() < 0.1
    assert np.any(twin != np.round(twin))  # not rounded to levels


def test_a_float_frame_of_three_channels_or_another_type_is_rejected():
    with pytest.raises(ValueError, match="kind"):
        warp_affine(np.zeros((6, 6), np.float32), MATRICES[0], out=np.empty((6, 6), np.uint8))
    with pytest.raises(ValueError, match="float32 plane"):
        warp_affine(np.zeros((6, 6), np.float64), MATRICES[0])


def test_plane_out_of_another_kind_is_rejected():
    with pytest.raises(ValueError, match="kind"):
        warp_affine(smooth_image(6, 6)[..., 0], MATRICES[0], out=np.empty((6, 6, 3), np.uint8))


@pytest.mark.parametrize("use_opencv", [True, False])
def test_thumbnail_of_a_luma_plane_is_its_box_average(use_opencv):
    plane = smooth_image(37, 53, 6)[..., 1].copy()
    out = np.empty((37 // 4, 53 // 4), np.float32)
    gray_thumbnail(plane, 4, out=out, use_opencv=use_opencv)
    ref = plane[:36, :52].astype(np.float64).reshape(9, 4, 13, 4).mean(axis=(1, 3))
    # OpenCV rounds the box average to 8 bits; the Numba kernel stays in float32.
    assert np.abs(out - ref).max() <= (0.51 if use_opencv else 1e-3)
