"""``sharpen`` stage: cored, halo-free unsharp mask on luma (see :mod:`kernels.sharpen`).

The coring threshold follows the noise measured in the stage's input (``noise_coring`` times its
sigma, every few frames and smoothed): after a denoiser a frame still carries some grain, and an
unsharp mask that boosts it costs more than its sharper edges gain (on the corpus's noisy cases,
1.4 dB of PSNR with the default chain), while a clean soft frame measures next to no noise.

With ``auto`` on (opt-in), the gain follows how soft the frames are (:func:`kernels.sharpen.softness`,
measured every few frames and smoothed): an unsharp mask of variance ``v`` and gain ``g`` undoes a
blur of variance ``g * v`` at low frequencies, so the gain grows with the square of the blur the
frame has beyond that of a sharp frame, and a wider detail radius takes over for very soft frames.
"""
from __future__ import annotations

import logging
from typing import Any

from kernels import MAX_RADIUS
from kernels.backend import Backend
from kernels.noise import luma_sigma
from kernels.planes import i420_planes, is_i420
from kernels.sharpen import binomial_taps, sharpen, softness
from realtime.stages.base import Stage
from realtime.stages.params import SharpenParams

log = logging.getLogger(__name__)

#: Frames between noise (and softness) measurements.
MEASURE_EVERY = 4
#: Weight of a new measurement in the running one.
MEASURE_EMA = 0.3
#: Measured blur sigma (pixels) from which the detail radius grows by one.
WIDE_SOFTNESS = 0.8
#: Largest automatic gain (very soft frames; beyond it the cored detail is mostly noise).
MAX_AUTO_AMOUNT = 4.0
#: Measured blur (pixels) of frames that need no sharpening: pixel sampling and a good lens alone
#: measure about this much, and sharpening them only adds ringing.
SHARP_SOFTNESS = 0.4


class SharpenStage(Stage):
    """Blur taps baked once; two passes per frame into preallocated buffers."""

    name = "sharpen"
    Params = SharpenParams
    planar = True

    def __init__(self, params: SharpenParams, backend: Backend) -> None:
        super().__init__(params, backend)
        self._taps = backend.asarray(binomial_taps(params.radius))
        self._wide_taps = backend.asarray(binomial_taps(min(params.radius + 1, MAX_RADIUS)))
        self.reset()

    def reset(self) -> None:
        #: The running blur measurement (pixels; 0 before the first frame or without ``auto``).
        self.softness = 0.0
        #: The running noise sigma of the input's luma (levels; 0 before the first frame).
        self.noise = 0.0
        self._frames = 0

    def gain(self) -> tuple[float, bool]:
        """The gain the next frame gets and whether it uses the wider radius."""
        p = self.params
        if not p.auto:
            return p.amount, False
        s = self.softness
        # ``amount`` is the gain at a measured blur of 1 pixel.
        excess = max(s * s - SHARP_SOFTNESS ** 2, 0.0) / (1.0 - SHARP_SOFTNESS ** 2)
        return min(p.amount * excess, MAX_AUTO_AMOUNT), s >= WIDE_SOFTNESS

    def apply(self, image: Any) -> Any:
        if self.params.amount == 0.0:
            return image
        p = self.params
        out = self.output(image.shape)
        src, dst = image, out
        if is_i420(image):
            # Only the Y plane changes; the chroma planes are copied (one contiguous run).
            luma = i420_planes(image)[0]
            src, dst = luma[:, :, None], i420_planes(out)[0][:, :, None]
            self.backend.xp.copyto(out.reshape(-1)[luma.size:], image.reshape(-1)[luma.size:])
        self._measure(src)
        amount, wide = self.gain()
        work = self.buffer("work", (3, src.shape[0], src.shape[1]), "float32")
        threshold = max(p.threshold, p.noise_coring * self.noise)
        sharpen(src, self._wide_taps if wide else self._taps, amount=amount, threshold=threshold,
                overshoot=p.overshoot, out=dst, work=work, backend=self.backend)
        self._frames += 1
        return out

    def _measure(self, src: Any) -> None:
        """Update the running noise (and with ``auto`` the softness) now and then (a frame's green channel
        stands in for its luma: it carries most of it, and blur acts on every channel alike)."""
        if self._frames % MEASURE_EVERY:
            return
        luma, xp = src[:, :, 0] if src.shape[2] == 1 else src[:, :, 1], self.backend.xp
        running = self._frames > 0
        if self.params.noise_coring > 0:
            n = luma_sigma(luma, xp=xp)
            self.noise = self.noise + MEASURE_EMA * (n - self.noise) if running else n
        if self.params.auto:
            s = softness(luma, xp=xp)
            self.softness = self.softness + MEASURE_EMA * (s - self.softness) if running else s
        log.debug("sharpen: noise %.2f, softness %.2f px (running)", self.noise, self.softness)
