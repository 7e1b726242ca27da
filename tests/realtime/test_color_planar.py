"""The contrast and color stages on I420 frames against their BGR path (convert, apply, convert back)."""
import numpy as np
import pytest

from kernels.backend import CPU
from kernels.color import adjust_color, tone_curves
from kernels.color_i420 import adjust_color_i420, tone_lines
from kernels.colorspace import YuvFormat, bgr_to_yuv, yuv_to_bgr
from kernels.contrast import apply_contrast, apply_contrast_i420, contrast_coefficients
from kernels.planes import i420_planes, i420_shape
from kernels.thumbnail import bgr_thumbnail, i420_bgr_thumbnail
from realtime.stages.color import ColorParams, ColorStage
from realtime.stages.contrast import ContrastParams, ContrastStage

FORMATS = [YuvFormat("bt709", False), YuvFormat("bt601", True)]


def scene(h=48, w=64, seed=0, cast=(0.8, 1.0, 1.25), gain=0.7):
    """A smooth, textured, colour-cast BGR picture (chroma varies slowly, as in real footage)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([90 + 60 * np.sin(4 * xx + c) * np.cos(3 * yy - c) for c in (0.0, 1.1, 2.3)], -1)
    base += 25 * rng.standard_normal((h // 8, w // 8, 1)).repeat(8, 0).repeat(8, 1)
    return np.clip(base * np.asarray(cast) * gain + 20, 0, 255).astype(np.uint8)


def to_i420(bgr, fmt):
    img = np.empty(i420_shape(*bgr.shape[:2]), np.uint8)
    bgr_to_yuv(bgr, fmt, out=i420_planes(img))
    return img


def via_bgr(img, fmt, fn):
    """The BGR path's result on an I420 frame: convert, ``fn``, convert back."""
    return to_i420(fn(yuv_to_bgr(i420_planes(img), fmt)), fmt)


def diff(a, b):
    return np.abs(a.astype(int) - b)


@pytest.mark.parametrize("fmt", FORMATS)
def test_i420_thumbnail_matches_bgr_thumbnail(fmt):
    img = to_i420(scene(), fmt)
    bgr = yuv_to_bgr(i420_planes(img), fmt)
    ref = bgr_thumbnail(bgr, 8, taps=4, out=np.empty((6, 8, 3), np.float32))
    got = i420_bgr_thumbnail(i420_planes(img), fmt.to_bgr_coefficients(), 8, taps=4,
                             out=np.empty((6, 8, 3), np.float32))
    assert np.abs(got - ref).mean() < 0.3
    assert np.abs(got - ref).max() < 1.5


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("saturation", [1.0, 1.4])
def test_adjust_color_i420_matches_bgr_path(fmt, saturation):
    img = to_i420(scene(), fmt)
    curves = tone_curves(0.03, 1.15, 1.2, (1.2, 1.0, 0.8))
    ref = via_bgr(img, fmt, lambda b: adjust_color(b, curves, saturation))
    out = np.empty_like(img)
    adjust_color_i420(i420_planes(img), curves, saturation, fmt.to_bgr_coefficients(), fmt.from_bgr_coefficients(),
                      out=i420_planes(out))
    d = diff(out, ref)
    assert d.mean() < 0.5
    assert np.percentile(d, 99) <= 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_tone_lines_are_the_curves_without_gamma(fmt):
    img = to_i420(scene(), fmt)
    gains = (1.3, 1.0, 0.7)
    curves = tone_curves(0.05, 1.3, 1.0, gains)
    k = (fmt.to_bgr_coefficients(), fmt.from_bgr_coefficients())
    table = adjust_color_i420(i420_planes(img), curves, 1.2, *k, out=i420_planes(np.empty_like(img)))
    lines = adjust_color_i420(i420_planes(img), curves, 1.2, *k, lines=tone_lines(0.05, 1.3, gains),
                              out=i420_planes(np.empty_like(img)))
    for a, b in zip(table, lines):
        assert diff(a, b).max() <= 1
    assert diff(table[0], i420_planes(img)[0]).max() > 10  # the operation does something


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("strength", [0.0, 0.6])
def test_apply_contrast_i420_matches_bgr_path(fmt, strength):
    """Levels (tables) and levels + CLAHE (the kernel) against the BGR pass on a BT.709-luma picture."""
    img = to_i420(scene(gain=0.5), fmt)
    maps = np.random.default_rng(1).uniform(0, 255, (2, 3, 256)).astype(np.float32)
    maps.sort(axis=-1)
    coef = contrast_coefficients(15.0, 170.0, strength)
    ref = via_bgr(img, fmt, lambda b: apply_contrast(b, maps, coef))
    k = fmt.to_bgr_coefficients()
    out = apply_contrast_i420(img, maps, coef, float(k[0]), float(k[1]), out=np.empty_like(img))
    d = diff(out, ref)
    h = img.shape[0] * 2 // 3
    # BT.601 streams: the BGR path's luma is BT.709's, the planar path's is Y'; a small difference.
    assert d[:h].mean() < (0.5 if fmt.matrix == "bt709" else 1.5)
    assert d[h:].mean() < 0.6


