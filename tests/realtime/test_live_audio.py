"""A live stream's own audio in its recordings and network outputs, in sync: a flash and a beep sent
together by a real sender (ffmpeg, MPEG-TS with AAC over TCP) come out together."""
import socket
import subprocess
import time
from pathlib import Path

import av
import numpy as np
import pytest

from realtime.sources.audio import aac_audio_config, adts_audio_config

from conftest import run_vqe

FLASH_S, FLASH_LEN_S = 3.0, 0.2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open("/proc/net/tcp") as fh:
            if any(f":{port:04X} " in line and " 0A " in line for line in fh):
                return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    pytest.fail(f"ffmpeg did not listen on port {port}")


def sender(ffmpeg: str, port: int, seconds: float = 6.0) -> subprocess.Popen:
    """A live MPEG-TS sender over TCP: black video with a white flash and silence with a beep, at the same time."""
    end = FLASH_S + FLASH_LEN_S
    video = (f"color=black:size=320x240:rate=30,drawbox=x=0:y=0:w=320:h=240:color=white:t=fill:"
             f"enable='between(t,{FLASH_S},{end})'")
    audio = f"aevalsrc='if(between(t,{FLASH_S},{end}),0.8*sin(2*PI*1000*t),0)':s=48000"
    proc = subprocess.Popen([ffmpeg, "-v", "error", "-re", "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio,
                             "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
                             "-g", "30", "-c:a", "aac", "-f", "mpegts", f"tcp://127.0.0.1:{port}?listen=1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, proc)
    return proc


def av_offset_s(path: Path) -> float:
    """Centre of the loud samples minus centre of the bright frames, seconds."""
    with av.open(str(path)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        bright = [f.time for f in c.decode(video=0) if f.to_ndarray(format="gray").mean() > 100]
    with av.open(str(path)) as c:
        loud = np.concatenate([f.time + np.nonzero(np.abs(f.to_ndarray()[0]) > 0.2)[0] / f.sample_rate
                               for f in c.decode(audio=0)])
    assert bright and len(loud), "the flash or the beep is missing"
    assert loud[-1] - loud[0] == pytest.approx(FLASH_LEN_S, abs=0.02)  # the whole beep, no gap
    return (loud[0] + loud[-1]) / 2 - (bright[0] + bright[-1]) / 2


def run_stream(port: int, output: str, *extra: str):
    r = run_vqe("--stream", f"tcp://127.0.0.1:{port}", "--no-display", "-o", output, "--stages", "none",
                "--stream-timeout", "2", "--reconnect", "0", *extra, timeout_s=60)
    # The sender stops after its seconds: the run ends with the stream lost (exit 3), the output finalized.
    assert r.returncode in (0, 3) and "Traceback" not in r.stderr, r.stderr
    return r


def test_a_recording_of_a_stream_keeps_its_audio_in_sync(ffmpeg, tmp_path):
    port = free_port()
    src = sender(ffmpeg, port)
    run_stream(port, str(tmp_path / "rec.mp4"))
    src.wait(timeout=30)
    assert abs(av_offset_s(tmp_path / "rec.mp4")) <= 1 / 30


def test_a_stream_forwarded_to_rtmp_keeps_its_audio_in_sync(ffmpeg, tmp_path):
    port, out_port = free_port(), free_port()
    url = f"rtmp://127.0.0.1:{out_port}/live/key"
    rx = subprocess.Popen([ffmpeg, "-v", "error", "-y", "-listen", "1", "-f", "flv", "-i", url, "-c", "copy",
                           str(tmp_path / "rx.flv")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(out_port, rx)
    src = sender(ffmpeg, port)
    run_stream(port, url)
    src.wait(timeout=30)
    rx.wait(timeout=30)
    assert abs(av_offset_s(tmp_path / "rx.flv")) <= 1 / 30


def test_aac_configurations():
    # An ADTS header for AAC-LC, 48 kHz, stereo: the AudioSpecificConfig 0x1190.
    adts = bytes([0xFF, 0xF1, (1 << 6) | (3 << 2) | 0, (2 << 6), 0, 0, 0])
    assert adts_audio_config(adts) == bytes.fromhex("1190") == aac_audio_config("LC", 48000, 2)
    assert adts_audio_config(b"\x00" * 7) is None and adts_audio_config(b"") is None
    assert aac_audio_config("LC", 44100, 1) == bytes.fromhex("1208")
    assert aac_audio_config("LC", 12345, 2) is None and aac_audio_config("USAC", 48000, 2) is None


def test_a_file_played_live_is_recorded_with_its_audio_in_sync(ffmpeg, tmp_path):
    end = FLASH_S + FLASH_LEN_S
    clip = tmp_path / "flash_beep.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"color=black:size=320x240:rate=30,drawbox=x=0:y=0:w=320:h=240:color=white:t=fill:"
                    f"enable='between(t,{FLASH_S},{end})'", "-f", "lavfi", "-i",
                    f"aevalsrc='if(between(t,{FLASH_S},{end}),0.8*sin(2*PI*1000*t),0)':s=48000", "-t", "4",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(clip)], check=True)
    r = run_vqe("--file", clip, "--live", "--no-display", "-o", tmp_path / "rec.mp4", "--stages", "none")
    assert r.returncode == 0, r.stderr
    assert abs(av_offset_s(tmp_path / "rec.mp4")) <= 1 / 30
