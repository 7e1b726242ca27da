"""Cameras through FFmpeg's V4L2 input: the camera's own Y'CbCr reaches the chain as I420.

No camera is needed: :class:`V4l2Camera` reads a recorded file of the formats cameras deliver
(MJPEG, raw YUYV) when told to let FFmpeg probe it (``demuxer=None``).
"""
import logging

import av
import numpy as np
import pytest

from kernels.planes import i420_planes
from realtime import build_settings
from realtime.errors import SourceError
from realtime.run.ringbuffer import Slot
from realtime.run.session import Session
from realtime.sources import camera
from realtime.sources.camera import V4l2Camera, open_camera
from realtime.sources.files import PacedSource
from realtime.sources.streams import StreamLostError

from conftest import textured_frames


def record(path, codec, pix_fmt, frames):
    """``frames`` (BGR) as a camera would deliver them, in a file FFmpeg reads back."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix_fmt
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def decoded(path):
    with av.open(str(path)) as c:
        return [f for f in c.decode(video=0)]


@pytest.fixture
def mjpeg(tmp_path):
    return record(tmp_path / "cam.avi", "mjpeg", "yuvj422p", textured_frames(6, 48, 64))


@pytest.fixture
def yuyv(tmp_path):
    return record(tmp_path / "cam.nut", "rawvideo", "yuyv422", textured_frames(6, 48, 64))


def assert_vertical_mean(plane, rows):
    """``plane`` is ``rows`` (4:2:2 chroma) brought to 4:2:0: swscale's vertical filter is close to
    the mean of each row pair, within its rounding and taps (a level or two)."""
    diff = np.abs(plane.astype(np.int16) - (rows[0::2] + rows[1::2] + 1) // 2)
    assert diff.max() <= 3 and diff.mean() < 0.5


def read_all(source):
    out = []
    try:
        while True:
            slot = Slot(np.empty(0, np.uint8))
            source.read_into(slot)
            out.append(slot)
            if len(out) == 6:
                return out
    finally:
        source.close()


def test_mjpeg_arrives_as_video_range_i420(mjpeg):
    cam = V4l2Camera(str(mjpeg), demuxer=None)
    assert (cam.info.fmt.full_range, cam.info.fmt.sub_x, cam.info.fmt.sub_y) == (False, 2, 2)
    cam.planar = True
    slots = read_all(cam)
    truth = decoded(mjpeg)
    assert [s.index for s in slots] == list(range(6))
    assert 0 < slots[1].pts_s - slots[0].pts_s < 0.1  # the camera's own clock, 25 fps
    for slot, frame in zip(slots, truth):
        y, u, v = i420_planes(slot.image)
        # JPEG's full range squeezed to video range: 0..255 -> 16..235 (luma), 16..240 (chroma).
        full_y = frame.to_ndarray(format="gray").astype(np.float64)
        assert np.abs(y - (16 + full_y * 219 / 255)).max() <= 1
        cb = np.frombuffer(frame.planes[1], np.uint8).reshape(48, -1)[:, :32].astype(np.float64)
        assert_vertical_mean(u, np.rint(128 + (cb - 128) * 224 / 255))


def test_yuyv_arrives_as_i420(yuyv):
    cam = V4l2Camera(str(yuyv), demuxer=None)
    assert (cam.info.fmt.full_range, cam.info.fmt.sub_y) == (False, 2)
    cam.planar = True
    for slot, frame in zip(read_all(cam), decoded(yuyv)):
        packed = np.frombuffer(frame.planes[0], np.uint8).reshape(48, -1)[:, :128]
        y, u, v = i420_planes(slot.image)
        np.testing.assert_array_equal(y, packed[:, 0::2])
        assert_vertical_mean(v, packed[:, 3::4].astype(np.int16))


def test_bgr_when_the_run_is_not_planar(mjpeg):
    slots = read_all(V4l2Camera(str(mjpeg), demuxer=None))
    truth = decoded(mjpeg)
    assert slots[0].image.shape == (48, 64, 3)
    diff = np.abs(slots[0].image.astype(np.int16) - truth[0].to_ndarray(format="bgr24").astype(np.int16))
    assert diff.mean() < 2  # vqe's own conversion against swscale's, same matrix and range


def test_a_live_run_keeps_the_camera_planar(mjpeg, tmp_path):
    cam = V4l2Camera(str(mjpeg), demuxer=None)
    cam.retries = 0  # the file's end is a camera unplugged for good (reopening would replay it)
    out = tmp_path / "rec.mp4"
    # At the camera's own rate, as a camera sends (read at the file's speed, a live run drops frames).
    session = Session(PacedSource(cam), build_settings(stages="denoise,color", backend="cpu"), live=True,
                      display=False, output=out)
    try:
        with pytest.raises(StreamLostError, match="lost"):
            session.run()
    finally:
        cam.close()
    assert session.stats.extra["frames_as"] == "I420" and session.stats.frames == 6
    assert len(decoded(out)) == 6


def test_a_missing_camera_names_the_ones_found():
    with pytest.raises(SourceError, match="camera 57 cannot be opened .*cameras found:"):
        open_camera(57)


def test_a_camera_ffmpeg_cannot_open_goes_to_opencv(monkeypatch, caplog):
    monkeypatch.setattr(camera, "list_cameras", lambda: ["/dev/video0"])
    with caplog.at_level(logging.WARNING), pytest.raises(SourceError, match="camera 0 cannot be opened"):
        open_camera(0)  # there is no camera here: FFmpeg fails, then OpenCV does
    assert "trying OpenCV's camera input" in caplog.text
    assert sum("cannot be opened" in r.getMessage() for r in caplog.records) == 1
