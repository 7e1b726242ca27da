"""Learned automatic levels and white balance: train on the tuning half and cross-validate against the rules.

A camera-style learned estimator (a tiny regressor on the statistics the stages already
gather, as FFCC or a log-chroma regression do for white balance) tried in place of the hand
rules of :mod:`realtime.stages.contrast` (:func:`~realtime.stages.contrast.level_targets`) and
:mod:`realtime.stages.color` (the estimators' median, their agreement, the dead zone).  The
stages ship the rules: under leave-sources-out cross-validation inside the tuning half the
learned estimators did not beat them with every clean source kept above 35 dB (figures in
``docs/quality.md``).  This script reproduces that comparison.

Data, from the corpus's ``tune`` half only (the report half is never read):

- per source, ``--per-source`` random views (a crop of a photograph at 35-100% of its size,
  or a real frame of a clip at 60-100%), 480x272, each degraded by :func:`corpus.draw` from a
  fixed seed: ``color`` (``night`` for a night scene) 55%, ``dark_noisy`` (``night_noisy``)
  20%, and **clean** 25%, whose target is no correction at all (how a model learns a scene's
  own colour and range from a cast or a squeezed range);
- features: the stages' own statistics, gathered with their code: percentiles of the contrast
  stage's luma, darkest- and brightest-channel histograms (:func:`level_features`); log-chroma
  means, spreads, saturation and the classical estimates (gray-world, shades-of-gray,
  gray-edge, white patch) of the color stage's thumbnail after the levels (:func:`cast_features`);
- targets, exact since the degradation is known: the levels are the least-squares affine map
  of the frame's luma thumbnail onto the truth's (:func:`level_target`); the white balance is
  the per-channel least-squares gain of the levelled thumbnail onto the truth's
  (:func:`cast_target`), on the amber-blue and green-magenta axes.  The white balance is
  trained after the ideal levels and after levels off by about a levels model's error;
- model: per output set, 5 one-hidden-layer tanh networks (8 units, scikit-learn's
  ``MLPRegressor``, L2 ``alpha`` 1, clean samples weighted 4x), each on a random 80% of the
  sources; their disagreement halves the estimate at :data:`SPREAD`, and outputs below what
  the model says of clean pictures (``--tolerance``: that percentile of its |output| there, 90 by
  default) are dropped.

Cross-validation: the tuning sources are split into 7 folds; a model trained without a fold
runs :mod:`tune_color`'s cases of the fold's sources through the in-process pipeline (the
stages' estimates replaced inside this process only).  ``--levels``/``--cast`` pick
``rules`` (the shipped code), ``learned``, or ``gated`` (the rules decide whether to correct,
the model how much); ``--oracle`` runs the exact targets instead, the ceiling of an estimator
that knew the answer.

Examples
--------
::

    python tools/train_color.py --levels learned --cast learned     # about 6 min on 2 cores
    python tools/train_color.py --levels gated --cast rules --cache /tmp/color_samples.npz
    python tools/train_color.py --oracle
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import cv2
import numpy as np

from kernels.backend import CPU
from kernels.balance import gray_edge_gains, shades_of_gray_gains, white_patch_gains
from kernels.contrast import BINS
from kernels.contrast_stats import levels_from_histogram, tile_histograms
from kernels.pixel import LUMA709_BGR
from realtime import Pipeline, build_settings
from realtime.run.frames import Frame
from realtime.stages import color as color_stage
from realtime.stages.color import ColorStage
from realtime.stages.contrast import ContrastStage, level_targets
from realtime.stages.params import ColorParams, ContrastParams

import corpus
import tune_color
from qualitylib import read_clip

log = logging.getLogger("train_color")

SIZE = (480, 272)
#: Largest and smallest stretch of a levels target (the contrast stage's own limit, and a mild squeeze).
MAX_GAIN, MIN_GAIN = 4.0, 0.8
KIND_SHARES = (("clean", 0.25), ("color", 0.55), ("dark_noisy", 0.20))
MEMBERS, HIDDEN, ALPHA, CLEAN_WEIGHT = 5, 8, 1.0, 4.0
#: Member disagreement (in units of the output's spread) at which an estimate is halved.
SPREAD = 0.5
#: Percentiles of each histogram the levels model reads: (histogram, percent).
LEVEL_PCTS = (("darkest", 0.5), ("darkest", 2.0), ("brightest", 99.5), ("brightest", 98.0),
              ("luma", 10.0), ("luma", 50.0), ("luma", 90.0))
#: Samples whose darkest channel is at or below / brightest at or above these carry no reliable chroma.
CHROMA_LOW, CHROMA_HIGH = 4.0, 250.0
#: The rules' correction (log stretch; chroma axis) at which ``gated`` hands over to the model in full.
GATE_LEVELS, GATE_CAST = 0.6, 0.05


# --- features ---------------------------------------------------------------------------------


def hist_percentile(hist: np.ndarray, pct: float) -> float | None:
    """The level (0..255) at ``pct`` percent of a 256-bin histogram, interpolated inside its bin."""
    h = np.asarray(hist, np.float64).reshape(-1)
    total = h.sum()
    if total <= 0:
        return None
    cum = np.cumsum(h)
    want = pct / 100.0 * total
    i = int(min(np.searchsorted(cum, want), h.size - 1))
    before = cum[i - 1] if i > 0 else 0.0
    return i - 0.5 + float(np.clip((want - before) / max(h[i], 1e-12), 0.0, 1.0))


def level_features(luma: np.ndarray, darkest: np.ndarray, brightest: np.ndarray) -> np.ndarray | None:
    """Percentiles (fractions of full scale) of the contrast stage's three histograms; ``None`` when empty."""
    hists = {"luma": luma, "darkest": darkest, "brightest": brightest}
    values = [hist_percentile(hists[name], pct) for name, pct in LEVEL_PCTS]
    return None if any(v is None for v in values) else np.array(values) / 255.0


