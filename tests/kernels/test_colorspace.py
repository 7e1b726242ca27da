"""Y'CbCr <-> BGR kernels against a float64 reference, and the round trip."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.colorspace import MATRICES, YuvFormat, bgr_to_yuv, yuv_to_bgr

from conftest import host, on

FORMATS = [YuvFormat("bt601", False), YuvFormat("bt709", True), YuvFormat("bt2020", False, 10),
           YuvFormat("bt709", False, 8, 2, 1), YuvFormat("bt601", True, 8, 1, 1)]


def yuv_to_bgr_ref(planes, fmt):
    """Float64 reference: centred bilinear chroma, then the matrix, then one rounding."""
    y, u, v = (p.astype(np.float64) for p in planes)
    h, w = y.shape

    def up(c):
        ch, cw = c.shape
        pos_y = np.clip((np.arange(h) + 0.5) / fmt.sub_y - 0.5, 0, None)
        pos_x = np.clip((np.arange(w) + 0.5) / fmt.sub_x - 0.5, 0, None)
        y0 = np.minimum(pos_y.astype(int), ch - 1); y1 = np.minimum(y0 + 1, ch - 1); wy = (pos_y - y0)[:, None]
        x0 = np.minimum(pos_x.astype(int), cw - 1); x1 = np.minimum(x0 + 1, cw - 1); wx = (pos_x - x0)[None, :]
        col0 = c[y0][:, x0] * (1 - wy) + c[y1][:, x0] * wy
        col1 = c[y0][:, x1] * (1 - wy) + c[y1][:, x1] * wy
        return col0 * (1 - wx) + col1 * wx

    kr, kb = MATRICES[fmt.matrix]
    kg = 1 - kr - kb
    s = 2 ** (fmt.bit_depth - 8)
    if fmt.full_range:
        peak = 2 ** fmt.bit_depth - 1
        yn, un, vn = y / peak, (up(u) - 128 * s) / peak, (up(v) - 128 * s) / peak
    else:
        yn, un, vn = (y - 16 * s) / (219 * s), (up(u) - 128 * s) / (224 * s), (up(v) - 128 * s) / (224 * s)
    r = yn + 2 * (1 - kr) * vn
    b = yn + 2 * (1 - kb) * un
    g = (yn - kr * r - kb * b) / kg
    return np.clip(np.floor(np.stack([b, g, r], -1) * 255 + 0.5), 0, 255).astype(np.uint8)


def random_planes(rng, fmt, h, w):
    peak = 2 ** fmt.bit_depth - 1
    ch, cw = fmt.chroma_shape(h, w)
    return (rng.integers(0, peak + 1, (h, w)).astype(fmt.dtype), rng.integers(0, peak + 1, (ch, cw)).astype(fmt.dtype),
            rng.integers(0, peak + 1, (ch, cw)).astype(fmt.dtype))


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@pytest.mark.parametrize("shape", [(37, 53), (1, 1), (2, 7), (16, 16)])
def test_yuv_to_bgr_matches_reference(backend, fmt, shape):
    planes = random_planes(np.random.default_rng(1), fmt, *shape)
    got = host(backend, yuv_to_bgr(tuple(on(backend, p) for p in planes), fmt, backend=backend))
    ref = yuv_to_bgr_ref(planes, fmt)
    assert got.shape == shape + (3,) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - ref).max() <= 1  # float32 vs float64 at .5 boundaries


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_bgr_to_yuv_matches_reference(fmt):
    rng = np.random.default_rng(2)
    bgr = rng.integers(0, 256, (37, 53, 3)).astype(np.uint8)
    y, u, v = bgr_to_yuv(bgr, fmt)
    kr, kb = MATRICES[fmt.matrix]
    s = 2 ** (fmt.bit_depth - 8)
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    luma = kr * r + (1 - kr - kb) * g + kb * b
    if fmt.full_range:
        y_ref = luma * (2 ** fmt.bit_depth - 1) / 255
    else:
        y_ref = 16 * s + luma * 219 * s / 255
    assert np.abs(y.astype(float) - np.floor(y_ref + 0.5)).max() <= 1
    # Chroma of a 2x2 block is the chroma of its mean colour.
    ch, cw = fmt.chroma_shape(37, 53)
    assert u.shape == v.shape == (ch, cw)
    blk = bgr[: fmt.sub_y, : fmt.sub_x].reshape(-1, 3).astype(np.float64).mean(0)
    mean_luma = kr * blk[2] + (1 - kr - kb) * blk[1] + kb * blk[0]
    half = (2 ** fmt.bit_depth - 1) / 2 if fmt.full_range else 112 * s
    cb = 128 * s + half * (blk[0] - mean_luma) / (255 * (1 - kb))
    assert abs(int(u[0, 0]) - np.floor(cb + 0.5)) <= 1


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 24), w=st.integers(1, 24), seed=st.integers(0, 10_000),
       fmt=st.sampled_from(FORMATS))
def test_luma_survives_round_trip(h, w, seed, fmt):
    """Y'CbCr -> BGR -> Y'CbCr keeps luma within rounding wherever BGR was not clipped.

    Luma does not depend on chroma resampling (the matrix cancels it), so the
    only losses are the two roundings and out-of-gamut clipping.
    """
    rng = np.random.default_rng(seed)
    planes = bgr_to_yuv(rng.integers(0, 256, (h, w, 3)).astype(np.uint8), fmt)
    bgr = yuv_to_bgr(planes, fmt)
    back = bgr_to_yuv(bgr, fmt)
    unclipped = ((bgr > 0) & (bgr < 255)).all(-1)
    scale = 2 ** (fmt.bit_depth - 8)
    err = np.abs(back[0].astype(int) - planes[0])
    assert (err[unclipped] <= scale).all()
    assert planes[0].dtype == fmt.dtype and back[1].shape == planes[1].shape


def test_inputs_are_not_mutated():
    fmt = FORMATS[0]
    planes = random_planes(np.random.default_rng(3), fmt, 9, 11)
    copies = [p.copy() for p in planes]
    bgr = yuv_to_bgr(planes, fmt)
    bgr_copy = bgr.copy()
    bgr_to_yuv(bgr, fmt)
    assert all(np.array_equal(a, b) for a, b in zip(planes, copies)) and np.array_equal(bgr, bgr_copy)


def test_format_validation():
    with pytest.raises(ValueError, match="matrix"):
        YuvFormat("bt999")
    with pytest.raises(ValueError, match="subsampling"):
        YuvFormat(sub_x=3)


def woven_colours(height=16, width=12):
    """Top field red, bottom field blue: what a camera panning over a colour edge weaves."""
    frame = np.empty((height, width, 3), np.uint8)
    frame[0::2] = (40, 40, 200)
    frame[1::2] = (200, 60, 40)
    return frame


def test_interlaced_chroma_keeps_each_fields_colour():
    fmt = YuvFormat("bt601", False)
    frame = woven_colours()
    field_wise = yuv_to_bgr(bgr_to_yuv(frame, fmt, interlaced=True), fmt, interlaced=True)
    frame_wise = yuv_to_bgr(bgr_to_yuv(frame, fmt), fmt)
    assert np.abs(field_wise.astype(int) - frame).max() <= 2
    # Subsampled as one picture, both fields get the mixed colour: the other field's colour bleeds in.
    assert np.abs(frame_wise.astype(int) - frame).max() > 40


def test_interlaced_chroma_rows_alternate_between_fields():
    """Chroma row 2m + f is the mean of rows 4m + f and 4m + 2 + f."""
    fmt = YuvFormat("bt601", False, 8, 1, 2)
    frame = np.random.default_rng(3).integers(0, 256, (8, 5, 3)).astype(np.uint8)
    _, u_field, _ = bgr_to_yuv(frame, fmt, interlaced=True)
    for crow, rows in enumerate(([0, 2], [1, 3], [4, 6], [5, 7])):
        _, u_ref, _ = bgr_to_yuv(np.ascontiguousarray(frame[rows].mean(0, keepdims=True).round().astype(np.uint8)
                                                      .repeat(2, 0)), fmt)
        assert np.abs(u_field[crow].astype(int) - u_ref[0]).max() <= 1


def test_interlaced_flag_is_ignored_where_fields_cannot_share_chroma_rows():
    fmt = YuvFormat("bt601", False)
    frame = woven_colours(height=10)  # 10 lines: 5 per field, not an even number of chroma rows each
    for a, b in zip(bgr_to_yuv(frame, fmt, interlaced=True), bgr_to_yuv(frame, fmt)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("pair", [("bt601", "bt709"), ("bt709", "bt601"), ("bt709", "bt2020")])
def test_matrix_change_matches_converting_the_colours_again(pair, full):
    from kernels.colorspace import change_matrix_i420, matrix_change

    src, dst = YuvFormat(pair[0], full), YuvFormat(pair[1], full)
    rng = np.random.default_rng(len(pair[1]))
    # Colours constant over each 2x2 block: then 4:2:0 loses nothing and both routes must agree.
    bgr = np.repeat(np.repeat(rng.integers(0, 256, (6, 7, 3)).astype(np.uint8), 2, 0), 2, 1)
    planes = bgr_to_yuv(bgr, src)
    out = tuple(np.empty_like(p) for p in planes)
    change_matrix_i420(planes, matrix_change(src, dst), out=out)
    for got, want in zip(out, bgr_to_yuv(bgr, dst)):
        assert np.abs(got.astype(int) - want).max() <= 1


def test_matrix_change_in_place_matches_a_separate_output():
    from kernels.colorspace import change_matrix_i420, matrix_change

    rng = np.random.default_rng(5)
    planes = (rng.integers(16, 236, (10, 14)).astype(np.uint8), rng.integers(16, 241, (5, 7)).astype(np.uint8),
              rng.integers(16, 241, (5, 7)).astype(np.uint8))
    k = matrix_change(YuvFormat("bt601", False), YuvFormat("bt709", False))
    out = tuple(np.empty_like(p) for p in planes)
    change_matrix_i420(planes, k, out=out)
    change_matrix_i420(planes, k, out=planes)
    for a, b in zip(planes, out):
        assert np.array_equal(a, b)


def test_matrix_change_keeps_the_range():
    from kernels.colorspace import matrix_change

    with pytest.raises(ValueError, match="range"):
        matrix_change(YuvFormat("bt601", False), YuvFormat("bt709", True))
