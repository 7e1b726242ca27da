"""Learned super-resolution: a small ESPCN-like network on luma, x2 and x4.

The network runs at the input (low) resolution on BT.601 luma and predicts,
through a pixel shuffle, the luma residual over a bicubic upscale::

    Y/255 - 0.5 -> conv5x5 1->C, PReLU -> [conv3x3 C->C, PReLU] x M -> conv3x3 C->f*f -> shuffle -> + bicubic

The residual is added equally to B, G and R of the bicubic upscale: luma
weights sum to one, so luma gets exactly the residual and the chroma
differences (B - Y, R - Y) stay bicubic, with no colour conversion.  Zero
padding at the frame borders (as in training).  ``tools/train_sr.py`` trains
the weights on real photographs and video frames and exports them; the shipped
files are ``kernels/models/sr_x2.npz`` and ``sr_x4.npz`` (nothing is downloaded).

Why this shape: 10 fps at 540p -> 1080p on two cores leaves well under 100 ms a
frame for decode, conversions, every stage and encode, so the network works at
the low resolution (a quarter of the output pixels at x2, a sixteenth at x4)
and only learns a correction to bicubic, which a tiny network does well.
Shipped: x2 C=8, M=2 (1640 multiply-adds per input pixel, 410 per output
pixel); x4 C=12, M=3 (5916 per input pixel, 370 per output pixel).  On the
training tool's validation split, depth paid more than width: at x2, C=8 M=2
matched C=16 M=1 at half the cost, and one layer less (M=0) lost over 1 dB.

CPU: activations are planar float32 ``(C, H + 2*HALO, W + 2*HALO)`` with zero
halos (allocated once, never written), so the convolution loops have no
border branches; a pass adds all nine 3x3 taps of one (output, input) channel
pair along a whole image row, a contiguous loop LLVM vectorizes.  The same
layers in OpenCV's DNN module (from an ONNX graph) took 1.6x as long on
these two cores, so the DNN module is not used.  The bicubic base is
:func:`kernels.resize.resize` into ``out`` (``cv2.resize`` on the CPU, as in
training), then one pass adds the shuffled residual in place.  CUDA: one
thread per low-resolution pixel per layer, the resize module's bicubic
kernel, and one thread per output pixel for the shuffle and the add.  Tap
sums, PReLU and the final rounding are the same ``_px`` functions on both
targets; ``use_opencv=False`` runs the resampler's Numba twin, the CPU
reference of the CUDA path.
"""
from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numba import prange

from kernels import MODEL_DIR
from kernels.backend import CPU, Backend, cpu_kernel, cuda, cuda_kernel, twin
from kernels.pixel import LUMA601_BGR
from kernels.resize import ResizeTables, resize, resize_tables

log = logging.getLogger(__name__)

#: Upscale factors with shipped weights.
FACTORS = (2, 4)
#: Version of the ``.npz`` layout this module reads.
FORMAT_VERSION = 1
#: Network input: ``luma * IN_SCALE + IN_OFFSET`` (luma in 8-bit levels).
IN_SCALE = 1.0 / 255.0
IN_OFFSET = -0.5
#: Supported convolution kernel sizes.
KERNEL_SIZES = (3, 5)
#: Zero border around every activation plane: the largest kernel radius.
HALO = max(KERNEL_SIZES) // 2


class SrModelError(ValueError):
    """A super-resolution weights file is missing, unreadable or inconsistent."""


@dataclass(frozen=True, eq=False)
class SrModel:
    """Weights of the super-resolution network, validated.

    Attributes
    ----------
    factor : int
        Upscale factor (2 or 4).
    weights : tuple of ndarray
        Per layer ``(C_out, C_in, K, K) float32``.
    biases : tuple of ndarray
        Per layer ``(C_out,) float32``.
    slopes : tuple of ndarray
        PReLU slopes ``(C_out,) float32`` of every layer but the last.
    path : str
        Where the weights came from.
    """

    factor: int
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    slopes: tuple[np.ndarray, ...]
    path: str
    _device: dict = field(default_factory=dict, repr=False)

    @property
    def channels(self) -> tuple[int, ...]:
        """Channels of every activation, input luma first."""
        return (1,) + tuple(w.shape[0] for w in self.weights)

    @property
    def macs_per_pixel(self) -> int:
        """Multiply-accumulates per low-resolution pixel."""
        return int(sum(w.size for w in self.weights))

    def on(self, backend: Backend) -> list[tuple[Any, Any, Any]]:
        """``(weights, bias, slopes)`` per layer on ``backend`` (copied to a GPU once)."""
        if backend.name not in self._device:
            # The last layer has no activation; its slopes are a placeholder the kernels ignore.
            slopes = self.slopes + (np.zeros_like(self.biases[-1]),)
            self._device[backend.name] = [(backend.asarray(w), backend.asarray(b), backend.asarray(a))
                                          for w, b, a in zip(self.weights, self.biases, slopes)]
        return self._device[backend.name]


