"""Train the learned upscaler (``kernels/superres.py``) and export its weights.

The network runs on low-resolution luma and predicts the residual over a
bicubic upscale through a pixel shuffle (ESPCN with a residual)::

    conv5x5 1->C, PReLU, [conv3x3 C->C, PReLU] x mid, conv3x3 C->f*f, pixel shuffle, + bicubic

Training pairs come from ``tools/sr_data.py`` only: its training images and
its degradation (Gaussian blur of sigma ``0.5 * factor``, area downscale).  Random
low-resolution patches with their high-resolution targets (all eight flips and
transposes), Adam, Charbonnier loss, cosine learning-rate decay.  ``--val N``
holds every N-th training image out for choosing settings; the held-out
evaluation images of ``sr_data.eval_images`` are used only for the final
report, through the shipped inference code (Numba), against Lanczos and bicubic.

PyTorch runs on the CPU here (``pip install -e ".[train]"`` with the CPU wheel:
``pip install torch --index-url https://download.pytorch.org/whl/cpu``).

Examples
--------
::

    python tools/train_sr.py --factor 2 --out kernels/models/sr_x2.npz    # the shipped weights
    python tools/train_sr.py --factor 4 --out kernels/models/sr_x4.npz
    python tools/train_sr.py --factor 2 --minutes 5 --val 6 --out /tmp/try.npz   # quick try
    python tools/train_sr.py --factor 2 --eval-only kernels/models/sr_x2.npz
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
from sr_data import EVAL_CLIP, degrade, eval_images, luma, sr_psnr, train_images

from kernels.superres import IN_OFFSET, IN_SCALE, SrModel, load_sr_model, save_sr_model, upscale_learned

from qualitylib import MEDIA, read_clip  # also puts the project root on sys.path

log = logging.getLogger("train_sr")


# --- data ------------------------------------------------------------------------------------

class Pairs:
    """Low-resolution luma, bicubic base luma and high-resolution luma of each training image."""

    def __init__(self, images: Sequence[tuple[str, np.ndarray]], factor: int, patch: int) -> None:
        self.factor = factor
        self.patch = patch
        self.lr: list[np.ndarray] = []
        self.base: list[np.ndarray] = []
        self.hr: list[np.ndarray] = []
        for _, image in images:
            hr, lr = degrade(image, factor)
            if min(lr.shape[:2]) < patch:
                continue
            self.lr.append((luma(lr) * IN_SCALE + IN_OFFSET).astype(np.float32))
            self.base.append(luma(bicubic(lr, factor)).astype(np.float32))
            self.hr.append(luma(hr).astype(np.float32))
        if not self.lr:
            raise SystemExit(f"no training image is at least {patch * factor} px on each side")
        # Images are drawn in proportion to their number of patch positions.
        sizes = np.array([(a.shape[0] - patch + 1) * (a.shape[1] - patch + 1) for a in self.lr], np.float64)
        self.weights = sizes / sizes.sum()

    def batch(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``(lr (N, 1, p, p), residual target (N, 1, p*f, p*f))``; the residual in levels / 255."""
        p, f = self.patch, self.factor
        lr = np.empty((size, 1, p, p), np.float32)
        target = np.empty((size, 1, p * f, p * f), np.float32)
        for n, i in enumerate(rng.choice(len(self.lr), size=size, p=self.weights)):
            y = int(rng.integers(0, self.lr[i].shape[0] - p + 1))
            x = int(rng.integers(0, self.lr[i].shape[1] - p + 1))
            a = self.lr[i][y: y + p, x: x + p]
            t = (self.hr[i] - self.base[i])[y * f: (y + p) * f, x * f: (x + p) * f] * np.float32(1.0 / 255.0)
            # The degradation is symmetric, so a flipped or transposed pair is a valid pair.
            k = int(rng.integers(0, 8))
            if k & 1:
                a, t = a[:, ::-1], t[:, ::-1]
            if k & 2:
                a, t = a[::-1], t[::-1]
            if k & 4:
                a, t = a.T, t.T
            lr[n, 0] = a
            target[n, 0] = t
        return lr, target


def bicubic(lr: np.ndarray, factor: int) -> np.ndarray:
    return cv2.resize(lr, (lr.shape[1] * factor, lr.shape[0] * factor), interpolation=cv2.INTER_CUBIC)


