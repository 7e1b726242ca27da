"""White balance: channel gains from parameters and from the statistics of a thumbnail.

Automatic white balance works on a small box-averaged thumbnail of the frame
(:func:`kernels.thumbnail.bgr_thumbnail`, or :func:`kernels.thumbnail.i420_bgr_thumbnail` on the
planes of an I420 frame); its gains (:func:`shades_of_gray_gains`, :func:`white_patch_gains`,
:func:`gray_edge_gains`, computed on the host) reach the per-pixel pass through
the tone curves (:func:`kernels.color.tone_curves`).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from kernels.pixel import LUMA709_BGR


def temperature_tint_gains(temperature: float = 0.0, tint: float = 0.0) -> tuple[float, float, float]:
    """BGR channel gains for a manual temperature/tint shift.

    Parameters
    ----------
    temperature : float
        In [-1, 1]; positive warms (more red, less blue), negative cools.
        1 is roughly a 2x red/blue ratio change.
    tint : float
        In [-1, 1]; positive adds magenta (less green), negative adds green.

    Returns
    -------
    tuple of 3 floats
        ``(b, g, r)`` gains normalised so that gray keeps its luma.
    """
    half = 0.5 * math.log(2.0)
    b = math.exp(-half * temperature + 0.5 * half * tint)
    g = math.exp(-half * tint)
    r = math.exp(half * temperature + 0.5 * half * tint)
    norm = LUMA709_BGR[0] * b + LUMA709_BGR[1] * g + LUMA709_BGR[2] * r
    return b / norm, g / norm, r / norm


@numba.njit(cache=True, nogil=True)
def _pow_px(x, p):
    # Integer norms by multiplication (a general power is several times slower).
    if p == 1.0:
        return x
    if p == 6.0:
        x2 = x * x
        return x2 * x2 * x2
    return x ** np.float32(p)


@numba.njit(cache=True, nogil=True)
def _masked_power_sums(px, p, low, high):
    """Per-channel sums of ``(px / 255) ** p`` over samples whose channels lie in [low, high]; and their count.

    One pass over the thumbnail (the NumPy version took a dozen, each a full temporary).
    """
    sums = np.zeros(3, np.float64)
    count = 0
    full = np.float32(255.0)
    for i in range(px.shape[0]):
        b, g, r = px[i, 0], px[i, 1], px[i, 2]
        if min(b, g, r) >= low and max(b, g, r) <= high:
            count += 1
            sums[0] += _pow_px(b / full, p)
            sums[1] += _pow_px(g / full, p)
            sums[2] += _pow_px(r / full, p)
    return sums, count


@numba.njit(cache=True, nogil=True)
def _edge_power_sums(x, p):
    """Per-channel sums of ``(|central-difference gradient| / 255) ** p`` over the thumbnail's interior."""
    sums = np.zeros(3, np.float64)
    full = np.float32(255.0)
    for i in range(1, x.shape[0] - 1):
        for j in range(1, x.shape[1] - 1):
            for c in range(3):
                gy = x[i + 1, j, c] - x[i - 1, j, c]
                gx = x[i, j + 1, c] - x[i, j - 1, c]
                sums[c] += _pow_px(np.sqrt(gx * gx + gy * gy) / full, p)
    return sums


def _p_mean(sums: np.ndarray, count: int, p: float) -> np.ndarray:
    mean = sums / count
    return mean if p == 1.0 else mean ** (1.0 / p)


def shades_of_gray_gains(thumb: np.ndarray, p: float = 6.0, *, low: float = 8.0, high: float = 247.0
                         ) -> tuple[tuple[float, float, float], float] | None:
    """Estimate white-balance gains by shades-of-gray on a BGR thumbnail (host).

    The illuminant per channel is the Minkowski ``p``-mean of the samples
    (``p = 1`` is gray-world, large ``p`` tends to max-RGB); samples with a
    channel near black (noise dominates) or near white (clipped, the true
    colour is lost) are left out.

    Parameters
    ----------
    thumb : ndarray
        ``(h, w, 3)`` float32 or uint8 BGR, levels in [0, 255].
    p : float
        Minkowski norm, >= 1.
    low, high : float
        Samples whose darkest channel is below ``low`` or brightest above ``high`` are ignored.

    Returns
    -------
    ((b, g, r), float) or None
        Gains that make the estimated illuminant gray at unchanged luma, and
        the fraction of samples used; ``None`` when too few samples qualify
        (an all-black, all-white or empty frame).
    """
    px = np.ascontiguousarray(thumb, dtype=np.float32).reshape(-1, 3)
    if px.shape[0] == 0:
        return None
    # Normalised before the power so large p cannot overflow float32.
    sums, count = _masked_power_sums(px, np.float32(p), np.float32(low), np.float32(high))
    used = count / px.shape[0]
    if count < 16:
        return None
    est = _p_mean(sums, count, p)
    if not np.all(np.isfinite(est)) or est.min() <= 1e-6:
        return None
    lum = float(np.dot(LUMA709_BGR, est))
    gains = lum / est
    return (float(gains[0]), float(gains[1]), float(gains[2])), used


def white_patch_gains(thumb: np.ndarray, percentile: float = 99.0, *, high: float = 250.0
                      ) -> tuple[float, float, float] | None:
    """Estimate white-balance gains from the brightest unclipped samples of a BGR thumbnail (host).

    The illuminant per channel is a high percentile of the samples whose
    brightest channel is below ``high``: the brightest surfaces of a scene are
    mostly white or gray, so their colour is the light's.  A clipped sample has
    lost that colour and is left out.

    Returns
    -------
    (b, g, r) or None
        Gains at unchanged gray luma; ``None`` with fewer than 16 usable samples.
    """
    px = np.ascontiguousarray(thumb, dtype=np.float32).reshape(-1, 3)
    px = px[px.max(axis=1) < high]
    if px.shape[0] < 16:
        return None
    est = np.percentile(px, percentile, axis=0).astype(np.float64)
    if est.min() <= 1.0:
        return None
    gains = float(np.dot(LUMA709_BGR, est)) / est
    return float(gains[0]), float(gains[1]), float(gains[2])


def gray_edge_gains(thumb: np.ndarray, p: float = 6.0) -> tuple[float, float, float] | None:
    """Estimate white-balance gains by gray-edge on a BGR thumbnail (host).

    The illuminant per channel is the Minkowski ``p``-mean of the gradient
    magnitude (van de Weijer et al. 2007): edges average to gray under a
    neutral light even in scenes whose surfaces do not, and an offset (haze)
    does not move the estimate.  Used as a second opinion next to
    :func:`shades_of_gray_gains`.

    Returns
    -------
    (b, g, r) or None
        Gains at unchanged gray luma; ``None`` for a flat thumbnail.
    """
    x = np.ascontiguousarray(thumb, dtype=np.float32)
    if x.shape[0] < 3 or x.shape[1] < 3:
        return None
    est = _p_mean(_edge_power_sums(x, np.float32(p)), (x.shape[0] - 2) * (x.shape[1] - 2), p)
    if not np.all(np.isfinite(est)) or est.min() <= 1e-6:
        return None
    gains = float(np.dot(LUMA709_BGR, est)) / est
    return float(gains[0]), float(gains[1]), float(gains[2])
