"""``--analyze``: the first pass over a whole file, its shots and per-shot values, and the planned second pass."""
import json

import numpy as np
import pytest

from kernels.backend import CPU
from realtime import Pipeline, build_settings
from realtime.run.analysis import EvenSample, Schedule, analyze, plan_pipeline
from realtime.run.filejob import run_file
from realtime.run.frames import Frame
from realtime.run.stats import RunStats
from realtime.stages.color import ColorStage
from realtime.stages.contrast import ContrastStage
from realtime.stages.params import ColorParams, ContrastParams

from conftest import run_vqe, textured_frames

SIZE = (72, 128)


def two_shots(n=10):
    """A dark, flat, warm shot, then (a hard cut) another scene, cool and brighter."""
    warm = [np.clip((f * 0.25 + 60) * (0.8, 1.0, 1.25), 0, 255).astype(np.uint8)
            for f in textured_frames(n, *SIZE, seed=0)]
    cool = [np.ascontiguousarray(np.clip(f[::-1, :, ::-1] * (1.2, 1.0, 0.8), 0, 255).astype(np.uint8))
            for f in textured_frames(n, *SIZE, seed=1)]
    return warm + cool


def test_schedule_looks_up_the_shot_of_a_frame():
    plan = Schedule((0, 10, 25), ("a", "b", "c"))
    assert [plan.at(i) for i in (0, 9, 10, 24, 25, 1000)] == ["a", "a", "b", "b", "c", "c"]
    doubled = plan.scaled(2)  # after a field-rate deinterlacer: frame i leaves as 2i and 2i + 1
    assert doubled.starts == (0, 20, 50) and doubled.at(19) == "a" and doubled.at(20) == "b"
    with pytest.raises(ValueError):
        Schedule((5, 0), ("a", "b"))


def test_even_sample_stays_bounded_and_spread():
    sample = EvenSample(8)
    for i in range(100):
        sample.add(i)
    assert len(sample.items) <= 8 and sample.items[0] == 0 and sample.items[-1] >= 80
    steps = np.diff(sample.items)
    assert (steps == steps[0]).all()  # evenly spaced
    unbounded = EvenSample(None)
    for i in range(100):
        unbounded.add(i)
    assert unbounded.items == list(range(100))


def test_first_pass_finds_the_shots_and_fixes_each_ones_values(make_y4m):
    path = make_y4m(two_shots())
    result = analyze(path, build_settings(stages="contrast,color", backend="cpu"))
    assert result.frames == 20 and result.starts == (0, 10) and result.shots == 2
    (b0, w0), (b1, w1) = result.plans["contrast"].values
    assert b0 > 10 and w0 < 200  # the flat shot is stretched
    assert (b0, w0) != pytest.approx((b1, w1), abs=5)
    warm, cool = result.plans["color"].values
    assert warm[0] > warm[2] and cool[0] < cool[2]  # warm: more blue, less red; cool: the other way
    assert result.seconds > 0 and result.stats()["shots"] == 2


def test_a_planned_frame_depends_on_its_shot_only():
    """No lag at a shot's start and no drift within it: every frame of a shot gets the same fix."""
    frames = two_shots()
    settings = build_settings(stages="contrast,color", backend="cpu")
    pipe = Pipeline(settings)
    plans = {"contrast": Schedule((0, 10), ((40.0, 180.0), (5.0, 230.0))),
             "color": Schedule((0, 10), (np.array([0.2, 0.0, -0.2]), np.array([-0.1, 0.0, 0.1])))}
    pipe.set_plan(plans)
    through = [next(iter(pipe.push(Frame(f, i, i / 25, 0.0)))).image.copy() for i, f in enumerate(frames)]
    alone = Pipeline(settings)
    alone.set_plan(plans)
    for i in (0, 10, 13):  # a shot's first frame, and one well into it: as if nothing came before
        assert np.array_equal(next(iter(alone.push(Frame(frames[i], i, 0.0, 0.0)))).image, through[i])
    online = Pipeline(settings)
    assert not np.array_equal(online(frames[13]), through[13])


def test_plans_follow_a_field_rate_deinterlacer():
    """After ``bob`` the frames are numbered twice as fast: the contrast stage's shots are too."""
    pipe = Pipeline(build_settings(stages="deinterlace,contrast", overrides=("deinterlace.mode=bob",), backend="cpu"))
    pipe.set_plan({"contrast": Schedule((0, 5), ((0.0, 255.0), (10.0, 200.0)))})
    assert pipe.stages[1].plan.starts == (0, 10) and pipe.stages[0].plan is None
    with pytest.raises(TypeError, match="deinterlace"):
        pipe.stages[0].set_plan(Schedule((0,), (None,)))


def test_a_file_preview_session_analyses_first(make_y4m):
    from realtime.run.session import Session
    from realtime.sources.files import open_source

    source = open_source(make_y4m(two_shots()))
    try:
        session = Session(source, build_settings(stages="contrast,color", backend="cpu"), live=False,
                          display=False, analyze=True)
        stats = session.run()
    finally:
        source.close()
    assert stats.frames == 20 and stats.extra["shots"] == 2
    assert session.pipeline.stages[1].hud_lines() == ["white balance: auto (per shot, whole-clip analysis)"]


