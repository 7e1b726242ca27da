"""Run statistics: fixed-memory timings, their mean and percentiles, atomic JSON, periodic stats of a live run."""
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from realtime import errors
from realtime.run import stats as stats_module
from realtime.run.stats import RECENT_S, RunStats, Timings

from conftest import ROOT, run_vqe

SAMPLE_CLIP = ROOT / "tools" / "samples" / "flower_540p.mp4"


def test_timings_memory_does_not_grow_with_samples():
    t = Timings()
    t.add(1.0)  # the ring is allocated whole at the first sample
    ring_bytes = t.nbytes
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(200_000):  # twice the window: the ring wraps
            t.add(i * 1e-3)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert t.nbytes == ring_bytes == t.window * 4
    assert after - before < 16_384  # a deque of floats kept ~3.2 MB here
    assert t.count == 200_001


def test_timings_mean_and_p95_agree_with_numpy():
    samples = np.random.default_rng(0).gamma(2.0, 5.0, 250)  # skewed, like real timings
    t = Timings(window=100)
    for ms in samples:
        t.add(float(ms))
    kept = samples[-100:].astype(np.float32).astype(np.float64)  # the ring holds float32
    np.testing.assert_array_equal(t.recent(), kept)  # oldest first, across the wrap
    np.testing.assert_array_equal(t.recent(7), kept[-7:])
    assert t.summary()["mean_ms"] == round(float(samples.mean()), 3)  # every sample, not only the kept ones
    assert t.summary()["p95_ms"] == pytest.approx(np.percentile(kept, 95), abs=1e-3)
    assert t.recent_mean() == pytest.approx(samples[-30:].mean(), rel=1e-6)
    assert t.recent_p95(40) == pytest.approx(np.percentile(samples[-40:], 95), rel=1e-6)
    assert t.recent_p95(10_000) == pytest.approx(np.percentile(kept, 95), rel=1e-9)  # capped at the window


def test_empty_timings_are_zero():
    t = Timings()
    assert t.nbytes == 0 and t.recent().size == 0
    assert t.recent_mean() == t.recent_p95() == 0.0
    assert t.summary() == {"mean_ms": 0.0, "p95_ms": 0.0}


def test_p95_recent_covers_about_the_last_ten_seconds(monkeypatch):
    run = RunStats()
    monkeypatch.setattr(run, "started", time.perf_counter() - 100.0)
    run.stop()
    for ms in [100.0] * 900 + [10.0] * 100:  # 10 samples a second: the last 10 s were fast
        run.latency.add(ms)
    assert run.recent_samples(run.latency) == pytest.approx(RECENT_S * 10, abs=1)
    latency = run.as_dict(live=True)["latency_ms"]
    assert latency["p95"] == 100.0 and latency["p95_recent"] == 10.0


def test_write_json_replaces_the_file_atomically(tmp_path, monkeypatch):
    path = tmp_path / "stats.json"
    run = RunStats()
    run.frames = 1
    run.write_json(path)
    seen = []
    real_replace = stats_module.os.replace

    def replace(src, dst):
        # The new content is complete elsewhere while the target still holds the old one.
        seen.append((json.loads(Path(src).read_text())["frames"], json.loads(Path(dst).read_text())["frames"]))
        real_replace(src, dst)

    monkeypatch.setattr(stats_module.os, "replace", replace)
    run.frames = 2
    run.write_json(path)
    assert seen == [(2, 1)] and json.loads(path.read_text())["frames"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]  # no temporary file left


def test_write_json_error_is_an_output_error_and_leaves_nothing(tmp_path):
    (tmp_path / "stats.json").mkdir()
    with pytest.raises(errors.OutputError, match="cannot write stats"):
        RunStats().write_json(tmp_path / "stats.json")
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]


@pytest.mark.parametrize("args", [("--stats-every", "1"),
                                  ("--stats-every", "0", "--stats", "s.json"),
                                  ("--stats-every", "1", "--stats", "s.json", "--file", str(SAMPLE_CLIP),
                                   "--no-display")])
def test_stats_every_needs_stats_and_a_live_run(args, tmp_path):
    r = run_vqe(*args, cwd=tmp_path)
    assert r.returncode == errors.EXIT_CONFIG and "--stats-every" in r.stderr
    assert not (tmp_path / "s.json").exists()


def test_stats_every_rewrites_the_stats_during_a_live_run(tmp_path):
    path = tmp_path / "stats.json"
    proc = subprocess.Popen([sys.executable, "-m", "realtime", "--file", str(SAMPLE_CLIP), "--live", "--no-display",
                             "--stages", "color", "--max-frames", "75", "--stats", str(path),
                             "--stats-every", "0.3"], stderr=subprocess.PIPE, text=True)
    snapshots = []
    try:
        while proc.poll() is None:
            if path.exists():
                snapshots.append(json.loads(path.read_text()))  # never half written: replaced atomically
            time.sleep(0.02)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    during = [s["frames"] for s in snapshots if 0 < s["frames"] < 75]
    assert len(set(during)) >= 2, [s["frames"] for s in snapshots]  # rewritten as the run went on
    assert during == sorted(during)
    mid = next(s for s in snapshots if s["frames"] == during[0])
    assert mid["stop_reason"] == "" and mid["captured_frames"] >= mid["frames"]
    assert {"capture", "display", "recorder"} <= set(mid["drops"]) and mid["processed_fps"] > 0
    assert mid["latency_ms"]["p95_recent"] > 0
    final = json.loads(path.read_text())
    assert final["frames"] == 75 and final["stop_reason"] == "75 frames (--max-frames)"
    # Rates count from the first frame, start-up apart: the paced 29.97 fps file's own rate (counted
    # over the whole run, start-up in, these 2.5 s would read about 23).
    assert final["startup_s"] > 0 and 26 < final["capture_fps"] < 31
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]
