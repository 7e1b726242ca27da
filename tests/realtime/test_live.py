"""Live sessions: a real stream served by ffmpeg on 127.0.0.1, reconnects, paced files, the window loop."""
import json
import signal
import socket
import subprocess
import sys
import time

import av
import numpy as np
import pygame
import pytest

from realtime import build_settings, errors
from realtime.run.session import Session
from realtime.sources.files import PacedSource, open_source

from conftest import run_vqe


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(ffmpeg, clip, port, seconds=None):
    """An ffmpeg process that streams ``clip`` in real time as MPEG-TS to the first client on ``port``."""
    args = [ffmpeg, "-v", "error", "-re", "-i", str(clip)]
    if seconds:
        args += ["-t", str(seconds)]
    args += ["-an", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10",
             "-f", "mpegts", f"tcp://127.0.0.1:{port}?listen=1"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # listening
    return proc


def frames_in(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(v))
        return n, float(v.duration * v.time_base) if v.duration else 0.0


@pytest.mark.slow
def test_stream_recording(ffmpeg, media, tmp_path):
    port = free_port()
    server = serve(ffmpeg, media / "clean_bikes_street_272p.mp4", port)
    try:
        out, stats = tmp_path / "rec.mp4", tmp_path / "stats.json"
        r = run_vqe("--stream", f"tcp://127.0.0.1:{port}", "--no-display", "-o", out, "--max-frames", "30",
                    "--stats", stats, "--stages", "color", timeout_s=60)
    finally:
        server.kill()
        server.wait()
    assert r.returncode == 0, r.stderr
    n, duration = frames_in(out)
    assert n == 30 and 0.8 < duration < 2.5  # real capture times: 25 fps source
    data = json.loads(stats.read_text())
    assert data["frames_as"] == "I420"  # planar from the stream's decoder to the encoder
    assert data["frames"] == 30 and {"capture", "display", "recorder"} <= set(data["drops"])
    assert data["latency_ms"]["p95"] >= data["latency_ms"]["mean"] > 0


@pytest.mark.slow
def test_stream_reconnects_and_recording_spans_the_gap(ffmpeg, media, tmp_path):
    port = free_port()
    clip = media / "clean_bikes_street_272p.mp4"
    first = serve(ffmpeg, clip, port, seconds=3.0)  # outlasts vqe's warm-up on a loaded machine
    out = tmp_path / "rec.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "realtime", "--stream", f"tcp://127.0.0.1:{port}", "--no-display",
                             "-o", str(out), "--stream-timeout", "2", "--reconnect", "4", "--stages", "none"],
                            stderr=subprocess.PIPE, text=True)
    first.wait(timeout=30)  # the sender ends: the stream is lost
    time.sleep(2.0)  # an outage longer than any start-up burst of the sender
    # and comes back; the sender may burst what it encoded before the client's next attempt, and live
    # capture keeps only the newest of a burst, so it sends long enough to leave a real-time tail
    second = serve(ffmpeg, clip, port, seconds=3.0)
    second.wait(timeout=30)
    _, stderr = proc.communicate(timeout=60)  # ends after the retry budget
    assert "reconnect attempt 1 of 4" in stderr and "reconnected" in stderr
    assert proc.returncode == errors.EXIT_SOURCE and "lost" in stderr.splitlines()[-1]
    with av.open(str(out)) as c:
        times = [f.time for f in c.decode(video=0)]
    gaps = np.diff(times)
    outage = int(np.argmax(gaps))
    assert gaps[outage] > 0.5  # the outage is kept in the timeline, not squeezed out
    # frames from both connections, in one playable file (live capture drops what arrives during warm-up)
    assert outage + 1 >= 10 and len(times) - outage - 1 >= 10, (outage, len(times))


def test_unreachable_stream_is_one_line(tmp_path):
    r = run_vqe("--stream", f"tcp://127.0.0.1:{free_port()}", "--no-display", "--stream-timeout", "1")
    assert r.returncode == errors.EXIT_SOURCE
    assert "cannot be opened" in r.stderr and "Traceback" not in r.stderr


def test_missing_camera_lists_what_is_there():
    r = run_vqe("--camera", "57", "--no-display")
    assert r.returncode == errors.EXIT_SOURCE
    assert "camera 57 cannot be opened" in r.stderr and "cameras found:" in r.stderr


def test_paced_file_plays_at_its_own_rate(make_y4m):
    from conftest import textured_frames

    path = make_y4m(textured_frames(10, 16, 16))  # 25 fps
    source = PacedSource(open_source(path))
    session = Session(source, build_settings(stages="none", backend="cpu"), live=True, display=False)
    t0 = time.monotonic()
    try:
        stats = session.run()
    finally:
        source.close()  # the caller's to close, as in the CLI
    assert stats.frames == 10 and time.monotonic() - t0 >= 0.35
    assert session.stop_reason == "end of input"


def test_window_session_toggles_and_quits(make_y4m, monkeypatch, tmp_path):
    """Keys reach the processing thread; closing the window ends the session cleanly."""
    from conftest import textured_frames

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    path = make_y4m(textured_frames(200, 32, 48))
    session = Session(PacedSource(open_source(path)), build_settings(stages="color", backend="cpu"),
                      live=True, display=True, snapshot_dir=tmp_path)
    shown = []
    real_draw = None

    def drive(display):
        nonlocal real_draw
        real_draw = display.draw

        def draw(original, enhanced, hud):
            real_draw(original, enhanced, hud)
            shown.append(len(shown))
            if len(shown) == 3:
                pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_1, mod=0, unicode="1"))
                pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_s, mod=0, unicode="s"))
            if len(shown) == 8:
                assert "color" in session.pipeline.disabled
                assert any("off" in line for line in hud)
                pygame.event.post(pygame.event.Event(pygame.QUIT))
        display.draw = draw
        return original_loop(display)

    original_loop = session._display_loop
    session._display_loop = drive
    try:
        stats = session.run()
    finally:
        session.source.close()
    assert session.stop_reason == "window closed" and len(shown) == 8
    assert stats.frames >= 8 and stats.latency.count == 8
    assert len(list(tmp_path.glob("vqe-snapshot-*.png"))) == 1
    assert np.isfinite(stats.as_dict(live=True)["latency_ms"]["mean"])


def test_ctrl_c_in_a_live_session_finalizes_the_recording(make_y4m, tmp_path):
    from conftest import textured_frames

    clip = make_y4m(textured_frames(250, 48, 64))  # 10 s at 25 fps, played in real time
    out = tmp_path / "live.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "realtime", "--file", str(clip), "--live", "--no-display",
                             "-o", str(out), "--stages", "color", "--encoder-preset", "ultrafast"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "recording to" not in (proc.stderr.readline() or ""):
        pass
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == errors.EXIT_INTERRUPTED and "Traceback" not in stderr
    n, duration = frames_in(out)
    assert 10 < n < 250 and duration > 0.5
