"""Manual white balance: ``--set color.white_point=X,Y``, and the preview's ``w`` key and click."""
import logging
from types import SimpleNamespace

import numpy as np
import pygame
import pytest

from kernels.colorspace import yuv_to_bgr
from realtime import Pipeline, build_settings
from realtime.cli import build_parser
from realtime.errors import ConfigError
from realtime.run.session import Session
from realtime.sinks.display import KEY_HELP, Display
from realtime.sources.files import PacedSource, open_source
from realtime.sources.y4m import Y4mReader
from realtime.stages.params import ColorParams

from conftest import run_vqe, textured_frames

SIZE = (48, 64)
CARD = (slice(20, 32), slice(40, 52))  # a gray card, rows and columns; its centre is x=46, y=26
CAST = np.array([0.75, 1.0, 1.3])  # warm (BGR gains)


def scene(n=4, red_later=False):
    """Textured frames under a warm cast with a mid-gray card; later frames may turn mostly red."""
    frames = []
    for i, f in enumerate(textured_frames(n, *SIZE, seed=3)):
        f = f.astype(np.float64)
        if red_later and i > 0:
            f = f * (0.3, 0.4, 1.0)  # a scene change the white point must not follow
        f[CARD] = 128.0
        frames.append(np.clip(f * CAST, 0, 255).astype(np.uint8))
    return frames


def pipeline(*overrides, stages="color"):
    pipe = Pipeline(build_settings(stages=stages, overrides=overrides, backend="cpu"))
    pipe.set_source(SimpleNamespace(width=SIZE[1], height=SIZE[0], fmt=None))
    return pipe


def card(image):
    """Mean BGR of the card's inside (its edge pixels take chroma from around it on 4:2:0 frames)."""
    return image[22:30, 42:50].reshape(-1, 3).astype(float).mean(axis=0)


def test_white_point_is_parsed_checked_and_listed():
    assert ColorParams(white_point="312, 140").point == (312, 140) and ColorParams().point is None
    for bad in ("312", "a,b", "-1,4", "1.5,2", "1,2,3"):
        with pytest.raises(ConfigError, match="color.white_point"):
            ColorParams(white_point=bad)
    assert "color.white_point" in build_parser().format_help()


def test_white_point_outside_the_frame_is_one_line_before_processing(make_y4m, tmp_path):
    path = make_y4m(scene(2))
    out = tmp_path / "out.y4m"
    r = run_vqe("--file", path, "-o", out, "--stages", "contrast,color", "--set", "color.white_point=64,10",
                "--no-display")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("vqe: error:") and "color.white_point=64,10" in lines[-1] and "64x48" in lines[-1]
    assert not out.exists()  # nothing was processed


def test_white_point_makes_that_colour_neutral_for_the_whole_run():
    frames = scene(4, red_later=True)
    pipe = pipeline("color.white_point=46,26")
    outs = [pipe(f) for f in frames]
    for out in outs:  # the scene turns red after the first frame: the gains stay the first frame's
        b, g, r = card(out)
        assert abs(b - g) < 3 and abs(r - g) < 3
    auto = pipeline()
    b, g, r = card(auto(frames[3]))
    assert abs(r - b) > 10  # the automatic white balance follows the red scene and leaves the card coloured
    assert pipe.stages[0].hud_lines() == ["white balance: point 46,26"]


def test_temperature_and_tint_still_apply_on_top():
    frames = scene(2)
    b, g, r = card(pipeline("color.white_point=46,26", "color.temperature=0.5")(frames[0]))
    assert r > b + 10


def test_white_point_on_planar_frames(make_y4m, tmp_path):
    """I420 from decoder to encoder: the point's colour is read from the planes."""
    path = make_y4m(scene(3))
    out = tmp_path / "out.y4m"
    r = run_vqe("--file", path, "-o", out, "--stages", "contrast,color", "--set", "color.white_point=46,26",
                "--analyze", "--no-display", "-v")
    assert r.returncode == 0, r.stderr
    assert "frames as I420" in r.stderr and "white balance from the point 46,26" in r.stderr
    reader = Y4mReader(out)
    try:
        while (planes := reader.read_planes()) is not None:
            b, g, r_ = card(yuv_to_bgr(planes, reader.fmt))
            assert abs(b - g) < 4 and abs(r_ - g) < 4
    finally:
        reader.close()


def test_a_clipped_white_point_keeps_the_automatic_white_balance(caplog):
    frames = scene(2)
    for f in frames:
        f[0:8, 0:8] = 255  # blown out: its colour is lost
    pipe = pipeline("color.white_point=3,3")
    with caplog.at_level(logging.WARNING):
        out = pipe(frames[0])
    assert "clipped" in caplog.text
    assert np.array_equal(out, pipeline()(frames[0]))
    assert pipe.stages[0].hud_lines() == ["white balance: auto (the point 3,3 is clipped)"]


