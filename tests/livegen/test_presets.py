"""Presets: livegen/presets.py."""

from __future__ import annotations

import dataclasses

import platformdirs
import pytest
import yaml

from livegen.errors import PresetError
from livegen.presets import (
    FIELD_SECTION,
    KEYS,
    MAX_PRESET_BYTES,
    PRESETS_ENV,
    SECTIONS,
    TOP_KEYS,
    Preset,
    list_presets,
    load_preset,
    packaged_preset_dirs,
    preset_dirs,
    user_preset_dir,
)
from livegen.sections import (
    AnswerConfig,
    ControlConfig,
    SamplingConfig,
    StyleConfig,
    TimingConfig,
    TriggerConfig,
)
from livegen.userpresets import copy_preset, key_docs, preset_entries

PACKAGED = ("romantic", "baroque", "classical", "modern", "folk")


def test_the_packaged_presets_are_found():
    assert set(PACKAGED) <= set(list_presets())


@pytest.mark.parametrize("name", sorted(list_presets()))
def test_every_packaged_preset_loads(name):
    preset = load_preset(name)
    assert preset.name == name
    assert preset.description and "\n" not in preset.description
    assert preset.sampling.pitch_low <= preset.sampling.pitch_high
    assert Preset.from_dict(preset.to_dict()) == preset


def test_load_by_path_equals_load_by_name():
    path = list_presets()["romantic"]
    assert load_preset(path) == load_preset("romantic")
    assert load_preset(str(path)) == load_preset("romantic")


def test_from_dict_to_dict_round_trip():
    preset = Preset.from_dict({"name": "mine", "temperature": 1, "silence_s": 2,
                               "pitch_low": 40, "pitch_high": 80, "channel": 3})
    assert preset.sampling.temperature == 1.0 and isinstance(preset.sampling.temperature, float)
    data = preset.to_dict()
    assert set(data) == set(KEYS) and len(KEYS) == 55  # every YAML key, flat
    assert Preset.from_dict(data) == preset


def test_presets_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_preset("romantic").sampling.temperature = 2.0  # type: ignore[misc]


def test_replace_validates():
    preset = load_preset("romantic")
    assert preset.replace(temperature=1.2).sampling.temperature == 1.2
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


def test_an_explicit_empty_mapping_gives_the_defaults(tmp_path):
    preset = load_preset(_write(tmp_path, "{}\n"))  # an empty file is an error (below)
    assert preset == Preset(name="mine")


def test_user_directory_comes_first(tmp_path, monkeypatch):
    _write(tmp_path, "description: my own romantic\n", name="romantic.yaml")
    monkeypatch.setenv("LIVEGEN_PRESETS", str(tmp_path))
    assert load_preset("romantic").description == "my own romantic"


def test_preset_error_is_a_value_error():
    assert issubclass(PresetError, ValueError)


# -- DAW sync, triggers and live control keys -----------------------------------------------


def test_new_keys_default_to_todays_behaviour():
    preset = Preset(name="mine")
    assert (
        preset.timing.clock,
        preset.triggering.trigger,
        preset.timing.quantize_start,
        preset.timing.quantize,
    ) == ("none", "silence", "off", "off")
    assert preset.timing.response_bars == 0 and not preset.triggering.silence_adaptive
    assert preset.controls.cc_map == () and preset.controls.program_map == ()
    assert load_preset("romantic").timing.clock == "none"


def test_yaml_off_means_off(tmp_path):
    preset = load_preset(_write(tmp_path, "clock: off\nquantize_start: off\nquantize: off\n"
                                          "register_window: off\n"))
    assert (preset.timing.clock, preset.timing.quantize_start, preset.timing.quantize) == (
        "none",
        "off",
        "off",
    )
    assert preset.sampling.register_window == 0


