"""Affine warp (bilinear, border modes) and a gray thumbnail for motion estimation.

:func:`warp_affine` resamples a ``(H, W, 3) uint8`` frame or a ``(H, W)`` plane
through a 2x3 affine matrix that maps *output* pixel coordinates to *source*
coordinates (the inverse map, as OpenCV's ``WARP_INVERSE_MAP``), so every output
pixel is computed independently: one thread per pixel on the GPU, one row per
task on the CPU.  Pixel centres sit at integer coordinates, as in OpenCV.
:func:`warp_i420` warps the three planes of an I420 frame (see
:mod:`kernels.planes`) with one pass each, the chroma planes through
:func:`chroma_matrix`, the same motion on their half-resolution grid.

Border modes: ``"black"`` reads a constant (``border_value``, 0 by default)
outside the source (each of the four bilinear taps separately, as
``cv2.BORDER_CONSTANT`` does) and ``"replicate"`` clamps every tap to the
nearest edge pixel (``cv2.BORDER_REPLICATE``).

On the CPU the default path is ``cv2.warpAffine`` (SIMD, several times faster
than a scalar loop); the Numba CPU kernel shares the per-pixel math with the
CUDA kernel and is the reference the CUDA twin is tested against.  OpenCV
quantises the sub-pixel position to 1/32 px, so the two CPU paths differ by at
most a few levels on sharp edges and by well under one level on average.

:func:`gray_thumbnail` box-averages a BGR frame (or a luma plane as it is) to
a small float32 luma image on the frame's own backend, so only a thumbnail
crosses to the host for motion estimation.
"""
from __future__ import annotations

import logging
import math

import cv2
import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, bind, cpu_device, cpu_kernel, cuda, cuda_device, cuda_kernel, twin
from kernels.pixel import LUMA601_BGR
from kernels.pixel import u8_px as _u8_px
from kernels.planes import i420_planes

log = logging.getLogger(__name__)

#: Border modes the kernel implements (the stage's ``zoom`` mode uses ``replicate``).
BORDERS = ("black", "replicate")


# --- per-pixel math, written once ------------------------------------------------

def _tap_px(src, row, col, ch, replicate, fill):
    # One bilinear tap: the constant ``fill`` outside the frame, or the nearest edge pixel.
    height = src.shape[0]
    width = src.shape[1]
    if replicate:
        row = min(max(row, 0), height - 1)
        col = min(max(col, 0), width - 1)
        return np.float32(src[row, col, ch])
    if row < 0 or row >= height or col < 0 or col >= width:
        return fill
    return np.float32(src[row, col, ch])


def _level_px(v):
    # A float32 plane keeps the interpolated value as it is.
    return v


def _warp_px(src, row, col, m00, m01, m02, m10, m11, m12, replicate, fill, out):
    # One output pixel, every channel (3 for BGR, 1 for a plane).  _tap_i/_u8_i are bound per
    # target (kernels.backend.bind); _u8_i stores the value (rounded to uint8, or as it is for float32).
    height = src.shape[0]
    width = src.shape[1]
    x = np.float32(col)
    y = np.float32(row)
    sx = m00 * x + m01 * y + m02
    sy = m10 * x + m11 * y + m12
    # Clamping the source position to one pixel beyond the frame changes no result (all taps
    # are then border taps) and keeps the integer conversion in range for any finite matrix.
    sx = min(max(sx, np.float32(-2.0)), np.float32(width + 1))
    sy = min(max(sy, np.float32(-2.0)), np.float32(height + 1))
    fx0 = math.floor(sx)
    fy0 = math.floor(sy)
    ax = np.float32(sx - fx0)
    ay = np.float32(sy - fy0)
    c0 = int(fx0)
    r0 = int(fy0)
    for ch in range(out.shape[2]):
        v00 = _tap_i(src, r0, c0, ch, replicate, fill)  # noqa: F821
        v01 = _tap_i(src, r0, c0 + 1, ch, replicate, fill)  # noqa: F821
        v10 = _tap_i(src, r0 + 1, c0, ch, replicate, fill)  # noqa: F821
        v11 = _tap_i(src, r0 + 1, c0 + 1, ch, replicate, fill)  # noqa: F821
        top = v00 + (v01 - v00) * ax
        bottom = v10 + (v11 - v10) * ax
        out[row, col, ch] = _u8_i(top + (bottom - top) * ay)  # noqa: F821


def _thumb_px(frame, i, j, factor, wb, wg, wr):
    # A BGR frame is weighted into luma; a one-channel frame (a luma plane) is luma already.
    acc = np.float32(0.0)
    bgr = frame.shape[2] == 3
    for r in range(i * factor, i * factor + factor):
        for c in range(j * factor, j * factor + factor):
            if bgr:
                acc += (wb * np.float32(frame[r, c, 0]) + wg * np.float32(frame[r, c, 1])
                        + wr * np.float32(frame[r, c, 2]))
            else:
                acc += np.float32(frame[r, c, 0])
    return acc / np.float32(factor * factor)


