"""A run of any source (a file, a file played live, a camera, a stream), headless or with the preview:
capture, processing and display on their own threads.

Threads and what they own:

- capture thread: the source; fills the capture ring (newest-frame policy for live sources, blocking for files);
- processing thread: the pipeline (and, on the GPU, every device call); hands results to the display mailbox
  and the recorder without ever waiting on them;
- main thread: the pygame window (or, headless, just waits), keys, Ctrl-C.
"""
from __future__ import annotations

import logging
import queue
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import cv2
import numpy as np

from kernels.backend import kernels_compiled, load_cpu_compiler
from realtime.errors import ConfigError, OutputError
from realtime.redact import redact
from realtime.run.capture import Capture
from realtime.run.frames import Frame, picture_size
from realtime.run.governor import Governor, chain_steps
from realtime.run.pipeline import Pipeline
from realtime.run.plan import negotiate
from realtime.run.progress import CompileProgress, Progress
from realtime.run.ringbuffer import Closed, DropPolicy, RingBuffer
from realtime.run.stats import RateMeter, RunStats, Timings
from realtime.run.workers import Worker
from realtime.settings import Settings
from realtime.sinks.recording import Recordings, check_target
from realtime.sinks.vcam import VirtualCamera
from realtime.sinks.writers import OutputOptions
from realtime.sources.files import Source
from realtime.stages import Stage

if TYPE_CHECKING:
    from realtime.batch.chunks import Span

log = logging.getLogger(__name__)

#: Display refresh when no new frame arrives (keeps the window responsive).
IDLE_POLL_S = 1 / 120