def test_sync_and_control_keys_load_and_round_trip(tmp_path):
    path = _write(tmp_path, "\n".join([
        "clock: midi", "beats_per_bar: 3", "quantize_start: bar", "quantize: 1/16",
        "quantize_strength: 1", "swing: 0.25", "response_bars: 2", "trigger: bars",
        "trigger_bars: 4", "silence_adaptive: true", "silence_min_s: 0.2", "silence_max_s: 1",
        "cc_map: {23: enabled, 21: temperature}", "program_map: {1: baroque, 0: romantic}", ""]))
    preset = load_preset(path)
    assert preset.timing.quantize == "1/16" and preset.timing.quantize_strength == 1.0
    assert isinstance(preset.triggering.silence_max_s, float)
    assert preset.controls.cc_map == ((21, "temperature"), (23, "enabled"))
    assert preset.controls.program_map == ((0, "romantic"), (1, "baroque"))
    data = preset.to_dict()
    assert data["cc_map"] == {21: "temperature", 23: "enabled"}
    assert Preset.from_dict(data) == preset
    again = load_preset(_write(tmp_path, yaml.safe_dump(data), name="again.yaml"))
    assert again == preset  # the name travels in the data
    assert hash(preset) == hash(Preset.from_dict(data))  # frozen and hashable, maps and all
    assert preset.replace(cc_map={22: "response_length"}).controls.cc_map == ((22, "response_length"),)


@pytest.mark.parametrize(("key", "value", "shown"), [
    ("clock", "daw", "'daw'"),
    ("beats_per_bar", "0", "0"),
    ("quantize_start", "downbeat", "'downbeat'"),
    ("quantize", "1/5", "'1/5'"),
    ("quantize", "16", "16"),
    ("quantize_strength", "1.5", "1.5"),
    ("swing", "0.7", "0.7"),
    ("response_bars", "-1", "-1"),
    ("trigger_bars", "0", "0"),
    ("trigger_cc", "64", "64"),
    ("trigger_cc", "123", "123"),
    ("trigger_note", "128", "128"),
    ("silence_adaptive", "1", "1"),
    ("silence_min_s", "0", "0.0"),
    ("silence_max_s", "0.1", "0.1"),
    ("trigger", "bars", "'bars'"),
    ("cc_map", "{21: tempo}", "{21: 'tempo'}"),
    ("cc_map", "{64: temperature}", "{64: 'temperature'}"),
    ("cc_map", "[21, 22]", "[21, 22]"),
    ("cc_map", "temperature", "'temperature'"),
    ("program_map", "{128: romantic}", "{128: 'romantic'}"),
    ("program_map", "{1: ''}", "{1: ''}"),
    ("program_map", "{1: 2}", "{1: 2}"),
])
def test_bad_sync_and_control_values_name_file_key_and_value(tmp_path, key, value, shown):
    path = _write(tmp_path, f"{key}: {value}\n")
    with pytest.raises(PresetError) as info:
        load_preset(path)
    message = str(info.value)
    assert str(path) in message and key in message and f"received {shown}" in message


def test_footswitch_cc_cannot_also_be_a_mapped_control():
    with pytest.raises(PresetError, match="cc_map"):
        Preset(name="x").replace(trigger="cc", trigger_cc=21, cc_map={21: "enabled"})
    assert Preset(name="x").replace(trigger="silence", trigger_cc=21, cc_map={21: "enabled"})


def test_the_jam_preset_follows_the_clock_and_maps_controls():
    preset = load_preset("jam")
    assert (
        preset.timing.clock == "midi"
        and preset.timing.quantize_start == "bar"
        and preset.timing.response_bars
    )
    names = dict(preset.controls.program_map).values()
    assert set(names) <= set(list_presets())


def test_overrides_apply_before_validation(tmp_path):
    path = _write(tmp_path, "trigger: bars\n")
    with pytest.raises(PresetError, match="bars needs clock: midi"):
        load_preset(path)
    assert load_preset(path, {"clock": "midi"}).triggering.trigger == "bars"
    with pytest.raises(PresetError, match=str(path)):
        load_preset(path, {"clock": "daw"})


