"""Bilinear, bicubic and Lanczos resampling, matching OpenCV's ``INTER_LINEAR``, ``INTER_CUBIC`` and ``INTER_LANCZOS4``.

Frames are ``(h, w, C)`` uint8: BGR (C = 3) or one plane (C = 1).

Separable filters with tap tables: for each output column (and row) the table
holds the clamped source indices of its taps and their weights, computed once
per size on the host (:func:`resize_tables`).  Output pixel ``(y, x)`` is
``sum_i sum_j wy[y, i] * wx[x, j] * src[iy[y, i], ix[x, j]]``.

* ``bilinear``: the triangle, 2 taps (chroma planes of the edge upscaler);
* ``bicubic``: Keys' cubic with ``a = -0.75`` (OpenCV's), 4 taps;
* ``lanczos``: Lanczos with 4 lobes (``a = 4``), 8 taps, weights normalised to sum 1.

Pixel centres are aligned (``src = (dst + 0.5) * in / out - 0.5``) and the
borders replicate the edge pixel, as in OpenCV.  On the CPU :func:`resize`
calls ``cv2.resize`` (SIMD, fixed-point); the Numba loop is the twin of the
CUDA kernel, and both agree with OpenCV within a level or two (OpenCV rounds its
weights to 11 bits).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_kernel, cuda, cuda_kernel, twin
from kernels.pixel import u8_px as _u8_px

#: Resampling methods and their tap counts.
TAPS = {"bilinear": 2, "bicubic": 4, "lanczos": 8}
METHODS = tuple(TAPS)
_CV2_FLAGS = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
#: Keys' cubic parameter (OpenCV's).
CUBIC_A = -0.75
#: Lanczos lobes.
LANCZOS_A = 4


# --- tap tables (host) -------------------------------------------------------------------

def cubic_weights(t: np.ndarray) -> np.ndarray:
    """Keys' cubic (``a = -0.75``) at distances ``t`` (float64 array)."""
    a = CUBIC_A
    x = np.abs(t)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return np.where(x <= 1.0, near, np.where(x < 2.0, far, 0.0))


def lanczos_weights(t: np.ndarray) -> np.ndarray:
    """Lanczos-4 at distances ``t`` (float64 array), unnormalised."""
    return np.sinc(t) * np.sinc(t / LANCZOS_A) * (np.abs(t) < LANCZOS_A)


def axis_taps(src: int, dst: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Clamped source indices ``(dst, taps) int32`` and weights ``(dst, taps) float32`` of one axis."""
    if method not in TAPS:
        raise ValueError(f"unknown resize method {method!r}: use one of {', '.join(METHODS)}")
    taps = TAPS[method]
    pos = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    first = np.floor(pos).astype(np.int64) - (taps // 2 - 1)
    offsets = first[:, None] + np.arange(taps)[None, :]
    dist = pos[:, None] - offsets
    weights = {"bilinear": lambda t: np.maximum(1.0 - np.abs(t), 0.0), "bicubic": cubic_weights,
               "lanczos": lanczos_weights}[method](dist)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.clip(offsets, 0, src - 1).astype(np.int32), weights.astype(np.float32)


@dataclass(frozen=True)
class ResizeTables:
    """Tap tables for one (source size, output size, method), on a backend."""

    method: str
    src_hw: tuple[int, int]
    dst_hw: tuple[int, int]
    iy: Any
    wy: Any
    ix: Any
    wx: Any


def resize_tables(src_hw: tuple[int, int], dst_hw: tuple[int, int], method: str = "bicubic", *,
                  backend: Backend = CPU) -> ResizeTables:
    """Build the tap tables for resizing ``src_hw`` to ``dst_hw`` (both ``(height, width)``)."""
    iy, wy = axis_taps(src_hw[0], dst_hw[0], method)
    ix, wx = axis_taps(src_hw[1], dst_hw[1], method)
    on = backend.asarray
    return ResizeTables(method, tuple(src_hw), tuple(dst_hw), on(iy), on(wy), on(ix), on(wx))


# --- per-pixel math, written once ------------------------------------------------

def _resample_px(src, iy, wy, ix, wx, row, col, ch):
    """One output sample: the separable weighted sum over the tap tables."""
    acc = np.float32(0.0)
    for i in range(iy.shape[1]):
        r = iy[row, i]
        line = np.float32(0.0)
        for j in range(ix.shape[1]):
            line += wx[col, j] * np.float32(src[r, ix[col, j], ch])
        acc += wy[row, i] * line
    return acc


_u8_cpu, _u8_cuda = twin(_u8_px)
_resample_cpu, _resample_cuda = twin(_resample_px)


@cpu_kernel
def _resize_cpu(src, iy, wy, ix, wx, out):
    for row in prange(out.shape[0]):
        for col in range(out.shape[1]):
            for ch in range(out.shape[2]):
                out[row, col, ch] = _u8_cpu(_resample_cpu(src, iy, wy, ix, wx, row, col, ch))


@cuda_kernel
def _resize_cuda(src, iy, wy, ix, wx, out):
    col, row = cuda.grid(2)
    if row >= out.shape[0] or col >= out.shape[1]:
        return
    for ch in range(out.shape[2]):
        out[row, col, ch] = _u8_cuda(_resample_cuda(src, iy, wy, ix, wx, row, col, ch))


# --- public function -------------------------------------------------------------------

def resize(frame, *, out, method: str = "bicubic", tables: ResizeTables | None = None, backend: Backend = CPU,
           use_opencv: bool = True):
    """Resample a frame to the size of ``out`` (bilinear, bicubic or Lanczos).

    Parameters
    ----------
    frame : ndarray
        ``(h, w, C) uint8`` on ``backend``: BGR (C = 3) or a plane (C = 1).
    out : ndarray
        ``(H, W, C) uint8`` destination on ``backend``; its shape sets the output size. Returned.
    method : {"bilinear", "bicubic", "lanczos"}
        Kernel: the triangle (2x2 taps), Keys' cubic (``a = -0.75``, 4x4 taps) or Lanczos-4 (8x8 taps).
    tables : ResizeTables, optional
        From :func:`resize_tables` for these sizes and method (built here when not given).
    backend : Backend
        Where to run.
    use_opencv : bool
        On the CPU, use ``cv2.resize`` (fast); False runs the Numba twin of the CUDA kernel.
        Ignored on CUDA.
    """
    if method not in TAPS:
        raise ValueError(f"unknown resize method {method!r}: use one of {', '.join(METHODS)}")
    (h, w), (oh, ow) = frame.shape[:2], out.shape[:2]
    if h == 0 or w == 0 or oh == 0 or ow == 0:
        return out
    if not backend.is_cuda and use_opencv:
        if frame.shape[2] == 1:  # OpenCV's one-channel images are 2-D
            frame, out2d = frame[:, :, 0], out[:, :, 0]
            cv2.resize(frame, (ow, oh), dst=out2d, interpolation=_CV2_FLAGS[method])
        else:
            cv2.resize(frame, (ow, oh), dst=out, interpolation=_CV2_FLAGS[method])
        return out
    if tables is None or tables.method != method or tables.src_hw != (h, w) or tables.dst_hw != (oh, ow):
        tables = resize_tables((h, w), (oh, ow), method, backend=backend)
    args = (tables.iy, tables.wy, tables.ix, tables.wx, out)
    backend.run_2d(_resize_cpu, _resize_cuda, oh, ow, frame, *args)
    return out
