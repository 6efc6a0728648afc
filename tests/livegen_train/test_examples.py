"""docs/examples/ is what its command writes (issue 16: "checked in CI to match the shipped model").

The .mid files are regenerated into a temporary folder (no PNG: matplotlib
versions draw differently) and compared message by message with the committed ones.
"""

from __future__ import annotations

from pathlib import Path

import mido
import pytest

from livegen_train import examples

DOCS = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("examples")
    examples.write_examples(folder, png=False)
    return folder


def test_every_shipped_preset_has_an_example():
    assert set(examples.PHRASES) == set(examples.shipped_presets()) == {
        path.stem for path in (DOCS.parents[1] / "presets").glob("*.yaml")}
    for name in examples.PHRASES:
        for suffix in (".prompt.mid", ".mid", ".png"):
            assert (DOCS / f"{name}{suffix}").is_file(), f"{name}{suffix}"


@pytest.mark.parametrize("name", sorted(examples.PHRASES))
@pytest.mark.parametrize("suffix", [".prompt.mid", ".mid"])
def test_the_committed_examples_are_what_the_command_writes(regenerated, name, suffix):
    committed, fresh = mido.MidiFile(DOCS / f"{name}{suffix}"), mido.MidiFile(regenerated / f"{name}{suffix}")
    assert (fresh.type, fresh.ticks_per_beat, len(fresh.tracks)) == \
           (committed.type, committed.ticks_per_beat, len(committed.tracks))
    for ours, theirs in zip(fresh.tracks, committed.tracks):
        assert list(ours) == list(theirs), (
            f"docs/examples/{name}{suffix} differs from what the code writes now: if the model or the "
            "generation changed on purpose, run `python -m livegen_train.examples docs/examples`")


def test_the_answer_is_on_its_own_track_after_the_prompt(regenerated):
    for name in examples.PHRASES:
        prompt = mido.MidiFile(regenerated / f"{name}.prompt.mid")
        both = mido.MidiFile(regenerated / f"{name}.mid")
        assert list(both.tracks[0]) == list(prompt.tracks[0])
        assert both.tracks[-1].name == "livegen"
        assert sum(msg.type == "note_on" for msg in both.tracks[-1]) >= 8


def test_a_preset_without_a_phrase_is_refused(tmp_path):
    from livegen.errors import PresetError

    with pytest.raises(PresetError, match="no example phrase"):
        examples.write_examples(tmp_path, presets=["jazz"], png=False)
