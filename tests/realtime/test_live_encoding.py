"""Live encoding: hardware encoders (the options each family gets, the choice and its fallback, NV12
frames) and the x264 preset of a live recording."""
from __future__ import annotations

import io
import logging
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from kernels.colorspace import YuvFormat
from realtime.sinks import hwenc
from realtime.sinks.avencode import add_video_stream, video_frame
from realtime.sinks.live_preset import AUTO, live_preset
from realtime.sinks.writers import OutputOptions
from realtime.sources.files import SourceInfo

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tools" / "samples" / "flower_540p.mp4"
RATE = Fraction(30)


@pytest.fixture(autouse=True)
def _fresh_log_memory():
    hwenc._say_once.cache_clear()
    yield
    hwenc._say_once.cache_clear()


def _opens_only(*names: str):
    """A stand-in for the trial opening: only ``names`` open (as NV12 for Quick Sync, else I420)."""
    def opens(name, *_):
        if name in names:
            return ("nv12" if "qsv" in name else "yuv420p"), ""
        return None, "cannot open (no device)"
    return opens


def test_each_family_gets_its_own_quality_speed_and_latency_settings():
    nvenc = hwenc.encoder_options("nvenc", 23, "superfast")
    assert nvenc == {"preset": "p2", "rc": "vbr", "cq": "23"}
    assert hwenc.encoder_options("nvenc", 18, "medium", low_latency=True)["tune"] == "ull"
    assert hwenc.encoder_options("qsv", 18, "superfast")["preset"] == "veryfast"  # Quick Sync has nothing faster
    assert hwenc.encoder_options("amf", 20, "ultrafast") == {"quality": "speed", "rc": "cqp", "qp_i": "20",
                                                             "qp_p": "20"}
    cbr = hwenc.encoder_options("nvenc", 18, "medium", bitrate=4_000_000)
    assert cbr["rc"] == "cbr" and "cq" not in cbr
    with pytest.raises(ValueError, match="unknown hardware encoder family"):
        hwenc.encoder_options("vaapi", 18, "medium")


def test_off_and_codecs_without_a_hardware_encoder_keep_the_software_encoder(monkeypatch):
    monkeypatch.setattr(hwenc, "_opens", _opens_only("h264_nvenc", "hevc_nvenc"))
    assert hwenc.pick("off", "h264", 640, 360, RATE, 18, "medium") is None
    assert hwenc.pick("auto", "ffv1", 640, 360, RATE, 18, "medium") is None
    assert hwenc.pick("auto", "hevc", 640, 360, RATE, 18, "medium").name == "hevc_nvenc"


def test_auto_takes_the_first_encoder_that_opens(monkeypatch):
    monkeypatch.setattr(hwenc, "_opens", _opens_only("h264_qsv", "h264_amf"))
    chosen = hwenc.pick("auto", "h264", 640, 360, RATE, 18, "superfast")
    assert chosen == hwenc.HardwareEncoder("h264_qsv", "nv12", hwenc.encoder_options("qsv", 18, "superfast"))


def test_an_encoder_that_does_not_open_falls_back_to_x264_in_one_line(monkeypatch, caplog):
    monkeypatch.setattr(hwenc, "_opens", _opens_only())
    with caplog.at_level(logging.INFO, logger="realtime.sinks.hwenc"):
        for _ in range(3):  # a network output that reconnects asks again: said once
            assert hwenc.pick("nvenc", "h264", 640, 360, RATE, 18, "superfast") is None
    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert "--hw-encoder nvenc: h264_nvenc: cannot open" in lines[0].getMessage()
    assert lines[0].getMessage().endswith("encoding with libx264 superfast")


def test_the_trial_opening_says_why_an_encoder_is_missing():
    pix_fmt, why = hwenc._opens("h264_vaapi_none", 64, 64, RATE, (), None)
    assert pix_fmt is None and why == "not in this FFmpeg build"


