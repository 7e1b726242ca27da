"""The evaluation corpus: real ground-truth sources, split by source into a tuning and a report half.

Defaults are tuned on the ``tune`` half only; the README's quality tables come from the
``report`` half, whose sources the defaults never saw.  A source is a real picture: a
photograph shipped inside scikit-image, scikit-learn or pygame, moved by a virtual camera, or the
decoded frames of a real clip in ``../shared/media``.  A source missing from the machine
is skipped, by name (:func:`available`).

Degradations are drawn per case from wide ranges with a fixed seed (:func:`draw`), so a
case is reproducible from its name alone.  The ranges:

================  ==========================================================================
exposure          x0.25 - x1.8 (linear light): under- and over-exposure
gamma             0.6 - 1.6 on the coded value
tone              flat (``a x + b``, a 0.5-0.85, lifted blacks) or over-contrasty (S-curve,
                  mid-tone slope 1.2-1.5, ends rolled off, black and white kept)
cast              per-channel gains in any direction of the chroma plane (warm, cool, green,
                  magenta and between), strength 0.05 - 0.4
noise             read (Gaussian, sigma 1-12) + shot (variance proportional to the level),
                  grain from luma-only to independent per channel
strong noise      the same at read sigma 10-24, shot 0.2-1.0 (about sigma 13-27 at mid-gray):
                  a dim room, a phone at night
blur              Gaussian, sigma 0.5 - 2
================  ==========================================================================

Night sources (a real night scene) are marked: an automatic mode must keep them night.  Their
colour cases draw the ``night`` kind (a cast and a mild exposure change only), so a method that
turns night into day loses there.

Sizes: every source comes at the size asked for, cropped to its aspect ratio (never
stretched); :func:`fit_size` gives the largest size of that aspect a source fills without
being upscaled more than a little (a small clip upscaled 3x is no sharp ground truth).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from qualitylib import MEDIA, ROOT, read_clip

log = logging.getLogger("corpus")

SPLITS = ("tune", "report")


@dataclass(frozen=True)
class Source:
    """One real picture or clip that ground truths are made from.

    Attributes
    ----------
    name : str
    kind : {"photo", "video"}
    split : {"tune", "report"}
    night : bool
        A real night scene (dark on purpose).
    """

    name: str
    kind: str
    split: str
    night: bool = False
    _load: Callable[[], object] = field(default=None, repr=False, compare=False)

    def load(self) -> np.ndarray | Path:
        """The photograph (BGR uint8), or the clip's path; raises ``FileNotFoundError``/``ImportError`` if absent."""
        return self._load()


def _frozen(image: np.ndarray) -> np.ndarray:
    image.flags.writeable = False  # loads are cached: no caller may change the shared copy
    return image


def _skimage(name: str) -> Callable[[], np.ndarray]:
    @functools.lru_cache(maxsize=1)
    def load() -> np.ndarray:
        import skimage.data

        image = getattr(skimage.data, name)()
        if isinstance(image, tuple):  # stereo pairs: the left view
            image = image[0]
        if image.ndim == 2:  # a black-and-white photograph: neutral in every channel
            return _frozen(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
        return _frozen(cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2BGR))
    return load


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    @functools.lru_cache(maxsize=1)
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return _frozen(cv2.cvtColor(load_sample_image(filename), cv2.COLOR_RGB2BGR))
    return load


def _package_image(package: str, relative: str) -> Callable[[], np.ndarray]:
    """A photograph inside an installed package's folder (``relative`` to it)."""
    @functools.lru_cache(maxsize=1)
    def load() -> np.ndarray:
        import importlib.util

        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"no package {package}")
        path = Path(list(spec.submodule_search_locations)[0]) / relative
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(path)
        return _frozen(image)
    return load


def _clip(path: Path) -> Callable[[], Path]:
    def load() -> Path:
        if not path.exists():
            raise FileNotFoundError(path)
        return path
    return load


