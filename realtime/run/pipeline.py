"""The ordered chain of stages, on one backend, with per-stage timing. No I/O."""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import cv2
import numpy as np

from kernels.backend import CPU, Backend, cuda_smoke_test, cuda_status, kernels_compiled, make_cuda_backend
from realtime.errors import BackendUnavailableError, ConfigError
from realtime.params import StageParams
from realtime.run import compile_ahead
from realtime.run.buffers import BufferPool
from realtime.run.frames import Frame
from realtime.run.stats import RunStats
from realtime.settings import Settings, build_settings
from realtime.stages import STAGES, Stage
from realtime.stages.base import tell_source

log = logging.getLogger(__name__)

GPU_HINT = "install a CUDA 12 driver and `pip install vqe[gpu]`, or use --backend cpu"


def resolve_backend(name: str) -> Backend:
    """Pick the compute backend once, and say which: ``auto`` takes CUDA when a real GPU and CuPy are
    present, else the CPU; ``cuda`` without a usable GPU is an error, never a silent fallback."""
    if name == "cpu":
        return CPU
    ok, why = cuda_status()
    if name not in ("auto", "cuda"):
        raise ConfigError(f"unknown backend {name!r}: use auto, cpu or cuda")
    if name == "cuda" and not ok:
        raise BackendUnavailableError(f"--backend cuda is not available: {why}; {GPU_HINT}")
    if name == "cuda" or ok and why == "CUDA GPU":
        backend = make_cuda_backend()
        broken = cuda_smoke_test(backend)
        if not broken:
            log.info("backend%s: CUDA (%s)", " auto" if name == "auto" else "", gpu_name(backend))
            return backend
        if name == "cuda":
            raise BackendUnavailableError(f"--backend cuda: the CUDA runtime does not work here ({broken}); "
                                          f"{GPU_HINT}")
        why = f"the CUDA runtime does not work here: {broken}"
    log.info("backend auto: CPU (%s)", why)
    return CPU


def gpu_name(backend: Backend) -> str:
    """The GPU's name, for the log line that says which backend runs."""
    if backend.xp is np:
        return "Numba CUDA simulator"
    name = backend.xp.cuda.runtime.getDeviceProperties(backend.xp.cuda.Device().id)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


