"""Fused colour/tone point operation: brightness, contrast, gamma, saturation.

The per-channel tone work (brightness, contrast, gamma, and later white-balance
gains) is baked once per parameter change into a ``(3, 256)`` float32 curve
table; the per-pixel pass then only looks up three values and mixes them
towards their luma for saturation, so the whole operation is one pass over the
frame whatever the number of parameters.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_device, cpu_kernel, cuda, cuda_device, cuda_kernel

#: BT.709 luma weights in BGR order, used to mix towards gray for saturation.
LUMA_BGR = (0.0722, 0.7152, 0.2126)


def tone_curves(brightness: float = 0.0, contrast: float = 1.0, gamma: float = 1.0,
                gains: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """Bake per-channel tone curves for :func:`adjust_color`.

    For an input level ``x`` in [0, 1] and channel gain ``g`` the curve is
    ``clip((g*x - 0.5) * contrast + 0.5 + brightness, 0, 1) ** (1 / gamma)``.

    Parameters
    ----------
    brightness : float
        Offset as a fraction of full scale, in [-1, 1].
    contrast : float
        Slope around mid-gray; 1 is identity.
    gamma : float
        Gamma > 1 brightens the mid-tones; 1 is identity.
    gains : tuple of 3 floats
        Per-channel multipliers in BGR order (white balance), applied first.

    Returns
    -------
    ndarray
        ``(3, 256) float32`` output levels in [0, 255], BGR order.
    """
    x = np.arange(256, dtype=np.float64) / 255.0
    curves = np.empty((3, 256), dtype=np.float32)
    for ch, gain in enumerate(gains):
        v = np.clip((gain * x - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0)
        curves[ch] = 255.0 * v ** (1.0 / gamma)
    return curves


def _color_px(tb, tg, tr, saturation):
    # Saturation mixes each channel with the pixel's luma; 1 keeps it, 0 is gray.
    y = np.float32(LUMA_BGR[0]) * tb + np.float32(LUMA_BGR[1]) * tg + np.float32(LUMA_BGR[2]) * tr
    return y + (tb - y) * saturation, y + (tg - y) * saturation, y + (tr - y) * saturation


def _u8_px(v):
    return np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)) + np.float32(0.5))


_color_cpu = cpu_device(_color_px)
_u8_cpu = cpu_device(_u8_px)
_color_cuda = cuda_device(_color_px)
_u8_cuda = cuda_device(_u8_px)


@cpu_kernel
def _adjust_color_cpu(frame, curves, saturation, out):
    height, width = frame.shape[0], frame.shape[1]
    for row in prange(height):
        for col in range(width):
            b, g, r = _color_cpu(curves[0, frame[row, col, 0]], curves[1, frame[row, col, 1]],
                                 curves[2, frame[row, col, 2]], saturation)
            out[row, col, 0] = _u8_cpu(b)
            out[row, col, 1] = _u8_cpu(g)
            out[row, col, 2] = _u8_cpu(r)


@cuda_kernel
def _adjust_color_cuda(frame, curves, saturation, out):
    col, row = cuda.grid(2)
    if row >= frame.shape[0] or col >= frame.shape[1]:
        return
    b, g, r = _color_cuda(curves[0, frame[row, col, 0]], curves[1, frame[row, col, 1]],
                          curves[2, frame[row, col, 2]], saturation)
    out[row, col, 0] = _u8_cuda(b)
    out[row, col, 1] = _u8_cuda(g)
    out[row, col, 2] = _u8_cuda(r)


def adjust_color(frame, curves, saturation: float = 1.0, *, out=None, backend: Backend = CPU):
    """Apply baked tone curves and a saturation change in one pass.

    Parameters
    ----------
    frame : ndarray
        ``(H, W, 3) uint8`` BGR, C-contiguous.
    curves : ndarray
        ``(3, 256) float32`` from :func:`tone_curves`, on the same backend as ``frame``.
    saturation : float
        0 is grayscale, 1 keeps colours, above 1 strengthens them.
    out : ndarray, optional
        ``(H, W, 3) uint8`` destination; may not alias ``frame`` on the GPU.
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``out``, the adjusted frame.
    """
    if out is None:
        out = backend.empty(frame.shape)
    sat = np.float32(saturation)
    if backend.is_cuda:
        backend.launch_2d(_adjust_color_cuda, frame.shape[0], frame.shape[1])(frame, curves, sat, out)
    else:
        _adjust_color_cpu(frame, curves, sat, out)
    return out
