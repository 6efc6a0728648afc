"""Tests of livegen.offline: continue_notes answers a phrase as the daemon would."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
from fakes import FakeModel
from rig import (
    PHRASE,
    PRESET,
    make_rig,
)

from livegen import pianoroll
from livegen.errors import ModelError
from livegen.notes import DRUM_CHANNEL, Note, last_notes, read_midi
from livegen.offline import (
    answer_notes,
    continue_file,
    continue_notes,
    continue_phrase,
    daemon_gap_s,
    prompt_grid,
)
from livegen.phrases import last_phrase


def test_continue_notes_is_deterministic_and_starts_where_the_prompt_ends():
    first = continue_notes(FakeModel(), PRESET, PHRASE, n_notes=12, seed=5, gap_s=0.1)
    again = continue_notes(FakeModel(), PRESET, PHRASE, n_notes=12, seed=5, gap_s=0.1)
    other = continue_notes(FakeModel(), PRESET, PHRASE, n_notes=12, seed=6, gap_s=0.1)
    assert first == again and first != other
    assert 1 <= len(first) <= 12
    prompt_end = max(n.end_s for n in PHRASE)
    assert first[0].onset_s == pytest.approx(prompt_end + 0.1)
    onsets = [n.onset_s for n in first]
    assert onsets == sorted(onsets)
    assert all(n.end_s <= first[0].onset_s + PRESET.answer.max_seconds + 1e-9 for n in first)


def test_continue_notes_respects_max_seconds_and_default_count():
    preset = PRESET.replace(max_seconds=0.5, max_notes=1000)
    notes = continue_notes(FakeModel(time_bias=0.0), preset, PHRASE, seed=0)
    start = max(n.end_s for n in PHRASE)
    assert notes and all(start <= n.onset_s and n.end_s <= start + 0.5 + 1e-9 for n in notes)
    assert len(continue_notes(FakeModel(), PRESET.replace(max_seconds=600), [], seed=0)) == 16


def test_continue_notes_uses_only_the_context_window():
    preset = PRESET.replace(context_notes=2)
    long_prompt = [Note(40 + i, 80, 0.1 * i, 0.05) for i in range(20)] + PHRASE[-2:]
    a = continue_notes(FakeModel(), preset, long_prompt, n_notes=6, seed=1)
    b = continue_notes(FakeModel(), preset, sorted(PHRASE[-2:], key=lambda n: n.onset_s) +
                       [Note(59, 80, 1.7, 0.1)], n_notes=6, seed=1)
    window = sorted(long_prompt, key=lambda n: (n.onset_s, n.pitch))[-2:]
    c = continue_notes(FakeModel(), preset, window, n_notes=6, seed=1)
    assert a == c
    assert b != a


@pytest.mark.parametrize("kwargs", [{"n_notes": 0}, {"gap_s": -1.0}, {"gap_s": float("nan")}])
def test_continue_notes_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        continue_notes(FakeModel(), PRESET, PHRASE, **kwargs)


def test_continue_notes_unknown_style_raises_model_error():
    with pytest.raises(ModelError):
        continue_notes(FakeModel(), PRESET.replace(style="jazz"), PHRASE)


def test_with_quantize_the_answer_keeps_the_prompts_pulse():
    beat_s, offset_s = 0.48, 0.13  # 125 BPM, the first beat 130 ms in
    prompt = [Note(60 + (i % 5), 80, offset_s + i * beat_s / 2, 0.2) for i in range(24)]
    step_s = beat_s / 4  # a sixteenth

    def off_grid(notes):
        return [n.onset_s for n in notes
                if abs((n.onset_s - offset_s) / step_s - round((n.onset_s - offset_s) / step_s)) > 0.02]

    free = continue_notes(FakeModel(), PRESET, prompt, n_notes=24, seed=1)
    snapped = continue_notes(FakeModel(), PRESET.replace(quantize="1/16"), prompt, n_notes=24, seed=1)
    assert off_grid(free)  # the model alone drifts off the pulse ...
    assert snapped and not off_grid(snapped)  # ... placed as the daemon places it, it keeps it


def test_on_the_grid_no_key_is_struck_twice_at_one_instant():
    # The fake model draws 10-70 ms shifts over a handful of pitches: on a 1/16 grid several
    # drawn chords land on one line, and one pitch drawn in two of them would sound twice
    beat_s = 0.5
    prompt = [Note(60 + (i % 3), 80, i * beat_s / 2, 0.2) for i in range(16)]
    preset = PRESET.replace(quantize="1/16", max_chord=4)
    doubled = []
    for seed in range(12):
        answer = continue_notes(FakeModel(), preset, prompt, n_notes=48, seed=seed)
        strikes = [(n.channel, n.pitch, round(n.onset_s, 6)) for n in answer]
        doubled += [key for key in set(strikes) if strikes.count(key) > 1]
    assert doubled == []


def drifting_phrase() -> list[Note]:
    """60 onsets that speed up from 0.30 s to 0.22 s apart, played loosely, a chord every fourth."""
    rng = np.random.default_rng(4)
    notes, t = [], 0.0
    for i in range(60):
        ioi = 0.30 - 0.08 * i / 59
        pitch = 60 + int(rng.integers(0, 12))
        notes.append(Note(pitch, 70 + int(rng.integers(0, 30)), t, 0.8 * ioi))
        if i % 4 == 0:
            notes.append(Note(pitch - 7, 60, t + 0.01, 0.8 * ioi))
        t += ioi + float(rng.normal(0.0, 0.008))
    return notes


def heard_answer(rig, start_s: float, trigger_s: float) -> list[tuple]:
    """The notes the rig's engine scheduled from ``trigger_s`` on, in the phrase's time base."""
    sounding, out = {}, []
    for _, due, msg in rig.scheduled:
        if due < trigger_s - 1e-9 or msg.type not in ("note_on", "note_off"):
            continue
        if msg.type == "note_on" and msg.velocity > 0:
            sounding[msg.note] = (due, msg.velocity)
        elif msg.note in sounding:
            onset, velocity = sounding.pop(msg.note)
            out.append((round(onset - start_s, 6), msg.note, velocity, round(due - onset, 6)))
    return sorted(out)


@pytest.mark.parametrize("keys", [
    {"quantize": "1/16", "follow": 0.75},
    {"quantize": "1/16", "follow": 0.75, "monophonic": True, "chord_voice": "middle"},
    {"quantize": "1/8", "answer_length": "match"},
    {"quantize": "1/16", "quantize_start": "bar", "silence_adaptive": True},
])
def test_continue_notes_answers_exactly_as_the_daemon_does(keys):
    # Every figure of docs/adherence.md and docs/evaluation.md comes from continue_notes, so it
    # must be the daemon's answer: the same notes at the same times as the engine schedules for
    # the same phrase played live. The phrase's pulse drifts, so a grid measured over other
    # onsets than the listener's (its last ONSET_HISTORY) puts the answer elsewhere. The whole
    # phrase fits the context window: the daemon's state and session model then hold what
    # continue_notes primes, no more.
    preset = PRESET.replace(silence_s=0.6, max_notes=40, channel=0, context_notes=80, **keys)
    phrase = drifting_phrase()
    rig = make_rig(preset, seed=11)
    start_s = rig.clock()
    rig.play(phrase)
    trigger_s = rig.run_until_responding()
    rig.poll_for(preset.answer.max_seconds + 2.0)
    live = heard_answer(rig, start_s, trigger_s)
    gap_s = daemon_gap_s(phrase, preset)  # where the engine started, predicted from the phrase alone
    assert start_s + max(n.end_s for n in phrase) + gap_s == pytest.approx(trigger_s, abs=1e-6)
    offline = continue_notes(FakeModel(), preset, phrase, seed=11, gap_s=gap_s)
    assert len(live) >= 8
    assert sorted((round(n.onset_s, 6), n.pitch, n.velocity, round(n.duration_s, 6)) for n in offline) == live
    assert answer_notes(FakeModel(), preset, phrase, seed=11) == offline  # what the evaluation draws


def test_daemon_gap_is_the_silence_then_the_grid_line():
    phrase = drifting_phrase()
    assert daemon_gap_s(phrase, PRESET.replace(silence_s=0.7)) == pytest.approx(0.7)
    assert daemon_gap_s([], PRESET) == 0.0
    adaptive = PRESET.replace(silence_adaptive=True, silence_min_s=0.25)  # 2 x the median IOI, ~0.47 s
    assert 0.4 < daemon_gap_s(phrase, adaptive) < 0.55
    on_beat = daemon_gap_s(phrase, PRESET.replace(silence_s=0.7, quantize_start="beat"))
    beat_s = prompt_grid(phrase).beat_s  # the eighths ~0.22-0.26 s apart make a beat of about 0.48 s
    assert 0.7 < on_beat < 0.7 + beat_s and on_beat != pytest.approx(0.7)


# --- issue 16: `livegen continue` keeps the input whole -----------------------------------------


TICKS_PER_BEAT = 384  # not write_midi's 480: the output must keep the input's


def _band_file(path, *, midi_type: int = 1) -> mido.MidiFile:
    """A multi-track file as a DAW writes one: a tempo change, controllers, a bend, drums."""
    conductor = mido.MidiTrack([
        mido.MetaMessage("track_name", name="conductor", time=0),
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        mido.MetaMessage("set_tempo", tempo=600_000, time=0),
        mido.MetaMessage("set_tempo", tempo=400_000, time=4 * TICKS_PER_BEAT),  # 100 -> 150 BPM
        mido.MetaMessage("end_of_track", time=0)])
    piano = mido.MidiTrack([mido.MetaMessage("track_name", name="piano", time=0),
                            mido.Message("program_change", channel=0, program=0, time=0),
                            mido.Message("control_change", channel=0, control=64, value=127, time=0)])
    bass = mido.MidiTrack([mido.MetaMessage("track_name", name="bass", time=0),
                           mido.Message("program_change", channel=1, program=33, time=0)])
    drums = mido.MidiTrack([mido.MetaMessage("track_name", name="drums", time=0)])
    for beat in range(8):
        half = TICKS_PER_BEAT // 2
        piano.extend([mido.Message("note_on", channel=0, note=60 + 2 * (beat % 5), velocity=70 + beat,
                                   time=0 if beat == 0 else half),
                      mido.Message("note_on", channel=0, note=60 + 2 * (beat % 5), velocity=0, time=half)])
        bass.extend([mido.Message("note_on", channel=1, note=36 + beat % 3, velocity=90, time=0),
                     mido.Message("pitchwheel", channel=1, pitch=512 * beat, time=7),
                     mido.Message("note_off", channel=1, note=36 + beat % 3, velocity=64,
                                  time=TICKS_PER_BEAT - 7)])
        drums.extend([mido.Message("note_on", channel=DRUM_CHANNEL, note=36 + 6 * (beat % 2), velocity=100,
                                   time=0),
                      mido.Message("note_off", channel=DRUM_CHANNEL, note=36 + 6 * (beat % 2), velocity=0,
                                   time=TICKS_PER_BEAT)])
    piano.append(mido.Message("control_change", channel=0, control=64, value=0, time=0))
    for track in (piano, bass, drums):
        track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT, tracks=[conductor, piano, bass, drums])
    if midi_type == 0:
        midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT,
                             tracks=[mido.merge_tracks(midi.tracks)])
    midi.save(path)
    return mido.MidiFile(path)


def _same_messages(a: mido.MidiTrack, b: mido.MidiTrack) -> bool:
    return len(a) == len(b) and all(x == y for x, y in zip(a, b))  # mido compares type, fields, time


@pytest.mark.parametrize("at_s", [None, 2.0], ids=["from-the-end", "at-2s"])
def test_continue_file_writes_every_input_track_back_unchanged(tmp_path, at_s):
    src, out = tmp_path / "band.mid", tmp_path / "out.mid"
    original = _band_file(src)
    line = continue_file(src, out, PRESET, FakeModel, n_notes=10, at_s=at_s, seed=3)
    written = mido.MidiFile(out)
    assert written.ticks_per_beat == TICKS_PER_BEAT and written.type == 1
    assert len(written.tracks) == len(original.tracks) + 1
    for before, after in zip(original.tracks, written.tracks):
        assert _same_messages(before, after), before.name  # drums (channel 10) too
    assert "4 tracks unchanged" in line


def test_continue_file_puts_the_answer_on_its_own_track_in_the_files_time(tmp_path):
    src, out = tmp_path / "band.mid", tmp_path / "out.mid"
    _band_file(src)
    continue_file(src, out, PRESET, FakeModel, n_notes=10, at_s=2.0, seed=3)
    answer = mido.MidiFile(out).tracks[-1]
    assert answer.name == "livegen"
    channels = {msg.channel for msg in answer if not msg.is_meta}
    assert channels == {PRESET.channel}  # the preset's channel, as before
    # the answer's seconds, read back through the file's tempo map (100 then 150 BPM)
    prompt = last_notes(read_midi(src), PRESET.context_notes, before_s=2.0)
    expected = continue_phrase(FakeModel(), PRESET, prompt, n_notes=10, seed=3).notes
    got = [n for n in read_midi(out) if n.channel == PRESET.channel]
    assert len(got) == len(expected) >= 1
    tick_s = 600_000 / 1e6 / TICKS_PER_BEAT  # the longest tick of the file
    for a, b in zip(sorted(got, key=lambda n: (n.onset_s, n.pitch)),
                    sorted(expected, key=lambda n: (n.onset_s, n.pitch))):
        assert (a.pitch, a.velocity) == (b.pitch, b.velocity)
        assert a.onset_s == pytest.approx(b.onset_s, abs=tick_s)
        assert a.end_s == pytest.approx(b.end_s, abs=tick_s)
    assert min(n.onset_s for n in got) >= 2.4 - tick_s  # after the tempo change (4 beats of 0.6 s)


def test_continue_file_keeps_a_type_0_files_track_and_adds_one(tmp_path):
    src, out = tmp_path / "one.mid", tmp_path / "out.mid"
    original = _band_file(src, midi_type=0)
    continue_file(src, out, PRESET, FakeModel, n_notes=4, seed=1)
    written = mido.MidiFile(out)
    assert written.type == 1 and len(written.tracks) == 2
    assert _same_messages(original.tracks[0], written.tracks[0])
    assert written.tracks[1].name == "livegen"


def test_continue_file_hands_prompt_and_answer_to_plot(tmp_path):
    src, out = tmp_path / "band.mid", tmp_path / "out.mid"
    _band_file(src)
    seen = []
    continue_file(src, out, PRESET, FakeModel, n_notes=5, seed=2, plot=lambda p, a: seen.append((p, a)))
    prompt, answer = seen[0]
    assert prompt == last_notes(read_midi(src), PRESET.context_notes)
    assert answer == continue_phrase(FakeModel(), PRESET, prompt, n_notes=5, seed=2).notes


# --- issue 16: --plot ---------------------------------------------------------------------------


def _fake_model_cli(monkeypatch):
    from livegen import cli

    monkeypatch.setattr(cli, "_load_model", lambda preset, path: lambda _preset: FakeModel())
    return cli


def test_continue_plot_writes_the_piano_roll_png(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib", reason="the plot extra is not installed")
    src, out, png = tmp_path / "band.mid", tmp_path / "out.mid", tmp_path / "roll.png"
    _band_file(src)
    cli = _fake_model_cli(monkeypatch)
    assert cli.main(["continue", str(src), "-o", str(out), "--notes", "6", "--seed", "1",
                     "--plot", str(png)]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert f"wrote {png}" in capsys.readouterr().out


def test_continue_plot_without_matplotlib_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    src, out = tmp_path / "band.mid", tmp_path / "out.mid"
    _band_file(src)
    cli = _fake_model_cli(monkeypatch)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    assert cli.main(["continue", str(src), "-o", str(out), "--plot", str(tmp_path / "r.png")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livegen: error: ") and "livegen[plot]" in lines[0]
    assert not out.exists()  # said before any work


def test_matplotlib_is_imported_only_when_a_roll_is_drawn(tmp_path):
    tree = ast.parse(Path(pianoroll.__file__).read_text(encoding="utf-8"))
    top = [alias.name for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
           for alias in node.names] + [node.module for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert not [name for name in top if name and name.startswith("matplotlib")]
    src = tmp_path / "band.mid"
    _band_file(src)
    code = ("import sys; from livegen import cli; "
            f"rc = cli.main(['continue', {str(src)!r}, '-o', {str(tmp_path / 'o.mid')!r}, '--notes', '2']); "
            "sys.exit(rc or ('matplotlib' in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_continue_help_explains_at_and_plot(capsys):
    from livegen import cli

    assert cli.main(["continue", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "the prompt is the last notes" in text and "written whole" in text
    assert "--plot OUT.png" in text and "livegen[plot]" in text


def _call(bars: int, beat_s: float = 0.5) -> list[Note]:
    """A call of ``bars`` 4/4 bars at 120 BPM: a note on every beat, each 0.8 beat long."""
    return [Note(60 + i % 12, 80, beat_s * i, 0.8 * beat_s) for i in range(4 * bars)]


@pytest.mark.parametrize("bars", [2, 4])
def test_answer_length_match_answers_a_call_with_as_many_bars(bars):
    preset = PRESET.replace(answer_length="match", max_seconds=30.0, max_notes=1000, context_notes=32)
    prompt = _call(bars)
    answer = continue_phrase(FakeModel(), preset, prompt, seed=1)
    start_s = max(n.end_s for n in prompt)
    assert answer.end_s - start_s == pytest.approx(bars * 2.0, rel=0.02)
    assert answer.ended_by_time and all(n.end_s <= answer.end_s + 1e-9 for n in answer.notes)
    fixed = continue_phrase(FakeModel(), preset.replace(answer_length="fixed"), prompt, seed=1)
    assert fixed.end_s - start_s == 30.0


def test_answer_length_match_without_a_pulse_lasts_the_phrase_in_seconds():
    preset = PRESET.replace(answer_length="match", max_seconds=30.0)
    prompt = [Note(60, 80, 0.0, 1.0), Note(64, 80, 1.4, 1.9)]  # one interval: no pulse
    answer = continue_phrase(FakeModel(), preset, prompt, seed=1)
    assert answer.end_s - 3.3 == pytest.approx(3.3)
    assert continue_phrase(FakeModel(), preset.replace(max_seconds=2.0), prompt, seed=1).end_s == 5.3


def test_answer_length_match_measures_the_last_phrase_only():
    preset = PRESET.replace(answer_length="match", max_seconds=30.0, silence_s=0.5)
    earlier = [Note(48, 80, 0.0, 4.0)]
    call = [Note(60 + i, 80, 5.0 + 0.5 * i, 0.4) for i in range(8)]  # 1 s of silence before it
    assert last_phrase(earlier + call, 0.5) == call
    assert last_phrase(earlier + call, 1.5) == earlier + call
    answer = continue_phrase(FakeModel(), preset, earlier + call, seed=1)
    assert answer.end_s - max(n.end_s for n in call) == pytest.approx(4.0, rel=0.02)  # 3.9 s: 2 bars