def test_stages_measure_the_same_way_online_and_in_the_first_pass():
    frame = two_shots()[0]
    contrast = ContrastStage(ContrastParams(smoothing=0.0), CPU)
    event, levels = ContrastStage(ContrastParams(), CPU).measure(frame)
    contrast.apply(frame)
    assert event == "cut" and contrast.levels == pytest.approx(levels)
    color = ColorStage(ColorParams(smoothing=0.0), CPU)
    color.apply(frame)
    _, thumb = ColorStage(ColorParams(), CPU).measure(frame)
    assert np.log(color.gains) == pytest.approx(color.estimate(thumb))


def test_the_colour_plan_sees_the_contrast_plan_before_it(make_y4m):
    """Levels change what the white balance measures (an offset changes channel ratios): the colour
    stage's shot value is the estimate of the thumbnails as the shot's levels leave them."""
    path = make_y4m(two_shots())
    chain = analyze(path, build_settings(stages="contrast,color", backend="cpu"))
    alone = analyze(path, build_settings(stages="color", backend="cpu"))
    assert "contrast" not in alone.plans and alone.starts == chain.starts
    assert not np.allclose(chain.plans["color"].values[0], alone.plans["color"].values[0], atol=1e-3)


def test_file_run_with_analyze_reports_its_cost_and_shots(make_y4m, tmp_path):
    path = make_y4m(two_shots())
    out, stats = tmp_path / "out.y4m", tmp_path / "stats.json"
    r = run_vqe("--file", path, "-o", out, "--stages", "contrast,color", "--analyze", "--no-display",
                "--stats", stats)
    assert r.returncode == 0, r.stderr
    assert "first pass over 20 frames" in r.stderr and "2 shots" in r.stderr
    data = json.loads(stats.read_text())
    assert data["frames"] == 20 and data["shots"] == 2 and 0 < data["analysis_s"] < data["wall_s"]


def test_analyze_with_nothing_to_fix_runs_as_without(make_y4m):
    path = make_y4m(two_shots(3))
    stats = run_file(path, None, build_settings(stages="color", overrides=("color.white_balance=off",),
                                                backend="cpu"), analyze=True)
    assert stats.frames == 6 and stats.extra["shots"] == 0


@pytest.mark.parametrize("where", [["--camera", "0"], ["--stream", "rtsp://camera.local/live"],
                                   ["--file", "LIVE", "--live"]])
def test_analyze_needs_a_file_not_a_live_source(where, make_y4m):
    args = [str(make_y4m(two_shots(2))) if a == "LIVE" else a for a in where]
    r = run_vqe(*args, "--analyze", "--no-display", "--stages", "color", timeout_s=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--analyze" in lines[0] and "--file" in lines[0] and "--live" in lines[0]


FLAT = {"black": (0, 0, 0), "white": (255, 255, 255), "single-colour": (40, 130, 220)}


@pytest.mark.parametrize("value", list(FLAT.values()), ids=list(FLAT))
@pytest.mark.parametrize("shape", [(48, 64), (40, 1)], ids=["frame", "one-pixel-wide"])
@pytest.mark.parametrize("analyse", [False, True], ids=["auto", "analyze"])
def test_flat_and_narrow_frames_pass_through_sanely(value, shape, analyse, make_y4m):
    """All-black, all-white, single-colour and one-pixel-wide frames: no NaN, no division by zero."""
    frames = [np.zeros(shape + (3,), np.uint8) + np.array(value, np.uint8) for _ in range(4)]
    path = make_y4m(frames)
    settings = build_settings(stages="contrast,color", backend="cpu")
    pipe = Pipeline(settings)
    with np.errstate(divide="raise", invalid="raise", over="raise"):  # no division by zero, no NaN
        if analyse:
            result = plan_pipeline(pipe, path, stats=RunStats())
            assert result.shots == 1
            assert all(np.all(np.isfinite(np.asarray(v, float))) for p in result.plans.values() for v in p.values)
        outs = [next(iter(pipe.push(Frame(f, i, 0.0, 0.0)))).image.copy() for i, f in enumerate(frames)]
    contrast, color = pipe.stages
    assert np.all(np.isfinite(contrast.levels)) and np.all(np.isfinite(color.gains))
    for out, frame in zip(outs, frames):
        assert out.shape == frame.shape
        assert np.abs(out.astype(int).mean() - frame.mean()) < 40
        if value in (FLAT["black"], FLAT["white"]):
            assert np.abs(out.astype(int) - frame).max() <= 8


@pytest.mark.parametrize("value", list(FLAT.values()), ids=list(FLAT))
def test_flat_one_pixel_wide_file_with_analyze(value, make_y4m, tmp_path):
    """The same through the command line (BGR frames: an odd width cannot be I420)."""
    path = make_y4m([np.zeros((40, 1, 3), np.uint8) + np.array(value, np.uint8)] * 3)
    out = tmp_path / "out.y4m"
    r = run_vqe("--file", path, "-o", out, "--stages", "contrast,color", "--analyze", "--no-display")
    assert r.returncode == 0, r.stderr
    assert "1 shot;" in r.stderr and out.stat().st_size > 0
