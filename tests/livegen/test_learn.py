"""MIDI learn: livegen/learn.py (the preset write, the wait for a controller)."""

from __future__ import annotations

import queue

import pytest

from livegen import cli
from livegen.errors import PresetError
from livegen.learn import (
    LEARN_TARGETS,
    Moved,
    learn_file,
    unlearnable,
    wait_for_control,
    write_control,
)
from livegen.presets import PRESETS_ENV, list_presets, load_preset
from livegen.userpresets import copy_preset


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    folder = tmp_path / "presets"
    monkeypatch.setenv(PRESETS_ENV, str(folder))
    return folder


def _comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#")]


def test_a_learnt_control_is_written_and_the_comments_stay(user_dir):
    path = copy_preset("romantic", "mine")
    before = path.read_text()
    done = write_control(path, 74, "temperature")
    after = path.read_text()
    assert done.comments_kept and _comments(after) == _comments(before)
    assert "cc_map: {74: temperature}" in after.splitlines()
    assert load_preset("mine") == load_preset("romantic").replace(name="mine", cc_map={74: "temperature"})
    assert done.preset == load_preset("mine")
    # only the cc_map line changed
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert changed == [("cc_map: {}", "cc_map: {74: temperature}")]


def test_learning_into_a_packaged_preset_copies_it_first(user_dir):
    packaged = list_presets()["baroque"]
    packaged_text = packaged.read_text()
    path, copy_from = learn_file("baroque")
    assert (path, copy_from) == (user_dir / "baroque.yaml", "baroque")
    done = write_control(path, 1, "follow", copy_from=copy_from)
    assert done.path == path and packaged.read_text() == packaged_text  # the packaged one untouched
    assert load_preset("baroque").controls.cc_map == ((1, "follow"),)  # the user's copy shadows it
    assert _comments(path.read_text())  # a commented copy
    assert learn_file("baroque") == (path, None)  # copied once; from now on, the user's file
    assert learn_file(str(path)) == (path, None)


def test_a_target_moves_to_the_new_controller_and_a_controller_takes_one_target(user_dir):
    path = copy_preset("romantic", "mine")
    write_control(path, 21, "temperature")
    write_control(path, 22, "follow")
    write_control(path, 74, "temperature")  # temperature moves from 21 to 74
    assert dict(load_preset(path).controls.cc_map) == {22: "follow", 74: "temperature"}
    write_control(path, 22, "enabled")  # 22 now switches, and follows no more
    assert dict(load_preset(path).controls.cc_map) == {22: "enabled", 74: "temperature"}


def test_panic_sets_panic_cc_and_frees_the_controller(user_dir):
    path = copy_preset("romantic", "mine")
    write_control(path, 30, "follow")
    write_control(path, 30, "panic")
    preset = load_preset(path)
    assert preset.controls.panic_cc == 30 and preset.controls.cc_map == ()
    write_control(path, 30, "temperature")
    preset = load_preset(path)
    assert preset.controls.panic_cc is None and dict(preset.controls.cc_map) == {30: "temperature"}
    assert "panic_cc: off" in path.read_text().splitlines()


def test_a_hand_written_file_keeps_its_comments_around_a_block_cc_map(user_dir):
    user_dir.mkdir()
    path = user_dir / "hand.yaml"
    path.write_text("# my preset\nstyle: folk  # a tune\ncc_map:\n  21: follow\n  # inner\n"
                    "  22: enabled\n\n# the end\ntemperature: 1.1\n")
    done = write_control(path, 74, "temperature")
    assert done.comments_kept
    text = path.read_text()
    assert text == ("# my preset\nstyle: folk  # a tune\ncc_map: {21: follow, 22: enabled, "
                    "74: temperature}\n\n# the end\ntemperature: 1.1\n")
    write_control(path, 1, "panic")  # no panic_cc line yet: one is added at the end
    assert text in path.read_text() and path.read_text().endswith("panic_cc: 1\n")