@pytest.mark.parametrize("fmt", FORMATS)
def test_stages_on_i420_follow_the_bgr_path(fmt):
    """contrast,color over a few frames: I420 frames through the planar path against BGR frames."""
    frames = [scene(seed=s % 2) for s in range(4)]
    make = [lambda: ContrastStage(ContrastParams(clahe=0.3, tiles_x=3, tiles_y=2), CPU),
            lambda: ColorStage(ColorParams(saturation=1.1), CPU)]
    planar = [m() for m in make]
    packed = [m() for m in make]
    for s in planar:
        s.yuv_format = fmt
    for f in frames:
        img = to_i420(f, fmt)
        a, b = img, yuv_to_bgr(i420_planes(img), fmt)
        for sp, sb in zip(planar, packed):
            a, b = sp.apply(a), sb.apply(b)
        d = diff(a, to_i420(b, fmt))
        assert a.shape == img.shape
        assert d.mean() < 1.2
    # The white patch reads the brightest samples, where 4:2:0 chroma differs most: within 2%.
    assert planar[1].gains == pytest.approx(packed[1].gains, abs=0.02)
    assert planar[0].levels == pytest.approx(packed[0].levels, abs=1.5)
    assert planar[1].gains != pytest.approx((1.0, 1.0, 1.0), abs=0.02)  # the cast was seen and corrected


def test_color_takes_planes_unless_a_cube_lut_is_set(tmp_path):
    # A user LUT always keeps BGR (its 1/255 promise).
    cube = tmp_path / "id.cube"
    cube.write_text("LUT_3D_SIZE 2\n" + "".join(f"{r} {g} {b}\n" for b in (0, 1) for g in (0, 1) for r in (0, 1)))
    assert not ColorStage(ColorParams(lut=str(cube)), CPU).planar
    assert ColorStage(ColorParams(), CPU).planar
    assert ColorStage(ColorParams(gamma=1.4), CPU).planar
    assert ContrastStage(ContrastParams(), CPU).planar


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.matrix)
def test_a_neutral_well_exposed_frame_comes_through_bit_exact(fmt):
    # Full range and no cast: levels kept and neutral gains, so neither stage changes a sample (the
    # colour pass's round trip through BGR would clip the out-of-gamut ones).
    neutral = scene(cast=(1.0, 1.0, 1.0), gain=1.0)
    neutral[0, :8], neutral[-1, -8:] = 0, 255
    frame = to_i420(neutral, fmt)
    chroma = frame[neutral.shape[0]:]
    chroma[...] = np.clip(chroma + np.random.default_rng(3).integers(-40, 41, chroma.shape), 0, 255)

    def chain(img):
        for stage in (ContrastStage(ContrastParams(), CPU), ColorStage(ColorParams(), CPU)):
            stage.yuv_format = fmt
            img = stage.apply(img)
        return img

    assert np.array_equal(chain(frame), frame)
    warm = to_i420(scene(), fmt)  # a warm, dim picture is corrected
    assert not np.array_equal(chain(warm), warm)