def _fail(path: Path, why: str) -> SrModelError:
    return SrModelError(f"super-resolution weights {path}: {why}; reinstall vqe for the shipped weights or retrain "
                        f"with tools/train_sr.py")


def save_sr_model(model: SrModel, path: str | Path) -> Path:
    """Write ``model`` as the compressed ``.npz`` that :func:`load_sr_model` reads.

    Layout: ``version``, ``factor`` and ``layers`` (int32 scalars), then ``w{i}``,
    ``b{i}`` per layer and the PReLU slopes ``a{i}`` of every layer but the last.
    """
    path = Path(path)
    arrays = {"version": np.array(FORMAT_VERSION, np.int32), "factor": np.array(model.factor, np.int32),
              "layers": np.array(len(model.weights), np.int32)}
    for i, (w, b) in enumerate(zip(model.weights, model.biases)):
        arrays[f"w{i}"] = np.asarray(w, np.float32)
        arrays[f"b{i}"] = np.asarray(b, np.float32)
    for i, a in enumerate(model.slopes):
        arrays[f"a{i}"] = np.asarray(a, np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_sr_model(factor: int, path: str | Path | None = None) -> SrModel:
    """Load and validate super-resolution weights.

    Parameters
    ----------
    factor : int
        Upscale factor, 2 or 4.
    path : str or Path, optional
        A ``.npz`` written by ``tools/train_sr.py``; None loads the shipped
        ``kernels/models/sr_x{factor}.npz``.

    Returns
    -------
    SrModel

    Raises
    ------
    SrModelError
        The file is missing, unreadable, of another format version or
        factor, or its arrays are mis-shaped, not float32 or not finite.
    """
    if factor not in FACTORS:
        raise SrModelError(f"super-resolution factor {factor} is not supported: use one of {FACTORS}")
    path = Path(path) if path is not None else MODEL_DIR / f"sr_x{factor}.npz"
    if not path.is_file():
        raise _fail(path, "file not found")
    try:
        # Our own file object: np.load leaves its own open when the archive is corrupt.
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _fail(path, f"not a readable .npz file ({exc.__class__.__name__})") from None
    try:
        version, stored_factor, layers = (int(arrays[key]) for key in ("version", "factor", "layers"))
        weights = tuple(arrays[f"w{i}"] for i in range(layers))
        biases = tuple(arrays[f"b{i}"] for i in range(layers))
        slopes = tuple(arrays[f"a{i}"] for i in range(layers - 1))
    except KeyError as exc:
        raise _fail(path, f"array {exc.args[0]!r} is missing") from None
    except (TypeError, ValueError):
        raise _fail(path, "version, factor and layers must be integer scalars") from None
    if version != FORMAT_VERSION:
        raise _fail(path, f"format version {version}, this vqe reads version {FORMAT_VERSION}")
    if stored_factor != factor:
        raise _fail(path, f"the weights are for x{stored_factor}, not x{factor}")
    if layers < 2:
        raise _fail(path, f"{layers} layers; the network needs at least 2")
    channels = 1
    for i, (w, b) in enumerate(zip(weights, biases)):
        if w.ndim != 4 or w.shape[1] != channels or w.shape[2] != w.shape[3] or w.shape[2] not in KERNEL_SIZES:
            raise _fail(path, f"w{i} has shape {w.shape}; expected (C, {channels}, K, K) with K in {KERNEL_SIZES}")
        channels = w.shape[0]
        if b.shape != (channels,) or (i < layers - 1 and slopes[i].shape != (channels,)):
            raise _fail(path, f"b{i} or a{i} does not have shape ({channels},)")
    if channels != factor * factor:
        raise _fail(path, f"the last layer has {channels} channels; x{factor} needs {factor * factor}")
    for name, arr in [(f"w{i}", a) for i, a in enumerate(weights)] + [(f"b{i}", a) for i, a in enumerate(biases)] \
            + [(f"a{i}", a) for i, a in enumerate(slopes)]:
        if arr.dtype != np.float32:
            raise _fail(path, f"{name} is {arr.dtype}, not float32")
        if not np.all(np.isfinite(arr)):
            raise _fail(path, f"{name} has NaN or infinite values")
    return SrModel(factor, tuple(np.ascontiguousarray(w) for w in weights),
                   tuple(np.ascontiguousarray(b) for b in biases), tuple(np.ascontiguousarray(a) for a in slopes),
                   str(path))


# --- per-pixel math, written once ------------------------------------------------

def _input_px(y):
    """The network's input from an 8-bit luma level (a limited-range Y plane is taken as is: its
    residual then comes out on the same compressed scale)."""
    return y * np.float32(IN_SCALE) + np.float32(IN_OFFSET)


def _luma_px(b, g, r):
    y = np.float32(LUMA601_BGR[0]) * b + np.float32(LUMA601_BGR[1]) * g + np.float32(LUMA601_BGR[2]) * r
    return _input_i(y)  # noqa: F821 (bound per target)


def _taps3_px(acc, w0, w1, w2, v0, v1, v2):
    return acc + w0 * v0 + w1 * v1 + w2 * v2


def _taps5_px(acc, w0, w1, w2, w3, w4, v0, v1, v2, v3, v4):
    return acc + w0 * v0 + w1 * v1 + w2 * v2 + w3 * v3 + w4 * v4


def _prelu_px(v, slope):
    return max(v, np.float32(0.0)) + slope * min(v, np.float32(0.0))


def _add_u8_px(v, delta):
    # Clamp, then round half up: the only rounding of the learned path.
    return np.uint8(min(max(v + delta, np.float32(0.0)), np.float32(255.0)) + np.float32(0.5))


_input_cpu, _input_cuda = _input = twin(_input_px)
_luma_cpu, _luma_cuda = twin(_luma_px, _input_i=_input)
_taps3_cpu, _taps3_cuda = twin(_taps3_px)
_taps5_cpu, _taps5_cuda = twin(_taps5_px)
_prelu_cpu, _prelu_cuda = twin(_prelu_px)
_add_u8_cpu, _add_u8_cuda = twin(_add_u8_px)


# --- CPU loops -------------------------------------------------------------------------

@cpu_kernel
def _luma_plane_cpu(frame, halo, dst):
    height, width = frame.shape[0], frame.shape[1]
    for row in prange(height):
        src = frame[row].reshape(-1)  # flat (3*col + c) indexing vectorizes, 2-D indexing does not
        y = dst[0, row + halo]
        if frame.shape[2] == 1:  # a Y plane is the luma
            for c in range(width):
                y[np.uintp(c + halo)] = _input_cpu(np.float32(src[np.uintp(c)]))
            continue
        for c in range(width):
            col = np.uintp(c)
            i = np.uintp(3) * col
            y[col + np.uintp(halo)] = _luma_cpu(np.float32(src[i]), np.float32(src[i + np.uintp(1)]),
                                                np.float32(src[i + np.uintp(2)]))


@cpu_kernel
def _conv_cpu(src, w, b, slopes, act, halo, dst):
    n_out, n_in, k = w.shape[0], w.shape[1], w.shape[2]
    height = dst.shape[1] - 2 * halo
    radius = k // 2
    # Unsigned column indices: signed ones get wraparound checks that stop LLVM vectorizing.
    lo = np.uintp(halo)
    hi = np.uintp(dst.shape[2] - halo)
    one = np.uintp(1)
    two = np.uintp(2)
    for y in prange(height):
        for co in range(n_out):
            o = dst[co, y + halo]
            bias = b[co]
            for x in range(lo, hi):
                o[x] = bias
            for ci in range(n_in):
                if k == 3:
                    # One pass per input channel: nine taps per load and store of the output row, in L1.
                    s0 = src[ci, y + halo - 1]
                    s1 = src[ci, y + halo]
                    s2 = src[ci, y + halo + 1]
                    t = w[co, ci]
                    a0, a1, a2 = t[0, 0], t[0, 1], t[0, 2]
                    b0, b1, b2 = t[1, 0], t[1, 1], t[1, 2]
                    c0, c1, c2 = t[2, 0], t[2, 1], t[2, 2]
                    for x in range(lo, hi):
                        acc = _taps3_cpu(o[x], a0, a1, a2, s0[x - one], s0[x], s0[x + one])
                        acc = _taps3_cpu(acc, b0, b1, b2, s1[x - one], s1[x], s1[x + one])
                        o[x] = _taps3_cpu(acc, c0, c1, c2, s2[x - one], s2[x], s2[x + one])
                else:
                    # One pass per kernel row (5x5 is the first layer's kernel, on luma alone).
                    for ky in range(k):
                        s = src[ci, y + halo - radius + ky]
                        t = w[co, ci, ky]
                        w0, w1, w2, w3, w4 = t[0], t[1], t[2], t[3], t[4]
                        for x in range(lo, hi):
                            o[x] = _taps5_cpu(o[x], w0, w1, w2, w3, w4, s[x - two], s[x - one], s[x], s[x + one],
                                              s[x + two])
            if act:
                a = slopes[co]
                for x in range(lo, hi):
                    o[x] = _prelu_cpu(o[x], a)


@cpu_kernel
def _add_residual_cpu(res, factor, halo, out):
    # out holds the bicubic upscale; the shuffled residual is added to B, G and R in place.
    width = res.shape[2] - 2 * halo
    for row in prange(out.shape[0]):
        dst = out[row].reshape(-1)
        plane = (row % factor) * factor
        y = row // factor + halo
        for dx in range(factor):
            r = res[plane + dx, y]
            if out.shape[2] == 1:  # a Y plane
                for x in range(width):
                    i = np.uintp(x * factor + dx)
                    dst[i] = _add_u8_cpu(np.float32(dst[i]), r[np.uintp(x + halo)])
                continue
            for x in range(width):
                i = np.uintp(3 * (x * factor + dx))
                d = r[np.uintp(x + halo)]
                dst[i] = _add_u8_cpu(np.float32(dst[i]), d)
                dst[i + np.uintp(1)] = _add_u8_cpu(np.float32(dst[i + np.uintp(1)]), d)
                dst[i + np.uintp(2)] = _add_u8_cpu(np.float32(dst[i + np.uintp(2)]), d)


# --- CUDA kernels ------------------------------------------------------------------------

@cuda_kernel
def _luma_plane_cuda(frame, halo, dst):
    col, row = cuda.grid(2)
    if row >= frame.shape[0] or col >= frame.shape[1]:
        return
    if frame.shape[2] == 1:
        dst[0, row + halo, col + halo] = _input_cuda(np.float32(frame[row, col, 0]))
        return
    dst[0, row + halo, col + halo] = _luma_cuda(np.float32(frame[row, col, 0]), np.float32(frame[row, col, 1]),
                                                np.float32(frame[row, col, 2]))


@cuda_kernel
def _conv_cuda(src, w, b, slopes, act, halo, dst):
    x, y = cuda.grid(2)
    if y >= dst.shape[1] - 2 * halo or x >= dst.shape[2] - 2 * halo:
        return
    n_out, n_in, k = w.shape[0], w.shape[1], w.shape[2]
    left = x + halo - k // 2
    # Same summation order as the CPU loop: bias, then input channel by input channel, kernel row by row.
    for co in range(n_out):
        acc = b[co]
        for ci in range(n_in):
            for ky in range(k):
                s = y + halo - k // 2 + ky
                if k == 3:
                    acc = _taps3_cuda(acc, w[co, ci, ky, 0], w[co, ci, ky, 1], w[co, ci, ky, 2],
                                      src[ci, s, left], src[ci, s, left + 1], src[ci, s, left + 2])
                else:
                    acc = _taps5_cuda(acc, w[co, ci, ky, 0], w[co, ci, ky, 1], w[co, ci, ky, 2], w[co, ci, ky, 3],
                                      w[co, ci, ky, 4], src[ci, s, left], src[ci, s, left + 1], src[ci, s, left + 2],
                                      src[ci, s, left + 3], src[ci, s, left + 4])
        if act:
            acc = _prelu_cuda(acc, slopes[co])
        dst[co, y + halo, x + halo] = acc


@cuda_kernel
def _add_residual_cuda(res, factor, halo, out):
    col, row = cuda.grid(2)
    if row >= out.shape[0] or col >= out.shape[1]:
        return
    # Pixel shuffle: sub-pixel (row % f, col % f) of low-resolution pixel (row // f, col // f).
    d = res[(row % factor) * factor + col % factor, row // factor + halo, col // factor + halo]
    for ch in range(out.shape[2]):
        out[row, col, ch] = _add_u8_cuda(np.float32(out[row, col, ch]), d)


# --- public function ---------------------------------------------------------------------

def _buffers(work: dict | None, model: SrModel, frame_hw: tuple[int, int], out_hw: tuple[int, int],
             backend: Backend) -> tuple[list[Any], ResizeTables]:
    """Activation planes with zero halos and the bicubic tap tables, kept in ``work`` while the size stays."""
    store = {} if work is None else work
    planes = []
    for i, channels in enumerate(model.channels):
        key = f"sr_act{i}"
        shape = (channels, frame_hw[0] + 2 * HALO, frame_hw[1] + 2 * HALO)
        plane = store.get(key)
        if plane is None or tuple(plane.shape) != shape:
            # Zeroed once: kernels write interiors only, so the halos stay zero (the convolutions' padding).
            log.debug("learned upscaler: %s activation buffer %s", backend.name, shape)
            plane = backend.xp.zeros(shape, dtype=np.float32)
            store[key] = plane
        planes.append(plane)
    tables = store.get("sr_bicubic")
    if tables is None or tables.src_hw != frame_hw or tables.dst_hw != out_hw:
        tables = store["sr_bicubic"] = resize_tables(frame_hw, out_hw, "bicubic", backend=backend)
    return planes, tables


def upscale_learned(frame, model: SrModel, *, out=None, work: dict | None = None, backend: Backend = CPU,
                    use_opencv: bool = True):
    """Upscale a BGR frame (or a Y plane) by ``model.factor`` with the learned network.

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3) uint8`` BGR, or ``(H, W, 1) uint8`` luma (a Y plane), C-contiguous, on ``backend``.
    model : SrModel
        From :func:`load_sr_model`.
    out : ndarray, optional
        ``(H * f, W * f, C) uint8`` destination on ``backend``, C as ``frame``'s; must not alias ``frame``.
    work : dict, optional
        Scratch buffers, filled on the first call and reused by later calls of
        the same frame size (pass the same dict every frame: nothing is then
        allocated per frame).  Allocated per call when None.
    backend : Backend
        Where to run.
    use_opencv : bool
        On the CPU, the bicubic base comes from ``cv2.resize`` (fast); False
        runs the Numba twin of the CUDA resampler.  Ignored on CUDA.

    Returns
    -------
    ndarray
        ``out``: the bicubic upscale with the network's luma residual added.
    """
    height, width = frame.shape[0], frame.shape[1]
    f = model.factor
    out_hw = (height * f, width * f)
    want = out_hw + (frame.shape[2],)
    if out is None:
        out = backend.empty(want)
    if tuple(out.shape) != want:
        raise ValueError(f"out has shape {tuple(out.shape)}; x{f} of a {width}x{height} frame needs {want}")
    if height == 0 or width == 0:
        return out
    planes, tables = _buffers(work, model, (height, width), out_hw, backend)
    layers = model.on(backend)
    last = len(layers) - 1
    if backend.is_cuda:
        backend.launch_2d(_luma_plane_cuda, height, width)(frame, HALO, planes[0])
        for i, (w, b, a) in enumerate(layers):
            backend.launch_2d(_conv_cuda, height, width)(planes[i], w, b, a, i < last, HALO, planes[i + 1])
        resize(frame, out=out, method="bicubic", tables=tables, backend=backend)
        backend.launch_2d(_add_residual_cuda, out_hw[0], out_hw[1])(planes[-1], f, HALO, out)
        return out
    frame = np.ascontiguousarray(frame)
    _luma_plane_cpu(frame, HALO, planes[0])
    for i, (w, b, a) in enumerate(layers):
        _conv_cpu(planes[i], w, b, a, i < last, HALO, planes[i + 1])
    resize(frame, out=out, method="bicubic", tables=tables, backend=backend, use_opencv=use_opencv)
    _add_residual_cpu(planes[-1], f, HALO, out)
    return out
