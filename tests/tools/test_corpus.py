"""The evaluation corpus (tools/corpus.py) and the case list of tools/quality_corpus.py: no vqe runs,
no real source loaded (fake loaders stand in), so it needs neither scikit-image nor the shared clips."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))

import corpus  # noqa: E402
from corpus import Degradation, Source  # noqa: E402


def _photo(seed: int = 0, shape=(300, 400, 3)):
    image = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    return lambda: image


def _fake_registry() -> tuple[Source, ...]:
    """The real registry's names, halves and flags, with cheap in-memory photographs as loaders."""
    return tuple(dataclasses.replace(s, kind="photo", _load=_photo(i)) for i, s in enumerate(corpus.SOURCES))


def test_split_has_no_source_in_both_halves():
    names = [s.name for s in corpus.SOURCES]
    assert len(names) == len(set(names))
    tune = {s.name for s in corpus.sources("tune")}
    report = {s.name for s in corpus.sources("report")}
    assert tune and report and not tune & report
    assert tune | report == set(names)
    assert {s.name for s in corpus.sources("all")} == set(names)
    with pytest.raises(ValueError):
        corpus.sources("test")


@pytest.mark.parametrize("split", corpus.SPLITS)
def test_each_half_has_photos_videos_and_a_night_scene(split):
    half = corpus.sources(split)
    assert any(s.kind == "photo" for s in half)
    assert any(s.kind == "video" for s in half)
    assert any(s.night for s in half)


@pytest.mark.parametrize("kind", corpus.KINDS)
def test_draw_is_reproducible_from_its_seed(kind):
    a = corpus.draw(kind, np.random.default_rng(7))
    b = corpus.draw(kind, np.random.default_rng(7))
    assert a == b
    frames = [np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(2)]
    for x, y in zip(a.apply(frames, seed=3), b.apply(frames, seed=3)):
        np.testing.assert_array_equal(x, y)
    if kind != "clean":
        draws = {corpus.draw(kind, np.random.default_rng(seed)) for seed in range(5)}
        assert len(draws) > 1


def test_night_kind_keeps_a_night_scene_night():
    for seed in range(20):
        d = corpus.draw("night", np.random.default_rng(seed))
        assert 0.7 <= d.exposure <= 1.4 and d.gamma == 1.0 and d.tone == ()
        assert d.read_sigma == 0 and d.shot_gain == 0 and d.blur_sigma == 0
        assert d.gains != (1.0, 1.0, 1.0)


def test_default_degradation_is_the_identity():
    d = Degradation()
    assert d.describe() == "clean"
    assert corpus.draw("clean", np.random.default_rng(0)) == d
    frames = [np.random.default_rng(i).integers(0, 256, (18, 20, 3), dtype=np.uint8) for i in range(3)]
    for out, f in zip(d.apply(frames, seed=0), frames):
        np.testing.assert_array_equal(out, f)
        assert out is not f


def test_contrasty_tone_is_monotone_and_keeps_black_and_white():
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    for k in (1.2, 1.35, 1.5):
        out = Degradation(tone=("contrasty", k)).apply([ramp], seed=0)[0][0, :, 1].astype(int)
        assert out[0] == 0 and out[-1] == 255
        assert np.all(np.diff(out) >= 0)
        assert out[64] < 64 and out[192] > 192  # steeper mid-tones


def test_missing_sources_are_reported_by_name(monkeypatch, caplog):
    def gone():
        raise FileNotFoundError("no such clip")

    registry = _fake_registry()
    victim = corpus.sources("tune")[0].name
    registry = tuple(dataclasses.replace(s, _load=gone) if s.name == victim else s for s in registry)
    monkeypatch.setattr(corpus, "SOURCES", registry)
    present, missing = corpus.available(corpus.sources("tune"))
    assert victim not in {s.name for s in present}
    assert len(missing) == 1 and missing[0].startswith(victim) and "FileNotFoundError" in missing[0]
    assert len(present) == len(corpus.sources("tune")) - 1
    assert victim in caplog.text


