"""The x264/x265 speed preset of a live recording, from its pixel rate and the cores it shares.

A live run shares its cores between capture, the chain and the encoder.  ``superfast`` keeps files small and fits beside
the default chain at 720p30 on two cores (12 ms a frame of the 33, measured over a 20-minute soak, where ``veryfast``
took 30 ms and dropped frames in bursts).  An encoder's cost grows with the pixels it encodes a second: at 1080p30
``superfast`` takes about twice as long, most of a core, and the chain then drops frames, while ``ultrafast`` takes half
of ``superfast``'s time for files about a sixth larger.  So a live recording above 720p30's pixel rate per two cores is
encoded ``ultrafast``.  A rule, not a trial encode at start-up: what a trial picture costs says little of the camera's
(threefold apart here between two trial pictures).
"""
from __future__ import annotations

import logging
from fractions import Fraction

from realtime.run.process import cpu_cores

log = logging.getLogger(__name__)

#: ``--encoder-preset`` value that asks for this choice (the live default).
AUTO = "auto"
#: Pixels a second that ``superfast`` encodes beside the chain on two cores: 1280x720 at 30 fps.
SUPERFAST_PIXEL_RATE = 1280 * 720 * 30


def live_preset(width: int, height: int, rate: Fraction, cores: int | None = None) -> str:
    """``superfast`` up to 720p30's pixel rate per two cores, ``ultrafast`` above it, for the encoded size
    and frame rate on ``cores`` (default: those this process may run on)."""
    if cores is None:
        cores = cpu_cores()
    per_two_cores = width * height * float(rate) / max(cores / 2, 0.5)
    preset = "superfast" if per_two_cores <= SUPERFAST_PIXEL_RATE else "ultrafast"
    log.info("live recording at %dx%d, %.4g fps on %d cores: x264 %s", width, height, float(rate), cores, preset)
    return preset
