"""Online global motion estimation between consecutive frames, on a small gray thumbnail.

One :class:`MotionEstimator` per stream.  Per frame it takes the float32 luma thumbnail of the new frame and returns the
similarity transform (translation, rotation, scale) that carries the previous frame's content onto the new one, in
full-resolution pixels, with a confidence and a scene-cut flag:

1. corners (``goodFeaturesToTrack``) of the previous thumbnail, spread over a grid so that no textured object can own
   the whole estimate.  The points tracked into the previous frame are reused there, and a grid cell is searched again
   only where too few of them survived (a pan brings new cells in; a search per cell per frame cost about a third of the
   estimate);
2. pyramidal Lucas-Kanade to the new thumbnail, with a forward-backward check (a point must come back to where it
   started) that drops occlusions and points on the moving foreground's edges;
3. a RANSAC similarity fit.  When a large moving foreground takes the majority of the tracks, the background is usually
   still the set that spans the frame: a second model is fitted to the outliers and the one whose inliers spread wider
   wins; where neither spreads clearly wider (a textured pet over a plain wall), the one that continues the camera's
   previous motion wins (temporal consistency), and where there is no previous motion (the first frames), the one that
   moves the frame far less (:data:`CALM_SHARE`).  Each track keeps a score of how often it followed the camera's motion
   on frames where the tracks moved more than one way (:data:`CAMERA_SCORE`); once enough tracks are known to be the
   camera's, they alone give its motion, or none is measured where they disagree: a pet over a plain floor holds most
   of the corners and at the end of its sway moves as the camera does, which neither spread nor continuity can tell.
   Fewer known tracks still decide between the two models, and a fit that more tracks known to be the foreground's
   follow is not taken (the floor's few tracks hidden under the pet).  The known tracks outlive the fresh corner search,
   which on a bare floor may not find them again.  The chosen motion is then refitted tightly (:data:`TIGHT_PX`) on
   its tracks that have not strayed from the camera's motion the same way over the last frames: texture that moves on
   its own by a fraction of a pixel a frame (running water, leaves) passes the loose fit and would pull the estimate
   along with it;
4. where there are too few corners (low texture), phase correlation of the
   two thumbnails gives a translation, trusted only with a clear peak.

A scene cut is a frame whose thumbnail's histogram no longer resembles the previous one while almost no track survives;
the caller then restarts its path.  Nothing here raises on bad input: black, flat, repeated or tiny frames give an
invalid (zero-confidence) or identity motion, never a NaN.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

#: Thumbnails smaller than this (either side) are not analysed: no motion, no cut.
MIN_THUMB_PX = 16
#: Two candidate motions whose corner movements differ by less than this (thumbnail px) are not told
#: apart by continuity (frame-to-frame shake changes the camera's motion by about that much).
CONTINUITY_PX = 3.0
#: Tracked points are reused as corners for at most this many frames, then searched afresh: a
#: point carried longer slides off its corner and adds noise (on a static shot, motion that is not there).
CARRY_FRAMES = 16
#: Reprojection threshold (thumbnail px) of the final fit: tracks on rigid background agree with the
#: camera's motion to a few hundredths of a pixel (a still camera over running water, the corpus's
#: tune half: median 0.03 px, 95% under 0.1), while texture that moves on its own (water, leaves, a
#: crowd) strays by tenths even from its own best fit (median 0.38 px): at 0.3 px a third of the
#: water's tracks passed, as many as the bank had, and the water could take the fit.  The loose
#: first fit (1 px) is only there to find the camera's motion.
TIGHT_PX = 0.15
#: Fewest tracks, as a share of the loose fit's, that the tight fit must keep: over running water the
#: bank may hold a fifth of the tracks.
TIGHT_SHARE = 0.15
#: Per-frame memory of a track's residual against the camera's motion: a track whose residuals keep
#: the same direction (texture flowing on its own) builds up a persistent residual; noise does not.
PERSIST_DECAY = 0.7
#: Persistent residual (thumbnail px) from which a track no longer takes part in the final fit.
PERSIST_PX = 0.45
#: Tracks known to be the camera's (:data:`CAMERA_SCORE`), fewest to give its motion alone.
CAMERA_TRACKS = 6
#: Fewest tracks known not to be the camera's that keep a fit they follow from being taken.
MIN_AGAINST = 3
#: Where nothing is known yet, a second group of tracks with at least this share of the majority's that moves the frame
#: far less is taken for the camera: a shaking camera's ground under a foreground that runs about, or a still camera's
#: ground around it.  A group that does not move at all must lie on every side of the other: a caption or a clock burnt
#: into the picture does not move either, but sits on one side.
CALM_SHARE = 0.3
#: Largest corner shift (thumbnail px) of a group of tracks that does not move at all.
STILL_PX = 0.1
#: A track's camera score: +1 for each frame it follows the camera's motion (within the loose fit), -1 for each it
#: does not, within +-CAMERA_SCORE, counted on frames where the tracks move more than one way (:data:`ALIKE_SHARE`);
#: it is the camera's while its score is above 0.
CAMERA_SCORE = 8.0
#: Share of the tracks following one motion from which a frame tells nothing about which tracks are the camera's.
ALIKE_SHARE = 0.9
#: A fresh corner within this distance (thumbnail px) of a track takes over its score (corners are searched afresh
#: every :data:`CARRY_FRAMES`; the score must outlive that).
LABEL_PX = 2.0


@dataclass(frozen=True)
class Motion:
    """Global motion from the previous frame to this one.

    The transform maps a point of the previous frame to the same scene point in this frame, about the frame centre
    ``c``: ``p_now - c = scale * R(angle_rad) @ (p_prev - c) + (dx_px, dy_px)``.

    Attributes
    ----------
    dx_px, dy_px : float
        Translation of the content at the frame centre, full-resolution pixels
        (x right, y down).  A camera panning right gives a negative ``dx_px``.
    angle_rad : float
        Rotation of the content, radians (positive turns +x towards +y).
    scale : float
        Zoom of the content (> 1: the content grew).
    confidence : float
        0 (no usable estimate) to 1 (many well spread inliers).
    valid : bool
        Whether the estimate may be used; when False the other fields are the identity.
    cut : bool
        A scene cut was detected at this frame (the motion is the identity).
    inliers : int
        Tracks agreeing with the transform.
    method : str
        ``"lk"``, ``"phase"``, ``"none"`` (first frame, cut, too small or no texture).
    """

    dx_px: float = 0.0
    dy_px: float = 0.0
    angle_rad: float = 0.0
    scale: float = 1.0
    confidence: float = 0.0
    valid: bool = False
    cut: bool = False
    inliers: int = 0
    method: str = "none"

    def matrix(self, width: int, height: int) -> np.ndarray:
        """The ``(2, 3)`` float64 forward matrix (previous -> current) about the top-left origin."""
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        ca, sa = self.scale * math.cos(self.angle_rad), self.scale * math.sin(self.angle_rad)
        return np.array([[ca, -sa, cx + self.dx_px - ca * cx + sa * cy],
                         [sa, ca, cy + self.dy_px - sa * cx - ca * cy]])


IDENTITY = Motion()


def similarity_about_centre(matrix: np.ndarray, cx: float, cy: float) -> tuple[float, float, float, float]:
    """Split a 2x3 partial-affine matrix into ``(dx, dy, angle, scale)`` about ``(cx, cy)``."""
    a, b = float(matrix[0, 0]), float(matrix[1, 0])
    scale, angle = math.hypot(a, b), math.atan2(b, a)
    dx = matrix[0, 0] * cx + matrix[0, 1] * cy + matrix[0, 2] - cx
    dy = matrix[1, 0] * cx + matrix[1, 1] * cy + matrix[1, 2] - cy
    return float(dx), float(dy), angle, scale


class MotionEstimator:
    """Frame-to-frame global similarity motion from luma thumbnails.

    Parameters
    ----------
    factor : float
        Full-resolution pixels per thumbnail pixel (translations are scaled by it).
    max_corners : int
        Corners tracked per frame.
    cut_threshold : float
        Histogram correlation below which (with few surviving tracks) a frame is a scene cut; 0 disables cut detection.
    min_confidence : float
        Estimates below this confidence are reported invalid.
    """

    def __init__(self, factor: float = 1.0, *, max_corners: int = 128, cut_threshold: float = 0.5,
                 min_confidence: float = 0.15) -> None:
        self.factor = float(factor)
        self.max_corners = int(max_corners)
        self.cut_threshold = float(cut_threshold)
        self.min_confidence = float(min_confidence)
        self._prev: np.ndarray | None = None
        self._prev_u8: np.ndarray | None = None
        self._prev_hist: np.ndarray | None = None
        self._prev_std = 0.0
        # Points tracked into the previous thumbnail (its coordinates), reused as its corners.
        self._carried: np.ndarray | None = None
        self._carried_frames = 0
        # Per carried point: its persistent residual against the camera's motion (thumbnail px).
        self._memory: np.ndarray | None = None
        # Per carried point: its camera score (CAMERA_SCORE), 0 for an unknown one.
        self._labels: np.ndarray | None = None
        # The camera's motion chosen at the previous frame (a 2x3 matrix), for temporal consistency.
        self._last_model: np.ndarray | None = None
        self._window: np.ndarray | None = None
        self._lk = dict(winSize=(11, 11), maxLevel=3,
                        criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.01))

    def reset(self) -> None:
        """Forget the previous frame (the next estimate is the identity)."""
        self._prev = self._prev_u8 = self._prev_hist = self._carried = self._memory = self._last_model = None
        self._labels = None

    def estimate(self, thumb: np.ndarray) -> Motion:
        """Motion from the previous thumbnail to ``thumb``; ``thumb`` becomes the previous one.

        Parameters
        ----------
        thumb : ndarray
            ``(h, w) float32`` luma in [0, 255], host memory.  Copied; the caller may reuse it.

        Returns
        -------
        Motion
            Full-resolution motion; invalid (identity) for the first frame, after a
            reset, on a cut, on tiny or textureless frames.
        """
        h, w = thumb.shape
        if h < MIN_THUMB_PX or w < MIN_THUMB_PX or not np.isfinite(thumb).all():
            self.reset()
            return IDENTITY
        cur = np.array(thumb, dtype=np.float32, copy=True)
        cur_u8 = cv2.convertScaleAbs(cur)
        hist = cv2.calcHist([cur_u8], [0], None, [32], [0, 256])
        cur_std = float(cur_u8.std())
        prev, prev_u8, prev_hist, prev_std = self._prev, self._prev_u8, self._prev_hist, self._prev_std
        self._prev, self._prev_u8, self._prev_hist, self._prev_std = cur, cur_u8, hist, cur_std
        if prev is None or prev.shape != cur.shape:
            self._carried = None
            return IDENTITY
        # Too flat to find corners in (the std of the previous thumbnail was taken last time).
        flat = prev_std < 2.0 or cur_std < 2.0
        if flat:
            self._carried = None
        motion, tracked_share = (None, 0.0) if flat else self._track(prev_u8, cur_u8)
        if motion is None:
            motion = self._phase(prev, cur)
        if self._is_cut(prev_hist, hist, prev, cur, tracked_share, motion):
            log.debug("scene cut (tracked share %.2f)", tracked_share)
            return Motion(cut=True)
        return IDENTITY if motion is None else motion

    # --- internals --------------------------------------------------------------------------
    def _corners(self, gray: np.ndarray, carried: np.ndarray | None = None,
                 memory: np.ndarray | None = None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Corners of ``gray`` per grid cell: the ``carried`` points (tracked into ``gray``) where
        a cell kept at least half its quota of them, a fresh search where it did not.

        Returns the corners ``(n, 1, 2)`` and each one's persistent residual ``(n, 2)`` (the
        carried points' ``memory``, zero for fresh ones), or ``(None, None)``.
        """
        h, w = gray.shape
        # A 4x4 grid, each cell capped, so a textured foreground cannot take all the corners
        # (and 16 small searches measured faster than one whole-frame search with a cap).
        per_cell = max(2, self.max_corners // 16)
        cell = None
        if carried is not None and len(carried):
            inside = ((carried[:, 0] >= 0) & (carried[:, 0] <= w - 1) & (carried[:, 1] >= 0)
                      & (carried[:, 1] <= h - 1))
            carried = carried[inside]
            memory = (np.zeros((len(inside), 2)) if memory is None else memory)[inside]
            cell = (np.minimum(carried[:, 1] * 4 // h, 3) * 4 + np.minimum(carried[:, 0] * 4 // w, 3)).astype(int)
        found, mem = [], []
        for i in range(4):
            for j in range(4):
                if cell is not None:
                    here = cell == i * 4 + j
                    kept = carried[here]
                    if 2 * len(kept) >= per_cell:
                        found.append(kept[:per_cell])
                        mem.append(memory[here][:per_cell])
                        continue
                r0, r1 = i * h // 4, (i + 1) * h // 4
                c0, c1 = j * w // 4, (j + 1) * w // 4
                pts = cv2.goodFeaturesToTrack(gray[r0:r1, c0:c1], per_cell, 0.01, 4, blockSize=5)
                if pts is not None:
                    found.append(pts.reshape(-1, 2) + np.float32((c0, r0)))
                    mem.append(np.zeros((len(found[-1]), 2)))
        if not found:
            return None, None
        return np.concatenate(found).astype(np.float32).reshape(-1, 1, 2), np.concatenate(mem)

    def _track(self, prev: np.ndarray, cur: np.ndarray) -> tuple[Motion | None, float]:
        """LK + RANSAC similarity; ``(None, share)`` when there is too little to fit."""
        carried, self._carried = self._carried, None
        memory, self._memory = self._memory, None
        labels, self._labels = self._labels, None
        self._carried_frames = self._carried_frames + 1 if carried is not None else 0
        reused = carried
        if self._carried_frames >= CARRY_FRAMES:
            # Fresh corners (with no residual memory): a point carried longer slides off its corner.
            reused, self._carried_frames = None, 0
        p0, mem0 = self._corners(prev, reused, memory)
        if reused is None and carried is not None and labels is not None and memory is not None:
            p0, mem0 = _with_known(p0, mem0, carried, memory, labels)
        if p0 is None or len(p0) < 8:
            return None, 0.0
        lab0 = _labels_at(p0.reshape(-1, 2), carried, labels)
        p1, st1, _ = cv2.calcOpticalFlowPyrLK(prev, cur, p0, None, **self._lk)
        if p1 is None:
            return None, 0.0
        back, st2, _ = cv2.calcOpticalFlowPyrLK(cur, prev, p1, None, **self._lk)
        fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
        good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < 0.5) & np.isfinite(fb)
        share = float(good.mean())
        # Every track that came back is a corner of the new frame for the next estimate (a moving
        # foreground's too, as a fresh search would find them: the model choice stays per frame).
        self._carried = p1.reshape(-1, 2)[good]
        a, b = p0.reshape(-1, 2)[good], p1.reshape(-1, 2)[good]
        mem = self._memory = mem0[good]
        lab = self._labels = lab0[good]
        if len(a) < 8:
            return None, share
        h, w = prev.shape
        camera = lab > 0
        if camera.sum() >= CAMERA_TRACKS:
            # Tracks known to be the camera's (see CAMERA_SCORE) decide alone: a foreground that moves on its own over a
            # plain background holds most of the tracks, and at times moves much as the camera does.
            known = np.flatnonzero(camera)
            pick, inl = _ransac(a[known], b[known])
            if pick is None or inl.sum() < 0.5 * len(known):
                # They disagree: nothing is measured this frame (the caller holds the path; phase correlation would
                # take the motion of the strongest texture, the foreground's).
                self._last_model = None
                return IDENTITY, share
            # Their motion picks the tracks that follow it, all of them, for the tight refit below: the known ones
            # alone may be too few for it to leave out texture that creeps (a flower opening, water).
            pick_inl = _residuals(pick, a, b) < 1.0
        else:
            pick, pick_inl = self._majority(a, b, w, h, camera)
            if pick is None:
                return None, share
            against, known = int((lab[pick_inl] < 0).sum()), int((lab[pick_inl] != 0).sum())
            if against > max(known - against, MIN_AGAINST - 1):
                # Of the tracks it follows, more are known not to be the camera's than to be (the foreground, where
                # the ground's tracks have run out): nothing is measured this frame, as where the known tracks disagree.
                # The tracks that follow it are the foreground's too, fresh ones included, so that its score outlives
                # the tracks it started on.
                self._labels = np.clip(lab - (_residuals(pick, a, b) < 1.0), -CAMERA_SCORE, CAMERA_SCORE)
                self._last_model = None
                return IDENTITY, share
        pick, pick_inl, rigid = self._rigid(pick, pick_inl, a, b, mem)
        follows = _residuals(pick, a, b) < 1.0  # the loose fit: the tight one also leaves out noisier tracks
        if follows.mean() < ALIKE_SHARE:
            # Only a frame where tracks move two ways tells the camera's from the rest.
            self._labels = np.clip(lab + np.where(follows, 1.0, -1.0), -CAMERA_SCORE, CAMERA_SCORE)
        # Tracks rigid to a fraction of a pixel are the camera's however few they are among the rest (the bank of
        # running water): their share of all the tracks does not lower the confidence.
        n_in = int(pick_inl.sum())
        chosen = self._motion(pick, n_in, n_in if rigid else len(a), w, h, a[pick_inl])
        self._last_model = pick if chosen is not None else None
        if chosen is None and (rigid or camera.sum() >= CAMERA_TRACKS):
            # The camera's tracks (known ones, or the tight fit's) are too few or too close together for a rotation
            # and a zoom: their median shift is the translation (phase correlation would take the motion of the
            # frame's strongest texture, the foreground's or the water's where there is one).
            if n_in < 3:
                return IDENTITY, share
            dx, dy = np.median(b[pick_inl] - a[pick_inl], axis=0)
            return Motion(float(dx) * self.factor, float(dy) * self.factor, 0.0, 1.0, self.min_confidence, True, False,
                          n_in, "lk"), share
        return chosen, share

    def _majority(self, a: np.ndarray, b: np.ndarray, w: int, h: int,
                  camera: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The camera's motion where too few tracks are known to be the camera's to give it alone: the RANSAC
        similarity of the majority, or of a second motion that more of the known ``camera`` tracks follow; where none
        is known, the second one where it has real support and its inliers span more of the frame, or where it moves
        the frame far less with no motion before it (:data:`CALM_SHARE`), or where it goes on from the camera's last
        motion (a textured foreground moving on its own can hold the majority over a plain background)."""
        model, inl = _ransac(a, b)
        if model is None:
            return None, None
        inl = inl.ravel().astype(bool)
        if inl.sum() < 0.8 * len(a) and (~inl).sum() >= 8:
            rest = np.flatnonzero(~inl)
            model2, inl2 = _ransac(a[rest], b[rest])
            if model2 is not None:
                inl2 = inl2.ravel().astype(bool)
                votes, votes2 = int(camera[inl].sum()), int(camera[rest[inl2]].sum())
                if votes or votes2:
                    second = votes2 > votes
                else:
                    group, group2 = a[inl], a[rest][inl2]
                    wider = inl2.sum() >= 0.5 * inl.sum() and _spread(group2, w, h) > 1.3 * _spread(group, w, h)
                    moves = _corner_distance(model2, _STILL, w, h) > STILL_PX
                    calmer = (inl2.sum() >= max(8, CALM_SHARE * inl.sum()) and self._last_model is None
                              and _closer(model2, model, _STILL, w, h) and (moves or _surrounds(group2, group)))
                    second = wider or calmer or (inl2.sum() >= 8 and self._continues(model2, model, w, h))
                if second:
                    pick_inl = np.zeros(len(a), bool)
                    pick_inl[rest[inl2]] = True
                    return model2, pick_inl
        return model, inl

    def _rigid(self, model: np.ndarray, inl: np.ndarray, a: np.ndarray, b: np.ndarray,
               mem: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """The camera's motion from the tracks on rigid ground: ``model`` refitted on its inliers
        that agree to :data:`TIGHT_PX` and have not strayed the same way over recent frames.

        The loose fit takes in texture that moves on its own by a few tenths of a pixel a frame (running water, leaves)
        and is pulled along with it.  Such tracks stray from the camera's motion in the same direction frame after
        frame, so their residual memory ``mem`` (carried with the tracks) grows while the background's stays at the
        noise; the tight fit leaves them out.  The memory is then updated against the motion found.  Returns
        ``(model, inl, True)`` from the tight fit, or the loose ``(model, inl, False)`` where too few tracks are left
        for a trustworthy one.
        """
        steady = inl & (np.hypot(mem[:, 0], mem[:, 1]) < PERSIST_PX)
        enough = max(8, TIGHT_SHARE * inl.sum())
        rigid = False
        if steady.sum() >= enough:
            tight, tinl = _ransac(a[steady], b[steady], TIGHT_PX)
            if tight is not None and tinl.sum() >= enough:
                model, inl, rigid = tight, np.zeros(len(a), bool), True
                inl[np.flatnonzero(steady)[tinl.ravel().astype(bool)]] = True
        self._memory = PERSIST_DECAY * mem + (b - _landing(model, a))
        return model, inl, rigid

    def _continues(self, model: np.ndarray, other: np.ndarray, w: int, h: int) -> bool:
        """Whether ``model`` is much closer than ``other`` to the camera's motion at the previous frame."""
        return self._last_model is not None and _closer(model, other, self._last_model, w, h)

    def _motion(self, model: np.ndarray, n_in: int, n_all: int, w: int, h: int, pts: np.ndarray) -> Motion | None:
        if not np.all(np.isfinite(model)):
            return None
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        dx, dy, angle, scale = similarity_about_centre(model, cx, cy)
        # Hand-held cameras do not zoom 10% or turn 20 degrees between two frames: that is a bad fit.
        if not (0.9 < scale < 1.1) or abs(angle) > 0.35:
            return None
        conf = min(1.0, n_in / 40.0) * min(1.0, 2.0 * n_in / max(n_all, 1)) * min(1.0, 2.0 * _spread(pts, w, h))
        if conf < self.min_confidence:
            return None
        return Motion(dx * self.factor, dy * self.factor, angle, scale, conf, True, False, n_in, "lk")

    def _phase(self, prev: np.ndarray, cur: np.ndarray) -> Motion | None:
        if float(prev.std()) < 2.0 or float(cur.std()) < 2.0:
            return None
        if self._window is None or self._window.shape != prev.shape:
            self._window = cv2.createHanningWindow((prev.shape[1], prev.shape[0]), cv2.CV_32F)
        (sx, sy), response = cv2.phaseCorrelate(prev, cur, self._window)
        if (not (math.isfinite(sx) and math.isfinite(sy)) or response < 0.2
                or abs(sx) > prev.shape[1] / 4 or abs(sy) > prev.shape[0] / 4):
            return None
        conf = min(1.0, float(response))
        if conf < self.min_confidence:
            return None
        return Motion(sx * self.factor, sy * self.factor, 0.0, 1.0, conf, True, False, 0, "phase")

    def _is_cut(self, prev_hist: np.ndarray, hist: np.ndarray, prev: np.ndarray, cur: np.ndarray,
                tracked_share: float, motion: Motion | None) -> bool:
        if self.cut_threshold <= 0 or (motion is not None and motion.confidence > 0.5):
            return False
        corr = cv2.compareHist(prev_hist, hist, cv2.HISTCMP_CORREL)
        if not math.isfinite(corr):
            corr = 1.0 if float(np.abs(prev - cur).mean()) < 1.0 else 0.0
        # Another histogram; or the same one, another picture (a rotated or rearranged scene): almost
        # no track survives, no shift explains the change, and the pictures differ a lot.
        return corr < self.cut_threshold or (tracked_share < 0.2 and motion is None
                                             and float(np.abs(prev - cur).mean()) > 20.0)


def _ransac(a: np.ndarray, b: np.ndarray, threshold: float = 1.0) -> tuple[np.ndarray | None, np.ndarray | None]:
    model, inl = cv2.estimateAffinePartial2D(a, b, method=cv2.RANSAC, ransacReprojThreshold=threshold,
                                             maxIters=500, confidence=0.99, refineIters=10)
    return (None, None) if model is None or inl is None else (model, inl)


def _landing(model: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Where the 2x3 ``model`` takes the points ``a``."""
    return a @ model[:, :2].T + model[:, 2]


def _residuals(model: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How far (thumbnail px) each track ``a -> b`` lands from where ``model`` takes it."""
    return np.linalg.norm(b - _landing(model, a), axis=1)


def _labels_at(points: np.ndarray, carried: np.ndarray | None, labels: np.ndarray | None) -> np.ndarray:
    """Per point, the camera score of the carried track at (or within :data:`LABEL_PX` of) it; 0 where there is
    none."""
    out = np.zeros(len(points))
    if carried is None or labels is None or not len(points) or not np.any(labels):
        return out  # no score yet (a scene whose tracks all move alike): nothing to look up
    diff = points[:, None, :] - carried[None, :, :]
    d2 = np.einsum("ijk,ijk->ij", diff, diff)
    nearest = d2.argmin(axis=1)
    close = d2[np.arange(len(points)), nearest] <= LABEL_PX * LABEL_PX
    out[close] = labels[nearest[close]]
    return out


def _with_known(p0: np.ndarray | None, mem0: np.ndarray | None, carried: np.ndarray, memory: np.ndarray,
                labels: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Fresh corners ``p0`` (``(n, 1, 2)``, residual memories ``mem0``) plus the carried tracks known to be the
    camera's that no fresh corner takes over (within :data:`LABEL_PX`).

    Ground with few corners (a plain floor under a pet) may not give them back to a fresh search, and with them
    would go the only evidence of which tracks are the camera's.
    """
    known = labels > 0
    if not known.any():
        return p0, mem0
    extra, extra_mem = carried[known], memory[known]
    if p0 is not None and len(p0):
        diff = extra[:, None, :] - p0.reshape(-1, 2)[None, :, :]
        taken = np.einsum("ijk,ijk->ij", diff, diff).min(axis=1) <= LABEL_PX * LABEL_PX
        extra, extra_mem = extra[~taken], extra_mem[~taken]
        if not len(extra):
            return p0, mem0
        return (np.concatenate([p0.reshape(-1, 2), extra]).astype(np.float32).reshape(-1, 1, 2),
                np.concatenate([mem0, extra_mem]))
    return extra.astype(np.float32).reshape(-1, 1, 2), extra_mem


#: The motion of a camera that does not move (2x3).
_STILL = np.float64([[1, 0, 0], [0, 1, 0]])


def _corner_distance(model: np.ndarray, reference: np.ndarray, w: int, h: int) -> float:
    """How far apart ``model`` and ``reference`` take the frame's corners, at most (thumbnail px): motions compared
    where it matters."""
    corners = np.float64([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]])
    return float(np.abs(corners @ model.T - corners @ reference.T).max())


def _closer(model: np.ndarray, other: np.ndarray, reference: np.ndarray, w: int, h: int) -> bool:
    """Whether ``model`` is much closer than ``other`` to ``reference`` (``other`` more than :data:`CONTINUITY_PX`
    from it, ``model`` under half as far)."""
    far = _corner_distance(other, reference, w, h)
    return far > CONTINUITY_PX and _corner_distance(model, reference, w, h) < 0.5 * far


def _surrounds(pts: np.ndarray, other: np.ndarray) -> bool:
    """Whether ``pts`` lie on every side of ``other``'s centre: left and right of it, above and below it."""
    d = pts - other.mean(axis=0)
    return bool((d > 0).any(axis=0).all() and (d < 0).any(axis=0).all())


def _spread(pts: np.ndarray, w: int, h: int) -> float:
    """Share of the frame's width x height covered by the points' 10-90 percentile box."""
    if len(pts) < 2:
        return 0.0
    lo, hi = np.percentile(pts, (10, 90), axis=0)
    return float((hi[0] - lo[0]) * (hi[1] - lo[1]) / max(w * h, 1))
