"""Learned super-resolution: the Numba inference against a float64 NumPy reference, the weights files, quality."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from kernels.pixel import LUMA601_BGR
from kernels.superres import (
    FACTORS,
    IN_OFFSET,
    IN_SCALE,
    MODEL_DIR,
    SrModel,
    SrModelError,
    load_sr_model,
    save_sr_model,
    upscale_learned,
)


def random_model(factor: int, channels: int = 6, mid: int = 1, seed: int = 0) -> SrModel:
    """A network of the shipped shape with random weights; residuals of tens of levels exercise the clamps."""
    rng = np.random.default_rng(seed)
    sizes = [(channels, 1, 5)] + [(channels, channels, 3)] * mid + [(factor * factor, channels, 3)]
    weights = tuple(rng.normal(0.0, 0.4 / k, (o, i, k, k)).astype(np.float32) for o, i, k in sizes)
    weights = weights[:-1] + (weights[-1] * np.float32(60.0),)
    biases = tuple(rng.normal(0.0, 0.1, o).astype(np.float32) for o, _, _ in sizes)
    slopes = tuple(rng.uniform(0.0, 0.3, channels).astype(np.float32) for _ in sizes[:-1])
    return SrModel(factor, weights, biases, slopes, "random")


# --- float64 NumPy references ------------------------------------------------------------

def conv_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Zero-padded 'same' convolution (cross-correlation, as PyTorch) of ``(C, H, W)`` planes."""
    k = w.shape[2]
    r = k // 2
    h, wd = x.shape[1:]
    xp = np.pad(x, ((0, 0), (r, r), (r, r)))
    out = np.broadcast_to(b[:, None, None], (w.shape[0], h, wd)).astype(np.float64)
    for ky in range(k):
        for kx in range(k):
            out = out + np.einsum("oc,chw->ohw", w[:, :, ky, kx], xp[:, ky: ky + h, kx: kx + wd])
    return out


def residual_ref(frame: np.ndarray, model: SrModel) -> np.ndarray:
    """The network's shuffled luma residual ``(H*f, W*f)`` in float64."""
    f64 = frame.astype(np.float64)
    x = (LUMA601_BGR[0] * f64[..., 0] + LUMA601_BGR[1] * f64[..., 1] + LUMA601_BGR[2] * f64[..., 2]) * IN_SCALE + IN_OFFSET
    x = x[None]
    last = len(model.weights) - 1
    for i, (w, b) in enumerate(zip(model.weights, model.biases)):
        x = conv_ref(x, w.astype(np.float64), b.astype(np.float64))
        if i < last:
            a = model.slopes[i].astype(np.float64)[:, None, None]
            x = np.maximum(x, 0.0) + a * np.minimum(x, 0.0)
    f = model.factor
    _, h, w = x.shape
    return x.reshape(f, f, h, w).transpose(2, 0, 3, 1).reshape(h * f, w * f)


def add_round_ref(base: np.ndarray, residual: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(base + residual[..., None], 0.0, 255.0) + 0.5).astype(np.uint8)


def frame_of(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Smooth colour ramps plus noise: real-ish structure and values that hit 0 and 255 after the residual."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0: shape[0], 0: shape[1]].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(xx / 3.0), 128 + 100 * np.cos(yy / 4.0), 255 * xx / shape[1]], axis=-1)
    return np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)


# --- inference against the references ------------------------------------------------------

@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("shape", [(13, 17), (1, 5), (24, 31)])
def test_numba_matches_float64_reference(factor, shape):
    model = random_model(factor, seed=shape[0])
    frame = frame_of(shape, seed=factor)
    work: dict = {}
    out = upscale_learned(frame, model, work=work)
    residual = residual_ref(frame, model)
    # The residual planes themselves, before rounding: float32 against float64.
    res = work[f"sr_act{len(model.weights)}"]
    halo = (res.shape[1] - shape[0]) // 2
    f = factor
    got = res[:, halo: halo + shape[0], halo: halo + shape[1]].reshape(f, f, *shape).transpose(2, 0, 3, 1)
    np.testing.assert_allclose(got.reshape(residual.shape), residual, atol=2e-3 * np.abs(residual).max())
    # OpenCV's 8-bit bicubic base plus the residual, rounded once more.
    base = cv2.resize(frame, (shape[1] * f, shape[0] * f), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    expected = add_round_ref(base, residual)
    assert out.shape == expected.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - expected)
    assert diff.max() <= 1 and np.mean(diff) < 0.05


@pytest.mark.parametrize("factor", FACTORS)
def test_numba_resampler_path_matches_opencv_path(factor):
    # use_opencv=False is the CPU reference of the CUDA path: the resize module's Numba bicubic.
    model = random_model(factor, seed=3)
    frame = frame_of((11, 14), seed=7)
    diff = np.abs(upscale_learned(frame, model, use_opencv=False).astype(int) - upscale_learned(frame, model))
    assert diff.max() <= 2 and np.mean(diff) < 0.3


