"""Per-pixel math that many kernels share, written once (wrap it per target with ``cpu_device``/``cuda_device``)."""
import numpy as np


def u8_px(v):
    """A float level to uint8: clamp to [0, 255] first, then round half up (the one rounding of a path)."""
    return np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)) + np.float32(0.5))


def lerp_px(a, b, w):
    """``a`` moved toward ``b`` by the fraction ``w``."""
    return a + (b - a) * w
