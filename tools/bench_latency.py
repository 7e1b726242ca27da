"""Glass-to-glass latency of a live run, measured at a receiver with frame stamps.

This process plays a camera that streams over TCP and the viewer at the other end:

* the **sender** serves a 720p30 H.264 MPEG-TS stream (the bundled clip, scaled and looped,
  each frame's number burned into its top-left corner as 16 black or white blocks), written
  frame by frame at the real rate: a frame's send time is its capture time;
* ``vqe --stream tcp://... -o tcp://...`` enhances it and streams it on (``--stats`` kept);
* the **receiver** listens for vqe's stream, decodes it as it arrives and reads each frame's
  number back from the blocks: a frame's latency is its arrival here minus its send time.

Both ends share this process's clock, so the figure is exact end to end: the sender's
demuxing in vqe, the chain, vqe's encoder, the network and the receiver's decoder. It is
compared with the target ``2 frame intervals + the chain's processing + the encoder's``
(mean stage and encode times from vqe's own ``--stats``). With ``--record`` a recording is
written beside the stream (``-o rec.mp4``), and its drops are reported.

Usage::

    python tools/bench_latency.py                                   # 40 s, default chain, MPEG-TS hops
    python tools/bench_latency.py --hops flv                        # FLV in, RTMP out
    python tools/bench_latency.py --record --encoder-preset veryfast   # and a recording beside it
    python tools/bench_latency.py --seconds 60 --json out.json
"""
from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tools" / "samples" / "flower_540p.mp4"
SIZE = (1280, 720)
FPS = 30
#: The frame number's bits, as blocks of this size along the top edge.
BITS, BLOCK = 16, 40
#: Per --hops: the sender's container, vqe's output URL, the receiver's container.
HOPS = {"mpegts": ("mpegts", "tcp://127.0.0.1:{port}", "mpegts"),
        "flv": ("flv", "rtmp://127.0.0.1:{port}/live/bench", "flv")}
#: Frames before this many seconds are not counted (connection; the input probe, up to 5 s for FLV, and the catch-up after it).
WARM_S = 8.0


def stamp(image: np.ndarray, number: int) -> None:
    """Burn ``number`` into ``image`` (BGR) as black (0) and white (1) blocks, most significant first."""
    for bit in range(BITS):
        on = (number >> (BITS - 1 - bit)) & 1
        image[:BLOCK, bit * BLOCK:(bit + 1) * BLOCK] = 255 if on else 0


def read_stamp(luma: np.ndarray) -> int | None:
    """The number :func:`stamp` burned in, read from the centres of the blocks of a luma plane;
    ``None`` when a block is neither clearly dark nor clearly light (not a stamped frame)."""
    half = BLOCK // 2
    centres = luma[half - 8:half + 8, :BITS * BLOCK].reshape(16, BITS, BLOCK)[:, :, half - 8:half + 8]
    levels = centres.mean(axis=(0, 2))
    if np.any((levels > 64) & (levels < 192)):
        return None
    return int("".join("1" if b else "0" for b in levels > 128), 2)


def encoded_frames(seconds: float, container: str = "mpegts") -> tuple[bytes, list[tuple[int, int]]]:
    """The stamped stream as MPEG-TS bytes, and each frame's (start, end) byte range in them."""
    source = []
    with av.open(str(SAMPLE)) as clip:
        for frame in clip.decode(video=0):
            source.append(cv2.resize(frame.to_ndarray(format="bgr24"), SIZE, interpolation=cv2.INTER_AREA))
    buffer = io.BytesIO()
    ranges = []
    # A low-latency sender states each frame's length (vqe's demuxer then need not wait for the next).
    options = {"flush_packets": "1", **({"omit_video_pes_length": "0"} if container == "mpegts" else {})}
    with av.open(buffer, "w", format=container, container_options=options) as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "tune": "zerolatency",
                                                              "g": str(FPS), "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        for n in range(round(seconds * FPS)):
            # Forward then backward through the clip: motion without a cut at each loop.
            period = 2 * len(source) - 2
            image = source[n % period if n % period < len(source) else period - n % period].copy()
            stamp(image, n)
            start = buffer.tell()
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = n
            for packet in stream.encode(frame):
                out.mux(packet)
            ranges.append((start, buffer.tell()))
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue(), ranges


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, data: bytes, ranges: list[tuple[int, int]], sent: dict[int, float],
          ready: threading.Event) -> None:
    """Accept vqe's connection and write each frame's bytes at its time; ``sent[n]`` = when frame n went."""
    with socket.create_server(("127.0.0.1", port)) as server:
        ready.set()
        conn, _ = server.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = time.monotonic()
            for n, (start, end) in enumerate(ranges):
                delay = t0 + n / FPS - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                sent[n] = time.monotonic()
                try:
                    conn.sendall(data[start:end])
                except OSError:
                    return  # vqe stopped reading
            conn.sendall(data[ranges[-1][1]:])


