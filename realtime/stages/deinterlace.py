"""``deinterlace`` stage: combing and field-order detection, then field interpolation or blending.

Per frame (see :mod:`kernels.deinterlace` for the pixel work):

1. **Which frames.** With ``frames=auto`` a source flagged interlaced (``tff``/``bff``, given by
   :meth:`DeinterlaceStage.set_source`) has every frame deinterlaced; any other source goes
   through a combing detector.  ``all`` deinterlaces every frame, ``combed`` trusts only the
   detector.  Frames judged progressive leave untouched (the very same image).
2. **The detector** (:class:`FieldDetector`) compares a few sampled rows of this frame and the previous one: progressive
   frames weave best with themselves and pair their fields symmetrically with the previous frame; woven fields of a
   moving scene zig-zag within the frame and pair best with the previous frame's field that is next in time, which also
   names the field order.  One clear vote turns interlaced mode on; ``release`` progressive votes in a row turn it off
   (hysteresis: no flapping, and a still scene, which cannot tell, keeps the mode).
3. **Field order.** ``order=tff|bff`` is used as given; ``auto`` takes the source's flag, else the
   detector's running vote (top field first until it knows).
4. **Modes.** ``adaptive`` (default) keeps the first field and interpolates the second,
   motion-adaptively, with one field of lookahead (no added latency); ``bob`` outputs every field
   as a frame (twice the frame rate; the second field of a frame leaves with the next input, one
   frame late); ``blend`` averages the fields (no motion artefacts, half the vertical detail).

The first frame (and the first after progressive frames) has no previous field, so it is interpolated spatially.  Frames
under two rows pass unchanged.  I420 frames are deinterlaced plane by plane with the same field parity (in interlaced
4:2:0 the chroma rows alternate fields too, as ffmpeg's bwdif and yadif treat them); detection looks at the Y plane.
History and motion memory are kept as whole I420 arrays, so each plane has its own.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from kernels.backend import Backend
from kernels.comb import PROBE_ROWS, comb_measures, comb_probe, probe_layout
from kernels.deinterlace import blend_fields, interpolate_field
from kernels.planes import i420_planes, is_i420
from realtime.run.frames import Frame
from realtime.stages.base import Stage
from realtime.stages.params import DeinterlaceParams

log = logging.getLogger(__name__)

#: Field order names -> parity of the first field's rows (0: even rows, the top field).
FIRST_FIELD_PARITY = {"tff": 0, "bff": 1}
#: Detector thresholds, from the measures of the shared clips: progressive frames stayed within
#: 0.95..1.06 (pairing asymmetry) and under 0.63 (zig-zag ratio); woven fields above 1.9 and 1.18.
ASYMMETRY_INTERLACED = 1.25
ASYMMETRY_SYMMETRIC = 1.1
ZIGZAG_INTERLACED = 1.0
ZIGZAG_PROGRESSIVE = 0.8
#: A progressive vote needs motion: the frame's own weave clearly better than the cross pairings.
OWN_BELOW_CROSS = 0.8
#: Mean second difference (levels) under which a frame is too flat to judge.
MIN_ACTIVITY = 0.5
#: Weight of older order votes per frame.
ORDER_DECAY = 0.9


def kernel_arrays(image: Any) -> tuple[Any, ...]:
    """What the kernels take: a BGR image as is, or the Y, Cb, Cr planes of an I420 frame as ``(h, w, 1)`` views."""
    return tuple(plane[:, :, None] for plane in i420_planes(image)) if is_i420(image) else (image,)


class Vote:
    NONE = "none"
    PROGRESSIVE = "progressive"
    INTERLACED = "interlaced"


def classify(measures: np.ndarray, has_prev: bool) -> tuple[str, float]:
    """One frame's :class:`Vote` and its field-order evidence from :func:`kernels.comb.comb_measures`.

    ``measures`` are ``(own, tff, bff, field)``; ``tff``/``bff`` are meaningless without a previous
    frame (``has_prev``).  The evidence is ``log(bff / tff)``: positive says top field first,
    negative bottom field first, 0 no evidence.
    """
    own, tff, bff, field = (float(v) for v in measures)
    zigzag = own / field if field > 0 else (math.inf if own > MIN_ACTIVITY else 0.0)
    if not has_prev:
        return (Vote.INTERLACED if own > MIN_ACTIVITY and zigzag > ZIGZAG_INTERLACED else Vote.NONE), 0.0
    if max(own, tff, bff) < MIN_ACTIVITY:
        return Vote.NONE, 0.0
    asym = (bff + 1e-6) / (tff + 1e-6)
    order = math.log(asym) if abs(math.log(asym)) > math.log(ASYMMETRY_SYMMETRIC) else 0.0
    cross = min(tff, bff)
    if (asym > ASYMMETRY_INTERLACED or asym < 1.0 / ASYMMETRY_INTERLACED
            or zigzag > ZIGZAG_INTERLACED and own > OWN_BELOW_CROSS * cross):
        return Vote.INTERLACED, order
    if order == 0.0 and zigzag < ZIGZAG_PROGRESSIVE and own < OWN_BELOW_CROSS * cross:
        return Vote.PROGRESSIVE, 0.0
    return Vote.NONE, order


class FieldDetector:
    """Per-frame votes turned into a steady interlaced/progressive state and a field order (``release``:
    progressive votes in a row that end interlaced mode)."""

    def __init__(self, release: int) -> None:
        self.release = release
        #: Votes so far (kept across resets), for stats and tests.
        self.votes = {Vote.NONE: 0, Vote.PROGRESSIVE: 0, Vote.INTERLACED: 0}
        self.reset()

    def reset(self) -> None:
        self.interlaced = False
        self._progressive_run = 0
        self._order = 0.0

    @property
    def order(self) -> str:
        """The field order the votes point to (``tff`` until there is evidence)."""
        return "bff" if self._order < 0 else "tff"

    def update(self, vote: str, order: float) -> bool:
        """Take one frame's vote; return whether the frame is to be deinterlaced."""
        self.votes[vote] += 1
        self._order = ORDER_DECAY * self._order + order
        if vote == Vote.INTERLACED:
            if not self.interlaced:
                log.info("deinterlace: combing detected, deinterlacing")
            self.interlaced = True
            self._progressive_run = 0
        elif vote == Vote.PROGRESSIVE:
            self._progressive_run += 1
            if self.interlaced and self._progressive_run >= self.release:
                log.info("deinterlace: %d progressive frames in a row, passing frames through", self.release)
                self.interlaced = False
        return self.interlaced


