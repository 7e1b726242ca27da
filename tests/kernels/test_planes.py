"""I420 frame layout: shapes, plane views, bad sizes."""
import numpy as np
import pytest

from kernels.planes import i420_planes, i420_shape, i420_size, is_i420, yuv_black


def test_planes_are_views_in_decoder_order():
    frame = np.arange(6 * 8 * 3 // 2, dtype=np.uint8).reshape(i420_shape(6, 8))
    y, u, v = i420_planes(frame)
    assert (y.shape, u.shape, v.shape) == ((6, 8), (3, 4), (3, 4))
    assert y[0, 0] == 0 and u[0, 0] == 48 and v[0, 0] == 60 and v[-1, -1] == 71
    y[1, 1] = 7
    assert frame.reshape(-1)[9] == 7  # a view, not a copy
    assert i420_size(frame) == (6, 8) and is_i420(frame) and not is_i420(np.zeros((6, 8, 3), np.uint8))


def test_chroma_planes_of_an_odd_half_height_are_whole():
    # 10 rows: 5 chroma rows do not fill whole rows of the (H*3/2, W) array; the views still work.
    frame = np.zeros(i420_shape(10, 4), np.uint8)
    y, u, v = i420_planes(frame)
    u[...] = 1
    v[...] = 2
    assert (frame.reshape(-1)[40:50] == 1).all() and (frame.reshape(-1)[50:] == 2).all()


@pytest.mark.parametrize("size", [(5, 8), (6, 7), (0, 4)])
def test_odd_or_empty_sizes_are_refused(size):
    with pytest.raises(ValueError, match="even"):
        i420_shape(*size)


def test_black():
    assert yuv_black(False) == (16, 128, 128) and yuv_black(True) == (0, 128, 128)


def test_luma_and_both_chroma_planes_as_one_view():
    from kernels.planes import i420_luma_chroma

    frame = np.arange(4 * 6 * 3 // 2, dtype=np.uint8).reshape(i420_shape(4, 6))
    luma, chroma = i420_luma_chroma(frame)
    y, u, v = i420_planes(frame)
    assert chroma.shape == (2, 2, 3)
    assert np.array_equal(luma, y) and np.array_equal(chroma[0], u) and np.array_equal(chroma[1], v)
    chroma[1, 0, 0] = 99
    assert v[0, 0] == 99
