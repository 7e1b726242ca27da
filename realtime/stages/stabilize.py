"""``stabilize`` stage: online motion estimation, windowed path smoothing with a set lookahead, adaptive crop.

Per input frame (no second pass):

1. a float32 luma thumbnail (about ``analysis_width`` wide) is made on the frame's backend and only it goes to the
   host; an I420 frame's Y plane is the luma as it is (box-averaged, no colour conversion);
2. :class:`realtime.motion.MotionEstimator` gives the frame-to-frame global similarity motion, a confidence and a
   scene-cut flag;
3. the motions are summed into the raw camera path ``p`` (content translation at the frame centre in pixels, rotation
   in radians, log zoom).  A frame without a trustworthy estimate (no texture, black, repeated) continues the path
   with the smoothed velocity, decaying: the picture never jumps.  A scene cut, a jump of two crop margins, a frame
   size change or a long loss of track starts a new path segment (said in the log at debug level);
4. the smoothed path of a frame is a weighted sum of the raw path over a window around it.  With the automatic time
   constant (``smoothing=0``) the weights are learned (:func:`~realtime.stages.camera_path.learned_weights`, fitted
   by ``tools/train_path.py`` on many shaken paths for the least jitter and drift; a steady pan and a still camera
   are followed exactly) for lookaheads up to 10 at 23-31 fps.  A time constant set by hand, a longer lookahead or
   another frame rate gets the hand-made smoother (:func:`~realtime.stages.camera_path.path_weights`): the estimate
   of a locally quadratic intended move (a pan that speeds up or slows down is followed without lag) with the least
   residual hand shake, shake being taken as motion with its energy above
   :data:`~realtime.stages.camera_path.SHAKE_LOW_HZ` plus a little broadband noise; once a path has a few seconds
   behind it, a longer window with a locally cubic move takes over gradually, and the automatic time constant follows
   the path (a panning camera with light shake gets a shorter window: less lag behind a pan that speeds up;
   :func:`~realtime.stages.camera_path.smoothing_share`).  With ``lookahead = N`` the window reaches N frames past
   the frame that leaves the stage (N frames of added latency), which lets the shake average out far better than a
   causal filter can.  Rotation and zoom are smoothed like translation: a zoom that changes from frame to frame is
   shake too;
5. the correction ``smooth - raw`` is compressed with a soft knee so that its zoom-to-hide-borders stays within
   ``1 / min_crop``; what the knee removed is reported per frame as *clamped* (``last_clamped_px``, ``--stats``, the
   HUD): a user sees when the margin is too small for the shake;
6. the frame is warped (:func:`kernels.warp.warp_affine`; an I420 frame plane by plane, :func:`kernels.warp.warp_i420`,
   ``border=black`` filling with Y'CbCr black) with the correction and, with ``border=zoom``, a zoom that hides the
   borders.  It follows the largest need of the last second and of the frames held at a limited rate both ways
   (``zoom_rise``, ``zoom_release``; a zoom that jumps is shake at the corners), faster only for a large shortfall (a
   knock) and over a path's first frames; while it is on its way up the correction gives way (reported as clamped)
   rather than show a border.  Motions and corrections below a fraction of a pixel count as none and the frame is
   copied, not resampled: a static shot comes out equal to its input.

Exposed to other stages and tools: ``last_motion`` (the newest input frame's :class:`~realtime.motion.Motion`,
previous -> this frame, full-resolution pixels), ``motion_for(index)``, and ``last_correction``, ``last_zoom``,
``last_applied_px`` and ``last_clamped_px`` of the newest output frame.  In the canonical chain the temporal denoiser
runs *before* this stage, so it can run a :class:`~realtime.motion.MotionEstimator` of its own for the frame it is
filtering, or read ``motion_for(index)`` one frame late.
"""
from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from kernels.backend import Backend
from kernels.planes import i420_planes, i420_size, is_i420, yuv_black
from kernels.warp import gray_thumbnail, thumbnail_size, warp_affine, warp_i420
from realtime.motion import Motion, MotionEstimator
from realtime.run.frames import Frame
from realtime.stages.base import Stage
from realtime.stages.camera_path import (
    SETTLED_DEGREE,
    SETTLED_FROM,
    SETTLED_FULL,
    SETTLED_PER_TAU,
    SETTLED_WHITE_SHARE,
    SHAKE_MIN_SAMPLES,
    SHAKE_SAMPLES,
    WINDOW_PER_TAU,
    auto_smoothing,
    learned_past,
    learned_weights,
    path_weights,
    shake_and_speed,
    smoothing_share,
    start_velocity,
)
from realtime.stages.framing import CorrectionReadout, inverse_matrix, needed_zoom, scaled_to_fit, size_px
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
#: Share of the zoom budget a correction may use freely; beyond it the correction is compressed.
SOFT_MARGIN = 0.6
#: Frames without a measurable motion after which the path is restarted (the track is lost).
LOST_FRAMES = 15
#: A motion that departs from the smoothed velocity by more than this many crop margins (of the
#: frame's shorter side) is a jump (a knock, a splice, a glitch): no smoothing can hide it, so the
#: path restarts there.  Two margins: shake that merely fills the margin is not a jump.
JUMP_MARGIN = 2.0
#: Samples over which a young path moves from its first sample to the mean of its samples: the
#: first frame is where the output starts, and leaving it at once for the mean is a jerk (at no
#: lookahead, 2x the jitter of the first second on a shaken pan; the slow move counts as drift).
START_BLEND_FRAMES = 15
#: Frames over which the border zoom holds the largest need before it starts to release: the
#: shake comes back within a second, and a zoom that pumps with each swing is shake of its own.
ZOOM_HOLD_FRAMES = 30
#: A path's first frames, whose border zoom may rise at once: there is no earlier zoom to jump from.
ZOOM_FREE_FRAMES = 10
#: Share of a shortfall of zoom made up per frame when that is faster than ``zoom_rise``: a knock
#: needs a lot of zoom at once, and a correction that gives way to a slow zoom lets the knock through.
ZOOM_CATCH_UP = 0.5


