"""The repetition guard: which next pitches would repeat an interval pattern too often.

It follows ``no_repeat_ngram_size`` of Hugging Face transformers (n-gram
blocking, Paulus et al., 2018, "A Deep Reinforced Model for Abstractive
Summarization"), made soft like the logit repetition penalty of Keskar et
al., 2019 (CTRL), and transposition-invariant: it counts n-note *interval*
patterns and, when a pattern has been used ``max_count`` times in the recent
window, lowers (never removes) the pitch that would complete it once more.
Motifs, sequences and repeated notes survive; loops fade.

The sampler (:class:`livegen.sampling.Sampler`) subtracts :attr:`RepetitionGuard.penalties`
from its PITCH logits; its settings are the ``repetition_*`` keys of
:class:`livegen.sampling.SamplingConfig`, which checks them against the limits here.
"""

from __future__ import annotations

from collections import deque

__all__ = ["RepetitionGuard", "MAX_REPETITION_NGRAM", "MAX_REPETITION_WINDOW",
           "MAX_REPETITION_COUNT"]

#: Longest guarded pattern, notes.
MAX_REPETITION_NGRAM = 16
#: Longest window, notes (the most a preset's context may hold).
MAX_REPETITION_WINDOW = 512
#: Most unpenalised uses of a pattern.
MAX_REPETITION_COUNT = 64
assert 2 <= MAX_REPETITION_NGRAM <= MAX_REPETITION_WINDOW


class RepetitionGuard:
    """Counts the ``ngram``-note interval patterns among the last ``window`` pitches.

    After each :meth:`push`, :attr:`penalties` lists ``(pitch, logits)``: the
    next pitches that would complete a pattern already used ``max_count`` or
    more times, and what to subtract (``penalty`` per use from ``max_count``
    on). Every operation is O(1) in the window length.

    Args:
        ngram: notes per pattern, 2-:data:`MAX_REPETITION_NGRAM` (4: three intervals).
        window: pitches remembered, ``ngram``-:data:`MAX_REPETITION_WINDOW`.
        max_count: uses of a pattern that go unpenalised, 1-:data:`MAX_REPETITION_COUNT`.
        penalty: logits taken per use beyond ``max_count - 1``, > 0.

    The arguments are a validated :class:`livegen.sampling.SamplingConfig`'s,
    so they are not checked again here.
    """

    def __init__(self, ngram: int, window: int, max_count: int, penalty: float) -> None:
        self.ngram, self.window, self.max_count, self.penalty = ngram, window, max_count, penalty
        self._capacity = window - ngram + 1  # patterns lying wholly inside the window
        self._prefix_len = ngram - 2  # intervals known before the pitch to choose
        self.clear()

    def clear(self) -> None:
        """Forget every pitch pushed."""
        self._last: int | None = None
        self._intervals: deque[int] = deque(maxlen=self.ngram - 1)
        self._patterns: deque[tuple[tuple[int, ...], int]] = deque()
        self._counts: dict[tuple[int, ...], dict[int, int]] = {}  # prefix -> {next interval: uses}
        #: ``(pitch, logits)`` pairs for the next pitch; a pitch may lie outside 0-127.
        self.penalties: tuple[tuple[int, float], ...] = ()

    def push(self, pitch: int) -> None:
        """One more pitch of the line (~1 µs); updates :attr:`penalties`.

        Args:
            pitch: a MIDI pitch, 0-127.
        """
        intervals = self._intervals
        if self._last is not None:
            intervals.append(pitch - self._last)
        self._last = pitch
        counts = self._counts
        if len(intervals) == self.ngram - 1:
            pattern = tuple(intervals)
            entry = (pattern[:-1], pattern[-1])
            if len(self._patterns) == self._capacity:
                old_prefix, old_next = self._patterns.popleft()
                nexts = counts[old_prefix]
                nexts[old_next] -= 1
                if not nexts[old_next]:
                    del nexts[old_next]
                    if not nexts:
                        del counts[old_prefix]
            self._patterns.append(entry)
            nexts = counts.setdefault(entry[0], {})
            nexts[entry[1]] = nexts.get(entry[1], 0) + 1
        if len(intervals) < self._prefix_len:
            self.penalties = ()
            return
        prefix = tuple(intervals)[len(intervals) - self._prefix_len:] if self._prefix_len else ()
        nexts = counts.get(prefix)
        if not nexts:
            self.penalties = ()
            return
        first = self.max_count - 1
        self.penalties = tuple((pitch + step, self.penalty * (uses - first))
                               for step, uses in nexts.items() if uses > first)