# The math per target, each wrapping calling its own target's callees (kernels.backend.twin).
_tap, _u8, _level = twin(_tap_px), twin(_u8_px), twin(_level_px)
#: The pixel warp per output type: uint8 frames and planes, and float32 planes (a denoiser's history).
_WARP_PX = {np.dtype(np.uint8): twin(_warp_px, _tap_i=_tap, _u8_i=_u8),
            np.dtype(np.float32): twin(_warp_px, _tap_i=_tap, _u8_i=_level)}
_thumb_cpu_px = cpu_device(_thumb_px)
_thumb_cuda_px = cuda_device(_thumb_px)


# --- whole-frame loops -------------------------------------------------------------

def _warp_rows(src, m00, m01, m02, m10, m11, m12, replicate, fill, out):
    for row in prange(out.shape[0]):
        for col in range(out.shape[1]):
            _warp_i(src, row, col, m00, m01, m02, m10, m11, m12, replicate, fill, out)  # noqa: F821


def _warp_threads(src, m00, m01, m02, m10, m11, m12, replicate, fill, out):
    col, row = cuda.grid(2)
    if row >= out.shape[0] or col >= out.shape[1]:
        return
    _warp_i(src, row, col, m00, m01, m02, m10, m11, m12, replicate, fill, out)  # noqa: F821


_WARP_CPU = {dtype: cpu_kernel(bind(_warp_rows, _warp_i=px.cpu)) for dtype, px in _WARP_PX.items()}
_WARP_CUDA = {dtype: cuda_kernel(bind(_warp_threads, _warp_i=px.cuda)) for dtype, px in _WARP_PX.items()}


