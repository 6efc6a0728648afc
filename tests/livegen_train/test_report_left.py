"""docs/evaluation.md's "What is left": the failed checks, grouped by preset."""

from __future__ import annotations

from livegen_train.report import left


def test_failed_checks_are_grouped_by_preset_and_passing_ones_left_out():
    report = {"acceptance": [
        ["NLL baroque >= 15% below Markov", True, "47 %"],
        ["key distance <= 1.2 x real", False, "1.3 x"],
        ["check folk: motif reuse >= 0.6 x real", True, "0.43"],
        ["check folk: key correlation, key mask off, >= real's", False, "0.61"],
        ["check folk: interval histogram closer than i.i.d. pitches", False, "0.97"],
        ["check baroque: rest share 0.5-1.5 x real", False, "0.06"],
        ["copied run <= 12 notes for 95%", None, "copy detection unavailable"],
    ]}
    assert left(report) == [
        "corpus and style: key distance <= 1.2 x real",
        "folk (check set): key correlation, key mask off, >= real's; interval histogram closer than "
        "i.i.d. pitches",
        "baroque (check set): rest share 0.5-1.5 x real",
    ]


def test_nothing_is_left_when_every_check_passes():
    assert left({"acceptance": [["NLL overall below Markov", True, "11 vs 20 bits"]]}) == []
