"""Sharpen kernel and stage: numpy reference, identity, no noise boost, no halos, PSNR gain, bad params."""
import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.backend import CPU
from kernels.noise import luma_sigma
from kernels.sharpen import MAX_SOFTNESS, binomial_taps, sharpen, softness
from realtime.errors import ConfigError
from realtime.stages.sharpen import SharpenParams, SharpenStage


def sharpen_ref(frame, radius=1, amount=1.0, threshold=2.0, overshoot=2.0):
    f = frame.astype(np.float64)
    y = 0.299 * f[..., 2] + 0.587 * f[..., 1] + 0.114 * f[..., 0]
    taps = binomial_taps(radius).astype(np.float64)
    h, w = y.shape
    pad = np.pad(y, radius, mode="edge")
    hb = sum(t * pad[radius:radius + h, k:k + w] for k, t in enumerate(taps))
    pad = np.pad(hb, ((radius, radius), (0, 0)), mode="edge")
    blurred = sum(t * pad[k:k + h] for k, t in enumerate(taps))
    p1 = np.pad(y, 1, mode="edge")
    win = np.stack([p1[i:i + h, j:j + w] for i in range(3) for j in range(3)])
    d = y - blurred
    cored = np.sign(d) * np.maximum(np.abs(d) - threshold, 0)
    new = np.clip(y + amount * cored, win.min(0) - overshoot, win.max(0) + overshoot)
    return np.clip(np.floor(f + (new - y)[..., None] + 0.5), 0, 255).astype(np.uint8)


def psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b) ** 2))


def photo_like(h, w, seed=0, optics_sigma=0.6):
    """Random blocks seen through a lens: edges of every contrast, softened by ``optics_sigma``."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(20, 235, (h // 4 + 1, w // 4 + 1, 3)).astype(np.uint8), (w, h),
                     interpolation=cv2.INTER_NEAREST)
    return cv2.GaussianBlur(img, (0, 0), optics_sigma)


@pytest.mark.parametrize("case", [dict(), dict(radius=2, amount=1.5), dict(radius=3, amount=0.7, threshold=0.0),
                                  dict(amount=2.0, threshold=6.0, overshoot=0.0)], ids=str)
def test_matches_reference_on_odd_shape(case):
    frame = np.random.default_rng(0).integers(0, 256, (37, 53, 3)).astype(np.uint8)
    taps = binomial_taps(case.get("radius", 1))
    kw = {k: v for k, v in case.items() if k != "radius"}
    got = sharpen(frame, taps, **kw)
    assert np.abs(got.astype(int) - sharpen_ref(frame, **case)).max() <= 1


def test_binomial_taps():
    assert np.allclose(binomial_taps(1), [0.25, 0.5, 0.25])
    assert np.isclose(binomial_taps(3).sum(), 1.0)
    with pytest.raises(ValueError):
        binomial_taps(0)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20), seed=st.integers(0, 9999), radius=st.integers(1, 3))
def test_amount_zero_is_identity_and_input_kept(h, w, seed, radius):
    frame = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    before = frame.copy()
    out = sharpen(frame, binomial_taps(radius), amount=0.0)
    assert np.array_equal(out, frame) and np.array_equal(frame, before)
    stage = SharpenStage(SharpenParams(amount=0.0, radius=radius), CPU)
    assert np.array_equal(stage.apply(frame), frame)


@settings(max_examples=20, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20), seed=st.integers(0, 9999))
def test_stage_keeps_shape_dtype_and_input(h, w, seed):
    frame = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    before = frame.copy()
    out = SharpenStage(SharpenParams(amount=1.5), CPU).apply(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8 and np.array_equal(frame, before)


def test_flat_noise_is_not_amplified():
    rng = np.random.default_rng(1)
    frame = np.clip(128 + rng.normal(0, 1.2, (64, 64, 3)) + 0.5, 0, 255).astype(np.uint8)
    out = sharpen(frame, binomial_taps(1), amount=2.0, threshold=3.0)
    assert np.array_equal(out, frame)


def test_strong_edges_get_no_halos():
    frame = np.full((16, 32, 3), 40, np.uint8)
    frame[:, 16:] = 220
    frame = cv2.GaussianBlur(frame, (0, 0), 1.0)
    out = sharpen(frame, binomial_taps(2), amount=3.0, threshold=0.0, overshoot=0.0)
    assert out.min() >= frame.min() and out.max() <= frame.max()
    # ... and the edge did get steeper.
    assert np.abs(np.diff(out[8, :, 1].astype(int))).max() > np.abs(np.diff(frame[8, :, 1].astype(int))).max()


def test_sharpen_raises_psnr_on_blurred_image():
    clean = photo_like(96, 128, optics_sigma=1.0)
    blurred = cv2.GaussianBlur(clean, (0, 0), 1.0)
    out = SharpenStage(SharpenParams(), CPU).apply(blurred)
    # About 1 dB; this picture is all edges, which the noise measure reads as 0.5 levels of grain.
    assert psnr(out, clean) > psnr(blurred, clean) + 0.9


def test_sharpen_spares_a_clean_real_frame(media):
    cap = cv2.VideoCapture(str(media / "clean_flower_540p.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    clean = np.ascontiguousarray(frame[100:300, 200:520])
    blurred = cv2.GaussianBlur(clean, (0, 0), 1.0)
    stage = SharpenStage(SharpenParams(), CPU)
    assert psnr(stage.apply(clean), clean) > 40
    assert psnr(stage.apply(blurred), clean) > psnr(blurred, clean)


def test_stage_reuses_an_output_buffer_nobody_holds():
    stage = SharpenStage(SharpenParams(), CPU)
    frame = photo_like(24, 40)
    first = stage.apply(frame)
    address = first.ctypes.data
    del first
    assert stage.apply(frame).ctypes.data == address


@pytest.mark.parametrize("name,value", [("amount", -0.5), ("amount", 5.0), ("radius", 0), ("radius", 4),
                                        ("threshold", 40.0), ("overshoot", -1.0)])
def test_out_of_range_params_raise_config_error(name, value):
    with pytest.raises(ConfigError, match=rf"sharpen\.{name}=.*out of range; use a value in \["):
        SharpenParams(**{name: value})


def plane_ref(y, **case):
    """The reference on a one-channel plane: a gray BGR image's luma is the plane itself."""
    return sharpen_ref(np.repeat(y[..., None], 3, axis=2), **case)[..., :1]