def test_photos_are_skipped_without_the_packages_that_ship_them(monkeypatch):
    for name in ("skimage", "skimage.data", "sklearn", "sklearn.datasets", "pygame"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    photos = [s for s in corpus.SOURCES if s.kind == "photo"]
    for s in photos:
        s._load.cache_clear()
    present, missing = corpus.available(photos)
    assert present == [] and len(missing) == len(photos)
    for s in photos:
        s._load.cache_clear()


def test_frames_of_a_photo_pans_at_the_size_asked_for():
    src = Source("fake", "photo", "tune", _load=_photo(0, (400, 600, 3)))
    a = corpus.frames_of(src, (160, 90), 5, seed=4)
    b = corpus.frames_of(src, (160, 90), 5, seed=4)
    assert len(a) == 5 and all(f.shape == (90, 160, 3) for f in a)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], a[-1])  # the camera moves


def test_fit_size_keeps_small_sources_from_being_upscaled_much():
    small = Source("small", "photo", "tune", _load=_photo(0, (144, 176, 3)))
    big = Source("big", "photo", "tune", _load=_photo(0, (1080, 1920, 3)))
    assert corpus.fit_size(big, (640, 360), 16) == (640, 360)
    w, h = corpus.fit_size(small, (640, 360), 16)
    assert w < 640 and h < 360 and w % 2 == 0 and h % 2 == 0
    assert abs(w / h - 16 / 9) < 0.05


def test_cover_crops_instead_of_stretching():
    frame = np.zeros((272, 640, 3), np.uint8)
    frame[:, :78] = 255  # a band at the left edge, cropped away by a centred 16:9 crop
    out = corpus._cover(frame, (320, 180))
    assert out.shape == (180, 320, 3)
    assert out.max() == 0


def test_case_names_are_unique_and_cases_reproducible(monkeypatch):
    import quality_corpus

    monkeypatch.setattr(corpus, "SOURCES", _fake_registry())
    present, missing = corpus.available(corpus.sources("report"))
    assert not missing
    per = dict.fromkeys(quality_corpus.TASKS, 2)
    a = quality_corpus.build_cases(present, quality_corpus.TASKS, per, (160, 90), 4)
    b = quality_corpus.build_cases(present, quality_corpus.TASKS, per, (160, 90), 4)
    names = [c.name for c in a]
    assert len(names) == len(set(names))
    assert [c.name for c in b] == names
    for x, y in zip(a, b):
        def draws(case):
            return [(s.degradation, s.seed, s.start) for s in case.shots]
        assert draws(x) == draws(y)
        task, sources, seed = x.name.split("/")
        assert task == x.task and seed == f"s{x.seed}"
        assert sources.split("+") == [s.source.name for s in x.shots]
    multishot = [c for c in a if c.task == "multishot"]
    assert multishot and all(len(c.shots) == 2 for c in multishot)
    night = [c for c in a if c.task == "color" and c.shots[0].source.night]
    assert night and all(c.shots[0].degradation.read_sigma == 0 and 0.7 <= c.shots[0].degradation.exposure <= 1.4
                         for c in night)
    truth, degraded = multishot[0].make()
    assert len(truth) == len(degraded) == 8 and truth[0].shape == (90, 160, 3)


def test_denoise_cases_cover_mild_and_strong_noise_and_longer_clips(monkeypatch):
    import quality_corpus

    monkeypatch.setattr(corpus, "SOURCES", _fake_registry())
    present, _ = corpus.available(corpus.sources("report"))
    per = dict.fromkeys(quality_corpus.TASKS, 3)
    cases = quality_corpus.build_cases(present, ["denoise", "sharpen"], per, (160, 90), 4,
                                       task_frames={"denoise": 6})
    denoise = [c for c in cases if c.task == "denoise"]
    assert all(c.frames == 6 for c in denoise) and all(c.frames == 4 for c in cases if c.task == "sharpen")
    for c in denoise:
        d = c.shots[0].degradation
        if c.seed == 2:
            assert 10 <= d.read_sigma <= 24 and 0.2 <= d.shot_gain <= 1.0
        else:
            assert 1 <= d.read_sigma <= 12 and d.shot_gain <= 0.25
    # The first two cases of a source are what they were before the strong ones were added.
    mild = quality_corpus.build_cases(present, ["denoise"], dict.fromkeys(quality_corpus.TASKS, 2), (160, 90), 6)
    assert [(c.name, c.shots[0].degradation) for c in mild] == \
        [(c.name, c.shots[0].degradation) for c in denoise if c.seed < 2]