def test_the_point_is_measured_on_the_first_real_frame_after_a_warm_up():
    """A live session warms its kernels up on made-up frames first: they must not set the white balance."""
    frames = scene(2)
    pipe = pipeline("color.white_point=46,26")
    pipe.warm_up(frames[0].shape)
    b, g, r = card(pipe(frames[0]))
    assert abs(b - g) < 3 and abs(r - g) < 3


# --- the preview ----------------------------------------------------------------------------------

@pytest.fixture
def display(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    d = Display(["contrast", "color"], (320, 240))
    yield d
    d.close()


def post(kind, **attrs):
    pygame.event.post(pygame.event.Event(kind, **attrs))


def click(pos, button=1):
    post(pygame.MOUSEBUTTONDOWN, button=button, pos=pos)
    post(pygame.MOUSEBUTTONUP, button=button, pos=pos)


def key_w():
    post(pygame.KEYDOWN, key=pygame.K_w, mod=0, unicode="w")


def picture(size=(240, 320)):
    return np.full(size + (3,), 90, np.uint8)


def test_w_then_a_click_picks_the_frame_pixel_under_it(display):
    display.hud = False
    display.draw(picture(), picture())
    before = pygame.surfarray.array3d(pygame.display.get_surface()).copy()
    click((100, 50))
    assert display.poll() == []  # not picking: a click does nothing
    key_w()
    assert display.poll() == [] and display.picking
    display.draw(picture(), picture())
    assert (pygame.surfarray.array3d(pygame.display.get_surface()) != before).any()  # the prompt is shown
    click((100, 50))
    assert [(a.kind, a.value) for a in display.poll()] == [("white_point", (100, 50))]
    assert not display.picking and display.white_point == (100, 50)
    key_w()  # w again: automatic
    assert [(a.kind, a.value) for a in display.poll()] == [("white_point", None)]
    key_w()
    key_w()  # picking called off: nothing was set, nothing to undo
    assert display.poll() == [] and not display.picking
    key_w()
    click((7, 9))
    click((5, 5), button=3)  # a right-click returns to automatic too
    assert [(a.kind, a.value) for a in display.poll()] == [("white_point", (7, 9)), ("white_point", None)]
    assert not display.picking and display.white_point is None
    assert any(k == "w" for k, _ in KEY_HELP)


def test_click_maps_through_the_fit_and_the_compare_layout(display):
    display.hud = False
    post(pygame.VIDEORESIZE, w=640, h=240, size=(640, 240))  # pillarboxed: the 320x240 frame shows at x 160-480
    display.poll()
    display.draw(picture(), picture())
    key_w()
    click((10, 100))  # on the black bar: still picking
    assert display.poll() == [] and display.picking
    click((480 - 1, 240 - 1))
    assert display.poll()[0].value == (319, 239)
    display.mode = "side"  # original | enhanced, each 320x240 shown at 320x240 in the 640x240 window
    display.draw(picture(), picture())
    for pos in ((10, 120), (330, 120)):  # either half: the same frame pixel
        key_w()
        display.poll()  # w with a point set returns to automatic ...
        key_w()
        click(pos)
        assert display.poll()[-1].value == (10, 120)  # ... and w again picks
    display.mode = "enhanced"  # a resizing stage: the picture is 640x480, the point is in input pixels
    display.draw(picture(), picture((480, 640)))
    key_w()
    display.poll()
    key_w()
    click((320, 120))
    assert display.poll()[-1].value == (160, 120)


def test_preview_click_reaches_the_colour_stage_through_the_processing_thread(make_y4m, monkeypatch, tmp_path):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    path = make_y4m(scene(200))
    session = Session(PacedSource(open_source(path)), build_settings(stages="contrast,color", backend="cpu"),
                      live=True, display=True, snapshot_dir=tmp_path)
    color = session.pipeline.stages[1]
    shown, seen = [], {}

    def drive(display):
        real_draw = display.draw

        def draw(original, enhanced, hud):
            real_draw(original, enhanced, hud)
            shown.append(len(shown))
            if len(shown) == 3:
                seen["first"] = [line for line in hud if line.startswith("white balance")]
                x, y, w, h = display._video_rect
                key_w()
                click((x + 46 * w // SIZE[1], y + 26 * h // SIZE[0]))  # the card's centre
            if len(shown) == 12:
                seen["point"] = color.white_point
                seen["hud"] = [line for line in hud if line.startswith("white balance")]
                seen["card"] = card(enhanced)
                click((1, 1), button=3)
            if len(shown) == 20:
                seen["after"] = color.white_point
                post(pygame.QUIT)
        display.draw = draw
        return loop(display)

    loop = session._display_loop
    session._display_loop = drive
    try:
        session.run()
    finally:
        session.source.close()  # the caller's to close, as in the CLI
    assert seen["first"] == ["white balance: auto"]
    x, y = seen["point"]
    assert abs(x - 46) <= 1 and abs(y - 26) <= 1 and seen["hud"] == [f"white balance: point {x},{y}"]
    b, g, r = seen["card"]
    assert abs(b - g) < 4 and abs(r - g) < 4
    assert seen["after"] is None
