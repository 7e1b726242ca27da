"""How a stabilized frame is framed: the zoom that hides its borders, a correction scaled to fit
a zoom, the warp matrix, and the per-frame readout of correction and clamping.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np


class CorrectionReadout:
    """Per-frame correction figures of a stabilizer, for ``--stats`` and the HUD.

    The stage adds one sample per output frame (:meth:`add`) and the path restarts (:meth:`reset_by`);
    :meth:`record` moves what came since its last call into a run's stats, so frames of a warm-up
    (which records into a throw-away stats) never count.
    """

    #: A frame counts as clamped when the margin took off more than this, px.
    CLAMP_PX = 0.5

    def __init__(self) -> None:
        self._pending: list[tuple[float, float, float]] = []
        self._resets: list[str] = []
        self._clamped_recent = deque(maxlen=90)

    def add(self, applied_px: float, clamped_px: float, zoom: float) -> None:
        """One output frame: how far it was moved, how much more was wanted, its border zoom."""
        self._pending.append((applied_px, clamped_px, zoom))
        self._clamped_recent.append(clamped_px > self.CLAMP_PX)
        if len(self._pending) > 4096:  # nobody records (a bare stage): keep memory bounded
            del self._pending[:2048]

    def reset_by(self, reason: str) -> None:
        """A path restart and its reason (``cut``, ``jump``, ``lost``, ``size``)."""
        self._resets.append(reason)
        if len(self._resets) > 4096:
            del self._resets[:2048]

    def record(self, stats: Any) -> None:
        """Fold the pending samples into ``stats.extra["stabilize"]`` (plain numbers, JSON-ready)."""
        if not self._pending and not self._resets:
            return
        entry = stats.extra.setdefault("stabilize", {
            "frames": 0, "correction_px": {"mean": 0.0, "max": 0.0}, "clamped_px": {"mean": 0.0, "max": 0.0},
            "clamped_frames": 0, "zoom": {"mean": 0.0, "max": 0.0}, "restarts": {}})
        for applied, clamped, zoom in self._pending:
            entry["frames"] += 1
            n = entry["frames"]
            for key, value in (("correction_px", applied), ("clamped_px", clamped), ("zoom", zoom)):
                part = entry[key]
                part["mean"] += (value - part["mean"]) / n
                part["max"] = max(part["max"], value)
            entry["clamped_frames"] += clamped > self.CLAMP_PX
        for reason in self._resets:
            entry["restarts"][reason] = entry["restarts"].get(reason, 0) + 1
        self._pending.clear()
        self._resets.clear()

    def hud_line(self, applied_px: float, clamped_px: float, zoom: float) -> str:
        """``stabilize: correction 12.3 px  clamped 0.0 px  crop 0.93`` and, while the margin keeps
        clamping, a hint to widen it."""
        crop = 1.0 / max(zoom, 1e-6)
        line = f"stabilize: correction {applied_px:.1f} px  clamped {clamped_px:.1f} px  crop {crop:.2f}"
        recent = self._clamped_recent
        if recent and sum(recent) > 0.2 * len(recent):
            line += f"  (margin too small: {sum(recent) / len(recent):.0%} of frames clamped; lower min_crop)"
        return line


def size_px(corr: np.ndarray, shape: tuple[int, int]) -> float:
    """How far ``corr`` (dx, dy, angle, log zoom) moves the frame's farthest corner, about, px."""
    radius = 0.5 * math.hypot(shape[0], shape[1])
    return math.hypot(float(corr[0]), float(corr[1])) + radius * (abs(float(corr[2])) + abs(float(corr[3])))


def needed_zoom(corr: np.ndarray, shape: tuple[int, ...]) -> float:
    """Smallest zoom (>= 1) about the centre that hides every border of the corrected frame.

    The corrected frame is ``x_out = c + A (x_src - c) + t``; an output corner ``c + d`` seen through
    zoom ``z`` comes from ``c + A^-1 (d / z - t)``, which must stay in the frame.  ``inf`` when no
    zoom can hide the borders (the translation alone leaves the frame).
    """
    h, w = shape[0], shape[1]
    hx, hy = (w - 1) / 2.0, (h - 1) / 2.0
    # Python floats: this runs in the bisections of every frame, where NumPy scalars cost 3x.
    tx, ty, angle, log_zoom = (float(v) for v in corr)
    s = math.exp(-log_zoom)
    ca, sa = s * math.cos(angle), s * math.sin(angle)
    # A^-1 = R(-angle) / zoom
    vx, vy = ca * tx + sa * ty, -sa * tx + ca * ty
    if abs(vx) >= hx or abs(vy) >= hy:
        return math.inf
    inv_z = 1.0
    for dx, dy in ((hx, hy), (hx, -hy), (-hx, hy), (-hx, -hy)):
        ux, uy = ca * dx + sa * dy, -sa * dx + ca * dy
        for u, v, half in ((ux, vx, hx), (uy, vy, hy)):
            # Need -half <= u/z - v <= half.
            if u > 1e-12:
                inv_z = min(inv_z, (half + v) / u)
            elif u < -1e-12:
                inv_z = min(inv_z, (half - v) / -u)
    return 1.0 / inv_z if inv_z > 1e-6 else math.inf


def scaled_to_fit(corr: np.ndarray, zoom: float, shape: tuple[int, int]) -> np.ndarray:
    """``corr`` scaled down (the largest share of it) so that ``zoom`` hides its borders."""
    if needed_zoom(corr, shape) <= zoom:
        return corr
    lo, hi = 0.0, 1.0
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        if needed_zoom(mid * corr, shape) <= zoom:
            lo = mid
        else:
            hi = mid
    return lo * corr


def inverse_matrix(corr: np.ndarray, zoom: float, w: int, h: int) -> np.ndarray | None:
    """Output -> source matrix of the correction ``corr`` followed by ``zoom`` about the centre."""
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    s = math.exp(float(corr[3])) * zoom
    a = float(corr[2])
    lin = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * s
    try:
        inv = np.linalg.inv(lin)
    except np.linalg.LinAlgError:
        return None
    centre = np.array([cx, cy])
    offset = centre - inv @ (centre + zoom * np.asarray(corr[:2], dtype=np.float64))
    m = np.hstack([inv, offset[:, None]])
    return m if np.all(np.isfinite(m)) else None