def test_sampling_guards_default_off_and_load_from_yaml(tmp_path):
    preset = Preset(name="mine")
    assert preset.sampling.repetition_penalty == 0.0 and preset.sampling.key_mask == "off"
    path = _write(tmp_path, "repetition_penalty: 2\nrepetition_ngram: 3\nrepetition_window: 16\n"
                            "repetition_max: 1\nkey_mask: strict\nkey_penalty: 3\n")
    loaded = load_preset(path)
    assert (
        loaded.sampling.repetition_penalty,
        loaded.sampling.repetition_ngram,
        loaded.sampling.repetition_window,
        loaded.sampling.repetition_max,
        loaded.sampling.key_mask,
        loaded.sampling.key_penalty,
    ) == (2.0, 3, 16, 1, "strict", 3.0)
    sampling = loaded.sampling
    assert isinstance(sampling.repetition_penalty, float) and isinstance(sampling.key_penalty, float)
    assert Preset.from_dict(loaded.to_dict()) == loaded
    assert load_preset(_write(tmp_path, "key_mask: off\n", name="off.yaml")).sampling.key_mask == "off"


@pytest.mark.parametrize(("key", "value", "shown"), [
    ("repetition_penalty", "-0.5", "-0.5"),
    ("repetition_penalty", "21", "21.0"),
    ("repetition_penalty", ".inf", "inf"),
    ("repetition_penalty", "strong", "'strong'"),
    ("repetition_ngram", "1", "1"),
    ("repetition_ngram", "4.5", "4.5"),
    ("repetition_window", "3", "3"),  # shorter than the default 4-note pattern
    ("repetition_window", "513", "513"),
    ("repetition_max", "0", "0"),
    ("repetition_max", "true", "True"),
    ("key_mask", "hard", "'hard'"),
    ("key_mask", "on", "True"),  # YAML 1.1 reads a bare `on` as true
    ("key_penalty", "-1", "-1.0"),
    ("style_guidance", "-0.5", "-0.5"),
    ("style_guidance", "4.5", "4.5"),
    ("style_guidance", "lots", "'lots'"),
    ("style_contrast", "42", "42"),
    ("style_contrast", "[classical, classical]", "['classical', 'classical']"),
    ("style_contrast", "[baroque, '']", "['baroque', '']"),
    ("style_contrast", "[classical, romantic]\nstyle: romantic", "('classical', 'romantic')"),  # its own
    ("monophonic", "'yes'", "'yes'"),
    ("monophonic", "1", "1"),
    ("max_chord", "0", "0"),
    ("max_chord", "33", "33"),
    ("max_chord", "2.5", "2.5"),
])
def test_bad_sampling_guard_values_name_file_key_and_value(tmp_path, key, value, shown):
    path = _write(tmp_path, f"{key}: {value}\n")
    with pytest.raises(PresetError) as info:
        load_preset(path)
    message = str(info.value)
    assert str(path) in message and key in message and f"received {shown}" in message


@pytest.mark.parametrize("name", sorted(list_presets()))
def test_every_packaged_preset_sets_the_sampling_guards(name):
    text = list_presets()[name].read_text()
    for key in ("repetition_penalty", "repetition_max", "key_mask", "key_penalty"):
        assert f"\n{key}:" in text, f"{name}.yaml does not choose {key}"
    preset = load_preset(name)
    assert preset.sampling.repetition_penalty > 0
    assert (preset.sampling.key_mask == "off") == (
        preset.conditioning.style == "modern"
    )  # atonal: no key to keep


def test_style_contrast_reads_a_list_or_one_name_as_a_tuple(tmp_path):
    both = load_preset(_write(tmp_path, "style: romantic\nstyle_contrast: [classical, folk]\n"))
    assert both.conditioning.style_contrast == ("classical", "folk")
    one = load_preset(_write(tmp_path, "style: romantic\nstyle_contrast: classical\n", "one.yaml"))
    assert one.conditioning.style_contrast == ("classical",) and hash(one) == hash(one.replace())
    assert load_preset(_write(tmp_path, "style: folk\n", "none.yaml")).conditioning.style_contrast == ()


# -- sections (issue 12): the flat keys live in frozen sections, each checked once -----------


