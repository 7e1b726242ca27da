"""The ``vqe`` command line."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

from realtime import __version__
from realtime.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, ConfigError, VqeError
from realtime.redact import install_redaction, redact
from realtime.run.signals import StopSignal, stop_signals_raise
from realtime.run.stats import RunStats
from realtime.settings import BACKENDS, PRESETS, build_settings
from realtime.sinks.hwenc import CHOICES as HW_ENCODERS
from realtime.sinks.live_preset import AUTO as AUTO_PRESET
from realtime.sinks.writers import CODECS, ENCODER_PRESETS, OutputOptions, is_network_output
from realtime.stages import PARAMS

log = logging.getLogger("vqe")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and the config exit code, like every other error
        raise ConfigError(f"{message} (see vqe --help)")


def _bitrate(text: str) -> int:
    """``4M``, ``2500k`` or ``800000`` as bits per second."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    try:
        value = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a bitrate: use e.g. 4M, 2500k or 800000") from None
    if not 50_000 <= value <= 200_000_000:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range: use 50k to 200M bits per second")
    return int(value)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    params = "\n".join(line for cls in PARAMS.values() for line in cls.describe())
    p = _Parser(
        prog="vqe",
        description="Real-time video quality enhancer: denoise, sharpen, contrast, colour, stabilize.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"stages: {', '.join(PARAMS)}\npresets: {', '.join(PRESETS)}\nparameters (--set):\n{params}",
    )
    grp = p.add_argument_group("input (default: camera 0)")
    src = grp.add_mutually_exclusive_group()
    src.add_argument("--file", nargs="+", metavar="PATH",
                     help="enhance a video file (any format FFmpeg reads, or .y4m); several files, folders "
                          "or quoted globs ('tapes/*.avi') make a batch (see batch below)")
    src.add_argument("--camera", type=int, metavar="N", help="camera index (V4L2 on Linux)")
    src.add_argument("--stream", metavar="URL", help="network stream: rtsp, http(s), udp, tcp, srt")
    grp.add_argument("--live", action="store_true",
                     help="with --file: play the file at its own rate like a camera (frames drop if processing lags)")
    grp.add_argument("--audio", metavar="DEVICE",
                     help="sound from a microphone for the live outputs: a device name (ALSA, AVFoundation or "
                          "DirectShow) or FORMAT:NAME; 'list' shows the devices")
    grp.add_argument("--no-governor", action="store_true",
                     help="live: keep quality fixed and drop frames when the machine cannot keep up (by default "
                          "the chain first gets cheaper, step by step, and back when there is headroom)")
    grp.add_argument("--camera-size", metavar="WxH", help="ask the camera for this size, e.g. 1280x720")
    grp.add_argument("--camera-fps", type=float, metavar="FPS", help="ask the camera for this frame rate")
    grp.add_argument("--stream-timeout", type=float, default=5.0, metavar="S",
                     help="seconds without frames before a stream counts as lost (default 5)")
    grp.add_argument("--reconnect", type=int, default=5, metavar="N",
                     help="reconnect attempts for a lost stream (default 5)")
    out = p.add_argument_group("output")
    out.add_argument("-o", "--output", dest="outputs", action="append", metavar="PATH",
                     help="write the result (.mp4 .mkv .mov .avi .y4m); a batch: a folder or a pattern; "
                          "live: or stream it to rtmp(s)://, srt://, udp://, tcp:// or rtsp://; repeat -o for "
                          "several outputs at once (live runs)")
    out.add_argument("--no-display", action="store_true", help="do not open a preview window")
    out.add_argument("--virtual-camera", nargs="?", const="", metavar="DEVICE",
                     help="also send the enhanced frames to a virtual camera that call apps, OBS and browsers "
                          "can pick (v4l2loopback on Linux, OBS Virtual Camera elsewhere; needs "
                          "pip install \"vqe[vcam]\"); DEVICE e.g. /dev/video10, default the first free one")
    out.add_argument("--codec", choices=sorted(CODECS), help="video codec (default: h264; .y4m is raw)")
    out.add_argument("--encoder", choices=("pyav", "opencv"), default="pyav",
                     help="pyav (default; H.264 with audio) or opencv (fallback, video only)")
    out.add_argument("--crf", type=int, default=18, metavar="N", help="H.264/HEVC quality, 0-51 (default 18)")
    out.add_argument("--encoder-preset", choices=(*ENCODER_PRESETS, AUTO_PRESET),
                     help="x264/x265 speed preset (default: medium for files; live, auto: superfast up to "
                          "720p30 per two cores, ultrafast above)")
    out.add_argument("--hw-encoder", choices=HW_ENCODERS,
                     help="H.264/HEVC on the GPU's encoder (nvenc: NVIDIA, qsv: Intel Quick Sync, amf: AMD); auto "
                          "takes the first that opens, x264 where none does (default: auto live, off for files)")
    out.add_argument("--bitrate", type=_bitrate, metavar="RATE",
                     help="network outputs: constant bitrate, e.g. 4M or 2500k (default: constant quality, --crf)")
    out.add_argument("--stats", metavar="PATH", help="write a JSON of frames, fps, per-stage ms and drops")
    out.add_argument("--stats-every", type=float, metavar="S",
                     help="with --stats, in a live run or preview: rewrite the JSON every S seconds (monitoring)")
    proc = p.add_argument_group("processing")
    proc.add_argument("--preset", help=f"stage chain and parameters: {', '.join(PRESETS)} (default balanced)")
    proc.add_argument("--stages", metavar="A,B,C", help="stages to run, in order, or 'none'")
    proc.add_argument("--set", dest="overrides", action="append", default=[], metavar="STAGE.PARAM=VALUE",
                      help="set a stage parameter (repeatable), e.g. color.gamma=1.2")
    proc.add_argument("--config", metavar="FILE.toml", help="settings file (preset, stages, backend, [stage] tables)")
    proc.add_argument("--backend", choices=BACKENDS, help="compute backend (default auto)")
    proc.add_argument("--max-frames", type=_positive_int, metavar="N", help="stop after N frames")
    proc.add_argument("--analyze", action="store_true",
                      help="files: first read the whole file (about the cost of decoding it) and fix the contrast "
                           "levels and the white balance per shot from all of its frames")
    batch = p.add_argument_group(
        "batch (several --file paths, a folder, a glob, or -o a folder or a pattern)",
        "-o DIR keeps each input's name; -o 'out/{stem}_enhanced.mp4' names each output\n"
        "({stem} {name} {ext} {parent}). Outputs appear only when complete: rerunning the\n"
        "same command skips them and does the rest. One failing file does not stop the others;\n"
        f"exit code {EXIT_SOME_FAILED}: some files failed (listed at the end), the others are complete.")
    batch.add_argument("--jobs", type=_positive_int, metavar="N",
                       help="files processed at once, one process each (default: one per core)")
    batch.add_argument("--overwrite", action="store_true", help="redo outputs that exist (default: skip them)")
    batch.add_argument("--cluster", metavar="ray[://ADDRESS]",
                       help="run the batch on a Ray cluster: 'ray' (the one RAY_ADDRESS names, else a local one) "
                            "or ray://HOST:PORT; needs pip install \"vqe[cluster]\"")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--version", action="version", version=f"vqe {__version__}")
    return p


