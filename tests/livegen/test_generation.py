"""Tests of livegen.generation: the Generator primes, snapshots, rebuilds and draws notes."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import FakeModel
from rig import (
    PHRASE,
    PRESET,
    chords,
    largest_chord,
)

from livegen.errors import ModelError
from livegen.generation import Generator
from livegen.notes import Note
from livegen.placement import CHORD_SPAN_S, LEGATO_SHARE, LEGATO_SPAN
from livegen.tokens import SHIFT_OFFSET


def test_generator_primes_four_steps_per_note_and_responds_in_three():
    model = FakeModel()
    gen = Generator(model, PRESET, seed=0)
    assert model.steps == 1  # BOS
    for note in PHRASE[:4]:
        gen.prime(note)
    assert model.steps == 1 + 4 * 4 and gen.primed_since_reset == 4
    before = model.steps
    gen.begin_response(5.0)
    note = gen.next_note()
    assert model.steps - before == 3  # SHIFT, PITCH, VEL (DUR is fed lazily)
    assert note.onset_s == 5.0 and note.channel == PRESET.channel
    assert PRESET.sampling.pitch_low <= note.pitch <= PRESET.sampling.pitch_high
    assert 0 < note.duration_s <= PRESET.sampling.max_duration_s


def test_generator_snapshot_restore_returns_to_the_performer_context():
    gen = Generator(FakeModel(), PRESET, seed=0)
    for note in PHRASE:
        gen.prime(note)
    snap = gen.snapshot()
    gen.begin_response(3.0)
    notes = [gen.next_note() for _ in range(5)]
    onsets = [n.onset_s for n in notes]
    assert onsets == sorted(onsets)
    gen.restore(snap)
    assert gen.clock_s == snap.clock_s and gen.history == snap.history
    assert np.array_equal(gen.snapshot().state.h, snap.state.h)
    gen.begin_response(3.0)  # allowed again: grammar back at a note boundary
    gen.restore(snap)
    gen.prime(Note(70, 80, 2.5, 0.1))
    assert gen.primed_since_reset == len(PHRASE) + 1


def test_generator_rebuild_equals_fresh_priming_of_the_window():
    preset = PRESET.replace(context_notes=3)
    long_run = Generator(FakeModel(), preset, seed=0)
    for note in PHRASE[:8]:
        long_run.prime(note)
    long_run.rebuild()
    fresh = Generator(FakeModel(), preset, seed=0)
    for note in PHRASE[5:8]:
        fresh.prime(note)
    assert long_run.primed_since_reset == 3
    assert np.allclose(long_run.snapshot().state.h, fresh.snapshot().state.h)


@pytest.mark.parametrize("guidance", [0.0, 1.0])
def test_a_rebuild_in_slices_equals_a_rebuild_then_the_notes_primed_meanwhile(guidance):
    preset = PRESET.replace(context_notes=6, style_guidance=guidance)
    sliced, whole = (Generator(FakeModel(), preset, seed=0) for _ in range(2))
    for note in PHRASE[:8]:
        sliced.prime(note)
        whole.prime(note)
    sliced.start_rebuild()
    assert sliced.rebuilding and not sliced.rebuild_step(4)  # 2 of the 6 notes left
    before = sliced.snapshot()
    assert np.array_equal(before.logits, whole.snapshot().logits)  # the live state is untouched
    late = Note(70, 90, PHRASE[7].onset_s + 0.3, 0.2)
    sliced.prime(late)  # primed while the rebuild runs: it goes into both
    assert sliced.rebuild_step(4) and not sliced.rebuilding
    whole.rebuild()
    whole.prime(late)
    np.testing.assert_allclose(sliced.snapshot().logits, whole.snapshot().logits, rtol=1e-6)
    assert sliced.primed_since_reset == whole.primed_since_reset == 7
    assert sliced.clock_s == whole.clock_s and sliced.history == whole.history
    # a rebuild waits through a response and carries on after its restore ...
    for note in PHRASE[:3]:
        sliced.prime(Note(note.pitch, 80, sliced.clock_s + 0.25, 0.2))
        whole.prime(Note(note.pitch, 80, whole.clock_s + 0.25, 0.2))
    sliced.start_rebuild()
    live = sliced.snapshot()
    sliced.begin_response(sliced.clock_s + 0.5)
    with pytest.raises(RuntimeError, match="during a response"):
        sliced.rebuild_step(6)  # never under the response
    assert sliced.rebuilding
    sliced.next_note()
    sliced.restore(live)
    np.testing.assert_allclose(sliced.snapshot().logits, live.logits)
    assert sliced.rebuild_step(6)
    whole.rebuild()
    np.testing.assert_allclose(sliced.snapshot().logits, whole.snapshot().logits, rtol=1e-6)
    # ... but not after a restore to another window
    sliced.prime(Note(60, 80, sliced.clock_s + 0.25, 0.2))
    sliced.start_rebuild()
    sliced.restore(live)
    assert not sliced.rebuilding


def test_generator_velocity_scale_and_max_duration():
    preset = PRESET.replace(velocity_scale=0.25, max_duration_s=0.3)
    gen = Generator(FakeModel(time_bias=0.0), preset, seed=0)
    gen.begin_response(0.0)
    notes = [gen.next_note() for _ in range(40)]
    assert all(1 <= n.velocity <= 32 for n in notes)
    assert all(n.duration_s <= 0.3 for n in notes)


def test_generator_set_preset_changes_style_and_sampler():
    model = FakeModel()
    gen = Generator(model, PRESET, seed=0)
    for note in PHRASE[:3]:
        gen.prime(note)
    steps = model.steps
    gen.set_preset(PRESET.replace(style="romantic", pitch_low=70, pitch_high=72))
    assert model.steps == steps + 1 + 3 * 4  # rebuilt under the new style
    gen.begin_response(2.0)
    assert all(70 <= gen.next_note().pitch <= 72 for _ in range(10))


def test_generator_unknown_style_raises_model_error():
    with pytest.raises(ModelError, match="no style"):
        Generator(FakeModel(), PRESET.replace(style="jazz"))
    gen = Generator(FakeModel(), PRESET)
    with pytest.raises(ModelError, match="no style"):
        gen.set_preset(PRESET.replace(style="jazz"))
    assert gen.preset == PRESET


def test_generator_prime_right_after_begin_response_raises_runtime_error():
    gen = Generator(FakeModel(), PRESET)
    gen.begin_response(1.0)
    with pytest.raises(RuntimeError, match="begin_response"):
        gen.prime(PHRASE[0])


def test_generator_begin_response_twice_raises_runtime_error():
    gen = Generator(FakeModel(), PRESET)
    gen.begin_response(1.0)
    with pytest.raises(RuntimeError, match="twice"):
        gen.begin_response(1.0)


def _one_line(notes: list[Note]) -> bool:
    """True if no two notes start within 40 ms and each ends by the next onset."""
    return all(b.onset_s - a.onset_s >= CHORD_SPAN_S - 1e-9 and a.end_s <= b.onset_s + 1e-9
               for a, b in zip(notes, notes[1:]))


def test_monophonic_generator_plays_one_line():
    model = FakeModel(time_bias=6.0)  # favours short shifts: chords and overlaps without the mode
    poly, mono = (Generator(model, PRESET.replace(monophonic=flag), seed=3) for flag in (False, True))
    lines = []
    for gen in (poly, mono):
        for note in PHRASE[:4]:
            gen.prime(note)
        gen.begin_response(2.0)
        lines.append([gen.next_note() for _ in range(60)])
        upcoming_s = gen.next_onset_s  # drawn early in the mode only
        assert (upcoming_s is None) == (gen is poly)
        assert gen is poly or gen.next_note().onset_s == upcoming_s
    assert not _one_line(lines[0])
    assert _one_line(lines[1])
    assert lines[1][0].onset_s == 2.0


def _chords(notes: list[Note]) -> list[list[Note]]:
    """``notes`` (in the order drawn) grouped into chords: onsets within CHORD_SPAN_S of the first."""
    chords: list[list[Note]] = []
    for note in notes:
        if chords and note.onset_s - chords[-1][0].onset_s < CHORD_SPAN_S - 1e-9:
            chords[-1].append(note)
        else:
            chords.append([note])
    return chords


def _answer(articulation: str, played: list[Note], notes: int, *, time_bias: float = 6.0,
            **keys) -> list[Note]:
    """``notes`` answer notes to ``played`` (preset keys ``keys``), each at the onset announced before it."""
    gen = Generator(FakeModel(time_bias=time_bias), PRESET.replace(articulation=articulation, **keys), seed=4)
    for note in played:
        gen.prime(note)
    gen.begin_response(6.0)
    answer = []
    for _ in range(notes):
        upcoming_s = gen.next_onset_s  # a chord's next note, or the next chord's onset
        answer.append(gen.next_note())
        assert upcoming_s is None or answer[-1].onset_s == upcoming_s
    early = articulation != "model" or keys.get("monophonic")
    assert (gen.next_onset_s is not None) == bool(early)  # the next onset drawn early
    return answer


def _gaps(notes: list[Note], spacing_s: float) -> list[tuple[list[Note], float]]:
    """Each chord followed by a gap within LEGATO_SPAN of ``spacing_s``, with the next chord's onset."""
    chords = _chords(notes)
    return [(chord, after[0].onset_s) for chord, after in zip(chords, chords[1:])
            if spacing_s / LEGATO_SPAN <= after[0].onset_s - chord[0].onset_s <= spacing_s * LEGATO_SPAN]