def test_a_misspelt_key_gets_the_nearest_known_one(tmp_path):
    path = _write(tmp_path, "top_q: 0.9\n")
    with pytest.raises(PresetError) as info:
        load_preset(path)
    message = str(info.value)
    assert message == f"{path}: unknown key 'top_q' (did you mean 'top_p'?)"


def test_an_unknown_key_far_from_any_lists_the_known_ones(tmp_path):
    with pytest.raises(PresetError) as info:
        load_preset(_write(tmp_path, "zzzzzz: 1\n"))
    assert "'zzzzzz'" in str(info.value) and "known keys:" in str(info.value)
    assert all(key in str(info.value) for key in KEYS) and "\n" not in str(info.value)


def test_every_key_belongs_to_one_section_or_the_top():
    assert set(FIELD_SECTION.values()) == set(SECTIONS)
    assert set(KEYS) == set(TOP_KEYS) | set(FIELD_SECTION)
    for section, cls in SECTIONS.items():
        assert {f.name for f in dataclasses.fields(cls)} == {
            key for key, owner in FIELD_SECTION.items() if owner == section}
        assert section not in KEYS  # replace(**keys) tells a section from a key


def test_sections_are_typed_frozen_and_default_to_the_flat_defaults():
    preset = Preset(name="d")
    for section, cls in SECTIONS.items():
        assert getattr(preset, section) == cls()
    assert preset.sampling.temperature == 0.9 and preset.triggering.trigger == "silence"
    assert preset.timing.clock == "none" and preset.answer.max_notes == 32
    assert preset.conditioning.style == "classical" and preset.controls.cc_map == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset.sampling.temperature = 2.0  # type: ignore[misc]


def test_built_from_sections_equals_built_from_flat_keys():
    flat = Preset(name="s").replace(temperature=0.7, trigger="cc", quantize="1/8", max_chord=3,
                                    style="folk", cc_map={21: "enabled"})
    sections = Preset(name="s", sampling=SamplingConfig(temperature=0.7),
                      triggering=TriggerConfig(trigger="cc"), timing=TimingConfig(quantize="1/8"),
                      answer=AnswerConfig(max_chord=3), conditioning=StyleConfig(style="folk"),
                      controls=ControlConfig(cc_map={21: "enabled"}))
    assert flat == sections and hash(flat) == hash(sections)
    assert Preset.from_dict(flat.to_dict()) == flat


def test_replace_takes_flat_keys_and_sections():
    preset = load_preset("jam")
    warmer = preset.replace(temperature=1.3)
    assert warmer.sampling == dataclasses.replace(preset.sampling, temperature=1.3)
    assert warmer.timing is preset.timing  # untouched sections are shared
    swapped = preset.replace(sampling=SamplingConfig(top_p=0.5), temperature=0.4)
    assert (swapped.sampling.top_p, swapped.sampling.temperature) == (0.5, 0.4)  # the flat key wins


def test_replace_rejects_an_unknown_key():
    with pytest.raises(PresetError, match="preset 'romantic': unknown key 'temprature' "
                                          r"\(did you mean 'temperature'\?\)"):
        load_preset("romantic").replace(temprature=1.0)


def test_constructor_rejects_an_unknown_keyword():
    with pytest.raises(TypeError, match="unexpected keyword argument 'temprature'"):
        Preset(name="x", temprature=1.0)


@pytest.mark.parametrize(("changes", "message"), [
    ({"sampling": {"temperature": 1.0}}, "sampling must be a SamplingConfig (received {"),
    ({"timing": TriggerConfig()}, "timing must be a TimingConfig"),
    ({"name": ""}, "name must be a non-empty string (received '')"),
    ({"description": 3}, "description must be a string (received 3)"),
    ({"channel": 16}, "channel must be an integer 0-15 (received 16)"),
    ({"context_notes": 0}, "context_notes must be an integer 1-512 (received 0)"),
    ({"model": "models/bach"}, "model must be a packaged model's name (no path) or a path to an .onnx file"),
    ({"model": 3}, "model must be a packaged model's name"),
    ({"trigger": "bars"}, "trigger: bars needs clock: midi (received 'bars' with clock 'none')"),
    ({"trigger": "cc", "trigger_cc": 21, "cc_map": {21: "enabled"}},
     "cc_map must not map 21, the footswitch of trigger: cc (received {21: 'enabled'})"),
])
def test_each_preset_level_check_names_the_key_and_the_value(changes, message):
    with pytest.raises(PresetError) as info:
        Preset(name="p").replace(**changes)
    assert message in str(info.value)


