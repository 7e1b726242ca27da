"""Planar Y'CbCr <-> packed BGR conversion with explicit matrix and range.

Decoders hand out planar Y'CbCr; stages work on ``(H, W, 3) uint8`` BGR (or, where every
stage of a file's chain can, on the planes themselves: :mod:`kernels.planes`).
Getting this boundary wrong costs more quality than any filter gains, so the
matrix (BT.601/709/2020) and range (limited/full) always come from the
stream's tags, chroma is resampled with centred bilinear weights, and rounding
happens exactly once, at the end of the float math.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np
from numba import prange

from kernels.backend import CPU, Backend, cpu_kernel, cuda, cuda_kernel, twin
from kernels.pixel import VECTOR_MINMAX
from kernels.pixel import lerp_px as _lerp_px
from kernels.pixel import u8_px as _to_u8_px

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


def _block_rows_px(crow, sub_y, height, interlaced):
    """Frame rows averaged into chroma row ``crow``: (first, step, count).

    Interlaced 4:2:0: chroma row 2m + f averages rows 2m and 2m + 1 of field f,
    i.e. frame rows 4m + f and 4m + 2 + f.
    """
    if interlaced != 0:
        top = 4 * (crow >> 1) + (crow & 1)
        return top, 2, min(2, (height - top + 1) >> 1)
    top = crow * sub_y
    return top, 1, min(sub_y, height - top)


def _chroma_rows_px(row, inv_y, ch, interlaced):
    """Chroma rows and weight for luma ``row``.

    Interlaced 4:2:0 subsamples each field on its own: chroma rows alternate
    between the fields (0, 2, 4... top; 1, 3, 5... bottom), so a luma row
    interpolates only within its own field's chroma rows; mixing them would
    smear one field's colour into the other.
    """
    field = row & 1
    rows_in_field = (ch - field + 1) >> 1
    if interlaced != 0 and rows_in_field > 0:
        m0, m1, w = _chroma_tap((np.float32(row >> 1) + np.float32(0.5)) * inv_y - np.float32(0.5), rows_in_field)
        return 2 * m0 + field, 2 * m1 + field, w
    return _chroma_tap((np.float32(row) + np.float32(0.5)) * inv_y - np.float32(0.5), ch)


_ycc_to_bgr_cpu, _ycc_to_bgr_cuda = twin(_ycc_to_bgr_px)
_to_u8_cpu, _to_u8_cuda = twin(_to_u8_px)
_to_u8_vec_cpu = twin(_to_u8_px, cpu_only=VECTOR_MINMAX).cpu  # branch-free: for loops that must vectorize
_luma_cpu, _luma_cuda = twin(_luma_px)
_to_sample_cpu, _to_sample_cuda = twin(_to_sample_px)
_chroma_tap_cpu, _chroma_tap_cuda = _tap = twin(_chroma_tap)
_chroma_rows_cpu, _chroma_rows_cuda = twin(_chroma_rows_px, _chroma_tap=_tap)
_block_rows_cpu, _block_rows_cuda = twin(_block_rows_px)
_lerp_cpu, _lerp_cuda = twin(_lerp_px)


def field_chroma(fmt: YuvFormat, height: int, interlaced: bool) -> int:
    """1 where chroma is subsampled per field: interlaced 4:2:0 whose height both fields share evenly."""
    return int(bool(interlaced) and fmt.sub_y == 2 and height % 4 == 0)


# --- Y'CbCr -> BGR ---------------------------------------------------------------

@cpu_kernel
def _yuv_to_bgr_cpu(y_plane, u_plane, v_plane, k, sub_x, sub_y, interlaced, chunks, out):
    # Rows are split into one chunk per thread so each thread allocates its row scratch once.
    # Chroma is interpolated vertically first, then horizontally, exactly as the CUDA kernel
    # does; the output row is written through a flat view (index 3*col+c), which is what
    # lets LLVM vectorize the store loop (2-D indexing measured 7x slower).
    height, width = out.shape[0], out.shape[1]
    ch, cw = u_plane.shape
    inv_y = np.float32(1.0 / sub_y)
    per = (height + chunks - 1) // chunks
    for chunk in prange(chunks):
        u_col = np.empty(cw + 2, np.float32)  # padded by one sample each side
        v_col = np.empty(cw + 2, np.float32)
        u_full = np.empty(width, np.float32)
        v_full = np.empty(width, np.float32)
        for row in range(chunk * per, min(chunk * per + per, height)):
            r0, r1, wy = _chroma_rows_cpu(row, inv_y, ch, interlaced)
            for j in range(cw):
                u_col[j + 1] = _lerp_cpu(np.float32(u_plane[r0, j]), np.float32(u_plane[r1, j]), wy)
                v_col[j + 1] = _lerp_cpu(np.float32(v_plane[r0, j]), np.float32(v_plane[r1, j]), wy)
            u_col[0] = u_col[1]
            v_col[0] = v_col[1]
            u_col[cw + 1] = u_col[cw]
            v_col[cw + 1] = v_col[cw]
            if sub_x == 1:
                for col in range(width):
                    u_full[col] = u_col[col + 1]
                    v_full[col] = v_col[col + 1]
            else:
                for col in range(width):
                    # even col: between chroma j-1 and j at 0.75; odd: between j and j+1 at 0.25
                    odd = col & 1
                    a = (col >> 1) + odd
                    w = np.float32(0.75) - np.float32(0.5) * np.float32(odd)
                    u_full[col] = _lerp_cpu(u_col[a], u_col[a + 1], w)
                    v_full[col] = _lerp_cpu(v_col[a], v_col[a + 1], w)
            y_row = y_plane[row]
            o = out[row].reshape(-1)
            for col in range(width):
                b, g, r = _ycc_to_bgr_cpu(np.float32(y_row[col]), u_full[col], v_full[col], k)
                o[3 * col] = _to_u8_cpu(b)
                o[3 * col + 1] = _to_u8_cpu(g)
                o[3 * col + 2] = _to_u8_cpu(r)


@cuda_kernel
def _yuv_to_bgr_cuda(y_plane, u_plane, v_plane, k, sub_x, sub_y, interlaced, out):
    col, row = cuda.grid(2)
    height, width = out.shape[0], out.shape[1]
    if row >= height or col >= width:
        return
    ch, cw = u_plane.shape
    inv_x = np.float32(1.0) / np.float32(sub_x)
    inv_y = np.float32(1.0) / np.float32(sub_y)
    r0, r1, wy = _chroma_rows_cuda(row, inv_y, ch, interlaced)
    c0, c1, wx = _chroma_tap_cuda((np.float32(col) + np.float32(0.5)) * inv_x - np.float32(0.5), cw)
    u = _lerp_cuda(_lerp_cuda(np.float32(u_plane[r0, c0]), np.float32(u_plane[r1, c0]), wy),
                   _lerp_cuda(np.float32(u_plane[r0, c1]), np.float32(u_plane[r1, c1]), wy), wx)
    v = _lerp_cuda(_lerp_cuda(np.float32(v_plane[r0, c0]), np.float32(v_plane[r1, c0]), wy),
                   _lerp_cuda(np.float32(v_plane[r0, c1]), np.float32(v_plane[r1, c1]), wy), wx)
    b, g, r = _ycc_to_bgr_cuda(np.float32(y_plane[row, col]), u, v, k)
    out[row, col, 0] = _to_u8_cuda(b)
    out[row, col, 1] = _to_u8_cuda(g)
    out[row, col, 2] = _to_u8_cuda(r)


def yuv_to_bgr(planes, fmt: YuvFormat, *, out=None, interlaced: bool = False, backend: Backend = CPU):
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
    interlaced : bool
        The picture holds two woven fields (vertically subsampled chroma is
        upsampled within each field).
    backend : Backend
        Where to run.

    Returns
    -------
    ndarray
        ``(H, W, 3) uint8`` BGR.
    """
    y_plane, u_plane, v_plane = planes
    flag = field_chroma(fmt, y_plane.shape[0], interlaced)
    height, width = y_plane.shape
    if out is None:
        out = backend.empty((height, width, 3))
    k = _coefficients(fmt, True, backend)
    if backend.is_cuda:
        backend.launch_2d(_yuv_to_bgr_cuda, height, width)(y_plane, u_plane, v_plane, k, fmt.sub_x, fmt.sub_y,
                                                           flag, out)
    else:
        _yuv_to_bgr_cpu(y_plane, u_plane, v_plane, k, fmt.sub_x, fmt.sub_y, flag, numba.get_num_threads(), out)
    return out


