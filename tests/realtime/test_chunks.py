"""Long files in chunks: planned at keyframes, joined by stream copy, and the same as a whole-file run."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from realtime.batch.assembly import Assembly
from realtime.batch.chunks import (
    Keyframes,
    cadence_frames,
    lookahead_frames,
    plan_spans,
    preroll_frames,
    scan_keyframes,
    split_files,
)
from realtime.batch.jobs import BatchConfig, FileTask, run_batch
from realtime.errors import EXIT_INTERRUPTED, EXIT_SOME_FAILED
from realtime.run.filejob import run_file
from realtime.settings import build_settings
from realtime.sinks.writers import OutputOptions

from conftest import LOSSLESS_ARGS, run_vqe, same_output

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tools" / "samples" / "flower_540p.mp4"
GOP = 48
#: Lossless H.264 (crf 0): what the comparisons see is the processing, not the encoder's rounding.
LOSSLESS = OutputOptions(crf=0, preset="ultrafast")
STABILIZED = "denoise,stabilize,contrast,color,sharpen"


def make_long_clip(ffmpeg, path, frames, shake=False):
    """The sample looped to ``frames`` at 320x180, a keyframe every GOP frames, with audio.

    ``shake``: a small crop window jittering over the picture (something for the stabilizer to correct).
    """
    scale = "scale=384:216,crop=320:180:32+24*sin(n/7)+9*sin(n*1.3):18+12*sin(n/5)+7*cos(n*1.7)" if shake \
        else "scale=320:180"
    subprocess.run([ffmpeg, "-v", "error", "-stream_loop", "-1", "-i", str(SAMPLE), "-f", "lavfi", "-i",
                    "sine=frequency=440:sample_rate=48000", "-map", "0:v", "-map", "1:a", "-frames:v", str(frames),
                    "-vf", scale, "-c:v", "libx264", "-preset", "ultrafast", "-g", str(GOP), "-keyint_min", str(GOP),
                    "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)], check=True)


@pytest.fixture(scope="module")
def clip(ffmpeg, tmp_path_factory):
    path = tmp_path_factory.mktemp("chunks") / "clip.mp4"
    make_long_clip(ffmpeg, path, 600, shake=True)
    return path


def decoded(path):
    """Each frame's timestamp and luma, and the audio packets (timestamp, bytes)."""
    with av.open(str(path)) as c:
        frames = [(f.pts, f.to_ndarray(format="gray").astype(np.float32)) for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [(p.pts, bytes(p)) for p in c.demux(*c.streams.audio) if p.size] if c.streams.audio else []
    return frames, audio


def mad_per_frame(a, b):
    return np.array([np.abs(x[1] - y[1]).mean() for x, y in zip(a, b)])


# ---------------------------------------------------------------------------------------------- planning


def test_keyframes_are_found_from_packets(clip):
    keys = scan_keyframes(clip)
    assert keys.frames == 600
    assert keys.indices == tuple(range(0, 600, GOP))
    with av.open(str(clip)) as c:
        stamps = [f.pts for f in c.decode(video=0)]
    assert keys.pts == tuple(stamps[i] for i in keys.indices)


def test_chunks_start_at_keyframes_cover_every_frame_once_and_preroll_before_them():
    keys = Keyframes(1000, tuple(range(0, 1000, 30)), tuple(range(0, 100000, 3000)))
    spans = plan_spans(keys, 4, preroll=100, lookahead=3, min_frames=200, cadence=8, output="out.mp4")
    assert len(spans) == 4
    assert spans[0].start == 0 and spans[-1].stop == 1000
    for before, after in zip(spans, spans[1:]):
        assert before.stop == after.start and after.start in keys.indices
        assert after.first <= after.start - 100 and after.first % 8 == 0  # pre-roll on the estimates' cadence
        assert after.seek_index <= after.first and after.seek_index in keys.indices
        assert after.origin_pts == keys.pts[keys.indices.index(after.start)]
        assert before.end == before.stop + 3  # the lookahead after a chunk is read, not written
    assert spans[-1].end == 1000
    assert all(s.stop - s.start >= 100 for s in spans)
    assert len(plan_spans(keys, 8, 100, 0, min_frames=400)) == 2  # never shorter chunks than asked for
    assert plan_spans(keys, 4, 100, 0, min_frames=200, output="out.mkv")[1].origin_pts is None  # kept on the clock


def test_files_are_split_only_when_workers_outnumber_them():
    assert split_files([3000, 3000], 2) == [1, 1]
    assert split_files([3000], 2) == [2]
    assert split_files([3000, 600], 4, min_frames=600) == [3, 1]  # the long file takes the spare workers
    assert split_files([900, None, 0], 8, min_frames=600) == [1, 1, 1]  # too short, unknown, not chunkable


def test_preroll_covers_each_temporal_stage_memory():
    default = build_settings()
    assert preroll_frames(build_settings(stages="sharpen")) < preroll_frames(default)
    assert preroll_frames(build_settings(stages="contrast", overrides=("contrast.smoothing=100",))) >= 700
    assert preroll_frames(build_settings(stages="stabilize")) >= 60
    assert lookahead_frames(build_settings(stages=STABILIZED)) == default.params["stabilize"].lookahead
    assert cadence_frames(default) % default.params["denoise"].estimate_every == 0


# ---------------------------------------------------------------------------------------------- against a whole run


@pytest.mark.parametrize("stages", [None, STABILIZED], ids=["default", "stabilize"])
def test_chunked_file_matches_the_whole_file_run(clip, tmp_path, stages):
    settings = build_settings(stages=stages)
    whole = tmp_path / "whole.mp4"
    run_file(clip, whole, settings, LOSSLESS)
    out = tmp_path / "out"
    stats = tmp_path / "stats.json"
    config = BatchConfig(settings, LOSSLESS, chunk_frames=150)
    assert run_batch([str(clip)], f"{out}/", config, jobs=3, stats_path=str(stats)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4"]  # no chunk file left

    (a, audio_a), (b, audio_b) = decoded(whole), decoded(out / "clip.mp4")
    assert len(a) == len(b) == 600
    assert [t for t, _ in a] == [t for t, _ in b]
    assert audio_a == audio_b and audio_a
    mad = mad_per_frame(a, b)
    assert mad.max() <= 1.0, mad.max()
    import json

    chunks = json.loads(stats.read_text())["files"][0]["stats"]["chunks"]
    assert len(chunks) == 3 and sum(c["frames"][1] - c["frames"][0] for c in chunks) == 600
    middles = [mad[(c["frames"][0] + c["frames"][1]) // 2 - 2:][:5].mean() for c in chunks]
    print("max", mad.max(), "middles", middles, "seams", [mad[c["frames"][0] - 3:c["frames"][0] + 3] for c in chunks])
    for c in chunks[1:]:
        seam = c["frames"][0]
        assert mad[seam - 3:seam + 3].mean() <= max(middles) + 0.01, (seam, mad[seam - 3:seam + 3], middles)


def test_without_preroll_the_seam_shows(clip, tmp_path):
    """The comparison above can fail: chunks started cold differ from the whole run at their seams."""
    settings = build_settings()
    whole = tmp_path / "whole.mp4"
    run_file(clip, whole, settings, LOSSLESS)
    spans = plan_spans(scan_keyframes(clip), 2, preroll=0, lookahead=0, min_frames=150, output=whole)
    cold = run_file(clip, tmp_path / "cold.mp4", settings, LOSSLESS, span=spans[1])
    assert cold.frames == spans[1].stop - spans[1].start
    a, _ = decoded(whole)
    b, _ = decoded(tmp_path / "cold.mp4")
    mad = mad_per_frame(a[spans[1].start:], b)
    print("cold seam", mad[:6], "middle", mad[len(mad) // 2:].mean())
    assert mad[:3].mean() > 0.1 + mad[len(mad) // 2:].mean(), mad[:5]


# ---------------------------------------------------------------------------------------------- from the command line


@pytest.fixture(scope="module")
def long_clip(ffmpeg, tmp_path_factory):
    """Long enough for the default chunk length: two chunks on two workers."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    make_long_clip(ffmpeg, path, 1260)
    return path


def test_cli_splits_a_long_file_over_the_workers_and_joins_it(long_clip, tmp_path):
    out = tmp_path / "out"
    r = run_vqe("--file", long_clip, "-o", f"{out}/", "--jobs", "2", timeout_s=300)
    assert r.returncode == 0, r.stderr
    assert "2 chunks" in r.stderr
    (frames, audio) = decoded(out / "long.mp4")
    assert len(frames) == 1260 and audio
    assert sorted(p.name for p in out.iterdir()) == ["long.mp4"]


def test_a_damaged_chunk_fails_its_file_in_one_line_and_a_rerun_redoes_it(long_clip, tmp_path):
    bad = tmp_path / "bad.mp4"
    data = bytearray(long_clip.read_bytes())
    middle = int(len(data) * 0.7)
    data[middle:middle + 200_000] = os.urandom(200_000)
    bad.write_bytes(bytes(data))
    out = tmp_path / "out"
    for _ in range(2):  # the rerun tries again (nothing of the first run is kept)
        r = run_vqe("--file", bad, "-o", f"{out}/", "--jobs", "2", timeout_s=300, cwd=tmp_path)
        assert r.returncode == EXIT_SOME_FAILED, r.stderr
        assert "Traceback" not in r.stderr
        last = [line for line in r.stderr.splitlines() if "failed: " in line][-1]
        assert "truncated or damaged in frames" in last and "nothing was written" in last, last
        assert "2 chunks" in r.stderr and "kept" not in r.stderr
        assert list(out.iterdir()) == []
        # The chunk still running when the other failed was not deleted under its writer (which salvages it).
        assert not list(tmp_path.glob("*.recovered.*")) and "was deleted" not in r.stderr


def test_sigint_keeps_finished_chunks_and_the_rerun_joins_the_same_file(long_clip, tmp_path):
    out = tmp_path / "out"
    args = ["--file", str(long_clip), "-o", f"{out}/", "--jobs", "2", *LOSSLESS_ARGS]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "realtime", *args], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 240
    # The first chunk has no pre-roll to do: it is complete while the second is under way.
    while not list(out.glob(".long.vqe-chunk-*-001of002.mp4")):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    left = sorted(p.name for p in out.iterdir())
    # Chunk 1 is kept; chunk 2 only if it was finished too when the signal came (a busy machine), never a part of it.
    assert "long.mp4" not in left and len(left) in (1, 2) and "001of002" in left[0], left
    assert len(left) == 1 or "002of002" in left[1], left

    r = run_vqe(*args, timeout_s=300)
    assert r.returncode == 0, r.stderr
    assert "chunk 1 of 2 done before, kept" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["long.mp4"]
    again = tmp_path / "again"
    assert run_vqe(*args[:3], f"{again}/", *args[4:], timeout_s=300).returncode == 0
    assert same_output(again / "long.mp4", out / "long.mp4")


# ---------------------------------------------------------------------------------------------- on Ray


def test_ray_runs_the_chunked_file_as_the_local_workers_do(long_clip, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason='Ray is not installed (pip install "vqe[cluster]")')
    from realtime.batch.cluster import run_on_ray
    local, remote = tmp_path / "local", tmp_path / "ray"
    config = BatchConfig(build_settings(), LOSSLESS)
    assert run_batch([str(long_clip)], f"{local}/", config, jobs=2) == 0
    monkeypatch.setenv("RAY_worker_niceness", "0")  # as vqe starts a local cluster (see realtime.batch.cluster)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        assert run_batch([str(long_clip)], f"{remote}/", config, cluster="ray") == 0
        # Where the workers do not share the driver's files: the input goes as bytes, the chunks come back so.
        shipped = tmp_path / "shipped"
        shipped.mkdir()
        assembly = Assembly([FileTask(0, str(long_clip), str(shipped / "long.mp4"))], config, workers=2)
        run_on_ray("ray", assembly.units, config, Quiet(), shared=False, report=assembly.finish)
    finally:
        ray.shutdown()
    assert [r.status for r in assembly.results()] == ["done"] and len(assembly.units) == 2
    for out in (remote, shipped):
        assert sorted(p.name for p in out.iterdir()) == ["long.mp4"]
        assert same_output(out / "long.mp4", local / "long.mp4")


class Quiet:
    """A progress display that shows nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None
