"""The .cube parser: a Resolve-style file, and every malformed file names its file and line."""
import numpy as np
import pytest

from kernels.backend import CPU
from realtime import Pipeline, build_settings
from realtime.errors import ConfigError
from realtime.stages.color import ColorParams, ColorStage
from realtime.stages.cube import load_cube, parse_cube


def cube_text(size=3, fn=lambda r, g, b: (r, g, b), header=None, rows_fmt="{:.6f} {:.6f} {:.6f}"):
    """A .cube file as DaVinci Resolve writes one: comment, title, size, domain, blank line, rows (red fastest)."""
    lines = header if header is not None else [
        "# Created by: DaVinci Resolve", 'TITLE "Test grade"', f"LUT_3D_SIZE {size}",
        "DOMAIN_MIN 0.0 0.0 0.0", "DOMAIN_MAX 1.0 1.0 1.0", ""]
    grid = np.linspace(0.0, 1.0, size)
    rows = [rows_fmt.format(*fn(r, g, b)) for b in grid for g in grid for r in grid]
    return "\n".join(lines + rows) + "\n"


def test_resolve_style_file_parses(tmp_path):
    path = tmp_path / "grade.cube"
    path.write_text(cube_text(3, lambda r, g, b: (r * 0.9, g, min(b * 1.1, 1.0))))
    cube = load_cube(path)
    assert (cube.size, cube.title, cube.path) == (3, "Test grade", path)
    # [b, g, r] indexing, values in file order (r, g, b): the node r=1, g=0, b=0.5.
    assert np.allclose(cube.table[1, 0, 2], (0.9, 0.0, 0.55))
    table = cube.kernel_table()
    assert table.shape == (3, 3, 3, 3) and table.dtype == np.float32 and table.flags.c_contiguous
    assert np.allclose(table[1, 0, 2], (0.55 * 255, 0.0, 0.9 * 255))  # BGR, levels
    assert np.allclose(cube.kernel_coefficients(), [[2 / 255] * 3, [0, 0, 0]])


def test_domain_and_input_range_and_unknown_keywords():
    text = cube_text(2, header=["LUT_3D_SIZE 2", "LUT_3D_INPUT_RANGE 0.0 2.0", "LUT_IN_VIDEO_RANGE"])
    cube = parse_cube(text, "x.cube")
    assert cube.domain_max == (2.0, 2.0, 2.0)
    assert np.allclose(cube.kernel_coefficients()[0], 1 / (2 * 255))


@pytest.mark.parametrize("text, line, message", [
    (cube_text(2, header=["LUT_3D_SIZE two"]), 1, "not an integer"),
    (cube_text(2, header=["LUT_3D_SIZE 2 2"]), 1, "one integer"),
    (cube_text(2, header=["LUT_3D_SIZE 0"]), 1, "out of range"),
    (cube_text(2, header=["LUT_3D_SIZE 257"]), 1, "out of range"),
    (cube_text(2, header=["TITLE x", "LUT_3D_SIZE 3"]), 10, "only 8 table rows"),
    (cube_text(3, header=["LUT_3D_SIZE 2"]), 10, "more rows"),
    (cube_text(2, header=["LUT_3D_SIZE 2"], rows_fmt="{:.3f} {:.3f} abc"), 2, "not numeric"),
    (cube_text(2, header=["LUT_3D_SIZE 2"], rows_fmt="{:.3f} {:.3f}"), 2, "needs 3 numbers"),
    (cube_text(2, header=["LUT_3D_SIZE 2"], rows_fmt="{:.3f} {:.3f} nan"), 2, "not finite"),
    (cube_text(2, header=[]), 1, "before LUT_3D_SIZE"),
    (cube_text(2, header=["LUT_1D_SIZE 2"]), 1, "1D LUTs"),
    (cube_text(2, header=["LUT_3D_SIZE 2", "DOMAIN_MAX 1 0 1"]), 2, "must exceed"),
    (cube_text(2, header=["LUT_3D_SIZE 2", "LUT_3D_SIZE 2"]), 2, "second LUT_3D_SIZE"),
], ids=["size-word", "size-two-values", "size-0", "size-257", "missing-rows", "extra-rows", "non-numeric",
        "short-row", "nan", "no-size", "1d", "bad-domain", "two-sizes"])
def test_malformed_files_name_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.cube"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_cube(path)
    assert f"{path}:{line}:" in str(err.value)


def test_keyword_after_rows_and_empty_file(tmp_path):
    with pytest.raises(ConfigError, match=r"late.cube:10: keyword TITLE after"):
        parse_cube(cube_text(2, header=["LUT_3D_SIZE 2"]) + "TITLE late\n", "late.cube")
    with pytest.raises(ConfigError, match="empty.cube: no LUT_3D_SIZE"):
        parse_cube("# nothing\n", "empty.cube")


def test_missing_path_directory_and_binary(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.cube does not exist"):
        load_cube(tmp_path / "nope.cube")
    with pytest.raises(ConfigError, match="is a directory"):
        load_cube(tmp_path)
    binary = tmp_path / "bin.cube"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(ConfigError, match="bin.cube"):
        load_cube(binary)


def test_lut_is_validated_when_the_stage_is_built(tmp_path):
    bad = tmp_path / "bad.cube"
    bad.write_text("LUT_3D_SIZE 2\n0 0 0\n")
    with pytest.raises(ConfigError, match=r"bad.cube:2: only 1 table rows"):
        ColorStage(ColorParams(lut=str(bad)), CPU)
    settings = build_settings(stages="color", overrides=(f"color.lut={tmp_path / 'missing.cube'}",), backend="cpu")
    with pytest.raises(ConfigError, match="missing.cube does not exist: check color.lut"):
        Pipeline(settings)


def test_stage_applies_a_lut_file(tmp_path):
    path = tmp_path / "invert.cube"
    path.write_text(cube_text(2, lambda r, g, b: (1 - r, 1 - g, 1 - b)))
    stage = ColorStage(ColorParams(lut=str(path), white_balance="off"), CPU)
    img = np.random.default_rng(0).integers(0, 256, (9, 11, 3)).astype(np.uint8)
    assert np.abs(stage.apply(img).astype(int) - (255 - img.astype(int))).max() <= 1
