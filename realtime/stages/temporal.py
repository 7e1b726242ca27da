"""Temporal smoothing and shot boundaries for per-frame estimates (levels, white balance), shared by the
contrast and colour stages and the whole-clip analysis.
"""
from __future__ import annotations

import math

import numpy as np

from kernels.thumbnail import thumbnail_difference


class OneEuro:
    """Causal one-euro filter on a small vector, one step per frame.

    A low-pass filter whose cut-off rises with the signal's speed: slow drifts are smoothed heavily (no flicker), fast
    sustained changes are followed with little lag.  ``smoothing_frames`` is the time constant at rest (0 or below 1: no
    smoothing), ``beta`` the cut-off increase per unit of speed (signal units per frame).
    """

    def __init__(self, smoothing_frames: float, beta: float) -> None:
        self.min_cutoff = 1.0 / (2.0 * math.pi * smoothing_frames) if smoothing_frames >= 1.0 else math.inf
        self.beta = beta
        self.value: np.ndarray | None = None
        self._speed: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float) -> np.ndarray | float:
        # Exponential smoothing weight of a first-order low-pass at ``cutoff`` cycles per frame.
        return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff))

    def reset(self) -> None:
        self.value = self._speed = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.value is None or not math.isfinite(self.min_cutoff):
            self.value = x.copy()
            self._speed = np.zeros_like(x)
            return self.value
        self._speed = self._speed + self._alpha(1.0) * (x - self.value - self._speed)
        alpha = self._alpha(self.min_cutoff + self.beta * np.abs(self._speed))
        self.value = self.value + alpha * (x - self.value)
        return self.value


class SceneWatch:
    """Scene-cut and flash detection on consecutive luma thumbnails (host arrays).

    A cut is a large change of the brightness-normalised thumbnail; a flash is a sudden brightening by ``flash_ratio``
    or more that is not a cut, held for at most ``max_flash_frames`` (longer is a new lighting, handled as a cut).
    """

    NORMAL, CUT, FLASH = "normal", "cut", "flash"

    def __init__(self, scene_cut: float, flash_ratio: float, max_flash_frames: int = 4) -> None:
        self.scene_cut = scene_cut
        self.flash_ratio = flash_ratio
        self.max_flash_frames = max_flash_frames
        self.cuts = 0
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None
        self._prev_mean = 0.0
        self._flash_run = 0

    def __call__(self, thumb: np.ndarray) -> str:
        mean = float(thumb.mean()) if thumb.size else 0.0
        prev = self._prev
        if prev is None or prev.shape != thumb.shape:
            self._keep(thumb, mean)
            return self.CUT
        # A cut first: a cut to a brighter scene is no flash (held, it would lag the new shot).
        # Shapes are compared, not exposure: each thumbnail is scaled to a mean of 128.
        if self.scene_cut > 0:
            a = prev * np.float32(128.0 / max(self._prev_mean, 1.0))
            b = thumb * np.float32(128.0 / max(mean, 1.0))
            if thumbnail_difference(a, b) > self.scene_cut:
                self.cuts += 1
                self._flash_run = 0
                self._keep(thumb, mean)
                return self.CUT
        if self.flash_ratio > 0 and mean > self.flash_ratio * self._prev_mean + 2.0:
            self._flash_run += 1
            if self._flash_run <= self.max_flash_frames:
                return self.FLASH
        self._flash_run = 0
        self._keep(thumb, mean)
        return self.NORMAL

    def _keep(self, thumb: np.ndarray, mean: float) -> None:
        if self._prev is None or self._prev.shape != thumb.shape:
            self._prev = np.empty(thumb.shape, np.float32)
        np.copyto(self._prev, thumb)
        self._prev_mean = mean
