"""Global motion estimation: known shifts and rotations, a large moving foreground, bad input."""
import math

import cv2
import numpy as np
import pytest

from kernels.warp import gray_thumbnail, thumbnail_size
from realtime.motion import Motion, MotionEstimator


def texture(h, w, seed=0):
    """Multi-scale blurred noise: corners at every scale, like a photograph."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w), np.float32)
    for sigma, amp in ((1.0, 40), (3.0, 60), (8.0, 80)):
        img += amp * cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), sigma) * sigma
    img = 128 + (img - img.mean()) * (60 / max(img.std(), 1e-6))
    return np.clip(img, 0, 255).astype(np.float32)


def moved(img, dx, dy, angle=0.0, scale=1.0):
    """``img`` with its content moved by the similarity (about the centre)."""
    h, w = img.shape
    m = Motion(dx, dy, angle, scale).matrix(w, h)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def shift_errors(frame, cams):
    """Per frame, the estimate's (dx, dy) error against the camera's own move; ``frame(t, cam)`` renders frame ``t``
    seen from ``cam`` (x, y shift first), whose content moves by ``-cam``.  Every estimate must be valid."""
    est = MotionEstimator()
    est.estimate(frame(0, cams[0]))
    errors = []
    for t in range(1, len(cams)):
        m = est.estimate(frame(t, cams[t]))
        assert m.valid
        true = -(np.asarray(cams[t]) - np.asarray(cams[t - 1]))
        errors.append((m.dx_px - true[0], m.dy_px - true[1]))
    return np.asarray(errors)


@pytest.mark.parametrize("dx,dy", [(3.5, -2.25), (-6.0, 4.0), (0.3, 0.1)])
def test_translation_is_recovered(dx, dy):
    base = texture(180, 320)
    est = MotionEstimator(factor=4.0)
    first = est.estimate(base)
    assert not first.valid and not first.cut
    m = est.estimate(moved(base, dx, dy))
    assert m.valid and m.method == "lk"
    # Thumbnail pixels are 4 full-size pixels: the estimate is reported in full-size pixels.
    assert abs(m.dx_px - 4 * dx) < 0.3 and abs(m.dy_px - 4 * dy) < 0.3
    assert abs(m.angle_rad) < 2e-3 and abs(m.scale - 1) < 2e-3


def test_rotation_and_zoom_are_recovered():
    base = texture(180, 320, 1)
    est = MotionEstimator()
    est.estimate(base)
    m = est.estimate(moved(base, 1.0, -1.0, math.radians(2.0), 1.02))
    assert abs(m.angle_rad - math.radians(2.0)) < 2e-3
    assert abs(m.scale - 1.02) < 3e-3
    assert abs(m.dx_px - 1.0) < 0.3 and abs(m.dy_px + 1.0) < 0.3


def test_large_moving_foreground_does_not_win():
    """The camera pans by (+2, 0); a textured object covering the middle 60% moves by (-5, +3)."""
    h, w = 180, 320
    bg, fg = texture(h, w, 2), texture(h, w, 3)
    est = MotionEstimator()
    r0, r1, c0, c1 = int(h * 0.1), int(h * 0.9), int(w * 0.2), int(w * 0.8)

    def frame(t):
        img = moved(bg, 2.0 * t, 0.0)
        obj = moved(fg, -5.0 * t, 3.0 * t)
        img[r0:r1, c0:c1] = obj[r0:r1, c0:c1]
        return img

    est.estimate(frame(0))
    for t in range(1, 5):
        m = est.estimate(frame(t))
        assert m.valid
        assert abs(m.dx_px - 2.0) < 0.5 and abs(m.dy_px) < 0.5, m


def test_low_texture_uses_phase_correlation_or_says_invalid():
    h, w = 120, 160
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    smooth = 128 + 40 * np.sin(xx / 23.0) + 30 * np.cos(yy / 17.0)
    est = MotionEstimator()
    est.estimate(smooth.astype(np.float32))
    m = est.estimate(moved(smooth.astype(np.float32), 2.0, 1.0))
    assert not m.cut
    if m.valid:
        assert abs(m.dx_px - 2.0) < 0.7 and abs(m.dy_px - 1.0) < 0.7


@pytest.mark.parametrize("kind", ["black", "flat", "repeated", "noise_nan"])
def test_bad_frames_give_finite_identity_or_zero(kind):
    base = texture(90, 160, 4)
    est = MotionEstimator()
    est.estimate(base)
    if kind == "black":
        frames = [np.zeros_like(base)] * 3
    elif kind == "flat":
        frames = [np.full_like(base, 77.0)] * 3
    elif kind == "repeated":
        frames = [base] * 3
    else:
        bad = base.copy()
        bad[5, 5] = np.nan
        frames = [bad, base]
    for f in frames:
        m = est.estimate(f)
        vals = (m.dx_px, m.dy_px, m.angle_rad, m.scale, m.confidence)
        assert all(math.isfinite(v) for v in vals)
        if kind == "repeated" and m.valid:
            assert abs(m.dx_px) < 0.05 and abs(m.dy_px) < 0.05
        if kind in ("black", "flat"):
            assert not m.valid


def test_scene_cut_is_flagged():
    est = MotionEstimator()
    a = texture(180, 320, 5)
    b = 255 - texture(180, 320, 6) * 0.5
    est.estimate(a)
    m = est.estimate(b)
    assert m.cut and not m.valid
    assert est.estimate(moved(b, 1.0, 0.0)).valid


def test_ninety_degree_content_change_is_a_cut_or_invalid():
    a = texture(160, 160, 7)
    est = MotionEstimator()
    est.estimate(a)
    m = est.estimate(np.ascontiguousarray(np.rot90(a)))
    assert m.cut or not m.valid


@pytest.mark.parametrize("shape", [(1, 1), (8, 30), (15, 15)])
def test_tiny_thumbnails_are_identity(shape):
    est = MotionEstimator()
    for _ in range(3):
        m = est.estimate(np.full(shape, 100, np.float32))
        assert m == Motion()


def test_on_real_thumbnails_of_a_bgr_frame():
    """The full path: BGR frame -> gray thumbnail kernel -> estimator, in full-size pixels."""
    base = np.repeat(texture(360, 640, 8)[..., None], 3, axis=2).astype(np.uint8)
    shifted = np.ascontiguousarray(np.roll(base, (-6, 10), axis=(0, 1)))
    factor, th, tw = thumbnail_size(360, 640, 160)
    est = MotionEstimator(factor)
    thumb = np.empty((th, tw), np.float32)
    est.estimate(gray_thumbnail(base, factor, out=thumb))
    m = est.estimate(gray_thumbnail(shifted, factor, out=thumb))
    assert abs(m.dx_px - 10) < 0.6 and abs(m.dy_px + 6) < 0.6


def test_texture_flowing_over_most_of_the_frame_does_not_drag_the_motion():
    """A shaken still camera over running water: the lower 60 % flows 0.4 px a frame to the right and
    ripples, on its own; the motion must be the camera's (the rigid upper part's), not a blend."""
    h, w = 180, 320
    rng = np.random.default_rng(11)
    bank, water = texture(h + 40, w + 40, 12), texture(h + 40, w + 200, 13)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    top = int(0.4 * h)

    def frame(t, cam):
        # The scene point under output pixel x is x + cam: the content moves by -cam.
        cam = [float(c) for c in cam]
        img = cv2.remap(bank, xx + 20 + cam[0], yy + 20 + cam[1], cv2.INTER_CUBIC)
        mx = xx + 20 + cam[0] - 0.4 * t + 0.8 * np.sin(0.05 * yy + 0.3 * t)
        my = yy + 20 + cam[1] + 0.6 * np.cos(0.04 * xx - 0.25 * t)
        img[top:] = cv2.remap(water, mx, my, cv2.INTER_CUBIC)[top:]
        return img

    errors = shift_errors(frame, [np.zeros(2)] + [rng.normal(0, 2.0, 2) for _ in range(30)])
    # The flow would pull a blended estimate by about 0.2 px a frame, always the same way.
    assert abs(errors[:, 0].mean()) < 0.06 and np.sqrt((errors ** 2).mean()) < 0.15


def test_a_bank_with_few_corners_over_running_water_keeps_the_motion():
    """The same over a softer bank, a third of the frame, and water that ripples at the scale of a track: the water
    holds most of the corners, and its own motion is not rigid.  A fit that takes a third of the water's tracks in
    drifts with the flow (about 0.1 px a frame here); the bank's few rigid tracks must give the motion."""
    h, w = 180, 320
    rng = np.random.default_rng(7)
    bank = cv2.GaussianBlur(texture(h + 40, w + 40, 31), (0, 0), 2.0)
    water = texture(h + 40, w + 240, 32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    top = int(0.3 * h)

    def frame(t, cam):
        dx, dy, angle = (float(c) for c in cam)
        c, s = math.cos(angle), math.sin(angle)
        u, v = xx - w / 2, yy - h / 2
        bx, by = c * u - s * v + w / 2 + 20 + dx, s * u + c * v + h / 2 + 20 + dy
        img = cv2.remap(bank, bx, by, cv2.INTER_CUBIC)
        mx = bx - 0.4 * t + 0.9 * np.sin(0.21 * by + 0.5 * t) + 0.5 * np.sin(0.13 * bx - 0.7 * t)
        my = by + 0.7 * np.cos(0.17 * bx - 0.4 * t)
        img[top:] = cv2.remap(water, mx, my, cv2.INTER_CUBIC)[top:]
        return img

    errors = shift_errors(frame, [np.zeros(3)] + [np.array([*rng.normal(0, 2.0, 2), rng.normal(0, 0.003)])
                                                  for _ in range(60)])
    assert abs(errors[:, 0].mean()) < 0.05 and np.sqrt((errors ** 2).mean()) < 0.15, (errors.mean(0), errors.std(0))


def test_a_caption_burnt_into_the_picture_is_not_taken_for_the_ground():
    """A strip of text that does not move (a caption, a camera's clock) under a strongly shaken scene: on the first
    frame it moves the frame far less than the scene's tracks, as a pet's ground does, but it sits on one side."""
    h, w = 180, 320
    scene, text = texture(h + 80, w + 80, 41), texture(h, w, 42)
    top = int(0.75 * h)
    gx, gy = np.mgrid[0:h, 0:w].astype(np.float32)[::-1]

    def frame(t, cam):
        img = cv2.remap(scene, gx + 40 + float(cam[0]), gy + 40 + float(cam[1]), cv2.INTER_CUBIC)
        img[top:] = text[top:]
        return img

    rng = np.random.default_rng(3)
    cams = np.clip(np.cumsum([np.zeros(2)] + [rng.normal(0, 5.0, 2) for _ in range(60)], axis=0), -38, 38)
    errors = shift_errors(frame, cams)
    assert np.abs(errors).max() < 0.5, np.abs(errors).max()


def pet_over_wall(h, w, *, wall_blur, patches, sway, period):
    """``frame(t, cam)`` of a pet over a plain wall: the sprite (half the frame wide) holds most of the corners and
    sways ``sway`` px over ``period`` frames and bobs on its own, while the wall, blurred by ``wall_blur``, has a few
    features (small patches at ``patches``) that move with the camera."""
    wall = cv2.GaussianBlur(texture(h + 40, w + 40, 21), (0, 0), wall_blur)
    spots = texture(h + 40, w + 40, 22)
    for r, c in patches:
        wall[r:r + 18, c:c + 18] = spots[r:r + 18, c:c + 18]
    pet = texture(h, w // 2, 23)
    yy, xx = np.mgrid[0:h, 0:w // 2].astype(np.float32)
    inside = ((xx - w / 4) / (w / 4)) ** 2 + ((yy - h / 2) / (0.35 * h)) ** 2 < 1.0
    gx, gy = np.mgrid[0:h, 0:w].astype(np.float32)[::-1]

    def frame(t, cam):
        img = cv2.remap(wall, gx + 20 + float(cam[0]), gy + 20 + float(cam[1]), cv2.INTER_CUBIC)
        x0 = int(round(w / 4 + sway * math.sin(2 * math.pi * t / period) - cam[0]))
        y0 = int(round(8 * math.sin(2 * math.pi * t / 33) - cam[1]))
        sprite = np.zeros_like(img)
        mask = np.zeros(img.shape, bool)
        ys, xs = np.nonzero(inside)
        ok = (ys + y0 >= 0) & (ys + y0 < h) & (xs + x0 >= 0) & (xs + x0 < w)
        sprite[ys[ok] + y0, xs[ok] + x0] = pet[ys[ok], xs[ok]]
        mask[ys[ok] + y0, xs[ok] + x0] = True
        return np.where(mask, sprite, img)

    return frame


def camera_errors(frame, seed):
    """The estimate's error (px) on each frame it measures of ``frame`` seen by a camera shaking by 0.7 px a frame,
    and how many of the 90 frames it measured (where it measures none, the stabilizer holds its path)."""
    rng = np.random.default_rng(seed)
    est = MotionEstimator()
    cams = np.cumsum([np.zeros(2)] + [rng.normal(0, 0.7, 2) for _ in range(90)], axis=0)
    est.estimate(frame(0, cams[0]))
    errors = []
    for t in range(1, len(cams)):
        m = est.estimate(frame(t, cams[t]))
        if m.valid:
            true = -(cams[t] - cams[t - 1])
            errors.append(math.hypot(m.dx_px - true[0], m.dy_px - true[1]))
    return errors, len(errors)


def test_a_foreground_over_a_plain_background_never_takes_the_motion():
    """Every frame's motion is the camera's, or none is measured: never the sprite's."""
    frame = pet_over_wall(180, 320, wall_blur=6.0, patches=((30, 40), (40, 300), (170, 190)), sway=50, period=90)
    errors, measured = camera_errors(frame, 5)
    assert measured >= 0.8 * 90
    assert max(errors) < 1.0, sorted(errors)[-5:]


def test_a_foreground_with_most_corners_from_the_first_frame_never_takes_the_motion():
    """The wall plainer still and the pet fast from the first frame, sweeping over the wall's patches: the sprite
    holds most of the tracks before anything is known of them.  The group of tracks that moves the frame far less is
    the camera's; tracks known to be the sprite's keep its motion out when the wall's are hidden."""
    frame = pet_over_wall(180, 320, wall_blur=16.0, patches=((20, 40), (150, 60), (90, 280)), sway=100, period=30)
    errors, measured = camera_errors(frame, 6)
    assert measured >= 0.8 * 90
    assert max(errors) < 1.0, sorted(errors)[-5:]