class DeinterlaceStage(Stage):
    """Deinterlacer with combing detection; one frame per frame, or two in ``bob`` mode."""

    name = "deinterlace"
    Params = DeinterlaceParams
    planar = True

    def __init__(self, params: DeinterlaceParams, backend: Backend) -> None:
        super().__init__(params, backend)
        self.bob = params.mode == "bob"
        self.rate_factor = 2 if self.bob else 1
        # A bob frame's second field leaves with the next input frame.
        self.delay_frames = 1 if self.bob else 0
        self.detector = FieldDetector(params.release)
        self._flag: str | None = None
        self._field_s: float | None = None
        #: Frames deinterlaced (kept across resets).
        self.deinterlaced = 0
        self.reset()

    # --- source hint ---------------------------------------------------------------------------
    def set_source(self, info: Any) -> Any:
        """Take the source's description (its field-order flag and rate); return the output's: progressive,
        at ``rate_factor`` times the rate, with a time base fine enough for field-rate timestamps."""
        order = getattr(info, "field_order", None)
        self._flag = order if order in FIRST_FIELD_PARITY else None
        if self._flag:
            log.info("deinterlace: source flagged %s", self._flag)
        changes: dict[str, Any] = {"field_order": "progressive"}
        fps = Fraction(info.fps) if getattr(info, "fps", None) else None
        if fps:
            self._field_s = 0.5 / float(fps)
            changes["fps"] = fps * self.rate_factor
        time_base = getattr(info, "time_base", None)
        if time_base:
            changes["time_base"] = Fraction(time_base) / self.rate_factor
        return dataclasses.replace(info, **changes)

    # --- stage protocol ------------------------------------------------------------------------
    def reset(self) -> None:
        self.detector.reset()
        self._count = 0                   # frames taken since the reset
        self._saved: dict[int, int] = {}  # history slot -> frame number it holds
        self._memory_ok = [False, False]  # motion memory valid, per kept parity
        self._probe_flip = 0
        self._have_probe = False
        self._held: Frame | None = None   # bob: frame whose second field is still to go
        self._held_parity = 0
        self._last_pts: float | None = None
        self._period_s: float | None = None

    def push(self, frame: Frame) -> Sequence[Frame]:
        image = frame.image
        out: list[Frame] = []
        if self._held is not None and tuple(image.shape) != getattr(self, "_size", None):
            out.extend(self._emit_second(None))  # the old size's last field first
        self.follow_size(image)
        if self._last_pts is not None and frame.pts_s > self._last_pts:
            self._period_s = frame.pts_s - self._last_pts
        interlaced, parity = self._decide(image)
        self.deinterlaced += interlaced  # every mode deinterlaces exactly the frames judged interlaced
        if self.bob:
            if self._held is not None:
                out.extend(self._emit_second(frame))
            out.extend(self._push_bob(frame, interlaced, parity))
        elif not interlaced:
            out.append(self._pass(frame))
        elif self.params.mode == "blend":
            result = self.output(image.shape)
            for plane, dst in zip(kernel_arrays(image), kernel_arrays(result)):
                blend_fields(plane, out=dst, backend=self.backend)
            out.append(frame.with_image(result))
        else:
            out.append(frame.with_image(self._first_field(frame, parity, self.output(image.shape))))
        self._last_pts = frame.pts_s
        self._count += 1
        return out

    def flush(self) -> Sequence[Frame]:
        out = self._emit_second(None) if self._held is not None else []
        self.reset()
        return out

    # --- internals -----------------------------------------------------------------------------
    def _decide(self, image: Any) -> tuple[bool, int]:
        """Whether to deinterlace this frame, and the parity of its first field's rows."""
        p = self.params
        flagged = self._flag is not None and p.frames == "auto"
        fixed_order = p.order != "auto" or self._flag is not None
        if image.shape[0] < 2:
            return False, 0
        if not ((p.frames == "all" or flagged) and fixed_order):
            vote, order = self._vote(image)
            self.detector.update(vote, order)
        interlaced = p.frames == "all" or flagged or self.detector.interlaced
        return interlaced, FIRST_FIELD_PARITY[p.order if p.order != "auto" else (self._flag or self.detector.order)]

    def _vote(self, image: Any) -> tuple[str, float]:
        image = kernel_arrays(image)[0]  # BGR, or the luma plane
        height, width = image.shape[:2]
        rows, col_step, cols = probe_layout(height, width)
        if rows.size == 0:
            return Vote.NONE, 0.0
        shape = (rows.size, PROBE_ROWS, cols)
        flip = self._probe_flip
        cur = comb_probe(image, self._probe_rows(rows), col_step, out=self.buffer(f"probe{flip}", shape, "float32"),
                         backend=self.backend)
        if self.backend.is_cuda:
            cur = self.backend.to_host(cur, out=self.buffer(f"probe_host{flip}", shape, "float32", host=True))
        prev = self._buffers.get(f"probe_host{1 - flip}" if self.backend.is_cuda else f"probe{1 - flip}")
        has_prev = self._have_probe and prev is not None and prev.shape == shape
        self._probe_flip = 1 - flip
        self._have_probe = True
        return classify(comb_measures(prev if has_prev else cur, cur), has_prev)

    def _probe_rows(self, rows: np.ndarray) -> Any:
        key = ("probe_rows", rows.size, int(rows[-1]))
        if getattr(self, "_rows_key", None) != key:
            self._rows_key = key
            self._rows = self.backend.asarray(rows)
        return self._rows

    def _history_slot(self, age: int) -> int:
        """History slot of the frame ``age`` frames before the current one (0: the current one)."""
        return (self._count - age) % (3 if self.bob else 2)

    def _saved_frame(self, age: int, shape: tuple[int, ...]) -> Any:
        """The frame ``age`` frames back, if it was saved to history (it was deinterlaced), else None."""
        frame, slot = self._count - age, self._history_slot(age)
        return self.buffer(f"hist{slot}", shape) if frame >= 0 and self._saved.get(slot) == frame else None

    def _pass(self, frame: Frame) -> Frame:
        self._memory_ok = [False, False]  # the next interlaced frame starts without history
        return frame

    def _first_field(self, frame: Frame, parity: int, out: Any) -> Any:
        """Interpolate the second field of ``frame`` (first field kept), keeping the frame itself as history
        (nobody writes into a frame's buffer while it is held, :mod:`realtime.run.buffers`)."""
        image = frame.image
        prev = self._saved_frame(1, image.shape)
        self._buffers[f"hist{self._history_slot(0)}"] = image
        self._interpolate(image, parity, before=prev, after=image if prev is not None else None, kept_prev=prev,
                          kept_next=None, out=out)
        self._saved[self._history_slot(0)] = self._count
        self._memory_ok[parity] = prev is not None
        return out

    def _interpolate(self, image: Any, parity: int, **frames: Any) -> None:
        """:func:`interpolate_field` on a BGR image, or on each plane of an I420 frame (same parity).

        ``frames``: the other array arguments, whole images (or None) like ``image``.  The motion memory
        is one buffer of the image's shape, so each plane has its own.
        """
        frames["memory"] = self.buffer("memory", image.shape)
        views = {name: kernel_arrays(value) if value is not None else None for name, value in frames.items()}
        for i, plane in enumerate(kernel_arrays(image)):
            interpolate_field(plane, parity=parity, use_memory=self._memory_ok[parity], backend=self.backend,
                              **{name: v[i] if v is not None else None for name, v in views.items()})

    def _push_bob(self, frame: Frame, interlaced: bool, parity: int) -> list[Frame]:
        if not interlaced:
            # Progressive frames are shown twice, so the output rate stays twice the input's.
            frame = self._pass(frame)
            return [dataclasses.replace(frame, index=2 * frame.index),
                    dataclasses.replace(frame, index=2 * frame.index + 1,
                                        pts_s=frame.pts_s + self._field_period())]
        image = frame.image
        first = self._first_field(frame, parity, self.output(image.shape))
        self._held = frame.with_image(self.buffer(f"hist{self._history_slot(0)}", image.shape))
        self._held_parity = parity
        return [dataclasses.replace(frame, image=first, index=2 * frame.index)]

    def _emit_second(self, following: Frame | None) -> list[Frame]:
        """The held frame's second field, timed between it and ``following`` (the next frame), if given;
        called while ``following`` is being pushed, or at the end: the held frame is one frame back."""
        held, self._held = self._held, None
        image = held.image
        parity = 1 - self._held_parity
        older = self._saved_frame(2, image.shape)
        nxt = following.image if following is not None and following.image.shape == image.shape else None
        result = self.output(image.shape)
        self._interpolate(image, parity, before=image, after=image if nxt is None else nxt,
                          kept_prev=image if older is None else older, kept_next=nxt, out=result)
        self._memory_ok[parity] = True
        pts = 0.5 * (held.pts_s + following.pts_s) if nxt is not None else held.pts_s + self._field_period()
        return [dataclasses.replace(held, image=result, index=2 * held.index + 1, pts_s=pts)]

    def _field_period(self) -> float:
        """Half a frame period: from the timestamps, else the source's rate, else that of 50 Hz fields."""
        return 0.5 * self._period_s if self._period_s is not None else self._field_s or 0.02
