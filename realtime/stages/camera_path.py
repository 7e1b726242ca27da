"""The camera path's smoothing: the weights of the windowed smoother, its automatic time constant,
and the speed a young path starts with.

The stabilizer's smoothed path at a frame is a weighted sum of the raw path over a window around
it (:func:`path_weights`): the best linear estimate of an intended move that is locally a
polynomial, with the least hand shake left in it.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

#: Lowest frequency (Hz) with much hand shake in it: slower motion is taken as intended.  Hands
#: shake from about 1 Hz (walking) up; intended pans and tilts change over seconds.
SHAKE_LOW_HZ = 1.0
#: Broadband part of the shake model (estimation noise, shake outside the band), as a share of
#: the band's power: keeps the path weights from betting everything on the band's exact shape.
WHITE_SHARE = 0.05
#: Degree of the intended move within the smoothing window: 2 follows a pan that speeds up or
#: slows down without lag (1 lags by tens of pixels on an accelerating pan).
PATH_DEGREE = 2
#: Window of the path smoother in frames per frame of ``smoothing`` (its time constant).
WINDOW_PER_TAU = 5
#: The settled path's smoother: a window this many frames per frame of ``smoothing`` (90 frames without lookahead), a
#: cubic move and less broadband noise in the shake model.  Over a longer window a cubic takes out more shake *and* lags
#: a pan that speeds up less than the quadratic of :data:`WINDOW_PER_TAU` (signal level, 720p pan of the corpus:
#: without lookahead 1.84 -> 1.43 px of strong-shake jitter and 4.7 -> 3.0 px of lag; with 5 frames 1.57 -> 1.12 px
#: and 1.2 -> 0.9 px).  It needs a full window of the path's own samples, so a young path keeps the quadratic.
SETTLED_PER_TAU = 7.5
SETTLED_DEGREE = 3
SETTLED_WHITE_SHARE = 0.02
#: Age of a path segment (samples before the frame) over which its smoothed path moves from the
#: young smoother's estimate to the settled one's, linearly (both estimate the same move, so
#: the hand-over is slow and smooth; tuned on the tune half).
SETTLED_FROM = 45
SETTLED_FULL = 90
#: Frames per independent shake sample when a young path estimates its speed (see start_velocity).
START_SHAKE_CORRELATION = 200.0


@lru_cache(maxsize=512)
def path_weights(past: int, future: int, fps: float = 30.0, max_degree: int = PATH_DEGREE,
                 white: float = WHITE_SHARE) -> np.ndarray:
    """Weights of the raw path samples ``t - past .. t + future`` that give the smoothed path at ``t``.

    The intended move is taken as a polynomial of degree ``max_degree`` over the window (lower with few samples) and the
    shake as a random signal with its power spread evenly over :data:`SHAKE_LOW_HZ` .. ``fps / 2`` plus ``white`` of
    white noise.  The weights are the best linear unbiased estimate of the move: exact for any such polynomial, with the
    least shake left (generalised least squares, ``w = R^-1 V (V^T R^-1 V)^-1 e0``).

    Parameters
    ----------
    past, future : int
        Samples before and after ``t`` (``future`` is the lookahead available).
    fps : float
        Frame rate: the shake model is in Hz.
    max_degree : int
        Degree of the intended move (:data:`PATH_DEGREE`; the settled path's
        :data:`SETTLED_DEGREE`); fewer samples get a lower one.
    white : float
        Broadband share of the shake model (:data:`WHITE_SHARE`).

    Returns
    -------
    ndarray
        ``(past + future + 1,)`` float64, oldest sample first, summing to 1.
    """
    taps = past + future + 1
    if taps == 1:
        return np.ones(1)
    tau = np.arange(-past, future + 1, dtype=np.float64)
    # Fewer samples cannot carry a curved fit without amplifying the shake.
    degree = min(max_degree, 0 if taps < 4 else 1 if taps < 12 else 2 if taps < 24 else 3)
    lags = np.subtract.outer(tau, tau) / fps
    low, high = 2 * math.pi * SHAKE_LOW_HZ, math.pi * fps
    with np.errstate(invalid="ignore", divide="ignore"):
        acf = (np.sin(high * lags) - np.sin(low * lags)) / ((high - low) * lags)
    acf[lags == 0] = 1.0
    cov = acf + white * np.eye(taps)
    basis = np.stack([tau ** p for p in range(degree + 1)], axis=1)
    unit = np.eye(degree + 1)[0]
    solved = np.linalg.solve(cov, basis)
    weights = solved @ np.linalg.solve(basis.T @ solved, unit)
    weights.setflags(write=False)
    return weights


def auto_smoothing(lookahead: int) -> float:
    """Path time constant (frames) that suits ``lookahead``: the window is :data:`WINDOW_PER_TAU` times it.

    A causal window (no lookahead) must be long to average the shake out, and so must a short lookahead; the future
    frames of a longer lookahead take out the shake with a shorter window, which lags less on a pan that changes speed
    (tuned on the tune half of ``tools/quality_stabilize.py corpus``).
    """
    return 12.0 - 0.2 * lookahead if lookahead <= 5 else 11.0


def start_velocity(samples: np.ndarray) -> np.ndarray:
    """Per parameter, the slope of the line through ``samples`` (a young path, oldest first),
    shrunk by its signal-to-noise ratio: ``b^2 / (b^2 + var(b))``, so a clean pan keeps its
    speed and shake alone gives almost none."""
    n = len(samples)
    if n < 3:
        return np.zeros(samples.shape[1])
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    sxx = float(t @ t)
    slope = t @ samples / sxx
    resid = samples - samples.mean(axis=0) - np.outer(t, slope)
    # Shake is correlated from frame to frame (band-limited): far fewer independent samples than
    # frames, so the slope is far less certain than white-noise arithmetic says.
    var_slope = START_SHAKE_CORRELATION * (resid ** 2).sum(axis=0) / (n - 2) / sxx
    return slope * slope ** 2 / (slope ** 2 + var_slope + 1e-30)
