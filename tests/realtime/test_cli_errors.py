"""Every bad input gets one line on stderr and its own exit code; interrupts leave a playable file."""
import os
import signal
import subprocess
import sys
import time

import av
import pytest

from kernels.backend import cuda_status
from realtime import errors

from conftest import run_vqe, textured_frames


def one_error_line(r):
    lines = [line for line in r.stderr.splitlines() if line.startswith("vqe: error:")]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.fixture
def clip(make_y4m):
    return make_y4m(textured_frames(4, 32, 48))


def write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make_input, code, words", [
    (lambda d: d / "missing.mp4", errors.EXIT_SOURCE, "does not exist"),
    (lambda d: write(d / "empty.mp4", b""), errors.EXIT_SOURCE, "is empty"),
    (lambda d: write(d / "text.mp4", b"not a video\n"), errors.EXIT_SOURCE, "not a video file"),
    (lambda d: d, errors.EXIT_SOURCE, "is a directory"),
    (lambda d: write(d / "bad.y4m", b"YUV4MPEG2 W10\n"), errors.EXIT_SOURCE, "not a valid .y4m"),
])
def test_bad_inputs(tmp_path, make_input, code, words):
    r = run_vqe("--file", make_input(tmp_path), "-o", tmp_path / "o.mp4", "--no-display")
    assert r.returncode == code
    assert words in one_error_line(r)


def test_audio_only_input(ffmpeg, tmp_path):
    wav = tmp_path / "tone.m4a"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=d=0.5", str(wav)], check=True)
    r = run_vqe("--file", wav, "-o", tmp_path / "o.mp4", "--no-display")
    assert r.returncode == errors.EXIT_SOURCE and "no video stream" in one_error_line(r)


def test_truncated_input_keeps_the_frames_before_the_cut(sample_clip, tmp_path):
    data = sample_clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "o.mp4"
    r = run_vqe("--file", cut, "-o", out, "--no-display", "--encoder-preset", "ultrafast")
    assert r.returncode == errors.EXIT_TRUNCATED
    assert "truncated" in one_error_line(r)
    with av.open(str(out)) as c:
        assert 10 < sum(1 for _ in c.decode(video=0)) < 150


def test_truncated_y4m(clip, tmp_path):
    data = clip.read_bytes()
    cut = tmp_path / "cut.y4m"
    cut.write_bytes(data[: len(data) - 100])
    r = run_vqe("--file", cut, "-o", tmp_path / "o.y4m", "--no-display")
    assert r.returncode == errors.EXIT_SOURCE and "truncated" in one_error_line(r)


@pytest.mark.parametrize("out, code, words", [
    ("missing-dir/o.mp4", errors.EXIT_OUTPUT, "does not exist"),
    ("o.xyz", errors.EXIT_CONFIG, "unsupported extension"),
])
def test_bad_outputs(clip, tmp_path, out, code, words):
    r = run_vqe("--file", clip, "-o", tmp_path / out, "--no-display")
    assert r.returncode == code and words in one_error_line(r)


def test_read_only_output_directory(clip, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    target = ro / "o.mp4"
    if os.access(ro, os.W_OK):  # root ignores mode bits: use a place no one may create files in
        target = "/sys/vqe-test-output.mp4"
        if os.access("/sys", os.W_OK) and not _creation_fails(target):
            pytest.skip("no read-only directory available to this user")
    r = run_vqe("--file", clip, "-o", target, "--no-display")
    assert r.returncode == errors.EXIT_OUTPUT and "cannot be written" in one_error_line(r)


def _creation_fails(path):
    try:
        open(path, "ab").close()
    except OSError:
        return True
    os.unlink(path)
    return False


@pytest.mark.parametrize("args, code, words", [
    (("--stages", "color,blur"), errors.EXIT_CONFIG, "unknown stage 'blur'"),
    (("--set", "color.vibrance=2"), errors.EXIT_CONFIG, "unknown parameter color.vibrance"),
    (("--set", "color.gamma=banana"), errors.EXIT_CONFIG, "color.gamma=banana: not a number"),
    (("--set", "color.gamma=99"), errors.EXIT_CONFIG, "out of range"),
    (("--preset", "turbo"), errors.EXIT_CONFIG, "unknown preset"),
    (("--max-frames", "0"), errors.EXIT_CONFIG, "must be 1 or more"),
    (("--crf", "70"), errors.EXIT_CONFIG, "--crf 70"),
    (("--codec", "ffv1"), errors.EXIT_CONFIG, "cannot go in .mp4"),
    (("--frobnicate",), errors.EXIT_CONFIG, "unrecognized arguments"),
])
def test_bad_options(clip, tmp_path, args, code, words):
    r = run_vqe("--file", clip, "-o", tmp_path / "o.mp4", "--no-display", *args)
    assert r.returncode == code and words in one_error_line(r)


@pytest.mark.skipif(cuda_status()[0], reason="a CUDA device is present")
def test_cuda_backend_without_gpu(clip, tmp_path):
    r = run_vqe("--file", clip, "-o", tmp_path / "o.mp4", "--no-display", "--backend", "cuda")
    assert r.returncode == errors.EXIT_BACKEND and "pip install vqe[gpu]" in one_error_line(r)


def test_debug_shows_the_traceback(tmp_path):
    r = run_vqe("--file", tmp_path / "missing.mp4", "-o", tmp_path / "o.mp4", "--no-display", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_version():
    r = run_vqe("--version")
    assert r.returncode == 0 and r.stdout.startswith("vqe ")


@pytest.mark.slow
def test_ctrl_c_leaves_a_playable_recording(media, tmp_path):
    out = tmp_path / "partial.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "realtime", "--file", str(media / "clean_person_indoor_432p.mp4"),
                             "-o", str(out), "--no-display", "--encoder-preset", "ultrafast"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 200_000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == errors.EXIT_INTERRUPTED, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    with av.open(str(out)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert 0 < frames < 1394