def receive(url: str, container: str, arrived: dict[int, float], ready: threading.Event) -> None:
    """Listen at ``url`` for vqe's stream; ``arrived[n]`` = when frame n was decoded here."""
    options = {"listen": "1", "probesize": "32768", "analyzeduration": "0", "fflags": "nobuffer"}
    ready.set()
    try:
        with av.open(url, format=container, options=options) as stream:
            stream.streams.video[0].thread_type = "SLICE"  # a viewer's low-delay decoder
            for frame in stream.decode(video=0):
                now = time.monotonic()
                number = read_stamp(frame.to_ndarray(format="gray"))
                if number is not None:
                    arrived.setdefault(number, now)
    except av.FFmpegError:
        pass  # vqe closed the stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0, help="length of the stream (default 40)")
    parser.add_argument("--stages", help="vqe --stages (default: the default chain)")
    parser.add_argument("--record", action="store_true", help="also record to an .mp4 beside the stream")
    parser.add_argument("--encoder-preset", default="veryfast", help="vqe --encoder-preset (default veryfast)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--hops", choices=sorted(HOPS), default="mpegts",
                        help="mpegts: MPEG-TS over TCP in and out (a receiver's H.264 parser holds each frame "
                             "until the next one starts: a frame interval per hop); flv: FLV in, RTMP out "
                             "(frames framed by length, handed on at once)")
    args = parser.parse_args()

    # Kernels compiled before the measured run (a first run compiles for minutes while frames pile up).
    warm = [sys.executable, "-m", "realtime", "--file", str(SAMPLE), "--live", "--max-frames", "2", "--no-display",
            "--no-progress"] + (["--stages", args.stages] if args.stages else [])
    subprocess.run(warm, cwd=ROOT, capture_output=True, check=True)
    data, ranges = encoded_frames(args.seconds, HOPS[args.hops][0])
    sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    in_port, out_port = free_port(), free_port()
    serving, listening = threading.Event(), threading.Event()
    sender = threading.Thread(target=serve, args=(in_port, data, ranges, sent, serving), daemon=True)
    out_url = HOPS[args.hops][1].format(port=out_port)
    receiver = threading.Thread(target=receive, args=(out_url, HOPS[args.hops][2], arrived, listening), daemon=True)
    sender.start()
    receiver.start()
    serving.wait(5)
    listening.wait(5)
    time.sleep(0.5)  # the receiver's socket is listening once av.open blocks in accept
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        stats_path = Path(tmp) / "stats.json"
        cmd = [sys.executable, "-m", "realtime", "--stream", f"tcp://127.0.0.1:{in_port}", "--no-display",
               "-o", out_url, "--encoder-preset", args.encoder_preset, "--reconnect", "0",
               "--stats", str(stats_path), "--no-progress"]
        if args.record:
            cmd += ["-o", str(Path(tmp) / "rec.mp4")]
        if args.stages:
            cmd += ["--stages", args.stages]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=args.seconds + 300)
        receiver.join(timeout=10)
        if not stats_path.exists():
            raise SystemExit(f"vqe failed ({proc.returncode}):\n{proc.stderr}")
        stats = json.loads(stats_path.read_text())

    first = min(sent.values()) if sent else 0.0
    counted = sorted(n for n in arrived if n in sent and sent[n] - first >= WARM_S)
    latency = np.array([(arrived[n] - sent[n]) * 1e3 for n in counted])
    frame_ms = 1e3 / FPS
    chain_ms = sum(t["mean_ms"] for t in stats["stages"].values())
    encode_ms = stats["io"].get("encode", {}).get("mean_ms", 0.0)
    budget = 2 * frame_ms + chain_ms + encode_ms
    after_warm = len([n for n in sent if sent[n] - first >= WARM_S])
    result = {
        "frames_sent": len(sent), "frames_received": len(arrived), "frames_counted": len(counted),
        "frames_lost_after_warm_up": after_warm - len(counted),
        "latency_ms": {"mean": round(float(latency.mean()), 1), "p50": round(float(np.percentile(latency, 50)), 1),
                       "p95": round(float(np.percentile(latency, 95)), 1), "max": round(float(latency.max()), 1)}
        if latency.size else None,
        "target_p95_ms": round(budget, 1), "chain_ms": round(chain_ms, 1), "encode_ms": round(encode_ms, 1),
        "delay_frames": stats.get("delay_frames"), "processed_fps": stats.get("processed_fps"),
        "drops": stats.get("drops"), "outputs": stats.get("outputs"), "load_1min": os.getloadavg()[0],
    }
    print(json.dumps(result, indent=2))
    result["series_ms"] = [[n, round((arrived[n] - sent[n]) * 1e3, 1)] for n in counted]  # in --json only
    if latency.size:
        verdict = "met" if result["latency_ms"]["p95"] <= budget else "missed"
        print(f"p95 {result['latency_ms']['p95']} ms against 2 x {frame_ms:.1f} + chain {chain_ms:.1f} + "
              f"encode {encode_ms:.1f} = {budget:.1f} ms: {verdict}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