def test_a_section_error_names_the_preset():
    with pytest.raises(PresetError, match=r"^preset 'p': swing must be in \[0, 0.5\] \(received 0.7\)$"):
        Preset(name="p").replace(swing=0.7)


def test_value_reads_a_flat_key_from_its_section():
    preset = load_preset("jam")
    assert preset.value("temperature") == preset.sampling.temperature
    assert preset.value("name") == "jam" and preset.value("clock") == "midi"
    with pytest.raises(PresetError, match="did you mean 'top_p'"):
        preset.value("top_q")


def test_an_empty_preset_file_is_an_error_not_all_defaults(tmp_path):
    for text in ("", "# only a comment\n"):
        with pytest.raises(PresetError, match="the preset file is empty"):
            load_preset(_write(tmp_path, text, "empty.yaml"))


def test_yaml_aliases_are_refused_before_they_expand(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))
    with pytest.raises(PresetError, match=r"line 2: YAML aliases \(\*name\) are not allowed") as info:
        load_preset(_write(tmp_path, bomb + "cc_map: *i\n", "bomb.yaml"))
    assert len(str(info.value)) < 200  # one short line, not the expansion


def test_a_preset_file_has_a_size_limit(tmp_path):
    path = _write(tmp_path, "description: " + "x" * (MAX_PRESET_BYTES + 10) + "\n", "huge.yaml")
    with pytest.raises(PresetError, match="at most 64 KiB"):
        load_preset(path)


