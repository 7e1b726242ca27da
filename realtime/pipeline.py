"""The ordered chain of stages, on one backend, with per-stage timing. No I/O."""
from __future__ import annotations

import logging
import time
from typing import Iterable, Sequence

import numpy as np

from kernels.backend import CPU, Backend, cuda_status, make_cuda_backend
from realtime.errors import BackendUnavailableError, ConfigError
from realtime.frames import Frame
from realtime.settings import Settings, build_settings
from realtime.stages import STAGES, Stage
from realtime.stats import RunStats

log = logging.getLogger(__name__)

GPU_HINT = "install a CUDA 12 driver and `pip install vqe[gpu]`, or use --backend cpu"


def resolve_backend(name: str) -> Backend:
    """Pick the compute backend once, and say which.

    ``auto`` takes CUDA when a real GPU and CuPy are present, else the CPU;
    ``cuda`` without a usable GPU is an error, never a silent fallback.
    """
    if name == "cpu":
        return CPU
    ok, why = cuda_status()
    if name == "cuda":
        if not ok:
            raise BackendUnavailableError(f"--backend cuda is not available: {why}; {GPU_HINT}")
        return make_cuda_backend()
    if name != "auto":
        raise ConfigError(f"unknown backend {name!r}: use auto, cpu or cuda")
    if ok and why == "CUDA GPU":
        return make_cuda_backend()
    log.info("backend auto: CPU (%s)", why)
    return CPU


class Pipeline:
    """Stages run in order on frames, on the CPU or the GPU.

    Parameters
    ----------
    settings : Settings, optional
        Stage chain, parameters and backend; default: the default preset.
    stats : RunStats, optional
        Where per-stage timings go; a fresh one by default.

    Examples
    --------
    >>> from realtime import Pipeline, build_settings
    >>> pipe = Pipeline(build_settings(stages="color", overrides=("color.gamma=1.2",), backend="cpu"))
    >>> out = pipe.process(frame)            # (H, W, 3) uint8 BGR in, same out  # doctest: +SKIP
    """

    def __init__(self, settings: Settings | None = None, *, stats: RunStats | None = None) -> None:
        self.settings = settings or build_settings()
        self.backend = resolve_backend(self.settings.backend)
        self.stats = stats or RunStats()
        self.stages: list[Stage] = [STAGES[name](self.settings.params[name], self.backend)
                                    for name in self.settings.stages]
        self._device_in = None
        self._host_out: dict[int, np.ndarray] = {}
        self.disabled: set[str] = set()

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    @property
    def delay_frames(self) -> int:
        """Frames of latency the chain adds."""
        return sum(s.delay_frames for s in self.stages)

    def push(self, frame: Frame) -> list[Frame]:
        """Run one frame through every stage; return the frames ready for output.

        Returned images are host arrays valid until the next call.
        """
        return self._downloaded(self._run([self._uploaded(frame)], 0))

    def flush(self) -> list[Frame]:
        """Drain frames held by delaying stages at the end of the stream."""
        out: list[Frame] = []
        for i, stage in enumerate(self.stages):
            out = self._run(out + list(stage.flush()), i + 1)
        return self._downloaded(out)

    def process(self, image: np.ndarray) -> np.ndarray:
        """Convenience for 1:1 chains on single images: returns a new array."""
        frames = self.push(Frame(np.ascontiguousarray(image), 0, 0.0, time.monotonic()))
        if len(frames) != 1:
            raise ValueError("process() needs a chain that returns one frame per frame; use push()/flush()")
        return frames[0].image.copy()

    def reset(self) -> None:
        for stage in self.stages:
            stage.reset()

    def warm_up(self, shape: tuple[int, int, int]) -> None:
        """Run one blank frame through every stage, then forget it.

        Compiles or loads every kernel before a live source starts, so the first
        real frames are not late (and not dropped).  Timings are not recorded.
        """
        stats, self.stats = self.stats, RunStats()
        try:
            self.push(Frame(np.zeros(shape, np.uint8), -1, 0.0, time.monotonic()))
        finally:
            self.stats = stats
            self.reset()

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Switch a stage off (frames pass it untouched) or back on (with fresh state).

        Call from the thread that pushes frames, between frames.
        """
        stage = next((s for s in self.stages if s.name == name), None)
        if stage is None:
            raise ConfigError(f"stage {name!r} is not in this pipeline ({', '.join(self.stage_names) or 'none'})")
        if enabled and name in self.disabled:
            stage.reset()
            self.disabled.discard(name)
        elif not enabled:
            self.disabled.add(name)

    def _run(self, frames: Iterable[Frame], first: int) -> list[Frame]:
        frames = list(frames)
        for stage in self.stages[first:]:
            if stage.name in self.disabled:
                continue
            timer = self.stats.stage(stage.name)
            produced: list[Frame] = []
            for frame in frames:
                t0 = time.perf_counter()
                produced.extend(stage.push(frame))
                if self.backend.is_cuda:
                    self.backend.synchronize()
                timer.add((time.perf_counter() - t0) * 1e3)
            frames = produced
        return frames

    def _uploaded(self, frame: Frame) -> Frame:
        _check_frame(frame.image)
        if not self.backend.is_cuda:
            return frame
        image = frame.image
        if self._device_in is None or self._device_in.shape != image.shape:
            self._device_in = self.backend.empty(image.shape)
        return frame.with_image(self.backend.upload(image, self._device_in))

    def _downloaded(self, frames: Sequence[Frame]) -> list[Frame]:
        if not self.backend.is_cuda:
            return list(frames)
        out = []
        for i, frame in enumerate(frames):
            host = self._host_out.get(i)
            if host is None or host.shape != frame.image.shape:
                host = self._host_out[i] = np.empty(frame.image.shape, np.uint8)
            out.append(frame.with_image(self.backend.to_host(frame.image, out=host)))
        return out


def _check_frame(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"frames must be (H, W, 3) uint8 BGR; got shape {image.shape} dtype {image.dtype}")
