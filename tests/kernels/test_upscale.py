"""Edge-adaptive upscale (EASU-like) and RCAS: numpy references, properties, quality on real frames."""
import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.easu import PAD, RCAS_LIMIT
from kernels.upscale import LOB_EDGE, LOB_FLAT, analyse, easu, edge_work, rcas_compose, upscale_edge

TAPS = [(0, -1), (1, -1), (-1, 0), (0, 0), (1, 0), (2, 0), (-1, 1), (0, 1), (1, 1), (2, 1), (0, 2), (1, 2)]


def luma_ref(frame):
    f = frame.astype(np.float64)
    return 0.114 * f[..., 0] + 0.587 * f[..., 1] + 0.299 * f[..., 2]


def analysis_ref(y):
    """FSR EASU's direction and edge measure per pixel, in its rotate-and-scale form."""
    p = np.pad(y, 1, mode="edge")
    c, n, s, w, e = p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]

    def axis(lo, hi):
        grad = hi - lo
        edge = np.minimum(np.abs(grad) / np.maximum(np.maximum(np.abs(hi - c), np.abs(c - lo)), 1 / 1024), 1.0)
        return grad, edge ** 2

    dx, lx = axis(w, e)
    dy, ly = axis(n, s)
    d2 = dx * dx + dy * dy
    flat = d2 < 255.0 ** 2 / 32768
    norm = np.sqrt(np.maximum(d2, 1e-30))
    ux = np.where(flat, 1.0, dx / norm)
    uy = np.where(flat, 0.0, dy / norm)
    edge = ((lx + ly) / 2) ** 2
    stretch = 1 / np.maximum(np.abs(ux), np.abs(uy))
    return ux, uy, 1 + (stretch - 1) * edge, 1 - 0.5 * edge, LOB_FLAT + (LOB_EDGE - LOB_FLAT) * edge


def easu_ref(y, out_h, out_w):
    h, w = y.shape
    ux, uy, across, along, lob = analysis_ref(y)
    out = np.empty((out_h, out_w))
    for row in range(out_h):
        sy = (row + 0.5) * h / out_h - 0.5
        fy = int(np.floor(sy))
        for col in range(out_w):
            sx = (col + 0.5) * w / out_w - 0.5
            fx = int(np.floor(sx))
            ny, nx = min(max(int(np.floor(sy + 0.5)), 0), h - 1), min(max(int(np.floor(sx + 0.5)), 0), w - 1)
            acc = total = 0.0
            for tx, ty in TAPS:
                ox, oy = fx + tx - sx, fy + ty - sy
                vx = (ox * ux[ny, nx] + oy * uy[ny, nx]) * across[ny, nx]
                vy = (oy * ux[ny, nx] - ox * uy[ny, nx]) * along[ny, nx]
                d2 = min(vx * vx + vy * vy, 1 / lob[ny, nx])
                wt = (25 / 16 * (0.4 * d2 - 1) ** 2 - 9 / 16) * (lob[ny, nx] * d2 - 1) ** 2
                acc += wt * y[min(max(fy + ty, 0), h - 1), min(max(fx + tx, 0), w - 1)]
                total += wt
            quad = [y[min(max(fy + a, 0), h - 1), min(max(fx + b, 0), w - 1)] for a in (0, 1) for b in (0, 1)]
            out[row, col] = min(max(acc / total, min(quad)), max(quad))
    return out


def rcas_ref(y, amount):
    p = np.pad(y.astype(np.float64), 1, mode="edge")
    c, n, s, w, e = p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]
    mn = np.minimum(np.minimum(n, s), np.minimum(w, e))
    mx = np.maximum(np.maximum(n, s), np.maximum(w, e))
    hit_min = np.minimum(mn, c) / np.maximum(4 * mx, 1 / 1024)
    hit_max = (255 - np.maximum(mx, c)) / np.minimum(4 * mn - 1020, -1 / 1024)
    lobe = np.clip(np.maximum(-hit_min, hit_max), -RCAS_LIMIT, 0) * amount
    sharp = (lobe * (n + s + w + e) + c) / (4 * lobe + 1)
    return np.clip(sharp, np.minimum(mn, c), np.maximum(mx, c))


def soft_frame(shape, seed=0, blur=1.2):
    """Random blocks seen through a lens: edges of every orientation and contrast."""
    h, w = shape
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (h // 3 + 1, w // 3 + 1, 3)).astype(np.uint8), (w, h),
                     interpolation=cv2.INTER_NEAREST)
    return cv2.GaussianBlur(img, (0, 0), blur)


def analysed(frame):
    """Padded luma, padded chroma differences and coefficients of ``frame``."""
    h, w = frame.shape[:2]
    lp = np.empty((h + 2 * PAD, w + 2 * PAD), np.float32)
    cp = np.empty((3, h + 2 * PAD, w + 2 * PAD), np.float32)
    coef = np.empty((5, h, w), np.float32)
    analyse(frame, luma_pad=lp, chroma_pad=cp, coef=coef)
    return lp, cp, coef


