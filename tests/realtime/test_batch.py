"""Batch mode end to end through the CLI: every output complete, failures reported, resumable, Ray alike."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from realtime.batch.jobs import expand_inputs, part_path, plan_outputs
from realtime.errors import EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_SOME_FAILED, ConfigError
from realtime.run.progress import BatchProgress

from conftest import LOSSLESS_ARGS, run_vqe, same_output

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(ROOT, "tools", "samples", "flower_540p.mp4")

#: name -> (frames, has audio); small and short, so a batch of them takes seconds.
CLIPS = {"a_audio.mp4": (24, True), "b_audio.mp4": (18, True), "c_audio.mov": (12, True),
         "d_silent.mkv": (20, False), "e_raw.y4m": (10, False)}


def make_clip(ffmpeg, path, frames, audio, start_s=0.0):
    args = [ffmpeg, "-v", "error", "-ss", str(start_s), "-i", SAMPLE, "-frames:v", str(frames),
            "-vf", "scale=320:180"]
    if path.suffix == ".y4m":
        args += ["-pix_fmt", "yuv420p", "-an"]
    else:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
        args += ["-c:a", "aac", "-shortest"] if audio else ["-an"]
    subprocess.run([*args, str(path)], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory, ffmpeg):
    """Six inputs in a folder: five short clips (three with audio) and one that is not a video."""
    folder = tmp_path_factory.mktemp("batch_in")
    for i, (name, (frames, audio)) in enumerate(CLIPS.items()):
        make_clip(ffmpeg, folder / name, frames, audio, start_s=0.5 * i)
    (folder / "f_broken.mp4").write_bytes(os.urandom(4096))
    return folder


@pytest.fixture(scope="module")
def local_batch(clips, tmp_path_factory):
    """The batch of six run once on local worker processes: (output folder, completed process, stats)."""
    out = tmp_path_factory.mktemp("batch_out")
    stats = out / "stats.json"
    r = run_vqe("--file", clips, "-o", f"{out}/", "--stats", stats, "--jobs", "2", *LOSSLESS_ARGS)
    return out, r, json.loads(stats.read_text())


def video_frames_and_audio(path):
    with av.open(str(path)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(path)) as c:
        return frames, bool(c.streams.audio)


def test_batch_writes_each_output_reports_the_broken_input_and_exits_7(clips, local_batch):
    out, r, stats = local_batch
    assert r.returncode == EXIT_SOME_FAILED, r.stderr
    assert "Traceback" not in r.stderr
    for name, (frames, audio) in CLIPS.items():
        assert video_frames_and_audio(out / name) == (frames, audio), name
    assert not (out / "f_broken.mp4").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary outputs left behind"
    # The failure is named at the end, with its own one-line error.
    tail = r.stderr.strip().splitlines()[-2:]
    assert "f_broken.mp4" in tail[0] and "not a video file" in tail[0], r.stderr
    assert f"exit code {EXIT_SOME_FAILED}" in tail[1]
    assert stats["batch"]["done"] == 5 and stats["batch"]["failed"] == 1
    assert stats["batch"]["frames"] == sum(f for f, _ in CLIPS.values())
    files = {os.path.basename(f["input"]): f for f in stats["files"]}
    assert files["f_broken.mp4"]["status"] == "failed" and files["f_broken.mp4"]["exit_code"] == 3
    assert files["a_audio.mp4"]["stats"]["frames"] == 24 and files["a_audio.mp4"]["stats"]["stages"]


def test_batch_output_is_the_same_as_a_single_file_run(clips, local_batch, tmp_path):
    single = tmp_path / "single.mp4"
    r = run_vqe("--file", clips / "a_audio.mp4", "-o", single, "--no-display", *LOSSLESS_ARGS)
    assert r.returncode == 0, r.stderr
    assert same_output(single, local_batch[0] / "a_audio.mp4")


def test_sigint_then_rerun_makes_only_the_missing_outputs(ffmpeg, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(5):
        make_clip(ffmpeg, folder / f"clip{i}.mp4", 60, i % 2 == 0, start_s=0.3 * i)
    out = tmp_path / "out"
    args = ["--file", str(folder / "*.mp4"), "-o", f"{out}/{{stem}}_enhanced.mp4", "--jobs", "1"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "realtime", *args], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not (out / "clip0_enhanced.mp4").exists():  # one file complete, the next one under way
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "run the same command again" in err and "Traceback" not in err
    done = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if not p.name.startswith(".")}
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary outputs left behind"
    assert "clip0_enhanced.mp4" in done and len(done) < 5, done
    for name in done:
        assert video_frames_and_audio(out / name)[0] == 60, name  # whatever has its final name is complete

    r = run_vqe(*args)
    assert r.returncode == 0, r.stderr
    for name, mtime in done.items():  # not redone
        assert (out / name).stat().st_mtime_ns == mtime
        assert f"{out / name} exists" in r.stderr
    assert r.stderr.count("done: ") == 5 - len(done)
    for i in range(5):
        assert video_frames_and_audio(out / f"clip{i}_enhanced.mp4") == (60, i % 2 == 0)


def kill_the_writer_of(path, deadline_s=120.0):
    """SIGKILL the process that has ``path`` open (a worker writing it), once it does; its pid."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
                if any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path) for fd in fds):
                    os.kill(int(pid), signal.SIGKILL)
                    return int(pid)
            except OSError:  # gone meanwhile, or not ours to read
                continue
        time.sleep(0.02)
    raise AssertionError(f"nobody wrote {path} within {deadline_s} s")


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the worker through /proc")
def test_a_killed_worker_fails_its_file_and_the_batch_goes_on(ffmpeg, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        make_clip(ffmpeg, folder / f"clip{i}.mp4", 60, False, start_s=0.4 * i)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "realtime", "--file", str(folder), "-o", f"{out}/", "--jobs", "1"],
                            stderr=subprocess.PIPE, text=True, env=env)
    kill_the_writer_of((out / ".clip1.vqe-part.mp4").resolve())
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == EXIT_SOME_FAILED, err
    assert "clip1.mp4: its worker process died (signal SIGKILL)" in err
    assert sorted(p.name for p in out.iterdir()) == ["clip0.mp4", "clip2.mp4"]  # no partial file either