@pytest.mark.parametrize("monophonic", [False, True])
def test_articulation_legato_answers_a_legato_player_legato(monophonic):
    """Each answer chord followed by a gap like the legato player's: its top note lasts (nearly) to the
    next onset, its other notes sound as drawn."""
    legato = [Note(60 + i % 5, 80, 0.25 * i, 0.25) for i in range(24)]  # every note to the next onset
    answers = {articulation: _answer(articulation, legato, 80, monophonic=monophonic)
               for articulation in ("model", "legato")}
    drawn = {(n.pitch, n.onset_s): n.duration_s for n in answers["model"]}  # the same notes, as drawn
    assert list(drawn) == [(n.pitch, n.onset_s) for n in answers["legato"]]
    held = _gaps(answers["legato"], 0.25)
    assert len(held) >= 10 and (monophonic or sum(len(chord) > 1 for chord, _ in held) >= 3)
    for chord, next_s in held:
        top = max(chord, key=lambda n: n.pitch)
        assert top.duration_s >= LEGATO_SHARE * (next_s - top.onset_s) - 1e-9
        assert all(n.duration_s == drawn[n.pitch, n.onset_s] for n in chord if n is not top)
        assert not monophonic or top.end_s <= next_s + 1e-9  # one line
    rests = [next_s - max(n.end_s for n in chord) for chord, next_s in _gaps(answers["model"], 0.25)]
    assert max(rests) > 0.05  # drawn as the model likes, the notes leave rests


