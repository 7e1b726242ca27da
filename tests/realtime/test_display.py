"""The pygame preview under SDL's dummy driver: what a person would see, and what the keys do."""
import numpy as np
import pygame
import pytest

from realtime.sinks.display import COMPARE_MODES, Display, fit


@pytest.fixture
def display(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    d = Display(["denoise", "color"], (320, 240))
    yield d
    d.close()


def pictures():
    original = np.zeros((240, 320, 3), np.uint8)
    original[..., 2] = 200  # red (BGR)
    enhanced = np.zeros((240, 320, 3), np.uint8)
    enhanced[..., 0] = 200  # blue
    return original, enhanced


def pixel(x, y):
    r, g, b, _ = pygame.display.get_surface().get_at((x, y))
    return r, g, b


def key(k, text=""):
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode=text))


def test_window_fits_the_video_and_fit_keeps_aspect(display):
    assert pygame.display.get_surface().get_size() == (320, 240)
    assert fit((1920, 1080), (1280, 1080)) == (0, 180, 1280, 720)


def test_compare_modes_show_original_and_enhanced(display):
    original, enhanced = pictures()
    display.hud = False
    display.draw(original, enhanced)
    assert pixel(10, 100) == (0, 0, 200) and pixel(300, 100) == (0, 0, 200)  # enhanced only
    key(pygame.K_c)
    display.poll()
    assert display.mode == "side"
    display.draw(original, enhanced)
    assert pixel(10, 80) == (200, 0, 0) and pixel(250, 80) == (0, 0, 200)  # original | enhanced, 120 rows at y=60
    assert pixel(10, 30) == (0, 0, 0)  # letterbox
    key(pygame.K_c)
    display.poll()
    assert display.mode == "wipe"
    display.draw(original, enhanced)
    assert pixel(100, 100) == (200, 0, 0) and pixel(220, 100) == (0, 0, 200)
    # Drag the divider to the right edge: all original.
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=(100, 100)))
    pygame.event.post(pygame.event.Event(pygame.MOUSEMOTION, pos=(319, 100), rel=(219, 0), buttons=(1, 0, 0)))
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, button=1, pos=(319, 100)))
    display.poll()
    display.draw(original, enhanced)
    assert display.divider > 0.95 and pixel(250, 100) == (200, 0, 0)
    key(pygame.K_c)
    display.poll()
    assert display.mode == COMPARE_MODES[0]


def test_hud_and_help_are_drawn(display):
    original, enhanced = pictures()
    display.draw(original, enhanced, ["in 30.0 fps", "latency 40 ms"])
    with_hud = pygame.surfarray.array3d(pygame.display.get_surface()).copy()
    key(pygame.K_h)
    display.poll()
    display.draw(original, enhanced, ["in 30.0 fps", "latency 40 ms"])
    without = pygame.surfarray.array3d(pygame.display.get_surface())
    assert (with_hud != without).any(axis=-1).sum() > 50  # the HUD text covers pixels
    key(pygame.K_SLASH, "?")
    display.poll()
    assert display.help


def test_keys_become_actions(display):
    for k, text in ((pygame.K_1, "1"), (pygame.K_2, "2"), (pygame.K_9, "9"), (pygame.K_r, "r"),
                    (pygame.K_s, "s"), (pygame.K_q, "q")):
        key(k, text)
    pygame.event.post(pygame.event.Event(pygame.QUIT))
    actions = [(a.kind, a.value) for a in display.poll()]
    assert actions == [("toggle_stage", "denoise"), ("toggle_stage", "color"), ("record", None),
                       ("snapshot", None), ("quit", None), ("quit", None)]


def test_resize_keeps_the_picture_fitted(display):
    pygame.event.post(pygame.event.Event(pygame.VIDEORESIZE, w=400, h=120, size=(400, 120)))
    display.poll()
    original, enhanced = pictures()
    display.hud = False
    display.draw(original, enhanced)
    assert pygame.display.get_surface().get_size() == (400, 120)
    assert pixel(200, 60) == (0, 0, 200) and pixel(5, 60) == (0, 0, 0)  # pillarboxed