#: Every source, with its half.  Each half holds photographs and real video, indoor and outdoor,
#: people and things, and one real night scene.
SOURCES: tuple[Source, ...] = (
    Source("astronaut", "photo", "tune", _load=_skimage("astronaut")),
    Source("coffee", "photo", "tune", _load=_skimage("coffee")),
    Source("china", "photo", "tune", _load=_sklearn("china.jpg")),
    Source("hubble", "photo", "tune", night=True, _load=_skimage("hubble_deep_field")),
    Source("flower_video", "video", "tune", _load=_clip(MEDIA / "clean_flower_540p.mp4")),
    Source("seattle_walk", "video", "tune", _load=_clip(MEDIA / "shaky_seattle_walk_360p.avi")),
    Source("carphone", "video", "tune", _load=_clip(MEDIA / "lowres_carphone_qcif.mp4")),
    # Pictures that stress the automatics: a scene's own colour filling the frame (retina, stained
    # tissue on a white slide), black-and-white photographs (a print's own range, a pale page), a
    # real webcam shot and a real interlaced broadcast clip.  (scikit-image's moon, a telescope
    # picture with a 77-level range, is left out: no camera user films that as good footage.)
    Source("garden_webcam", "photo", "tune", _load=_package_image("pygame", "docs/generated/_images/camera_rgb.jpg")),
    Source("retina", "photo", "tune", _load=_skimage("retina")),
    Source("tissue", "photo", "tune", _load=_skimage("immunohistochemistry")),
    Source("cameraman", "photo", "tune", _load=_skimage("camera")),
    Source("coins", "photo", "tune", _load=_skimage("coins")),
    Source("page", "photo", "tune", _load=_skimage("page")),
    Source("aerial", "video", "tune", _load=_clip(MEDIA / "interlaced_aerial_576i_bff.mp4")),
    Source("chelsea", "photo", "report", _load=_skimage("chelsea")),
    Source("rocket", "photo", "report", _load=_skimage("rocket")),
    Source("motorcycle", "photo", "report", _load=_skimage("stereo_motorcycle")),
    Source("flower_photo", "photo", "report", _load=_sklearn("flower.jpg")),
    Source("person_indoor", "video", "report", _load=_clip(MEDIA / "clean_person_indoor_432p.mp4")),
    Source("bikes_street", "video", "report", _load=_clip(MEDIA / "clean_bikes_street_272p.mp4")),
    Source("foreman", "video", "report", _load=_clip(MEDIA / "shaky_foreman_cif.mp4")),
    Source("alley_night", "video", "report", night=True, _load=_clip(MEDIA / "noisy_lowlight_alley_720p.mp4")),
)
#: The bundled sample is the flower clip; used when the shared media folder is absent.
SAMPLE = ROOT / "tools" / "samples" / "flower_540p.mp4"


def sources(split: str) -> list[Source]:
    """The sources of one half (``tune`` or ``report``), or of both (``all``)."""
    if split not in SPLITS + ("all",):
        raise ValueError(f"unknown split {split!r}: use tune, report or all")
    return [s for s in SOURCES if split in ("all", s.split)]


def available(candidates: Sequence[Source]) -> tuple[list[Source], list[str]]:
    """The sources present on this machine, and the names of those that are not (with why)."""
    present, missing = [], []
    for source in candidates:
        try:
            source.load()
            present.append(source)
        except (OSError, ImportError, ValueError, RuntimeError) as exc:
            missing.append(f"{source.name} ({exc.__class__.__name__}: {exc})")
    for name in missing:
        log.warning("corpus source skipped: %s", name)
    return present, missing


#: Virtual camera speed over a photograph, pixels per frame at the output size.
PAN_SPEED = 1.5


def frames_of(source: Source, size: tuple[int, int], frames: int, seed: int, start: int = 0) -> list[np.ndarray]:
    """``frames`` BGR frames of ``size`` (w, h): a clip's real frames from ``start`` (cropped to the aspect
    ratio of ``size``, centred, then resized), or a photograph panned (the path drawn from ``seed``)."""
    loaded = source.load()
    if isinstance(loaded, Path):
        return [_cover(f, size) for f in read_clip(loaded, None, frames, start=start)]
    return pan_clip(loaded, size, frames, speed_px=PAN_SPEED, seed=seed)


