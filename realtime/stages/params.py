"""Every stage's parameters, in a module that loads no kernel: the settings and the ``--help`` text
need all of them, a run only the kernels of its own stages (``ColorStage.Params is ColorParams``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from kernels import MAX_FACTOR, MAX_RADIUS
from realtime.errors import ConfigError
from realtime.params import StageParams, param

#: Largest output frame (8K UHD), width x height.
MAX_OUTPUT = (7680, 4320)
METHODS = ("edge", "lanczos", "bicubic", "learned")
#: Factors the learned network has weights for.
LEARNED_FACTORS = (2, 4)


@dataclass(frozen=True)
class DeinterlaceParams(StageParams):
    stage = "deinterlace"
    mode: str = param("adaptive", choices=("adaptive", "bob", "blend"),
                      doc="adaptive = motion-adaptive interpolation, one frame per frame; bob = every field "
                          "as a frame (doubles the frame rate); blend = average the two fields")
    order: str = param("auto", choices=("auto", "tff", "bff"),
                       doc="field order: auto = the source's flag, else detected from the frames")
    frames: str = param("auto", choices=("auto", "all", "combed"),
                        doc="frames to deinterlace: auto = all of a source flagged interlaced, else those "
                            "with combing; all; combed = those with combing, whatever the flag")
    release: int = param(8, low=1, high=10000,
                         doc="progressive frames in a row after which detected interlacing ends")


@dataclass(frozen=True)
class DenoiseParams(StageParams):
    stage = "denoise"
    sigma: float = param(0.0, low=0.0, high=100.0,
                         doc="noise sigma per colour channel in 8-bit levels; 0 = estimate it from the frames")
    luma_strength: float = param(1.0, low=0.0, high=4.0, doc="multiplier on the luma noise level (0 = luma untouched)")
    chroma_strength: float = param(2.0, low=0.0, high=8.0,
                                   doc="multiplier on the chroma noise level (0 = chroma untouched)")
    temporal: float = param(0.25, low=0.02, high=1.0,
                            doc="smallest weight of the new frame in static areas (lower = more temporal "
                                "smoothing, 1 = spatial only)")
    spatial: float = param(1.0, low=0.0, high=1.0, doc="spatial filtering of moving areas (0 = none)")
    spatial_range: float = param(2.5, low=0.5, high=6.0, doc="edge threshold of the spatial filter, in sigmas")
    motion_threshold: float = param(3.0, low=0.0, high=20.0,
                                    doc="local mean history/current difference treated as noise, in its noise "
                                        "sigmas (higher = more temporal smoothing, more ghosting risk); on luma "
                                        "at a noise sigma of 8 levels, scaled with the noise (x0.25 to x4)")
    motion_search: bool = param(False, doc="follow global camera pans (phase correlation on a thumbnail)")
    subpixel: bool = param(False, doc="with motion_search: move the history by the pan's part below a whole pixel "
                                      "too (bilinear), so that it lines up with the frame: more averaging on "
                                      "pans, a little softer; costs a resampling of the history per frame")
    still_threshold: float = param(0.0, low=0.0, high=20.0,
                                   doc="with motion_search: motion_threshold while the camera holds still (its "
                                       "history lines up with the frame, so only what really moves differs); "
                                       "0 = always motion_threshold")
    scene_cut: float = param(30.0, low=0.0, high=255.0,
                             doc="mean luma change (levels) that counts as a scene cut; 0 = never reset")
    estimate_every: int = param(8, low=1, high=10000, doc="frames between noise estimates in auto mode")
    follow_level: bool = param(False, doc="auto mode: luma thresholds follow the estimated noise at each sample's "
                                          "level (shot noise grows with the signal); off = the frame's mean noise "
                                          "everywhere, a fifth less luma work")


@dataclass(frozen=True)
class StabilizeParams(StageParams):
    stage = "stabilize"
    lookahead: int = param(3, low=0, high=60,
                           doc="frames of lookahead: smoother path for N frames of added latency (0 = none)")
    smoothing: float = param(0.0, low=0.0, high=200.0,
                             doc="time constant of the smoothed camera path in frames, larger = steadier; "
                                 "the path is averaged over 5 times it (0 = automatic: the learned smoother up to "
                                 "10 frames of lookahead at 23-31 fps; otherwise 12 without lookahead, 11 from 5 "
                                 "frames of lookahead, down to 83% of that on a lightly shaken pan)")
    border: str = param("zoom", choices=("zoom", "black", "replicate"),
                        doc="hide borders by zooming, or show them black or as replicated edges")
    min_crop: float = param(0.88, low=0.5, high=1.0,
                            doc="smallest share of width and height kept; bounds the correction")
    zoom_rise: float = param(0.004, low=0.0, high=1.0,
                             doc="largest border-zoom increase per frame (the correction gives way meanwhile)")
    zoom_release: float = param(0.002, low=0.0, high=1.0,
                                doc="largest border-zoom decrease per frame once the need for it passes")
    analysis_width: int = param(320, low=64, high=1920, doc="width of the motion-analysis thumbnail, px")
    scene_cut: float = param(0.5, low=0.0, high=1.0,
                             doc="histogram correlation below which a frame is a scene cut (0 = never)")


@dataclass(frozen=True)
class ContrastParams(StageParams):
    stage = "contrast"
    levels: bool = param(True, doc="automatic levels: stretch between percentile black and white points "
                                   "(one map on all channels, hue kept)")
    black_pct: float = param(0.5, low=0.0, high=20.0,
                             doc="percentile of the darkest channel taken as the black point")
    white_pct: float = param(99.5, low=80.0, high=100.0,
                             doc="percentile of the brightest channel taken as the white point")
    black_kept: float = param(35.0, low=0.0, high=255.0,
                              doc="black points up to this level are the scene's own and kept")
    black_lifted: float = param(60.0, low=0.0, high=255.0,
                                doc="black points from this level on are a lift (haze, flat tone), taken to 0")
    white_kept: float = param(235.0, low=0.0, high=255.0,
                              doc="white points from this level on are the scene's own and kept")
    white_dimmed: float = param(160.0, low=0.0, high=255.0,
                                doc="white points up to this level are under-exposure, taken to 255")
    max_gain: float = param(4.0, low=1.0, high=16.0, doc="largest luma stretch factor (dark or flat frames)")
    clahe: float = param(0.0, low=0.0, high=1.0, doc="weight of CLAHE local contrast (0 = off, 1 = full)")
    clip_limit: float = param(2.0, low=1.0, high=40.0, doc="CLAHE clip limit, multiple of the mean bin count")
    tiles_x: int = param(8, low=1, high=64, doc="CLAHE tile columns")
    tiles_y: int = param(8, low=1, high=64, doc="CLAHE tile rows")
    smoothing: float = param(20.0, low=0.0, high=1000.0,
                             doc="time constant of the temporal smoothing in frames (0 = per frame, flickers)")
    adapt: float = param(0.005, low=0.0, high=1.0,
                         doc="one-euro speed gain: how much faster the levels follow a fast change")
    scene_cut: float = param(30.0, low=0.0, high=255.0,
                             doc="thumbnail change (levels, exposure-normalised) that counts as a cut; 0 = never")
    flash_ratio: float = param(1.4, low=0.0, high=10.0,
                               doc="brightening ratio treated as a flash and kept out of the statistics; 0 = off")


@dataclass(frozen=True)
class ColorParams(StageParams):
    stage = "color"
    brightness: float = param(0.0, low=-1.0, high=1.0, doc="offset, fraction of full scale")
    contrast: float = param(1.0, low=0.0, high=4.0, doc="slope around mid-gray (1 = unchanged)")
    gamma: float = param(1.0, low=0.1, high=10.0, doc="mid-tone gamma (>1 brightens, 1 = unchanged)")
    saturation: float = param(1.0, low=0.0, high=4.0, doc="colour strength (0 = gray, 1 = unchanged)")
    white_balance: str = param("shades-of-gray", choices=("shades-of-gray", "gray-world", "off"),
                               doc="automatic white balance method")
    wb_strength: float = param(1.0, low=0.0, high=1.0, doc="fraction of the estimated cast that is corrected")
    wb_tolerance: float = param(0.05, low=0.0, high=1.0,
                                doc="casts smaller than this (log gain, on each chroma axis: amber-blue, "
                                    "green-magenta) are left alone, twice as large and more are corrected in full")
    wb_agreement: float = param(0.45, low=0.0, high=4.0,
                                doc="disagreement (log gain) of gray-world, shades-of-gray and gray-edge above "
                                    "which the correction fades out, gone at 5/3 of it (0 = always correct)")
    wb_neutral: float = param(0.5, low=0.0, high=1.0,
                              doc="share of the correction that may be taken back where less of it leaves more "
                                  "of the frame's surfaces neutral (a scene's own colour; 0 = off)")
    wb_max_gain: float = param(1.4, low=1.0, high=8.0, doc="largest automatic gain on one channel")
    temperature: float = param(0.0, low=-1.0, high=1.0, doc="manual warmth (+ warmer/redder, - cooler/bluer)")
    tint: float = param(0.0, low=-1.0, high=1.0, doc="manual tint (+ magenta, - green)")
    white_point: str = param("", doc="X,Y: a white or gray pixel of the input frame; the colour around it in "
                                     "the first frame is made neutral for the whole run, replacing the automatic "
                                     "white balance (empty = automatic)")
    lut: str = param("", doc="path of a .cube 3D LUT applied last (empty = none)")
    lut_interpolation: str = param("tetrahedral", choices=("tetrahedral", "trilinear"),
                                   doc="interpolation between LUT lattice points")
    smoothing: float = param(20.0, low=0.0, high=1000.0,
                             doc="time constant of the white-balance smoothing in frames (0 = per frame)")
    scene_cut: float = param(30.0, low=0.0, high=255.0,
                             doc="thumbnail change (levels, exposure-normalised) that counts as a cut; 0 = never")
    flash_ratio: float = param(1.4, low=0.0, high=10.0,
                               doc="brightening ratio treated as a flash and kept out of the estimate; 0 = off")

    def __post_init__(self) -> None:
        super().__post_init__()
        _ = self.point  # a malformed white point is an error now, not at the first frame

    @property
    def point(self) -> tuple[int, int] | None:
        """:attr:`white_point` as ``(x, y)`` pixels, or ``None`` when it is empty (automatic white balance)."""
        if not self.white_point.strip():
            return None
        xy = re.fullmatch(r"\s*([0-9]+)\s*,\s*([0-9]+)\s*", self.white_point)
        if xy:
            return int(xy[1]), int(xy[2])
        raise ConfigError(f"color.white_point={self.white_point!r}: not a pixel position; use X,Y in pixels of "
                          f"the input frame, e.g. 312,140 (or empty for the automatic white balance)")


@dataclass(frozen=True)
class UpscaleParams(StageParams):
    stage = "upscale"
    method: str = param("edge", choices=METHODS,
                        doc="edge = edge-adaptive + ringing-free sharpen (fast, sharp); lanczos, bicubic = "
                            "classical; learned = small super-resolution network (x2, x4)")
    factor: float = param(2.0, low=1.0, high=float(MAX_FACTOR),
                          doc="output size = input size x factor (1 = unchanged); ignored when width or height "
                              "is set; the output may not exceed 7680x4320")
    width: int = param(0, low=0, high=MAX_OUTPUT[0],
                       doc="output width in px instead of a factor (0 = from factor; with height 0 the "
                           "aspect ratio is kept)")
    height: int = param(0, low=0, high=MAX_OUTPUT[1],
                        doc="output height in px instead of a factor (0 = from factor; with width 0 the "
                            "aspect ratio is kept)")
    deblur: float = param(0.75, low=0.0, high=4.0,
                          doc="edge: unsharp gain at the input resolution before upscaling, for soft input "
                              "(0 = none)")
    sharpness: float = param(0.25, low=0.0, high=1.0,
                             doc="edge: RCAS sharpening after upscaling (0 = none, 1 = strongest)")
    weights: str = param("", doc="learned: .npz weights file from tools/train_sr.py (empty = the shipped weights)")
    fallback: str = param("error", choices=("error", "lanczos"),
                          doc="learned: when the weights file is missing or corrupt, stop with an error or "
                              "upscale with lanczos (logged)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.method == "learned":
            if self.width or self.height:
                raise ConfigError(f"upscale.width/height with method learned: the network upscales by "
                                  f"{' or '.join(map(str, LEARNED_FACTORS))} exactly; set upscale.factor instead "
                                  f"or use method edge for a target size")
            if self.factor not in LEARNED_FACTORS:
                raise ConfigError(f"upscale.factor={self.factor:g} with method learned: use "
                                  f"{' or '.join(map(str, LEARNED_FACTORS))}, or method edge for other factors")


@dataclass(frozen=True)
class SharpenParams(StageParams):
    stage = "sharpen"
    amount: float = param(1.5, low=0.0, high=4.0,
                          doc="gain on luma detail (0 = unchanged); with auto, the gain at a measured blur of "
                              "1 pixel (none on sharp frames, up to 4 on very soft ones)")
    radius: int = param(2, low=1, high=MAX_RADIUS,
                        doc="blur radius of the detail extraction, pixels (auto: one more for very soft frames)")
    auto: bool = param(False, doc="gain and radius follow how soft the frames are (measured every few frames); "
                                  "an upscaled or soft-focus source reads as blurred and is sharpened too")
    threshold: float = param(1.0, low=0.0, high=32.0,
                             doc="luma detail up to this many levels is noise and is not boosted")
    noise_coring: float = param(3.0, low=0.0, high=10.0,
                                doc="luma detail up to this many times the measured noise sigma is not boosted "
                                    "either (a noisy or denoised frame's grain; 0 = the fixed threshold only)")
    overshoot: float = param(2.0, low=0.0, high=64.0,
                             doc="levels the result may pass the local 3x3 range (0 = no halos at all)")