class Session:
    """Run ``source`` through a pipeline with an optional window and recording.

    Parameters
    ----------
    source : Source
        Camera, stream, paced file (``live=True``) or plain file (``live=False``).
    settings : Settings
    live : bool
        Newest-frame policy everywhere (stale frames dropped and counted) and recordings timed by capture
        clock; ``False`` processes and records every frame.
    output : path, str or sequence of them, optional
        Write from the start to these outputs: files and network URLs (``rtmp://``, ``srt://``,
        ...), each on its own thread (:mod:`realtime.sinks.recording`).
    display : bool
        Open the pygame preview.
    max_frames : int, optional
        Stop after this many frames: read from a file (``live=False``), processed from a live source.
    stats_path, stats_every_s : path and float, optional
        Together: rewrite the stats JSON at ``stats_path`` every ``stats_every_s`` seconds while the
        session runs (atomically), for monitoring unattended runs.
    analyze : bool
        A file (``live=False``) only: first read it whole and fix levels and white balance
        per shot (:mod:`realtime.run.analysis`), on the processing thread before the first frame.
    virtual_camera : str, optional
        Also send the enhanced frames to a virtual camera (:mod:`realtime.sinks.vcam`): this device,
        or ``""`` for the backend's first free one.
    audio : LiveAudio, optional
        Sound for the live outputs in place of the source's own (a microphone's, :mod:`realtime.sources.microphone`).
    planar : bool, optional
        ``False`` keeps a file's frames BGR; default: planar if the plan allows (:func:`realtime.run.plan.negotiate`).
    show_progress : bool
        Progress on stderr (:mod:`realtime.run.progress`): a first run's kernel compilation, and a file's frames.
    on_progress : callable, optional
        A file's progress callback, :func:`realtime.run.filejob.run_file`'s.
    span : Span, optional
        One chunk of a file (:mod:`realtime.batch.chunks`): only its own frames are written.
    governor : bool
        A live run that cannot hold its source's rate first makes the chain cheaper, step by step
        (:mod:`realtime.run.governor`), and drops frames only past the last step; ``False`` keeps
        quality fixed and drops instead.  Files (``live=False``) process every frame regardless.
    """

    def __init__(self, source: Source, settings: Settings | None = None, *, live: bool = True,
                 output: str | Path | Sequence[str | Path] | None = None, options: OutputOptions = OutputOptions(),
                 display: bool = True, max_frames: int | None = None, stats: RunStats | None = None,
                 snapshot_dir: str | Path = ".", stats_path: str | Path | None = None,
                 stats_every_s: float | None = None, analyze: bool = False, virtual_camera: str | None = None,
                 audio: Any = None, planar: bool | None = None, show_progress: bool = False,
                 on_progress: Callable[[int, int | None], None] | None = None, span: Span | None = None,
                 governor: bool = True) -> None:
        if analyze and live:
            raise ConfigError("--analyze reads the whole input before enhancing it: it needs a file, not played live")
        self.source = source
        self.analyze = analyze
        self.live = live
        self.max_frames = max_frames
        self.stats = stats or RunStats()
        self.snapshot_dir = Path(snapshot_dir)
        self.stats_path = stats_path
        self.stats_every_s = stats_every_s
        self._stats_due: float | None = None
        self._stats_written = True  # the last periodic write worked (warn once per run of failures)
        self.pipeline = Pipeline(settings, stats=self.stats)
        given = [] if output is None else [output] if isinstance(output, (str, Path)) else list(output)
        targets = [check_target(t, options) for t in given]
        # Frames stay planar from decoder to encoder wherever the plan allows, live too (a file played
        # live: no BGR round trip); a virtual camera takes RGB, so its runs are BGR.
        self.plan = negotiate(self.pipeline, source, targets, options,
                              planar=planar if virtual_camera is None else False)
        policy = DropPolicy.DROP_OLDEST if live else DropPolicy.BLOCK
        # Ring slots in page-locked memory on a GPU: uploads from them are asynchronous.
        self.capture = Capture(source, policy, slots=3 if live else 4, max_frames=None if live else max_frames,
                               allocate=self.pipeline.backend.host_empty, transform=self.plan.convert)
        self.on_progress = on_progress
        self.span = span
        self._rate_factor = self.pipeline.rate_factor  # output frames per input frame (a field-rate deinterlacer: 2)
        self._input_ended = False  # the source ran out (or a file's --max-frames): the chain is flushed
        self.show_progress = show_progress
        self.progress = Progress(self.total_frames, show_progress) if show_progress and not live else None
        self.show = display
        self.mailbox = RingBuffer(3, None, DropPolicy.DROP_OLDEST)  # frames by reference (realtime.run.buffers)
        # A live source's own audio (a stream's, a live file's), or a microphone's, goes to every live output.
        if audio is None and live:
            audio = getattr(source, "audio", None)
        self.recordings = Recordings(targets, options, live, audio)
        self.virtual_camera: VirtualCamera | None = None  # while it runs
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._originals: dict[int, np.ndarray] = {}
        self.rates = {name: RateMeter() for name in ("capture", "processed", "displayed")}
        self._worker = Worker("vqe-processing", self._process_loop)
        self.governor = (Governor(chain_steps(self.pipeline), 1.0 / float(source.info.fps))
                         if live and governor else None)
        self.stop_reason = ""
        self._latest: np.ndarray | None = None  # the last frame shown (for a snapshot)
        self._shown: dict[str, np.ndarray] = {}  # the preview's BGR pictures of I420 frames
        if virtual_camera is not None:  # opened now: a missing virtual-camera backend fails before anything runs
            self.virtual_camera = VirtualCamera(*self.plan.size, float(self.plan.output.fps), virtual_camera)
        self._camera = self.virtual_camera  # kept once closed: its counts go into the stats

    # --- processing thread -----------------------------------------------------------------
    def _process_loop(self) -> None:
        if not self.pipeline.backend.is_cuda and any(stage.cpu_kernels for stage in self.pipeline.stages):
            load_cpu_compiler()  # here, at the bottom of this thread's stack (see its docstring)
        if self.analyze:
            from realtime.run.analysis import plan_pipeline  # loads the analysed stages' kernels: only when asked

            plan_pipeline(self.pipeline, self.source.info.path, max_frames=self.max_frames, stats=self.stats,
                          should_stop=self._worker.stop_requested.is_set)
        first_run = not kernels_compiled()
        if self.live or first_run:
            # On this thread, the only one that may touch the GPU; before capture, so no frame waits.
            # (A file drops nothing: it is warmed up only to show a first run's compilation.)
            with CompileProgress(len(self.pipeline.stages), first_run and self.show_progress) as compiling:
                self.pipeline.warm_up(self.plan.input_shape, on_stage=compiling.stage)
            # The capture and recorder threads' kernels too (decoding and encoding conversions), so
            # that a cold kernel cache costs start-up time, never frames.
            warm_up_source = getattr(self.source, "warm_up", None)
            if warm_up_source is not None:
                warm_up_source()
        if self.recordings.targets:
            self.recordings.start(self.plan.output, self.plan.size, self.plan.frame_shape)
        if self.on_progress is not None:
            self.on_progress(0, self.total_frames)
        try:
            if self.virtual_camera is not None:
                self.virtual_camera.start()
            self.capture.start()
            # A file's frames go through lazily, each valid until the next is asked for, and on a GPU
            # the next frame uploads while the current one runs (so the capture holds two); a live
            # frame is processed the moment it arrives.
            frames = self._inputs(hold=1 if self.live else 2)
            for out in self.pipeline.run(frames, lookahead=not self.live, flush=lambda: self._input_ended):
                self._deliver(out)
                if self.live and self.max_frames is not None and self.stats.frames >= self.max_frames:
                    self.stop_reason = f"{self.stats.frames} frames (--max-frames)"
                    break
                if self._worker.stop_requested.is_set():
                    break
        finally:
            self.capture.stop()
            self.mailbox.close()
            if self.progress is not None:
                self.progress.finish()
            try:
                self.recordings.stop(complete=self.stop_reason == "end of input")
            finally:
                self._stop_virtual_camera()

    def _inputs(self, hold: int) -> Iterator[Frame]:
        """The captured frames, each after the processing thread's own work on it (commands, the
        compare view's original); sets :attr:`stop_reason` when the input ends."""
        for frame in self.capture.frames(newest=self.live, hold=hold):
            self.rates["capture"].tick()
            self._run_commands()
            self._keep_original(frame)
            taken_s = time.perf_counter()
            yield frame
            # Asked for the next one: the frame has been processed and handed on.
            if self.governor is not None:
                change = self.governor.observe(time.perf_counter() - taken_s, time.monotonic())
                if change:
                    log.info("governor: %s", change)
            if self._worker.stop_requested.is_set():
                return
        if not self.stop_reason:  # the source ran out, or a file's --max-frames: nobody asked us to stop
            limit = self.capture.max_frames
            self.stop_reason = (f"{limit} frames (--max-frames)" if limit is not None and self.capture.frames_read >= limit
                                else "end of input")
            self._input_ended = True

    @property
    def total_frames(self) -> int | None:
        """Frames a file run will read, when known (its progress)."""
        total, limit = self.source.info.frame_count, self.capture.max_frames
        if limit is not None:
            total = min(total, limit) if total else limit
        return total

    def _run_commands(self) -> None:
        while not self._commands.empty():  # (this thread is the only one that takes commands)
            kind, value = self._commands.get_nowait()
            if kind == "toggle_stage":
                on = value in self.pipeline.disabled
                self.pipeline.set_enabled(value, on)
                log.info("stage %s %s", value, "on" if on else "off")
            elif kind == "record":
                if not self.recordings.active:
                    self.recordings.start(self.plan.output, self.plan.size, self.plan.frame_shape)
                else:
                    self.recordings.stop(complete=False)
            elif kind == "white_point":
                self._pick_white_point(value)

    def _color_stage(self) -> Stage | None:
        return next((s for s in self.pipeline.stages if s.name == "color"), None)

    def _pick_white_point(self, point: tuple[int, int] | None) -> None:
        """White balance from the colour around ``point`` (input-frame pixels) of the next frame; ``None``: auto."""
        color = self._color_stage()
        if color is None:
            log.warning("white balance by a white point needs the color stage in the chain (--stages ...,color)")
            return
        color.pick_white_point(point)
        log.info("white balance: %s", f"point {point[0]},{point[1]}" if point is not None else "automatic")

    def _keep_original(self, frame: Frame) -> None:
        """Keep the input for the compare view until its output leaves delaying stages."""
        if not self.show:
            return
        keep = self.pipeline.delay_frames + 2
        for index in [i for i in self._originals if i <= frame.index - keep]:
            del self._originals[index]
        self._originals[frame.index] = frame.image

    def _deliver(self, out: Frame) -> None:
        span = self.span  # a chunk writes only its own frames: not its pre-roll, nor the lookahead after it
        if span is None or span.start * self._rate_factor <= out.index < span.stop * self._rate_factor:
            t0 = time.perf_counter()
            self.stats.frames += 1
            self.rates["processed"].tick()
            if self.recordings.active:
                self.recordings.write(out)
            if self.virtual_camera is not None:
                self.virtual_camera.give(out)
            if self.show:
                slot = self.mailbox.acquire_write(timeout_s=0)
                if slot is not None:
                    slot.image, slot.extra["original"] = out.image, self._originals.get(out.index, out.image)
                    slot.index, slot.capture_s = out.index, out.capture_s
                    self.mailbox.publish(slot)
            else:
                self.stats.latency.add((time.monotonic() - out.capture_s) * 1e3)
            # What the processing thread spends passing a frame on (copies only: it never waits).
            self.stats.io.setdefault("handoff", Timings()).add((time.perf_counter() - t0) * 1e3)
        if self.progress is not None:
            self.progress.update(self.capture.frames_read)
        if self.on_progress is not None:
            self.on_progress(self.capture.frames_read, self.total_frames)

    def _stop_virtual_camera(self) -> None:
        camera, self.virtual_camera = self.virtual_camera, None
        if camera is not None:
            camera.close()
            log.info("virtual camera %s closed: %d frames sent", camera.device, camera.sent)

    # --- main thread -----------------------------------------------------------------------
    def run(self) -> RunStats:
        """Run until the input ends, ``max_frames``, the window closes, or Ctrl-C; re-raises worker errors."""
        display = None
        if self.show:
            from realtime.sinks.display import Display

            info = self.source.info
            display = Display(self.pipeline.stage_names, (info.width, info.height), f"vqe - {redact(info.path)}")
            color = self._color_stage()
            display.white_point = color.white_point if color is not None else None  # w then returns to automatic
            # Its first picture and HUD text (and an I420 frame's conversion) cost more than later
            # ones: not on a live frame.
            blank = self._bgr("original", np.zeros(self.plan.input_shape, np.uint8))
            display.draw(blank, blank, self.hud_lines())
        self._worker.start()  # warms the pipeline up, then starts the capture
        try:
            if display is None:
                while self._worker.alive:
                    self._worker.join(timeout_s=0.2, reraise=False)
                    self._write_stats_if_due()
            else:
                self._display_loop(display)
        except KeyboardInterrupt:
            self.stop_reason = "interrupted"
            raise
        finally:
            self._worker.stop()
            self.capture.stop()
            self._worker.join(timeout_s=30, reraise=False)
            self.capture.wait()  # before the caller closes the source under it
            self._stop_virtual_camera()  # (already, unless the processing thread failed before its frames)
            if display is not None:
                display.close()
            self.stats.stop()
            self._refresh_stats()
        self._worker.check()
        self.capture.check()
        if not self.live and self.stop_reason == "end of input":
            written = self.recordings.written
            self.capture.check_complete(written[-1] if written else None)
        return self.stats

    def _display_loop(self, display) -> None:
        while True:
            self._write_stats_if_due()
            for action in display.poll():
                if action.kind == "quit":
                    self.stop_reason = "window closed"
                    return
                if action.kind == "snapshot":
                    self._snapshot()
                else:
                    self._commands.put((action.kind, action.value))
            try:
                slot = self.mailbox.acquire_read(timeout_s=IDLE_POLL_S, newest=True)
            except Closed:
                return
            if slot is None:
                if not self._worker.alive:
                    return
                continue
            try:
                # Converted at the window's size, and the original only where a compare view shows it.
                shown = display.mode == "enhanced"
                enhanced = self._bgr("enhanced", slot.image, display.fitted(picture_size(slot.image)) if shown else None)
                original = slot.extra.pop("original")
                original = None if shown else self._bgr("original", original)
                display.draw(original, enhanced, self.hud_lines())
                self.stats.latency.add((time.monotonic() - slot.capture_s) * 1e3)
                self.rates["displayed"].tick()
                self._latest = slot.image
            finally:
                slot.let_go()
                self.mailbox.release(slot)

    def _bgr(self, name: str, image: np.ndarray, fit: tuple[int, int] | None = None) -> np.ndarray:
        """``image`` as the preview shows it: BGR (scaled down to about ``fit``), converted from I420 into a
        buffer kept per ``name``."""
        if not self.plan.planar:
            return image
        self._shown[name] = self.plan.to_bgr(image, self._shown.get(name), fit)
        return self._shown[name]

    def _snapshot(self) -> None:
        if self._latest is None:
            return
        path = self.snapshot_dir / f"vqe-snapshot-{datetime.now():%Y%m%d-%H%M%S-%f}.png"
        if cv2.imwrite(str(path), self.plan.to_bgr(self._latest)):
            log.info("snapshot saved to %s", path)
        else:
            log.warning("snapshot could not be written to %s", path)

    def hud_lines(self) -> list[str]:
        """What the HUD shows: rates, latency, drops, backend, stages, and what stages say of their frame."""
        r = {k: m.rate for k, m in self.rates.items()}
        stages = ", ".join(f"{s.name} {'off' if s.name in self.pipeline.disabled else f'{self.stats.stage(s.name).recent_mean():.1f} ms'}"
                           for s in self.pipeline.stages) or "none"
        lines = [f"in {r['capture']:.1f} fps  out {r['processed']:.1f} fps  shown {r['displayed']:.1f} fps",
                 f"latency {self.stats.latency.recent_mean():.0f} ms  (lookahead {self.pipeline.delay_frames} frames = "
                 f"{1000 * self.pipeline.delay_frames / float(self.source.info.fps):.0f} ms)",
                 "drops " + "  ".join(f"{k} {v}" for k, v in self.drops().items()),
                 f"backend {self.pipeline.backend.name}",
                 f"stages: {stages}"]
        lines += [line for s in self.pipeline.stages if s.name not in self.pipeline.disabled
                  for line in (s.hud_lines() if hasattr(s, "hud_lines") else ())]
        if self.governor is not None and self.governor.level:
            lines.append(f"governor: {self.governor.current}")
        lines += self.recordings.hud_lines()
        camera = self.virtual_camera
        if camera is not None:
            lines.append(f"virtual camera {camera.device}  {camera.sent} frames sent")
        return lines

    def drops(self) -> dict[str, int]:
        drops = {"capture": self.capture.ring.drops, "display": self.mailbox.drops if self.show else 0,
                 **self.recordings.drops()}
        if self._camera is not None:
            drops["virtual_camera"] = self._camera.drops
        return drops

    def _write_stats_if_due(self) -> None:
        """Rewrite the stats file every ``stats_every_s`` seconds, so a monitor can follow an unattended run."""
        if self.stats_path is None or self.stats_every_s is None:
            return
        now = time.monotonic()
        self._stats_due = self._stats_due or now + self.stats_every_s
        if now < self._stats_due:
            return
        self._stats_due = now + self.stats_every_s
        self._refresh_stats()
        try:
            self.stats.write_json(self.stats_path, live=self.live)
            self._stats_written = True
        except OutputError as exc:
            # Only the monitor's copy is lost: the recording goes on, and the next write tries again.
            if self._stats_written:
                log.warning("%s; retrying every %g s", exc, self.stats_every_s)
            self._stats_written = False

    def _refresh_stats(self) -> None:
        """Bring the run's totals in the stats up to now: at the end, and before each periodic write."""
        wall = max(self.stats.wall_s, 1e-9)
        # Rates count the intervals after the first frame: start-up (imports, kernels, opening the
        # outputs) is said apart, so that a short run's figures are the rate a long one holds.
        first = self.capture.first_frame_at
        startup = wall if first is None else min(max(first - self.stats.started, 0.0), wall)
        running = max(wall - startup, 1e-9)

        def rate(count: int) -> float:
            return round(max(count - 1, 0) / running, 2)
        self.stats.drops.update(self.drops())
        self.stats.io["decode"] = self.capture.decode
        encode = self.recordings.encode_timings()
        if encode is not None:  # the encode times so far (a stopped recording leaves its own)
            self.stats.io["encode"] = encode
        self.stats.extra.update(
            source=redact(self.source.info.path), backend=self.pipeline.backend.name,
            frames_as=self.plan.layout, plan=self.plan.as_dict(),
            stage_chain=list(self.pipeline.stage_names), delay_frames=self.pipeline.delay_frames,
            delay_ms=round(1000 * self.pipeline.delay_frames / float(self.source.info.fps), 1),
            startup_s=round(startup, 3), captured_frames=self.capture.frames_read,
            capture_fps=rate(self.capture.frames_read), processed_fps=rate(self.stats.frames),
            displayed_fps=rate(self.rates["displayed"].count),
            recordings=[redact(str(p)) for p in self.recordings.written], outputs=self.recordings.summaries(),
            stop_reason=self.stop_reason)
        if self.governor is not None:
            self.stats.extra["governor"] = self.governor.as_dict()
        if self._camera is not None:
            self.stats.extra["virtual_camera_frames"] = self._camera.sent
