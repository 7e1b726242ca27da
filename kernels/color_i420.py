"""The colour point operation (:func:`kernels.color.adjust_color`) on the planes of I420 frames.

The same curves and saturation, each sample taken to BGR and back in registers
(:func:`adjust_color_i420`); a curve without gamma is computed as a clipped
straight line (:func:`tone_lines`) instead of looked up.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, bind, cpu_kernel, cuda, cuda_kernel, twin
from kernels.color import _color
from kernels.colorspace import _ycc_to_bgr_px
from kernels.pixel import VECTOR_MINMAX, clamp255_px
from kernels.pixel import u8_px as _u8_px


def _ycc_from_bgr_px(b, g, r, k):
    # ``k``: YuvFormat.from_bgr_coefficients (unrounded code values out).
    yf = k[0] * r + k[1] * g + k[2] * b
    return k[3] + k[4] * yf, k[5] + k[6] * (b - yf), k[5] + k[7] * (r - yf)


def _level_px(v):
    # The BGR path reads the curves at uint8 levels: clip (out-of-gamut Y'CbCr) and round the same way.
    return int(min(max(v, np.float32(0.0)), np.float32(255.0)) + np.float32(0.5))


def _tone_line_px(curves, lines, ch, v):
    # A curve without gamma is a clipped straight line: arithmetic, no table gather (several times faster).
    return _clamp255_i(lines[ch] * _clamp255_i(v) + lines[3 + ch])  # noqa: F821


def _tone_table_px(curves, lines, ch, v):
    return curves[ch, _level_i(v)]  # noqa: F821


def _tone_px(curves, lines, ch, v):
    if lines[0] >= np.float32(0.0):
        return _tone_line_i(curves, lines, ch, v)  # noqa: F821
    return _tone_table_i(curves, lines, ch, v)  # noqa: F821


def _ycc_point_px(y, cb, cr, curves, lines, saturation, to_bgr, from_bgr):
    """:func:`adjust_color`'s curves and saturation on one Y'CbCr sample; unrounded code values out."""
    b, g, r = _ycc_to_bgr_i(y, cb, cr, to_bgr)  # noqa: F821
    b, g, r = _color_i(_tone_i(curves, lines, 0, b), _tone_i(curves, lines, 1, g), _tone_i(curves, lines, 2, r),  # noqa: F821
                       saturation)
    return _ycc_from_bgr_i(_clamp255_i(b), _clamp255_i(g), _clamp255_i(r), from_bgr)  # noqa: F821


def _ycc_block_px(y_plane, u_plane, v_plane, curves, lines, saturation, to_bgr, from_bgr, crow, ccol,
                  y_out, u_out, v_out):
    """One chroma sample and its 2x2 luma block through the point operation.

    Each Y' sample is the new Y' of (its Y', the block's Cb, Cr); the chroma
    sample is the new Cb, Cr of (the block's mean Y', Cb, Cr).
    """
    cb = np.float32(u_plane[crow, ccol])
    cr = np.float32(v_plane[crow, ccol])
    acc = np.float32(0.0)
    for dy in range(2):
        for dx in range(2):
            yv = np.float32(y_plane[2 * crow + dy, 2 * ccol + dx])
            acc += yv
            ny, _, _ = _ycc_point_i(yv, cb, cr, curves, lines, saturation, to_bgr, from_bgr)  # noqa: F821
            y_out[2 * crow + dy, 2 * ccol + dx] = _u8_i(ny)  # noqa: F821
    _, ncb, ncr = _ycc_point_i(acc * np.float32(0.25), cb, cr, curves, lines, saturation, to_bgr, from_bgr)  # noqa: F821
    u_out[crow, ccol] = _u8_i(ncb)  # noqa: F821
    v_out[crow, ccol] = _u8_i(ncr)  # noqa: F821


def _ycc_rows_px(y_plane, u_plane, v_plane, curves, lines, saturation, to_bgr, from_bgr, crow, y_out, u_out, v_out):
    """:func:`_ycc_block_px` for a whole row of chroma samples, in loops a CPU vectorizes.

    Row by row (each luma sample with the chroma sample above it, then each
    chroma sample with its block's mean Y') rather than block by block: the
    same samples and math, about five times faster on the CPU.
    """
    for dy in range(2):
        row = 2 * crow + dy
        for x in range(2 * u_plane.shape[1]):
            ny, _, _ = _ycc_point_i(np.float32(y_plane[row, x]), np.float32(u_plane[crow, x >> 1]),  # noqa: F821
                                    np.float32(v_plane[crow, x >> 1]), curves, lines, saturation, to_bgr, from_bgr)
            y_out[row, x] = _u8_i(ny)  # noqa: F821
    for ccol in range(u_plane.shape[1]):
        mean = ((np.float32(y_plane[2 * crow, 2 * ccol]) + np.float32(y_plane[2 * crow, 2 * ccol + 1]))
                + (np.float32(y_plane[2 * crow + 1, 2 * ccol]) + np.float32(y_plane[2 * crow + 1, 2 * ccol + 1])))
        _, ncb, ncr = _ycc_point_i(mean * np.float32(0.25), np.float32(u_plane[crow, ccol]),  # noqa: F821
                                   np.float32(v_plane[crow, ccol]), curves, lines, saturation, to_bgr, from_bgr)
        u_out[crow, ccol] = _u8_i(ncb)  # noqa: F821
        v_out[crow, ccol] = _u8_i(ncr)  # noqa: F821


_clamp255 = twin(clamp255_px, cpu_only=VECTOR_MINMAX)
_tone_line = twin(_tone_line_px, _clamp255_i=_clamp255)
_tone_table = twin(_tone_table_px, _level_i=twin(_level_px, cpu_only=VECTOR_MINMAX))
_u8 = twin(_u8_px, cpu_only=VECTOR_MINMAX)
_point_calls = dict(_ycc_to_bgr_i=twin(_ycc_to_bgr_px), _color_i=_color, _clamp255_i=_clamp255,
                    _ycc_from_bgr_i=twin(_ycc_from_bgr_px))
# The CPU picks the tone variant once per row, outside the vectorized loops; a CUDA thread per sample.
_ycc_rows_line_cpu = twin(_ycc_rows_px, _ycc_point_i=twin(_ycc_point_px, _tone_i=_tone_line, **_point_calls),
                          _u8_i=_u8).cpu
_ycc_rows_table_cpu = twin(_ycc_rows_px, _ycc_point_i=twin(_ycc_point_px, _tone_i=_tone_table, **_point_calls),
                           _u8_i=_u8).cpu
_ycc_block_cuda = twin(_ycc_block_px, _u8_i=_u8, _ycc_point_i=twin(
    _ycc_point_px, _tone_i=twin(_tone_px, _tone_line_i=_tone_line, _tone_table_i=_tone_table), **_point_calls)).cuda


def _adjust_i420_px(y_plane, u_plane, v_plane, curves, lines, saturation, to_bgr, from_bgr, y_out, u_out, v_out):
    # The small coefficient vectors as tuples: registers, not reloaded after every store.
    ln = (lines[0], lines[1], lines[2], lines[3], lines[4], lines[5])
    k1 = (to_bgr[0], to_bgr[1], to_bgr[2], to_bgr[3], to_bgr[4], to_bgr[5], to_bgr[6], to_bgr[7])
    k2 = (from_bgr[0], from_bgr[1], from_bgr[2], from_bgr[3], from_bgr[4], from_bgr[5], from_bgr[6], from_bgr[7])
    for crow in prange(u_plane.shape[0]):
        _ycc_rows_i(y_plane, u_plane, v_plane, curves, ln, saturation, k1, k2, crow, y_out, u_out, v_out)  # noqa: F821


# A CPU kernel per tone variant, compiled on first use: a chain without gamma never compiles the table's.
_adjust_i420_lines_cpu = cpu_kernel(bind(_adjust_i420_px, _ycc_rows_i=_ycc_rows_line_cpu))
_adjust_i420_table_cpu = cpu_kernel(bind(_adjust_i420_px, _ycc_rows_i=_ycc_rows_table_cpu))


@cuda_kernel
def _adjust_i420_cuda(y_plane, u_plane, v_plane, curves, lines, saturation, to_bgr, from_bgr, y_out, u_out, v_out):
    ccol, crow = cuda.grid(2)
    if crow < u_plane.shape[0] and ccol < u_plane.shape[1]:
        _ycc_block_cuda(y_plane, u_plane, v_plane, curves, lines, saturation, to_bgr, from_bgr, crow, ccol,
                        y_out, u_out, v_out)


def tone_lines(brightness: float = 0.0, contrast: float = 1.0, gains: tuple[float, float, float] = (1.0, 1.0, 1.0),
               *, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`tone_curves` without gamma as straight lines: ``curve_c(x) = clip(slope_c * x + offset, 0, 255)``.

    Returns
    -------
    ndarray
        ``(6,) float32``: three slopes, then three offsets (levels), BGR order; for :func:`adjust_color_i420`.
    """
    lines = np.empty(6, np.float32) if out is None else out
    lines[:3] = [g * contrast for g in gains]
    lines[3:] = 255.0 * (0.5 * (1.0 - contrast) + brightness)
    return lines


