"""Per-pixel math that many kernels share, written once (wrap it per target with ``cpu_device``/``cuda_device``)."""
import numpy as np

from kernels.backend import cpu_device

#: Luma weights in BGR order, the one home of both sets.  BT.709 where a stage judges brightness and
#: colour (contrast, colour, white balance); BT.601 where a luma plane is only filtered or analysed
#: (denoise, sharpen, the stabilizer's thumbnails, the learned upscaler, which was trained on it).
LUMA709_BGR = (0.0722, 0.7152, 0.2126)
LUMA601_BGR = (0.114, 0.587, 0.299)


def u8_px(v):
    """A float level to uint8: clamp to [0, 255] first, then round half up (the one rounding of a path)."""
    return np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)) + np.float32(0.5))


def clamp255_px(v):
    """A float level clipped to [0, 255]."""
    return min(max(v, np.float32(0.0)), np.float32(255.0))


def lerp_px(a, b, w):
    """``a`` moved toward ``b`` by the fraction ``w``."""
    return a + (b - a) * w


def max_px(a, b):
    """The larger of two numbers, as a select."""
    return a if a > b else b


def min_px(a, b):
    """The smaller of two numbers, as a select."""
    return a if a < b else b


# Numba's builtin min and max on floats (NaN-aware, with a call and a switch) stop a CPU loop from
# vectorizing; CPU wrappings of math that calls them bind these selects instead (``cpu_device(fn,
# **VECTOR_MINMAX)``; no NaN reaches them), which LLVM turns into vector min/max.  CUDA keeps the builtins.
VECTOR_MINMAX = {"max": cpu_device(max_px), "min": cpu_device(min_px)}
