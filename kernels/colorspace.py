"""Planar Y'CbCr <-> packed BGR conversion with explicit matrix and range.

Decoders hand out planar Y'CbCr; every stage works on ``(H, W, 3) uint8`` BGR.
Getting this boundary wrong costs more quality than any filter gains, so the
matrix (BT.601/709/2020) and range (limited/full) always come from the
stream's tags, chroma is resampled with centred bilinear weights, and rounding
happens exactly once, at the end of the float math.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_device, cpu_kernel, cuda, cuda_device, cuda_kernel

#: Luma weights (Kr, Kb) per matrix; Kg = 1 - Kr - Kb.
MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}


@dataclass(frozen=True)
class YuvFormat:
    """How a planar Y'CbCr picture encodes colour.

    Parameters
    ----------
    matrix : {"bt601", "bt709", "bt2020"}
        Luma/chroma matrix.
    full_range : bool
        ``True`` for full ("JPEG") range, ``False`` for limited (16-235/240).
    bit_depth : int
        Bits per sample, 8 to 16; samples above 8 bits are stored as uint16.
    sub_x, sub_y : int
        Chroma subsampling factors (2, 2 for 4:2:0; 2, 1 for 4:2:2; 1, 1 for 4:4:4).
    """

    matrix: str = "bt709"
    full_range: bool = False
    bit_depth: int = 8
    sub_x: int = 2
    sub_y: int = 2

    def __post_init__(self) -> None:
        if self.matrix not in MATRICES:
            raise ValueError(f"unknown matrix {self.matrix!r}; use one of {sorted(MATRICES)}")
        if not 8 <= self.bit_depth <= 16:
            raise ValueError(f"bit_depth {self.bit_depth} outside 8..16")
        if self.sub_x not in (1, 2) or self.sub_y not in (1, 2):
            raise ValueError(f"chroma subsampling {self.sub_x}x{self.sub_y} is not 1 or 2")

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.bit_depth == 8 else np.uint16)

    def chroma_shape(self, height: int, width: int) -> tuple[int, int]:
        return (-(-height // self.sub_y), -(-width // self.sub_x))

    def _levels(self) -> tuple[float, float, float, float]:
        """(luma offset, luma span, chroma centre, chroma half-span) in sample units."""
        scale = float(1 << (self.bit_depth - 8))
        if self.full_range:
            peak = float((1 << self.bit_depth) - 1)
            return 0.0, peak, 128.0 * scale, peak / 2.0
        return 16.0 * scale, 219.0 * scale, 128.0 * scale, 112.0 * scale

    def to_bgr_coefficients(self) -> np.ndarray:
        """Coefficients of the Y'CbCr -> 8-bit BGR map, as float32[8].

        Layout: y_offset, y_gain, c_offset, c_gain, r_cr, g_cb, g_cr, b_cb, where
        ``R = (Y - y_offset) * y_gain + r_cr * (Cr - c_offset) * c_gain`` and so on.
        """
        kr, kb = MATRICES[self.matrix]
        kg = 1.0 - kr - kb
        y_off, y_span, c_off, c_half = self._levels()
        return np.array(
            [y_off, 255.0 / y_span, c_off, 255.0 / (2.0 * c_half),
             2.0 * (1.0 - kr), -2.0 * kb * (1.0 - kb) / kg, -2.0 * kr * (1.0 - kr) / kg, 2.0 * (1.0 - kb)],
            dtype=np.float32,
        )

    def from_bgr_coefficients(self) -> np.ndarray:
        """Coefficients of the 8-bit BGR -> Y'CbCr map, as float32[8].

        Layout: kr, kg, kb, y_offset, y_gain, c_offset, cb_gain, cr_gain, where
        ``Y = y_offset + y_gain * (kr R + kg G + kb B)`` and
        ``Cb = c_offset + cb_gain * (B - Y')``, ``Cr = c_offset + cr_gain * (R - Y')``.
        """
        kr, kb = MATRICES[self.matrix]
        kg = 1.0 - kr - kb
        y_off, y_span, c_off, c_half = self._levels()
        c_gain = 2.0 * c_half / 255.0
        return np.array(
            [kr, kg, kb, y_off, y_span / 255.0, c_off, c_gain / (2.0 * (1.0 - kb)), c_gain / (2.0 * (1.0 - kr))],
            dtype=np.float32,
        )


@lru_cache(maxsize=64)
def _coefficients(fmt: YuvFormat, to_bgr: bool, backend: Backend):
    """Conversion coefficients on ``backend``, computed (and uploaded) once per format."""
    return backend.asarray(fmt.to_bgr_coefficients() if to_bgr else fmt.from_bgr_coefficients())


# --- per-pixel math, written once ------------------------------------------------

def _ycc_to_bgr_px(y, cb, cr, k):
    yv = (y - k[0]) * k[1]
    u = (cb - k[2]) * k[3]
    v = (cr - k[2]) * k[3]
    return yv + k[7] * u, yv + k[5] * u + k[6] * v, yv + k[4] * v


def _to_u8_px(v):
    # Clamp first, then round half up: the only rounding on this path.
    return np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)) + np.float32(0.5))


def _luma_px(b, g, r, k):
    return k[0] * r + k[1] * g + k[2] * b


def _to_sample_px(v, peak):
    return min(max(v, np.float32(0.0)), peak) + np.float32(0.5)


def _chroma_tap(pos, size):
    """Centred bilinear tap: (index0, index1, weight of index1) at chroma position pos."""
    p = max(pos, np.float32(0.0))
    i0 = min(int(p), size - 1)
    i1 = min(i0 + 1, size - 1)
    return i0, i1, p - np.float32(i0)


def _lerp_px(a, b, w):
    return a + (b - a) * w


_ycc_to_bgr_cpu = cpu_device(_ycc_to_bgr_px)
_to_u8_cpu = cpu_device(_to_u8_px)
_luma_cpu = cpu_device(_luma_px)
_to_sample_cpu = cpu_device(_to_sample_px)
_chroma_tap_cpu = cpu_device(_chroma_tap)
_lerp_cpu = cpu_device(_lerp_px)
_ycc_to_bgr_cuda = cuda_device(_ycc_to_bgr_px)
_to_u8_cuda = cuda_device(_to_u8_px)
_luma_cuda = cuda_device(_luma_px)
_to_sample_cuda = cuda_device(_to_sample_px)
_chroma_tap_cuda = cuda_device(_chroma_tap)
_lerp_cuda = cuda_device(_lerp_px)


# --- Y'CbCr -> BGR ---------------------------------------------------------------

@cpu_device
def _store_bgr_cpu(out, row, col, y, u, v, k):
    b, g, r = _ycc_to_bgr_cpu(y, u, v, k)
    out[row, col, 0] = _to_u8_cpu(b)
    out[row, col, 1] = _to_u8_cpu(g)
    out[row, col, 2] = _to_u8_cpu(r)


@cpu_kernel
def _yuv_to_bgr_cpu(y_plane, u_plane, v_plane, k, sub_x, sub_y, out):
    # Chroma is interpolated vertically first, then horizontally, exactly as the
    # CUDA kernel does; a sliding window keeps each vertical result in registers,
    # so with 2x horizontal subsampling the taps are fixed (0.75 and 0.25).
    height, width = out.shape[0], out.shape[1]
    ch, cw = u_plane.shape
    inv_y = np.float32(1.0 / sub_y)
    w_even = np.float32(0.75)
    w_odd = np.float32(0.25)
    for row in prange(height):
        r0, r1, wy = _chroma_tap_cpu((np.float32(row) + np.float32(0.5)) * inv_y - np.float32(0.5), ch)
        u_cur = _lerp_cpu(np.float32(u_plane[r0, 0]), np.float32(u_plane[r1, 0]), wy)
        v_cur = _lerp_cpu(np.float32(v_plane[r0, 0]), np.float32(v_plane[r1, 0]), wy)
        u_prev = u_cur
        v_prev = v_cur
        for j in range(cw):
            jn = min(j + 1, cw - 1)
            u_next = _lerp_cpu(np.float32(u_plane[r0, jn]), np.float32(u_plane[r1, jn]), wy)
            v_next = _lerp_cpu(np.float32(v_plane[r0, jn]), np.float32(v_plane[r1, jn]), wy)
            if sub_x == 1:
                _store_bgr_cpu(out, row, j, np.float32(y_plane[row, j]), u_cur, v_cur, k)
            else:
                col = 2 * j
                _store_bgr_cpu(out, row, col, np.float32(y_plane[row, col]),
                               _lerp_cpu(u_prev, u_cur, w_even), _lerp_cpu(v_prev, v_cur, w_even), k)
                if col + 1 < width:
                    _store_bgr_cpu(out, row, col + 1, np.float32(y_plane[row, col + 1]),
                                   _lerp_cpu(u_cur, u_next, w_odd), _lerp_cpu(v_cur, v_next, w_odd), k)
            u_prev = u_cur
            v_prev = v_cur
            u_cur = u_next
            v_cur = v_next


@cuda_kernel
def _yuv_to_bgr_cuda(y_plane, u_plane, v_plane, k, sub_x, sub_y, out):
    col, row = cuda.grid(2)
    height, width = out.shape[0], out.shape[1]
    if row >= height or col >= width:
        return
    ch, cw = u_plane.shape
    inv_x = np.float32(1.0) / np.float32(sub_x)
    inv_y = np.float32(1.0) / np.float32(sub_y)
    r0, r1, wy = _chroma_tap_cuda((np.float32(row) + np.float32(0.5)) * inv_y - np.float32(0.5), ch)
    c0, c1, wx = _chroma_tap_cuda((np.float32(col) + np.float32(0.5)) * inv_x - np.float32(0.5), cw)
    u = _lerp_cuda(_lerp_cuda(np.float32(u_plane[r0, c0]), np.float32(u_plane[r1, c0]), wy),
                   _lerp_cuda(np.float32(u_plane[r0, c1]), np.float32(u_plane[r1, c1]), wy), wx)
    v = _lerp_cuda(_lerp_cuda(np.float32(v_plane[r0, c0]), np.float32(v_plane[r1, c0]), wy),
                   _lerp_cuda(np.float32(v_plane[r0, c1]), np.float32(v_plane[r1, c1]), wy), wx)
    b, g, r = _ycc_to_bgr_cuda(np.float32(y_plane[row, col]), u, v, k)
    out[row, col, 0] = _to_u8_cuda(b)
    out[row, col, 1] = _to_u8_cuda(g)
    out[row, col, 2] = _to_u8_cuda(r)


def yuv_to_bgr(planes, fmt: YuvFormat, *, out=None, backend: Backend = CPU):
    """Convert planar Y'CbCr to packed BGR.

    Parameters
    ----------
    planes : sequence of three 2-D arrays
        Y ``(H, W)`` and Cb, Cr ``fmt.chroma_shape(H, W)``, dtype ``fmt.dtype``.
        Row strides may be padded (decoder line sizes); the last axis must be contiguous.
    fmt : YuvFormat
        Matrix, range, bit depth and subsampling of ``planes``.
    out : ndarray, optional
        ``(H, W, 3) uint8`` destination.
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``(H, W, 3) uint8`` BGR.
    """
    y_plane, u_plane, v_plane = planes
    height, width = y_plane.shape
    if out is None:
        out = backend.empty((height, width, 3))
    k = _coefficients(fmt, True, backend)
    if backend.is_cuda:
        backend.launch_2d(_yuv_to_bgr_cuda, height, width)(y_plane, u_plane, v_plane, k, fmt.sub_x, fmt.sub_y, out)
    else:
        _yuv_to_bgr_cpu(y_plane, u_plane, v_plane, k, fmt.sub_x, fmt.sub_y, out)
    return out


# --- BGR -> Y'CbCr ---------------------------------------------------------------

@cpu_kernel
def _bgr_to_yuv_cpu(bgr, k, sub_x, sub_y, peak, y_plane, u_plane, v_plane):
    height, width = bgr.shape[0], bgr.shape[1]
    ch, cw = u_plane.shape
    for crow in prange(ch):
        for row in range(crow * sub_y, min(crow * sub_y + sub_y, height)):
            for col in range(width):
                y = _luma_cpu(np.float32(bgr[row, col, 0]), np.float32(bgr[row, col, 1]),
                              np.float32(bgr[row, col, 2]), k)
                y_plane[row, col] = _to_sample_cpu(k[3] + k[4] * y, peak)
        for ccol in range(cw):
            # Box-average the block's RGB (chroma is linear in RGB), then convert once.
            sb = np.float32(0.0)
            sg = np.float32(0.0)
            sr = np.float32(0.0)
            n = 0
            for row in range(crow * sub_y, min(crow * sub_y + sub_y, height)):
                for col in range(ccol * sub_x, min(ccol * sub_x + sub_x, width)):
                    sb += np.float32(bgr[row, col, 0])
                    sg += np.float32(bgr[row, col, 1])
                    sr += np.float32(bgr[row, col, 2])
                    n += 1
            inv = np.float32(1.0) / np.float32(n)
            b = sb * inv
            r = sr * inv
            y = _luma_cpu(b, sg * inv, r, k)
            u_plane[crow, ccol] = _to_sample_cpu(k[5] + k[6] * (b - y), peak)
            v_plane[crow, ccol] = _to_sample_cpu(k[5] + k[7] * (r - y), peak)


@cuda_kernel
def _bgr_to_yuv_cuda(bgr, k, sub_x, sub_y, peak, y_plane, u_plane, v_plane):
    # One thread per chroma sample; it also writes the luma samples of its block.
    ccol, crow = cuda.grid(2)
    ch, cw = u_plane.shape
    if crow >= ch or ccol >= cw:
        return
    height, width = bgr.shape[0], bgr.shape[1]
    sb = np.float32(0.0)
    sg = np.float32(0.0)
    sr = np.float32(0.0)
    n = 0
    for row in range(crow * sub_y, min(crow * sub_y + sub_y, height)):
        for col in range(ccol * sub_x, min(ccol * sub_x + sub_x, width)):
            b = np.float32(bgr[row, col, 0])
            g = np.float32(bgr[row, col, 1])
            r = np.float32(bgr[row, col, 2])
            y_plane[row, col] = _to_sample_cuda(k[3] + k[4] * _luma_cuda(b, g, r, k), peak)
            sb += b
            sg += g
            sr += r
            n += 1
    inv = np.float32(1.0) / np.float32(n)
    b = sb * inv
    r = sr * inv
    y = _luma_cuda(b, sg * inv, r, k)
    u_plane[crow, ccol] = _to_sample_cuda(k[5] + k[6] * (b - y), peak)
    v_plane[crow, ccol] = _to_sample_cuda(k[5] + k[7] * (r - y), peak)


def bgr_to_yuv(bgr, fmt: YuvFormat, *, out=None, backend: Backend = CPU):
    """Convert packed BGR to planar Y'CbCr (box-filtered chroma).

    Parameters
    ----------
    bgr : ndarray
        ``(H, W, 3) uint8``.
    fmt : YuvFormat
        Target matrix, range, bit depth and subsampling.
    out : sequence of three 2-D arrays, optional
        Destination planes (Y ``(H, W)``, Cb and Cr ``fmt.chroma_shape(H, W)``).
    backend : Backend
        Where to run.

    Returns
    -------
    tuple of ndarray
        The Y, Cb and Cr planes.
    """
    height, width = bgr.shape[:2]
    if out is None:
        cshape = fmt.chroma_shape(height, width)
        out = (backend.empty((height, width), fmt.dtype), backend.empty(cshape, fmt.dtype),
               backend.empty(cshape, fmt.dtype))
    y_plane, u_plane, v_plane = out
    k = _coefficients(fmt, False, backend)
    peak = np.float32((1 << fmt.bit_depth) - 1)
    if backend.is_cuda:
        ch, cw = u_plane.shape
        backend.launch_2d(_bgr_to_yuv_cuda, ch, cw)(bgr, k, fmt.sub_x, fmt.sub_y, peak, y_plane, u_plane, v_plane)
    else:
        _bgr_to_yuv_cpu(bgr, k, fmt.sub_x, fmt.sub_y, peak, y_plane, u_plane, v_plane)
    return y_plane, u_plane, v_plane