def test_a_flow_mapping_file_is_written_again_and_says_its_comments_went(user_dir):
    user_dir.mkdir()
    path = user_dir / "flow.yaml"
    path.write_text("# one line\n{style: folk, cc_map: {21: follow}}\n")
    done = write_control(path, 74, "temperature")
    assert not done.comments_kept
    assert dict(load_preset(path).controls.cc_map) == {21: "follow", 74: "temperature"}
    assert load_preset(path).conditioning.style == "folk"


def test_a_mapping_the_preset_refuses_leaves_the_file_as_it_was(user_dir):
    path = copy_preset("romantic", "mine")
    path.write_text(path.read_text().replace("trigger: silence", "trigger: cc"))
    before = path.read_text()
    with pytest.raises(PresetError, match="cc_map must not map 67, the footswitch"):
        write_control(path, 67, "temperature")
    assert path.read_text() == before


@pytest.mark.parametrize(("control", "target", "message"), [
    (64, "temperature", "CC64 is the sustain pedal"),
    (123, "temperature", "CC123 is a channel mode message"),
    (21, "volume", "must be one of temperature, response_length, follow, enabled, panic"),
])
def test_what_cannot_be_learnt_is_refused(user_dir, control, target, message):
    path = copy_preset("romantic", "mine")
    with pytest.raises(PresetError, match=message):
        write_control(path, control, target)


def test_the_targets_are_the_cc_map_targets_and_panic():
    assert LEARN_TARGETS == ("temperature", "response_length", "follow", "enabled", "panic")
    assert unlearnable(1) is None and unlearnable(119) is None
    assert unlearnable(64) and unlearnable(120) and unlearnable(127)


def test_wait_for_control_passes_over_keys_and_the_pedal():
    messages: queue.SimpleQueue = queue.SimpleQueue()
    for data in ([0x90, 60, 100], [0xF8], [0xB0, 64, 127], [0xB0, 64, 0], [0xC0, 3], [0xB3, 74, 90]):
        messages.put((data, 5.0))
    said = []
    assert wait_for_control(messages, 1.0, say=said.append) == Moved(74, 90, 3, 5.0)
    assert len(said) == 1 and "sustain pedal" in said[0]  # told once, not per message
    assert wait_for_control(messages, 0.01) is None  # nothing more: the timeout


def test_livegen_learn_refuses_an_unknown_preset_before_opening_a_port(user_dir, capsys):
    assert cli.main(["learn", "--preset", "romantc", "--target", "follow"]) == 2
    assert "did you mean 'romantic'" in capsys.readouterr().err


def test_livegen_learn_without_a_target_and_no_terminal_says_so(user_dir, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(["learn", "--preset", "romantic"]) == 2
    assert "--target" in capsys.readouterr().err


class _FakeInput:
    """An input port that plays ``messages`` to its handler as it opens."""

    name = "fake:livegen in"

    def __init__(self, messages, handler):
        for data in messages:
            handler(data, 1.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None


def test_learn_asks_what_the_control_sets_until_it_is_a_target(user_dir, monkeypatch, capsys):
    from livegen import ports, serve

    monkeypatch.setattr(ports, "resolve_backend", lambda backend: "jack")
    monkeypatch.setattr(serve, "check_alone", lambda backend, client_name: None)
    monkeypatch.setattr(ports, "open_input", lambda backend, port, *, client_name, handler:
                        _FakeInput([[0x90, 60, 1], [0xB0, 21, 5]], handler))
    answers = iter(["volume", " follow "])
    asked = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda question: asked.append(question) or next(answers))
    assert cli.main(["learn", "--preset", "folk"]) == 0
    assert len(asked) == 2 and "what does CC21 set?" in asked[0]
    assert dict(load_preset("folk").controls.cc_map) == {21: "follow"}
    out = capsys.readouterr().out
    assert "move a knob or pedal on fake:livegen in" in out
    assert f"CC21 -> follow in {user_dir / 'folk.yaml'} (a copy of the packaged folk)" in out
