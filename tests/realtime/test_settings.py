"""Presets, config files and --set overrides: valid values pass, bad ones name the fix."""
import pytest

from realtime.errors import ConfigError
from realtime.settings import PRESETS, build_settings, parse_stage_list


def test_presets_build_and_default_is_balanced():
    for name in PRESETS:
        s = build_settings(preset=name)
        assert s.preset == name and s.stages
    assert build_settings().preset == "balanced"


def test_set_overrides_preset_and_config(tmp_path):
    cfg = tmp_path / "vqe.toml"
    cfg.write_text('preset = "fast"\nstages = ["color"]\nbackend = "cpu"\n[color]\ngamma = 1.3\nsaturation = 0.5\n')
    s = build_settings(config=cfg, overrides=("color.gamma=2.0",))
    assert s.preset == "fast" and s.backend == "cpu" and s.stages == ("color",)
    assert s.params["color"].gamma == 2.0 and s.params["color"].saturation == 0.5


@pytest.mark.parametrize("override, words", [
    ("color.gamma=banana", ["color.gamma", "not a number", "[0.1, 10.0]"]),
    ("color.gamma=50", ["color.gamma", "out of range", "[0.1, 10.0]"]),
    ("color.gamma=nan", ["color.gamma", "out of range"]),
    ("color.vibrance=2", ["unknown parameter color.vibrance", "saturation"]),
    ("blur.radius=2", ["unknown stage 'blur'"]),
    ("color.gamma", ["stage.param=value"]),
])
def test_bad_overrides_name_the_problem(override, words):
    with pytest.raises(ConfigError) as err:
        build_settings(overrides=(override,))
    assert all(w in str(err.value) for w in words), str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_names():
    with pytest.raises(ConfigError, match="unknown preset 'turbo'.*fast"):
        build_settings(preset="turbo")
    with pytest.raises(ConfigError, match="unknown stage 'blur'"):
        parse_stage_list("color,blur")
    with pytest.raises(ConfigError, match="named twice"):
        parse_stage_list("color,color")
    with pytest.raises(ConfigError, match="unknown backend"):
        build_settings(backend="tpu")
    assert parse_stage_list("none") == ()


@pytest.mark.parametrize("text, words", [
    ("[color\n", "not valid TOML"),
    ("speed = 3\n", "unknown key 'speed'"),
    ("color = 3\n", "must be a table"),
    ('stages = "color"\n', "list of stage names"),
    ("[color]\ngamma = true\n", "not a number"),
])
def test_bad_config_files(tmp_path, text, words):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=words):
        build_settings(config=cfg)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        build_settings(config=tmp_path / "nope.toml")