def split(images: list, every: int) -> tuple[list, list]:
    """``(train, validation)``: every ``every``-th image is held out for validation (0: none)."""
    if every <= 0:
        return images, []
    return ([im for i, im in enumerate(images) if i % every != every // 2],
            [im for i, im in enumerate(images) if i % every == every // 2])


# --- network ---------------------------------------------------------------------------------

def build_net(factor: int, channels: int, mid: int, first_kernel: int):
    import torch
    from torch import nn

    class SrNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            sizes = [(1, channels, first_kernel)] + [(channels, channels, 3)] * mid + [(channels, factor ** 2, 3)]
            self.convs = nn.ModuleList(nn.Conv2d(i, o, k, padding=k // 2) for i, o, k in sizes)
            self.acts = nn.ModuleList(nn.PReLU(channels, init=0.1) for _ in sizes[:-1])
            # The last layer starts near zero: training starts from the bicubic upscale.
            nn.init.normal_(self.convs[-1].weight, std=1e-3)
            nn.init.zeros_(self.convs[-1].bias)

        def forward(self, x):
            for conv, act in zip(self.convs, self.acts):
                x = act(conv(x))
            return torch.nn.functional.pixel_shuffle(self.convs[-1](x), factor)

    return SrNet()


def export(net, factor: int, path: Path) -> SrModel:
    """Write the weights as the ``.npz`` that :func:`kernels.superres.load_sr_model` reads."""
    weights, biases = [], []
    for i, conv in enumerate(net.convs):
        w = conv.weight.detach().double().numpy()
        b = conv.bias.detach().double().numpy()
        if i == len(net.convs) - 1:
            # The network's residual is in levels / 255; the shipped last layer outputs levels.
            w, b = w * 255.0, b * 255.0
        weights.append(w.astype(np.float32))
        biases.append(b.astype(np.float32))
    slopes = tuple(act.weight.detach().numpy().astype(np.float32) for act in net.acts)
    model = SrModel(factor, tuple(weights), tuple(biases), slopes, str(path))
    save_sr_model(model, path)
    log.info("wrote %s (%d bytes, %d multiply-adds per low-resolution pixel)", path, path.stat().st_size,
             model.macs_per_pixel)
    return model


def train(args: argparse.Namespace, pairs: Pairs, val: list, val_fn: Callable) -> object:
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    net = build_net(args.factor, args.channels, args.mid, args.first_kernel)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    steps = args.steps
    t0 = time.perf_counter()
    step = 0
    loss_sum = 0.0
    while step < steps:
        frac = step / steps
        for group in opt.param_groups:
            group["lr"] = args.lr * (0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * frac)))
        lr, target = pairs.batch(rng, args.batch)
        out = net(torch.from_numpy(lr))
        diff = out - torch.from_numpy(target)
        loss = torch.sqrt(diff * diff + 1e-6).mean()  # Charbonnier: L1 that is smooth at 0
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += float(loss.detach())
        step += 1
        if args.minutes and step == 50:
            # Calibrate the schedule's length to the time budget (not reproducible: use --steps for that).
            per_step = (time.perf_counter() - t0) / step
            steps = max(step + 1, int(args.minutes * 60.0 / per_step))
            log.info("%.0f ms per step: %d steps in %.1f minutes", per_step * 1e3, steps, args.minutes)
        if step % args.log_every == 0 or step == steps:
            msg = f"step {step}/{steps}  loss {loss_sum / args.log_every * 255:.3f} levels  " \
                  f"{time.perf_counter() - t0:.0f} s"
            loss_sum = 0.0
            if val and (step % (args.log_every * 5) == 0 or step == steps):
                msg += f"  val mean gain over lanczos {val_fn(net):+.3f} dB"
            log.info(msg)
    return net


def torch_predictor(net, factor: int) -> Callable[[np.ndarray], np.ndarray]:
    """The network in PyTorch, composed as the shipped inference does (bicubic BGR + luma residual)."""
    import torch

    def predict(lr: np.ndarray) -> np.ndarray:
        x = (luma(lr) * IN_SCALE + IN_OFFSET).astype(np.float32)[None, None]
        with torch.no_grad():
            res = net(torch.from_numpy(x))[0, 0].double().numpy() * 255.0
        out = bicubic(lr, factor).astype(np.float64) + res[..., None]
        return np.clip(np.floor(np.clip(out, 0.0, 255.0) + 0.5), 0, 255).astype(np.uint8)

    return predict


# --- evaluation -------------------------------------------------------------------------------

def evaluate(images: Sequence[tuple[str, np.ndarray]], factor: int, predict: Callable[[np.ndarray], np.ndarray],
             title: str) -> dict[str, float]:
    """Luma PSNR of Lanczos, bicubic and ``predict`` per image; logs a table, returns the means."""
    rows = []
    for name, image in images:
        hr, lr = degrade(image, factor)
        size = (lr.shape[1] * factor, lr.shape[0] * factor)
        rows.append((name, sr_psnr(cv2.resize(lr, size, interpolation=cv2.INTER_LANCZOS4), hr, factor),
                     sr_psnr(bicubic(lr, factor), hr, factor), sr_psnr(predict(lr), hr, factor)))
    log.info("%s, x%d (luma PSNR dB, %d px borders cropped):", title, factor, factor)
    log.info("  %-32s %8s %8s %8s %8s", "image", "lanczos", "bicubic", "learned", "gain")
    for name, la, bi, le in rows:
        log.info("  %-32s %8.2f %8.2f %8.2f %+8.2f", name, la, bi, le, le - la)
    means = {key: float(np.mean([r[i] for r in rows])) for i, key in enumerate(("lanczos", "bicubic", "learned"), 1)}
    log.info("  %-32s %8.2f %8.2f %8.2f %+8.2f", "mean", means["lanczos"], means["bicubic"], means["learned"],
             means["learned"] - means["lanczos"])
    return means


def time_inference(model: SrModel, repeat: int = 15) -> None:
    """Milliseconds per frame to 1920x1080 of the learned upscaler and of ``cv2.resize`` Lanczos, interleaved.

    Kernel time only (the input already decoded); the least disturbed run counts.
    """
    f = model.factor
    frames = read_clip(MEDIA / EVAL_CLIP, (1920 // f, 1080 // f), 1)
    frame = frames[0]
    out = np.empty((1080, 1920, 3), np.uint8)
    work: dict = {}
    upscale_learned(frame, model, out=out, work=work)  # compile and allocate once
    learned, lanczos = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        upscale_learned(frame, model, out=out, work=work)
        t1 = time.perf_counter()
        cv2.resize(frame, (1920, 1080), dst=out, interpolation=cv2.INTER_LANCZOS4)
        t2 = time.perf_counter()
        learned.append(t1 - t0)
        lanczos.append(t2 - t1)
    log.info("speed, %dx%d -> 1920x1080 (ms per frame, best of %d): learned %.1f, cv2 lanczos %.1f (ratio %.2f); "
             "%d multiply-adds per input pixel", frame.shape[1], frame.shape[0], repeat, min(learned) * 1e3,
             min(lanczos) * 1e3, min(learned) / min(lanczos), model.macs_per_pixel)


def final_report(factor: int, path: Path) -> None:
    model = load_sr_model(factor, path)
    evaluate(eval_images(), factor, lambda lr: upscale_learned(lr, model), f"held-out images, {path.name}")
    time_inference(model)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--factor", type=int, choices=(2, 4), required=True)
    ap.add_argument("--out", type=Path, help="weights file to write (.npz)")
    ap.add_argument("--steps", type=int, default=30000, help="optimizer steps (default %(default)s)")
    ap.add_argument("--minutes", type=float, default=0.0,
                    help="fit the schedule to this time budget instead of --steps (not reproducible)")
    ap.add_argument("--patch", type=int, default=0, help="low-resolution patch side (default 64 for x2, 40 for x4)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    ap.add_argument("--channels", type=int, default=0, help="hidden channels (default 8 for x2, 12 for x4)")
    ap.add_argument("--mid", type=int, default=-1,
                    help="number of 3x3 channels->channels layers (default 2 for x2, 3 for x4)")
    ap.add_argument("--first-kernel", type=int, default=5, choices=(3, 5))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    ap.add_argument("--val", type=int, default=0, help="hold out every N-th training image for validation")
    ap.add_argument("--log-every", type=int, default=200)
    ap.add_argument("--eval-only", type=Path, help="only report held-out PSNR of this weights file")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="train_sr: %(message)s", stream=sys.stdout)

    if args.eval_only:
        final_report(args.factor, args.eval_only)
        return 0
    if args.out is None:
        ap.error("--out is required for training")
    patch = args.patch or (64 if args.factor == 2 else 40)
    # The shipped shapes, chosen on the validation split: depth pays more than width here.
    args.channels = args.channels or (8 if args.factor == 2 else 12)
    args.mid = args.mid if args.mid >= 0 else (2 if args.factor == 2 else 3)
    images = train_images()
    train_set, val_set = split(images, args.val)
    log.info("%d training images, %d validation images, x%d, patches %d px (LR)", len(train_set), len(val_set),
             args.factor, patch)
    pairs = Pairs(train_set, args.factor, patch)
    val_pairs = [degrade(im, args.factor) for _, im in val_set]

    def val_gain(net) -> float:
        predict = torch_predictor(net, args.factor)
        gains = []
        for hr, lr in val_pairs:
            lanczos = cv2.resize(lr, (lr.shape[1] * args.factor, lr.shape[0] * args.factor),
                                 interpolation=cv2.INTER_LANCZOS4)
            gains.append(sr_psnr(predict(lr), hr, args.factor) - sr_psnr(lanczos, hr, args.factor))
        return float(np.mean(gains))

    net = train(args, pairs, val_set, val_gain)
    export(net, args.factor, args.out)
    if val_set:
        evaluate(val_set, args.factor, torch_predictor(net, args.factor), "validation images (PyTorch)")
        return 0
    final_report(args.factor, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