def chroma_axes(log_gains: np.ndarray) -> np.ndarray:
    """A correction's log gains (BGR) as ``(amber, green)``: + amber adds blue, + green adds green."""
    g = np.asarray(log_gains, np.float64)
    return np.array([0.5 * (g[0] - g[2]), g[1] - 0.5 * (g[0] + g[2])])


def axes_to_log_gains(axes: np.ndarray) -> np.ndarray:
    """Log gains (BGR, zero mean) of an ``(amber, green)`` correction; the inverse of :func:`chroma_axes`."""
    amber, green = float(axes[0]), float(axes[1])
    return np.array([amber - green / 3.0, 2.0 * green / 3.0, -amber - green / 3.0])


def cast_features(thumb: np.ndarray) -> np.ndarray | None:
    """Log-chroma statistics and the classical estimates of a BGR thumbnail; ``None`` under 16 usable samples."""
    px = np.asarray(thumb, np.float32).reshape(-1, 3)
    ok = (px.min(axis=1) > CHROMA_LOW) & (px.max(axis=1) < CHROMA_HIGH)
    if int(ok.sum()) < 16:
        return None
    good = px[ok].astype(np.float64)
    luma = good @ np.asarray(LUMA709_BGR)
    logs = np.log(good)
    amber = 0.5 * (logs[:, 2] - logs[:, 0])
    magenta = 0.5 * (logs[:, 0] + logs[:, 2]) - logs[:, 1]
    feats: list[float] = []
    for w in (None, luma, (luma / luma.max()) ** 4):  # plain, luma- and highlight-weighted means
        feats += [np.average(amber, weights=w), np.average(magenta, weights=w)]
    chroma = np.hypot(amber, magenta)
    feats += [amber.std(), magenta.std(), chroma.mean(), float(np.percentile(chroma, 90))]
    means = [shades_of_gray_gains(thumb, p) for p in (6.0, 1.0)]
    for gains in [None if m is None else m[0] for m in means] + [gray_edge_gains(thumb), white_patch_gains(thumb)]:
        feats += [0.0, 0.0, 0.0] if gains is None else list(chroma_axes(np.log(np.asarray(gains)))) + [1.0]
    feats.append(float(np.median(px.astype(np.float64) @ np.asarray(LUMA709_BGR))) / 255.0)
    out = np.asarray(feats, np.float64)
    return np.where(np.isfinite(out), out, 0.0)