@dataclass
class _Held:
    """One frame waiting for its lookahead."""

    frame: Frame
    path: np.ndarray      # (4,) raw path: dx, dy, angle, log zoom
    segment: int
    need_zoom: float      # border-hiding zoom of its provisional (causal) correction


class StabilizeStage(Stage):
    """Incremental video stabilizer with an explicit lookahead delay.

    One output frame per input frame; with ``lookahead = N`` an output leaves N pushes after its input (with that
    input's index and timestamps), and :meth:`flush` returns the last N.
    """

    name = "stabilize"
    Params = StabilizeParams
    planar = True
    cpu_kernels = False  # OpenCV only: motion search and warp

    def __init__(self, params: StabilizeParams, backend: Backend) -> None:
        super().__init__(params, backend)
        self.delay_frames = int(params.lookahead)
        #: The time constant set, or the automatic one for the lookahead; an automatic one then follows the shake.
        self.base_smoothing = max(float(params.smoothing) or auto_smoothing(self.delay_frames), 1.0)
        self._set_smoothing(self.base_smoothing)
        # The longest window: the time constant only shrinks, and the learned smoother's is fixed.
        self._history_frames = max(self.settled_frames, self._learned_past() + 1 + self.delay_frames)
        self.fps = 30.0
        self._motions: deque[tuple[int, Motion]] = deque(maxlen=64)
        self.last_motion: Motion | None = None
        self.last_correction: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
        self.last_zoom: float = 1.0
        #: How far the newest output frame was moved (px at its farthest corner), and how much more
        #: the smoothed path wanted that the crop margin did not allow.
        self.last_applied_px: float = 0.0
        self.last_clamped_px: float = 0.0
        self.readout = CorrectionReadout()
        self._estimator: MotionEstimator | None = None
        self.reset()

    # --- public API ------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the path, the held frames and the previous frame (scene cut, new source)."""
        self._window: deque[_Held] = deque()
        # Raw path samples (segment, path) of the newest frames: the smoother's window.
        self._history: deque[tuple[int, np.ndarray]] = deque(maxlen=self._history_frames)
        self._set_smoothing(self.base_smoothing)
        self._count = 0
        self._shape: tuple[int, ...] | None = None
        self._segment = 0
        self._path = np.zeros(4)
        self._velocity = np.zeros(4)
        self._causal = np.zeros(4)  # smoothed path of the newest frame, from the frames up to it
        self._fresh = True
        self._held_frames = 0
        self._zoom = 1.0
        self._zoom_segment = 0
        self._zoom_age = 0  # frames emitted in the zoom's segment
        # Border-hiding needs of the last frames emitted, for the zoom's target.
        self._needs: deque[float] = deque(maxlen=ZOOM_HOLD_FRAMES)
        if self._estimator is not None:
            self._estimator.reset()

    def set_source(self, info: Any) -> Any:
        """Take the source's frame rate (the shake model is in Hz); the stream passes on unchanged."""
        fps = float(getattr(info, "fps", 0) or 0)
        if math.isfinite(fps) and fps > 0:
            self.fps = fps
        return info

    def motion_for(self, index: int) -> Motion | None:
        """The motion estimated for source frame ``index`` (one of the last 64), or None."""
        for i, m in reversed(self._motions):
            if i == index:
                return m
        return None

    def record_stats(self, stats: Any) -> None:
        """Add the frames emitted since the last call to ``stats.extra["stabilize"]``
        (see :class:`CorrectionReadout`)."""
        self.readout.record(stats)

    def hud_lines(self) -> list[str]:
        """What the live display says about the stabilizer: this frame's correction and clamp."""
        return [self.readout.hud_line(self.last_applied_px, self.last_clamped_px, self.last_zoom)]

    def push(self, frame: Frame) -> Sequence[Frame]:
        image = frame.image
        out: list[Frame] = []
        if self._shape is not None and tuple(image.shape) != self._shape:
            # A new frame size is a new source: emit what is held, then start over.
            log.debug("stabilize: frame size %s -> %s; path restarted", self._shape[:2], tuple(image.shape[:2]))
            self.readout.reset_by("size")
            out.extend(self.flush())
        if self._shape is None:
            self._start(image)
        motion = self._measure(image)
        self._motions.append((frame.index, motion))
        self.last_motion = motion
        self._advance(motion)
        self._count += 1
        need = 1.0
        if self.params.border == "zoom" and self.delay_frames and not self._tiny:
            # Newer frames' zoom needs, anticipated by the emitted one; fixed once measured, so computed once.
            need = needed_zoom(self._snapped(self._compressed(self._causal - self._path)), self._hw)
        self._window.append(_Held(frame, self._path.copy(), self._segment, need))
        if len(self._window) > self.delay_frames:
            out.append(self._emit())
        return out

    def flush(self) -> Sequence[Frame]:
        out = [self._emit() for _ in range(len(self._window))]
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
        self._factor, th, tw = thumbnail_size(h, w, self.params.analysis_width)
        self._thumb_shape = (th, tw)
        self._estimator = MotionEstimator(self._factor, cut_threshold=self.params.scene_cut)
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
            thumb = self.backend.to_host(thumb, out=self.buffer("thumb_host", self._thumb_shape, np.float32, host=True))
        return self._estimator.estimate(thumb)

    def _advance(self, motion: Motion) -> None:
        """Add the motion to the raw path (or start a new segment) and update the causal smooth."""
        restart = "cut" if motion.cut else None
        delta = np.zeros(4)
        if not (motion.cut or self._fresh):
            if motion.valid:
                delta = np.array([motion.dx_px, motion.dy_px, motion.angle_rad, math.log(motion.scale)])
                self._held_frames = 0
                if not np.all(np.isfinite(delta)):
                    delta = np.zeros(4)
                elif self._is_jump(delta):
                    restart = "jump"
                elif size_px(delta, self._hw) < DEADBAND_THUMB_PX * self._factor:
                    delta = np.zeros(4)
            else:
                # No trustworthy measurement: continue with the smoothed velocity, fading out.
                self._held_frames += 1
                delta = self._velocity * HOLD_DECAY ** self._held_frames
                if self._held_frames == LOST_FRAMES:
                    restart = "lost"
        if restart is not None or self._fresh:
            self._restart(restart)
        else:
            self._path = self._path + delta
        self._history.append((self._segment, self._path.copy()))
        if not self.params.smoothing and self._learned_weights(self.delay_frames) is None:
            # The hand-made smoothers' time constant follows the shake; the learned one serves every shake as it is.
            self._follow_shake()
        previous = self._causal if len(self._history) > 1 and self._history[-2][0] == self._segment else None
        self._causal = self._smoothed_at(len(self._history) - 1)
        self._velocity = np.zeros(4) if previous is None else self._causal - previous

    def _set_smoothing(self, tau: float) -> None:
        """Set the path's time constant (frames) and the smoothers' windows that follow from it."""
        self.smoothing_frames = tau
        # The window holds the lookahead and at least as many past frames.
        self.window_frames = max(int(round(WINDOW_PER_TAU * tau)), 2 * self.delay_frames + 2)
        # A path older than the window is smoothed over a longer one (see _smoothed_at).
        self.settled_frames = max(int(round(SETTLED_PER_TAU * tau)), self.window_frames)

    def _follow_shake(self) -> None:
        """The automatic time constant for the slow shake in the segment's newest samples (in quarter frames, so the
        smoothers' weights come from a few cached sets)."""
        newest = itertools.islice(self._history, max(len(self._history) - SHAKE_SAMPLES, 0), None)
        recent = [p for s, p in newest if s == self._segment]
        tau = self.base_smoothing
        if len(recent) >= SHAKE_MIN_SAMPLES:
            scale = 720.0 / self._hw[0]
            slow, speed = shake_and_speed(np.array(recent), self.fps)
            tau = round(4.0 * tau * smoothing_share(slow * scale, speed * scale)) / 4.0
        if tau != self.smoothing_frames:
            self._set_smoothing(tau)

    def _restart(self, reason: str | None) -> None:
        """Start a new path segment at the origin (the first frame, or after a ``reason``)."""
        if reason is not None:
            self._segment += 1
            self.readout.reset_by(reason)
            log.debug("stabilize: %s; path restarted", {"cut": "scene cut", "jump": "jump larger than the crop margin",
                                                        "lost": f"no motion measured for {LOST_FRAMES} frames"}[reason])
        self._fresh = False
        self._path = np.zeros(4)
        self._velocity = np.zeros(4)
        self._held_frames = 0

    def _is_jump(self, delta: np.ndarray) -> bool:
        """Whether a frame-to-frame motion departs from the smoothed velocity by more than the margin."""
        limit = JUMP_MARGIN * (1.0 - self.params.min_crop) / 2.0 * min(self._hw)
        step = delta - self._velocity
        return math.hypot(float(step[0]), float(step[1])) > limit

    def _smoothed_at(self, j: int) -> np.ndarray:
        """Smoothed path of history sample ``j`` from the samples of its segment around it.

        With the automatic time constant, the learned smoother's weights (:func:`_learned_weights`) over its window.
        Otherwise two smoothers: the window of :data:`~realtime.stages.camera_path.WINDOW_PER_TAU` with a quadratic
        move, and once the segment has :data:`~realtime.stages.camera_path.SETTLED_FROM` samples, more and more of the
        longer cubic one of ``SETTLED_*`` (fully from ``SETTLED_FULL``), which leaves less shake and less lag but needs
        its window filled with the path's own samples: over a padded window it lags a pan that speeds up.
        """
        segment = self._history[j][0]
        first = j
        while first > 0 and self._history[first - 1][0] == segment:
            first -= 1
        last = j
        while last + 1 < len(self._history) and self._history[last + 1][0] == segment:
            last += 1
        future = last - j
        learned = self._learned_weights(future)
        if learned is not None:
            return learned @ self._padded_samples(j, first, last, len(learned) - 1 - future)
        past = self.settled_frames - 1 - future
        samples = self._padded_samples(j, first, last, past)
        young_past = self.window_frames - 1 - future
        young = path_weights(young_past, future, self.fps) @ samples[past - young_past:]
        share = min(1.0, max(0.0, (j - first - SETTLED_FROM) / (SETTLED_FULL - SETTLED_FROM)))
        if share <= 0.0:
            return young
        settled = path_weights(past, future, self.fps, SETTLED_DEGREE, SETTLED_WHITE_SHARE) @ samples
        return young + share * (settled - young)

    def _learned_past(self) -> int:
        """Samples before the frame in the learned smoother's window (0 where it is not used)."""
        return 0 if self.params.smoothing else learned_past()

    def _learned_weights(self, future: int) -> np.ndarray | None:
        """The learned smoother's weights for ``future`` samples after the frame; ``None`` with a time constant set
        by hand, or where none was trained (:func:`~realtime.stages.camera_path.learned_weights`)."""
        return None if self.params.smoothing else learned_weights(future, self.fps)

    def _padded_samples(self, j: int, first: int, last: int, past: int) -> np.ndarray:
        """``(past + 1 + last - j, 4)``: the raw path from ``past`` samples before history sample ``j`` to the
        segment's ``last`` sample, where ``first`` is the segment's first.

        A segment younger than the window is extended into the past along the straight line that fits its samples so
        far, the slope shrunk by how well the samples tell it from the shake (:func:`start_velocity`): a fit to the few
        samples there are would amplify the shake at every start (measured: 3x the jitter over the first second, on a
        shaken pan), and a still camera before the start would fight a pan under way for a whole window.
        """
        future = last - j
        have = min(j - first, past)
        samples = np.empty((past + future + 1, 4))
        start = past - have  # where the segment's first sample goes
        for k in range(j - have, last + 1):
            samples[past - j + k] = self._history[k][1]
        if start:
            real = samples[start:]
            velocity = start_velocity(real)
            # The line through the samples' mean, not through the first sample: that one carries
            # its own shake, which a padding anchored on it would repeat over the whole window
            # (measured: 8.8 px of drift on a strongly shaken pan at no lookahead, 5.5 with the mean).
            # The anchor moves there over the first START_BLEND_FRAMES samples, not at once.
            centre = start + (len(real) - 1) / 2.0
            mean = real.mean(axis=0)
            # With a lookahead nothing has been shown before the first frame leaves, so it starts at
            # the mean of the frames held (measured: strong shake, 5 frames of lookahead, jitter
            # 1.94 -> 1.81 px and drift 1.86 -> 1.70 px on the tune half).
            blend = START_BLEND_FRAMES if self.delay_frames == 0 else self.delay_frames + 1
            anchor = mean + max(0.0, 1.0 - len(real) / blend) * (real[0] - mean)
            samples[:start] = anchor + (np.arange(start)[:, None] - centre) * velocity
        return samples

    def _allowed_zoom(self) -> float:
        return 1.0 / self.params.min_crop

    def _compressed(self, corr: np.ndarray) -> np.ndarray:
        """``corr`` with a soft knee: unchanged up to SOFT_MARGIN of the zoom budget, then
        compressed smoothly towards the budget (a hard clamp would make the picture jerk)."""
        z_max = self._allowed_zoom()
        if needed_zoom(corr, self._hw) <= 1.0 + 1e-9 or needed_zoom(corr / SOFT_MARGIN, self._hw) <= z_max:
            return corr  # no zoom needed, or within the soft margin (the usual case): no search below
        # The scale s at which s * corr uses the whole budget; m = 1 / s is the budget used.
        lo, hi = 0.0, 1.0
        while needed_zoom(hi * corr, self._hw) <= z_max and hi < 64.0:
            lo, hi = hi, 2.0 * hi
        for _ in range(14):
            mid = 0.5 * (lo + hi)
            if needed_zoom(mid * corr, self._hw) <= z_max:
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

    def _emit_correction(self, held: _Held) -> tuple[np.ndarray, np.ndarray]:
        """The correction of the oldest held frame after the margin's knee, and the one wanted."""
        if self._tiny:
            return np.zeros(4), np.zeros(4)
        # The history's newest sample is the newest pushed frame; the held frame is older by the frames held after it.
        j = len(self._history) - len(self._window)
        smooth = self._causal if j == len(self._history) - 1 else self._smoothed_at(j)
        wanted = smooth - held.path if j >= 0 else np.zeros(4)
        if not np.all(np.isfinite(wanted)):
            return np.zeros(4), np.zeros(4)
        return self._snapped(self._compressed(wanted)), wanted

    def _border_zoom(self, held: _Held, corr: np.ndarray) -> float:
        """The border-hiding zoom of the frame leaving: it follows the frames' needs at a limited
        rate both ways, so that it never jumps (a zoom that changes from frame to frame is shake).

        It aims at the largest need of the last :data:`ZOOM_HOLD_FRAMES` frames and of the frames
        held, each of those less what the rise rate makes up before that frame leaves.
        """
        rise, release = self.params.zoom_rise, self.params.zoom_release
        if held.segment != self._zoom_segment:
            # A new scene owes nothing to the old one's zoom (a jump at a cut is invisible).
            self._zoom, self._zoom_segment, self._zoom_age = 1.0, held.segment, 0
            self._needs.clear()
        need = min(needed_zoom(corr, self._hw), self._allowed_zoom())
        self._needs.append(need)
        target = max(self._needs)
        # Anticipate the frames already held (their provisional corrections): start rising early enough.
        for k, e in enumerate(list(self._window)[1:], start=1):
            if e.segment == held.segment:
                target = max(target, min(e.need_zoom, self._allowed_zoom()) - rise * k)
        self._zoom_age += 1
        if self._zoom_age <= ZOOM_FREE_FRAMES:
            # A path's first frames: its zoom has no past to jump from (a start, a cut).
            rise = math.inf
        # A need far above the zoom (a knock) is met within a few frames, a small one at the set rate.
        rise = max(rise, ZOOM_CATCH_UP * (target - self._zoom))
        self._zoom = max(min(max(target, self._zoom - release), self._zoom + rise), 1.0)
        return self._zoom

    def _emit(self) -> Frame:
        held = self._window[0]
        image = held.frame.image
        h, w = self._hw
        out = self.output(image.shape)
        corr, wanted = self._emit_correction(held)
        zoom = 1.0
        if self.params.border == "zoom":
            zoom = self._border_zoom(held, corr)
            if needed_zoom(corr, self._hw) > zoom:
                # The zoom is still on its way up: the correction gives way rather than show a border.
                corr = self._snapped(scaled_to_fit(corr, zoom, self._hw))
        clamped = size_px(wanted - corr, self._hw)
        self._window.popleft()
        matrix = inverse_matrix(corr, zoom, w, h) if zoom > 1.0 or np.any(corr != 0.0) else None
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
        self.last_applied_px = size_px(corr, self._hw)
        self.last_clamped_px = clamped
        self.readout.add(self.last_applied_px, clamped, self.last_zoom)
        return held.frame.with_image(out)

    def _snapped(self, corr: np.ndarray) -> np.ndarray:
        """``corr``, or zero where it would move no pixel by ``SNAP_PX`` or more."""
        return np.zeros(4) if size_px(corr, self._hw) < SNAP_PX else corr