@pytest.mark.parametrize("src, dst", [((37, 53), (74, 106)), ((13, 17), (39, 51)), ((13, 17), (29, 41)),
                                      ((9, 7), (20, 9)), ((1, 9), (2, 18)), ((5, 1), (10, 2))], ids=str)
def test_easu_matches_reference(src, dst):
    frame = soft_frame(src, seed=src[1])
    lp, cp, coef = analysed(frame)
    y = luma_ref(frame)
    assert np.allclose(lp[PAD:-PAD, PAD:-PAD], y, atol=1e-3)
    assert np.allclose(cp[:, PAD:-PAD, PAD:-PAD], np.moveaxis(frame, 2, 0) - y, atol=1e-3)
    ref = easu_ref(y, *dst)
    for vectorized in (True, False):
        got = easu(lp, coef, out=np.empty(dst, np.float32), vectorized=vectorized)
        assert np.abs(got - ref).max() < 0.02


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_vectorized_paths_equal_per_sample_paths(factor):
    frame = soft_frame((23, 31), seed=factor)
    lp, _, coef = analysed(frame)
    size = (23 * factor, 31 * factor)
    a = easu(lp, coef, out=np.empty(size, np.float32))
    b = easu(lp, coef, out=np.empty(size, np.float32), vectorized=False)
    assert np.array_equal(a, b)
    fused = upscale_edge(frame, out=np.empty(size + (3,), np.uint8), deblur=0.5, sharpness=0.5)
    single = upscale_edge(frame, out=np.empty(size + (3,), np.uint8), deblur=0.5, sharpness=0.5, vectorized=False)
    assert np.abs(fused.astype(int) - single).max() <= 1


@pytest.mark.parametrize("amount", [0.0, 0.25, 1.0])
def test_rcas_compose_matches_reference(amount):
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (37, 53, 3)).astype(np.uint8)
    _, cp, _ = analysed(frame)
    luma = cv2.GaussianBlur(rng.uniform(0, 255, (37, 53)), (0, 0), 1.0).astype(np.float32)
    out = rcas_compose(luma, cp, amount=amount, out=np.empty_like(frame))
    # Same size: the chroma differences come through as they are.
    want = rcas_ref(luma, amount)[..., None] + (frame - luma_ref(frame)[..., None])
    assert np.abs(out - np.clip(np.floor(want + 0.5), 0, 255)).max() <= 1


def test_chroma_is_bilinear():
    frame = soft_frame((13, 17), seed=5)
    _, cp, _ = analysed(frame)
    flat = np.full((39, 51), 128.0, np.float32)
    out = rcas_compose(flat, cp, amount=0.0, out=np.empty((39, 51, 3), np.uint8))
    diff = (frame - luma_ref(frame)[..., None]).astype(np.float32)
    want = 128.0 + cv2.resize(diff, (51, 39), interpolation=cv2.INTER_LINEAR)
    assert np.abs(out - np.clip(np.floor(want + 0.5), 0, 255)).max() <= 1


def test_rcas_stays_inside_the_neighbourhood_and_sharpens():
    rng = np.random.default_rng(2)
    luma = cv2.GaussianBlur(rng.uniform(0, 255, (40, 40)), (0, 0), 1.0).astype(np.float32)
    gray = np.repeat(np.clip(luma, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    luma = luma_ref(gray).astype(np.float32)
    _, cp, _ = analysed(gray)
    sharp = luma_ref(rcas_compose(luma, cp, amount=1.0, out=np.empty_like(gray)))
    p = np.pad(luma, 1, mode="edge")
    cross = np.stack([p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])
    assert np.all(sharp >= cross.min(0) - 0.5) and np.all(sharp <= cross.max(0) + 0.5)
    # And it does sharpen: local contrast goes up.
    lap = lambda a: np.abs(cv2.Laplacian(a.astype(np.float64), cv2.CV_64F)).mean()
    assert lap(sharp) > 1.2 * lap(luma)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), factor=st.sampled_from([1.5, 2.0, 3.0, 2.5]),
       seed=st.integers(0, 999))
def test_shapes_constant_input_and_input_kept(h, w, factor, seed):
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    before = frame.copy()
    out_hw = (max(1, round(h * factor)), max(1, round(w * factor)))
    out = upscale_edge(frame, out=np.empty(out_hw + (3,), np.uint8), deblur=0.75, sharpness=0.25)
    assert out.shape == out_hw + (3,) and np.array_equal(frame, before)
    flat = np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
    out = upscale_edge(flat, out=np.empty(out_hw + (3,), np.uint8), deblur=0.75, sharpness=1.0)
    assert np.abs(out.astype(int) - flat[0, 0]).max() <= 1


