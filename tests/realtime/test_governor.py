"""The real-time governor on synthetic loads: how fast it steps, that it holds, undoes and does not oscillate."""
from realtime.run.governor import FIRST_UP_WAIT_S, Governor, Step

FPS = 30.0


class Chain:
    """A chain whose cost per frame falls by ``relief`` per step in force (a fraction of the interval)."""

    def __init__(self, load: float, relief: float, steps: int = 3):
        self.load, self.relief, self.level = load, relief, 0
        self.steps = [Step(f"step {i}", self._down, self._up) for i in range(steps)]

    def _down(self):
        self.level += 1

    def _up(self):
        self.level -= 1

    def busy_s(self) -> float:
        return max(self.load - self.relief * self.level, 0.05) / FPS


def run(gov: Governor, chain: Chain, seconds: float, start_s: float = 0.0, load=None):
    """Frames at the source's rate for ``seconds``; returns (time, message) of each change."""
    changes = []
    n = int(seconds * FPS)
    for i in range(n):
        t = start_s + (i + 1) / FPS
        if load is not None:
            chain.load = load(t)
        msg = gov.observe(chain.busy_s(), t)
        if msg:
            changes.append((t, msg))
    return changes


def test_an_overloaded_chain_steps_down_within_about_a_second_and_holds():
    chain = Chain(load=1.3, relief=0.3)
    gov = Governor(chain.steps, 1 / FPS)
    changes = run(gov, chain, 20.0)
    assert changes and changes[0][0] <= 1.2, changes
    assert "step 0" in changes[0][1]
    # 1.3 -> 1.0 -> 0.7: two steps hold the rate (0.7 < HIGH) without undoing (0.7 > LOW).
    assert gov.level == 2 and len(changes) == 2, changes
    assert gov.as_dict()["steps"][0]["active_s"] > 17


def test_headroom_undoes_the_steps_last_first():
    chain = Chain(load=1.3, relief=0.3)
    gov = Governor(chain.steps, 1 / FPS)
    run(gov, chain, 10.0)
    assert gov.level == 2
    changes = run(gov, chain, 20.0, start_s=10.0, load=lambda t: 0.6)  # the scene got easier
    assert gov.level == 0
    assert [m.split(": ", 1)[1] for _, m in changes] == ["undone: step 1", "undone: step 0"]
    first_undo_after = changes[0][0] - 10.0
    assert first_undo_after >= FIRST_UP_WAIT_S  # the load must stay low that long, not a moment


def test_a_chain_that_overloads_whenever_a_step_is_undone_does_not_oscillate():
    # Full quality is just over budget; one step is far under: a naive controller flips every few seconds.
    chain = Chain(load=1.0, relief=0.7, steps=1)
    gov = Governor(chain.steps, 1 / FPS)
    changes = run(gov, chain, 120.0)
    undos = [t for t, m in changes if "undone" in m]
    gaps = [b - a for a, b in zip(undos, undos[1:])]
    assert all(b > a for a, b in zip(gaps, gaps[1:])), gaps  # each try waits longer than the last
    assert len(undos) <= 6, changes  # a try each 2, 4, 8, 16, 32 s, then each minute (each costs ~1 s)


def test_a_load_that_fits_changes_nothing():
    chain = Chain(load=0.7, relief=0.3)
    gov = Governor(chain.steps, 1 / FPS)
    assert run(gov, chain, 30.0) == [] and gov.level == 0 and gov.current == ""


def test_past_the_last_step_it_says_once_what_rate_it_holds():
    chain = Chain(load=2.0, relief=0.0, steps=0)
    gov = Governor(chain.steps, 1 / FPS)
    changes = run(gov, chain, 10.0)
    assert len(changes) == 1 and 1.0 <= changes[0][0] <= 2.0, changes
    assert "more than this machine can enhance: it holds about 16 fps" in changes[0][1]


def test_a_single_slow_frame_is_not_an_overload():
    chain = Chain(load=0.6, relief=0.3)
    gov = Governor(chain.steps, 1 / FPS)
    run(gov, chain, 5.0, load=lambda t: 3.0 if abs(t - 2.0) < 0.02 else 0.6)
    assert gov.level == 0



# ---------------------------------------------------------------------------------------------- a real chain

def test_the_ladder_of_the_default_chain_and_its_undo():
    from realtime import Pipeline
    from realtime.run.governor import chain_steps

    pipe = Pipeline(["denoise", "contrast", "color", "sharpen"])
    steps = chain_steps(pipe)
    assert [s.name for s in steps] == ["denoise: temporal only", "sharpen: off", "denoise: off"]
    denoise = pipe.stages[0]
    spatial = denoise.params.spatial
    for step in steps:
        step.apply()
    assert denoise.params.spatial == 0.0 and pipe.disabled == {"sharpen", "denoise"}
    for step in reversed(steps):
        step.revert()
    assert denoise.params.spatial == spatial and not pipe.disabled


def test_steps_that_change_nothing_are_left_out_and_a_stage_the_user_switched_off_stays_off():
    from realtime import Pipeline
    from realtime.run.governor import chain_steps

    pipe = Pipeline(["denoise", "sharpen"], preset="fast")  # fast: denoise is temporal only already
    steps = chain_steps(pipe)
    assert [s.name for s in steps] == ["sharpen: off", "denoise: off"]
    pipe.set_enabled("sharpen", False)  # the user's key
    steps[0].apply()
    steps[0].revert()
    assert pipe.disabled == {"sharpen"}
    assert chain_steps(Pipeline(["contrast", "color"])) == []


def test_a_live_source_faster_than_the_machine_steps_down_and_says_so(ffmpeg, tmp_path):
    """720p at 240 fps, played live: the chain cannot hold it, so the governor takes steps (in the
    log and the stats); with --no-governor there are none.  (At 360p a fast machine's load comes
    within a few percent of the threshold, so the step is not certain there.)"""
    import json
    import subprocess

    from conftest import SAMPLE_CLIP, run_vqe

    clip = tmp_path / "fast.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-stream_loop", "-1", "-i", str(SAMPLE_CLIP), "-frames:v", "720",
                    "-vf", "scale=1280:720,setpts=N/240/TB", "-r", "240", "-an", "-c:v", "libx264", "-preset",
                    "ultrafast", str(clip)], check=True)
    stats = tmp_path / "s.json"
    r = run_vqe("--file", clip, "--live", "--no-display", "--stats", stats)
    assert r.returncode == 0, r.stderr
    governor = json.loads(stats.read_text())["governor"]
    assert governor["steps"][0]["name"] == "denoise: temporal only" and governor["steps"][0]["taken"] >= 1
    assert "governor: load" in r.stderr and "denoise: temporal only" in r.stderr
    r = run_vqe("--file", clip, "--live", "--no-display", "--stats", stats, "--no-governor")
    assert r.returncode == 0, r.stderr
    assert "governor" not in json.loads(stats.read_text()) and "governor:" not in r.stderr