def run(args: argparse.Namespace, stats: RunStats) -> int:
    """Run what the arguments ask for; returns the exit code."""
    if args.audio == "list":
        from realtime.sources.microphone import list_devices

        devices = list_devices()
        print("\n".join(devices) if devices else "no sound inputs found (name one as FORMAT:NAME)")
        return EXIT_OK
    if args.crf not in range(52):
        raise ConfigError(f"--crf {args.crf} is out of range: use 0 (lossless) to 51")
    if args.live and args.file is None:
        raise ConfigError("--live plays a file like a camera: use it with --file PATH")
    live = args.file is None or args.live
    if args.stream_timeout <= 0 or args.reconnect < 0:
        raise ConfigError("--stream-timeout must be > 0 and --reconnect >= 0")
    if args.analyze and live:
        raise ConfigError("--analyze reads the whole input before enhancing it: it needs --file PATH without --live "
                          "(not a camera or a stream)")
    if args.virtual_camera is not None and not live:
        raise ConfigError("--virtual-camera shows frames as they happen: use it with a camera, a stream or "
                          "--file PATH --live")
    if args.audio is not None and not live:
        raise ConfigError("--audio records a microphone beside live video: use it with a camera, a stream or "
                          "--file PATH --live (a file keeps its own sound)")
    if args.stats_every is not None and (args.stats is None or not args.stats_every > 0):
        raise ConfigError("--stats-every S needs --stats PATH and S > 0")
    settings = build_settings(args.preset, args.stages, args.config, tuple(args.overrides), args.backend)
    # Live recording must keep up with the camera next to the processing: a faster preset, chosen
    # from the pixel rate and the cores (realtime.sinks.live_preset).
    preset = args.encoder_preset or (AUTO_PRESET if live else "medium")
    if args.hw_encoder not in (None, "off") and args.encoder == "opencv":
        raise ConfigError(f"--hw-encoder {args.hw_encoder} encodes through PyAV: drop --encoder opencv")
    # Files keep x264's better compression by default: offline, its speed is no limit.
    hw_encoder = args.hw_encoder or ("auto" if live else "off")
    options = OutputOptions(args.codec, args.encoder, args.crf, preset, args.bitrate, hw_encoder)
    outputs = args.outputs or []
    if any(is_network_output(o) for o in outputs):
        if not live:
            raise ConfigError("a network output is sent as the frames happen: add --live to play the file at its "
                              "own rate (or use a camera or a stream)")
    elif args.bitrate is not None:
        raise ConfigError("--bitrate is for network outputs (-o rtmp://..., srt://...): files use --crf")
    if len(outputs) > 1 and not live:
        raise ConfigError("several -o outputs are for live runs (a camera, a stream, --file PATH --live): "
                          "a file job writes one")
    show_progress = not args.no_progress and sys.stderr.isatty()
    if args.file is not None and len(outputs) <= 1 and not is_network_output(args.output or ""):
        from realtime.batch.jobs import BatchConfig, is_batch, run_batch

        if args.cluster is not None or is_batch(args.file, args.output):
            if args.live or args.stats_every is not None:
                raise ConfigError("--live and --stats-every are for one file: a batch enhances its files as fast as "
                                  "it can and writes --stats at its end")
            return run_batch(args.file, args.output, BatchConfig(settings, options, args.max_frames, args.analyze),
                             args.jobs, args.cluster, args.overwrite, show_progress, args.stats)
    if args.jobs is not None or args.cluster is not None or args.overwrite:
        raise ConfigError("--jobs, --cluster and --overwrite are for a batch: give several --file paths, a folder "
                          "or a glob, or -o a folder")
    if args.file is not None:
        args.file = args.file[0]
    if not live and args.no_display:
        from realtime.run.filejob import run_file

        if args.stats_every is not None:
            raise ConfigError("--stats-every is for live runs and previews: a file job writes --stats at its end")
        if args.output is None:
            log.info("no -o given: processing only, nothing is written")
        run_file(args.file, args.output, settings, options, args.max_frames, show_progress, stats, analyze=args.analyze)
        log.info("%d frames in %.2f s (%.1f fps)%s", stats.frames, stats.wall_s,
                 stats.frames / max(stats.wall_s, 1e-9), f" -> {args.output}" if args.output else "")
        return EXIT_OK
    from realtime.run.session import Session

    source = open_live_source(args)
    microphone = None
    try:
        if args.audio is not None:
            from realtime.sources.microphone import Microphone

            microphone = Microphone(args.audio)
        session = Session(source, settings, live=live, output=outputs, options=options, display=not args.no_display,
                          max_frames=args.max_frames, stats=stats, stats_path=args.stats,
                          stats_every_s=args.stats_every, analyze=args.analyze, virtual_camera=args.virtual_camera,
                          audio=microphone.audio if microphone else None, show_progress=show_progress,
                          governor=not args.no_governor)
        session.run()
    finally:
        if microphone is not None:
            microphone.close()
        source.close()
    log.info("%d frames in %.2f s (%.1f fps); stopped: %s", stats.frames, stats.wall_s,
             stats.frames / max(stats.wall_s, 1e-9), session.stop_reason or "interrupted")
    return EXIT_OK