def _cover(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` cropped (centred) to the aspect ratio of ``size`` and resized to it."""
    width, height = size
    fh, fw = frame.shape[:2]
    if fw * height > fh * width:  # wider than asked: crop the sides
        cw, ch = max(1, round(fh * width / height)), fh
    else:
        cw, ch = fw, max(1, round(fw * height / width))
    x0, y0 = (fw - cw) // 2, (fh - ch) // 2
    crop = frame[y0:y0 + ch, x0:x0 + cw]
    if (cw, ch) == (width, height):
        return np.ascontiguousarray(crop)
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA if cw > width else cv2.INTER_CUBIC)


def native_size(source: Source) -> tuple[int, int]:
    """The source's own (w, h): the photograph's, or the clip's frames'."""
    loaded = source.load()
    if isinstance(loaded, Path):
        cap = cv2.VideoCapture(str(loaded))
        try:
            return int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        finally:
            cap.release()
    return loaded.shape[1], loaded.shape[0]


def frame_count(source: Source) -> int | None:
    """Frames in a clip (None for a photograph, which gives any number)."""
    loaded = source.load()
    if not isinstance(loaded, Path):
        return None
    cap = cv2.VideoCapture(str(loaded))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


def fit_size(source: Source, size: tuple[int, int], frames: int = 24, max_upscale: float = 1.5,
             multiple: int = 2) -> tuple[int, int]:
    """``size``, or a smaller one of the same aspect ratio where the source would be upscaled more than
    ``max_upscale`` (the pan margin of a photograph included); both sides a multiple of ``multiple``."""
    width, height = size
    sw, sh = native_size(source)
    margin = 1.0 if source.kind == "video" else _pan_margin(width, frames, PAN_SPEED)
    need = max(margin * width / sw, margin * height / sh)  # the upscale the source would get
    shrink = min(1.0, max_upscale / need)

    def side(v: int) -> int:
        return max(multiple, int(v * shrink) // multiple * multiple)
    return side(width), side(height)


def _pan_margin(width: int, frames: int, speed_px: float) -> float:
    return 1.25 + 2.0 * speed_px * frames / max(width, 1)


def pan_clip(photo: np.ndarray, size: tuple[int, int], frames: int, speed_px: float, seed: int) -> list[np.ndarray]:
    """A virtual camera moving over ``photo``: steady pan plus small shake, sub-pixel (bilinear)."""
    width, height = size
    margin = _pan_margin(width, frames, speed_px)
    scale = max(margin * width / photo.shape[1], margin * height / photo.shape[0])
    if scale != 1.0:
        # Downscaling (area) keeps a photograph's full sharpness; upscaling is only for sizes above the source.
        photo = cv2.resize(photo, None, fx=scale, fy=scale,
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    ph, pw = photo.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    vx, vy = speed_px * np.cos(angle), speed_px * np.sin(angle)
    cx0 = pw / 2 - vx * frames / 2
    cy0 = ph / 2 - vy * frames / 2
    shake = np.cumsum(rng.normal(0, 0.3, (frames, 2)), axis=0) * 0.5
    out = []
    for t in range(frames):
        cx = float(np.clip(cx0 + vx * t + shake[t, 0], width / 2 + 1, pw - width / 2 - 1))
        cy = float(np.clip(cy0 + vy * t + shake[t, 1], height / 2 + 1, ph - height / 2 - 1))
        out.append(cv2.getRectSubPix(photo, (width, height), (cx, cy)))
    return out


# --- degradations --------------------------------------------------------------------------

@dataclass(frozen=True)
class Degradation:
    """What was done to a ground truth; identity by default.  Applied in the order of the fields."""

    exposure: float = 1.0
    gamma: float = 1.0
    #: ``("flat", a, b)``: ``a x + b`` on the coded value in [0, 1]; ``("contrasty", k)``: an S-curve.
    tone: tuple = ()
    #: Per-channel gains (B, G, R) in linear light.
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    #: Read noise sigma (levels), shot-noise variance per level, and how coloured the grain is:
    #: 0 = the same noise on B, G and R (luma only), 2 = independent per channel.
    read_sigma: float = 0.0
    shot_gain: float = 0.0
    chroma_noise: float = 1.0
    blur_sigma: float = 0.0

    def describe(self) -> str:
        parts = []
        if self.exposure != 1.0:
            parts.append(f"exposure x{self.exposure:.2f}")
        if self.gamma != 1.0:
            parts.append(f"gamma {self.gamma:.2f}")
        if self.tone:
            parts.append(f"{self.tone[0]} " + " ".join(f"{v:.2f}" for v in self.tone[1:]))
        if self.gains != (1.0, 1.0, 1.0):
            parts.append("gains B{:.2f} G{:.2f} R{:.2f}".format(*self.gains))
        if self.read_sigma or self.shot_gain:
            parts.append(f"noise read {self.read_sigma:.1f} shot {self.shot_gain:.3f} chroma x{self.chroma_noise:.1f}")
        if self.blur_sigma:
            parts.append(f"blur {self.blur_sigma:.2f}")
        return ", ".join(parts) or "clean"

    def apply(self, frames: Sequence[np.ndarray], seed: int) -> list[np.ndarray]:
        """The degraded frames (uint8 BGR); the noise is drawn from ``seed``."""
        rng = np.random.default_rng(seed)
        return [self._one(f, rng) for f in frames]

    def _one(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self == Degradation():
            return frame.copy()
        x = frame.astype(np.float32) / 255.0
        if self.blur_sigma:
            x = cv2.GaussianBlur(x, (0, 0), self.blur_sigma)
        if self.exposure != 1.0 or self.gains != (1.0, 1.0, 1.0):
            lin = _to_linear(x) * np.float32(self.exposure) * np.float32(self.gains)
            x = _to_coded(np.clip(lin, 0, 1))
        if self.gamma != 1.0:
            x = x ** np.float32(1 / self.gamma)
        if self.tone and self.tone[0] == "flat":
            x = self.tone[1] * x + self.tone[2]
        elif self.tone and self.tone[0] == "contrasty":
            k = self.tone[1]
            # Slope k at mid-gray, 0 and 1 kept, the ends rolled off (slope 3 - 2k there, >= 0 for k <= 1.5).
            x = 0.5 + (x - 0.5) * k - 4 * (k - 1) * (x - 0.5) ** 3
        x = np.clip(x, 0, 1) * 255.0
        if self.read_sigma or self.shot_gain:
            x = _sensor_noise(x, self.read_sigma, self.shot_gain, self.chroma_noise, rng)
        return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def _to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _to_coded(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def _sensor_noise(x: np.ndarray, read_sigma: float, shot_gain: float, chroma: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Read + shot noise, split into a luma part shared by the channels and per-channel chroma parts."""
    std = np.sqrt(read_sigma ** 2 + shot_gain * x)
    common = rng.standard_normal(x.shape[:2], dtype=np.float32)[..., None]
    own = rng.standard_normal(x.shape, dtype=np.float32)
    # Unit variance overall; the share of per-channel noise sets how coloured the grain is.
    share = min(max(chroma, 0.0), 2.0) / 2.0
    noise = np.sqrt(1 - share) * common + np.sqrt(share) * own
    return x + std * noise


#: The kinds :func:`draw` knows.
KINDS = ("color", "night", "noise", "strong_noise", "blur", "dark_noisy", "night_noisy", "clean")


def draw(kind: str, rng: np.random.Generator) -> Degradation:
    """A random degradation of one kind: ``color`` (exposure, gamma, tone, cast; no noise), ``night`` (for
    a night scene: a cast and a mild exposure change only), ``noise``, ``strong_noise``, ``blur``,
    ``dark_noisy`` (dark + cast + noise), ``night_noisy`` (``night`` + noise) or ``clean``."""
    if kind == "clean":
        return Degradation()
    if kind in ("night", "night_noisy"):
        gains = cast_gains(rng.uniform(0, 2 * np.pi), float(rng.uniform(0.05, 0.25)))
        exposure = float(np.exp(rng.uniform(np.log(0.7), np.log(1.4))))
        if kind == "night":
            return Degradation(exposure=exposure, gains=gains)
        return Degradation(exposure=exposure, gains=gains, read_sigma=float(rng.uniform(2, 6)),
                           shot_gain=float(rng.uniform(0.05, 0.2)), chroma_noise=float(rng.uniform(0.8, 2)))
    if kind == "noise":
        read = float(rng.uniform(1, 12))
        return Degradation(read_sigma=read, shot_gain=float(rng.uniform(0, 0.25)),
                           chroma_noise=float(rng.uniform(0.5, 2)))
    if kind == "strong_noise":
        return Degradation(read_sigma=float(rng.uniform(10, 24)), shot_gain=float(rng.uniform(0.2, 1.0)),
                           chroma_noise=float(rng.uniform(0.5, 2)))
    if kind == "blur":
        return Degradation(blur_sigma=float(rng.uniform(0.5, 2.0)))
    angle = rng.uniform(0, 2 * np.pi)
    strength = float(rng.uniform(0.05, 0.4))
    gains = cast_gains(angle, strength)
    if kind == "dark_noisy":
        return Degradation(exposure=float(rng.uniform(0.2, 0.45)), gains=gains, read_sigma=float(rng.uniform(2, 8)),
                           shot_gain=float(rng.uniform(0.05, 0.3)), chroma_noise=float(rng.uniform(0.8, 2)))
    if kind != "color":
        raise ValueError(f"unknown degradation kind {kind!r}: use one of {', '.join(KINDS)}")
    exposure = float(np.exp(rng.uniform(np.log(0.25), np.log(1.8))))
    gamma = float(rng.uniform(0.6, 1.6)) if rng.random() < 0.5 else 1.0
    tone: tuple = ()
    pick = rng.random()
    if pick < 0.35:
        a = float(rng.uniform(0.5, 0.85))
        tone = ("flat", a, float(rng.uniform(0.0, 1 - a) * 0.6))
    elif pick < 0.5:
        tone = ("contrasty", float(rng.uniform(1.2, 1.5)))
    return Degradation(exposure=exposure, gamma=gamma, tone=tone, gains=gains)


def cast_gains(angle: float, strength: float) -> tuple[float, float, float]:
    """B, G, R gains of a cast pointing at ``angle`` in the chroma plane (0 = warm, pi/2 = magenta, ...)."""
    warm, magenta = np.cos(angle) * strength, np.sin(angle) * strength
    r = np.exp(warm + magenta / 2)
    b = np.exp(-warm + magenta / 2)
    g = np.exp(-magenta)
    mean = (r * g * b) ** (1 / 3)  # a cast moves colour, not brightness
    return float(b / mean), float(g / mean), float(r / mean)