def test_articulation_player_cuts_every_note_of_a_chord_where_the_player_detaches():
    """A chord is drawn whole, so each of its notes (not only the last) is cut to the player's share."""
    detached = [Note(60 + 4 * k + i % 3, 80, 0.25 * i, 0.1) for i in range(24) for k in range(3)]  # 0.4
    cut = {}
    for articulation in ("legato", "player"):
        notes = _answer(articulation, detached, 240, time_bias=3.0, max_chord=3)
        gaps = _gaps(notes, 0.25)
        tones = [note.duration_s / (next_s - note.onset_s) for chord, next_s in gaps for note in chord]
        assert len(tones) >= 10 and sum(len(chord) > 1 for chord, _ in gaps) >= 3
        cut[articulation] = max(tones)
    assert cut["player"] <= 0.4 + 1e-9 < cut["legato"]  # legato leaves it as drawn


def test_max_chord_makes_the_next_onset_wait():
    model = FakeModel(time_bias=60.0)  # a shift of 0 is e**0.6 as likely as 10 ms: chords pile up
    sizes = {}
    for cap in (3, 32):
        gen = Generator(model, PRESET.replace(max_chord=cap), seed=2)
        gen.begin_response(1.0)
        notes = [gen.next_note() for _ in range(80)]
        sizes[cap] = largest_chord([n.onset_s for n in notes])
        for chord in chords([n.onset_s for n in notes]):  # a chord never doubles a pitch
            assert len({notes[i].pitch for i in chord}) == len(chord)
    assert sizes[3] == 3
    assert sizes[32] > 3


