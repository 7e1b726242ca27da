"""The fused colour/tone kernel against a float64 numpy reference."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.color import adjust_color, tone_curves
from kernels.pixel import LUMA709_BGR


def adjust_color_ref(frame, brightness=0.0, contrast=1.0, gamma=1.0, saturation=1.0):
    x = frame.astype(np.float64) / 255.0
    t = 255.0 * np.clip((x - 0.5) * contrast + 0.5 + brightness, 0, 1) ** (1 / gamma)
    y = (t * np.array(LUMA709_BGR)).sum(-1, keepdims=True)
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


# --- white balance, temperature/tint, 3D LUTs, thumbnails ------------------------------------------

from kernels.balance import shades_of_gray_gains, temperature_tint_gains  # noqa: E402
from kernels.color import lut_coefficients  # noqa: E402
from kernels.thumbnail import bgr_thumbnail  # noqa: E402
from realtime.stages.cube import parse_cube  # noqa: E402


def grade_rgb(r, g, b):
    """A non-linear 'film look' grade in RGB, [0, 1] -> [0, 1]: what a grading tool bakes into a LUT."""
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    r2 = np.clip(r ** 0.8 * 1.05 - 0.02, 0, 1)
    g2 = np.clip(0.9 * g + 0.08 * lum + 0.01, 0, 1)
    b2 = np.clip(0.7 * b + 0.25 * (1 - r) * lum, 0, 1)
    return r2, g2, b2


def write_cube_text(size, fn=grade_rgb):
    grid = np.linspace(0.0, 1.0, size)
    rows = [" ".join(f"{v:.6f}" for v in fn(r, g, b)) for b in grid for g in grid for r in grid]
    return "\n".join(["# Created by: DaVinci Resolve", 'TITLE "film look"', f"LUT_3D_SIZE {size}", ""] + rows) + "\n"


def lut_ref(frame, table, mode):
    """Float64 reference: interpolate ``table[b, g, r, (B, G, R)]`` (levels) at the frame's levels."""
    n = table.shape[0]
    t = table.astype(np.float64)
    pos = frame.astype(np.float64) / 255.0 * (n - 1)
    i = np.minimum(pos.astype(int), n - 2)
    f = pos - i
    ib, ig, ir = i[..., 0], i[..., 1], i[..., 2]
    fb, fg, fr = f[..., 0:1], f[..., 1:2], f[..., 2:3]

    def c(db, dg, dr):
        return t[ib + db, ig + dg, ir + dr]

    if mode == "trilinear":
        out = 0.0
        for db in (0, 1):
            for dg in (0, 1):
                for dr in (0, 1):
                    w = (fb if db else 1 - fb) * (fg if dg else 1 - fg) * (fr if dr else 1 - fr)
                    out = out + w * c(db, dg, dr)
    else:  # tetrahedral, written from the six-case table of the literature (Kasson et al.)
        out = np.empty(frame.shape)
        cases = [
            (fr > fg) & (fg > fb), (fr > fb) & (fb >= fg) & (fr > fg), (fb >= fr) & (fr > fg),
            (fb > fg) & (fg >= fr), (fg >= fb) & (fb > fr), (fg >= fr) & (fr >= fb)]
        cases[3] &= ~(fr > fg)
        cases[4] &= ~(fr > fg) & ~cases[3]
        cases[5] &= ~(fr > fg) & ~cases[3] & ~cases[4]
        vals = [
            (1 - fr) * c(0, 0, 0) + (fr - fg) * c(0, 0, 1) + (fg - fb) * c(0, 1, 1) + fb * c(1, 1, 1),
            (1 - fr) * c(0, 0, 0) + (fr - fb) * c(0, 0, 1) + (fb - fg) * c(1, 0, 1) + fg * c(1, 1, 1),
            (1 - fb) * c(0, 0, 0) + (fb - fr) * c(1, 0, 0) + (fr - fg) * c(1, 0, 1) + fg * c(1, 1, 1),
            (1 - fb) * c(0, 0, 0) + (fb - fg) * c(1, 0, 0) + (fg - fr) * c(1, 1, 0) + fr * c(1, 1, 1),
            (1 - fg) * c(0, 0, 0) + (fg - fb) * c(0, 1, 0) + (fb - fr) * c(1, 1, 0) + fr * c(1, 1, 1),
            (1 - fg) * c(0, 0, 0) + (fg - fr) * c(0, 1, 0) + (fr - fb) * c(0, 1, 1) + fb * c(1, 1, 1)]
        for m, v in zip(cases, vals):
            out = np.where(m, v, out)
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("mode", ["tetrahedral", "trilinear"])
@pytest.mark.parametrize("size", [2, 9, 17])
def test_cube_lut_within_one_level_of_float64_reference(mode, size):
    cube = parse_cube(write_cube_text(size), "film.cube")
    table = cube.kernel_table()
    frame = np.random.default_rng(size).integers(0, 256, (37, 53, 3)).astype(np.uint8)
    got = adjust_color(frame, tone_curves(), 1.0, lut=table, lut_coef=cube.kernel_coefficients(), interpolation=mode)
    assert np.abs(got.astype(int) - lut_ref(frame, table, mode)).max() <= 1