@cpu_kernel
def _thumb_cpu(frame, factor, wb, wg, wr, out):
    for i in prange(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = _thumb_cpu_px(frame, i, j, factor, wb, wg, wr)


@cuda_kernel
def _thumb_cuda(frame, factor, wb, wg, wr, out):
    j, i = cuda.grid(2)
    if i >= out.shape[0] or j >= out.shape[1]:
        return
    out[i, j] = _thumb_cuda_px(frame, i, j, factor, wb, wg, wr)


# --- public functions ----------------------------------------------------------------

def _check_matrix(matrix) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"warp matrix must be 2x3; got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError("warp matrix has a NaN or infinite entry; pass a finite matrix (identity to skip)")
    return m


def _as_hwc(arr):
    """A ``(H, W)`` plane as a ``(H, W, 1)`` view (the kernels index channels); others as they are."""
    return arr[:, :, None] if arr.ndim == 2 else arr


def warp_affine(frame, matrix, *, out=None, border: str = "replicate", border_value: float = 0.0,
                backend: Backend = CPU, use_opencv: bool = True):
    """Resample ``frame`` through an inverse affine map, bilinear.

    ``out[y, x] = frame(m00*x + m01*y + m02, m10*x + m11*y + m12)``.

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3) uint8`` BGR, or a ``(H, W)`` plane, uint8 or float32 (kept unrounded), rows
        contiguous, on ``backend``.
    matrix : array_like
        ``(2, 3)`` host matrix mapping output pixel coordinates (x = column,
        y = row) to source coordinates.  Must be finite.
    out : ndarray, optional
        Destination of the frame's kind and type (``(H', W', 3)`` or ``(H', W')``, any size;
        default the frame's) on ``backend``; must not alias ``frame``.
    border : {"black", "replicate"}
        Value of source pixels outside the frame.
    border_value : float
        The level ``"black"`` reads outside the frame, in [0, 255] (every channel);
        ignored by ``"replicate"``.
    backend : Backend
        Where to run.
    use_opencv : bool
        On the CPU, use ``cv2.warpAffine`` (fast); False runs the Numba twin of
        the CUDA kernel.  Ignored on CUDA.

    Returns
    -------
    ndarray
        ``out``, the warped frame.

    Raises
    ------
    ValueError
        For an unknown border mode, a non-finite or mis-shaped matrix, or an
        ``out`` of another kind than ``frame``.
    """
    if border not in BORDERS:
        raise ValueError(f"unknown border mode {border!r}: use one of {', '.join(BORDERS)}")
    m = _check_matrix(matrix)
    if frame.dtype not in _WARP_CPU:
        raise ValueError(f"frame is {frame.dtype}: warp a uint8 frame or plane, or a float32 plane")
    if out is None:
        out = backend.empty(frame.shape, frame.dtype)
    if out.ndim != frame.ndim or out.shape[2:] != frame.shape[2:] or out.dtype != frame.dtype:
        raise ValueError(f"out {tuple(out.shape)} {out.dtype} is not the same kind of image as frame "
                         f"{tuple(frame.shape)} {frame.dtype}")
    if out.shape[0] == 0 or out.shape[1] == 0 or frame.shape[0] == 0 or frame.shape[1] == 0:
        return out
    replicate = border == "replicate"
    if backend.is_cuda or not use_opencv:
        args = tuple(np.float32(v) for v in m.ravel()) + (replicate, np.float32(border_value), _as_hwc(out))
        if backend.is_cuda:
            backend.launch_2d(_WARP_CUDA[frame.dtype], out.shape[0], out.shape[1])(_as_hwc(frame), *args)
        else:
            _WARP_CPU[frame.dtype](_as_hwc(frame), *args)
        return out
    mode = cv2.BORDER_REPLICATE if replicate else cv2.BORDER_CONSTANT
    cv2.warpAffine(frame, m, (out.shape[1], out.shape[0]), dst=out,
                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=mode,
                   borderValue=(border_value,) * 3)
    return out


def chroma_matrix(matrix) -> np.ndarray:
    """The inverse map ``matrix`` of luma pixels, restated for the 4:2:0 chroma grid.

    Chroma samples are sited at the centre of their 2x2 luma block (as
    :mod:`kernels.colorspace` resamples them, y4m ``420jpeg``): chroma
    pixel ``c`` sits at luma position ``l = S(c) = 2 c + 0.5``.  The chroma map is
    ``S^-1 M S``: the same linear part, the translation ``(A o + t - o) / 2``
    with ``o = (0.5, 0.5)``.

    Parameters
    ----------
    matrix : array_like
        ``(2, 3)`` output -> source map in luma pixel coordinates.

    Returns
    -------
    ndarray
        ``(2, 3)`` float64 output -> source map in chroma pixel coordinates.
    """
    m = _check_matrix(matrix)
    lin = m[:, :2]
    o = np.array([0.5, 0.5])
    return np.hstack([lin, ((lin @ o + m[:, 2] - o) / 2.0)[:, None]])


def warp_i420(frame, matrix, *, out, border: str = "replicate", black: tuple[int, int, int] = (16, 128, 128),
              backend: Backend = CPU, use_opencv: bool = True):
    """Warp an I420 frame: each plane once, chroma through :func:`chroma_matrix`.

    Parameters
    ----------
    frame : ndarray
        ``(H * 3 // 2, W) uint8`` I420 frame (:mod:`kernels.planes`) on ``backend``.
    matrix : array_like
        ``(2, 3)`` output -> source map in luma pixel coordinates, finite.
    out : ndarray
        I420 destination of the same shape on ``backend``; must not alias ``frame``. Returned.
    border : {"black", "replicate"}
        As :func:`warp_affine`; ``"black"`` fills each plane with its value of ``black``.
    black : tuple of int
        Y, Cb, Cr code values of black (:func:`kernels.planes.yuv_black`).
    backend : Backend
    use_opencv : bool
        On the CPU, ``cv2.warpAffine`` per plane; False runs the Numba kernel.
    """
    if tuple(out.shape) != tuple(frame.shape):
        raise ValueError(f"out {tuple(out.shape)} must have the frame's shape {tuple(frame.shape)}")
    m = _check_matrix(matrix)
    mc = chroma_matrix(m)
    for src, dst, mat, fill in zip(i420_planes(frame), i420_planes(out), (m, mc, mc), black):
        warp_affine(src, mat, out=dst, border=border, border_value=float(fill), backend=backend,
                    use_opencv=use_opencv)
    return out


def thumbnail_size(height: int, width: int, target_width: int = 320) -> tuple[int, int, int]:
    """Integer box factor bringing ``width`` near ``target_width``, and the thumbnail's size.

    Returns
    -------
    (factor, thumb_height, thumb_width)
    """
    factor = max(1, int(round(width / max(target_width, 1))))
    factor = min(factor, max(1, height), max(1, width))
    return factor, height // factor, width // factor


def gray_thumbnail(frame, factor: int, *, out, backend: Backend = CPU, use_opencv: bool = True):
    """Box-average a BGR frame or a luma plane by an integer ``factor`` into a float32 thumbnail.

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3) uint8`` BGR (weighted into BT.601 luma), or an ``(H, W) uint8``
        luma plane (averaged as it is: an I420 frame's Y plane needs no
        conversion), on ``backend``.
    factor : int
        Box size >= 1; the last ``H % factor`` rows and ``W % factor`` columns are ignored.
    out : ndarray
        ``(H // factor, W // factor) float32`` on ``backend``; levels in [0, 255]. Returned.
    backend : Backend
    use_opencv : bool
        On the CPU, use ``cv2.resize(INTER_AREA)`` and ``cv2.cvtColor`` (fast).
    """
    th, tw = out.shape
    if th == 0 or tw == 0:
        return out
    wb, wg, wr = (np.float32(w) for w in LUMA601_BGR)
    if backend.is_cuda:
        backend.launch_2d(_thumb_cuda, th, tw)(_as_hwc(frame), int(factor), wb, wg, wr, out)
    elif use_opencv:
        # Gray first, then the box average: a third of the data to resize.  OpenCV rounds both
        # steps to 8 bits (within half a level of the float kernels), which tracking does not mind.
        gray = frame[:th * factor, :tw * factor]
        if gray.ndim == 3:
            gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
        out[...] = gray if factor == 1 else cv2.resize(gray, (tw, th), interpolation=cv2.INTER_AREA)
    else:
        _thumb_cpu(_as_hwc(frame), int(factor), wb, wg, wr, out)
    return out
