"""Make the README's before/after picture from the bundled clip, so anyone can re-make it.

The bundled clip is clean, so the "before" is the clip as a dim webcam gives it: a copy made
darker, warm-tinted (an evening lamp) and grainy (read + shot noise) by the evaluation
corpus's own degradation (:class:`corpus.Degradation`, fixed values and seed).  The "after"
is that copy through vqe's default preset, frame by frame in order (the denoiser's temporal
filter needs the frames before), and the third panel is the clip as it was.

Examples
--------
::

    python tools/readme_picture.py                      # writes docs/before_after.jpg
    python tools/readme_picture.py --frame 60 --out /tmp/ba.jpg
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from realtime import Pipeline

from corpus import SAMPLE, Degradation
from qualitylib import ROOT, read_clip

#: A dim room lit by a warm lamp, seen by a small sensor.
WEBCAM = Degradation(exposure=0.2, gains=(0.75, 1.0, 1.25), read_sigma=8.0, shot_gain=0.4, chroma_noise=1.5)
PANEL_WIDTH = 480
LABEL_HEIGHT = 30


def panel(image: np.ndarray, label: str) -> np.ndarray:
    """``image`` at the panel width with ``label`` on a strip above it."""
    height = round(image.shape[0] * PANEL_WIDTH / image.shape[1])
    small = cv2.resize(image, (PANEL_WIDTH, height), interpolation=cv2.INTER_AREA)
    strip = np.full((LABEL_HEIGHT, PANEL_WIDTH, 3), 24, np.uint8)
    cv2.putText(strip, label, (10, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (235, 235, 235), 1, cv2.LINE_AA)
    return np.vstack([strip, small])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frame", type=int, default=45, help="the frame shown (frames before it warm up the filters)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "before_after.jpg")
    args = ap.parse_args(argv)
    truth = read_clip(SAMPLE, None, args.frame + 1)
    before = WEBCAM.apply(truth, seed=0)
    with Pipeline(backend="cpu") as pipe:  # the default preset, as `vqe --file` runs it
        after = list(pipe.frames(before))
    row = np.hstack([panel(before[-1], "before: dim, warm lamp, grainy"),
                     panel(after[-1], "after: vqe (default preset)"),
                     panel(truth[-1], "the clip as filmed")])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), row, [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"{args.out}: frame {args.frame} of {SAMPLE.name}, {WEBCAM.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