class _ChordModel(FakeModel):
    """A FakeModel that wants every next note in the same chord (SHIFT 0 at +50 logits)."""

    def step(self, token, state, style):
        logits, state = super().step(token, state, style)
        logits = logits.copy()
        logits[SHIFT_OFFSET] += 50.0
        return logits, state


@pytest.mark.parametrize(("changes", "chord"), [({}, 10), ({"max_chord": 3}, 3),
                                                ({"monophonic": True}, 1)])
def test_a_full_chord_never_draws_a_shift_under_40_ms(changes, chord):
    gen = Generator(_ChordModel(), PRESET.replace(pitch_low=21, pitch_high=108, **changes), seed=0)
    gen.begin_response(1.0)
    onsets = [gen.next_note().onset_s for _ in range(30)]
    sizes = [len(c) for c in chords(onsets)]
    assert sizes[:-1] == [chord] * (len(sizes) - 1)  # every chord fills up, and no further
    steps = np.diff(onsets)
    assert all(step == 0.0 or step >= CHORD_SPAN_S - 1e-9 for step in steps)


def test_monophonic_early_shift_is_dropped_by_restore_prime_and_reset():
    gen = Generator(FakeModel(), PRESET.replace(monophonic=True), seed=0)
    gen.prime(PHRASE[0])
    snap = gen.snapshot()
    for leave in (lambda: gen.restore(snap), lambda: gen.prime(PHRASE[1]), gen.reset):
        gen.begin_response((gen.clock_s or 0.0) + 1.0)
        note = gen.next_note()
        assert gen.next_onset_s is not None and gen.next_onset_s > note.onset_s
        leave()
        assert gen.next_onset_s is None
    gen.begin_response(9.0)  # the grammar is intact: a response follows
    assert gen.next_note().onset_s == 9.0


class _ChordLovingModel:
    """Always prefers a chord tone (shift 0) and pitch 60, then 62, then 64."""

    styles = ("classical",)

    def style_id(self, style: str) -> int:
        return 0

    def initial_state(self):
        return None

    def step(self, token, state, style):
        from livegen import tokens

        logits = np.zeros(tokens.VOCAB_SIZE, dtype=np.float32)
        logits[tokens.SHIFT_OFFSET] = 20.0  # shift 0: another note of the same chord
        for rank, pitch in enumerate((60, 62, 64)):
            logits[tokens.PITCH_OFFSET + pitch] = 20.0 - 5.0 * rank
        return logits, state


def test_a_generated_chord_never_doubles_a_pitch():
    preset = PRESET.replace(temperature=0.5, top_p=0.5)
    generator = Generator(_ChordLovingModel(), preset, seed=0)
    generator.begin_response(1.0)
    notes = [generator.next_note() for _ in range(3)]
    assert all(n.onset_s == 1.0 for n in notes)
    assert [n.pitch for n in notes] == [60, 62, 64]  # without the chord mask: 60, 60, 60
    generator.begin_response(2.0)  # a new onset: the chord starts again
    assert generator.next_note().pitch == 60


@pytest.mark.parametrize("seed", range(6))
def test_density_limit_keeps_the_answer_near_the_players_pace(seed):
    """A slow phrase (2 notes/s); an unlimited fake model runs at its own pace, the limited one at 1.5x."""
    slow = [Note(60 + (i % 5), 80, i * 0.5, 0.4) for i in range(16)]
    paces = {}
    for limit in (0.0, 1.5):
        gen = Generator(FakeModel(seed=seed, time_bias=6.0), PRESET.replace(density_limit=limit), seed=seed)
        for note in slow:
            gen.prime(note)
        gen.begin_response(8.5)
        notes = [gen.next_note() for _ in range(40)]
        span_s = max(n.onset_s + n.duration_s for n in notes) - notes[0].onset_s
        paces[limit] = len(notes) / span_s
    assert paces[0.0] > 1.5 * 2.0 * 1.2  # the fake runs well past the bound: the test can fail
    assert paces[1.5] <= 1.5 * 2.0 * 1.05  # the last note's own length adds a little span