def test_the_stream_takes_the_hardware_encoder_with_the_settings_every_encoder_shares(monkeypatch):
    monkeypatch.setattr(hwenc, "_opens", _opens_only("h264_nvenc"))
    out = av.open(io.BytesIO(), "w", format="matroska")
    try:
        fmt = YuvFormat("bt709", False)
        info = SourceInfo(path="x", width=640, height=360, fps=RATE, frame_count=0, fmt=fmt)
        low_latency = {"tune": "zerolatency", "g": "30", "bf": "0", "crf": None}
        stream, size = add_video_stream(out, "h264", 640, 360, info, fmt,
                                        OutputOptions(preset="superfast", hw_encoder="auto"), Fraction(1, 90000),
                                        low_latency)
        assert stream.codec_context.name == "h264_nvenc" and stream.pix_fmt == "yuv420p" and size == (640, 360)
        assert stream.options == {**hwenc.encoder_options("nvenc", 18, "superfast", low_latency=True),
                                  "g": "30", "bf": "0"}  # no x264 tune
    finally:
        out.close()


def test_nv12_frames_carry_the_same_samples_with_chroma_interleaved():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (48, 64), np.uint8)  # I420, 64x32
    frame = video_frame(av, image, (64, 32), "nv12", YuvFormat("bt601", False))
    back = frame.reformat(format="yuv420p")
    planes = [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width] for p in back.planes]
    assert np.array_equal(planes[0], image[:32])
    assert np.array_equal(planes[1], image[32:40].reshape(16, 32))
    assert np.array_equal(planes[2], image[40:48].reshape(16, 32))


def test_hw_encoder_needs_the_pyav_writer(tmp_path):
    run = subprocess.run([sys.executable, "-m", "realtime", "--file", str(SAMPLE), "--no-display", "-o",
                          str(tmp_path / "o.avi"), "--encoder", "opencv", "--hw-encoder", "nvenc"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == ["vqe: error: --hw-encoder nvenc encodes through PyAV: "
                                               "drop --encoder opencv"]


@pytest.mark.skipif(hwenc._opens("h264_nvenc", 640, 352, RATE, (), None)[0] is not None,
                    reason="this machine has a working NVENC: nothing to fall back from")
def test_a_recording_asked_for_nvenc_without_one_is_written_by_x264(tmp_path):
    out = tmp_path / "rec.mp4"
    run = subprocess.run([sys.executable, "-m", "realtime", "--file", str(SAMPLE), "--no-display", "--stages", "none",
                          "--max-frames", "10", "-o", str(out), "--hw-encoder", "nvenc"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert sum("--hw-encoder nvenc: h264_nvenc" in line for line in run.stderr.splitlines()) == 1
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) == 10


@pytest.mark.parametrize("width, height, rate, cores, preset", [
    (1280, 720, 30, 2, "superfast"),  # measured to fit beside the default chain on two cores
    (1280, 720, Fraction(30000, 1001), 2, "superfast"),
    (1920, 1080, 30, 2, "ultrafast"),
    (1280, 720, 60, 2, "ultrafast"),
    (1920, 1080, 30, 8, "superfast"),
    (640, 360, 30, 1, "superfast"),
])
def test_the_live_preset_follows_the_pixel_rate_per_two_cores(width, height, rate, cores, preset):
    assert live_preset(width, height, Fraction(rate), cores) == preset


def test_a_stream_asked_for_the_automatic_preset_gets_a_real_one(monkeypatch):
    monkeypatch.setattr(hwenc, "_opens", _opens_only())
    out = av.open(io.BytesIO(), "w", format="matroska")
    try:
        fmt = YuvFormat("bt709", False)
        info = SourceInfo(path="x", width=1920, height=1080, fps=RATE, frame_count=0, fmt=fmt)
        stream, _ = add_video_stream(out, "h264", 1920, 1080, info, fmt, OutputOptions(preset=AUTO), Fraction(1, 90000))
        assert stream.codec_context.name == "libx264"
        assert stream.options["preset"] == live_preset(1920, 1080, RATE)
    finally:
        out.close()