def test_zero_residual_gives_opencv_bicubic():
    model = random_model(2)
    zero = SrModel(2, model.weights[:-1] + (np.zeros_like(model.weights[-1]),),
                   model.biases[:-1] + (np.zeros_like(model.biases[-1]),), model.slopes, "zero")
    frame = frame_of((19, 23), seed=1)
    expected = cv2.resize(frame, (46, 38), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_array_equal(upscale_learned(frame, zero), expected)


def test_work_buffers_are_reused_and_input_kept():
    model = random_model(2)
    frame = frame_of((9, 12), seed=2)
    before = frame.copy()
    work: dict = {}
    out = np.empty((18, 24, 3), np.uint8)
    first = upscale_learned(frame, model, out=out, work=work).copy()
    buffers = {key: id(value) for key, value in work.items()}
    assert upscale_learned(frame, model, out=out, work=work) is out
    assert {key: id(value) for key, value in work.items()} == buffers
    np.testing.assert_array_equal(out, first)
    np.testing.assert_array_equal(frame, before)
    # A new frame size reallocates; the result matches a fresh call.
    small = frame_of((5, 7), seed=3)
    np.testing.assert_array_equal(upscale_learned(small, model, work=work), upscale_learned(small, model))


def test_bad_out_shape_is_an_error():
    with pytest.raises(ValueError, match="out has shape"):
        upscale_learned(frame_of((5, 7), 0), random_model(2), out=np.empty((10, 15, 3), np.uint8))


# --- weights files --------------------------------------------------------------------------

@pytest.mark.parametrize("factor", FACTORS)
def test_shipped_weights_load(factor):
    path = MODEL_DIR / f"sr_x{factor}.npz"
    assert path.stat().st_size < 1_000_000
    model = load_sr_model(factor)
    assert model.factor == factor
    assert model.channels[0] == 1 and model.channels[-1] == factor * factor
    assert all(w.dtype == np.float32 for w in model.weights)


def test_save_load_round_trip(tmp_path):
    model = random_model(4, channels=5, mid=2)
    loaded = load_sr_model(4, save_sr_model(model, tmp_path / "m.npz"))
    assert loaded.channels == model.channels
    for a, b in zip(model.weights + model.biases + model.slopes, loaded.weights + loaded.biases + loaded.slopes):
        np.testing.assert_array_equal(a, b)


def _arrays(model: SrModel) -> dict[str, np.ndarray]:
    arrays = {"version": np.array(1, np.int32), "factor": np.array(model.factor, np.int32),
              "layers": np.array(len(model.weights), np.int32)}
    arrays.update({f"w{i}": w for i, w in enumerate(model.weights)})
    arrays.update({f"b{i}": b for i, b in enumerate(model.biases)})
    arrays.update({f"a{i}": a for i, a in enumerate(model.slopes)})
    return arrays


def _nan(arrays):
    arrays["w1"] = arrays["w1"].copy()
    arrays["w1"][0, 0, 0, 0] = np.nan


@pytest.mark.parametrize("damage, match", [
    (lambda a: a.pop("b1"), "'b1' is missing"),
    (lambda a: a.update(version=np.array(7, np.int32)), "format version 7"),
    (lambda a: a.update(factor=np.array(4, np.int32)), "for x4, not x2"),
    (lambda a: a.update(w1=a["w1"][:, :3]), "w1 has shape"),
    (lambda a: a.update(w0=a["w0"].astype(np.float64)), "w0 is float64"),
    (_nan, "w1 has NaN"),
    (lambda a: a.update(a0=a["a0"][:2]), "does not have shape"),
])
def test_inconsistent_weights_are_rejected(tmp_path, damage, match):
    arrays = _arrays(random_model(2))
    damage(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(SrModelError, match=match) as err:
        load_sr_model(2, path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_or_corrupt_file_names_the_file(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(SrModelError, match="file not found") as err:
        load_sr_model(2, missing)
    assert str(missing) in str(err.value) and "train_sr.py" in str(err.value)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(SrModelError, match="not a readable .npz") as err:
        load_sr_model(2, corrupt)
    assert str(corrupt) in str(err.value)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes((MODEL_DIR / "sr_x2.npz").read_bytes()[:300])
    with pytest.raises(SrModelError, match=str(truncated.name)):
        load_sr_model(2, truncated)
    with pytest.raises(ValueError, match="factor 3"):
        load_sr_model(3)


# --- quality of the shipped weights -----------------------------------------------------------

@pytest.mark.parametrize("factor", FACTORS)
def test_shipped_weights_beat_lanczos_on_an_unseen_clip(media, factor):
    # Carphone is in neither the training nor the evaluation set of tools/sr_data.py.
    cap = cv2.VideoCapture(str(media / "lowres_carphone_qcif.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 40)
    ok, hr = cap.read()
    cap.release()
    assert ok
    hr = hr[: hr.shape[0] - hr.shape[0] % factor, : hr.shape[1] - hr.shape[1] % factor]
    # The training degradation (tools/sr_data.degrade): Gaussian blur of sigma f/2, area downscale.
    lr = cv2.resize(cv2.GaussianBlur(hr, (0, 0), 0.5 * factor), (hr.shape[1] // factor, hr.shape[0] // factor),
                    interpolation=cv2.INTER_AREA)

    def luma_psnr(img: np.ndarray) -> float:
        y = (img.astype(np.float64) * LUMA601_BGR).sum(axis=-1) - (hr.astype(np.float64) * LUMA601_BGR).sum(axis=-1)
        c = factor
        return 10 * np.log10(255.0 ** 2 / np.mean(y[c:-c, c:-c] ** 2))

    lanczos = cv2.resize(lr, hr.shape[1::-1], interpolation=cv2.INTER_LANCZOS4)
    learned = upscale_learned(lr, load_sr_model(factor))
    assert luma_psnr(learned) > luma_psnr(lanczos) + 1.0


@pytest.mark.parametrize("factor", [2, 4])
def test_a_y_plane_upscales_as_the_luma_of_a_gray_frame(factor):
    y = frame_of((9, 11), seed=4)[..., 1:2].copy()
    model = random_model(factor)
    plane = upscale_learned(y, model)
    gray = upscale_learned(np.repeat(y, 3, axis=2), model)
    assert plane.shape == (9 * factor, 11 * factor, 1)
    assert np.abs(plane[..., 0].astype(int) - gray[..., 1]).max() <= 1