#: ``lines`` argument of :func:`adjust_color_i420` that selects the curve table.
USE_CURVES = np.full(6, -1.0, np.float32)


def adjust_color_i420(planes, curves, saturation: float, to_bgr, from_bgr, *, lines=None, out,
                      backend: Backend = CPU):
    """:func:`adjust_color` (without a 3D LUT) on the planes of an I420 frame.

    The per-channel curves do not act separably on Y'CbCr, so each sample is
    taken to BGR, through the curves and saturation, and back, in registers:
    every Y' sample with its block's Cb, Cr, every chroma sample with its
    block's mean Y'.  Against converting the frame to BGR (bilinear chroma),
    applying :func:`adjust_color` and converting back (box chroma), the
    difference is a fraction of a code value on average (it comes from the
    chroma resampling, not from this math).

    Parameters
    ----------
    planes : tuple of 3 ndarrays
        ``(H, W)`` Y' and ``(H/2, W/2)`` Cb, Cr uint8 planes.
    curves : ndarray
        ``(3, 256) float32`` from :func:`tone_curves`, on ``backend``.
    saturation : float
        As for :func:`adjust_color`.
    to_bgr, from_bgr : ndarray
        ``float32[8]`` :meth:`kernels.colorspace.YuvFormat.to_bgr_coefficients` and
        ``from_bgr_coefficients`` of the stream, on ``backend``.
    lines : ndarray, optional
        ``(6,) float32`` :func:`tone_lines` equal to ``curves`` (no gamma), on ``backend``:
        computed instead of looked up, several times faster.  Default: the table.
    out : tuple of 3 ndarrays
        Destination planes, shaped as ``planes``; may not alias them.
    backend : Backend
        Where to run.

    Returns
    -------
    tuple
        ``out``.
    """
    y_plane, u_plane, v_plane = planes
    sat = np.float32(saturation)
    cpu = _adjust_i420_table_cpu if lines is None else _adjust_i420_lines_cpu
    if lines is None:
        lines = _use_curves(backend)
    backend.run_2d(cpu, _adjust_i420_cuda, u_plane.shape[0], u_plane.shape[1],
                   y_plane, u_plane, v_plane, curves, lines, sat, to_bgr, from_bgr, *out)
    return out


@lru_cache(maxsize=None)
def _use_curves(backend: Backend) -> Any:
    return backend.asarray(USE_CURVES.copy())
