"""I420 frames: planar 8-bit Y'CbCr 4:2:0 held in one ``(H * 3 // 2, W)`` uint8 array.

The layout is the decoder's and the encoder's own (Y, then Cb, then Cr, each
plane contiguous), so a file whose every stage works on planes is never
converted to BGR: no colour conversion in, none out.  ``H`` and ``W`` are even.
The plane views work the same on NumPy and CuPy arrays.
"""
from __future__ import annotations

from typing import Any


def i420_shape(height: int, width: int) -> tuple[int, int]:
    """Array shape of an I420 frame of ``height x width`` pixels (both even)."""
    if height % 2 or width % 2 or height < 2 or width < 2:
        raise ValueError(f"I420 frames have even, non-zero sizes; got {width}x{height}")
    return height * 3 // 2, width


def i420_size(image: Any) -> tuple[int, int]:
    """``(height, width)`` in pixels of the I420 frame ``image``."""
    return image.shape[0] * 2 // 3, image.shape[1]


def is_i420(image: Any) -> bool:
    """Whether ``image`` is an I420 frame (2-D) rather than ``(H, W, 3)`` BGR."""
    return image.ndim == 2


def i420_planes(image: Any) -> tuple[Any, Any, Any]:
    """The ``(H, W)`` luma and two ``(H/2, W/2)`` chroma planes of ``image``, as views."""
    height, width = i420_size(image)
    flat = image.reshape(-1)
    luma = height * width
    quarter = luma // 4
    return (flat[:luma].reshape(height, width),
            flat[luma:luma + quarter].reshape(height // 2, width // 2),
            flat[luma + quarter:luma + 2 * quarter].reshape(height // 2, width // 2))


def i420_luma_chroma(image: Any) -> tuple[Any, Any]:
    """The ``(H, W)`` luma plane and both chroma planes as one ``(2, H/2, W/2)`` view.

    Cb and Cr lie one after the other in an I420 frame, so kernels that treat
    the chroma planes alike can take them as one array.
    """
    height, width = i420_size(image)
    flat = image.reshape(-1)
    luma = height * width
    return flat[:luma].reshape(height, width), flat[luma:].reshape(2, height // 2, width // 2)


def yuv_black(full_range: bool) -> tuple[int, int, int]:
    """Y, Cb, Cr code values of black."""
    return (0 if full_range else 16), 128, 128
