"""Contrast kernels against numpy/OpenCV references, and the contrast/color stages over time."""
import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.backend import CPU
from kernels.contrast import apply_contrast, contrast_coefficients
from kernels.contrast_stats import levels_from_histogram, tile_histograms, tile_mappings
from kernels.pixel import LUMA709_BGR
from kernels.thumbnail import bgr_stats_thumbnail
from realtime.stages.color import ColorParams, ColorStage, dead_zone, neutral_size
from realtime.stages.contrast import ContrastParams, ContrastStage
from realtime.stages.temporal import OneEuro


def luma_ref(frame):
    return (frame.astype(np.float64) * np.array(LUMA709_BGR)).sum(-1)


def tile_hist_ref(thumb, gy, gx):
    th, tw = thumb.shape
    hist = np.zeros((gy, gx, 256), np.int64)
    bins = np.clip(np.floor(thumb.astype(np.float64) + 0.5), 0, 255).astype(int)
    for i in range(th):
        ty = next(t for t in range(gy) if t * th // gy <= i < (t + 1) * th // gy)
        for j in range(tw):
            hist[ty, j * gx // tw, bins[i, j]] += 1
    return hist


def tile_map_ref(hist, clip):
    total = hist.sum(-1, keepdims=True).astype(np.float64)
    limit = np.maximum(clip * total / 256, 1.0)
    clipped = np.minimum(hist, limit)
    clipped += (hist - clipped).sum(-1, keepdims=True) / 256
    maps = np.cumsum(clipped, -1) * 255 / np.maximum(total, 1)
    return np.where(total > 0, maps, np.arange(256.0))


def apply_ref(frame, maps, black, white, strength, chroma=None):
    h, w = frame.shape[:2]
    gy, gx = maps.shape[:2]
    y = luma_ref(frame)
    scale = 255 / (white - black)
    chroma = scale if chroma is None else chroma
    yl = (y - black) * scale
    fy = np.maximum((np.arange(h) + 0.5) * gy / h - 0.5, 0)
    fx = np.maximum((np.arange(w) + 0.5) * gx / w - 0.5, 0)
    ty0 = np.minimum(fy.astype(int), gy - 1)
    tx0 = np.minimum(fx.astype(int), gx - 1)
    ty1, tx1 = np.minimum(ty0 + 1, gy - 1), np.minimum(tx0 + 1, gx - 1)
    wy = np.minimum(fy - ty0, 1)[:, None]
    wx = np.minimum(fx - tx0, 1)[None, :]
    i = np.clip(np.floor(y + 0.5), 0, 255).astype(int)
    m = maps.astype(np.float64)
    top = m[ty0[:, None], tx0[None, :], i] * (1 - wx) + m[ty0[:, None], tx1[None, :], i] * wx
    bot = m[ty1[:, None], tx0[None, :], i] * (1 - wx) + m[ty1[:, None], tx1[None, :], i] * wx
    yn = yl + (top * (1 - wy) + bot * wy - yl) * strength
    out = yn[..., None] + (frame - y[..., None]) * chroma
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def rand(shape, seed=0, low=0, high=256):
    return np.random.default_rng(seed).integers(low, high, shape).astype(np.uint8)


@pytest.mark.parametrize("factor, taps", [(1, None), (3, None), (4, 2)])
def test_stats_thumbnail_matches_reference(factor, taps):
    frame = rand((37, 53, 3))
    out = np.empty((3, 37 // factor, 53 // factor), np.float32)
    bgr_stats_thumbnail(frame, factor, taps=taps, out=out)
    t = factor if taps is None else taps
    skip = (factor - t) // 2
    planes = (luma_ref(frame), frame.min(-1).astype(float), frame.max(-1).astype(float))
    for k, plane in enumerate(planes):
        ref = np.array([[plane[i * factor + skip:i * factor + skip + t, j * factor + skip:j * factor + skip + t].mean()
                         for j in range(out.shape[2])] for i in range(out.shape[1])])
        assert np.allclose(out[k], ref, atol=1e-3)


@pytest.mark.parametrize("grid", [(1, 1), (3, 5), (8, 8), (16, 2)])
def test_tile_histograms_match_reference(grid):
    thumb = np.random.default_rng(1).uniform(-3, 258, (13, 17)).astype(np.float32)
    out = np.empty(grid + (256,), np.int32)
    tile_histograms(thumb, out=out)
    assert np.array_equal(out, tile_hist_ref(thumb, *grid))
    assert out.sum() == thumb.size


@pytest.mark.parametrize("clip", [1.0, 2.0, 4.0, 1000.0])
def test_tile_mappings_are_clipped_cdfs_and_blend_over_time(clip):
    thumb = (np.random.default_rng(2).beta(2, 5, (40, 56)) * 255).astype(np.float32)
    hist = tile_histograms(thumb, out=np.empty((4, 3, 256), np.int32))
    state = np.zeros((4, 3, 256), np.float32)
    tile_mappings(hist, clip, 1.0, state=state)
    ref = tile_map_ref(hist, clip)
    assert np.allclose(state, ref, atol=1e-2)
    assert np.all(np.diff(state, axis=-1) >= -1e-4) and np.allclose(state[..., -1], 255, atol=1e-2)
    before = state.copy()
    tile_mappings(np.zeros_like(hist), clip, 0.25, state=state)  # empty tiles map levels to themselves
    assert np.allclose(state, before + 0.25 * (np.arange(256) - before), atol=1e-2)


@pytest.mark.parametrize("black, white, strength, grid", [
    (0, 255, 0.0, (8, 8)), (20, 180, 0.0, (8, 8)), (20, 180, 0.6, (3, 5)), (0, 255, 1.0, (4, 4)),
    (10, 240, 1.0, (1, 1))])
def test_apply_contrast_matches_reference_on_odd_shape(black, white, strength, grid):
    frame = rand((37, 53, 3), 3)
    hist = tile_histograms(bgr_stats_thumbnail(frame, 2, out=np.empty((3, 18, 26), np.float32))[0],
                           out=np.empty(grid + (256,), np.int32))
    maps = tile_mappings(hist, 2.0, 1.0, state=np.zeros(grid + (256,), np.float32))
    got = apply_contrast(frame, maps, contrast_coefficients(black, white, strength))
    assert np.abs(got.astype(int) - apply_ref(frame, maps, black, white, strength)).max() <= 1


def test_clahe_is_close_to_opencv_on_gray():
    """Full-resolution statistics, no levels: the same algorithm as cv2.createCLAHE (up to its residual spreading)."""
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[0:256, 0:384]
    gray = np.clip(60 + 40 * np.sin(xx / 19) + 50 * (yy / 256) + rng.normal(0, 8, (256, 384)), 0, 255)
    gray = gray.astype(np.uint8)
    frame = np.repeat(gray[..., None], 3, axis=2)
    hist = tile_histograms(bgr_stats_thumbnail(frame, 1, out=np.empty((3, 256, 384), np.float32))[0],
                           out=np.empty((8, 8, 256), np.int32))
    maps = tile_mappings(hist, 2.0, 1.0, state=np.zeros((8, 8, 256), np.float32))
    ours = apply_contrast(frame, maps, contrast_coefficients(0, 255, 1.0))[..., 1].astype(int)
    theirs = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray).astype(int)
    assert np.abs(ours - theirs).mean() < 2.5 and np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.99


def test_levels_change_keeps_hue():
    frame = rand((16, 16, 3), 5, 30, 200)
    out = apply_contrast(frame, np.zeros((1, 1, 256), np.float32), contrast_coefficients(25, 200, 0.0))
    # An affine map a*c + b applied to all three channels: colour differences scale by a, hue is unchanged.
    src = frame.astype(float)
    dst = out.astype(float)
    ok = (dst > 0).all(-1) & (dst < 255).all(-1)
    a = 255 / 175
    assert np.abs((dst[..., 2] - dst[..., 1])[ok] - a * (src[..., 2] - src[..., 1])[ok]).max() <= 1.01
    assert np.abs((dst[..., 0] - dst[..., 1])[ok] - a * (src[..., 0] - src[..., 1])[ok]).max() <= 1.01


def test_levels_from_histogram():
    hist = np.zeros(256)
    hist[50:151] = 1  # uniform over levels 50..150
    black, white = levels_from_histogram(hist, 1.0, 99.0)
    assert black == pytest.approx(50.51, abs=0.05) and white == pytest.approx(149.49, abs=0.05)
    assert levels_from_histogram(np.zeros(256), 1, 99) is None
    one = np.zeros(256)
    one[0] = 7
    assert levels_from_histogram(one, 0.5, 99.5)[0] <= levels_from_histogram(one, 0.5, 99.5)[1] <= 0.5


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20), seed=st.integers(0, 9999), gy=st.integers(1, 5),
       gx=st.integers(1, 5))
def test_identity_coefficients_give_identity(h, w, seed, gy, gx):
    frame = rand((h, w, 3), seed)
    before = frame.copy()
    maps = np.random.default_rng(seed).uniform(0, 255, (gy, gx, 256)).astype(np.float32)
    out = apply_contrast(frame, maps, contrast_coefficients(0.0, 255.0, 0.0))
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.array_equal(out, frame) and np.array_equal(frame, before)


# --- stages over time ----------------------------------------------------------------------------------

def walker_clip(n=60, h=72, w=96, seed=0, noise=4.0, sparkle=0.0, walker=True):
    """A static, full-range, on-average neutral scene with sensor noise and a dark 'person' walking through.

    ``sparkle``: fraction of pixels that light up to white on odd frames (glints,
    LED flicker), which jolts per-frame percentiles while the picture hardly changes.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 128 + 115 * np.sin(xx / 7) * np.cos(yy / 11)
    tint = 1 + 0.15 * np.stack([np.sin(yy / 5), np.cos(xx / 6), -np.sin(yy / 5)], -1)
    scene = base[..., None] * tint
    frames = []
    for i in range(n):
        img = scene + rng.normal(0, noise, scene.shape)
        x0 = int(-30 + (w + 60) * i / (n - 1))
        if walker:
            img[10:62, max(x0, 0):max(x0 + 26, 0)] = (35, 30, 28)
        if sparkle and i % 2:
            img[rng.random((h, w)) < sparkle] = 255
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def flicker_index(frames):
    """Standard deviation of the frame-to-frame change of mean luma."""
    means = np.array([luma_ref(f).mean() for f in frames])
    return float(np.std(np.diff(means)))


def degrade(frame):
    # Darker, flatter: what the automatic levels have to undo.
    return np.clip(frame.astype(np.float64) * 0.3 + 30, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("clahe", [0.0, 1.0])
def test_smoothing_removes_the_flicker_of_per_frame_automatics(clahe):
    """Static noisy shot: per-frame percentiles and tile histograms jitter; the smoothed ones do not."""
    truth = walker_clip(walker=False)
    clip = [degrade(f) for f in truth]
    ref = flicker_index(truth)
    results = {}
    for smoothing in (0.0, 20.0):
        stage = ContrastStage(ContrastParams(clahe=clahe, smoothing=smoothing, tiles_x=4, tiles_y=4), CPU)
        results[smoothing] = flicker_index([stage.apply(f).copy() for f in clip])
    assert results[20.0] <= 1.2 * ref
    assert results[0.0] >= 3.0 * ref


@pytest.mark.parametrize("clahe", [0.0, 1.0])
def test_person_walking_through_does_not_pump(clahe):
    truth = walker_clip()
    clip = [degrade(f) for f in truth]
    stage = ContrastStage(ContrastParams(clahe=clahe, tiles_x=4, tiles_y=4), CPU)
    out = [stage.apply(f).copy() for f in clip]
    assert flicker_index(out) <= 1.2 * flicker_index(truth) and stage.cuts == 0


def test_scene_cut_resets_and_levels_adapt_at_once():
    a = walker_clip(10)
    b = [np.clip(f.astype(int) // 3 + 20, 0, 255).astype(np.uint8)[::-1, ::-1].copy() for f in walker_clip(2)]
    stage = ContrastStage(ContrastParams(smoothing=50.0), CPU)
    for f in a:
        stage.apply(f)
    first, cuts = stage.levels, stage.cuts
    stage.apply(b[0])
    assert stage.cuts == cuts + 1
    direct = ContrastStage(ContrastParams(smoothing=50.0), CPU)
    direct.apply(b[0])
    assert stage.levels == pytest.approx(direct.levels) and stage.levels != pytest.approx(first)


def test_frame_size_change_resets():
    stage = ContrastStage(ContrastParams(), CPU)
    stage.apply(rand((20, 30, 3)))
    out = stage.apply(rand((11, 7, 3)))
    assert out.shape == (11, 7, 3)


@pytest.mark.parametrize("value", [(0, 0, 0), (255, 255, 255), (40, 130, 220), (128, 128, 128)],
                         ids=["black", "white", "single-colour", "gray"])
@pytest.mark.parametrize("shape", [(1, 1), (37, 53), (3, 200), (240, 1)])
def test_flat_frames_give_finite_sane_output(value, shape):
    frame = np.zeros(shape + (3,), np.uint8) + np.array(value, np.uint8)
    contrast = ContrastStage(ContrastParams(clahe=0.5), CPU)
    color = ColorStage(ColorParams(), CPU)
    for _ in range(3):
        out = color.apply(contrast.apply(frame))
    assert out.shape == frame.shape and np.all(np.isfinite(contrast.levels)) and np.all(np.isfinite(color.gains))
    if value in ((0, 0, 0), (255, 255, 255)):
        assert np.abs(out.astype(int) - frame).max() <= 8
    assert np.abs(out.astype(int).mean() - frame.mean()) < 40


def test_auto_white_balance_removes_a_cast_smoothly_and_ignores_a_flash():
    truth = walker_clip(30)
    cast = np.array([1.2, 1.0, 0.8])
    clip = [np.clip(f * cast, 0, 255).astype(np.uint8) for f in truth]
    stage = ColorStage(ColorParams(smoothing=5.0), CPU)
    for f in clip[:20]:
        out = stage.apply(f).copy()
    # The cast is gone: the output looks like what the same automatic gets from the uncast scene.
    plain = ColorStage(ColorParams(smoothing=5.0), CPU)
    for f in truth[:20]:
        ref = plain.apply(f)
    means = out.reshape(-1, 3).mean(0)
    ref_means = ref.reshape(-1, 3).mean(0)
    before = clip[19].reshape(-1, 3).mean(0)
    assert np.abs(means / means[1] - ref_means / ref_means[1]).max() < 0.07  # gray-world: the scene is 4% off gray
    assert np.abs(before / before[1] - ref_means / ref_means[1]).max() > 0.15
    held = stage.gains
    flash = np.clip(clip[20].astype(float) * (1.0, 1.4, 2.2), 0, 255).astype(np.uint8)  # a warm, bright flash
    stage.apply(flash)
    assert stage.gains == pytest.approx(held)
    stage.apply(clip[21])
    assert stage.gains == pytest.approx(held, rel=0.02) and stage.cuts == 0


def test_white_balance_leaves_a_neutral_scene_alone_and_off_is_plain_curves():
    truth = walker_clip(5)
    stage = ColorStage(ColorParams(), CPU)
    for f in truth:
        out = stage.apply(f)
    assert np.abs(out.astype(int) - truth[-1]).max() <= 1
    assert ColorStage(ColorParams(white_balance="off"), CPU).gains == (1.0, 1.0, 1.0)


def test_dead_zone_judges_each_chroma_axis_on_its_own():
    """Amber-blue and green-magenta casts fade in between one and two tolerances, each alone."""
    def axes(g):
        return 0.5 * (g[0] - g[2]), g[1] - 0.5 * (g[0] + g[2])

    warm = np.array([0.2, 0.0, -0.2])  # amber 0.2, no green: in full, brightness dropped
    assert axes(dead_zone(warm + 0.3, 0.05)) == pytest.approx(axes(warm))
    assert dead_zone(warm + 0.3, 0.05).mean() == pytest.approx(0.0)
    assert np.allclose(dead_zone(np.array([0.04, 0.0, -0.04]), 0.05), 0.0)  # a scene's own warmth
    halfway = axes(dead_zone(np.array([0.075, 0.0, -0.075]), 0.05))
    assert halfway == pytest.approx((0.5 * 0.075, 0.0))
    mixed = np.array([0.2, 0.03, -0.2])  # a strong amber cast with a slight green tint: the tint stays
    amber, green = axes(dead_zone(mixed, 0.05))
    assert amber == pytest.approx(0.2) and green == pytest.approx(0.0)
    assert np.allclose(dead_zone(mixed, 0.0) - dead_zone(mixed, 0.0).mean(), mixed - mixed.mean())


def orange_on_gray(h=72, w=96, seed=0):
    """A clean scene whose own colour fills most of it: a textured orange surface, and gray ones on the left
    (every white-balance estimator reads the orange as a warm cast)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    texture = np.sin(xx / 5) * np.cos(yy / 4)
    scene = np.empty((h, w, 3))
    gray = xx < 0.3 * w
    scene[gray] = (120 + 20 * texture[gray])[:, None]
    scene[~gray] = np.array([70.0, 130.0, 220.0]) * (0.7 + 0.3 * texture[~gray, None])
    return np.clip(scene + rng.normal(0, 2, scene.shape), 0, 255).astype(np.uint8)


def test_neutral_size_keeps_a_scenes_own_colour_and_a_casts_full_correction():
    """The correction is sized by the gray surfaces it leaves neutral: next to none for an orange surface beside
    gray ones (the grays are neutral already), all of it for the same scene under a cast (its grays were moved)."""
    scene = orange_on_gray().astype(np.float32)
    mean = scene.reshape(-1, 3).mean(0)
    gray_world = np.log(mean.mean() / mean)  # reads the orange as a warm cast
    assert 0.5 * (gray_world[0] - gray_world[2]) > 0.2
    assert neutral_size(scene, gray_world) <= 0.125  # a step moves the grays less than the radius
    cast = np.array([0.8, 1.0, 1.25], np.float32)
    assert neutral_size(np.clip(scene * cast, 0, 255), np.log(1 / cast)) == 1.0
    # Nothing to tell by: no correction, or no unclipped samples (black, white): the correction stands.
    assert neutral_size(scene, np.zeros(3)) == 1.0
    for value in (0.0, 255.0):
        assert neutral_size(np.full((45, 80, 3), value, np.float32), gray_world) == 1.0


def test_a_clean_scene_of_one_colour_is_changed_less_than_its_cast_says():
    frame = orange_on_gray()
    change = {}
    for share in (0.0, 0.5):
        stage = ColorStage(ColorParams(wb_neutral=share), CPU)
        for _ in range(3):
            out = stage.apply(frame)
        change[share] = np.abs(out.astype(int) - frame).mean()
    assert change[0.0] > 8.0  # without the sizing the orange reads as a cast and the grays turn blue-green
    assert change[0.5] < 0.7 * change[0.0]


def test_one_euro_follows_steps_and_smooths_noise():
    f = OneEuro(20.0, 0.0)
    rng = np.random.default_rng(0)
    noisy = [f(np.array([100 + rng.normal(0, 5)]))[0] for _ in range(200)]
    assert np.std(np.diff(noisy[50:])) < 1.0
    assert OneEuro(0.0, 0.0)(np.array([3.0]))[0] == 3.0


def test_clean_footage_is_left_alone_a_dim_one_stretched_partway_and_a_flat_one_fully():
    truth = walker_clip(3)
    near_white = [(f.astype(np.float64) * 0.95).astype(np.uint8) for f in truth]  # whites near 242: the scene's own
    stage = ContrastStage(ContrastParams(), CPU)
    for f in near_white:
        out = stage.apply(f)
    assert np.array_equal(out, near_white[-1]) and stage.levels == pytest.approx((0.0, 255.0))
    # Whites near 200: halfway between white_kept (235) and white_dimmed (160), so about halfway to 255.
    dim = [(f.astype(np.float64) * 200 / 255).astype(np.uint8) for f in truth]
    stage = ContrastStage(ContrastParams(), CPU)
    for f in dim:
        stage.apply(f)
    black, white = stage.levels
    assert black == pytest.approx(0.0, abs=1.0)
    assert 255 * 200 / 235 < white < 255 * 200 / 215  # the white maps to about 225: neither kept nor full
    flat = [degrade(f) for f in truth]  # 0.5 x + 30: a stretch of 2
    stage = ContrastStage(ContrastParams(), CPU)
    for f in flat:
        out = stage.apply(f)
    assert out.astype(float).std() > 1.7 * flat[-1].astype(float).std()


def test_levels_clip_no_channel_of_a_cast():
    """White point from the brightest channel: a strong blue cast keeps its blue highlights below 255."""
    truth = walker_clip(3)
    cast = [np.clip(f * (1.0, 0.6, 0.45) * 0.8, 0, 255).astype(np.uint8) for f in truth]
    stage = ContrastStage(ContrastParams(), CPU)
    out = stage.apply(cast[0])
    assert (out[..., 0] == 255).mean() < 0.01
