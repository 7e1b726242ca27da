"""Network outputs against a real receiver: an ffmpeg process listening on 127.0.0.1."""
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import pytest

from realtime.errors import ConfigError
from realtime.sinks.netout import check_network_output
from realtime.sinks.writers import OutputOptions, is_network_output

from conftest import run_vqe

SAMPLE = Path(__file__).resolve().parents[2] / "tools" / "samples" / "flower_540p.mp4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listen(ffmpeg: str, url: str, out: Path, fmt: str | None = None) -> subprocess.Popen:
    """An ffmpeg receiver that keeps what it gets, packet for packet; started when its port accepts.

    End it with ``communicate()``, not ``wait()``: that also closes its stderr pipe.
    """
    args = [ffmpeg, "-v", "error", "-y"] + (["-listen", "1", "-f", fmt] if fmt else []) + ["-i", url, "-c", "copy",
                                                                                         str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port = int(url.split(":")[2].split("/")[0].split("?")[0])
    datagrams = url.startswith(("udp://", "srt://"))  # SRT runs over UDP
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # a probe connection would be taken as the stream, so read the socket table
        if (udp_port_bound(port) if datagrams else port_in_use_by_receiver(port)):
            return proc
        time.sleep(0.05)
    proc.kill()
    _, err = proc.communicate()
    pytest.fail(f"the receiver did not start listening on {url}: {err.decode(errors='replace')}")


def port_in_use_by_receiver(port: int) -> bool:
    """Whether a socket on 127.0.0.1:port listens or has already taken its one connection.

    A listen=1 receiver closes its listening socket on the first accept, so a sender that was already
    retrying can turn LISTEN into ESTABLISHED between two looks at the table.
    """
    listening, established = "0A", "01"
    with open("/proc/net/tcp") as fh:
        for line in fh.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if local.endswith(f":{port:04X}") and state in (listening, established):
                return True
    return False


def udp_port_bound(port: int) -> bool:
    """Whether a UDP socket is bound to ``port`` (a UDP or SRT receiver ready for datagrams)."""
    with open("/proc/net/udp") as fh:
        return any(line.split()[1].endswith(f":{port:04X}") for line in fh.readlines()[1:])


def received(path: Path) -> list:
    with av.open(str(path)) as container:
        return [f.pts for f in container.decode(video=0)]


def test_every_frame_reaches_a_tcp_receiver_in_order(ffmpeg, tmp_path):
    port = free_port()
    rx = listen(ffmpeg, f"tcp://127.0.0.1:{port}?listen=1", tmp_path / "rx.ts")
    r = run_vqe("--file", SAMPLE, "--live", "--no-display", "--stages", "color", "--max-frames", "40",
                "-o", f"tcp://127.0.0.1:{port}", "--stats", tmp_path / "s.json")
    rx.communicate(timeout=20)
    assert r.returncode == 0, r.stderr
    pts = received(tmp_path / "rx.ts")
    assert len(pts) == 40 and pts == sorted(pts) and len(set(pts)) == 40
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["drops"]["network"] == 0
    [output] = stats["outputs"]
    assert output["frames"] == 40 and 100 < output["bitrate_kbps"] < 100_000
    assert 0 < output["latency_ms"]["mean_ms"] <= output["latency_ms"]["p95_ms"] < 5000


@pytest.mark.parametrize("scheme", ["udp", "srt"])
def test_every_frame_reaches_a_datagram_receiver_in_order(ffmpeg, tmp_path, scheme):
    port = free_port()
    secret = "PASSPHRASE0123"  # SRT encryption: a secret like a stream key
    rx_url, tx_url = {"udp": (f"udp://127.0.0.1:{port}", f"udp://127.0.0.1:{port}?pkt_size=1316"),
                      "srt": (f"srt://127.0.0.1:{port}?mode=listener&passphrase={secret}",
                              f"srt://127.0.0.1:{port}?passphrase={secret}")}[scheme]
    rx = listen(ffmpeg, rx_url, tmp_path / "rx.ts")
    r = run_vqe("--file", SAMPLE, "--live", "--no-display", "--stages", "color", "--max-frames", "60",
                "-o", tx_url, "--stats", tmp_path / "s.json", "-v")
    if scheme == "udp":  # a datagram receiver never sees the sender leave
        time.sleep(1.0)
        rx.terminate()
    rx.communicate(timeout=20)
    assert r.returncode == 0, r.stderr
    pts = received(tmp_path / "rx.ts")
    assert len(pts) == 60 and pts == sorted(pts) and len(set(pts)) == 60
    assert secret not in r.stderr + (tmp_path / "s.json").read_text()


def test_rtmp_with_a_bitrate_and_the_stream_key_never_shown(ffmpeg, tmp_path):
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/SECRET123"
    rx = listen(ffmpeg, url, tmp_path / "rx.flv", fmt="flv")
    r = run_vqe("--file", SAMPLE, "--live", "--no-display", "--stages", "color", "--max-frames", "30",
                "-o", url, "--bitrate", "1500k", "--stats", tmp_path / "s.json", "-v")
    rx.communicate(timeout=20)
    assert r.returncode == 0, r.stderr
    assert len(received(tmp_path / "rx.flv")) == 30
    assert "SECRET123" not in r.stderr + (tmp_path / "s.json").read_text()
    assert "live/***" in r.stderr


def test_a_receiver_that_goes_away_and_comes_back_gets_the_stream_again(ffmpeg, tmp_path):
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    first = listen(ffmpeg, url + "?listen=1", tmp_path / "a.ts")
    vqe = subprocess.Popen([sys.executable, "-m", "realtime", "--file", str(SAMPLE), "--live", "--no-display",
                            "--stages", "color", "-o", url, "--stats", str(tmp_path / "s.json")],
                           stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(vqe.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not any("streaming to" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # a second of frames to the first receiver
    first.terminate()  # the receiver goes away mid-stream
    first.communicate()
    time.sleep(0.8)
    second = listen(ffmpeg, url + "?listen=1", tmp_path / "b.ts")
    vqe.wait(timeout=60)
    reader.join(timeout=5)
    vqe.stderr.close()  # read to its end by the reader
    second.communicate(timeout=20)
    err = "".join(lines)
    assert vqe.returncode == 0, err
    assert "reconnected" in err and "Traceback" not in err
    stats = json.loads((tmp_path / "s.json").read_text())
    after = received(tmp_path / "b.ts")
    assert len(after) >= 10 and stats["drops"]["network"] >= 1
    assert stats["captured_frames"] == 150 and stats["stop_reason"] == "end of input"  # it went on to the end


def test_no_receiver_is_one_line_with_the_fix(tmp_path):
    r = run_vqe("--file", SAMPLE, "--live", "--no-display", "--stages", "color", "--max-frames", "5",
                "-o", f"rtmp://127.0.0.1:{free_port()}/app/SECRET9")
    assert r.returncode == 4 and "SECRET9" not in r.stderr and "Traceback" not in r.stderr
    assert "start the server or receiver first" in r.stderr


def test_bad_network_outputs_are_refused_before_any_work():
    r = run_vqe("--file", SAMPLE, "--no-display", "-o", "tcp://127.0.0.1:9")
    assert r.returncode == 2 and "add --live" in r.stderr
    r = run_vqe("--file", SAMPLE, "--live", "--no-display", "-o", "out.mp4", "--bitrate", "2M")
    assert r.returncode == 2 and "--bitrate is for network outputs" in r.stderr
    r = run_vqe("--file", SAMPLE, "--live", "--no-display", "-o", "tcp://127.0.0.1:9", "--bitrate", "lots")
    assert r.returncode == 2 and "not a bitrate" in r.stderr
    assert is_network_output("srt://host:9000") and not is_network_output("clip.mp4")
    with pytest.raises(ConfigError, match="FLV"):
        check_network_output("rtmp://host/app/key", OutputOptions(codec="hevc"))
    with pytest.raises(ConfigError, match="no host"):
        check_network_output("udp:///x", OutputOptions())


def test_a_recording_beside_a_stream_loses_nothing_when_the_receiver_goes_away(ffmpeg, tmp_path):
    from realtime.run.session import Session
    from realtime.settings import build_settings
    from realtime.sources.files import PacedSource, open_source

    port = free_port()
    receiver = listen(ffmpeg, f"tcp://127.0.0.1:{port}?listen=1", tmp_path / "rx.ts")
    source = PacedSource(open_source(SAMPLE, live_audio=True))
    session = Session(source, build_settings(stages="color", backend="cpu"), live=True, display=False,
                      output=[tmp_path / "rec.mp4", f"tcp://127.0.0.1:{port}"])
    done = threading.Event()

    def kill_after_a_second_of_frames() -> None:  # the receiver goes away mid-run, for good
        while not done.wait(0.05):
            sent = [r.writer.frames for t, r in list(session.recordings.active) if isinstance(t, str)]
            if sent and sent[0] >= 30:
                receiver.terminate()
                return

    killer = threading.Thread(target=kill_after_a_second_of_frames, daemon=True)
    killer.start()
    try:
        stats = session.run()
    finally:
        done.set()
        source.close()
    receiver.communicate(timeout=20)
    with av.open(str(tmp_path / "rec.mp4")) as rec:
        times = [f.time for f in rec.decode(video=0)]
    # Every frame handed to the recording is in it (a full queue, on a loaded machine, is counted),
    # and it goes on to the end, long after the stream's receiver went away.
    file_output, stream_output = stats.extra["outputs"]
    assert len(times) == file_output["frames"] and file_output["frames"] + file_output["drops"] == stats.frames
    assert times[-1] - times[0] > 4.0 and stats.extra["stop_reason"] == "end of input"
    rx = tmp_path / "rx.ts"  # (a receiver stopped while it was still probing the stream writes nothing)
    assert stats.drops["network"] >= 1 and (len(received(rx)) if rx.exists() else 0) < stats.frames
    assert stream_output["network_drops"] == stats.drops["network"] and "127.0.0.1" in stream_output["target"]
    assert [str(p) for p in session.recordings.written] == [str(tmp_path / "rec.mp4"), f"tcp://127.0.0.1:{port}"]


def test_srt_without_an_ffmpeg_program_is_refused_with_the_fix(monkeypatch):
    import realtime.sinks.netout as netout

    monkeypatch.setattr(netout, "ffmpeg_binary", lambda: None)  # (as netout imported it)
    with pytest.raises(ConfigError, match="pip install imageio-ffmpeg") as caught:
        check_network_output("srt://127.0.0.1:9000?passphrase=HIDDEN0123456", OutputOptions())
    assert "HIDDEN0123456" not in str(caught.value)


def test_an_srt_stream_comes_in_through_the_relay_too(ffmpeg, tmp_path):
    port = free_port()
    secret = "PASSPHRASE4567"
    sender = subprocess.Popen([ffmpeg, "-v", "error", "-re", "-i", str(SAMPLE), "-c:v", "libx264", "-tune", "zerolatency",
                               "-c:a", "aac", "-f", "mpegts",
                               f"srt://127.0.0.1:{port}?mode=listener&passphrase={secret}"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while not udp_port_bound(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    out = tmp_path / "rec.mp4"
    r = run_vqe("--stream", f"srt://127.0.0.1:{port}?passphrase={secret}", "--no-display", "--stages", "color",
                "--max-frames", "30", "-o", out, "--stats", tmp_path / "s.json")
    sender.kill()
    sender.communicate()
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as container:
        assert container.streams.video[0].frames == 30 and container.streams.audio  # and its sound
    assert secret not in r.stderr + (tmp_path / "s.json").read_text()
