"""What every stage is: a thin, stateful wrapper over ``kernels/`` functions."""
from __future__ import annotations

import logging
from typing import Any, ClassVar, Sequence

import numpy as np

from kernels.backend import Backend
from realtime.params import StageParams
from realtime.run.buffers import BufferPool
from realtime.run.frames import Frame

log = logging.getLogger(__name__)


class Stage:
    """One enhancement step of the pipeline.

    A stage allocates its buffers once (again only when the frame size changes) and calls a kernel per frame.  Most
    stages map one frame to one frame and only implement :meth:`apply`; stages that delay or multiply frames (a
    stabilizer with lookahead, a field-rate deinterlacer) override :meth:`push` and :meth:`flush`.

    A stage writes each output into a fresh buffer from :meth:`output`, and its state into buffers of its own
    (:meth:`buffer`).  An output is never written over while anyone holds it (:mod:`realtime.run.buffers`): a consumer
    keeps a frame by keeping the array, and a stage may keep its inputs or outputs as history the same way.
    """

    name: ClassVar[str]
    Params: ClassVar[type[StageParams]]
    #: Frames of latency the stage adds (lookahead); reported in stats.
    delay_frames: int = 0
    #: Output frames per input frame (2 for a field-rate deinterlacer); outputs are timed accordingly.
    rate_factor: int = 1
    #: Whether the stage also takes I420 frames (``(H*3/2, W)`` planar Y'CbCr 4:2:0, see
    #: :mod:`kernels.planes`).  A file whose every stage does is processed without BGR conversions.
    planar: ClassVar[bool] = False
    #: Whether the stage runs Numba kernels on a CPU backend (the processing thread then loads Numba's
    #: compiler before the first frame, see :func:`kernels.backend.load_cpu_compiler`).
    cpu_kernels: ClassVar[bool] = True
    #: The Y'CbCr format of I420 frames (matrix, range), set by the pipeline; ``None`` for BGR.
    yuv_format: Any = None
    #: Values fixed per shot by a first pass over the whole clip (a :class:`~realtime.run.analysis.Schedule`
    #: by frame index, see :meth:`set_plan`); ``None``: the stage estimates online.
    plan: Any = None

    def __init__(self, params: StageParams, backend: Backend) -> None:
        self.params = params
        self.backend = backend
        self._buffers: dict[str, Any] = {}
        self._outputs = BufferPool(backend.empty)

    def push(self, frame: Frame) -> Sequence[Frame]:
        """Take one frame; return the frames that are ready (usually exactly one).  With a :attr:`plan`,
        :meth:`apply` gets the planned value of the frame's shot too."""
        planned = () if self.plan is None else (self.plan.at(frame.index),)
        return (frame.with_image(self.apply(frame.image, *planned)),)

    def flush(self) -> Sequence[Frame]:
        """Return the frames still held at the end of the stream."""
        return ()

    def apply(self, image: Any) -> Any:
        """Process one ``(H, W, 3) uint8`` BGR image, or an I420 frame where :attr:`planar` (1:1 stages implement this)."""
        raise TypeError(f"stage {self.name} implements neither apply() nor push()")

    def reset(self) -> None:
        """Forget temporal state (scene cut, new source)."""

    def set_plan(self, plan: Any) -> None:
        """Take per-shot values from a first pass over the whole clip instead of estimating online.

        ``plan`` is a :class:`~realtime.run.analysis.Schedule` keyed by the index of the frames this stage
        receives; each frame's value reaches :meth:`apply` as its second argument.  Only stages that
        :mod:`realtime.run.analysis` can measure (``measure``, ``plan_shot``) take one.
        """
        if not callable(getattr(self, "plan_shot", None)):
            raise TypeError(f"stage {self.name} takes no analysis plan")
        self.plan = plan

    def follow_size(self, image: Any) -> None:
        """Call first in :meth:`apply`: a new frame size is a new source, so temporal state is reset."""
        size = tuple(image.shape)
        last = getattr(self, "_size", None)
        if size != last:
            if last is not None:
                log.info("%s: frame size %s -> %s, temporal state reset", self.name, last[:2], size[:2])
            self._size = size
            self.reset()

    def output(self, shape: tuple[int, ...]) -> Any:
        """A ``uint8`` buffer on this stage's backend for an output frame, which the stage writes whole."""
        return self._outputs.acquire(shape)

    def to_device(self, host: np.ndarray, dev: Any) -> Any:
        """``host`` where the kernels read it: uploaded into ``dev`` on a GPU, ``host`` itself on the CPU."""
        if not self.backend.is_cuda:
            return host
        self.backend.upload(host, dev)
        return dev

    def yuv_coefficients(self) -> tuple[Any, np.ndarray, Any]:
        """The stream's Y'CbCr -> BGR coefficients on the backend and on the host, and its BGR -> Y'CbCr ones
        on the backend (:attr:`yuv_format`'s, kept until it changes)."""
        fmt = self.yuv_format
        if fmt is None:
            raise ValueError(f"{self.name}: an I420 frame without the stage's yuv_format")
        got = self._buffers.get("yuv_coef")
        if got is None or got[0] != fmt:
            to_bgr = fmt.to_bgr_coefficients()
            got = self._buffers["yuv_coef"] = (fmt, self.backend.asarray(to_bgr), to_bgr,
                                                self.backend.asarray(fmt.from_bgr_coefficients()))
        return got[1:]

    def buffer(self, key: str, shape: tuple[int, ...], dtype: Any = "uint8", *, host: bool = False) -> Any:
        """A persistent buffer for the stage's state, reallocated only on a shape change: on the stage's
        backend, or with ``host`` in host memory (small results copied from the GPU, host scratch)."""
        buf = self._buffers.get(key)
        if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
            buf = np.empty(tuple(shape), dtype) if host else self.backend.empty(tuple(shape), dtype)
            self._buffers[key] = buf
        return buf


def tell_source(stages: Sequence[Stage], info: Any, planar: bool) -> Any:
    """Tell ``stages`` what the source is (frames I420 in ``info.fmt`` where ``planar``); return what they output.

    Stages that use source hints or change the stream (a deinterlacer: progressive output, maybe at
    twice the rate) have a ``set_source(info) -> info`` of their own; the others pass it on unchanged.
    """
    for stage in stages:
        stage.yuv_format = info.fmt if planar else None
        hook = getattr(stage, "set_source", None)
        if hook is not None:
            info = hook(info)
    return info
