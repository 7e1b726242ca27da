"""The capture thread: slots allocated by the caller's allocator, and frames held for lookahead."""
from fractions import Fraction

import numpy as np
import pytest

from kernels.colorspace import YuvFormat
from realtime.run.capture import Capture
from realtime.run.ringbuffer import DropPolicy
from realtime.sources.files import SourceInfo


class CountingSource:
    """Frames whose every pixel is their index."""

    def __init__(self, n: int, shape=(6, 8)) -> None:
        self.n = n
        self.info = SourceInfo("counting", shape[1], shape[0], Fraction(25), n, YuvFormat("bt601", False))
        self._i = 0

    def read_into(self, slot) -> bool:
        if self._i >= self.n:
            return False
        slot.ensure_shape((self.info.height, self.info.width, 3))[...] = self._i
        slot.index, slot.pts_s, slot.capture_s = self._i, self._i / 25, 0.0
        self._i += 1
        return True

    def close(self) -> None:
        pass


def test_slots_come_from_the_given_allocator():
    made = []

    def allocate(shape):
        made.append(shape)
        return np.empty(shape, np.uint8)

    with Capture(CountingSource(3), DropPolicy.BLOCK, slots=4, allocate=allocate) as cap:
        assert [f.index for f in cap.frames()] == [0, 1, 2]
    assert made == [(6, 8, 3)] * 4


@pytest.mark.parametrize("hold", [1, 2, 3])
def test_held_frames_stay_intact_until_hold_more_are_read(hold):
    with Capture(CountingSource(12), DropPolicy.BLOCK, slots=4) as cap:
        window = []
        for frame in cap.frames(hold=hold):
            window = (window + [frame])[-hold:]
            # Every frame still held shows its own index: its slot has not been refilled.
            assert all((f.image == f.index).all() for f in window)
        assert window[-1].index == 11


def test_hold_must_leave_the_producer_a_slot():
    with Capture(CountingSource(2), DropPolicy.BLOCK, slots=3) as cap:
        with pytest.raises(ValueError, match="hold must be 1..2"):
            next(cap.frames(hold=3))
