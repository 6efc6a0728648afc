"""Presets: livegen/presets.py."""

from __future__ import annotations

import dataclasses

import pytest

from livegen.errors import PresetError
from livegen.presets import Preset, list_presets, load_preset

PACKAGED = ("romantic", "baroque", "classical", "modern", "folk")


def test_the_packaged_presets_are_found():
    assert set(PACKAGED) <= set(list_presets())


@pytest.mark.parametrize("name", sorted(list_presets()))
def test_every_packaged_preset_loads(name):
    preset = load_preset(name)
    assert preset.name == name
    assert preset.description and "\n" not in preset.description
    assert preset.pitch_low <= preset.pitch_high
    assert Preset.from_dict(preset.to_dict()) == preset


def test_load_by_path_equals_load_by_name():
    path = list_presets()["romantic"]
    assert load_preset(path) == load_preset("romantic")
    assert load_preset(str(path)) == load_preset("romantic")


def test_from_dict_to_dict_round_trip():
    preset = Preset.from_dict({"name": "mine", "temperature": 1, "silence_s": 2,
                               "pitch_low": 40, "pitch_high": 80, "channel": 3})
    assert preset.temperature == 1.0 and isinstance(preset.temperature, float)
    data = preset.to_dict()
    assert set(data) == {f.name for f in dataclasses.fields(Preset)}
    assert Preset.from_dict(data) == preset


def test_presets_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_preset("romantic").temperature = 2.0  # type: ignore[misc]


def test_replace_validates():
    preset = load_preset("romantic")
    assert preset.replace(temperature=1.2).temperature == 1.2
    with pytest.raises(PresetError, match="temperature"):
        preset.replace(temperature=-1.0)


def _write(tmp_path, text, name="mine.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unknown_key_names_file_and_key(tmp_path):
    path = _write(tmp_path, "temprature: 0.9\n")
    with pytest.raises(PresetError) as info:
        load_preset(path)
    assert str(path) in str(info.value) and "'temprature'" in str(info.value)
    assert "temperature" in str(info.value)  # the known keys are listed


@pytest.mark.parametrize(("key", "value", "shown"), [
    ("temperature", "0", "0.0"),
    ("top_p", "1.5", "1.5"),
    ("channel", "16", "16"),
    ("pitch_high", "200", "200"),
    ("silence_s", "fast", "'fast'"),
    ("context_notes", "2.5", "2.5"),
    ("trigger", "clock", "'clock'"),
    ("max_notes", "true", "True"),
])
def test_bad_value_names_file_key_and_value(tmp_path, key, value, shown):
    path = _write(tmp_path, f"{key}: {value}\n")
    with pytest.raises(PresetError) as info:
        load_preset(path)
    message = str(info.value)
    assert str(path) in message and key in message and f"received {shown}" in message


def test_pitch_range_must_be_ordered(tmp_path):
    path = _write(tmp_path, "pitch_low: 80\npitch_high: 60\n")
    with pytest.raises(PresetError, match="pitch_high.*received 60"):
        load_preset(path)


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = _write(tmp_path, "temperature: 0.9\nstyle: [romantic\n")
    with pytest.raises(PresetError) as info:
        load_preset(path)
    assert str(path) in str(info.value) and "malformed YAML" in str(info.value)
    assert "line" in str(info.value)


def test_not_a_mapping(tmp_path):
    path = _write(tmp_path, "- romantic\n- baroque\n")
    with pytest.raises(PresetError, match="mapping.*received list"):
        load_preset(path)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(PresetError) as info:
        load_preset("romantik")
    assert "'romantik'" in str(info.value)
    assert all(name in str(info.value) for name in PACKAGED)


def test_missing_file(tmp_path):
    with pytest.raises(PresetError, match="cannot read"):
        load_preset(tmp_path / "absent.yaml")


def test_empty_file_gives_the_defaults(tmp_path):
    preset = load_preset(_write(tmp_path, ""))
    assert preset == Preset(name="mine")


def test_user_directory_comes_first(tmp_path, monkeypatch):
    _write(tmp_path, "description: my own romantic\n", name="romantic.yaml")
    monkeypatch.setenv("LIVEGEN_PRESETS", str(tmp_path))
    assert load_preset("romantic").description == "my own romantic"


def test_preset_error_is_a_value_error():
    assert issubclass(PresetError, ValueError)
