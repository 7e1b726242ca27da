"""Denoise kernels and stage: numpy references, properties, PSNR gain, cuts, size changes, bad params."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.backend import CPU
from kernels.colorspace import YuvFormat, bgr_to_yuv
from kernels.denoise import MIN_VARIANCE_RATIO, NOISE_REF_LEVEL, plane_coefficients
from kernels.denoise_bgr import chroma_shape, denoise_planes, to_planes
from kernels.denoise_i420 import denoise_i420
from kernels.noise import NOISE_BINS, NOISE_LEVELS, _median_sigma, noise_histogram, noise_model, noise_step
from kernels.planes import i420_luma_chroma
from kernels.thumbnail import estimate_motion, luma_thumbnail, thumbnail_difference
from realtime.errors import ConfigError
from realtime.stages.denoise import PLANE_NOISE_GAIN, DenoiseParams, DenoiseStage, plane_noise_gains

# --- references ------------------------------------------------------------------------

def ycc_ref(frame):
    b, g, r = (frame[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return y, b - y, r - y


def half_ref(plane):
    """2x2 means, partial blocks at odd edges averaged over what is there."""
    h, w = plane.shape
    ch, cw = (h + 1) // 2, (w + 1) // 2
    pad = np.pad(plane, ((0, 2 * ch - h), (0, 2 * cw - w)))
    ones = np.pad(np.ones_like(plane), ((0, 2 * ch - h), (0, 2 * cw - w)))
    return pad.reshape(ch, 2, cw, 2).sum((1, 3)) / ones.reshape(ch, 2, cw, 2).sum((1, 3))


def to_bgr_ref(y, u, v):
    b, r = u + y, v + y
    g = (y - 0.299 * r - 0.114 * b) / 0.587
    return np.clip(np.floor(np.stack([b, g, r], -1) + 0.5), 0, 255).astype(np.uint8)


def neighbours_ref(plane, dy=0, dx=0):
    """The 3x3 neighbourhood of every pixel, displaced by (-dy, -dx), with replicated borders: (9, H, W)."""
    h, w = plane.shape
    rows = np.arange(h)[:, None] - dy
    cols = np.arange(w)[None, :] - dx
    out = []
    for oy, ox in [(0, 0), (-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]:
        out.append(plane[np.clip(rows + oy, 0, h - 1), np.clip(cols + ox, 0, w - 1)])
    return np.stack(out)


def denoise_plane_ref(cur, hist, k, shift=(0, 0), fresh=False):
    inv_t2, amin, thr, mgain, spatial, slope = (float(x) for x in k[:6])
    c = neighbours_ref(cur.astype(np.float64))
    # Thresholds follow the noise at the 3x3 mean level: sigma scales by sqrt(1 + slope (level - ref)).
    scale = np.sqrt(np.maximum(1.0 + slope * (c.mean(0) - NOISE_REF_LEVEL), MIN_VARIANCE_RATIO))
    inv_t2, thr, mgain = inv_t2 / scale ** 2, thr * scale, mgain / scale
    w = np.maximum(0.0, 1.0 - (c[1:] - c[0]) ** 2 * inv_t2)
    s = (c[0] + (w * c[1:]).sum(0)) / (1.0 + w.sum(0))
    if fresh:
        return c[0] + (s - c[0]) * spatial
    hn = neighbours_ref(hist.astype(np.float64), *shift)
    m = np.minimum(1.0, np.maximum(np.abs((c - hn).mean(0)) - thr, 0.0) * mgain)
    h = np.clip(hn[0], c.min(0), c.max(0))
    a = amin + (1 - amin) * m
    return h + (c[0] + (s - c[0]) * spatial * m - h) * a


def denoise_ref(frame, luma_hist, chroma_hist, coeffs, shift, fresh):
    y, u, v = ycc_ref(frame)
    cu, cv = half_ref(u), half_ref(v)
    cshift = (int(round(shift[0] / 2)), int(round(shift[1] / 2)))
    y_new = denoise_plane_ref(y, luma_hist, coeffs[0], shift, fresh)
    u_new = denoise_plane_ref(cu, chroma_hist[0], coeffs[1], cshift, fresh)
    v_new = denoise_plane_ref(cv, chroma_hist[1], coeffs[2], cshift, fresh)
    up = lambda p: np.repeat(np.repeat(p, 2, 0), 2, 1)[:y.shape[0], :y.shape[1]]  # noqa: E731
    return y_new, np.stack([u_new, v_new]), to_bgr_ref(y_new, u + up(u_new - cu), v + up(v_new - cv))


def sigma_from_histogram(hist):
    """One noise sigma per plane from noise_histogram counts, all levels pooled (the median of each)."""
    pooled = hist.reshape(hist.shape[0], -1, hist.shape[-1]).sum(axis=1)
    return np.array([_median_sigma(pooled[p]) for p in range(hist.shape[0])])


def new_hist():
    return np.zeros((3, NOISE_LEVELS, NOISE_BINS), np.int32)


def planes_of(frame):
    h, w = frame.shape[:2]
    return to_planes(frame, luma=np.empty((h, w), np.float32), chroma=np.empty((2,) + chroma_shape(h, w), np.float32))


def psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b) ** 2))


def psnr_420(a, b):
    """PSNR of luma and of 2x2-mean chroma, as a 4:2:0 encode would see the frames: (luma, chroma)."""
    ya, ua, va = ycc_ref(a)
    yb, ub, vb = ycc_ref(b)
    chroma = np.mean([(half_ref(ua) - half_ref(ub)) ** 2, (half_ref(va) - half_ref(vb)) ** 2])
    return psnr(ya, yb), 10 * np.log10(255.0 ** 2 / chroma)


def texture(h, w, seed=0):
    """Smooth random texture with edges: a realistic stand-in for a photograph."""
    import cv2

    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(30, 220, (h // 8 + 2, w // 8 + 2, 3)).astype(np.uint8), (w + 16, h + 16),
                      interpolation=cv2.INTER_CUBIC)
    base[(np.arange(h + 16) // 12 % 2 == 0)[:, None] & (np.arange(w + 16) // 20 % 2 == 0)[None, :]] //= 2
    return base


def noisy(frame, sigma, rng):
    return np.clip(frame + rng.normal(0, sigma, frame.shape) + 0.5, 0, 255).astype(np.uint8)


# --- kernels -----------------------------------------------------------------------------

def test_to_planes_matches_reference():
    frame = np.random.default_rng(0).integers(0, 256, (37, 53, 3)).astype(np.uint8)
    luma, chroma = planes_of(frame)
    y, u, v = ycc_ref(frame)
    assert np.allclose(luma, y, atol=1e-3)
    assert np.allclose(chroma, np.stack([half_ref(u), half_ref(v)]), atol=1e-3)


@pytest.mark.parametrize("shift", [(0, 0), (1, -2), (-3, 5)])
@pytest.mark.parametrize("fresh", [False, True])
@pytest.mark.parametrize("spatial", [0.8, 0.0])
@pytest.mark.parametrize("slope", [0.0, 1.0 / 128])
def test_denoise_planes_matches_reference_on_odd_shape(shift, fresh, spatial, slope):
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (37, 53, 3)).astype(np.uint8)
    luma, chroma = planes_of(frame)
    luma_hist = (luma + rng.normal(0, 6, luma.shape)).astype(np.float32)
    chroma_hist = (chroma + rng.normal(0, 6, chroma.shape)).astype(np.float32)
    coeffs = plane_coefficients([8.0, 14.0, 11.0], temporal=0.2, spatial=spatial, slopes=(slope, 0.0, 0.0))
    out = np.empty_like(frame)
    luma_out, chroma_out = np.empty_like(luma), np.empty_like(chroma)
    denoise_planes(frame, luma, chroma, luma_hist, chroma_hist, coeffs, shift=shift, fresh=fresh, out=out,
                   luma_out=luma_out, chroma_out=chroma_out)
    y_ref, c_ref, out_ref = denoise_ref(frame, luma_hist, chroma_hist, coeffs, shift, fresh)
    assert np.abs(luma_out - y_ref).max() < 2e-3
    assert np.abs(chroma_out - c_ref).max() < 2e-3
    assert np.abs(out.astype(int) - out_ref).max() <= 1


def i420_of(y, u, v):
    """One I420 frame from its three planes."""
    return np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(y.shape[0] * 3 // 2, y.shape[1])


@pytest.mark.parametrize("shift", [(0, 0), (1, -2), (-3, 5)])
@pytest.mark.parametrize("fresh", [False, True])
@pytest.mark.parametrize("spatial", [0.8, 0.0])
@pytest.mark.parametrize("slope", [0.0, 1.0 / 128])
def test_denoise_i420_matches_reference_per_plane(shift, fresh, spatial, slope):
    # The I420 pass is the per-plane math on the Y, Cb, Cr code values, rounded once into the output planes.
    rng = np.random.default_rng(11)
    h, w = 38, 54
    y, u, v = (rng.integers(0, 256, s).astype(np.uint8) for s in [(h, w), (h // 2, w // 2), (h // 2, w // 2)])
    frame = i420_of(y, u, v)
    before = frame.copy()
    luma_hist = (y + rng.normal(0, 6, y.shape)).astype(np.float32)
    chroma_hist = (np.stack([u, v]) + rng.normal(0, 6, (2, h // 2, w // 2))).astype(np.float32)
    coeffs = plane_coefficients([8.0, 5.0, 4.0], temporal=0.2, spatial=spatial, slopes=(slope, 0.0, 0.0))
    cshift = (int(round(shift[0] / 2)), int(round(shift[1] / 2)))
    refs = [denoise_plane_ref(y, luma_hist, coeffs[0], shift, fresh),
            denoise_plane_ref(u, chroma_hist[0], coeffs[1], cshift, fresh),
            denoise_plane_ref(v, chroma_hist[1], coeffs[2], cshift, fresh)]
    out = np.empty_like(frame)
    luma_out, chroma_out = np.empty_like(luma_hist), np.empty_like(chroma_hist)
    assert denoise_i420(frame, luma_hist, chroma_hist, coeffs, shift=shift, fresh=fresh, out=out,
                        luma_out=luma_out, chroma_out=chroma_out) is out
    assert np.array_equal(frame, before)
    assert np.abs(luma_out - refs[0]).max() < 2e-3
    assert np.abs(chroma_out - np.stack(refs[1:])).max() < 2e-3
    out_y, out_c = i420_luma_chroma(out)
    for got, ref in zip([out_y, out_c[0], out_c[1]], refs):
        assert np.abs(got.astype(int) - np.clip(np.floor(ref + 0.5), 0, 255)).max() <= 1


def test_i420_zero_sigma_passes_through_exactly():
    rng = np.random.default_rng(12)
    frame = rng.integers(0, 256, (30, 40)).astype(np.uint8)
    coeffs = plane_coefficients([0.0, 0.0, 0.0], temporal=0.1, spatial=1.0)
    for fresh in (True, False):
        out = np.empty_like(frame)
        luma_hist, chroma_hist = np.full((20, 40), 7.0, np.float32), np.full((2, 10, 20), -5.0, np.float32)
        denoise_i420(frame, luma_hist, chroma_hist, coeffs, fresh=fresh, out=out,
                     luma_out=np.empty((20, 40), np.float32), chroma_out=np.empty((2, 10, 20), np.float32))
        assert np.array_equal(out, frame)


def test_plane_noise_gains_follow_the_matrix_and_range():
    assert plane_noise_gains(None) == PLANE_NOISE_GAIN
    # BT.601 full range: Y is the BGR path's Y; Cb = (B-Y)/1.772, Cr = (R-Y)/1.402.
    full = plane_noise_gains(YuvFormat("bt601", True))
    assert full == pytest.approx((PLANE_NOISE_GAIN[0], PLANE_NOISE_GAIN[1] / 1.772, PLANE_NOISE_GAIN[2] / 1.402),
                                 rel=2e-3)
    limited = plane_noise_gains(YuvFormat("bt601", False))
    assert limited == pytest.approx((full[0] * 219 / 255, full[1] * 224 / 255, full[2] * 224 / 255), rel=1e-6)


def test_noise_estimate_on_i420_matches_the_plane_gains():
    # Noise added to BGR, then converted to 4:2:0 (box chroma): the estimate per plane
    # is what the gains predict, so a manual sigma means the same on BGR and I420 frames.
    rng = np.random.default_rng(13)
    clean = texture(120, 160)[:120, :160]
    fmt = YuvFormat("bt709", False)
    for sigma in (4.0, 10.0):
        y, u, v = bgr_to_yuv(noisy(clean, sigma, rng), fmt)
        luma, chroma = i420_luma_chroma(i420_of(y, u, v))
        est = sigma_from_histogram(noise_histogram(luma, chroma, step=1, out=new_hist()))
        assert est == pytest.approx(np.multiply(plane_noise_gains(fmt), sigma), rel=0.3)


def test_sparse_noise_sampling_on_large_planes_estimates_the_same_sigma():
    # 720p and 1080p luma planes are sampled more sparsely by default; the median barely moves.
    assert (noise_step(360, 640), noise_step(720, 1280), noise_step(1080, 1920)) == (2, 3, 5)
    rng = np.random.default_rng(5)
    y, u, v = bgr_to_yuv(noisy(texture(720, 1280)[:720, :1280], 8.0, rng), YuvFormat("bt709", False))
    luma, chroma = i420_luma_chroma(i420_of(y, u, v))
    dense = sigma_from_histogram(noise_histogram(luma, chroma, step=1, out=new_hist()))
    sparse = sigma_from_histogram(noise_histogram(luma, chroma, out=new_hist()))
    assert sparse == pytest.approx(dense, rel=0.03)


def i420_clip(fmt, frames, sigma, rng, shape=(96, 128)):
    """A slowly panning texture as clean and noisy I420 frames (noise added in BGR, as a camera would)."""
    h, w = shape
    base = texture(h, w)
    clean, noisy_frames = [], []
    for t in range(frames):
        bgr = np.ascontiguousarray(base[8 + t // 3:8 + t // 3 + h, 8:8 + w])
        clean.append(i420_of(*bgr_to_yuv(bgr, fmt)))
        noisy_frames.append(i420_of(*bgr_to_yuv(noisy(bgr, sigma, rng), fmt)))
    return clean, noisy_frames


def run_i420_stage(frames, fmt, **params):
    stage = DenoiseStage(DenoiseParams(**params), CPU)
    stage.yuv_format = fmt
    return stage, [stage.apply(f).copy() for f in frames]


def plane_psnr(a, b):
    """PSNR of the Y plane and of both chroma planes of two I420 frames."""
    (ya, ca), (yb, cb) = i420_luma_chroma(a), i420_luma_chroma(b)
    return psnr(ya, yb), psnr(ca, cb)


@pytest.mark.parametrize("params", [dict(), dict(sigma=12.0), dict(spatial=0.0, temporal=0.12, motion_search=True)],
                         ids=str)
def test_denoise_raises_psnr_on_i420_noise(params):
    rng = np.random.default_rng(14)
    fmt = YuvFormat("bt709", False)
    clean, frames = i420_clip(fmt, 12, 12.0, rng)
    stage, outs = run_i420_stage(frames, fmt, **params)
    assert all(o.shape == f.shape and o.dtype == np.uint8 for o, f in zip(outs, frames))
    before = np.mean([plane_psnr(f, c) for f, c in zip(frames[4:], clean[4:])], axis=0)
    after = np.mean([plane_psnr(o, c) for o, c in zip(outs[4:], clean[4:])], axis=0)
    assert after[0] > before[0] + 3.0
    assert after[1] > before[1] + 1.0
    if params.get("sigma"):
        assert np.allclose(stage.noise_sigma, 0.0)  # manual sigma: nothing estimated
    else:
        assert stage.noise_sigma[0] == pytest.approx(12.0 * plane_noise_gains(fmt)[0], rel=0.3)


def test_i420_luma_follows_the_bgr_path():
    # BT.601 full range: the Y plane is the BGR path's luma rounded to codes, the chroma planes its chroma
    # scaled; the filter scales with the noise sigma, so both paths give nearly the same luma.
    rng = np.random.default_rng(15)
    fmt = YuvFormat("bt601", True)
    base = texture(64, 96)
    bgr = [noisy(np.ascontiguousarray(base[8 + t // 2:8 + t // 2 + 64, 8:8 + 96]), 10.0, rng) for t in range(6)]
    _, outs_bgr = run_stage(bgr, sigma=10.0)
    _, outs_i420 = run_i420_stage([i420_of(*bgr_to_yuv(f, fmt)) for f in bgr], fmt, sigma=10.0)
    for o_bgr, o_i420 in zip(outs_bgr, outs_i420):
        diff = np.abs(i420_luma_chroma(o_i420)[0] - ycc_ref(o_bgr)[0])
        assert diff.mean() < 0.5 and np.percentile(diff, 99) < 2.5


def test_i420_scene_cut_and_zero_strength():
    rng = np.random.default_rng(16)
    fmt = YuvFormat("bt709", False)
    a, b = np.full((40, 64), 50, np.uint8), np.full((40, 64), 200, np.uint8)
    chroma = np.full((20, 32), 128, np.uint8)
    frames = [i420_of(noisy(p, 3, rng), chroma, chroma) for p in [a] * 6 + [b] * 2]
    stage, outs = run_i420_stage(frames, fmt, sigma=3.0, temporal=0.05)
    assert stage.cuts == 1
    assert np.abs(i420_luma_chroma(outs[6])[0].astype(int) - 200).mean() < 4  # no trace of scene A
    _, outs = run_i420_stage(frames, fmt, luma_strength=0.0, chroma_strength=0.0)
    assert all(np.array_equal(o, f) for o, f in zip(outs, frames))


def test_zero_sigma_planes_pass_through_exactly():
    frame = np.random.default_rng(2).integers(0, 256, (37, 53, 3)).astype(np.uint8)
    luma, chroma = planes_of(frame)
    coeffs = plane_coefficients([0.0, 0.0, 0.0], temporal=0.1, spatial=1.0)
    for fresh in (True, False):
        out = np.empty_like(frame)
        denoise_planes(frame, luma, chroma, luma + 7, chroma - 5, coeffs, fresh=fresh, out=out,
                       luma_out=np.empty_like(luma), chroma_out=np.empty_like(chroma))
        assert np.array_equal(out, frame)


def test_noise_estimate_is_close_on_textured_frames():
    rng = np.random.default_rng(3)
    clean = texture(120, 160)[:120, :160]
    for sigma in (3.0, 8.0, 15.0):
        frame = noisy(clean, sigma, rng)
        hist = noise_histogram(*planes_of(frame), step=1, out=new_hist())
        est = sigma_from_histogram(hist)
        assert est[0] == pytest.approx(0.668 * sigma, rel=0.25)
        assert est[1] == pytest.approx(1.104 / 2 * sigma, rel=0.3)


def test_thumbnail_and_shift_estimate():
    frame = texture(128, 192)
    a, b = frame[8:8 + 96, 8:8 + 160], frame[5:5 + 96, 12:12 + 160]  # content moves down 3, left 4
    thumbs = []
    for f in (a, b):
        luma, _ = planes_of(np.ascontiguousarray(f))
        thumbs.append(luma_thumbnail(luma, 1, out=np.empty((96, 160), np.float32)).copy())
    motion = estimate_motion(thumbs[0], thumbs[1], 1)
    # Whole pixels exactly; the sub-pixel part of a phase correlation's peak is biased by about a tenth.
    assert (round(motion[0]), round(motion[1])) == (3, -4) and motion == pytest.approx((3, -4), abs=0.2)
    assert thumbnail_difference(thumbs[0], thumbs[1], (3, -4)) < 1e-3
    luma, _ = planes_of(np.ascontiguousarray(a))
    small = luma_thumbnail(luma, 4, out=np.empty((24, 40), np.float32))
    assert np.allclose(small, luma.reshape(24, 4, 40, 4).mean(axis=(1, 3)), atol=1e-3)


# --- stage --------------------------------------------------------------------------------

def run_stage(frames, **params):
    stage = DenoiseStage(DenoiseParams(**params), CPU)
    return stage, [stage.apply(f).copy() for f in frames]


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 19), w=st.integers(1, 19), seed=st.integers(0, 9999), auto=st.booleans())
def test_zero_strength_is_identity_and_keeps_shape_and_input(h, w, seed, auto):
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (h, w, 3)).astype(np.uint8) for _ in range(3)]
    before = [f.copy() for f in frames]
    _, outs = run_stage(frames, luma_strength=0.0, chroma_strength=0.0, sigma=0.0 if auto else 12.0)
    for f, b, o in zip(frames, before, outs):
        assert o.shape == f.shape and o.dtype == np.uint8
        assert np.array_equal(f, b)
        assert np.array_equal(o, f)


@settings(max_examples=15, deadline=None)
@given(h=st.integers(1, 23), w=st.integers(1, 23), seed=st.integers(0, 9999))
def test_any_size_keeps_shape_dtype_and_input(h, w, seed):
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (h, w, 3)).astype(np.uint8) for _ in range(3)]
    before = [f.copy() for f in frames]
    _, outs = run_stage(frames, motion_search=True, still_threshold=3.0, subpixel=True)
    for f, b, o in zip(frames, before, outs):
        assert o.shape == f.shape and o.dtype == np.uint8 and np.array_equal(f, b)


@pytest.mark.parametrize("params", [dict(), dict(sigma=12.0), dict(motion_search=True, temporal=0.15)], ids=str)
def test_denoise_raises_psnr_on_synthetic_noise(params):
    rng = np.random.default_rng(4)
    base = texture(96, 128)
    clean = [np.ascontiguousarray(base[8 + t // 3:8 + t // 3 + 96, 8:8 + 128]) for t in range(12)]
    frames = [noisy(c, 12.0, rng) for c in clean]
    _, outs = run_stage(frames, **params)
    before = np.mean([psnr_420(f, c) for f, c in zip(frames[4:], clean[4:])], axis=0)
    after = np.mean([psnr_420(o, c) for o, c in zip(outs[4:], clean[4:])], axis=0)
    assert after[0] > before[0] + 3.0
    # Chroma is filtered at half resolution, where a 1-pixel pan is a half-pixel
    # misalignment: motion there falls back to the spatial filter, a smaller gain.
    assert after[1] > before[1] + 1.0


def test_static_noise_is_averaged_over_time():
    rng = np.random.default_rng(5)
    clean = texture(64, 96)[:64, :96]
    frames = [noisy(clean, 10.0, rng) for _ in range(20)]
    _, outs = run_stage(frames, sigma=10.0, temporal=0.1, spatial=0.0)
    gain = np.subtract(psnr_420(outs[-1], clean), psnr_420(frames[-1], clean))
    assert gain.min() > 6.0


STILL = dict(sigma=10.0, temporal=0.1, motion_threshold=0.75, motion_search=True)


def test_a_still_camera_averages_more_with_the_still_threshold():
    rng = np.random.default_rng(8)
    clean = np.ascontiguousarray(texture(96, 160)[:96, :160])
    frames = [noisy(clean, 10.0, rng) for _ in range(16)]
    _, strict = run_stage(frames, **STILL)
    _, lenient = run_stage(frames, still_threshold=3.0, **STILL)
    # The strict test calls a third of the noise "motion" and keeps it; held still, three noise
    # sigmas let it average out.
    gain = np.subtract(psnr_420(lenient[-1], clean), psnr_420(strict[-1], clean))
    assert gain[0] > 1.5


def test_a_pan_keeps_the_motion_threshold():
    rng = np.random.default_rng(9)
    base = texture(96, 200)
    clean = [np.ascontiguousarray(base[8:104, 4 + 3 * t:4 + 3 * t + 160]) for t in range(10)]  # 3 px a frame
    frames = [noisy(c, 10.0, rng) for c in clean]
    _, strict = run_stage(frames, **STILL)
    _, lenient = run_stage(frames, still_threshold=3.0, **STILL)
    assert all(np.array_equal(a, b) for a, b in zip(strict, lenient))


def test_a_sub_pixel_pan_lines_the_history_up_with_subpixel():
    import cv2

    rng = np.random.default_rng(11)
    base = texture(112, 200).astype(np.float32)
    clean = []
    for t in range(14):  # 1.4 px a frame across, 0.6 down: never a whole pixel
        m = np.float32([[1, 0, -(4 + 1.4 * t)], [0, 1, -(4 + 0.6 * t)]])
        clean.append(np.clip(cv2.warpAffine(base, m, (160, 96), flags=cv2.INTER_CUBIC), 0, 255).astype(np.uint8))
    frames = [noisy(c, 10.0, rng) for c in clean]
    _, whole = run_stage(frames, **STILL)
    _, lined = run_stage(frames, subpixel=True, **STILL)
    gain = np.mean([np.subtract(psnr_420(a, c), psnr_420(b, c)) for a, b, c in zip(lined[6:], whole[6:], clean[6:])],
                   axis=0)
    assert gain[0] > 0.2 and gain[1] > 0.4  # measured 0.36 and 0.80 dB


def test_subpixel_follows_a_size_change_and_a_cut():
    rng = np.random.default_rng(13)
    big, small = texture(96, 160), texture(64, 96, seed=1)
    frames = [np.ascontiguousarray(big[t:t + 80, 2 * t:2 * t + 120]) for t in range(4)]
    frames += [np.ascontiguousarray(small[t:t + 48, t:t + 80]) for t in range(4)]  # another size
    frames += [np.ascontiguousarray(255 - small[t:t + 48, t:t + 80]) for t in range(3)]  # a cut
    clean, frames = frames, [noisy(f, 6.0, rng) for f in frames]
    stage, outs = run_stage(frames, sigma=6.0, motion_search=True, subpixel=True)
    assert [o.shape for o in outs] == [f.shape for f in frames]
    assert stage.cuts >= 1
    # Right after the cut: the new picture, no trace of the old one moved into it.
    assert np.abs(outs[8].astype(int) - clean[8]).mean() < 6


def test_a_still_camera_is_not_moved_by_subpixel():
    rng = np.random.default_rng(12)
    clean = np.ascontiguousarray(texture(96, 160)[:96, :160])
    frames = [noisy(clean, 10.0, rng) for _ in range(10)]
    _, plain = run_stage(frames, still_threshold=3.0, **STILL)
    _, lined = run_stage(frames, still_threshold=3.0, subpixel=True, **STILL)
    # From the fourth frame on the camera counts as still: its measured motion is scatter, not moved.
    assert all(np.array_equal(a, b) for a, b in zip(plain[4:], lined[4:]))


def test_a_moving_object_before_a_still_camera_does_not_ghost():
    rng = np.random.default_rng(10)
    frames, clean = [], []
    for t in range(12):
        c = np.ascontiguousarray(texture(48, 96)[:48, :96] // 2)
        c[16:32, 8 + 6 * t:24 + 6 * t] = 220
        clean.append(c)
        frames.append(noisy(c, 4.0, rng))
    _, outs = run_stage(frames, still_threshold=3.0, **dict(STILL, sigma=4.0))
    last, truth = outs[-1].astype(int), clean[-1].astype(int)
    # Where the square was two frames ago the background must be back, not a faded square.
    assert np.abs(last[16:32, 8 + 6 * 9:8 + 6 * 10] - truth[16:32, 8 + 6 * 9:8 + 6 * 10]).mean() < 6
    assert np.abs(last[16:32, 8 + 6 * 11:24 + 6 * 11] - 220).mean() < 6


def test_moving_object_does_not_ghost():
    rng = np.random.default_rng(6)
    frames, clean = [], []
    for t in range(12):
        c = np.full((48, 96, 3), 60, np.uint8)
        c[16:32, 8 + 6 * t:24 + 6 * t] = 200
        clean.append(c)
        frames.append(noisy(c, 4.0, rng))
    _, outs = run_stage(frames, sigma=4.0, temporal=0.1)
    # Where the square was two frames ago the background must be back, not a faded square.
    last = outs[-1].astype(int)
    assert np.abs(last[16:32, 8 + 6 * 9:8 + 6 * 10] - 60).mean() < 6
    assert np.abs(last[16:32, 8 + 6 * 11:24 + 6 * 11] - 200).mean() < 6


def test_scene_cut_resets_history():
    rng = np.random.default_rng(7)
    a = np.full((40, 64, 3), 40, np.uint8)
    b = np.full((40, 64, 3), 210, np.uint8)
    frames = [noisy(a, 3, rng) for _ in range(6)] + [noisy(b, 3, rng) for _ in range(2)]
    stage, outs = run_stage(frames, sigma=3.0, temporal=0.05)
    assert stage.cuts == 1
    assert np.abs(outs[6].astype(int) - 210).mean() < 4  # no trace of scene A
    _, outs_nocut = run_stage(frames, sigma=3.0, temporal=0.05, scene_cut=0.0)
    assert np.array_equal(outs_nocut[5], outs[5])


def test_frame_size_change_resets_without_crash():
    rng = np.random.default_rng(8)
    stage = DenoiseStage(DenoiseParams(motion_search=True), CPU)
    for shape in [(30, 40), (30, 40), (17, 31), (1, 1), (2, 3), (17, 31), (30, 40)]:
        frame = rng.integers(0, 256, shape + (3,)).astype(np.uint8)
        out = stage.apply(frame)
        assert out.shape == frame.shape and out.dtype == np.uint8


def test_one_pixel_frames():
    frame = np.array([[[10, 200, 90]]], np.uint8)
    _, outs = run_stage([frame] * 4, sigma=20.0)
    assert all(o.shape == (1, 1, 3) for o in outs)
    assert np.abs(outs[-1].astype(int) - frame).max() <= 1


def test_buffers_are_reused_between_frames():
    rng = np.random.default_rng(9)
    stage = DenoiseStage(DenoiseParams(motion_search=True), CPU)
    frames = [rng.integers(0, 256, (24, 32, 3)).astype(np.uint8) for _ in range(4)]
    stage.apply(frames[0])
    stage.apply(frames[1])
    ids = {k: id(v) for k, v in stage._buffers.items()}
    for f in frames[2:]:
        stage.apply(f)
    assert {k: id(v) for k, v in stage._buffers.items()} == ids


@pytest.mark.parametrize("name,value", [("luma_strength", -0.1), ("chroma_strength", 9.0), ("sigma", 101.0),
                                        ("temporal", 0.0), ("spatial", 1.5), ("scene_cut", -1.0),
                                        ("estimate_every", 0)])
def test_out_of_range_params_raise_config_error(name, value):
    with pytest.raises(ConfigError, match=rf"denoise\.{name}=.*out of range; use a value in \["):
        DenoiseParams(**{name: value})


def test_real_scene_cuts_are_found(media):
    import cv2

    cap = cv2.VideoCapture(str(media / "clean_bikes_street_272p.mp4"))
    stage = DenoiseStage(DenoiseParams(motion_search=True), CPU)
    found = []
    index = 0
    while index < 90:  # the first two cuts; the whole clip costs seconds
        ok, frame = cap.read()
        if not ok:
            break
        before = stage.cuts
        stage.apply(frame)
        if stage.cuts > before:
            found.append(index)
        index += 1
    cap.release()
    # The clip's hard cuts (its largest frame-to-frame changes; the whole clip
    # gives 30, 76, 137, 187, 242), and nothing else: pans are not cuts.
    assert found == [30, 76]


# --- signal-dependent noise: the model, its fit, and bad input ------------------------------------

def read_shot_frame(h, w, read, shot, rng, base=None):
    """A horizontal ramp (every level, dark to bright) or ``base``, plus read + shot noise (the same on B,
    G and R, so the luma noise is the channel noise), as uint8 BGR; and the clean frame."""
    if base is None:
        base = np.repeat(np.tile(np.linspace(8, 247, w), (h, 1))[..., None], 3, axis=2)
    std = np.sqrt(read ** 2 + shot * base[..., :1])
    return np.clip(base + std * rng.standard_normal((h, w, 1)) + 0.5, 0, 255).astype(np.uint8), base


@pytest.mark.parametrize("read,shot", [(2.0, 0.0), (3.0, 0.2), (0.5, 0.3), (8.0, 0.05)])
def test_noise_model_recovers_read_and_shot_noise_on_luma(read, shot):
    rng = np.random.default_rng(21)
    frame, _ = read_shot_frame(240, 320, read, shot, rng)
    model = noise_model(noise_histogram(*planes_of(frame), step=1, out=new_hist()))
    a, b = model[0, :2]
    for level in (40.0, 128.0, 220.0):
        true_var = read ** 2 + shot * level
        assert a + b * level == pytest.approx(true_var, rel=0.25, abs=0.6)
    assert model[0, 2] == pytest.approx(128.0, abs=8)  # the ramp's mean level


def test_noise_model_keeps_luma_and_chroma_apart():
    # Luma-only grain (the same noise on B, G, R) leaves the chroma planes clean; grain of independent
    # channels puts noise in both.
    rng = np.random.default_rng(22)
    grey, _ = read_shot_frame(200, 256, 6.0, 0.0, rng)
    model = noise_model(noise_histogram(*planes_of(grey), step=1, out=new_hist()))
    assert np.sqrt(model[0, 0]) == pytest.approx(6.0, rel=0.2)
    assert (model[1:, 0] + model[1:, 1] * 128 < 0.3).all()
    colour = noisy(np.full((200, 256, 3), 120, np.uint8), 6.0, rng)
    model = noise_model(noise_histogram(*planes_of(colour), step=1, out=new_hist()))
    assert np.sqrt(model[0, 0] + model[0, 1] * 120) == pytest.approx(0.668 * 6.0, rel=0.2)
    assert np.sqrt(model[1, 0] + model[1, 1] * 120) == pytest.approx(1.104 / 2 * 6.0, rel=0.25)


@pytest.mark.parametrize("follow", [False, True])
def test_stage_reports_a_signal_dependent_model_and_luma_slope(follow):
    rng = np.random.default_rng(23)
    frames = [read_shot_frame(120, 192, 2.0, 0.25, rng)[0] for _ in range(4)]
    stage, outs = run_stage(frames, follow_level=follow)
    a, b = stage.noise_model[0, :2]
    assert b > 0.1 and a < 2.0 ** 2 + 4.0  # shot noise dominates: the variance grows with the level
    # The ramp's mean level is mid-gray: the sigma there either way.
    assert stage.noise_sigma[0] == pytest.approx(np.sqrt(4.0 + 0.25 * NOISE_REF_LEVEL), rel=0.25)
    slope = stage._coeffs_host[0, 5]
    assert (slope > 0.5 / NOISE_REF_LEVEL) if follow else slope == 0.0
    assert (stage._coeffs_host[1:, 5] == 0).all()  # chroma: one sigma
    assert psnr(outs[-1], read_shot_frame(120, 192, 0.0, 0.0, rng)[1]) > psnr(frames[-1], read_shot_frame(
        120, 192, 0.0, 0.0, rng)[1]) + 3.0


def test_shot_noise_is_filtered_in_dark_and_bright_areas_alike():
    # Pure shot noise on a dark and a bright half (sigma about 3.5 and 7.5): both are cleaned.
    import cv2

    rng = np.random.default_rng(24)
    base = cv2.GaussianBlur(texture(96, 128)[:96, :128].astype(np.float64), (0, 0), 2.0) * 0.35
    base[:, 64:] += 150
    clean = np.clip(base + 0.5, 0, 255).astype(np.uint8)
    frames = [read_shot_frame(96, 128, 0.5, 0.3, rng, base=base)[0] for _ in range(6)]
    _, outs = run_stage(frames)
    for half in (slice(0, 64), slice(64, 128)):
        before = psnr(frames[-1][:, half], clean[:, half])
        after = psnr(outs[-1][:, half], clean[:, half])
        assert after > before + 2.0, (half, before, after)


def test_clean_input_passes_nearly_untouched():
    frames = [np.ascontiguousarray(texture(72, 96)[t:t + 72, :96]) for t in range(5)]
    stage, outs = run_stage(frames)
    assert stage.noise_sigma[0] < 1.5
    for f, o in zip(frames, outs):
        assert psnr(o, f) > 40.0


@pytest.mark.parametrize("kind", ["black", "white", "clipped", "pure_noise", "one_wide", "one_high"])
def test_bad_input_gives_finite_bounded_output(kind):
    rng = np.random.default_rng(25)
    if kind == "black":
        frames = [np.zeros((48, 64, 3), np.uint8)] * 4
    elif kind == "white":
        frames = [np.full((48, 64, 3), 255, np.uint8)] * 4
    elif kind == "clipped":  # noise clipped at both ends
        frames = [noisy(np.where(texture(48, 64)[:48, :64] > 120, 250, 5).astype(np.uint8), 30.0, rng)
                  for _ in range(4)]
    elif kind == "pure_noise":
        frames = [rng.integers(0, 256, (48, 64, 3)).astype(np.uint8) for _ in range(4)]
    elif kind == "one_wide":
        frames = [noisy(np.full((40, 1, 3), 100, np.uint8), 10.0, rng) for _ in range(4)]
    else:
        frames = [noisy(np.full((1, 40, 3), 100, np.uint8), 10.0, rng) for _ in range(4)]
    stage, outs = run_stage(frames, motion_search=True)
    assert all(o.shape == f.shape and o.dtype == np.uint8 for o, f in zip(outs, frames))
    assert np.isfinite(stage.noise_model).all() and np.isfinite(stage.noise_sigma).all()
    # Never a runaway strength: the estimate stays within the cap, and flat frames stay as they are.
    assert (stage.noise_sigma <= 40.0 + 1e-9).all()
    if kind in ("black", "white"):
        assert np.array_equal(outs[-1], frames[-1])
    if kind == "pure_noise":
        # Nothing to keep but no picture to destroy either: the output stays in the input's range of levels.
        assert 60 < outs[-1].mean() < 200


def test_luma_motion_threshold_scales_with_the_noise():
    from realtime.stages.denoise import MOTION_NOISE_REF, motion_scale

    assert motion_scale(MOTION_NOISE_REF) == 1.0
    assert motion_scale(2 * MOTION_NOISE_REF) == pytest.approx(2.0)
    assert motion_scale(0.0) == 0.25 and motion_scale(1e6) == 4.0  # bounded: no runaway either way
    k = plane_coefficients([8.0, 4.0, 4.0], temporal=0.2, spatial=1.0, motion_threshold=(2.0, 1.0, 1.0))
    assert k[0, 2] == pytest.approx(2.0 * 8.0 / 3.0) and k[1, 2] == pytest.approx(1.0 * 4.0 / 3.0)
    rng = np.random.default_rng(26)
    for sigma in (4.0, 16.0):
        stage, _ = run_stage([noisy(np.full((32, 48, 3), 120, np.uint8), sigma, rng) for _ in range(2)])
        luma_sigma = stage.noise_sigma[0]
        # The luma plane's threshold (coefficient 2): motion_threshold * scale * sigma / 3; chroma's unscaled.
        assert stage._coeffs_host[0, 2] == pytest.approx(3.0 * motion_scale(luma_sigma) * luma_sigma / 3.0, rel=1e-4)
