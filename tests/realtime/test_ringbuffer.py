"""Ring buffer: named drop policies, exact drop counts, newest frame wins, real threads."""
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.run.ringbuffer import Closed, DropPolicy, RingBuffer


def put(ring, index):
    slot = ring.acquire_write(timeout_s=0.01)
    if slot is None:
        return False
    slot.index = index
    ring.publish(slot)
    return True


@settings(max_examples=60, deadline=None)
@given(capacity=st.integers(2, 6), ops=st.lists(st.sampled_from(["w", "r", "n"]), max_size=60))
def test_drop_oldest_model(capacity, ops):
    """Against a list model: never over capacity, drops counted exactly, reads in order or newest."""
    ring = RingBuffer(capacity, (1, 1, 3), DropPolicy.DROP_OLDEST)
    model, drops, written = [], 0, 0
    for op in ops:
        if op == "w":
            assert put(ring, written)
            model.append(written)
            written += 1
            if len(model) > capacity:
                model.pop(0)
                drops += 1
        else:
            slot = ring.acquire_read(timeout_s=0.0, newest=op == "n")
            if not model:
                assert slot is None
                continue
            if op == "n":
                drops += len(model) - 1
                model = model[-1:]
            assert slot.index == model.pop(0)
            ring.release(slot)
        assert len(ring) == len(model) <= capacity
        assert ring.drops == drops


def test_block_policy_waits_and_never_drops():
    ring = RingBuffer(2, (1, 1, 3), DropPolicy.BLOCK)
    assert put(ring, 0) and put(ring, 1)
    assert not put(ring, 2)  # full: the producer would wait
    assert ring.drops == 0


def test_producer_consumer_threads_deliver_every_frame_in_order():
    ring = RingBuffer(3, (2, 2, 3), DropPolicy.BLOCK)
    n = 500

    def produce():
        for i in range(n):
            slot = ring.acquire_write()
            slot.index = i
            slot.image[...] = i % 256
            ring.publish(slot)
        ring.close()

    t = threading.Thread(target=produce)
    t.start()
    seen = []
    while True:
        try:
            slot = ring.acquire_read(timeout_s=5)
        except Closed:
            break
        assert slot is not None and (slot.image == slot.index % 256).all()
        seen.append(slot.index)
        ring.release(slot)
    t.join(5)
    assert seen == list(range(n)) and ring.drops == 0


def test_close_wakes_a_waiting_producer():
    ring = RingBuffer(2, (1, 1, 3), DropPolicy.BLOCK)
    put(ring, 0), put(ring, 1)
    errors = []

    def blocked():
        try:
            ring.acquire_write()
        except Closed:
            errors.append("closed")

    t = threading.Thread(target=blocked)
    t.start()
    ring.close()
    t.join(5)
    assert errors == ["closed"]
    with pytest.raises(ValueError):
        RingBuffer(1, (1, 1, 3))
