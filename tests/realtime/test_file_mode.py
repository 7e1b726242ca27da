"""File mode end to end through the CLI: frames, rate, size, audio, colour fidelity, codecs."""
import json
import subprocess
from contextlib import closing
from fractions import Fraction

import av
import numpy as np
import pytest

from realtime.sources.y4m import Y4mReader

from conftest import run_vqe, textured_frames


def decode_luma(path, n=None):
    """Luma planes as decoded by FFmpeg (no colour conversion)."""
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            p = f.planes[0]
            out.append(np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width].copy())
            if n and len(out) == n:
                break
    return out


def psnr(a, b):
    mse = np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)


@pytest.mark.slow
def test_flower_to_h264_mp4_keeps_frames_rate_size_and_audio(sample_clip, tmp_path):
    src = sample_clip
    out, stats = tmp_path / "out.mp4", tmp_path / "stats.json"
    r = run_vqe("--file", src, "-o", out, "--no-display", "--stats", stats)
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c, av.open(str(src)) as i:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.codec_context.name == "h264" and v.codec_context.pix_fmt == "yuv420p"
        assert (v.codec_context.width, v.codec_context.height) == (960, 540)
        assert v.average_rate == Fraction(30000, 1001) and v.frames == 150
        assert v.codec_context.colorspace == i.streams.video[0].codec_context.colorspace  # tagged as the input
        assert a.codec_context.name == "aac" and a.frames == i.streams.audio[0].frames
        # Audio packets are the input's, bit for bit, on the same clock as the video.
        ours = [bytes(p) for p in c.demux(a) if p.size][:50]
        theirs = [bytes(p) for p in i.demux(i.streams.audio[0]) if p.size][:50]
        assert ours == theirs
        assert abs(float(a.start_time * a.time_base) - float(v.start_time * v.time_base)) < 1e-3
    assert len(decode_luma(out)) == 150
    data = json.loads(stats.read_text())
    assert data["frames"] == 150 and data["fps"] > 0 and data["wall_s"] > 0
    assert data["stage_chain"] and set(data["stages"]) == set(data["stage_chain"])
    assert all({"mean_ms", "p95_ms"} <= set(v) for v in data["stages"].values())
    assert data["drops"] == {"capture": 0, "display": 0, "recorder": 0}


@pytest.fixture
def flower_y4m(sample_clip, tmp_path, ffmpeg):
    """A lossless yuv420p excerpt of a real clip (decoded by ffmpeg itself, no conversion)."""
    path = tmp_path / "flower.y4m"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(sample_clip), "-frames:v", "12",
                    "-pix_fmt", "yuv420p", "-strict", "-1", str(path)], check=True)
    return path


@pytest.mark.parametrize("suffix, extra", [(".y4m", ()), (".mkv", ("--codec", "ffv1"))])
def test_faithful_io_without_stages(flower_y4m, tmp_path, suffix, extra):
    """No stages, lossless in and out: luma >= 50 dB and mean shift < 0.25 levels."""
    out = tmp_path / f"none{suffix}"
    r = run_vqe("--file", flower_y4m, "-o", out, "--stages", "none", "--no-display", *extra)
    assert r.returncode == 0, r.stderr
    src = decode_luma(flower_y4m)
    got = decode_luma(out)
    assert len(got) == len(src) == 12
    diff = np.stack(got).astype(float) - np.stack(src)
    assert psnr(np.stack(got), np.stack(src)) >= 50
    assert abs(diff.mean()) < 0.25


def test_y4m_header_is_kept(flower_y4m, tmp_path):
    out = tmp_path / "o.y4m"
    assert run_vqe("--file", flower_y4m, "-o", out, "--no-display", "--max-frames", "3").returncode == 0
    with closing(Y4mReader(flower_y4m)) as a, closing(Y4mReader(out)) as b:
        assert (b.width, b.height, b.fps, b.fmt.sub_x, b.fmt.full_range) == (a.width, a.height, a.fps, 2, False)
        assert b.frame_count() == 3