# --- the model ----------------------------------------------------------------------------------


def dead_zone(values: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """Each value kept where its size passes twice ``tolerance``, dropped below it, faded in between."""
    v = np.asarray(values, np.float64)
    tol = np.asarray(tolerance, np.float64)
    keep = np.clip(np.abs(v) / np.where(tol > 0, tol, 1.0) - 1.0, 0.0, 1.0)
    return np.where(tol > 0, v * keep, v)


@dataclass(frozen=True)
class Regressor:
    """An ensemble of one-hidden-layer tanh networks on standardised inputs, shrunk where unsure.

    ``w1, b1, w2, b2`` hold ``k`` members: ``(k, n_in, n_hidden)``, ``(k, n_hidden)``,
    ``(k, n_hidden, n_out)``, ``(k, n_out)``.
    """

    x_mean: np.ndarray
    x_scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    y_scale: np.ndarray
    tolerance: np.ndarray

    def members(self, x: np.ndarray) -> np.ndarray:
        """``(k, n_out)``: each member's prediction for one feature vector."""
        z = (np.asarray(x, np.float64) - self.x_mean) / self.x_scale
        hidden = np.tanh(np.einsum("i,kih->kh", z, self.w1) + self.b1)
        return (np.einsum("kh,kho->ko", hidden, self.w2) + self.b2) * self.y_scale

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The members' mean, halved where their disagreement reaches :data:`SPREAD`, without what is below
        the tolerance."""
        m = self.members(x)
        disagreement = float(np.sqrt(np.mean((m.std(axis=0) / self.y_scale) ** 2)))
        return dead_zone(m.mean(axis=0) / (1.0 + (disagreement / SPREAD) ** 2), self.tolerance)


def fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray, clean: np.ndarray, seed: int,
        tolerance_pct: float) -> Regressor:
    """The ensemble (see the module docstring); the tolerance is ``tolerance_pct`` of |output| on clean samples."""
    from sklearn.neural_network import MLPRegressor

    x_mean, x_scale, y_scale = x.mean(0), x.std(0) + 1e-6, y.std(0) + 1e-6
    z, u = (x - x_mean) / x_scale, y / y_scale
    rng = np.random.default_rng(seed)
    names = np.unique(groups)
    parts: list[list[np.ndarray]] = [[], [], [], []]
    for m in range(MEMBERS):
        rows = np.isin(groups, rng.choice(names, size=max(1, round(0.8 * len(names))), replace=False))
        net = MLPRegressor(hidden_layer_sizes=(HIDDEN,), activation="tanh", alpha=ALPHA, max_iter=600,
                           learning_rate_init=3e-3, random_state=seed * 100 + m)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a member stopped at max_iter is still a fine member
            net.fit(z[rows], u[rows], sample_weight=np.where(clean[rows], CLEAN_WEIGHT, 1.0))
        for part, value in zip(parts, (net.coefs_[0], net.intercepts_[0], net.coefs_[1], net.intercepts_[1])):
            part.append(value)
    model = Regressor(x_mean, x_scale, *(np.stack(p) for p in parts), y_scale, np.zeros(y.shape[1]))
    on_clean = np.array([model(v) for v in x[clean]])
    tolerance = np.percentile(np.abs(on_clean), tolerance_pct, axis=0)
    return Regressor(x_mean, x_scale, *(np.stack(p) for p in parts), y_scale, tolerance)


@dataclass(frozen=True)
class Models:
    levels: Regressor
    cast: Regressor


def train(data: dict[str, np.ndarray], seed: int, tolerance_pct: float, held: Sequence[int] = ()) -> Models:
    """Both models, on every sample but those of the sources ``held`` out."""
    fitted = []
    for m in ("l", "c"):
        sel = ~np.isin(data[m + "group"], list(held))
        fitted.append(fit(data[m + "x"][sel], data[m + "y"][sel], data[m + "group"][sel],
                          data[m + "clean"][sel].astype(bool), seed, tolerance_pct))
    return Models(*fitted)


# --- samples and targets ------------------------------------------------------------------------


def views(source: corpus.Source, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` random views of a source at :data:`SIZE`: crops of a photograph or of a clip's frames."""
    loaded = source.load()
    if isinstance(loaded, Path):
        pool = read_clip(loaded, None, None, step=max((corpus.frame_count(source) or 1) // 40, 1))
    else:
        pool = [np.asarray(loaded)]
    out = []
    for _ in range(count):
        frame = pool[int(rng.integers(len(pool)))]
        fh, fw = frame.shape[:2]
        scale = float(rng.uniform(0.35, 1.0)) if source.kind == "photo" else float(rng.uniform(0.6, 1.0))
        cw = min(fw, int(fh * SIZE[0] / SIZE[1])) * scale  # the output's aspect ratio, inside the frame
        ch = cw * SIZE[1] / SIZE[0]
        x0, y0 = int(rng.uniform(0, fw - cw + 1e-9)), int(rng.uniform(0, fh - ch + 1e-9))
        crop = np.ascontiguousarray(frame[y0:y0 + max(int(ch), 2), x0:x0 + max(int(cw), 2)])
        out.append(cv2.resize(crop, SIZE, interpolation=cv2.INTER_AREA if crop.shape[1] > SIZE[0] else cv2.INTER_CUBIC))
    return out


def draw_kind(source: corpus.Source, rng: np.random.Generator) -> str:
    """A degradation kind with the shares of :data:`KIND_SHARES` (the night kinds for a night scene)."""
    kinds, shares = zip(*KIND_SHARES)
    kind = kinds[int(np.searchsorted(np.cumsum(shares), rng.random(), side="right").clip(0, len(kinds) - 1))]
    if source.night and kind != "clean":
        return "night" if kind == "color" else "night_noisy"
    return kind


class Statistics:
    """The stages' statistics of a frame, gathered with the stages' own code, and the rules' answers."""

    def __init__(self) -> None:
        self.contrast = ContrastStage(ContrastParams(), CPU)
        self.color = ColorStage(ColorParams(), CPU)

    def histograms(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Luma, darkest- and brightest-channel histograms, and the luma thumbnail."""
        stats, _ = self.contrast._observe(frame)
        return (*(histograms(stats)), np.array(stats[0]))  # type: ignore[return-value]

    def thumbnail(self, frame: np.ndarray) -> np.ndarray:
        """The color stage's white-balance thumbnail."""
        return self.color._thumbnail(frame).copy()


def histograms(stats: np.ndarray) -> list[np.ndarray]:
    """The 256-bin histograms of a contrast statistics thumbnail's three planes (luma, darkest, brightest)."""
    return [tile_histograms(stats[i], out=np.empty((1, 1, BINS), np.int32))[0, 0].copy() for i in range(3)]


def rule_levels(darkest: np.ndarray, brightest: np.ndarray) -> tuple[float, float] | None:
    """The shipped rule's ``(black, white)`` for one frame's histograms."""
    p = ContrastParams()
    low = levels_from_histogram(darkest, p.black_pct, p.white_pct)
    high = levels_from_histogram(brightest, p.black_pct, p.white_pct)
    return None if low is None or high is None else level_targets(low[0], high[1], p)


def rule_cast(stage: ColorStage, thumb: np.ndarray) -> np.ndarray:
    """The shipped rules' white-balance correction on the chroma axes (before its luma and white are kept)."""
    opinions = color_stage.cast_opinions(thumb, stage.params.white_balance)
    if opinions is None:
        return np.zeros(2)
    log_gains = color_stage.cast_estimate(opinions) * stage._confidence(opinions)
    return chroma_axes(color_stage.dead_zone(log_gains, stage.params.wb_tolerance))


def level_target(degraded: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """``(black, stretch)``: the affine map of the degraded luma onto the truth's, least squares.

    Samples the degradation clipped cannot be mapped back and are left out, and so are those the
    map clips where the truth is clipped too; the stretch is held to ``MIN_GAIN .. MAX_GAIN``.
    """
    d, t = degraded.reshape(-1).astype(np.float64), truth.reshape(-1).astype(np.float64)
    keep = (d > 1.0) & (d < 254.0)
    if keep.sum() < 16 or np.ptp(d[keep]) < 1.0:
        return 0.0, 1.0
    d, t = d[keep], t[keep]
    gain, offset = np.polyfit(d, t, 1)
    for _ in range(2):
        pred = gain * d + offset
        fits = ~(((pred >= 255.0) & (t >= 254.0)) | ((pred <= 0.0) & (t <= 1.0)))
        if fits.sum() < 16 or np.ptp(d[fits]) < 1.0:
            break
        gain, offset = np.polyfit(d[fits], t[fits], 1)
    if not MIN_GAIN < gain < MAX_GAIN:
        gain = float(np.clip(gain, MIN_GAIN, MAX_GAIN))
        offset = float(np.mean(t - gain * d))
    return -float(offset) / float(gain), float(gain)


def cast_target(levelled: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``(amber, green)`` of the per-channel gains that take the levelled thumbnail onto the truth's."""
    a, t = levelled.reshape(-1, 3).astype(np.float64), truth.reshape(-1, 3).astype(np.float64)
    keep = (a.min(1) > CHROMA_LOW) & (a.max(1) < CHROMA_HIGH) & (t.max(1) < CHROMA_HIGH)
    if keep.sum() < 16:
        return np.zeros(2)
    gains = (a[keep] * t[keep]).sum(0) / np.maximum((a[keep] ** 2).sum(0), 1e-9)
    return chroma_axes(np.log(np.maximum(gains, 1e-3)))


def samples(sources: Sequence[corpus.Source], per_source: int, seed: int) -> dict[str, np.ndarray]:
    """Features and targets of both models (``l*``: levels, ``c*``: white balance), each sample's source
    index and whether it is clean."""
    stats = Statistics()
    rows: dict[str, list] = {k: [] for k in ("lx", "ly", "lgroup", "lclean", "cx", "cy", "cgroup", "cclean")}
    for n, source in enumerate(sources):
        rng = np.random.default_rng([seed, corpus.SOURCES.index(source)])
        for truth in views(source, per_source, rng):
            kind = draw_kind(source, rng)
            degraded = corpus.draw(kind, rng).apply([truth], seed=int(rng.integers(2 ** 31)))[0]
            luma, darkest, brightest, luma_thumb = stats.histograms(degraded)
            lx = level_features(luma, darkest, brightest)
            if lx is None:
                continue
            black, gain = level_target(luma_thumb, stats.histograms(truth)[3])
            for key, value in (("lx", lx), ("ly", [black / 255.0, math.log(gain)]), ("lgroup", n),
                               ("lclean", kind == "clean")):
                rows[key].append(value)
            thumb, true_thumb = stats.thumbnail(degraded), stats.thumbnail(truth)
            # The white balance sees the levels the stage set, not the ideal ones: train after both.
            off_gain = float(np.clip(gain * math.exp(rng.normal(0.0, 0.15)), MIN_GAIN, MAX_GAIN))
            for b, g in ((black, gain), (black + rng.normal(0.0, 8.0), off_gain)):
                levelled = ContrastStage.through(thumb, (b, b + 255.0 / g))
                cx = cast_features(levelled)
                if cx is None:
                    continue
                for key, value in (("cx", cx), ("cy", cast_target(levelled, true_thumb)), ("cgroup", n),
                                   ("cclean", kind == "clean")):
                    rows[key].append(value)
        log.info("%s: %d views", source.name, per_source)
    return {k: np.asarray(v, np.float64) for k, v in rows.items()}


# --- the stages with other estimates, in this process -------------------------------------------


Levels = Callable[[list[np.ndarray]], "tuple[float, float] | None"]
Cast = Callable[[ColorStage, np.ndarray], "np.ndarray | None"]


@contextlib.contextmanager
def estimators(levels: Levels | None, cast: Cast | None) -> Iterator[None]:
    """Inside the block the stages take their levels from ``levels(histograms)`` and their white-balance
    chroma axes from ``cast(stage, thumbnail)`` (``None``: the shipped rules)."""
    saved = ContrastStage._level_reading, ColorStage.estimate

    def level_reading(stage: ContrastStage, stats: np.ndarray) -> tuple[float, float] | None:
        return levels(histograms(stats)) if stage.params.levels else None

    def estimate(stage: ColorStage, thumb: np.ndarray) -> np.ndarray | None:
        axes = cast(stage, thumb)
        if axes is None:
            return None
        lim = math.log(stage.params.wb_max_gain)
        log_gains = np.clip(axes_to_log_gains(axes) * stage.params.wb_strength, -lim, lim)
        return color_stage._keep_gray_and_white(log_gains, thumb, lim)

    try:
        if levels is not None:
            ContrastStage._level_reading = level_reading  # type: ignore[method-assign]
        if cast is not None:
            ColorStage.estimate = estimate  # type: ignore[method-assign]
        yield
    finally:
        ContrastStage._level_reading, ColorStage.estimate = saved  # type: ignore[method-assign]


def learned_levels(model: Regressor, gated: bool) -> Levels:
    """Levels from the model; ``gated``: the rule's where it leaves the frame alone, fading to the model's
    as the rule's own stretch grows to :data:`GATE_LEVELS` (or its black passes 10 levels)."""
    def levels(hists: list[np.ndarray]) -> tuple[float, float] | None:
        x = level_features(*hists)
        rule = rule_levels(hists[1], hists[2])
        if x is None or rule is None:
            return None
        black, log_gain = model(x)
        black, log_gain = 255.0 * black, min(max(log_gain, math.log(MIN_GAIN)), math.log(MAX_GAIN))
        if gated:
            rule_gain = math.log(255.0 / (rule[1] - rule[0]))
            w = min(max(abs(rule_gain) / GATE_LEVELS, abs(rule[0]) / 10.0), 1.0)
            black, log_gain = rule[0] + w * (black - rule[0]), rule_gain + w * (log_gain - rule_gain)
        return black, black + 255.0 / math.exp(log_gain)
    return levels


def learned_cast(model: Regressor, gated: bool) -> Cast:
    """White balance from the model; ``gated``: per chroma axis, the rules' until their correction reaches
    :data:`GATE_CAST`, the model's beyond."""
    def cast(stage: ColorStage, thumb: np.ndarray) -> np.ndarray | None:
        x = cast_features(thumb)
        if x is None:
            return None
        axes = model(x)
        if gated:
            rule = rule_cast(stage, thumb)
            axes = rule + np.clip(np.abs(rule) / GATE_CAST, 0.0, 1.0) * (axes - rule)
        return axes
    return cast


# --- cross-validation -------------------------------------------------------------------------


def summary(rows: list[dict]) -> str:
    d = np.array([r["de00"] for r in rows if r["kind"] == "color"])
    clean = np.array([r["psnr"] for r in rows if r["kind"] == "clean"])
    worse = sum(r["de00"] > r["input"] for r in rows if r["kind"] == "color")
    return (f"dE00 mean {d.mean():5.2f} median {np.median(d):5.2f} worst {d.max():5.2f} worse-than-input {worse}  "
            f"clean PSNR min {clean.min():5.2f}, below {tune_color.CLEAN_PSNR:.0f} dB: "
            f"{int((clean < tune_color.CLEAN_PSNR).sum())}")


def run_cases(cases: list) -> list[dict]:
    rows = []
    for name, kind, truth, degraded in cases:
        out = tune_color.enhance(degraded, ())
        row = {"name": name, "kind": kind}
        if kind == "clean":
            row["psnr"] = tune_color.frame_psnr(out, truth)
        else:
            row["de00"], row["input"] = tune_color.de00(out, truth), tune_color.de00(degraded, truth)
        rows.append(row)
    return rows


def cross_validate(data: dict[str, np.ndarray], sources: Sequence[corpus.Source], args: argparse.Namespace) -> None:
    """Leave-sources-out folds: train without a fold, run the fold's :mod:`tune_color` cases with that model."""
    all_cases = tune_color.cases("tune", args.cases)
    order = np.random.default_rng(args.seed).permutation(len(sources))
    learned, rules = [], []
    for f in range(args.folds):
        held = {sources[i].name for i in order[f::args.folds]}
        cases = [c for c in all_cases if c[0].split("/")[0] in held]
        models = train(data, args.seed, args.tolerance, [n for n, s in enumerate(sources) if s.name in held])
        levels = None if args.levels == "rules" else learned_levels(models.levels, args.levels == "gated")
        cast = None if args.cast == "rules" else learned_cast(models.cast, args.cast == "gated")
        with estimators(levels, cast):
            rows = run_cases(cases)
        learned += rows
        rules += run_cases(cases)
        print(f"fold {f + 1}/{args.folds} ({', '.join(sorted(held))}): {summary(rows)}")
        if args.verbose:
            for r in rows:
                print(f"    {r['name'][:60]:60s} " + (f"clean PSNR {r['psnr']:6.2f}" if r["kind"] == "clean" else
                                                      f"in {r['input']:5.2f} out {r['de00']:5.2f}"))
    print(f"levels {args.levels}, white balance {args.cast}, cross-validated: {summary(learned)}")
    print(f"the shipped rules on the same cases:          {summary(rules)}")


def oracle(args: argparse.Namespace) -> None:
    """:mod:`tune_color`'s cases with the exact targets as estimates (levels, white balance, both)."""
    stats = Statistics()
    all_cases = tune_color.cases("tune", args.cases)
    now: dict[str, np.ndarray] = {}

    def levels(hists: list[np.ndarray]) -> tuple[float, float]:
        black, gain = level_target(stats.histograms(now["degraded"])[3], stats.histograms(now["truth"])[3])
        return black, black + 255.0 / gain

    def cast(stage: ColorStage, thumb: np.ndarray) -> np.ndarray:
        return cast_target(thumb, stats.thumbnail(now["truth"]))

    for name, lv, cs in (("levels", levels, None), ("white balance", None, cast), ("both", levels, cast)):
        rows = []
        with estimators(lv, cs):
            for case, kind, truth, degraded in all_cases:
                pipeline, out = Pipeline(build_settings(None, "contrast,color", None, (), "cpu")), []
                for i, frame in enumerate(degraded):  # the oracle reads the truth of the frame being pushed
                    now["truth"], now["degraded"] = truth[i], frame
                    out += [o.image.copy() for o in pipeline.push(Frame(np.ascontiguousarray(frame), i, i / 30, 0.0))]
                row = {"name": case, "kind": kind}
                if kind == "clean":
                    row["psnr"] = tune_color.frame_psnr(out, truth)
                else:
                    row["de00"], row["input"] = tune_color.de00(out, truth), tune_color.de00(degraded, truth)
                rows.append(row)
        print(f"oracle {name:14s}: {summary(rows)}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--levels", choices=("rules", "learned", "gated"), default="learned")
    ap.add_argument("--cast", choices=("rules", "learned", "gated"), default="learned")
    ap.add_argument("--tolerance", type=float, default=90.0, help="percentile of the clean samples' |output| "
                                                                   "below which an estimate is dropped")
    ap.add_argument("--per-source", type=int, default=250, help="training views per tuning source")
    ap.add_argument("--folds", type=int, default=7)
    ap.add_argument("--cases", type=int, default=3, help="tune_color cases per source")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cache", type=Path, help="keep the samples in this .npz and reuse them")
    ap.add_argument("--oracle", action="store_true", help="run the exact targets instead")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if args.oracle:
        oracle(args)
        return 0
    sources, _ = corpus.available(corpus.sources("tune"))
    t0 = time.perf_counter()
    if args.cache and args.cache.exists():
        data = dict(np.load(args.cache))
    else:
        data = samples(sources, args.per_source, args.seed)
        if args.cache:
            np.savez(args.cache, **data)
    print(f"{len(data['lgroup'])} views of {len(sources)} tuning sources in {time.perf_counter() - t0:.0f} s")
    cross_validate(data, sources, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