@pytest.mark.parametrize("case", [dict(), dict(radius=2, amount=1.5, overshoot=0.0)], ids=str)
def test_one_channel_plane_matches_reference(case):
    y = np.random.default_rng(3).integers(0, 256, (37, 53, 1)).astype(np.uint8)
    kw = {k: v for k, v in case.items() if k != "radius"}
    got = sharpen(y, binomial_taps(case.get("radius", 1)), **kw)
    assert got.shape == y.shape
    assert np.abs(got.astype(int) - plane_ref(y[..., 0], **case)).max() <= 1


def test_stage_on_i420_sharpens_luma_and_copies_chroma():
    from kernels.planes import i420_planes, i420_shape

    rng = np.random.default_rng(4)
    frame = rng.integers(0, 256, i420_shape(36, 52)).astype(np.uint8)
    keep = frame.copy()
    p = SharpenParams(noise_coring=0.0)  # the reference cores at the fixed threshold
    out = SharpenStage(p, CPU).apply(frame)
    assert out.shape == frame.shape and np.array_equal(frame, keep)
    y, u, v = i420_planes(frame)
    oy, ou, ov = i420_planes(out)
    assert np.array_equal(ou, u) and np.array_equal(ov, v)
    ref = plane_ref(y, radius=p.radius, amount=p.amount, threshold=p.threshold, overshoot=p.overshoot)[..., 0]
    assert np.abs(oy.astype(int) - ref).max() <= 1
    assert np.abs(oy.astype(int) - y).max() > 10  # it did sharpen


# --- softness measurement and the automatic gain ---------------------------------------------------

def test_softness_grows_with_the_blur():
    clean = photo_like(120, 160, optics_sigma=0.5)
    measured = [softness(cv2.GaussianBlur(clean, (0, 0), s)[..., 1]) for s in (0.5, 1.0, 1.5, 2.0)]
    assert all(b > a + 0.1 for a, b in zip(measured, measured[1:]))
    assert 0.3 < measured[1] < 1.2  # an edge blurred by 1 px (plus the optics) measures about that


def test_softness_of_flat_noisy_and_tiny_frames():
    rng = np.random.default_rng(2)
    assert softness(np.full((40, 60), 90, np.uint8)) == 0.0
    assert softness(rng.integers(0, 256, (40, 5)).astype(np.uint8)) == 0.0  # too narrow to measure
    assert softness(rng.integers(0, 256, (1, 1)).astype(np.uint8)) == 0.0
    # Noise is fine detail: it reads as sharp, so noisy frames get no gain from the noise.
    assert softness(rng.normal(128, 20, (64, 64))) < 0.3
    blurred = cv2.GaussianBlur(photo_like(96, 128), (0, 0), 1.5)
    grainy = np.clip(blurred + rng.normal(0, 4, blurred.shape), 0, 255)
    assert softness(grainy[..., 1]) < softness(blurred[..., 1])


def auto_stage(**kw):
    return SharpenStage(SharpenParams(auto=True, **kw), CPU)


def test_auto_gain_follows_the_blur_and_raises_psnr():
    clean = photo_like(120, 160, optics_sigma=0.5)
    gains = []
    for sigma in (0.8, 1.5):
        blurred = cv2.GaussianBlur(clean, (0, 0), sigma)
        stage = auto_stage()
        out = stage.apply(blurred)
        gains.append(stage.gain()[0])
        assert psnr(out, clean) > psnr(blurred, clean) + 0.3
    assert gains[1] > 2 * gains[0]
    assert auto_stage().gain() == (0.0, False)  # nothing measured yet: no gain


