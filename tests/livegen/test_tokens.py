"""The event vocabulary: round trip within the bin resolution, grammar, versioning."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen import tokens as tk
from livegen.notes import Note


def _bin_halfwidth(bins: np.ndarray, value: float) -> float:
    """Half the gap to the neighbouring bin centres around the bin ``value`` falls in."""
    index = int(np.argmin(np.abs(bins - value)))
    left = bins[index] - bins[index - 1] if index > 0 else bins[1] - bins[0]
    right = bins[index + 1] - bins[index] if index + 1 < len(bins) else left
    return max(left, right) / 2 + 1e-9


notes_strategy = st.lists(
    st.builds(
        Note,
        pitch=st.integers(0, 127),
        velocity=st.integers(1, 127),
        onset_s=st.floats(0, 60, allow_nan=False),
        duration_s=st.floats(0.01, tk.MAX_DURATION_S, allow_nan=False),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(notes_strategy)
def test_round_trip_within_bin_resolution(notes):
    ordered = sorted(notes, key=lambda n: (n.onset_s, n.pitch))
    # gaps longer than the largest shift are clipped by design (tested below): keep every
    # gap representable, with room for the half bin the decoded clock may lag behind
    onsets = [ordered[0].onset_s]
    for note in ordered[1:]:
        onsets.append(min(note.onset_s, onsets[-1] + tk.MAX_SHIFT_S - 0.1))
    ordered = [Note(n.pitch, n.velocity, o, n.duration_s) for n, o in zip(ordered, onsets)]
    ids = tk.encode(ordered)
    assert ids.dtype == np.int64 and len(ids) == 4 * len(ordered)
    decoded = tk.decode(ids, start_s=ordered[0].onset_s)
    assert len(decoded) == len(ordered)
    for original, back in zip(ordered, decoded):
        assert back.pitch == original.pitch
        assert abs(back.velocity - original.velocity) <= tk.VELOCITY_BIN_WIDTH // 2
        # error feedback: each onset is within one shift bin of the truth, never accumulating
        assert abs(back.onset_s - original.onset_s) <= 0.05 + 1e-9
        assert abs(back.duration_s - original.duration_s) <= _bin_halfwidth(
            tk.DURATION_BINS_S, original.duration_s)


def test_onset_error_does_not_accumulate():
    notes = [Note(60, 80, i * 0.123, 0.1) for i in range(500)]
    back = tk.decode(tk.encode(notes))
    assert abs(back[-1].onset_s - notes[-1].onset_s) <= 0.005 + 1e-9


def test_rests_and_chords_are_encoded():
    notes = [Note(60, 80, 0.0, 0.5), Note(64, 80, 0.0, 0.5), Note(67, 80, 1.5, 0.25)]
    ids = tk.encode(notes)
    shifts = [tk.SHIFT_BINS_S[i - tk.SHIFT_OFFSET] for i in ids[0::4]]
    assert shifts == [0.0, 0.0, 1.5]


def test_grammar_is_shift_pitch_velocity_duration():
    ids = tk.encode([Note(60, 100, 0, 0.2), Note(62, 90, 0.25, 0.2)], bos=True)
    kinds = [tk.token_kind(int(i)) for i in ids]
    assert kinds == [tk.Kind.BOS] + [tk.Kind.SHIFT, tk.Kind.PITCH, tk.Kind.VEL, tk.Kind.DUR] * 2
    for prev, nxt in zip(ids[:-1], ids[1:]):
        assert tk.next_kind(int(prev)) == tk.token_kind(int(nxt))
    assert tk.KIND_MASKS.sum() == tk.VOCAB_SIZE  # every token has exactly one kind


def test_streaming_decoder_matches_decode():
    notes = [Note(60 + i % 12, 40 + i, i * 0.2, 0.15) for i in range(20)]
    ids = tk.encode(notes)
    decoder = tk.NoteDecoder()
    streamed = [n for n in (decoder.feed(int(i)) for i in ids) if n is not None]
    assert streamed == tk.decode(ids)


def test_extremes_clip():
    assert tk.quantize_shift(-1.0) == 0
    assert tk.quantize_shift(100.0) == len(tk.SHIFT_BINS_S) - 1
    assert tk.quantize_duration(0.0) == 0
    assert tk.quantize_velocity(127) == tk.N_VELOCITIES - 1


def test_token_kind_raises_outside_vocabulary():
    with pytest.raises(IndexError):
        tk.token_kind(tk.VOCAB_SIZE)


def test_version_and_hash_describe_the_spec():
    spec = tk.vocab_spec()
    assert spec["version"] == tk.VOCAB_VERSION
    assert spec["size"] == tk.VOCAB_SIZE
    assert len(tk.VOCAB_HASH) == 16


def test_a_chord_after_a_long_rest_stays_a_chord():
    notes = [Note(60, 80, 0.0, 0.5), Note(64, 80, 10.0, 0.5), Note(67, 80, 10.0, 0.5)]
    back = tk.decode(tk.encode(notes))
    assert back[1].onset_s == back[2].onset_s == tk.MAX_SHIFT_S
