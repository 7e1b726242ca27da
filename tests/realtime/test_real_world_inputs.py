"""Files as people have them: phone rotation, odd frame sizes, 10-bit and HDR inputs.

Every sample is made here with PyAV (FFmpeg), tiny and a few frames long, then run through the
CLI as a user would.
"""
from __future__ import annotations

import av
import numpy as np
import pytest

from kernels.colorspace import YuvFormat
from realtime.sinks.avencode import _encoded_size
from realtime.sources.files import open_source

from conftest import run_vqe

#: Stored frames carry a bright block in their top-left quarter: where it lands shows the turn.
DARK, BRIGHT = 40, 230


def marked_frame(width: int, height: int) -> np.ndarray:
    """An RGB frame, dark but for a bright block in its top-left corner."""
    image = np.full((height, width, 3), DARK, np.uint8)
    image[: height // 4, : width // 4] = BRIGHT
    return image


def make_clip(path, width: int, height: int, *, codec: str = "libx264", pix_fmt: str = "yuv420p",
              turn_ccw: float | None = None, hflip: bool = False, colour: dict[str, int] | None = None,
              frames: int = 3):
    """Encode ``frames`` marked frames; ``turn_ccw`` sets a display matrix as phones do.

    PyAV's angle is counter-clockwise: a phone's ``rotate=90`` (turn 90 degrees clockwise to
    show) is ``turn_ccw=-90``.  ``colour`` sets codec-context tags (colorspace, color_trc...).
    """
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if turn_ccw is not None:
            stream.set_display_rotation(turn_ccw, hflip=hflip)
        for name, code in (colour or {}).items():
            setattr(stream.codec_context, name, code)
        frame = av.VideoFrame.from_ndarray(marked_frame(width, height), format="rgb24").reformat(format=pix_fmt)
        for _ in range(frames):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def first_frame(path):
    """The first decoded frame and the stream's codec context, as a player's decoder sees them."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frame = next(c.decode(stream))
        return frame, stream.codec_context


def luma(frame) -> np.ndarray:
    plane = frame.planes[0]
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]


def bright_corner(frame) -> str:
    """Which corner of the picture the bright block is in."""
    y = luma(frame)
    rows, cols = np.nonzero(y > (DARK + BRIGHT) // 2)
    assert rows.size, "no bright block found"
    height, width = y.shape
    vertical = "top" if rows.mean() < height / 2 else "bottom"
    return vertical + "-" + ("left" if cols.mean() < width / 2 else "right")


def display_matrix(frame):
    return frame.side_data.get(av.sidedata.sidedata.Type.DISPLAYMATRIX)


# --- rotation ------------------------------------------------------------------------------

@pytest.mark.parametrize("turn_ccw, clockwise, size, corner, pix_fmt", [
    (-90, 90, (48, 64), "top-right", "yuv420p"),    # a phone's rotate=90; frames stay I420
    (-90, 90, (48, 64), "top-right", "yuv444p"),    # frames as BGR
    (90, 270, (48, 64), "bottom-left", "yuv420p"),
    (180, 180, (64, 48), "bottom-right", "yuv420p"),
])
def test_display_rotation_is_applied_to_the_frames(tmp_path, turn_ccw, clockwise, size, corner, pix_fmt):
    src = make_clip(tmp_path / "phone.mp4", 64, 48, pix_fmt=pix_fmt, turn_ccw=turn_ccw)
    source = open_source(src)
    try:
        assert (source.info.width, source.info.height, source.info.rotation) == (*size, clockwise)
    finally:
        source.close()
    out = tmp_path / "out.mp4"
    r = run_vqe("--file", src, "-o", out, "--no-display", "--stages", "none")
    assert r.returncode == 0, r.stderr
    assert "display rotation applied" in r.stderr
    frame, _ = first_frame(out)
    assert (frame.width, frame.height) == size
    assert bright_corner(frame) == corner
    assert display_matrix(frame) is None  # upright pixels: no player turns them again


def test_mirroring_display_matrix_is_not_applied_and_said(tmp_path):
    src = make_clip(tmp_path / "mirrored.mp4", 64, 48, turn_ccw=-90, hflip=True)
    out = tmp_path / "out.mp4"
    r = run_vqe("--file", src, "-o", out, "--no-display", "--stages", "none")
    assert r.returncode == 0, r.stderr
    assert "mirrors the picture; not applied" in r.stderr
    frame, _ = first_frame(out)
    assert (frame.width, frame.height) == (64, 48) and bright_corner(frame) == "top-left"


# --- odd sizes -----------------------------------------------------------------------------

@pytest.fixture
def odd_clip(tmp_path):
    """853x479 (odd sizes are common: 853x480 is 16:9 480p), in FFV1, which stores them."""
    return make_clip(tmp_path / "odd.mkv", 853, 479, codec="ffv1", frames=2)


def test_odd_size_is_cropped_only_where_the_codec_needs_it(odd_clip, tmp_path):
    """H.264 4:2:0 loses the right column and bottom row (said in the log); FFV1 and .y4m keep all.

    The kept sizes worked before too: they guard the crop from spreading to formats without the limit.
    """
    stored = luma(first_frame(odd_clip)[0]).astype(float)
    for name, extra, size in [("out.mp4", (), (852, 478)), ("out.mkv", ("--codec", "ffv1"), (853, 479)),
                              ("out.y4m", (), (853, 479))]:
        out = tmp_path / name
        r = run_vqe("--file", odd_clip, "-o", out, "--no-display", "--stages", "none", *extra)
        assert r.returncode == 0, r.stderr
        assert ("853x479 cropped to 852x478" in r.stderr) == (size == (852, 478)), r.stderr
        frame, _ = first_frame(out)
        assert (frame.width, frame.height) == size
        # Cropped, not scaled: every kept pixel is where it was.
        assert np.abs(luma(frame) - stored[: size[1], : size[0]]).mean() < 2


@pytest.mark.parametrize("codec, sub, size, encoded", [
    ("h264", (2, 2), (853, 479), (852, 478)),
    ("hevc", (2, 1), (853, 479), (852, 479)),   # 4:2:2: only the width must be even
    ("h264", (1, 1), (853, 479), (853, 479)),   # 4:4:4 takes any size
    ("h264", (2, 2), (960, 540), (960, 540)),
    ("ffv1", (2, 2), (853, 479), (853, 479)),
    ("vp9", (2, 2), (853, 479), (853, 479)),
    ("mpeg4", (2, 2), (853, 479), (853, 479)),
])
def test_encoded_size(codec, sub, size, encoded):
    assert _encoded_size(codec, YuvFormat("bt709", False, 8, *sub), *size) == encoded


# --- 10-bit and HDR ------------------------------------------------------------------------

BT2020 = {"colorspace": 9, "color_primaries": 9}


@pytest.mark.parametrize("name, extra, could", [("out.mp4", (), "H.264 High 10"),
                                                ("out.mkv", ("--codec", "ffv1"), "FFV1")])
def test_10_bit_input_is_said_and_its_colour_tags_kept(tmp_path, name, extra, could):
    src = make_clip(tmp_path / "ten.mp4", 64, 48, codec="libx265", pix_fmt="yuv420p10le",
                    colour={**BT2020, "color_trc": 14, "color_range": 1})
    out = tmp_path / name
    r = run_vqe("--file", src, "-o", out, "--no-display", "--stages", "none", *extra)
    assert r.returncode == 0, r.stderr
    notice = [line for line in r.stderr.splitlines() if "input is 10-bit" in line]
    assert len(notice) == 1 and "output is 8-bit" in notice[0] and could in notice[0]
    frame, ctx = first_frame(out)
    assert ctx.pix_fmt == "yuv420p"  # 8-bit, as said
    assert (ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range) == (9, 9, 14, 1)
    assert bright_corner(frame) == "top-left"


@pytest.mark.parametrize("trc, name", [(16, "PQ"), (18, "HLG")])
def test_hdr_input_stays_hdr_tagged(tmp_path, trc, name):
    src = make_clip(tmp_path / "hdr.mp4", 64, 48, codec="libx265", pix_fmt="yuv420p10le",
                    colour={**BT2020, "color_trc": trc})
    out = tmp_path / "out.mp4"
    r = run_vqe("--file", src, "-o", out, "--no-display", "--stages", "none")
    assert r.returncode == 0, r.stderr
    notice = [line for line in r.stderr.splitlines() if "input is HDR" in line]
    assert len(notice) == 1 and name in notice[0] and "8-bit HDR" in notice[0]
    _, ctx = first_frame(out)
    assert (ctx.colorspace, ctx.color_primaries, ctx.color_trc) == (9, 9, trc)


def test_hdr_input_to_untagged_y4m_is_never_silently_sdr(tmp_path):
    src = make_clip(tmp_path / "hdr.mp4", 64, 48, codec="libx265", pix_fmt="yuv420p10le",
                    colour={**BT2020, "color_trc": 16})
    r = run_vqe("--file", src, "-o", tmp_path / "out.y4m", "--no-display", "--stages", "none")
    assert r.returncode == 0, r.stderr
    assert "cannot carry its transfer and primaries tags" in r.stderr
