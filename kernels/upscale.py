"""Edge-adaptive upscaling (FSR1-EASU-like) and a ringing-free sharpen (RCAS-like), both on luma.

:func:`upscale_edge` runs, per frame:

1. *deblur* (optional): the input is sharpened at its own resolution with
   :func:`kernels.sharpen.sharpen` (range-clamped unsharp mask): a quarter of
   the output's pixels at 2x, and it undoes the softness a camera or a
   downscale left better than sharpening after the upscale does;
2. *analysis*, once per input pixel (:func:`analyse`): BT.601 luma and the
   chroma differences (B, G, R minus luma) into edge-padded planes, and from
   the luma's ``+`` neighbourhood the local gradient direction and how
   edge-like it is (EASU's measure: 0 on flat or reversing gradients, 1 on
   clean edges), baked into five kernel coefficients;
3. *EASU* (:func:`easu`): each output luma sample is a 12-tap weighted sum of
   the input luma around it.  The weights are an approximate Lanczos-2 of the
   tap's distance after rotating it into the edge's frame and scaling it:
   squeezed across the edge (a sharp transition) and stretched along it (no
   staircase); the window widens on edges.  The result is clamped to the 2x2
   input neighbourhood, so interpolation adds no ringing.  Each output sample
   reads the analysis of its nearest input pixel: at 2x one analysis serves
   four outputs;
4. *RCAS + colour* (:func:`rcas_compose`): a sharpen of the upscaled luma on
   its ``+`` neighbourhood, FSR's lobe limit (strongest where local contrast
   leaves room, never clipping) plus a clamp to that neighbourhood's range (no
   ringing, no halo); the chroma differences, interpolated bilinearly, are
   added back.  Chroma is smooth, so the expensive edge work is on luma only.

On the CPU, integer factors take one fused, vectorized pass for steps 2 to 4
(:mod:`kernels.upscale_int`); other factors, and CUDA, compute each output
sample on its own (:mod:`kernels.easu`), with the same per-sample math.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from kernels import MAX_FACTOR as MAX_FACTOR  # the limit, kept importable from here
from kernels.backend import CPU, Backend
from kernels.easu import (
    PAD,
    _analysis_cpu,
    _analysis_cuda,
    _easu_cpu,
    _easu_cuda,
    _planes_cpu,
    _planes_cuda,
    _rcas_compose_cpu,
    _rcas_compose_cuda,
)
from kernels.sharpen import binomial_taps, sharpen
from kernels.upscale_int import _easu_int_cpu, _edge_int_cpu

#: EASU's kernel window (``lob``, inverse squared window radius) on flat areas and on clean edges.
#: FSR uses 0.5 (flat, a short soft window) to 0.21; 0.3 on flat areas keeps more texture.
LOB_FLAT = 0.3
LOB_EDGE = 0.21
#: Overshoot (8-bit levels) the deblur may add beyond the local 3x3 range: small, so no halos.
DEBLUR_OVERSHOOT = 8.0


# --- public functions --------------------------------------------------------------------------

def analyse(frame, *, luma_pad, chroma_pad, coef, lob_flat: float = LOB_FLAT, lob_edge: float = LOB_EDGE,
            backend: Backend = CPU) -> None:
    """Luma and chroma of ``frame`` (edge-padded) and EASU's kernel coefficients per input pixel.

    Parameters
    ----------
    frame : ndarray
        ``(h, w, 3) uint8`` BGR, or ``(h, w, 1) uint8`` luma (a Y plane), on ``backend``.
    luma_pad : ndarray
        ``(h + 2*PAD, w + 2*PAD) float32`` destination: BT.601 luma, 8-bit levels, edges replicated.
    chroma_pad : ndarray
        ``(3, h + 2*PAD, w + 2*PAD) float32`` destination: B, G and R minus luma, edges replicated
        (not written for a Y plane).
    coef : ndarray
        ``(5, h, w) float32`` destination: per pixel the quadratic form of the rotated, scaled tap
        distance (three values), the window ``lob`` and its clip ``1 / lob``.
    lob_flat, lob_edge : float
        Window of the kernel on flat areas and on clean edges (smaller = wider, sharper).
    backend : Backend
    """
    height, width = frame.shape[:2]
    args = (np.float32(lob_flat), np.float32(lob_edge), coef)
    backend.run_2d(_planes_cpu, _planes_cuda, luma_pad.shape[0], luma_pad.shape[1], frame, luma_pad, chroma_pad)
    backend.run_2d(_analysis_cpu, _analysis_cuda, height, width, luma_pad, *args)


def _integer_factor(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> int:
    """The common integer factor of both axes, or 0."""
    (h, w), (oh, ow) = src_hw, dst_hw
    factor = ow // w
    return factor if factor * w == ow and factor * h == oh else 0


def _fused(src_hw: tuple[int, int], dst_hw: tuple[int, int], backend: Backend, vectorized: bool) -> bool:
    """Whether :func:`upscale_edge` takes the fused CPU pass (integer factors)."""
    return vectorized and not backend.is_cuda and _integer_factor(src_hw, dst_hw) > 0


def easu(luma_pad, coef, *, out, backend: Backend = CPU, vectorized: bool = True):
    """Edge-adaptive upscale of the analysed luma to the size of ``out``.

    Parameters
    ----------
    luma_pad, coef : ndarray
        From :func:`analyse` of an ``(h, w)`` frame.
    out : ndarray
        ``(H, W) float32`` destination, ``H >= h`` and ``W >= w``; values stay in the input's range. Returned.
    backend : Backend
    vectorized : bool
        On the CPU, take the vectorized path when ``H / h == W / w`` is an integer (same result);
        False always runs the per-sample twin of the CUDA kernel.
    """
    factor = _integer_factor(coef.shape[1:], out.shape)
    if vectorized and factor and not backend.is_cuda:
        _easu_int_cpu(luma_pad, coef, factor, out)
    else:
        backend.run_2d(_easu_cpu, _easu_cuda, out.shape[0], out.shape[1], luma_pad, coef, out)
    return out


def rcas_compose(luma, chroma_pad, *, amount: float = 1.0, out, backend: Backend = CPU):
    """Sharpen the upscaled ``luma`` (RCAS) and add bilinearly upscaled chroma: BGR out.

    ``out[..., c] = rcas(luma) + bilinear(chroma_pad[c])``: the chroma differences keep
    the input's colour, and the luma of ``out`` is the sharpened luma.

    Parameters
    ----------
    luma : ndarray
        ``(H, W) float32`` luma in 8-bit levels (from :func:`easu`).
    chroma_pad : ndarray
        From :func:`analyse` of the ``(h, w)`` input.
    amount : float
        Sharpening in [0, 1]: the share of RCAS's strongest lobe (0 = the luma as is).
    out : ndarray
        ``(H, W, 3) uint8`` BGR destination, or ``(H, W, 1)``: the sharpened luma alone. Returned.
    backend : Backend
    """
    height, width = luma.shape
    backend.run_2d(_rcas_compose_cpu, _rcas_compose_cuda, height, width, luma, chroma_pad, np.float32(amount), out)
    return out


@dataclass
class EdgeWork:
    """Buffers of :func:`upscale_edge` for one (input, output) size, allocated once."""

    src_hw: tuple[int, int]
    dst_hw: tuple[int, int]
    channels: int
    luma_pad: Any
    chroma_pad: Any
    coef: Any
    luma_up: Any
    deblurred: Any
    sharpen_work: Any
    taps: Any

    def fits(self, src_hw: tuple[int, int], dst_hw: tuple[int, int], channels: int = 3) -> bool:
        return self.src_hw == tuple(src_hw) and self.dst_hw == tuple(dst_hw) and self.channels == channels


def edge_work(src_hw: tuple[int, int], dst_hw: tuple[int, int], *, channels: int = 3,
              backend: Backend = CPU, vectorized: bool = True) -> EdgeWork:
    """Allocate the buffers :func:`upscale_edge` needs for ``src_hw -> dst_hw`` (``(height, width)``).

    ``channels`` is 3 for BGR frames, 1 for a Y plane (no chroma buffers then); ``vectorized``
    as :func:`upscale_edge`'s.
    """
    (h, w), (oh, ow) = src_hw, dst_hw
    padded = (h + 2 * PAD, w + 2 * PAD)
    # The fused CPU path for integer factors needs neither a full-size luma plane nor the
    # coefficients of the whole frame.
    fused = _fused((h, w), (oh, ow), backend, vectorized)
    chroma = (3,) + padded if channels == 3 else (3, 1, 1)
    return EdgeWork((h, w), (oh, ow), channels, backend.empty(padded, np.float32), backend.empty(chroma, np.float32),
                    None if fused else backend.empty((5, h, w), np.float32),
                    None if fused else backend.empty((oh, ow), np.float32),
                    backend.empty((h, w, channels)), backend.empty((3, h, w), np.float32),
                    backend.asarray(binomial_taps(1)))


def upscale_edge(frame, *, out, deblur: float = 0.0, sharpness: float = 1.0, work: EdgeWork | None = None,
                 backend: Backend = CPU, vectorized: bool = True):
    """Edge-adaptive upscale (EASU-like) with a ringing-free sharpen (RCAS-like).

    Parameters
    ----------
    frame : ndarray
        ``(h, w, 3) uint8`` BGR on ``backend``, or ``(h, w, 1)``: a Y plane, upscaled alone (its
        chroma planes are smooth: resize them bilinearly).
    out : ndarray
        ``(H, W, C) uint8`` destination, C as ``frame``'s, ``H >= h``, ``W >= w`` (any factor; integer factors are
        fastest on the CPU); must not alias ``frame``. Returned.
    deblur : float
        Gain of the unsharp mask applied at the input's resolution before upscaling (0 = none).
    sharpness : float
        RCAS strength in [0, 1] after upscaling (0 = none, 1 = FSR's strongest).
    work : EdgeWork, optional
        From :func:`edge_work` for these sizes; allocated here when not given.
    backend : Backend
    vectorized : bool
        On the CPU, fuse EASU, RCAS and the colour for integer factors (same result); False
        runs the per-sample twins of the CUDA kernels.
    """
    (h, w), (oh, ow) = frame.shape[:2], out.shape[:2]
    if h == 0 or w == 0 or oh == 0 or ow == 0:
        return out
    channels = frame.shape[2]
    fused = _fused((h, w), (oh, ow), backend, vectorized)
    if work is None or not work.fits((h, w), (oh, ow), channels) or (work.coef is None) != fused:
        work = edge_work((h, w), (oh, ow), channels=channels, backend=backend, vectorized=vectorized)
    src = frame
    if deblur > 0.0:
        # No coring and a small overshoot: sharpening of a soft picture, not of noise, and no halos.
        src = sharpen(frame, work.taps, amount=deblur, threshold=0.0, overshoot=DEBLUR_OVERSHOOT,
                      out=work.deblurred, work=work.sharpen_work, backend=backend)
    if fused:  # analyses row by row as it goes
        _planes_cpu(src, work.luma_pad, work.chroma_pad)
        _edge_int_cpu(work.luma_pad, work.chroma_pad, np.float32(LOB_FLAT), np.float32(LOB_EDGE),
                      _integer_factor((h, w), (oh, ow)), np.float32(sharpness), numba.get_num_threads(), out)
        return out
    analyse(src, luma_pad=work.luma_pad, chroma_pad=work.chroma_pad, coef=work.coef, backend=backend)
    luma_up = work.luma_up if work.luma_up is not None else backend.empty((oh, ow), np.float32)
    easu(work.luma_pad, work.coef, out=luma_up, backend=backend, vectorized=vectorized)
    return rcas_compose(luma_up, work.chroma_pad, amount=sharpness, out=out, backend=backend)