def test_auto_leaves_sharp_frames_nearly_untouched():
    clean = photo_like(120, 160, optics_sigma=0.4)
    stage = auto_stage()
    out = stage.apply(clean)
    assert stage.gain()[0] < 0.2
    assert np.abs(out.astype(int) - clean).mean() < 0.2


def test_auto_does_not_boost_flat_noise():
    rng = np.random.default_rng(5)
    frame = np.clip(128 + rng.normal(0, 3, (64, 64, 3)) + 0.5, 0, 255).astype(np.uint8)
    out = auto_stage(amount=4.0).apply(frame)
    assert out.astype(float).std() <= frame.astype(float).std() + 0.05


def test_auto_adds_no_halo_beyond_the_overshoot():
    truth = np.full((16, 40, 3), 40, np.uint8)
    truth[:, 20:] = 220
    blurred = cv2.GaussianBlur(truth, (0, 0), 1.5)
    out = auto_stage(overshoot=0.0).apply(blurred)
    assert out.min() >= truth.min() and out.max() <= truth.max()
    assert np.abs(np.diff(out[8, :, 1].astype(int))).max() > np.abs(np.diff(blurred[8, :, 1].astype(int))).max()
    out = auto_stage().apply(blurred)  # the default: at most `overshoot` (2) levels past the local range
    assert out.min() >= truth.min() - 2 and out.max() <= truth.max() + 2


@pytest.mark.parametrize("kind", ["black", "white", "pure_noise", "one_wide", "one_high", "clipped"])
def test_auto_on_bad_input(kind):
    rng = np.random.default_rng(6)
    frame = {"black": np.zeros((24, 32, 3), np.uint8), "white": np.full((24, 32, 3), 255, np.uint8),
             "pure_noise": rng.integers(0, 256, (24, 32, 3)).astype(np.uint8),
             "one_wide": rng.integers(0, 256, (24, 1, 3)).astype(np.uint8),
             "one_high": rng.integers(0, 256, (1, 32, 3)).astype(np.uint8),
             "clipped": np.where(photo_like(24, 32) > 128, 255, 0).astype(np.uint8)}[kind]
    stage = auto_stage()
    for _ in range(6):
        out = stage.apply(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.isfinite(stage.softness) and 0.0 <= stage.softness <= MAX_SOFTNESS
    assert 0.0 <= stage.gain()[0] <= 4.0
    if kind in ("black", "white"):
        assert np.array_equal(out, frame)


def test_luma_sigma_reads_the_noise_and_not_a_smooth_picture():
    rng = np.random.default_rng(7)
    flat = 120 + rng.normal(0, 5.0, (240, 320))
    assert luma_sigma(flat) == pytest.approx(5.0, rel=0.1)
    ramp = np.add.outer(np.arange(240) * 0.5, np.arange(320) * 0.3)  # planes and ramps cancel
    assert luma_sigma(ramp) < 0.05
    assert luma_sigma(np.zeros((2, 320))) == 0.0 and luma_sigma(np.zeros((240, 2))) == 0.0


def test_the_default_coring_follows_the_measured_noise():
    # Grain of sigma 4 is far above the fixed one-level threshold: without the measured noise the
    # stage boosts it, with it the grain passes as it came.
    rng = np.random.default_rng(8)
    frame = np.clip(128 + rng.normal(0, 4.0, (96, 128, 3)) + 0.5, 0, 255).astype(np.uint8)
    fixed = SharpenStage(SharpenParams(noise_coring=0.0), CPU).apply(frame)
    assert fixed.astype(float).std() > 1.2 * frame.astype(float).std()
    stage = SharpenStage(SharpenParams(), CPU)
    out = stage.apply(frame)
    assert stage.noise == pytest.approx(4.0, rel=0.15)
    assert out.astype(float).std() <= 1.02 * frame.astype(float).std()


@pytest.mark.parametrize("kind", ["black", "white", "pure_noise", "one_wide", "one_high"])
def test_the_noise_measure_on_bad_input(kind):
    rng = np.random.default_rng(9)
    frame = {"black": np.zeros((24, 32, 3), np.uint8), "white": np.full((24, 32, 3), 255, np.uint8),
             "pure_noise": rng.integers(0, 256, (24, 32, 3)).astype(np.uint8),
             "one_wide": rng.integers(0, 256, (24, 1, 3)).astype(np.uint8),
             "one_high": rng.integers(0, 256, (1, 32, 3)).astype(np.uint8)}[kind]
    stage = SharpenStage(SharpenParams(), CPU)
    for _ in range(6):
        out = stage.apply(frame)
    assert out.shape == frame.shape and np.isfinite(stage.noise) and stage.noise >= 0.0