def test_yaml_nested_too_deep_is_a_preset_error(tmp_path):
    # issue 15 fuzz corpus: 5,000 nested lists made PyYAML raise RecursionError (a traceback)
    path = tmp_path / "deep.yaml"
    path.write_text("style: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(PresetError, match="nested too deep"):
        load_preset(path)


# -- user presets where the OS keeps them (issue 16) -----------------------------------------


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """An empty user preset folder of the test's own ($LIVEGEN_PRESETS); it does not exist yet."""
    folder = tmp_path / "config" / "presets"
    monkeypatch.setenv(PRESETS_ENV, str(folder))
    return folder


def test_the_user_folder_is_the_os_config_folder_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv(PRESETS_ENV, raising=False)
    assert user_preset_dir() == platformdirs.user_config_path("livegen") / "presets"
    monkeypatch.setenv(PRESETS_ENV, str(tmp_path))
    assert user_preset_dir() == tmp_path


def test_a_missing_user_folder_leaves_the_packaged_presets(user_dir):
    assert not user_dir.exists()
    assert preset_dirs() == packaged_preset_dirs()
    assert load_preset("romantic").name == "romantic"


def test_a_preset_name_typo_gets_did_you_mean(user_dir):
    with pytest.raises(PresetError, match=r"unknown preset 'romantc' \(did you mean 'romantic'\?"):
        load_preset("romantc")
    with pytest.raises(PresetError, match="unknown preset 'zzzz' \\(known presets: baroque"):
        load_preset("zzzz")


@pytest.mark.parametrize("name", sorted(list_presets()))
def test_a_commented_copy_loads_as_its_source(user_dir, name):
    path = copy_preset(name, "mine")
    assert path == user_dir / "mine.yaml"
    assert load_preset("mine") == load_preset(name).replace(name="mine")


def test_a_commented_copy_says_what_every_key_means(user_dir):
    lines = copy_preset("jam", "mine").read_text().splitlines()
    written = [line.split(":")[0] for line in lines if line and not line.startswith("#")]
    assert written == list(KEYS)  # every key, once, in order
    for key in KEYS:
        at = lines.index(next(line for line in lines if line.startswith(f"{key}:")))
        comment = lines[at - 1] if not lines[at - 1].startswith("#   ") else next(
            line for line in reversed(lines[:at]) if not line.startswith("#   "))
        assert comment.startswith(f"# {key}: ") and len(comment) > len(key) + 8, (key, comment)
    docs = key_docs()
    assert "0-4" in docs["style_guidance"] and "in (0, 5]" in docs["temperature"]  # ranges
    assert "``" not in " ".join(docs.values()) and ":data:" not in " ".join(docs.values())


def test_copy_refuses_to_overwrite_without_force(user_dir):
    path = copy_preset("romantic", "mine")
    path.write_text("temperature: 1.5\n")
    with pytest.raises(PresetError, match="mine.yaml exists: pass --force"):
        copy_preset("baroque", "mine")
    assert load_preset("mine").sampling.temperature == 1.5  # untouched
    copy_preset("baroque", "mine", force=True)
    assert load_preset("mine") == load_preset("baroque").replace(name="mine")


@pytest.mark.parametrize("bad", ["", "../mine", "a/b", ".hidden", "my preset"])
def test_a_copy_name_must_be_a_plain_name(user_dir, bad):
    with pytest.raises(PresetError, match="a preset name is letters"):
        copy_preset("romantic", bad)


def test_a_user_preset_shadows_the_packaged_one_and_the_listing_says_so(user_dir):
    copy_preset("baroque", "romantic")
    assert load_preset("romantic").conditioning.style == "baroque"
    entries = {(e.name, e.user): e for e in preset_entries()}
    assert entries["romantic", True].path == user_dir / "romantic.yaml"
    assert entries["romantic", False].shadowed and not entries["baroque", False].shadowed


def test_livegen_presets_lists_both_kinds_with_paths(user_dir, capsys):
    from livegen import cli

    assert cli.main(["presets", "--copy", "romantic", "mine"]) == 0
    assert str(user_dir / "mine.yaml") in capsys.readouterr().out
    assert cli.main(["presets", "--copy", "romantic", "mine"]) == 2
    assert "pass --force" in capsys.readouterr().err
    (user_dir / "broken.yaml").write_text("temprature: 1\n")
    assert cli.main(["presets"]) == 0
    out = capsys.readouterr().out
    mine = next(line for line in out.splitlines() if line.split()[:1] == ["mine"])
    assert mine.endswith(str(user_dir / "mine.yaml"))
    assert "did you mean 'temperature'" in out  # a broken user preset is listed, not a crash
    for path in list_presets().values():
        if path.parent != user_dir:
            assert str(path) in out


# -- panic_cc ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [("", None), ("panic_cc: off\n", None),
                                                ("panic_cc: 0\n", 0), ("panic_cc: 119\n", 119)])
def test_panic_cc_is_off_or_a_controller(tmp_path, text, expected):
    assert load_preset(_write(tmp_path, text or "{}\n")).controls.panic_cc == expected


@pytest.mark.parametrize(("changes", "message"), [
    ({"panic_cc": 64}, "panic_cc must be off or a controller 0-119 other than 64 (received 64)"),
    ({"panic_cc": 123}, "(received 123)"),
    ({"panic_cc": True}, "(received True)"),
    ({"panic_cc": 21, "cc_map": {21: "follow"}}, "panic_cc 21 is also a live control"),
    ({"panic_cc": 67, "trigger": "cc"}, "panic_cc 67 is also a live control or the footswitch"),
])
def test_a_bad_panic_cc_is_refused(changes, message):
    with pytest.raises(PresetError) as info:
        Preset(name="p").replace(**changes)
    assert message in str(info.value)


def test_a_preset_files_model_path_is_read_next_to_the_file(tmp_path):
    path = _write(tmp_path, "style: baroque\nmodel: mine.onnx\n")
    assert load_preset(path).model == str(tmp_path / "mine.onnx")
    absolute = f"{tmp_path}/x.onnx"
    assert load_preset(_write(tmp_path, f"model: {absolute}\n", "b.yaml")).model == absolute
    assert load_preset(_write(tmp_path, "model: baroque\n", "c.yaml")).model == "baroque"  # a packaged name