class Pipeline:
    """Stages run in order on frames, on the CPU or the GPU.

    Parameters
    ----------
    stages : sequence of str, str, or Settings, optional
        The stage names in order (``["denoise", "color"]``, or ``"denoise,color"``), or complete
        :class:`~realtime.settings.Settings` (as the command line builds them).  Default: the preset's chain.
    preset : {"fast", "balanced", "quality"}, optional
        Defaults the parameters start from (default ``balanced``).
    backend : {"auto", "cpu", "cuda"}, optional
        Where the stages run (default ``auto``: the GPU when there is a usable one).
    channel_order : {"bgr", "rgb"}
        Channel order of the frames given to and returned by :meth:`__call__` and
        :meth:`frames` (OpenCV's is BGR; PIL's, imageio's and scikit-image's RGB).
    stats : RunStats, optional
        Where per-stage timings go; a fresh one by default.
    **params : mapping or StageParams
        Per stage, parameters by name (``color={"saturation": 1.2}``) or a params object
        (``color=ColorParams(saturation=1.2)``).

    Examples
    --------
    >>> import numpy as np
    >>> from realtime import Pipeline
    >>> frame = np.full((64, 96, 3), 100, np.uint8)           # any (H, W, 3) uint8 picture
    >>> with Pipeline(["color"], color={"gamma": 1.2}, backend="cpu") as pipe:
    ...     enhanced = pipe(frame)
    >>> enhanced.shape, enhanced.dtype
    ((64, 96, 3), dtype('uint8'))
    >>> int(enhanced[0, 0, 0]) > 100                          # gamma 1.2 brightens the mid-tones
    True
    """

    def __init__(self, stages: Settings | Sequence[str] | str | None = None, *, preset: str | None = None,
                 backend: str | None = None, channel_order: str = "bgr", stats: RunStats | None = None,
                 **params: Mapping[str, Any] | StageParams) -> None:
        if isinstance(stages, Settings):
            if params or preset is not None or backend is not None:
                raise ConfigError("Pipeline(settings): give the parameters, preset and backend in the settings, "
                                  "or stage names instead of settings")
            self.settings = stages
        else:
            chain = ",".join(stages) if isinstance(stages, (list, tuple)) else stages
            self.settings = build_settings(preset=preset, stages=None if chain is None else chain or "none",
                                           backend=backend, params=params)
        if channel_order not in ("bgr", "rgb"):
            raise ConfigError(f"channel_order={channel_order!r}: use 'bgr' or 'rgb'")
        self.channel_order = channel_order
        self.backend = resolve_backend(self.settings.backend)
        if not kernels_compiled():
            log.info("first run: compiling the kernels takes a minute or two; later runs load them in a second")
        self.stats = stats or RunStats()
        self.stages: list[Stage] = [STAGES[name](self.settings.params[name], self.backend)
                                    for name in self.settings.stages]
        # Frames uploaded to the GPU (the next one while the stages read the current one), results
        # downloaded from it, and callers' pictures taken in: each a buffer of its own while held.
        self._device_in = BufferPool(self.backend.empty)
        self._host_out = BufferPool(self.backend.host_empty)
        self._taken_in = BufferPool()
        self._marks: list[tuple[str, Any, Any]] = []
        self.disabled: set[str] = set()
        self.source: tuple[Any, bool] | None = None
        #: Frames given to :meth:`__call__`, and when the first came (its frames' timestamps).
        self._called = 0
        self._first_call_s: float | None = None

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the stages' state and buffers (device memory too); the pipeline is not used after this."""
        self.reset()
        self.stages = []
        for pool in (self._device_in, self._host_out, self._taken_in):
            pool.clear()

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The chain's stage names, in order."""
        return tuple(s.name for s in self.stages)

    @property
    def delay_frames(self) -> int:
        """Frames of latency the chain adds."""
        return sum(s.delay_frames for s in self.stages)

    @property
    def rate_factor(self) -> int:
        """Output frames per input frame (the output frame rate is the input's times this)."""
        return math.prod(stage.rate_factor for stage in self.stages)

    @property
    def planar(self) -> bool:
        """Whether every stage takes I420 frames (then files need no BGR conversion at all)."""
        return all(stage.planar for stage in self.stages)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """``(height, width)`` of the frames the chain makes from ``height x width`` input (an upscale changes it)."""
        for stage in self.stages:
            sized = getattr(stage, "output_size", None)
            if sized is not None:
                height, width = sized(height, width)
        return height, width

    def set_source(self, info: Any, *, planar: bool = False) -> Any:
        """Tell the stages what the source is (e.g. its field order); return what the chain outputs.

        ``info`` is a :class:`~realtime.sources.files.SourceInfo` (see :func:`~realtime.stages.base.tell_source`);
        with ``planar`` the frames will be I420 in ``info.fmt`` (needs :attr:`planar`)."""
        if planar and not self.planar:
            raise ConfigError("planar frames need stages that all take them: "
                              + ", ".join(s.name for s in self.stages if not s.planar))
        self.source = (info, planar)  # what a compile helper (realtime.run.compile_ahead) is told too
        return tell_source(self.stages, info, planar)

    def set_plan(self, plans: Mapping[str, Any]) -> None:
        """Give stages their values per shot from a first pass over the whole file (``--analyze``).

        ``plans`` maps stage names to :class:`~realtime.run.analysis.Schedule` objects keyed by source frame
        index; a stage after a field-rate deinterlacer numbers its frames ``rate_factor`` times as fast, and
        gets its schedule scaled to match."""
        factor = 1
        for stage in self.stages:
            plan = plans.get(stage.name)
            if plan is not None:
                stage.set_plan(plan.scaled(factor))
            factor *= stage.rate_factor

    def push(self, frame: Frame, *, to_host: bool = True) -> list[Frame]:
        """Run one frame through every stage now; return the frames ready for output (often one).

        A delaying stage (a stabilizer's lookahead) returns none at first and its frames later; a field-rate
        deinterlacer two per frame.  Each frame's image is the caller's to keep (:mod:`realtime.run.buffers`),
        not to write into.  ``frame.image`` may already be a device array of this backend; with
        ``to_host=False`` the results stay on the device too (frames resident)."""
        return list(self._through(self._uploaded(frame), 0, to_host))

    def flush(self) -> list[Frame]:
        """The frames held by delaying stages at the end of the stream (same rules as :meth:`push`)."""
        return list(self._flushed())

    def run(self, frames: Iterable[Frame], *, lookahead: bool = True,
            flush: bool | Callable[[], bool] = True) -> Iterator[Frame]:
        """Push every frame of ``frames``, then flush; yield every output frame.

        Lazy and depth-first, with no copy: each yielded frame is valid until the next one is requested,
        so consume it (copy, encode, show) inside the loop.  With ``lookahead``, on a GPU the next frame's
        upload is queued before the current frame's stages run, so the copy overlaps the kernels.  The
        iterator must then keep each frame's image valid one step longer (``Capture.frames(hold=2)``); a
        live source, whose next frame is not there yet, goes without.  ``flush`` (or its answer, asked
        when ``frames`` ends) says whether the frames held by delaying stages come out at the end."""
        ahead = self.backend.is_cuda and lookahead
        staged = None  # with ``ahead``: the frame uploaded, to run once the next one is uploading
        for frame in frames:
            uploaded = self._uploaded(frame)
            if not ahead:
                yield from self._through(uploaded, 0)
                continue
            if staged is not None:
                yield from self._through(staged, 0)
            staged = uploaded
        if staged is not None:
            yield from self._through(staged, 0)
        if flush is True or callable(flush) and flush():
            yield from self._flushed()

    def __call__(self, image: np.ndarray, t: float | None = None) -> np.ndarray:
        """Enhance one picture now; return a new array of the same layout.

        Parameters
        ----------
        image : ndarray
            ``(H, W, 3) uint8`` in :attr:`channel_order`, or ``(H, W) uint8`` gray.
        t : float, optional
            The frame's time in seconds (temporal stages use it); default: the time since the first call.

        Raises
        ------
        ValueError
            For a chain that does not give one frame per frame (a lookahead, a field-rate
            deinterlacer, a frame held at the start): use :meth:`frames` for those.
        """
        now = time.monotonic()
        if self._first_call_s is None:
            self._first_call_s = now
        frame = Frame(self._to_chain(image), self._called, now - self._first_call_s if t is None else t, now)
        self._called += 1
        out = self.push(frame)
        if len(out) != 1:
            raise ValueError("this chain does not give one frame per frame (a lookahead or a field-rate "
                             "deinterlacer): use Pipeline.frames() for it")
        return self._from_chain(out[0].image, image.ndim == 2)

    def frames(self, video: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Enhance a sequence of pictures; yield every enhanced one (then those a delaying stage held).

        ``video`` is an iterable of arrays (layout as for :meth:`__call__`) or an opened
        :func:`~realtime.sources.video.open_video`, whose frames bring their own timestamps.  Each yielded
        array is new: keep it as long as you like.

        Examples
        --------
        >>> import numpy as np
        >>> from realtime import Pipeline
        >>> clip = [np.full((32, 48, 3), 60 + i, np.uint8) for i in range(5)]
        >>> with Pipeline(["denoise", "contrast"], backend="cpu") as pipe:
        ...     enhanced = list(pipe.frames(clip))
        >>> len(enhanced)
        5
        """
        timed = getattr(video, "timed_frames", None)
        items = timed() if timed is not None else ((image, None) for image in video)
        gray = False

        def chain_frames() -> Iterator[Frame]:
            nonlocal gray
            for index, (image, pts) in enumerate(items):
                gray = image.ndim == 2
                yield Frame(self._to_chain(image), index, index / 30.0 if pts is None else pts, time.monotonic())

        for out in self.run(chain_frames()):
            yield self._from_chain(out.image, gray)

    def _to_chain(self, image: np.ndarray) -> np.ndarray:
        """A caller's picture as the chain's frame: BGR ``(H, W, 3)`` uint8, in a buffer of the chain's
        (stages may keep a frame, and the caller may write into its array next)."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or image.ndim == 3 and image.shape[2] != 3:
            raise ValueError(f"frames must be (H, W, 3) or (H, W) uint8; got shape {image.shape} dtype {image.dtype}")
        frame = self._taken_in.acquire((*image.shape[:2], 3))
        if image.ndim == 2:
            return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR, dst=frame)
        np.copyto(frame, image[:, :, ::-1] if self.channel_order == "rgb" else image)
        return frame

    def _from_chain(self, image: np.ndarray, gray: bool) -> np.ndarray:
        """The chain's BGR frame as a new array in the caller's layout (gray in, gray out)."""
        if gray:
            return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if self.channel_order == "rgb":
            return np.ascontiguousarray(image[:, :, ::-1])
        return image.copy()

    def reset(self) -> None:
        """Forget every stage's temporal state (a new shot or source follows)."""
        for stage in self.stages:
            stage.reset()
        self._called = 0
        self._first_call_s = None

    def warm_up(self, shape: tuple[int, ...], on_stage: Callable[[str, int], None] | None = None) -> tuple[int, ...]:
        """Run a few frames through every stage, then forget them; return the output frame shape.

        Compiles or loads every kernel before the first real frame (a live source's would be late and dropped),
        stage by stage: ``on_stage(name, n)`` is told as the ``n``-th stage starts (a first run's progress).
        Timings are not recorded.  The shape out differs from ``shape`` after a resizing stage (upscale)."""
        stats, self.stats = self.stats, RunStats()
        height = shape[0] if len(shape) == 3 else shape[0] * 2 // 3  # (an I420 frame: kernels.planes)
        log.info("warming up the %s kernels at %dx%d ...", self.backend.name, shape[1], height)
        t0 = time.perf_counter()
        # Enough moving frames for every stage to take its steady-state path (temporal history, motion,
        # a lookahead that fills and flushes), not only its first-frame one.
        frames = [self._uploaded(Frame(image, i, i / 30, time.monotonic()))
                  for i, image in enumerate(_moving_pattern(shape, self.delay_frames + 3))]
        helper, split = compile_ahead.start(self, shape) if not kernels_compiled() else (None, len(self.stages))
        try:
            for n, stage in enumerate(self.stages, 1):
                if n - 1 == split and helper is not None:
                    helper.join()  # the later stages' kernels are in the disk cache now
                if on_stage is not None:
                    on_stage(stage.name, n)
                frames = [out for frame in frames for out in stage.push(frame)] + list(stage.flush())
            out_shape = tuple(self._downloaded(frames[-1]).image.shape) if frames else tuple(shape)
        finally:
            if helper is not None and helper.is_alive():  # stopped early (an error in a stage)
                helper.terminate()
            self.stats = stats
            self.reset()
        log.info("kernels ready in %.1f s", time.perf_counter() - t0)
        return out_shape

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Switch a stage off (frames pass it untouched) or back on (with fresh state), from the thread that
        pushes frames, between frames."""
        stage = next((s for s in self.stages if s.name == name), None)
        if stage is None:
            raise ConfigError(f"stage {name!r} is not in this pipeline ({', '.join(self.stage_names) or 'none'})")
        if enabled and name in self.disabled:
            stage.reset()
            self.disabled.discard(name)
        elif not enabled:
            self.disabled.add(name)

    def _flushed(self) -> Iterator[Frame]:
        self.backend.use_in_this_thread()
        for i, stage in enumerate(self.stages):
            for held in stage.flush():
                yield from self._through(held, i + 1)

    def _through(self, frame: Frame, first: int, to_host: bool = True) -> Iterator[Frame]:
        # Depth first: each frame a stage emits (a lookahead flush emits several) leaves the chain before
        # the next is made, so a frame's buffers are held no longer than needed.
        for i in range(first, len(self.stages)):
            stage = self.stages[i]
            if stage.name in self.disabled:
                continue
            t0 = self.backend.mark()
            produced = stage.push(frame)
            # Timed by marks in the GPU's queue, read once the frame is done: no wait between stages.
            self._marks.append((stage.name, t0, self.backend.mark()))
            if len(produced) != 1:
                self._record_timings()
                for out in produced:
                    yield from self._through(out, i + 1, to_host)
                return
            frame = produced[0]
        frame = self._downloaded(frame) if to_host else frame
        self._record_timings()
        yield frame

    def _record_timings(self) -> None:
        for name, start, end in self._marks:
            self.stats.stage(name).add(self.backend.elapsed_ms(start, end))
        self._marks.clear()
        # Per-frame figures a stage keeps besides its time (the stabilizer's correction and clamp).
        for stage in self.stages:
            if hasattr(stage, "record_stats"):
                stage.record_stats(self.stats)

    def _uploaded(self, frame: Frame) -> Frame:
        image = frame.image
        if image.dtype != np.uint8 or not (image.ndim == 3 and image.shape[2] == 3 or image.ndim == 2
                                           and image.shape[0] % 3 == 0 and image.shape[1] % 2 == 0):
            raise ValueError(f"frames must be (H, W, 3) uint8 BGR or (H*3/2, W) uint8 I420; got shape {image.shape} "
                             f"dtype {image.dtype}")
        if not self.backend.is_cuda:
            return frame
        self.backend.use_in_this_thread()
        if not isinstance(image, np.ndarray):
            return frame  # already on the device
        return frame.with_image(self.backend.upload_ahead(image, self._device_in.acquire(image.shape)))

    def _downloaded(self, frame: Frame) -> Frame:
        if not self.backend.is_cuda:
            return frame
        return frame.with_image(self.backend.to_host(frame.image, out=self._host_out.acquire(frame.image.shape)))


def _moving_pattern(shape: tuple[int, ...], n: int) -> list[np.ndarray]:
    """``n`` frames of a textured pattern sliding a pixel a frame (something for motion analysis to find), dim
    and flat, so that the automatic levels correct it: a frame a stage would leave alone skips its pass."""
    rows, cols = np.indices(shape[:2])
    base = ((rows * 7 + cols * 3) % 64 + (rows // 8 + cols // 8) % 2 * 20 + 40).astype(np.uint8)
    # A warm tint, so that the white balance has something to correct too.
    if len(shape) == 3:
        base = np.stack([base * f for f in (0.8, 1.0, 1.2)[:shape[2]]], axis=2).astype(np.uint8)
    else:  # I420 (kernels.planes): Cb a little under neutral, Cr a little over (warm)
        height = shape[0] * 2 // 3
        base[height:] = np.where(np.arange(shape[0] - height)[:, None] < (shape[0] - height) // 2, 124, 134)
    return [np.ascontiguousarray(np.roll(base, i, axis=1)) for i in range(n)]
