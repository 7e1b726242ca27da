"""The buffer pool hands a buffer out again only once nobody holds it, nor a view of it."""
import numpy as np

from realtime.run.buffers import BufferPool


def test_a_held_buffer_is_not_handed_out_and_a_free_one_is_reused():
    pool = BufferPool()
    a = pool.acquire((4, 6))
    a_address = a.ctypes.data
    b = pool.acquire((4, 6))
    assert b is not a and len(pool) == 2
    del a
    c = pool.acquire((4, 6))
    assert c.ctypes.data == a_address and len(pool) == 2


def test_a_view_holds_its_buffer():
    pool = BufferPool()
    a = pool.acquire((4, 6))
    rows = a[1:3]
    del a
    b = pool.acquire((4, 6))
    assert not np.shares_memory(b, rows)
    del rows, b
    assert len(pool) == 2 and pool.acquire((4, 6)) is not None and len(pool) == 2


def test_shapes_and_dtypes_have_their_own_buffers_and_a_new_size_drops_free_old_ones():
    pool = BufferPool()
    small = pool.acquire((2, 2))
    wide = pool.acquire((2, 2), np.float32)
    assert small.dtype == np.uint8 and wide.dtype == np.float32 and len(pool) == 2
    del wide
    pool.acquire((8, 8))           # a new size: the free float buffer goes, the held one stays
    assert len(pool) == 2
    assert pool.acquire((2, 2)) is not small


def test_the_allocator_is_asked_only_for_new_buffers():
    made = []

    def allocate(shape, dtype):
        made.append(shape)
        return np.empty(shape, dtype)

    pool = BufferPool(allocate)
    for _ in range(5):
        pool.acquire((3, 3))       # each dropped at once: one buffer serves every call
    assert made == [(3, 3)]
