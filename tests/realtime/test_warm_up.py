"""A live session compiles (or loads) every kernel before its source starts: none is left for a live frame.

Checked in a fresh process, where a kernel that is loaded from the cache or compiled shows as a new
signature on its Numba dispatcher: the dispatchers of every ``kernels`` module are counted when the
capture starts and again at the end of a recorded session.
"""
import json
import subprocess
import sys

import pytest
from test_live import free_port, serve

SCRIPT = r"""
import importlib, json, pkgutil, sys
import kernels
from numba.core.registry import CPUDispatcher
from realtime.run.session import Session
from realtime.settings import build_settings
from realtime.sources.files import PacedSource, open_source

def signatures():
    found = {}
    for info in pkgutil.iter_modules(kernels.__path__):
        module = importlib.import_module(f"kernels.{info.name}")
        for name, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher):
                found[f"{info.name}.{name}"] = len(obj.signatures)
    return found

source_arg, out, stages = sys.argv[1:4]
if source_arg.startswith("tcp://"):
    from realtime.sources.streams import StreamSource
    source = StreamSource(source_arg, timeout_s=5, retries=0)
else:
    source = PacedSource(open_source(source_arg))
session = Session(source, build_settings(None, stages, None, (), None), live=True, output=out, display=False,
                  max_frames=25)
at_start = {}
start = session.capture.start
def counted_start():
    at_start.update(signatures())
    return start()
session.capture.start = counted_start
session.run()
source.close()
late = {k: n - at_start.get(k, 0) for k, n in signatures().items() if n != at_start.get(k, 0)}
print(json.dumps({"late": late, "frames": session.stats.frames}))
"""


def kernels_loaded_late(source: str, out, stages: str) -> dict:
    r = subprocess.run([sys.executable, "-c", SCRIPT, source, str(out), stages], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["frames"] > 0
    return result["late"]


@pytest.mark.slow
@pytest.mark.parametrize("stages", ["denoise,contrast,color,sharpen", "deinterlace,denoise,stabilize,upscale"])
def test_a_paced_file_recording_needs_no_kernel_after_warm_up(media, tmp_path, stages):
    assert kernels_loaded_late(str(media / "clean_bikes_street_272p.mp4"), tmp_path / "rec.mp4", stages) == {}


@pytest.mark.slow
def test_a_stream_recording_needs_no_kernel_after_warm_up(ffmpeg, media, tmp_path):
    port = free_port()
    server = serve(ffmpeg, media / "clean_bikes_street_272p.mp4", port)
    try:
        late = kernels_loaded_late(f"tcp://127.0.0.1:{port}", tmp_path / "rec.y4m", "denoise,color")
    finally:
        server.kill()
        server.wait()
    assert late == {}


def test_warm_up_goes_stage_by_stage_and_says_so():
    import io
    import time

    import numpy as np

    from realtime import Pipeline
    from realtime.run.progress import CompileProgress

    stream = io.StringIO()
    pipe = Pipeline(["denoise", "sharpen"], backend="cpu")
    seen = []
    with CompileProgress(len(pipe.stages), True, stream) as compiling:
        def stage(name, n):
            seen.append((name, n))
            compiling.stage(name, n)
            time.sleep(0.6)  # long enough for the line to be drawn
        shape = pipe.warm_up((32, 48, 3), on_stage=stage)
    assert seen == [("denoise", 1), ("sharpen", 2)] and shape == (32, 48, 3)
    text = stream.getvalue()
    assert "denoise (1 of 2)" in text and "sharpen (2 of 2)" in text and text.endswith("\n")
    # Warmed up and forgotten: the next frame is processed as a first frame.
    frame = np.full((32, 48, 3), 90, np.uint8)
    np.testing.assert_array_equal(pipe(frame), Pipeline(["denoise", "sharpen"], backend="cpu")(frame))


def test_a_first_run_compiles_the_later_stages_in_a_helper_process(make_y4m, tmp_path):
    """An empty kernel cache and two kernel threads: the chain's later half compiles in a helper
    process beside this one (realtime.run.compile_ahead); the output is the same as from the cache."""
    import os

    from conftest import run_vqe, textured_frames

    src = make_y4m(textured_frames(4, 16, 20))
    args = ("--file", src, "--no-display", "--stages", "contrast,sharpen", "-v")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_NUM_THREADS="2")
    first = run_vqe(*args, "-o", tmp_path / "first.y4m", env=env, timeout_s=300)
    assert first.returncode == 0, first.stderr
    assert "compiling sharpen in a helper process" in first.stderr
    again = run_vqe(*args, "-o", tmp_path / "again.y4m", env=env, timeout_s=300)
    assert again.returncode == 0 and "helper process" not in again.stderr  # all in the cache now
    assert (tmp_path / "first.y4m").read_bytes() == (tmp_path / "again.y4m").read_bytes()