def test_outputs_by_folder_and_by_pattern(tmp_path):
    inputs = [tmp_path / "x" / "tape1.avi", tmp_path / "y" / "tape2.ts"]
    assert plan_outputs(inputs, str(tmp_path / "out")) == [tmp_path / "out" / "tape1.avi",
                                                           tmp_path / "out" / "tape2.mkv"]
    assert plan_outputs(inputs, str(tmp_path / "o" / "{parent}_{stem}_hd.mp4")) == [
        tmp_path / "o" / "x_tape1_hd.mp4", tmp_path / "o" / "y_tape2_hd.mp4"]
    assert (tmp_path / "o").is_dir()
    assert part_path(tmp_path / "o" / "a.mp4") == tmp_path / "o" / ".a.vqe-part.mp4"
    with pytest.raises(ConfigError, match="both be written"):
        plan_outputs([tmp_path / "x" / "a.mp4", tmp_path / "y" / "a.mp4"], str(tmp_path / "out"))
    with pytest.raises(ConfigError, match="one file for 2 inputs"):
        plan_outputs(inputs, str(tmp_path / "one.mp4"))
    with pytest.raises(ConfigError, match="no file extension"):
        plan_outputs(inputs, str(tmp_path / "{stem}"))
    with pytest.raises(ConfigError, match="placeholders"):
        plan_outputs(inputs, str(tmp_path / "{title}.mp4"))