def test_no_ringing_on_a_step():
    """Without the deblur, neither EASU nor RCAS may overshoot a clean edge."""
    frame = np.full((24, 24, 3), 40, np.uint8)
    frame[:, 12:] = 210
    frame = cv2.warpAffine(frame, cv2.getRotationMatrix2D((12, 12), 30, 1.0), (24, 24), borderMode=cv2.BORDER_REFLECT)
    out = upscale_edge(frame, out=np.empty((48, 48, 3), np.uint8), deblur=0.0, sharpness=1.0)
    lanczos = cv2.resize(frame, (48, 48), interpolation=cv2.INTER_LANCZOS4)
    assert out.min() >= frame.min() - 1 and out.max() <= frame.max() + 1
    assert lanczos.min() < frame.min() - 3 or lanczos.max() > frame.max() + 3  # the classical kernel rings


def test_edges_are_followed():
    """On a thin diagonal line, interpolating along the edge beats the isotropic bicubic kernel."""
    big = np.zeros((256, 256), np.float32)
    cv2.line(big, (0, 40), (255, 200), 1.0, 3, lineType=cv2.LINE_AA)
    big = cv2.GaussianBlur(big, (0, 0), 1.5)
    hr = cv2.resize(big, (128, 128), interpolation=cv2.INTER_AREA)
    lr = cv2.resize(big, (64, 64), interpolation=cv2.INTER_AREA)
    lr3 = np.repeat((lr * 200 + 30).astype(np.uint8)[..., None], 3, axis=2)
    hr = hr * 200 + 30
    edge = upscale_edge(lr3, out=np.empty((128, 128, 3), np.uint8), deblur=0.0, sharpness=0.0)[..., 1]
    cubic = cv2.resize(lr3, (128, 128), interpolation=cv2.INTER_CUBIC)[..., 1]
    err = lambda a: np.sqrt(np.mean((a[4:-4, 4:-4] - hr[4:-4, 4:-4]) ** 2))
    assert err(edge) < err(cubic)


def test_work_is_reused():
    frame = soft_frame((13, 17))
    work = edge_work((13, 17), (26, 34))
    a = upscale_edge(frame, out=np.empty((26, 34, 3), np.uint8), work=work, deblur=0.5)
    lp = work.luma_pad
    b = upscale_edge(frame, out=np.empty((26, 34, 3), np.uint8), work=work, deblur=0.5)
    assert work.luma_pad is lp and work.luma_up is None and np.array_equal(a, b)
    assert work.fits((13, 17), (26, 34)) and not work.fits((13, 17), (39, 51))


def degrade(hr, factor):
    """The super-resolution protocol of tools/sr_data.py: Gaussian blur of sigma factor/2, area downscale."""
    h, w = hr.shape[0] // factor * factor, hr.shape[1] // factor * factor
    hr = hr[:h, :w]
    return hr, cv2.resize(cv2.GaussianBlur(hr, (0, 0), 0.5 * factor), (w // factor, h // factor),
                          interpolation=cv2.INTER_AREA)


def sr_psnr(out, hr, c):
    d = luma_ref(out)[c:-c, c:-c] - luma_ref(hr)[c:-c, c:-c]
    return 10 * np.log10(255.0 ** 2 / np.mean(d ** 2))


@pytest.mark.parametrize("factor", [2, 4])
def test_beats_lanczos_on_real_frames(media, factor):
    frames = []
    for name, index in (("clean_bikes_street_272p.mp4", 40), ("clean_person_indoor_432p.mp4", 300)):
        cap = cv2.VideoCapture(str(media / name))
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        cap.release()
        assert ok
        frames.append(frame)
    gains = []
    for frame in frames:
        hr, lr = degrade(frame, factor)
        out = upscale_edge(lr, out=np.empty(hr.shape, np.uint8), deblur=0.75, sharpness=0.25)
        lanczos = cv2.resize(lr, hr.shape[1::-1], interpolation=cv2.INTER_LANCZOS4)
        gains.append(sr_psnr(out, hr, factor) - sr_psnr(lanczos, hr, factor))
    assert np.mean(gains) > 0.5


@pytest.mark.parametrize("size", [(26, 34), (20, 30)], ids=str)
@pytest.mark.parametrize("vectorized", [True, False])
def test_a_y_plane_upscales_as_the_luma_of_a_gray_frame(size, vectorized):
    # One channel is its own luma: the plane path equals the BGR path on B = G = R.
    rng = np.random.default_rng(8)
    y = cv2.GaussianBlur(rng.integers(0, 256, (13, 17)).astype(np.uint8), (0, 0), 1.2)[:, :, None].copy()
    gray = np.repeat(y, 3, axis=2)
    plane = upscale_edge(y, out=np.empty(size + (1,), np.uint8), deblur=0.75, sharpness=0.25, vectorized=vectorized)
    bgr = upscale_edge(gray, out=np.empty(size + (3,), np.uint8), deblur=0.75, sharpness=0.25, vectorized=vectorized)
    assert np.abs(plane[..., 0].astype(int) - bgr[..., 1]).max() <= 1