def open_live_source(args: argparse.Namespace):
    """The source a session reads: a file (paced with --live), a stream, or a camera."""
    if args.file is not None:
        from realtime.sources.files import PacedSource, open_source

        source = open_source(args.file, live_audio=args.live)
        return PacedSource(source) if args.live else source
    if args.stream is not None:
        from realtime.sources.streams import StreamSource

        return StreamSource(args.stream, timeout_s=args.stream_timeout, retries=args.reconnect)
    from realtime.sources.camera import open_camera, parse_size

    size = parse_size(args.camera_size) if args.camera_size else None
    return open_camera(args.camera if args.camera is not None else 0, size, args.camera_fps)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vqe`` and ``python -m realtime``; returns the exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    stats = RunStats()
    args = None
    try:
        args = build_parser().parse_args(argv)
        args.output = args.outputs[0] if args.outputs else None  # the one output of a file job or a batch
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                            format="vqe: %(message)s", stream=sys.stderr)
        install_redaction()  # no password, token or stream key of a URL in any log line, ours or FFmpeg's
        with stop_signals_raise():  # SIGTERM and SIGHUP finalize the recording like Ctrl-C
            code = run(args, stats)
    except VqeError as exc:
        if debug:
            raise
        print(redact(f"vqe: error: {exc}"), file=sys.stderr)  # the last guard: no URL secret in errors
        code = exc.exit_code
    except KeyboardInterrupt as exc:
        written = f"; {stats.frames} frames written to {args.output}" if args and args.output else ""
        why = f"stopped by {exc.name}" if isinstance(exc, StopSignal) and exc.name != "SIGINT" else "interrupted"
        print(redact(f"\nvqe: {why}{written}"), file=sys.stderr)
        code = getattr(exc, "exit_code", EXIT_INTERRUPTED)
    except Exception as exc:  # a bug: one line, the traceback only with --debug
        if debug:
            raise
        print(redact(f"vqe: internal error: {exc.__class__.__name__}: {exc} "
                     "(rerun with --debug for the traceback)"), file=sys.stderr)
        code = EXIT_INTERNAL
    if args is not None and args.stats and stats.frames:
        try:
            stats.write_json(args.stats, live=args.file is None or args.live)
        except VqeError as exc:
            print(redact(f"vqe: error: {exc}"), file=sys.stderr)
            code = code or exc.exit_code
    return code


def entry() -> None:  # pragma: no cover - exits the process
    """The ``vqe`` command: :func:`main`, then a quick exit with its code: by then every file is closed and every
    thread joined; skipping the interpreter's teardown (module finalizers of Numba, OpenCV and PyAV) saves about
    0.2 s per run."""
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
