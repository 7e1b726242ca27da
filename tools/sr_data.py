"""Images for training and evaluating the upscalers, and the degradation that makes their inputs.

Two disjoint sets of real photographs and real video frames:

* **training** (``tools/train_sr.py`` only): scikit-image's bundled photographs
  (cat, rocket, Hubble field, retina, textures, lab slide) and frames of the
  shared clips ``clean_bikes_street_272p``, ``shaky_seattle_walk_360p``,
  ``shaky_foreman_cif`` and ``clean_person_indoor_432p``;
* **evaluation** (``tools/quality_upscale.py``; never trained on): the
  Middlebury motorcycle photograph (left view; the right view is left out of
  training too: it is the same scene), astronaut and coffee, and frames of
  ``clean_flower_540p``.

The degradation is the usual super-resolution protocol: a Gaussian blur of
sigma ``0.5 * factor`` (the optics and the anti-alias filter of a camera
that captured at the lower resolution), then an area downscale by ``factor``.
Metrics are on luma (BT.601) with ``factor`` pixels cropped at every border.

scikit-image is needed here only (``pip install -e ".[tools]"``).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from qualitylib import MEDIA, read_clip

#: scikit-image photographs (file names in skimage/data) used for training.
TRAIN_PHOTOS = ("chelsea.png", "rocket.jpg", "hubble_deep_field.jpg", "retina.jpg", "brick.png", "grass.png",
                "gravel.png", "ihc.png", "coins.png", "camera.png")
#: Shared clips whose frames are used for training: (file, frame step).
TRAIN_CLIPS = (("clean_bikes_street_272p.mp4", 10), ("shaky_seattle_walk_360p.avi", 20),
               ("shaky_foreman_cif.mp4", 10), ("clean_person_indoor_432p.mp4", 60))

#: Held-out photographs: never trained on.
EVAL_PHOTOS = ("motorcycle_left.png", "astronaut.png", "coffee.png")
#: Held-out clip frames.
EVAL_CLIP = "clean_flower_540p.mp4"
EVAL_FRAMES = (0, 50, 100, 149)


def _skimage_photo(name: str) -> np.ndarray:
    try:
        import skimage
    except ImportError:
        raise SystemExit('scikit-image is needed for the photographs: pip install -e ".[tools]"') from None
    image = cv2.imread(str(Path(skimage.__file__).parent / "data" / name), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"scikit-image photograph {name} is missing from {Path(skimage.__file__).parent}")
    return image


def _even(image: np.ndarray, factor: int) -> np.ndarray:
    """Crop so both sides are multiples of ``factor`` (LR and HR then align exactly)."""
    h, w = image.shape[:2]
    return image[: h - h % factor, : w - w % factor]


def train_images() -> list[tuple[str, np.ndarray]]:
    """``(name, BGR uint8)`` high-resolution training images."""
    images = [(name, _skimage_photo(name)) for name in TRAIN_PHOTOS]
    for clip, step in TRAIN_CLIPS:
        path = MEDIA / clip
        if not path.exists():
            continue
        for i, frame in enumerate(read_clip(path, None, None, step=step)):
            images.append((f"{clip}#{i * step}", frame))
    return images


def eval_images(hr_height: int | None = 720) -> list[tuple[str, np.ndarray]]:
    """``(name, BGR uint8)`` held-out high-resolution images.

    The motorcycle photograph (2964x2000) is area-downscaled and centre-cropped
    to 16:9 at ``hr_height`` lines (1280x720 by default), a real 720p frame;
    the others are used at their own size.
    """
    images = []
    for name in EVAL_PHOTOS:
        photo = _skimage_photo(name)
        if name.startswith("motorcycle") and hr_height:
            width = hr_height * 16 // 9
            scale = width / photo.shape[1]
            photo = cv2.resize(photo, (width, round(photo.shape[0] * scale)), interpolation=cv2.INTER_AREA)
            top = (photo.shape[0] - hr_height) // 2
            photo = photo[top: top + hr_height]
        images.append((name, photo))
    path = MEDIA / EVAL_CLIP
    if path.exists():
        frames = read_clip(path, None, max(EVAL_FRAMES) + 1)
        images += [(f"{EVAL_CLIP}#{i}", frames[i]) for i in EVAL_FRAMES if i < len(frames)]
    return images


def degrade(hr: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """``(hr_cropped, lr)``: HR cropped to a multiple of ``factor`` and its blurred, downscaled LR."""
    hr = _even(hr, factor)
    blurred = cv2.GaussianBlur(hr, (0, 0), 0.5 * factor)
    lr = cv2.resize(blurred, (hr.shape[1] // factor, hr.shape[0] // factor), interpolation=cv2.INTER_AREA)
    return hr, lr


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of a BGR image, float64."""
    f = image.astype(np.float64)
    return 0.114 * f[..., 0] + 0.587 * f[..., 1] + 0.299 * f[..., 2]


def sr_psnr(out: np.ndarray, hr: np.ndarray, factor: int) -> float:
    """Luma PSNR with ``factor`` pixels cropped at every border (dB)."""
    c = factor
    diff = luma(out)[c:-c, c:-c] - luma(hr)[c:-c, c:-c]
    return float(10.0 * np.log10(255.0 ** 2 / max(np.mean(diff ** 2), 1e-12)))