def test_h264_round_trip_decodes_to_what_was_written(make_y4m, tmp_path):
    """Encode the pipeline output at crf 18 and compare what a decoder gets back with the y4m output."""
    src = make_y4m(textured_frames(10, 72, 96))
    lossless, lossy = tmp_path / "a.y4m", tmp_path / "a.mp4"
    for out in (lossless, lossy):
        r = run_vqe("--file", src, "-o", out, "--no-display", "--encoder-preset", "ultrafast")
        assert r.returncode == 0, r.stderr
    a, b = decode_luma(lossless), decode_luma(lossy)
    assert len(a) == len(b) == 10
    assert psnr(np.stack(a), np.stack(b)) > 38


def test_opencv_encoder_fallback(make_y4m, tmp_path):
    src = make_y4m(textured_frames(6, 48, 64))
    out = tmp_path / "cv.mp4"
    r = run_vqe("--file", src, "-o", out, "--no-display", "--encoder", "opencv")
    assert r.returncode == 0, r.stderr
    assert len(decode_luma(out)) == 6


def test_interlaced_flagged_input_decodes_to_real_pictures(ffmpeg, tmp_path):
    """OpenCV 5 returns black frames for interlaced-flagged H.264; our decoder must not."""
    il = tmp_path / "il.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "0.4",
                    "-c:v", "libx264", "-flags", "+ildct+ilme", "-x264-params", "interlaced=1:tff=1",
                    "-pix_fmt", "yuv420p", str(il)], check=True)
    with av.open(str(il)) as c:
        assert next(c.decode(video=0)).interlaced_frame
    out = tmp_path / "il.y4m"
    assert run_vqe("--file", il, "-o", out, "--stages", "none", "--no-display").returncode == 0
    got, ref = decode_luma(out), decode_luma(il)
    assert len(got) == len(ref) == 10
    # testsrc2's chroma was subsampled as one picture but the stream says interlaced, so it is read
    # (and written) per field, as the flag says: its saturated colours clip a little in BGR.
    assert min(g.mean() for g in got) > 50 and psnr(np.stack(got), np.stack(ref)) > 40


def test_max_frames_and_legacy_avi(media, tmp_path):
    out = tmp_path / "short.mkv"
    r = run_vqe("--file", media / "shaky_seattle_walk_360p.avi", "-o", out, "--no-display", "--max-frames", "7",
                "--encoder-preset", "ultrafast")
    assert r.returncode == 0, r.stderr
    assert len(decode_luma(out)) == 7


def test_audio_is_cut_with_the_video_on_max_frames(sample_clip, tmp_path):
    out = tmp_path / "cut.mp4"
    r = run_vqe("--file", sample_clip, "-o", out, "--no-display", "--max-frames", "30",
                "--encoder-preset", "ultrafast")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        end = max(float((p.pts + p.duration) * p.time_base) for p in c.demux(a) if p.size)
    assert 0.9 < end < 1.1  # 30 frames at 29.97 fps


def test_a_file_with_the_preview_open_is_written_as_without_it(make_y4m, tmp_path, monkeypatch):
    """One frame plan whether or not someone watches: planar frames, the same bytes out, the plan in the stats."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    src = make_y4m(textured_frames(6, 48, 64))
    outputs = {}
    for name, extra in (("headless", ("--no-display",)), ("preview", ())):
        out, stats = tmp_path / f"{name}.y4m", tmp_path / f"{name}.json"
        r = run_vqe("--file", src, "-o", out, "--stages", "denoise,color", "--stats", stats, *extra)
        assert r.returncode == 0, r.stderr
        report = json.loads(stats.read_text())
        assert report["frames_as"] == "I420" and report["plan"]["layout"] == "I420", report
        outputs[name] = out.read_bytes()
    assert outputs["preview"] == outputs["headless"]


@pytest.mark.parametrize("stages, loads", [("denoise", True), ("stabilize", False), ("none", False)])
def test_numba_compiler_is_loaded_up_front_only_for_cpu_kernels(make_y4m, tmp_path, monkeypatch, stages, loads):
    """The processing thread loads Numba's compiler before the first frame where a stage runs CPU kernels
    (kernels.backend.load_cpu_compiler), and not for a chain that runs none: that would cost 0.3 s."""
    import realtime.run.session as session
    from realtime.cli import main

    calls = []
    monkeypatch.setattr(session, "load_cpu_compiler", lambda: calls.append(stages))
    src = make_y4m(textured_frames(3, 48, 64))
    out = tmp_path / "o.y4m"
    assert main(["--file", str(src), "-o", str(out), "--no-display", "--no-progress", "--stages", stages]) == 0
    assert bool(calls) == loads
