"""Files whose stages all take I420 stay planar from decoder to encoder; others go through BGR."""
import json
from contextlib import closing

import numpy as np
import pytest

from realtime.errors import ConfigError
from realtime.run.filejob import run_file
from realtime.run.pipeline import Pipeline
from realtime.settings import build_settings
from realtime.sources.files import open_source
from realtime.sources.y4m import Y4mReader

from conftest import run_vqe, textured_frames


def frames_of(path):
    reader = Y4mReader(path)
    out = []
    while (planes := reader.read_planes()) is not None:
        out.append(tuple(p.copy() for p in planes))
    reader.close()
    return out


def test_no_stages_copies_a_y4m_exactly(make_y4m, tmp_path):
    src = make_y4m(textured_frames(4, 18, 22))
    out, stats = tmp_path / "out.y4m", tmp_path / "stats.json"
    r = run_vqe("--file", src, "-o", out, "--no-display", "--stages", "none", "--stats", stats)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == src.read_bytes()
    assert json.loads(stats.read_text())["frames_as"] == "I420"


def test_planar_and_bgr_paths_agree_on_sharpen(make_y4m, tmp_path):
    src = make_y4m(textured_frames(3, 20, 26))
    # The frames' grain (sigma 6) would be cored as noise: a fixed threshold, so that both paths sharpen.
    settings = build_settings(stages="sharpen", overrides=("sharpen.noise_coring=0",), backend="cpu")
    run_file(src, tmp_path / "planar.y4m", settings)
    run_file(src, tmp_path / "bgr.y4m", settings, planar=False)
    planar, bgr = frames_of(tmp_path / "planar.y4m"), frames_of(tmp_path / "bgr.y4m")
    original = frames_of(src)
    assert len(planar) == len(bgr) == 3
    for p, b, o in zip(planar, bgr, original):
        # The BGR path's luma change is the planar one, up to the rounding of the two conversions.
        assert np.abs(p[0].astype(int) - b[0]).mean() < 1.0
        assert np.abs(p[0].astype(int) - o[0]).max() > 5
        assert np.array_equal(p[1], o[1]) and np.array_equal(p[2], o[2])


def test_a_file_played_live_stays_planar(make_y4m, tmp_path):
    src = make_y4m(textured_frames(8, 20, 26))
    out, stats = tmp_path / "live.y4m", tmp_path / "stats.json"
    r = run_vqe("--file", src, "--live", "-o", out, "--no-display", "--stats", stats, "--no-governor")
    assert r.returncode == 0, r.stderr
    assert json.loads(stats.read_text())["frames_as"] == "I420" and 0 < len(frames_of(out)) <= 8  # live: may drop


def test_a_stage_without_planes_keeps_the_bgr_path(make_y4m, tmp_path):
    # A .cube LUT keeps the colour stage on BGR frames.
    src = make_y4m(textured_frames(2, 16, 16))
    cube = tmp_path / "id.cube"
    cube.write_text("LUT_3D_SIZE 2\n" + "".join(f"{r} {g} {b}\n" for b in (0, 1) for g in (0, 1) for r in (0, 1)))
    settings = build_settings(stages="color", backend="cpu", overrides=(f"color.lut={cube}",))
    stats = run_file(src, tmp_path / "out.y4m", settings)
    assert stats.extra["frames_as"] == "BGR"
    with closing(open_source(src)) as source, pytest.raises(ConfigError, match="color"):
        Pipeline(settings).set_source(source.info, planar=True)


def test_odd_sizes_and_other_chroma_formats_keep_the_bgr_path(make_y4m, tmp_path):
    from kernels.colorspace import YuvFormat

    odd = make_y4m(textured_frames(2, 15, 16), name="odd.y4m")
    assert run_file(odd, tmp_path / "a.y4m", build_settings(stages="none")).extra["frames_as"] == "BGR"
    full = make_y4m(textured_frames(2, 16, 16), name="444.y4m", fmt=YuvFormat("bt601", False, 8, 1, 1))
    assert run_file(full, tmp_path / "b.y4m", build_settings(stages="none")).extra["frames_as"] == "BGR"


@pytest.mark.slow
def test_a_real_clip_decodes_to_the_same_planes_and_encodes(sample_clip, tmp_path):
    import av

    src = sample_clip
    stats = run_file(src, tmp_path / "out.y4m", build_settings(stages="none"), max_frames=5)
    assert stats.extra["frames_as"] == "I420"
    with av.open(str(src)) as c:
        first = next(c.decode(video=0))
        y = first.to_ndarray()[: first.height]  # yuv420p as (H*3/2, W): its Y rows
    assert np.array_equal(frames_of(tmp_path / "out.y4m")[0][0], y)
    out = tmp_path / "out.mp4"
    assert run_file(src, out, build_settings(stages="sharpen"), max_frames=5).extra["frames_as"] == "I420"
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 5


def test_y4m_writer_refuses_i420_frames_in_another_matrix(tmp_path):
    from fractions import Fraction

    from kernels.colorspace import YuvFormat
    from kernels.planes import i420_shape
    from realtime.sinks.writers import OutputOptions, open_writer
    from realtime.sources.files import SourceInfo

    info = SourceInfo("in.y4m", 16, 8, Fraction(25), None, YuvFormat("bt601", False))
    writer = open_writer(tmp_path / "up.y4m", info, (32, 720), OutputOptions())  # HD height: BT.709
    with pytest.raises(ValueError, match="re-express"):
        writer.write(np.zeros(i420_shape(720, 32), np.uint8), 0.0)
    writer.close()


def test_a_full_range_frame_repacked_to_i420_keeps_its_levels():
    """A 4:2:2 "j" frame without a range tag (swscale reads it as video range) stays full range in I420."""
    import av

    from kernels.planes import i420_planes, i420_shape
    from realtime.sources.files import AvFrameConverter

    frame = av.VideoFrame(64, 32, "yuvj422p")
    levels = np.resize(np.arange(0, 256, 4, dtype=np.uint8), 64)
    for k, plane in enumerate(frame.planes):
        rows = np.full((plane.height, plane.line_size), 128, np.uint8)
        if k == 0:
            rows[:, :64] = levels
        plane.update(rows.tobytes())
    out = np.empty(i420_shape(32, 64), np.uint8)
    AvFrameConverter("bt601").to_i420(frame, out)
    np.testing.assert_array_equal(i420_planes(out)[0], np.broadcast_to(levels, (32, 64)))  # 0..252, not 16..232