# --- BGR -> Y'CbCr ---------------------------------------------------------------

@cpu_kernel
def _bgr_to_yuv_cpu(bgr, k, sub_x, sub_y, peak, interlaced, chunks, y_plane, u_plane, v_plane):
    # One chunk of chroma rows per thread, with its block-sum scratch allocated once; flat row
    # views keep the loops vectorizable.  Block sums run row by row, column by column, the
    # same order as the CUDA kernel, so both round identically.
    height, width = bgr.shape[0], bgr.shape[1]
    ch, cw = u_plane.shape
    per = (ch + chunks - 1) // chunks
    for chunk in prange(chunks):
        sum_b = np.empty(cw, np.float32)
        sum_g = np.empty(cw, np.float32)
        sum_r = np.empty(cw, np.float32)
        count = np.empty(cw, np.float32)
        for crow in range(chunk * per, min(chunk * per + per, ch)):
            sum_b[:] = 0.0
            sum_g[:] = 0.0
            sum_r[:] = 0.0
            top, step, rows = _block_rows_cpu(crow, sub_y, height, interlaced)
            for i in range(rows):
                row = top + i * step
                src = bgr[row].reshape(-1)
                y_row = y_plane[row]
                for col in range(width):
                    y = _luma_cpu(np.float32(src[3 * col]), np.float32(src[3 * col + 1]),
                                  np.float32(src[3 * col + 2]), k)
                    y_row[col] = _to_sample_cpu(k[3] + k[4] * y, peak)
                if sub_x == 1:
                    for j in range(cw):
                        sum_b[j] += np.float32(src[3 * j])
                        sum_g[j] += np.float32(src[3 * j + 1])
                        sum_r[j] += np.float32(src[3 * j + 2])
                else:
                    pairs = width >> 1
                    for j in range(pairs):
                        sum_b[j] += np.float32(src[6 * j])
                        sum_b[j] += np.float32(src[6 * j + 3])
                        sum_g[j] += np.float32(src[6 * j + 1])
                        sum_g[j] += np.float32(src[6 * j + 4])
                        sum_r[j] += np.float32(src[6 * j + 2])
                        sum_r[j] += np.float32(src[6 * j + 5])
                    if width & 1:
                        sum_b[pairs] += np.float32(src[6 * pairs])
                        sum_g[pairs] += np.float32(src[6 * pairs + 1])
                        sum_r[pairs] += np.float32(src[6 * pairs + 2])
            for j in range(cw):
                count[j] = np.float32(rows * min(sub_x, width - j * sub_x))
            for j in range(cw):
                # Chroma of the block's mean colour (chroma is linear in RGB): one rounding.
                inv = np.float32(1.0) / count[j]
                b = sum_b[j] * inv
                r = sum_r[j] * inv
                y = _luma_cpu(b, sum_g[j] * inv, r, k)
                u_plane[crow, j] = _to_sample_cpu(k[5] + k[6] * (b - y), peak)
                v_plane[crow, j] = _to_sample_cpu(k[5] + k[7] * (r - y), peak)


