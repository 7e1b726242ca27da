"""A microphone's sound in live outputs (``--audio``), with FFmpeg's lavfi test tone as the device."""
from pathlib import Path

import av
import numpy as np
import pytest

from realtime.errors import ConfigError
from realtime.sources.microphone import RESYNC_S, SampleClock, parse_device

from conftest import run_vqe

SAMPLE = Path(__file__).resolve().parents[2] / "tools" / "samples" / "flower_540p.mp4"
#: A tone delivered at the real rate, as a microphone delivers it.
TONE = "lavfi:sine=frequency=1000:sample_rate=48000,arealtime"


def test_a_live_recording_gets_the_microphone_in_time_with_the_video(tmp_path):
    out = tmp_path / "rec.mp4"
    r = run_vqe("--file", SAMPLE, "--live", "--no-display", "--stages", "color", "--max-frames", "90",
                "--audio", TONE, "-o", out)
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert audio.codec_context.name == "aac" and audio.rate == 48000
        video_start, audio_start = float(video.start_time * video.time_base), float(audio.start_time * audio.time_base)
        video_s, audio_s = float(video.duration * video.time_base), float(audio.duration * audio.time_base)
        tone = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
    frame_s = 1 / 30
    assert abs(audio_start - video_start) <= frame_s  # the sound starts with the first frame
    assert abs(audio_s - video_s) <= 0.15  # and lasts as long, up to the last frame's (and one AAC frame)
    assert np.abs(tone[48000 // 10:]).max() > 0.1  # a real tone, not silence


def test_bad_devices_and_runs_without_live_video_are_one_line_with_the_fix(tmp_path):
    r = run_vqe("--file", SAMPLE, "--live", "--no-display", "--max-frames", "5", "--audio", "alsa:no_such_device_9")
    assert r.returncode == 3 and "--audio list" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()[-1]) < 300
    r = run_vqe("--file", SAMPLE, "--no-display", "--audio", TONE, "-o", tmp_path / "o.mp4")
    assert r.returncode == 2 and "--file PATH --live" in r.stderr


def test_audio_list_shows_devices_or_says_there_are_none():
    r = run_vqe("--audio", "list")
    assert r.returncode == 0 and r.stdout.strip() and "Traceback" not in r.stderr


def test_device_names_take_a_format_or_the_platforms():
    assert parse_device("lavfi:sine") == ("lavfi", "sine")
    assert parse_device("avfoundation::0") == ("avfoundation", ":0")
    if parse_device("hw:1,0")[0] == "alsa":  # (on Linux) an ALSA name keeps its own colon
        assert parse_device("hw:1,0") == ("alsa", "hw:1,0")


def test_sound_is_timed_by_counting_samples_and_reanchored_after_a_gap():
    clock, chunk_s = SampleClock(), 1024 / 48000
    # Arrivals jitter by a few ms: the times do not.
    stamps = [clock.take(100.0 + (n + 1) * chunk_s + 0.004 * (n % 3), chunk_s) for n in range(20)]
    assert np.allclose(np.diff(stamps), chunk_s, atol=1e-9) and stamps[0] == pytest.approx(100.0)
    late = clock.take(100.0 + 21 * chunk_s + 0.5, chunk_s)  # half a second of samples lost
    assert late - stamps[-1] == pytest.approx(chunk_s + 0.5, abs=0.01)


def test_a_device_clock_running_fast_is_held_back_not_run_ahead():
    clock, chunk_s = SampleClock(), 1024 / 48000
    arrivals = [100.0 + (n + 1) * chunk_s * 0.9 for n in range(200)]  # chunks come 10% faster than they last
    stamps = [clock.take(t, chunk_s) for t in arrivals]
    kept = [(s, t) for s, t in zip(stamps, arrivals) if s is not None]
    assert len(kept) < len(arrivals)  # some were dropped
    assert all(s <= t - chunk_s + RESYNC_S + 1e-9 for s, t in kept)  # never ahead of its arrival by more
    assert all(np.diff([s for s, _ in kept]) > 0)


def test_a_format_unknown_to_ffmpeg_on_a_platform_without_a_default(monkeypatch):
    monkeypatch.setattr("sys.platform", "plan9")
    with pytest.raises(ConfigError, match="FORMAT:NAME"):
        parse_device("mic")
