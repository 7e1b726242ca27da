"""The virtual camera: the adapter against a fake pyvirtualcam camera, the session and CLI around it,
and a real v4l2loopback device where the machine has one."""
import glob
import sys
import time
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.errors import OutputError
from realtime.run.frames import Frame
from realtime.settings import build_settings
from realtime.sinks.vcam import VirtualCamera
from realtime.sources.files import PacedSource, open_source

from conftest import run_vqe

SAMPLE = Path(__file__).resolve().parents[2] / "tools" / "samples" / "flower_540p.mp4"


class FakeCamera:
    """pyvirtualcam.Camera's interface: checks what it is sent and paces like the real one."""

    instances: list["FakeCamera"] = []

    def __init__(self, width, height, fps, *, fmt=None, device=None, **kw):
        self.width, self.height, self.fps, self.fmt = width, height, fps, fmt
        self.device = device or "/dev/video-fake"
        self.frames: list[np.ndarray] = []
        self.sleeps = 0
        self._next = time.perf_counter()
        self.closed = False
        FakeCamera.instances.append(self)

    def send(self, frame):
        assert frame.shape == (self.height, self.width, 3) and frame.dtype == np.uint8
        assert frame.flags.c_contiguous
        self.frames.append(frame.copy())

    def sleep_until_next_frame(self):
        self.sleeps += 1
        self._next += 1.0 / self.fps
        time.sleep(max(self._next - time.perf_counter(), 0.0))

    def close(self):
        self.closed = True


def picture(value, shape=(36, 64, 3)):
    return np.full(shape, value, np.uint8)


def test_sends_the_newest_frame_at_the_cameras_rate_and_repeats_it_when_none_comes():
    with VirtualCamera(64, 36, 50.0, camera_factory=FakeCamera) as vcam:
        camera = FakeCamera.instances[-1]
        assert (camera.width, camera.height, camera.fps, camera.fmt) == (64, 36, 50.0, "BGR")
        for value in (10, 20, 30):
            vcam.give(Frame(picture(value), value, 0.0, 0.0))  # faster than 50 fps: the newest wins
        time.sleep(0.3)
    sent = [int(f[0, 0, 0]) for f in camera.frames]
    assert camera.closed and 10 <= len(sent) <= 20  # 0.3 s at 50 fps, paced by sleep_until_next_frame
    assert sent[-1] == 30 and sent.count(30) >= len(sent) - 3  # the newest, sent again while nothing new comes
    assert vcam.sent == len(sent) and camera.sleeps == len(sent)


def test_a_missing_backend_or_package_is_one_clear_error(monkeypatch):
    def no_device(*args, **kwargs):
        raise RuntimeError("'v4l2loopback' backend: v4l2loopback device not found")

    with pytest.raises(OutputError, match="no virtual camera is available.*(modprobe v4l2loopback|OBS)"):
        VirtualCamera(64, 36, 30.0, camera_factory=no_device)
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    with pytest.raises(OutputError, match=r'pip install "vqe\[vcam\]"'):
        VirtualCamera(64, 36, 30.0)


def test_a_live_session_feeds_the_camera_and_counts_what_it_sends(monkeypatch):
    fake = types.SimpleNamespace(Camera=FakeCamera, PixelFormat=types.SimpleNamespace(BGR="BGR"))
    monkeypatch.setitem(sys.modules, "pyvirtualcam", fake)
    from realtime.run.session import Session

    source = PacedSource(open_source(SAMPLE))
    try:
        session = Session(source, build_settings(stages="color", backend="cpu"), live=True, display=False,
                          max_frames=15, virtual_camera="/dev/video42")
        stats = session.run()
    finally:
        source.close()
    camera = FakeCamera.instances[-1]
    assert camera.device == "/dev/video42" and (camera.width, camera.height) == (960, 540) and camera.closed
    assert len(camera.frames) >= 5 and camera.frames[-1].any()
    assert stats.extra["virtual_camera_frames"] == len(camera.frames)
    assert "virtual_camera" in stats.drops


def test_cli_needs_a_live_source_and_says_what_is_missing():
    r = run_vqe("--file", SAMPLE, "--virtual-camera", "--no-display")
    assert r.returncode == 2 and "--file PATH --live" in r.stderr and "Traceback" not in r.stderr
    if glob.glob("/sys/devices/virtual/video4linux/video*"):
        pytest.skip("this machine has a video4linux loopback device: the missing-backend error cannot happen")
    r = run_vqe("--file", SAMPLE, "--live", "--no-display", "--virtual-camera", "--max-frames", "3")
    assert r.returncode == 4 and "Traceback" not in r.stderr
    assert "virtual camera" in r.stderr or "pyvirtualcam" in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3


def test_frames_reach_a_real_v4l2loopback_device():
    pyvirtualcam = pytest.importorskip("pyvirtualcam", reason="pyvirtualcam is not installed (pip install vqe[vcam])")
    devices = sorted(glob.glob("/sys/devices/virtual/video4linux/video*"))
    if not devices:
        pytest.skip("no v4l2loopback device here (sudo modprobe v4l2loopback exclusive_caps=1)")
    device = "/dev/" + Path(devices[0]).name
    try:
        vcam = VirtualCamera(64, 48, 30.0, device).start()
    except OutputError as exc:
        pytest.skip(f"the loopback device cannot be opened: {exc}")
    reader = cv2.VideoCapture(device)
    try:
        for _ in range(10):
            vcam.give(Frame(picture(200, (48, 64, 3)), 0, 0.0, 0.0))
            time.sleep(1 / 30)
        ok, frame = reader.read()
        assert ok and frame.shape[:2] == (48, 64) and abs(int(frame.mean()) - 200) <= 8
    finally:
        reader.release()
        vcam.close()
    assert pyvirtualcam is not None
