"""``stabilize`` stage: online motion estimation, causal path smoothing with a set lookahead, adaptive crop.

Per input frame (no second pass):

1. a float32 luma thumbnail (about ``analysis_width`` wide) is made on the
   frame's backend and only it goes to the host; an I420 frame's Y plane is
   the luma as it is (box-averaged, no colour conversion);
2. :class:`realtime.motion.MotionEstimator` gives the frame-to-frame global
   similarity motion, a confidence and a scene-cut flag;
3. the motions are summed into the raw camera path ``p`` (content translation
   at the frame centre in pixels, rotation in radians, log zoom).  A frame
   without a trustworthy estimate (no texture, black, repeated) continues the
   path with the smoothed velocity, decaying: the picture never jumps.  A
   scene cut starts a new path segment;
4. a constant-velocity Kalman filter smooths the path forward (a pan at
   constant speed is followed without lag), and with ``lookahead = N`` a Rauch-Tung-
   Striebel pass over the newest N frames refines the smoothed path of the
   frame that leaves the stage, N frames late (N frames of added latency);
5. the correction ``smooth - raw`` is clamped so that its zoom-to-hide-borders
   stays within ``1 / min_crop``; a clamp also pulls the forward filter onto the
   raw path, so a pan larger than the margin is followed, not fought;
6. the frame is warped (:func:`kernels.warp.warp_affine`; an I420 frame plane by
   plane, :func:`kernels.warp.warp_i420`, ``border=black`` filling with
   Y'CbCr black) with the correction
   and, with ``border=zoom``, the smallest zoom that hides the borders (rising at
   once, released slowly so the zoom does not pump).  Motions and corrections
   below a fraction of a pixel count as none and the frame is copied, not
   resampled: a static shot comes out equal to its input.

Exposed to other stages and tools: ``last_motion`` (the newest input frame's
:class:`~realtime.motion.Motion`, previous -> this frame, full-resolution pixels),
``motion_for(index)`` for recent frames by source index, ``last_correction`` and
``last_zoom`` of the newest output frame, ``delay_frames`` (= lookahead) and
``delay_ms(fps)``.  In the canonical chain the temporal denoiser runs *before*
this stage, so for the frame it is filtering it can run a
:class:`~realtime.motion.MotionEstimator` of its own (``Motion.shift_px()`` gives
its integer-shift form), or read ``motion_for(index)`` one frame late.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from kernels.backend import Backend
from kernels.planes import i420_planes, i420_size, is_i420, yuv_black
from kernels.warp import gray_thumbnail, thumbnail_size, warp_affine, warp_i420
from realtime.frames import Frame
from realtime.motion import Motion, MotionEstimator
from realtime.stages.base import Stage
from realtime.stages.params import StabilizeParams

log = logging.getLogger(__name__)

#: Frames smaller than this (either side) are passed through unchanged.
MIN_FRAME_PX = 32
#: Per-frame decay of the held velocity while no motion can be measured.
HOLD_DECAY = 0.85
#: Frame-to-frame motions smaller than this many thumbnail pixels (at the frame's edge) count as
#: none: estimation noise on a static shot would otherwise add up into a wandering sub-pixel
#: correction and resample every frame (measured: p99 0.09 thumbnail px on a static 432p clip).
DEADBAND_THUMB_PX = 0.2
#: A correction moving no pixel by more than this (and no zoom) is skipped: the frame is copied
#: unresampled, so a static shot comes out equal to its input (a sub-pixel step is invisible).
SNAP_PX = 0.5
#: Share of the zoom budget a correction may use freely, and the share of the excess beyond it
#: that the forward filter gives back per frame.
SOFT_MARGIN = 0.6
SOFT_PULL = 0.3
_F = np.array([[1.0, 1.0], [0.0, 1.0]])
#: Filter covariance at the start of a path: the position is the origin by definition, the
#: velocity unknown (about +-3 px per frame), so the first measured motion sets the speed.
_P0 = np.diag([0.0, 9.0])


@dataclass
class _Held:
    """One frame waiting for its lookahead, with its filter state."""

    frame: Frame
    slot: int
    path: np.ndarray      # (4,) raw path: dx, dy, angle, log zoom
    x_f: np.ndarray       # (4, 2) filtered [position, velocity] per parameter
    p_f: np.ndarray       # (2, 2) filtered covariance (shared by the four parameters)
    x_pred: np.ndarray    # (4, 2) prediction before this frame's measurement
    p_pred: np.ndarray    # (2, 2)
    segment: int
    need_zoom: float      # border-hiding zoom of its provisional (forward-filtered) correction


class StabilizeStage(Stage):
    """Incremental video stabilizer with an explicit lookahead delay.

    One output frame per input frame; with ``lookahead = N`` an output leaves
    N pushes after its input (with that input's index and timestamps), and
    :meth:`flush` returns the last N.
    """

    name = "stabilize"
    Params = StabilizeParams
    planar = True

    def __init__(self, params: StabilizeParams, backend: Backend) -> None:
        super().__init__(params, backend)
        self.delay_frames = int(params.lookahead)
        self.output_keys = tuple(f"out{slot}" for slot in range(self.delay_frames + 1))
        tau = float(params.smoothing) or auto_smoothing(self.delay_frames)
        self.smoothing_frames = max(tau, 1.0)
        # White-noise-acceleration model with unit measurement noise; q sets the bandwidth
        # (about 1/tau of the frame rate), identical for the four path parameters.
        q = 1.0 / self.smoothing_frames ** 4
        self._q = q * np.array([[0.25, 0.5], [0.5, 1.0]])
        self._motions: deque[tuple[int, Motion]] = deque(maxlen=64)
        self.last_motion: Motion | None = None
        self.last_correction: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
        self.last_zoom: float = 1.0
        self._estimator: MotionEstimator | None = None
        self.reset()

    # --- public API ------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the path, the held frames and the previous frame (scene cut, new source)."""
        self._window: deque[_Held] = deque()
        self._count = 0
        self._shape: tuple[int, ...] | None = None
        self._segment = 0
        self._path = np.zeros(4)
        self._x = np.zeros((4, 2))
        self._p = _P0
        self._fresh = True
        self._held_frames = 0
        self._zoom = 1.0
        self._zoom_segment = 0
        if self._estimator is not None:
            self._estimator.reset()

    def motion_for(self, index: int) -> Motion | None:
        """The motion estimated for source frame ``index`` (one of the last 64), or None."""
        for i, m in reversed(self._motions):
            if i == index:
                return m
        return None

    def delay_ms(self, fps: float) -> float:
        """Latency the lookahead adds at ``fps`` frames per second."""
        return 1e3 * self.delay_frames / fps if fps > 0 else 0.0

    def push(self, frame: Frame) -> Sequence[Frame]:
        image = frame.image
        out: list[Frame] = []
        if self._shape is not None and tuple(image.shape) != self._shape:
            # A new frame size is a new source: emit what is held, then start over.
            out.extend(self.flush())
        if self._shape is None:
            self._start(image)
        motion = self._measure(image)
        self._motions.append((frame.index, motion))
        self.last_motion = motion
        self._advance(motion)
        slot = self._count % (self.delay_frames + 1)
        self._count += 1
        if self.delay_frames:
            # The producer owns its image only until its next frame: keep our own copy.
            hold = self.buffer(f"hold{slot}", image.shape)
            hold[...] = image
            frame = frame.with_image(hold)
        need = 1.0
        if self.params.border == "zoom" and self.delay_frames and not self._tiny:
            # Newer frames' zoom needs, anticipated by the emitted one; fixed once filtered, so computed once.
            need = _needed_zoom(self._snapped(self._compressed(self._x[:, 0] - self._path)), self._hw)
        self._window.append(_Held(frame, slot, self._path.copy(), self._x.copy(), self._p.copy(),
                                  self._x_pred, self._p_pred, self._segment, need))
        if len(self._window) > self.delay_frames:
            out.append(self._emit())
        return out

    def flush(self) -> Sequence[Frame]:
        out = []
        while self._window:
            out.append(self._emit())
        self.reset()
        return out

    # --- internals -----------------------------------------------------------------------

    def _start(self, image: Any) -> None:
        self._shape = tuple(image.shape)
        self._planar = is_i420(image)
        # Geometry (path, zoom, thumbnail) is in pixels of the frame, the luma plane's of an I420 one.
        h, w = i420_size(image) if self._planar else image.shape[:2]
        self._hw = (h, w)
        self._tiny = h < MIN_FRAME_PX or w < MIN_FRAME_PX
        factor, th, tw = thumbnail_size(h, w, self.params.analysis_width)
        self._factor = factor
        self._thumb_shape = (th, tw)
        self._estimator = MotionEstimator(factor, cut_threshold=self.params.scene_cut)
        if self.delay_frames:
            log.info("stabilize: lookahead %d frames of added latency", self.delay_frames)

    def _measure(self, image: Any) -> Motion:
        if self._tiny:
            return Motion()
        thumb = self.buffer("thumb", self._thumb_shape, np.float32)
        # An I420 frame's Y plane is the gray frame: no conversion, only the box average.
        gray = i420_planes(image)[0] if self._planar else image
        gray_thumbnail(gray, self._factor, out=thumb, backend=self.backend)
        if self.backend.is_cuda:
            host = self._buffers.get("thumb_host")
            if host is None or host.shape != self._thumb_shape:
                host = self._buffers["thumb_host"] = np.empty(self._thumb_shape, np.float32)
            thumb = self.backend.to_host(thumb, out=host)
        return self._estimator.estimate(thumb)

    def _advance(self, motion: Motion) -> None:
        """Add the motion to the raw path and run the forward filter."""
        if motion.cut or self._fresh:
            # A path starts here, at the origin: nothing to measure or predict yet.
            if motion.cut:
                self._segment += 1
            self._fresh = False
            self._path = np.zeros(4)
            self._x = np.zeros((4, 2))
            self._p = _P0
            self._held_frames = 0
            self._x_pred, self._p_pred = self._x.copy(), _P0 + np.eye(2) * 1e-9
            return
        if motion.valid:
            delta = np.array([motion.dx_px, motion.dy_px, motion.angle_rad, math.log(motion.scale)])
            self._held_frames = 0
            radius = 0.5 * math.hypot(self._hw[0], self._hw[1])
            size_px = math.hypot(delta[0], delta[1]) + radius * (abs(delta[2]) + abs(delta[3]))
            if size_px < DEADBAND_THUMB_PX * self._factor:
                delta = np.zeros(4)
        else:
            # No trustworthy measurement: continue with the smoothed velocity, fading out.
            self._held_frames += 1
            delta = self._x[:, 1] * HOLD_DECAY ** self._held_frames
        if not np.all(np.isfinite(delta)):
            delta = np.zeros(4)
        self._path = self._path + delta
        x_pred = self._x @ _F.T
        p_pred = _F @ self._p @ _F.T + self._q
        gain = p_pred[:, 0] / (p_pred[0, 0] + 1.0)
        innovation = self._path - x_pred[:, 0]
        self._x = x_pred + np.outer(innovation, gain)
        self._p = p_pred - np.outer(gain, p_pred[0, :])
        self._x_pred, self._p_pred = x_pred, p_pred
        if not (np.all(np.isfinite(self._x)) and np.all(np.isfinite(self._p))):
            log.warning("stabilize: filter state not finite; restarting the path")
            self._path, self._x, self._p = np.zeros(4), np.zeros((4, 2)), _P0
            return
        # Keep the forward path within the margin, softly: past SOFT_MARGIN of the zoom budget
        # the smooth path is pulled towards the raw one (a spring, so a large sway or a fast pan
        # is followed smoothly instead of hitting the hard limit), and never beyond the budget.
        corr = self._x[:, 0] - self._path
        z_max = 1.0 / self.params.min_crop
        k_soft = self._allowed(corr, 1.0 + SOFT_MARGIN * (z_max - 1.0))
        if k_soft < 1.0:
            k = k_soft + (1.0 - k_soft) * (1.0 - SOFT_PULL)
            k = min(k, self._allowed(corr))
            self._x[:, 0] = self._path + k * corr

    def _allowed(self, corr: np.ndarray, z_max: float | None = None) -> float:
        """Largest share k in [0, 1] of ``corr`` whose border-hiding zoom is within ``z_max``
        (default ``1 / min_crop``)."""
        z_max = 1.0 / self.params.min_crop if z_max is None else z_max
        if _needed_zoom(corr, self._hw) <= z_max:
            return 1.0
        lo, hi = 0.0, 1.0
        for _ in range(12):
            mid = 0.5 * (lo + hi)
            if _needed_zoom(mid * corr, self._hw) <= z_max:
                lo = mid
            else:
                hi = mid
        return lo

    def _compressed(self, corr: np.ndarray) -> np.ndarray:
        """``corr`` with a soft knee: unchanged up to SOFT_MARGIN of the zoom budget, then
        compressed smoothly towards the budget (a hard clamp would make the picture jerk)."""
        z_max = 1.0 / self.params.min_crop
        if _needed_zoom(corr, self._hw) <= 1.0 + 1e-9:
            return corr
        if _needed_zoom(corr / SOFT_MARGIN, self._hw) <= z_max:
            # Within the soft margin (the usual case): unchanged, without the search below.
            return corr
        # The scale s at which s * corr uses the whole budget; m = 1 / s is the budget used.
        lo, hi = 0.0, 1.0
        while _needed_zoom(hi * corr, self._hw) <= z_max and hi < 64.0:
            lo, hi = hi, 2.0 * hi
        for _ in range(14):
            mid = 0.5 * (lo + hi)
            if _needed_zoom(mid * corr, self._hw) <= z_max:
                lo = mid
            else:
                hi = mid
        if lo <= 0.0:
            return np.zeros(4)
        m = 1.0 / lo
        if m <= SOFT_MARGIN:
            return corr
        width = 1.0 - SOFT_MARGIN
        m_out = SOFT_MARGIN + width * math.tanh((m - SOFT_MARGIN) / width)
        return corr * (m_out / m)

    def _smoothed(self) -> np.ndarray:
        """Fixed-lag RTS: the smoothed position of the oldest held frame, given the newer ones."""
        first = self._window[0]
        same = [e for e in self._window if e.segment == first.segment]
        x_s = same[-1].x_f
        for k in range(len(same) - 2, -1, -1):
            e, nxt = same[k], same[k + 1]
            c = e.p_f @ _F.T @ _inv2(nxt.p_pred)
            x_s = e.x_f + (x_s - nxt.x_pred) @ c.T
        return x_s[:, 0]

    def _emit(self) -> Frame:
        held = self._window[0]
        image = held.frame.image
        h, w = self._hw
        out = self.buffer(f"out{held.slot}", image.shape)
        corr = self._smoothed() - held.path
        if self._tiny or not np.all(np.isfinite(corr)):
            corr = np.zeros(4)
        corr = self._snapped(self._compressed(corr))
        zoom = 1.0
        if self.params.border == "zoom":
            need = _needed_zoom(corr, self._hw)
            # Anticipate the frames already held: their provisional corrections.
            for e in list(self._window)[1:]:
                if e.segment == held.segment:
                    need = max(need, e.need_zoom)
            need = min(need, 1.0 / self.params.min_crop)
            if held.segment != self._zoom_segment:
                # A new scene owes nothing to the old one's zoom (a jump at a cut is invisible).
                self._zoom, self._zoom_segment = 1.0, held.segment
            zoom = max(need, self._zoom - self.params.zoom_release, 1.0)
            self._zoom = zoom
        self._window.popleft()
        matrix = None
        if zoom > 1.0 or np.any(corr != 0.0):
            matrix = _inverse_matrix(corr, zoom, w, h)
        if matrix is None:
            # No correction (or none that can be applied): the frame itself, unresampled.
            out[...] = image
            corr, zoom = np.zeros(4), 1.0
        else:
            border = "black" if self.params.border == "black" else "replicate"
            if self._planar:
                full_range = self.yuv_format is not None and self.yuv_format.full_range
                warp_i420(image, matrix, out=out, border=border, black=yuv_black(full_range), backend=self.backend)
            else:
                warp_affine(image, matrix, out=out, border=border, backend=self.backend)
        self.last_correction = tuple(float(v) for v in corr)
        self.last_zoom = float(zoom)
        return held.frame.with_image(out)

    def _snapped(self, corr: np.ndarray) -> np.ndarray:
        """``corr``, or zero where it would move no pixel by ``SNAP_PX`` or more."""
        radius = 0.5 * math.hypot(self._hw[0], self._hw[1])
        size_px = math.hypot(corr[0], corr[1]) + radius * (abs(corr[2]) + abs(corr[3]))
        return np.zeros(4) if size_px < SNAP_PX else corr


def auto_smoothing(lookahead: int) -> float:
    """Path time constant (frames) that suits ``lookahead``.

    Without lookahead a causal filter must smooth harder to take the shake out
    (and lags more on pans); a few frames of lookahead let the smoother see the
    shake and follow the path closely.  Beyond 5 frames the time constant stays
    at 6: a steadier path needs larger corrections, and on strongly swaying
    footage (shaky_seattle_walk) those saturate the crop budget and let the
    sway through in jerks (measured: stability 0.89 at lookahead 5, tau 6;
    0.73 at lookahead 15, tau 6; 0.41 at lookahead 15, tau 11).
    """
    if lookahead <= 5:
        return 12.0 - 1.2 * lookahead
    return 6.0


def _inv2(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x2 matrix in closed form (``np.linalg.inv``'s call costs 10x the arithmetic)."""
    a, b, c, d = float(m[0, 0]), float(m[0, 1]), float(m[1, 0]), float(m[1, 1])
    det = a * d - b * c
    return np.array([[d, -b], [-c, a]]) / det


def _needed_zoom(corr: np.ndarray, shape: tuple[int, ...]) -> float:
    """Smallest zoom (>= 1) about the centre that hides every border of the corrected frame.

    The corrected frame is ``x_out = c + A (x_src - c) + t``; an output corner ``c + d``
    seen through zoom ``z`` comes from ``c + A^-1 (d / z - t)``, which must stay in the frame.
    Returns ``inf`` when no zoom can hide the borders (the translation alone leaves the frame).
    """
    h, w = shape[0], shape[1]
    hx, hy = (w - 1) / 2.0, (h - 1) / 2.0
    # Python floats: this runs in the bisections of every frame, where NumPy scalars cost 3x.
    tx, ty, angle, log_zoom = (float(v) for v in corr)
    s = math.exp(-log_zoom)
    ca, sa = s * math.cos(angle), s * math.sin(angle)
    # A^-1 = R(-angle) / zoom
    vx = ca * tx + sa * ty
    vy = -sa * tx + ca * ty
    if abs(vx) >= hx or abs(vy) >= hy:
        return math.inf
    inv_z = 1.0
    for dx, dy in ((hx, hy), (hx, -hy), (-hx, hy), (-hx, -hy)):
        ux = ca * dx + sa * dy
        uy = -sa * dx + ca * dy
        for u, v, half in ((ux, vx, hx), (uy, vy, hy)):
            # Need -half <= u/z - v <= half.
            if u > 1e-12:
                inv_z = min(inv_z, (half + v) / u)
            elif u < -1e-12:
                inv_z = min(inv_z, (half - v) / -u)
    return 1.0 / inv_z if inv_z > 1e-6 else math.inf


def _inverse_matrix(corr: np.ndarray, zoom: float, w: int, h: int) -> np.ndarray | None:
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
