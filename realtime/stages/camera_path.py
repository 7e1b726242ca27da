"""The camera path's smoothing: the weights of the windowed smoothers, the automatic time constant (and how it follows
the shake measured in the path), and the speed a young path starts with.

The stabilizer's smoothed path at a frame is a weighted sum of the raw path over a window around it.  With the
automatic time constant the weights are learned (:func:`learned_weights`, trained by ``tools/train_path.py``): the
least squares fit, over many shaken camera paths, of the weights that leave the least jitter and drift.  A time
constant set by hand (or a lookahead or frame rate the learned smoother was not trained for) gets :func:`path_weights`:
the best linear estimate of an intended move that is locally a polynomial, with the least hand shake left in it.
"""
from __future__ import annotations

import logging
import math
from functools import lru_cache

import numpy as np

from kernels import MODEL_DIR

log = logging.getLogger(__name__)

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
#: The automatic time constant follows the shake (:func:`smoothing_share`): a path's lag on a pan that speeds up grows
#: steeply with the window (the corpus's pan without lookahead: 1.6 px of drift at a time constant of 9 frames, 3.9 at
#: 12, 7 at 14) while the shake it leaves falls slowly, so light shake, which leaves little, gets a shorter window
#: (light shake on the tune half without lookahead, exact motions: drift 3.88 -> 2.68 px, jitter 0.65 -> 0.83 px).
#: Samples of the segment the slow shake is measured over (2 s at 30 fps), and the fewest it needs.
SHAKE_SAMPLES = 60
SHAKE_MIN_SAMPLES = 30
#: Box that keeps the slow part of the shake (s): about 2 Hz and below.
SLOW_SHAKE_S = 0.3
#: Slow shake (px at 720 lines) of light hand shake (about 4 px RMS, 1.5-7 Hz) and of hand shake (10 px).
LIGHT_SHAKE_PX = 1.1
HAND_SHAKE_PX = 2.5
#: Share of the automatic time constant for light shake and less on a moving camera.
LIGHT_SHARE = 0.83
#: Speed (px a frame at 720 lines) from which a camera counts as panning, the share of it before.  A still camera's
#: shake fits a line of a few hundredths of a pixel a frame, but an estimate that running water pulls creeps: at 1 px
#: the tune half's worst water case rose from 1.74 to 1.84 px of jitter without lookahead, at 2 px to 1.76.
PAN_SPEED_PX = 2.0


#: The learned smoother's weights (see :func:`learned_weights`).
LEARNED_MODEL = MODEL_DIR / "path_smoother.npz"
#: Frame rates the learned weights serve: they were trained at 30 fps, and the shake's band in frames moves with the
#: rate (a 60 fps path gets :func:`path_weights`, whose shake model is in Hz).
LEARNED_FPS = (23.0, 31.0)


@lru_cache(maxsize=1)
def _learned_model() -> tuple[int, dict[int, np.ndarray]]:
    """(past samples, {lookahead: weights}) of :data:`LEARNED_MODEL`; none where the file is missing or unreadable
    (an installation without it still stabilizes, with the hand-made smoother)."""
    try:
        with np.load(LEARNED_MODEL) as z:
            past = int(z["past"])
            weights = {int(k[1:]): np.asarray(z[k], np.float64) for k in z.files if k.startswith("L")}
    except (OSError, KeyError, ValueError) as exc:
        log.warning("stabilize: the learned path smoother %s cannot be read (%s): the hand-made one is used; "
                    "reinstall vqe to get it back", LEARNED_MODEL, exc)
        return 0, {}
    for k, w in weights.items():
        if w.shape != (past + 1 + k,) or not np.all(np.isfinite(w)):
            log.warning("stabilize: %s has bad weights for lookahead %d: the hand-made smoother is used there",
                        LEARNED_MODEL, k)
    weights = {k: w for k, w in weights.items() if w.shape == (past + 1 + k,) and np.all(np.isfinite(w))}
    for w in weights.values():
        w.setflags(write=False)
    return past, weights


def learned_past() -> int:
    """Samples before the frame in the learned smoother's window."""
    return _learned_model()[0]


def learned_weights(future: int, fps: float) -> np.ndarray | None:
    """The learned smoother's weights of the raw path samples ``t - learned_past() .. t + future``, oldest first, or
    ``None`` where none was trained (a longer lookahead, a frame rate outside :data:`LEARNED_FPS`).

    They sum to 1 and their first moment is 0: a camera that holds still or pans at a steady speed is followed
    exactly, wherever its path has got to; only a change of speed and the shake leave an error, traded as
    ``tools/train_path.py`` says.
    """
    if not LEARNED_FPS[0] <= fps <= LEARNED_FPS[1]:
        return None
    return _learned_model()[1].get(int(future))


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


def shake_and_speed(samples: np.ndarray, fps: float) -> tuple[float, float]:
    """How much slow shake a raw path (oldest first) carries, and how fast it moves: the RMS (px per axis) of the
    translation a cubic fit leaves, averaged over :data:`SLOW_SHAKE_S`, and the fit's mean speed (px per frame).

    A causal smoother lets shake through most at its slow end (about 1-2 Hz), so that part, not the whole shake,
    says how long the window must be; hand tremor at 4-10 Hz averages out in any window.
    """
    n = len(samples)
    t = np.linspace(-1.0, 1.0, n)
    basis = np.stack([t ** p for p in range(4)], axis=1)
    xy = samples[:, :2]
    coef, *_ = np.linalg.lstsq(basis, xy, rcond=None)
    fit = basis @ coef
    resid = xy - fit
    k = min(n, max(1, int(round(SLOW_SHAKE_S * fps))))
    box = np.ones(k) / k
    slow = np.stack([np.convolve(resid[:, j], box, mode="valid") for j in range(2)], axis=1)
    return float(np.sqrt(np.mean(slow ** 2))), float(np.hypot(*(fit[-1] - fit[0]))) / max(n - 1, 1)


def smoothing_share(slow_shake: float, speed: float) -> float:
    """Share of the automatic time constant that suits a path with ``slow_shake`` px moving at ``speed`` px a frame
    (:func:`shake_and_speed`, at 720 lines).

    A still camera has no pan to lag behind, so it keeps the whole time constant (over running water a shorter window
    only lets more of the water's pull through); a moving one gets :data:`LIGHT_SHARE` of it up to
    :data:`LIGHT_SHAKE_PX` of slow shake, all of it from :data:`HAND_SHAKE_PX`, linear between.
    """
    x = (slow_shake - LIGHT_SHAKE_PX) / (HAND_SHAKE_PX - LIGHT_SHAKE_PX)
    moving = min(speed / PAN_SPEED_PX, 1.0)
    return 1.0 - moving * (1.0 - LIGHT_SHARE) * (1.0 - min(max(x, 0.0), 1.0))
