"""No input in tests/fuzz/corpus produces a traceback from the CLI (issue 15, acceptance).

The corpus keeps the nasty inputs found by hand and by the fuzz tests: MIDI
files for ``livegen continue`` (corpus/midi), presets (corpus/presets) and
model metadata (corpus/metadata: the ``livegen`` JSON of a stand-in model).
Each is replayed through ``livegen.cli.main`` with the stand-in ONNX model:
the run succeeds, or ends with exit 2 and one ``livegen: error:`` line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzkit import CORPUS, assert_clean_exit, run_cli

from livegen.notes import Note, write_midi


def _files(kind: str) -> list[Path]:
    return sorted((CORPUS / kind).iterdir())


@pytest.fixture(scope="module")
def prompt_mid(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prompt") / "prompt.mid"
    write_midi([[Note(60 + i, 80, 0.25 * i, 0.2) for i in range(8)]], path)
    return path


def test_the_corpus_is_there():
    assert all(len(_files(kind)) >= 10 for kind in ("midi", "presets", "metadata"))


@pytest.mark.parametrize("path", _files("midi"), ids=lambda p: p.name)
def test_no_midi_file_in_the_corpus_ends_in_a_traceback(path, stand_in_model, tmp_path):
    assert_clean_exit(*run_cli(["continue", str(path), "-o", str(tmp_path / "o.mid"),
                                "--model", str(stand_in_model), "--notes", "4", "--seed", "1"]))


@pytest.mark.parametrize("path", _files("presets"), ids=lambda p: p.name)
def test_no_preset_in_the_corpus_ends_in_a_traceback(path, stand_in_model, prompt_mid, tmp_path):
    assert_clean_exit(*run_cli(["continue", str(prompt_mid), "-o", str(tmp_path / "o.mid"),
                                "--model", str(stand_in_model), "--preset", str(path),
                                "--notes", "4"]))


@pytest.mark.parametrize("path", _files("metadata"), ids=lambda p: p.name)
def test_no_model_metadata_in_the_corpus_ends_in_a_traceback(path, stand_in_model, prompt_mid,
                                                             tmp_path):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(stand_in_model))
    for entry in model.metadata_props:
        if entry.key == "livegen":
            entry.value = path.read_text()
    onnx.save(model, str(tmp_path / "m.onnx"))
    assert_clean_exit(*run_cli(["continue", str(prompt_mid), "-o", str(tmp_path / "o.mid"),
                                "--model", str(tmp_path / "m.onnx"), "--preset", "classical",
                                "--notes", "4"]))
