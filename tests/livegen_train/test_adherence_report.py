"""The adherence section of ``livegen evaluate``: measured with the shipped model on made-up prompts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from livegen.notes import Note
from livegen_train import adherence_report
from livegen_train.adherence_report import TONAL_STYLES, acceptance, markdown_lines, measure, plot_rolls


def line(pitches, start_s=0.0, step_s=0.25):
    return [Note(int(p), 80, start_s + i * step_s, 0.2) for i, p in enumerate(pitches)]


def prompts():
    scale = [60, 62, 64, 65, 67, 65, 64, 62] * 15
    bass = [36, 43, 41, 43] * 30
    return [(name, line(p[:50]), line(p[50:66], start_s=50 * 0.25))
            for name, p in (("tune/ch 1", scale), ("tune/ch 2", bass))]


@pytest.fixture(scope="module")
def section():
    from livegen.model import Model
    from livegen.presets import load_preset

    patch = pytest.MonkeyPatch()
    patch.setattr(adherence_report, "load_prompts", lambda role: prompts())
    presets = {"classical": load_preset("classical").replace(follow=0.0, follow_duration=0.0),
               "folk": load_preset("folk").replace(follow=0.5),
               "modern": load_preset("modern")}
    try:
        yield measure(Model.load(), presets, roles=("dev",), seeds=1)
    finally:
        patch.undo()


def test_only_tonal_presets_are_measured_against_the_real_continuation_and_baselines(section):
    block = section["sets"]["dev"]
    assert set(section["presets"]) == {"classical", "folk"} <= set(TONAL_STYLES)
    assert block["prompts"] == 2
    assert set(block["table"]) == {"real", "iid", "metronome", "classical", "folk"}
    assert block["table"]["real"]["interval_distance"] == 0  # the real continuation against itself
    assert -1 <= block["key_mask_off"]["classical"] <= 1


def test_line_prompts_are_reported_apart_with_the_real_top_line(section):
    groups = section["sets"]["dev"]["by_texture"]
    assert list(groups) == ["line"]  # both prompts are single lines
    line_group = groups["line"]
    assert line_group["prompts"] == 2
    assert set(line_group) == {"prompts", "real", "real top line", "classical", "folk"}
    assert line_group["real"]["register_drift"] == line_group["real top line"]["register_drift"]
    assert line_group["folk"]["register_drift"] == pytest.approx(
        section["sets"]["dev"]["table"]["folk"]["register_drift"])  # one group: the whole table
    assert -1 <= line_group["classical"]["key_mask_off"] <= 1
    text = "\n".join(markdown_lines(section, {}))
    assert "By the prompt's texture" in text and "| line (0-1.05 notes per onset, 2 prompts) | folk |" in text


def test_the_answers_nll_is_the_networks_at_follow_0_and_a_mix_at_follow_half(section):
    nll = section["sets"]["dev"]["nll"]
    np.testing.assert_allclose(nll["classical"]["answer"], nll["classical"]["net"], rtol=1e-9)
    assert not np.allclose(nll["folk"]["answer"], nll["folk"]["net"])
    assert "corpus" not in nll["folk"]  # no training split given


def test_the_rolls_hold_the_bass_line_prompt_and_every_preset(section, tmp_path):
    rolls = section["rolls"]
    assert {r["name"] for r in rolls} == {"tune/ch 1", "tune/ch 2"}
    assert all(set(r["presets"]) == {"classical", "folk"} and r["presets"]["folk"] for r in rolls)
    assert plot_rolls(section, tmp_path / "rolls.png")
    assert (tmp_path / "rolls.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = "\n".join(markdown_lines(section, {"adherence_rolls": "fig/rolls.png"}))
    assert "### dev set (2 prompts)" in page and "](fig/rolls.png)" in page and "| folk |" in page


def _row(**values):
    base = {"motif_reuse": 0.5, "rest_share": 0.3, "on_grid": 0.8, "density_ratio": 1.1,
            "register_drift": 2.0, "key_correlation": 0.6, "interval_distance": 0.8, "ioi_distance": 0.6}
    return {**base, **values}


def test_acceptance_judges_each_bound_against_the_real_continuation():
    section = {"presets": {"folk": "folk"}, "sets": {"check": {
        "table": {"real": _row(interval_distance=0.0, ioi_distance=0.0),
                  "iid": _row(interval_distance=0.9), "metronome": _row(ioi_distance=0.9),
                  "folk": _row(motif_reuse=0.2, register_drift=3.5, density_ratio=1.6, rest_share=math.nan)},
        "key_mask_off": {"folk": 0.5},
        "nll": {"folk": {"answer": [1, 1, 1, 1], "session": [2, 2, 2, 2], "corpus": [2, 0.5, 2, 2]}}}}}
    result = {name.split(": ", 1)[1]: ok for name, ok, _ in acceptance(section)}
    assert result["motif reuse >= 0.6 x real"] is False  # 0.2 < 0.6 x 0.5
    assert result["rest share 0.5-1.5 x real"] is None  # not measurable
    assert result["on-grid >= 0.85 x real"] is True
    assert result["notes/s 0.67-1.5 x prompt's"] is False
    assert result["register drift <= 1.5 x real"] is False  # 3.5 > 3.0
    assert result["key correlation, key mask off, >= real's"] is False
    assert result["interval histogram closer than i.i.d. pitches"] is True
    assert result["inter-onset histogram closer than a metronome"] is True
    assert result["conditional NLL below the session and corpus Markov, every kind"] is False  # pitch


def test_the_answers_nll_takes_each_token_kind_at_its_own_follow_weight():
    import numpy as np

    from livegen.presets import load_preset
    from livegen_train.adherence_report import answer_bits, kind_weights

    preset = load_preset("folk").replace(follow=0.75, follow_duration=0, follow_pitch=0.5)
    assert kind_weights(preset) == [0.75, 0.5, 0.75, 0.0]
    assert kind_weights(preset.replace(follow_duration=None, follow_pitch=None)) == [0.75] * 4
    bits = {"geo 0": np.array([1.0, 2, 3, 4]), "geo 0.5": np.array([5.0, 6, 7, 8]),
            "geo 0.75": np.array([9.0, 10, 11, 12])}
    assert answer_bits(bits, kind_weights(preset)).tolist() == [9.0, 6.0, 11.0, 4.0]