def test_inputs_from_folders_globs_and_paths(tmp_path):
    for name in ("b.mp4", "a.MKV", "notes.txt", ".hidden.mp4"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.mov").write_bytes(b"x")
    assert expand_inputs([str(tmp_path)]) == [tmp_path / "a.MKV", tmp_path / "b.mp4"]
    assert expand_inputs([str(tmp_path / "**" / "*.mov"), str(tmp_path / "b.mp4"), str(tmp_path / "b.mp4"),
                          "missing.mp4"]) == [tmp_path / "sub" / "c.mov", tmp_path / "b.mp4",
                                              Path("missing.mp4")]
    with pytest.raises(ConfigError, match="matches no file"):
        expand_inputs([str(tmp_path / "*.avi")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no video files"):
        expand_inputs([str(tmp_path / "empty")])


def test_batch_config_errors_are_one_line_exit_2(clips, tmp_path):
    r = run_vqe("--file", clips / "a_audio.mp4", clips / "b_audio.mp4", "-o", tmp_path / "one.mp4")
    assert r.returncode == EXIT_CONFIG
    assert r.stderr.strip().splitlines() == [
        f"vqe: error: -o {tmp_path / 'one.mp4'} is one file for 2 inputs: give a folder (-o out/) or a pattern "
        f"(-o 'out/{{stem}}_enhanced.mp4')"]


def test_cluster_without_ray_is_one_line_with_the_install_hint(clips, tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"  # as if Ray were not installed
            "from realtime.cli import main\n"
            f"sys.exit(main(['--file', {str(clips / 'a_audio.mp4')!r}, '-o', {str(tmp_path)!r} + '/', "
            "'--cluster', 'ray']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == EXIT_CONFIG
    assert r.stderr.strip().splitlines()[-1] == ('vqe: error: --cluster ray needs Ray, which is not installed: '
                                                 'pip install "vqe[cluster]"')


def test_batch_eta_comes_from_frames_left_and_the_measured_rate(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("realtime.run.progress.time.perf_counter", lambda: now[0])
    progress = BatchProgress([100, None, 300], ["a", "b", "c"], enabled=False)
    assert progress.eta_s() is None  # no rate before the first frame
    progress.start(0)
    progress.update(0, 0, 100)
    now[0] += 1.0
    progress.update(0, 50, 100)
    # 50 frames in 1 s; left: 50 of a, b unknown (the mean known total, 200), 300 of c.
    assert progress.frames_left() == 550 and progress.eta_s() == pytest.approx(11.0)
    progress.end(0)
    assert progress.frames_left() == 500


@pytest.fixture(scope="module")
def ray_module():
    return pytest.importorskip("ray", reason='Ray is not installed (pip install "vqe[cluster]"): '
                                             "the batch on a Ray cluster is not tested")


def test_ray_batch_writes_the_same_outputs_as_the_local_batch(ray_module, clips, local_batch, tmp_path):
    out = tmp_path / "ray_out"
    r = run_vqe("--file", clips, "-o", f"{out}/", "--cluster", "ray", *LOSSLESS_ARGS, timeout_s=300)
    assert r.returncode == EXIT_SOME_FAILED, r.stderr
    assert "f_broken.mp4" in r.stderr.strip().splitlines()[-2]
    for name in CLIPS:
        assert same_output(out / name, local_batch[0] / name), name
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_ray_workers_without_the_drivers_files_get_bytes(ray_module, clips, local_batch, tmp_path, monkeypatch):
    """Where workers do not share a file system, inputs and outputs travel as bytes; the outputs are the same."""
    from realtime.batch.cluster import run_on_ray
    from realtime.batch.jobs import BatchConfig, FileTask
    from realtime.settings import build_settings
    from realtime.sinks.writers import OutputOptions

    class Quiet:
        def __getattr__(self, name):
            return lambda *args, **kwargs: None

    names = ["a_audio.mp4", "e_raw.y4m"]
    tasks = [FileTask(i, str(clips / n), str(tmp_path / n)) for i, n in enumerate(names)]
    monkeypatch.setenv("RAY_worker_niceness", "0")  # as vqe starts a local cluster (see realtime.batch.cluster)
    ray_module.init(num_cpus=2, include_dashboard=False)
    try:
        results = run_on_ray("ray", tasks, BatchConfig(build_settings(), OutputOptions(crf=0, preset="ultrafast")),
                             Quiet(), shared=False)
    finally:
        ray_module.shutdown()
    assert [r.status for r in results] == ["done", "done"], results
    for n in names:
        assert same_output(tmp_path / n, local_batch[0] / n), n


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the worker through /proc")
def test_ray_retries_a_lost_worker_and_writes_its_output_once(ray_module, ffmpeg, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    make_clip(ffmpeg, folder / "long.mp4", 90, True)
    make_clip(ffmpeg, folder / "short.mp4", 12, False, start_s=1.0)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "realtime", "--file", str(folder), "-o", f"{out}/", "--cluster",
                             "ray", "--stats", str(tmp_path / "stats.json"), *LOSSLESS_ARGS], stderr=subprocess.PIPE, text=True,
                            env=env)
    killed = kill_the_writer_of((out / ".long.vqe-part.mp4").resolve(), deadline_s=240)
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["long.mp4", "short.mp4"]
    assert video_frames_and_audio(out / "long.mp4") == (90, True)
    stats = json.loads((tmp_path / "stats.json").read_text())
    long = next(f for f in stats["files"] if f["input"].endswith("long.mp4"))
    assert long["status"] == "done" and not long["worker"].endswith(f":{killed}")  # done again, elsewhere
    local = tmp_path / "local.mp4"
    assert run_vqe("--file", folder / "long.mp4", "-o", local, "--no-display", *LOSSLESS_ARGS).returncode == 0
    assert same_output(local, out / "long.mp4")
