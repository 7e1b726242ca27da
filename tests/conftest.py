"""Shared fixtures: real clips from ../shared/media, the ffmpeg binary, synthetic y4m clips, backends."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from kernels.backend import CPU, cuda_status, make_cuda_backend
from kernels.colorspace import YuvFormat, bgr_to_yuv
from realtime.sources.y4m import Y4mWriter

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
#: The clip shipped for the README's demo (the same file as the shared ``clean_flower_540p.mp4``).
SAMPLE_CLIP = ROOT / "tools" / "samples" / "flower_540p.mp4"


def pytest_collection_modifyitems(config, items):
    ok, why = cuda_status()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"CUDA kernels need a GPU or NUMBA_ENABLE_CUDASIM=1 ({why})")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def ctrl_c_reaches_vqe():
    """A test run started in the background of a shell ignores SIGINT, and the vqe processes the tests start would
    inherit that: the Ctrl-C tests then see vqe run to the end.  They are to see it as a terminal's Ctrl-C reaches it."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def media() -> Path:
    """The shared real clips; tests needing them skip where they are absent."""
    if not MEDIA.is_dir():
        pytest.skip(f"real clips not found at {MEDIA} (the shared/ folder beside the checkout)")
    return MEDIA


@pytest.fixture(scope="session")
def sample_clip() -> Path:
    """The bundled sample clip: real 540p H.264 with AAC audio, present in every checkout."""
    return SAMPLE_CLIP


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="imageio-ffmpeg provides the ffmpeg binary")
    return imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture
def cuda_backend():
    ok, why = cuda_status()
    if not ok:
        pytest.skip(why)
    return make_cuda_backend()


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def backend(request):
    """Runs a test body on the CPU and on CUDA (a GPU, or Numba's simulator: ``-m cuda`` in CI).

    One body checks both targets against the same reference; build inputs with :func:`on` and
    read results with :func:`host`, which are no-ops on the CPU.
    """
    if request.param == "cpu":
        return CPU
    return request.getfixturevalue("cuda_backend")


def on(backend, array: np.ndarray):
    """``array`` on ``backend`` (contiguous, as kernels take it); on the CPU, ``array`` itself when
    it is contiguous: copy it first where a kernel writes into it and the original is still needed."""
    return backend.asarray(np.ascontiguousarray(array))


def host(backend, array) -> np.ndarray:
    """A result of ``backend`` as a NumPy array."""
    return np.asarray(backend.to_host(array))


def textured_frames(n: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """Moving, colourful, noisy BGR frames: enough texture for codecs and filters to matter."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(n):
        b = 128 + 90 * np.sin((xx + 3 * i) / 9.0)
        g = 128 + 90 * np.cos((yy - 2 * i) / 13.0)
        r = 128 + 80 * np.sin((xx + yy + 5 * i) / 17.0)
        img = np.stack([b, g, r], axis=-1) + rng.normal(0, 6, (height, width, 3))
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


@pytest.fixture
def make_y4m(tmp_path):
    """Write BGR frames to a lossless .y4m file; returns its path."""

    def make(frames: list[np.ndarray], name: str = "in.y4m", fps: Fraction = Fraction(25),
             fmt: YuvFormat = YuvFormat("bt601", False)) -> Path:
        path = tmp_path / name
        h, w = frames[0].shape[:2]
        writer = Y4mWriter(path, w, h, fps, fmt)
        for f in frames:
            writer.write_planes(bgr_to_yuv(f, fmt))
        writer.close()
        return path

    return make


#: Lossless H.264 for outputs that two runs must make alike.  x264's frame threads can, rarely and
#: mostly under load, encode the same pictures to other bytes (seen about once in a hundred encodes of
#: a 20-frame clip); lossless, the decoded pictures are the same all the same.
LOSSLESS_ARGS = ("--crf", "0", "--encoder-preset", "ultrafast")


def same_output(a: Path, b: Path) -> bool:
    """The same pictures, timestamps and audio: a raw file byte for byte, an encoded one by its decoded
    frames and its audio packets (encode it with :data:`LOSSLESS_ARGS`: its bytes may differ)."""
    if a.suffix == ".y4m":
        return a.read_bytes() == b.read_bytes()
    import av

    def content(path: Path) -> tuple[list, list]:
        with av.open(str(path)) as c:
            video = [(f.pts, f.to_ndarray().tobytes()) for f in c.decode(video=0)]
        with av.open(str(path)) as c:
            audio = [(p.pts, bytes(p)) for p in c.demux(*c.streams.audio) if p.size] if c.streams.audio else []
        return video, audio

    return content(a) == content(b)


def run_vqe(*args: str, timeout_s: float = 180, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run the CLI as a user would (``python -m realtime``, in ``env``, default this one's) and capture its output."""
    env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "realtime", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout_s, env=env, **kwargs)