@cuda_kernel
def _bgr_to_yuv_cuda(bgr, k, sub_x, sub_y, peak, interlaced, y_plane, u_plane, v_plane):
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
    top, step, rows = _block_rows_cuda(crow, sub_y, height, interlaced)
    for i in range(rows):
        row = top + i * step
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


def bgr_to_yuv(bgr, fmt: YuvFormat, *, out=None, interlaced: bool = False, backend: Backend = CPU):
    """Convert packed BGR to planar Y'CbCr (box-filtered chroma).

    Parameters
    ----------
    bgr : ndarray
        ``(H, W, 3) uint8``.
    fmt : YuvFormat
        Target matrix, range, bit depth and subsampling.
    out : sequence of three 2-D arrays, optional
        Destination planes (Y ``(H, W)``, Cb and Cr ``fmt.chroma_shape(H, W)``).
    interlaced : bool
        The picture holds two woven fields: vertically subsampled chroma is
        averaged within each field (4:2:0 with a height divisible by 4).
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
    flag = field_chroma(fmt, height, interlaced)
    if backend.is_cuda:
        ch, cw = u_plane.shape
        backend.launch_2d(_bgr_to_yuv_cuda, ch, cw)(bgr, k, fmt.sub_x, fmt.sub_y, peak, flag,
                                                    y_plane, u_plane, v_plane)
    else:
        _bgr_to_yuv_cpu(np.ascontiguousarray(bgr), k, fmt.sub_x, fmt.sub_y, peak, flag, numba.get_num_threads(),
                        y_plane, u_plane, v_plane)
    return y_plane, u_plane, v_plane


# --- changing the matrix of I420 frames ------------------------------------------------

def matrix_change(src: YuvFormat, dst: YuvFormat) -> np.ndarray:
    """Coefficients that re-express 8-bit Y'CbCr of ``src``'s matrix in ``dst``'s (same range).

    The same R'G'B' in another matrix: the new chroma is a 2x2 mix of the old chroma alone
    (luma weights sum to one, so Y' cancels), and the new luma is the old plus a mix of the
    chroma.  Layout, float32[6]: ``y_cb, y_cr, cb_cb, cb_cr, cr_cb, cr_cr`` on chroma
    centred at 128: ``Y2 = Y + y_cb*Cb + y_cr*Cr``, ``Cb2 = cb_cb*Cb + cb_cr*Cr``, ...
    """
    if src.full_range != dst.full_range:
        raise ValueError("matrix_change keeps the range; both formats must be full or both limited")

    def ycc_from_rgb(matrix: str) -> np.ndarray:
        kr, kb = MATRICES[matrix]
        kg = 1.0 - kr - kb
        return np.array([[kr, kg, kb], [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
                         [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))]])

    a = ycc_from_rgb(dst.matrix) @ np.linalg.inv(ycc_from_rgb(src.matrix))
    _, y_span, _, c_half = src._levels()
    luma = a[0, 1:] * y_span / (2.0 * c_half)  # normalised chroma -> luma code units
    return np.array([luma[0], luma[1], a[1, 1], a[1, 2], a[2, 1], a[2, 2]], np.float32)


@cpu_kernel
def _change_matrix_cpu(y_plane, u_plane, v_plane, k, chunks, y_out, u_out, v_out):
    height, width = y_plane.shape
    crows, cwidth = u_plane.shape
    half = np.float32(128.0)
    # Coefficients in locals and unsigned indices: the loops vectorize (and a store could alias k).
    y_cb, y_cr, cb_cb, cb_cr, cr_cb, cr_cr = k[0], k[1], k[2], k[3], k[4], k[5]
    per = (crows + chunks - 1) // chunks
    for chunk in prange(chunks):
        # Every loop reads copies of its input rows, so the output may be the input (in place):
        # a loop whose input may alias its output does not vectorize.
        rows = np.empty((3, max(width, cwidth)), np.uint8)
        us, vs, src = rows[0], rows[1], rows[2]
        for crow in range(chunk * per, min(chunk * per + per, crows)):
            us[:cwidth] = u_plane[crow]
            vs[:cwidth] = v_plane[crow]
            for row in range(2 * crow, min(2 * crow + 2, height)):
                src[:width] = y_plane[row]
                dst = y_out[row]
                for c in range(width):
                    col = np.uintp(c)
                    # Each luma sample takes the correction of its own (co-sited block's) chroma sample.
                    cc = col >> np.uintp(1)
                    cb = np.float32(us[cc]) - half
                    cr = np.float32(vs[cc]) - half
                    dst[col] = _to_u8_vec_cpu(np.float32(src[col]) + y_cb * cb + y_cr * cr)
            uo, vo = u_out[crow], v_out[crow]
            for c in range(cwidth):
                j = np.uintp(c)
                cb = np.float32(us[j]) - half
                cr = np.float32(vs[j]) - half
                uo[j] = _to_u8_vec_cpu(cb_cb * cb + cb_cr * cr + half)
                vo[j] = _to_u8_vec_cpu(cr_cb * cb + cr_cr * cr + half)


def change_matrix_i420(planes, coeffs: np.ndarray, *, out) -> None:
    """Re-express an 8-bit 4:2:0 frame in another matrix (host arrays; see :func:`matrix_change`).

    Parameters
    ----------
    planes : tuple of ndarray
        Y ``(H, W)``, Cb and Cr ``(ceil(H/2), ceil(W/2))`` uint8.
    coeffs : ndarray
        From :func:`matrix_change`.
    out : tuple of ndarray
        Destination planes shaped like ``planes``; may be ``planes`` themselves (in place).
    """
    _change_matrix_cpu(*planes, coeffs, numba.get_num_threads(), *out)
