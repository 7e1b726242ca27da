"""Hardware H.264/HEVC encoders through PyAV (NVENC, Quick Sync, AMF), with x264/x265 as the fallback.

A live recording shares two cores with the capture and the chain; a GPU's or an iGPU's encoder does the same work beside
them for free.  An encoder FFmpeg was built with may still not open here (no device, no driver), so each is tried once
per size by opening it with the options it will get; the first that opens is used, and the fallback to x264/x265 is said
in one log line.  VAAPI is not offered: its encoders take frames in GPU surfaces only, which PyAV does not upload.
"""
from __future__ import annotations

import logging
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

log = logging.getLogger(__name__)

#: ``--hw-encoder`` family -> its FFmpeg encoders for (h264, hevc), in the order ``auto`` tries them.
FAMILIES = {"nvenc": ("h264_nvenc", "hevc_nvenc"), "qsv": ("h264_qsv", "hevc_qsv"), "amf": ("h264_amf", "hevc_amf")}
#: ``--hw-encoder`` choices: a family, ``auto`` (the first that opens) or ``off`` (x264/x265).
CHOICES = ("auto", "off", *FAMILIES)
#: x264 speed preset -> the nearest NVENC preset (p1 fastest .. p7 best).
_NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p2", "veryfast": "p3", "faster": "p3", "fast": "p4",
                  "medium": "p4", "slow": "p5", "slower": "p6", "veryslow": "p7"}
#: x264 speed preset -> Quick Sync's (it has nothing faster than veryfast).
_QSV_PRESETS = {"ultrafast": "veryfast", "superfast": "veryfast"}
#: x264 speed preset -> AMF's quality setting.
_AMF_QUALITY = {"ultrafast": "speed", "superfast": "speed", "veryfast": "speed", "faster": "balanced",
                "fast": "balanced", "medium": "balanced"}


class HardwareEncoder(NamedTuple):
    """An encoder that opened here, with the pixel format and options it opened with."""

    name: str
    pix_fmt: str
    options: dict[str, str]


def encoder_options(family: str, crf: int, preset: str, low_latency: bool = False,
                    bitrate: int | None = None) -> dict[str, str]:
    """The options of the hardware encoder ``family`` (a key of :data:`FAMILIES`) for x264's settings.

    ``crf``: each family's constant-quality mode takes the same number (their scales differ a little: about the same
    picture, not the same size); ``preset`` maps to the family's nearest; ``low_latency``: no reordering and no
    lookahead (network outputs); ``bitrate``: constant bitrate, bits per second, instead of constant quality.
    """
    if family == "nvenc":
        opts = {"preset": _NVENC_PRESETS.get(preset, "p4"), "rc": "vbr", "cq": str(crf)}
        if low_latency:
            opts.update({"tune": "ull", "zerolatency": "1", "delay": "0"})
    elif family == "qsv":
        opts = {"preset": _QSV_PRESETS.get(preset, preset), "global_quality": str(crf)}
        if low_latency:
            opts["async_depth"] = "1"
    elif family == "amf":
        opts = {"quality": _AMF_QUALITY.get(preset, "quality"), "rc": "cqp", "qp_i": str(crf), "qp_p": str(crf)}
        if low_latency:
            opts["usage"] = "ultralowlatency"
    else:
        raise ValueError(f"unknown hardware encoder family {family!r}: use one of {', '.join(FAMILIES)}")
    if bitrate:
        for key in ("cq", "global_quality", "qp_i", "qp_p"):
            opts.pop(key, None)
        opts["rc"] = "cbr"
    return opts


def pick(choice: str, codec: str, width: int, height: int, rate: Fraction, crf: int, preset: str,
         low_latency: bool = False, bitrate: int | None = None) -> HardwareEncoder | None:
    """The first hardware encoder of ``choice`` (one of :data:`CHOICES`) that opens here for ``codec`` at
    this size and rate; ``None``: x264/x265 (always for codecs other than h264 and hevc).  ``crf``,
    ``preset``, ``low_latency`` and ``bitrate`` as for :func:`encoder_options`.
    """
    if choice == "off" or codec not in ("h264", "hevc"):
        return None
    families = list(FAMILIES) if choice == "auto" else [choice]
    tried = []
    for family in families:
        name = FAMILIES[family][codec == "hevc"]
        opts = encoder_options(family, crf, preset, low_latency, bitrate)
        pix_fmt, why_not = _opens(name, width, height, rate, tuple(sorted(opts.items())), bitrate)
        if pix_fmt is None:
            tried.append(f"{name}: {why_not}")
            continue
        log.info("encoding with %s (hardware)", name)
        return HardwareEncoder(name, pix_fmt, opts)
    fallback = f"encoding with {'libx264' if codec == 'h264' else 'libx265'} {preset}"
    if choice == "auto":
        log.debug("hardware encoders: %s", "; ".join(tried))
        names = ", ".join(t.split(":")[0] for t in tried)
        _say_once(f"no hardware encoder here (tried {names}; -v says why): {fallback}", asked=False)
    else:
        _say_once(f"--hw-encoder {choice}: {tried[0]}: {fallback}", asked=True)
    return None


@lru_cache(maxsize=None)
def _say_once(message: str, asked: bool) -> None:
    """One line per distinct fallback and process (a network output reconnects, a batch opens many)."""
    (log.warning if asked else log.info)(message)


@lru_cache(maxsize=None)
def _opens(name: str, width: int, height: int, rate: Fraction, options: tuple[tuple[str, str], ...],
           bitrate: int | None) -> tuple[str | None, str]:
    """Open ``name`` once at this size with these options: ``(pixel format, "")``, or ``(None, why not)``.

    I420 is given as it is where the encoder takes it, else as NV12 (the same samples, chroma
    interleaved).  The trial context is dropped unused: the output opens its own.
    """
    import av

    try:
        codec = av.codec.Codec(name, "w")
    except (av.FFmpegError, ValueError):
        return None, "not in this FFmpeg build"
    formats = [f.name for f in (codec.video_formats or [])]
    pix_fmt = "yuv420p" if "yuv420p" in formats or not formats else "nv12"
    ctx = av.CodecContext.create(name, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base, ctx.framerate = 1 / rate, rate
    if bitrate:
        ctx.bit_rate = bitrate
    ctx.options = dict(options)
    try:
        ctx.open()
    except (av.FFmpegError, ValueError, OSError) as exc:
        # FFmpeg's reasons are terse ("Operation not permitted" where there is no driver).
        return None, f"cannot open ({getattr(exc, 'strerror', None) or exc}: no usable device or driver)"
    return pix_fmt, ""
