"""Fault injection with real processes, real signals and real files: every recording stays playable.

A run killed with SIGKILL (a crash, an OOM kill, a power cut) leaves an MP4 made of
complete fragments and at most one partial one: everything in the complete fragments
decodes, and it is the same picture an uninterrupted run writes.  SIGTERM and SIGHUP
finalize like Ctrl-C; a full disk, a deleted output folder and other write failures
are one line with exit code 4, and what was written plays.
"""
import errno
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from test_live import free_port, serve

from realtime import errors

from conftest import run_vqe

#: Seeded, so a failure names a moment that can be replayed.
KILLS = 20


def vqe_process(*args, cwd=None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "realtime", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)


def wait_for_bytes(path: Path, size: int, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    """Wait until ``path`` holds ``size`` bytes (the writer is past its start-up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if path.stat().st_size >= size:
                return
        except FileNotFoundError:  # not yet, or the start-up's write check removing its empty probe
            pass
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, f"{path} never reached {size} bytes"
        time.sleep(0.02)


def boxes(data: bytes, start: int = 0, end: int | None = None):
    """ISO-BMFF boxes in ``data[start:end]`` as (type, payload start, box end); a cut-off box ends the walk."""
    end = len(data) if end is None else end
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        if size < 8 or i + size > end:
            return
        yield kind.decode("latin-1"), i + 8, i + size
        i += size


def child(data: bytes, parent: tuple, kind: str):
    return next(((k, s, e) for k, s, e in boxes(data, parent[1], parent[2]) if k == kind), None)


def video_track_id(data: bytes, moov: tuple) -> int:
    for trak in (b for b in boxes(data, moov[1], moov[2]) if b[0] == "trak"):
        hdlr = child(data, child(data, trak, "mdia"), "hdlr")
        if data[hdlr[1] + 8: hdlr[1] + 12] == b"vide":
            tkhd = child(data, trak, "tkhd")
            offset = 20 if data[tkhd[1]] == 1 else 12  # version 1 has 64-bit times
            return struct.unpack(">I", data[tkhd[1] + offset: tkhd[1] + offset + 4])[0]
    raise AssertionError("no video track")


def fragments(path: Path) -> tuple[int, int]:
    """(video samples in complete moof+mdat fragments, bytes after the last complete box)."""
    data = path.read_bytes()
    top = list(boxes(data))
    moov = next(b for b in top if b[0] == "moov")
    track = video_track_id(data, moov)
    samples = 0
    for (kind, s, e), nxt in zip(top, top[1:]):
        if kind != "moof" or nxt[0] != "mdat":
            continue
        for traf in (b for b in boxes(data, s, e) if b[0] == "traf"):
            tfhd = child(data, traf, "tfhd")
            if struct.unpack(">I", data[tfhd[1] + 4: tfhd[1] + 8])[0] == track:
                for trun in (b for b in boxes(data, traf[1], traf[2]) if b[0] == "trun"):
                    samples += struct.unpack(">I", data[trun[1] + 4: trun[1] + 8])[0]
    return samples, len(data) - top[-1][2]


def decode_as_a_player(path: Path) -> list[np.ndarray]:
    """Luma of every frame up to the first undecodable data (a cut-off last packet), as players do."""
    frames = []
    try:
        with av.open(str(path)) as c:
            for f in c.decode(video=0):
                frames.append(f.to_ndarray(format="gray"))
    except av.FFmpegError:
        pass
    return frames


def timed_frames(path: Path, packets: int | None = None) -> dict[int, np.ndarray]:
    """Luma by time (ms from the first frame) of the pictures in the first ``packets`` video packets."""
    frames = {}
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        decoded = []
        for n, packet in enumerate(c.demux(stream)):
            if n == packets or packet.dts is None:
                break
            decoded += stream.codec_context.decode(packet)
        decoded += stream.codec_context.decode(None)
        tb = stream.time_base
    t0 = min(f.pts for f in decoded)
    for f in decoded:
        frames[round(1000 * float((f.pts - t0) * tb))] = f.to_ndarray(format="gray")
    return frames


def assert_playable_prefix(path: Path, reference: dict[int, np.ndarray] | None) -> int:
    samples, _ = fragments(path)
    played = len(decode_as_a_player(path))
    # Nothing but the last (partial) fragment is lost ...
    assert played >= samples, (path, played, samples)
    if reference is not None and samples:
        # ... and the complete fragments hold the uninterrupted run's pictures at the same times
        # (not bit-exact: the chain's threads may split sums otherwise).
        for ms, got in timed_frames(path, samples).items():
            mse = np.mean((got.astype(np.float32) - reference[ms]) ** 2)
            assert mse < 6.5, f"{path}: the frame at {ms} ms is not the full run's (PSNR {10 * np.log10(65025 / mse):.1f})"
    return played


@pytest.fixture(scope="module")
def clip(media):
    return media / "clean_person_indoor_432p.mp4"


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory):
    """The first 300 frames an uninterrupted run writes."""
    out = tmp_path_factory.mktemp("ref") / "full.mp4"
    r = run_vqe("--file", clip, "-o", out, "--no-display", "--max-frames", "300")
    assert r.returncode == 0, r.stderr
    return timed_frames(out)


def kill_when_writing(proc, out, after_s):
    """SIGKILL ``proc`` ``after_s`` after ``out`` got its first bytes, and reap it; killed even when
    that wait fails (leaving a ``with vqe_process`` block waits for the process)."""
    try:
        wait_for_bytes(out, 1, proc)
        time.sleep(after_s)
    finally:
        proc.kill()
    proc.wait(timeout=30)


@pytest.mark.slow
def test_sigkill_at_random_moments_of_a_file_run(clip, reference, tmp_path):
    rng = random.Random(18)
    kept = []
    for k in range(KILLS):
        out = tmp_path / f"killed{k}.mp4"
        with vqe_process("--file", clip, "-o", out, "--no-display", "--max-frames", "300") as proc:  # closes its pipe
            kill_when_writing(proc, out, rng.uniform(0.0, 4.0))
        kept.append(assert_playable_prefix(out, reference))
    assert max(kept) > 30, kept  # the moments reached well into the runs, not only their starts


@pytest.mark.slow
def test_sigkill_of_a_live_stream_recording(ffmpeg, media, tmp_path):
    rng = random.Random(181)
    for k in range(3):
        port = free_port()
        server = serve(ffmpeg, media / "clean_bikes_street_272p.mp4", port)
        out = tmp_path / f"live{k}.mp4"
        try:
            with vqe_process("--stream", f"tcp://127.0.0.1:{port}", "-o", out, "--no-display") as proc:
                kill_when_writing(proc, out, rng.uniform(1.0, 5.0))
        finally:
            server.kill()
            server.wait()
        assert assert_playable_prefix(out, None) > 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_stop_signals_finalize_like_ctrl_c(clip, tmp_path, sig):
    out = tmp_path / "stopped.mp4"
    proc = vqe_process("--file", clip, "-o", out, "--no-display")
    wait_for_bytes(out, 200_000, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr
    line = next(line for line in stderr.splitlines() if "stopped by" in line)
    assert signal.Signals(sig).name in line and "Traceback" not in stderr
    written = int(line.split("; ")[1].split()[0])
    with av.open(str(out)) as c:  # finalized: a whole, non-fragmented file with every frame written
        assert c.streams.video[0].frames == written > 0
        assert sum(1 for _ in c.decode(video=0)) == written


@pytest.mark.slow
def test_a_second_signal_exits_at_once_and_the_file_still_plays(clip, tmp_path):
    out = tmp_path / "twice.mp4"
    proc = vqe_process("--file", clip, "-o", out, "--no-display")
    wait_for_bytes(out, 200_000, proc)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert len(decode_as_a_player(out)) > 0


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.mark.slow
def test_full_disk_is_one_line_exit_4_and_a_playable_file(sample_clip, tmp_path):
    disk = tmp_path / "disk"
    if not _tmpfs(disk, "600k"):
        pytest.skip("a full disk needs a small tmpfs: mounting one needs root "
                    "(test_write_failures_are_one_line covers the same error through a failing file object)")
    try:
        out, stats = disk / "out.mp4", tmp_path / "stats.json"
        r = run_vqe("--file", sample_clip, "-o", out, "--no-display", "--stats", stats)
        assert r.returncode == errors.EXIT_OUTPUT, r.stderr
        lines = [line for line in r.stderr.splitlines() if line.startswith("vqe: error:")]
        assert len(lines) == 1 and "disk is full" in lines[0] and "Traceback" not in r.stderr
        assert assert_playable_prefix(out, None) > 0
        assert json.loads(stats.read_text())["frames"] > 0
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.slow
def test_deleted_output_folder_is_salvaged(clip, tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    out = folder / "rec.mp4"
    proc = vqe_process("--file", clip, "-o", out, "--no-display", cwd=tmp_path)
    wait_for_bytes(out, 200_000, proc)
    shutil.rmtree(folder)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == errors.EXIT_OUTPUT, stderr
    assert "was deleted" in stderr and "Traceback" not in stderr
    saved = tmp_path / "rec.recovered.mp4"
    assert str(saved.name) in stderr
    assert assert_playable_prefix(saved, None) > 0


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "disk is full"), (errno.EDQUOT, "disk is full"),
                                         (errno.EACCES, "permission"), (errno.EIO, "check the disk")])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".y4m"])
def test_write_failures_are_one_line(make_y4m, monkeypatch, tmp_path, capsys, code, words, suffix):
    """A disk that fails mid-run, injected through the output file object (what permissions lost on a
    network mount or a full quota look like to vqe): exit 4, one line, the frames before it kept."""
    from realtime import cli
    from realtime.sinks.outfile import OutputFile

    from conftest import textured_frames

    clip = make_y4m(textured_frames(60, 96, 128))
    real_write = OutputFile._write_to_disk

    def failing_write(self, data):
        if self.tell() > 20_000:
            raise OSError(code, os.strerror(code))
        return real_write(self, data)

    monkeypatch.setattr(OutputFile, "_write_to_disk", failing_write)
    out = tmp_path / f"out{suffix}"
    code_out = cli.main(["--file", str(clip), "-o", str(out), "--no-display", "--stages", "none",
                         "--codec", "ffv1"] if suffix == ".mkv" else
                        ["--file", str(clip), "-o", str(out), "--no-display", "--stages", "none"])
    err = capsys.readouterr().err
    assert code_out == errors.EXIT_OUTPUT, err
    lines = [line for line in err.splitlines() if line.startswith("vqe: error:")]
    assert len(lines) == 1 and words in lines[0], err
    assert out.stat().st_size > 0


@pytest.mark.slow
def test_damaged_file_exits_the_same_with_or_without_a_window(sample_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    data = sample_clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    headless = run_vqe("--file", cut, "-o", tmp_path / "a.mp4", "--no-display", "--encoder-preset", "ultrafast")
    window = run_vqe("--file", cut, "-o", tmp_path / "b.mp4", "--encoder-preset", "ultrafast")
    assert headless.returncode == window.returncode == errors.EXIT_TRUNCATED, (headless.stderr, window.stderr)