def test_tetrahedral_and_trilinear_reproduce_affine_luts_and_approach_the_grade():
    affine = parse_cube(write_cube_text(5, lambda r, g, b: (0.5 * r + 0.2 * g, 1 - g, 0.3 + 0.4 * b)), "a.cube")
    frame = np.random.default_rng(3).integers(0, 256, (21, 17, 3)).astype(np.uint8)
    x = frame.astype(np.float64) / 255
    want = 255 * np.stack([0.3 + 0.4 * x[..., 0], 1 - x[..., 1], 0.5 * x[..., 2] + 0.2 * x[..., 1]], -1)
    for mode in ("tetrahedral", "trilinear"):
        got = adjust_color(frame, tone_curves(), 1.0, lut=affine.kernel_table(), interpolation=mode)
        assert np.abs(got - want).max() <= 0.51
    # A 33-node LUT of the non-linear grade is close to the grade itself (r ** 0.8 is steep near black).
    fine = parse_cube(write_cube_text(33), "f.cube")
    r2, g2, b2 = grade_rgb(x[..., 2], x[..., 1], x[..., 0])
    exact = 255 * np.stack([b2, g2, r2], -1)
    got = adjust_color(frame, tone_curves(), 1.0, lut=fine.kernel_table())
    assert np.abs(got - exact).max() <= 3.0


def test_lut_domain_coefficients():
    coef = lut_coefficients(17, (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    assert np.allclose(coef[0] * 255 + coef[1], 8.0)  # level 255 = 1.0 sits mid-lattice of a [0, 2] domain
    frame = np.full((3, 4, 3), 255, np.uint8)
    half = np.linspace(0, 255, 3, dtype=np.float32)
    ident = np.ascontiguousarray(np.stack(np.meshgrid(half, half, half, indexing="ij"), -1))
    got = adjust_color(frame, tone_curves(), 1.0, lut=ident, lut_coef=lut_coefficients(3, (0,) * 3, (2,) * 3))
    assert (got == 128).all()


def test_lut_runs_after_curves_and_saturation():
    frame = np.random.default_rng(4).integers(0, 256, (11, 13, 3)).astype(np.uint8)
    curves = tone_curves(0.05, 1.2, 1.3)
    plain = adjust_color(frame, curves, 0.7)
    g = np.linspace(0, 255, 5, dtype=np.float32)
    ident = np.ascontiguousarray(np.stack(np.meshgrid(g, g, g, indexing="ij"), -1))
    assert np.abs(adjust_color(frame, curves, 0.7, lut=ident).astype(int) - plain).max() <= 1
    with pytest.raises(ValueError, match="trilinear or tetrahedral"):
        adjust_color(frame, curves, 1.0, lut=ident, interpolation="cubic")


@settings(max_examples=20, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), n=st.integers(2, 9), seed=st.integers(0, 9999),
       mode=st.sampled_from(["tetrahedral", "trilinear"]))
def test_identity_lut_gives_identity(h, w, n, seed, mode):
    frame = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    before = frame.copy()
    g = np.linspace(0, 255, n, dtype=np.float32)
    ident = np.ascontiguousarray(np.stack(np.meshgrid(g, g, g, indexing="ij"), -1))
    out = adjust_color(frame, tone_curves(), 1.0, lut=ident, interpolation=mode)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - frame).max() <= 1 and np.array_equal(frame, before)


def test_temperature_tint_keep_gray_luma_and_go_the_right_way():
    assert temperature_tint_gains(0.0, 0.0) == pytest.approx((1.0, 1.0, 1.0))
    for t, tint in [(0.5, 0.0), (-0.7, 0.3), (0.2, -1.0)]:
        b, g, r = temperature_tint_gains(t, tint)
        assert np.dot(LUMA709_BGR, (b, g, r)) == pytest.approx(1.0)
    b, g, r = temperature_tint_gains(0.5, 0.0)
    assert r > 1 > b
    b, g, r = temperature_tint_gains(0.0, 0.5)
    assert g < 1 and r > 1 and b > 1


def test_shades_of_gray_recovers_a_cast():
    rng = np.random.default_rng(5)
    neutral = rng.uniform(30, 150, (40, 60, 1)) * rng.uniform(0.8, 1.2, (40, 60, 3))
    cast = np.array([0.7, 1.0, 1.25])
    for p in (1.0, 6.0):
        clean = shades_of_gray_gains(neutral, p)[0]
        gains, used = shades_of_gray_gains(neutral * cast, p)
        assert used > 0.9
        ratio = np.asarray(gains) / np.asarray(clean)
        assert np.allclose(ratio / ratio[1], 1 / cast, rtol=0.03)


@pytest.mark.parametrize("level", [0, 255])
def test_shades_of_gray_gives_up_on_black_and_white(level):
    assert shades_of_gray_gains(np.full((10, 10, 3), level, np.float32)) is None
    assert shades_of_gray_gains(np.zeros((0, 0, 3), np.float32)) is None


def test_single_colour_frame_gains_make_it_gray():
    gains, _ = shades_of_gray_gains(np.full((8, 8, 3), (40.0, 120.0, 200.0), np.float32))
    out = np.asarray(gains) * (40.0, 120.0, 200.0)
    assert np.allclose(out, out[0]) and np.all(np.isfinite(out))


@pytest.mark.parametrize("factor, taps", [(1, None), (4, None), (4, 2), (5, 3)])
def test_bgr_thumbnail_matches_block_means(factor, taps):
    frame = np.random.default_rng(6).integers(0, 256, (37, 53, 3)).astype(np.uint8)
    th, tw = 37 // factor, 53 // factor
    out = np.empty((th, tw, 3), np.float32)
    bgr_thumbnail(frame, factor, taps=taps, out=out)
    t = factor if taps is None else taps
    skip = (factor - t) // 2
    ref = np.empty((th, tw, 3))
    for i in range(th):
        for j in range(tw):
            blk = frame[i * factor + skip:i * factor + skip + t, j * factor + skip:j * factor + skip + t]
            ref[i, j] = blk.reshape(-1, 3).mean(0)
    assert np.allclose(out, ref, atol=1e-3)
