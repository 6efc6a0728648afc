"""The listen -> respond state machine.

The engine thread (:class:`~livegen.loop.EngineLoop`) waits on the input queue
with a timeout equal to the time until the engine's next job (trigger
deadline, lookahead step, end of the response). The performer's notes go
through the :class:`~livegen.listener.Listener` to the buffer and are primed
as they finish, so a trigger costs only the 1-3 model steps of the response's
first note. The preset's trigger (:mod:`livegen.triggers`) starts the
:class:`~livegen.response.Response` (generation ahead of playback), placed on
the beat grid of the MIDI clock followed or of the performer's own tempo
(:class:`~livegen.grid.GridSource`); a performer note_on cancels it
(barge-in), except with ``continuous``. Controllers and program changes act
as :mod:`livegen.control` says; a preset switch, ``enabled`` going off and a
clock Stop end the response. Program and controller floods are coalesced: the
preset they make is put in use once, after the queued input is handed over
(:meth:`Engine.tick`), so a burst of 600 program changes costs one preset switch
(a rebuild of the model state), not 600. While idle, the generator rebuilds its
state from the context window in slices that fit before the trigger
(:mod:`livegen.rebuild`); counts go to :class:`~livegen.stats.Counters`.

Without threads (tests, a host with its own loop): do not call :meth:`Engine.start`;
:meth:`Engine.feed`, move the clock, call :meth:`Engine.poll`, which does all work due
at ``now()`` (sending the scheduler's due messages too) and returns the time until the next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import mido

from livegen import timebase
from livegen.buffer import PerformanceBuffer
from livegen.clock import MidiClock
from livegen.control import Controls, check_programs, one_model
from livegen.generation import Generator
from livegen.grid import GridSource
from livegen.guidance import StepModel
from livegen.listener import Listener
from livegen.loop import EngineLoop
from livegen.presets import Preset
from livegen.rebuild import Rebuild
from livegen.response import Response
from livegen.scheduler import Scheduler
from livegen.stats import Activity, Counters, EngineStats
from livegen.tempo import OnsetTempo
from livegen.triggers import Due, Trigger, needs_fast_input

__all__ = ["Engine", "PREPARE_S"]

log = logging.getLogger(__name__)

#: A trigger whose instant is known ahead (the silence deadline) fires this long before
#: it, seconds: the first note's model steps (about 1-2.5 ms with the sampling on an
#: idle machine, ``livegen bench``) and an engine wake-up delayed by a busy machine fit
#: in it, and the note leaves on the instant itself. A performer note before the
#: instant pre-empts the prepared response; nothing has sounded.
PREPARE_S = 0.02
PENDING_RECHECK_S = 0.001  # wait for the scheduler to send a response's last messages, s


class Engine:
    """The daemon: listen to the performer, answer when the trigger fires, yield to barge-in.

    Args:
        model: a step model.
        preset: the preset to play with (see :meth:`set_preset`).
        send: sends one mido message to the output port (called by the scheduler).
        now: the monotonic clock, seconds; :meth:`feed` timestamps must use it too.
        seed: int for reproducible sampling.
        prepare_s: a response whose trigger instant is known ahead (silence) is
            prepared this long before it, seconds > 0 (:data:`PREPARE_S`).
        programs: ``{program: preset}`` for program changes; default: the
            presets ``preset.controls.program_map`` names, loaded now.
        realtime: the scheduler thread asks for real-time priority (the daemon does).
        input_stalls: ``input_stalls(t0_s, t1_s)``: whether the MIDI input's
            server stalled between two stamps, for the clock follower
            (:class:`livegen.clock.MidiClock`); the JACK input's ``stalled_between``.
        input_losses: ``input_losses()``: messages or cycles the input lost so far, for
            the lost note_off check (:class:`livegen.listener.Listener`); None: never any.
        models: each preset's model, its style checked (:class:`livegen.model.ModelSet`);
            None: ``model`` for every preset.

    Raises:
        ModelError: the model has no style ``preset.conditioning.style`` (or a program's),
            or a program's model does not load.
        PresetError: a ``program_map`` entry names no loadable preset.
        ValueError: ``prepare_s`` is not > 0.

    Attributes:
        model: the step model in use (the preset's); buffer: the performer's notes.
        generator: the model, sampler and primed state; scheduler: the timed output.
        clock: the MIDI beat clock follower (fed whatever the preset).
        tempo: the performer's onsets and tempo.
        grids: the beat grid in force (clock or performer).
        response: the answer (built once; :attr:`responding` while one runs).
        controls: program bank, ``enabled`` switch, footswitch (:mod:`livegen.control`).
        activity: what the status line shows (:class:`~livegen.stats.Activity`, no lock).
    """

    def __init__(self, model: StepModel, preset: Preset, send: Callable[[mido.Message], None],
                 *, now: Callable[[], float] = timebase.now, seed: int | None = None,
                 prepare_s: float = PREPARE_S,
                 programs: dict[int, Preset] | None = None, realtime: bool = False,
                 input_stalls: Callable[[float, float], bool] | None = None,
                 input_losses: Callable[[], int] | None = None,
                 models: Callable[[Preset], StepModel] | None = None) -> None:
        if not prepare_s > 0:
            raise ValueError(f"prepare_s must be > 0 seconds (received {prepare_s!r})")
        self.model, self._models = model, models or one_model(model)
        self.controls = Controls(check_programs(preset, programs, self._models))
        self._now = now
        self.generator = Generator(model, preset, seed=seed)
        self.buffer = PerformanceBuffer(capacity=preset.context_notes)
        self.scheduler = Scheduler(send, now=now, realtime=realtime)
        self.clock = MidiClock(stalled=input_stalls)
        self.tempo = OnsetTempo()
        self.grids = GridSource(self.clock, self.tempo)
        self.response = Response(self.generator, self.scheduler, self.grids, self.buffer)
        self._listener = Listener(self.generator, self.buffer, self.tempo, self.response,
                                  backlog=lambda: self._loop.queued(),
                                  losses=input_losses or (lambda: 0))
        self._counts = Counters()
        self.activity = Activity(preset.name)
        self._trigger = Trigger(self.grids, prepare_s)
        self._next_preset: Preset | None = None  # a program/controller change, put in use by tick
        self._loop = EngineLoop(self, self.scheduler, now)

    @property
    def preset(self) -> Preset:
        """The preset in use (the generator's)."""
        return self.generator.preset

    @property
    def prepare_s(self) -> float:
        """How long before a known trigger instant a response is prepared, seconds."""
        return self._trigger.prepare_s

    @property
    def responding(self) -> bool:
        """True while a response is being generated or played."""
        return self.response.active

    def wants_fast_input(self) -> bool:
        """True when input must reach the engine at once, not within a slow idle poll: while a
        response plays (a barge-in stops it), and always with a footswitch or hand-over key
        trigger (it starts one) or a MIDI clock to follow (``InputPort.keep_fast``)."""
        return self.response.active or needs_fast_input(self.preset)

    def feed(self, data: list[int] | bytes | mido.Message, timestamp_s: float) -> None:
        """Hand one incoming MIDI message over; constant time, never blocks (the callback's job).

        Args:
            data: the message's bytes (rtmidi's list of ints), or a mido message.
            timestamp_s: arrival time on the engine's ``now`` clock, seconds.
        """
        self._loop.feed(data, timestamp_s)

    def poll(self) -> float | None:
        """Do all work due at ``now()`` without blocking (tests and host loops; no threads).

        Handles the queued input, fires the trigger, generates up to the lookahead and, while
        the scheduler thread is not running, sends the due messages. Errors are survived.

        Returns:
            Seconds until the engine next has work (None: only new input).
        """
        return self._loop.poll()

    def start(self, engine_priority: int | None = None) -> None:
        """Start the scheduler and engine threads (idempotent while running).

        Args:
            engine_priority: the engine thread's SCHED_FIFO priority (1-99), None: normal;
                the daemon's: :func:`livegen.osthread.engine_priority`.

        Raises:
            RuntimeError: the engine was stopped; make a new one.
        """
        self._loop.start(engine_priority)

    def stop(self, timeout_s: float = 2.0) -> None:
        """Cancel any response, stop the threads, end every note, then CC123 and CC120.

        Idempotent. The panic (CC123 all notes off, CC120 all sound off) goes
        to ``preset.channel`` and every channel livegen played on.

        Args:
            timeout_s: how long to wait for each thread, seconds.
        """
        if not self._loop.halt(timeout_s):
            return
        lock = self._loop.lock
        locked = lock.acquire(timeout=timeout_s)
        try:
            self._end_response("stop")
        finally:
            if locked:
                lock.release()
            self.scheduler.stop(timeout_s, channels=(self.preset.channel,))

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def set_preset(self, preset: Preset, programs: dict[int, Preset] | None = None) -> None:
        """Switch preset at runtime; a response in progress is cancelled first (note_offs).

        It plays with its own model (``models``). A preset with a ``program_map`` brings its
        own program bank (loaded now, or ``programs``); one without keeps the bank in use.

        Raises:
            ModelError: its model does not load or has no style ``preset.conditioning.style``
                (nothing changes).
            PresetError: a ``program_map`` entry names no loadable preset (nothing changes).
        """
        with self._loop.lock:
            self._models(preset)
            if programs is not None or preset.controls.program_map:
                self.controls.programs = check_programs(preset, programs, self._models)
            self._switch(preset, "preset change")
            self._use_next_preset()

    @property
    def stats(self) -> EngineStats:
        """A copy of the engine's counters."""
        with self._loop.lock:
            return self._counts.snapshot(self.scheduler, self._loop.dropped)

    # -- the state machine (lock held) --------------------------------------------

    def recover(self) -> None:
        """After an unexpected error: drop the response, panic, rebuild the model state.

        Called by the loop (:meth:`livegen.loop.Machine.recover`), lock held.
        """
        self._counts.errors += 1
        self.response.abandon()
        self._listener.drop()
        self.scheduler.cancel(panic=True, channels=(self.preset.channel,))
        try:
            self.generator.rebuild()
        except Exception:  # the model itself may be failing; the next input retries
            log.exception("engine: could not rebuild the model state")

    def handle(self, timestamp_s: float, data: Any) -> None:
        """Parse one input item (:meth:`feed`'s) and act on it (the loop calls it, lock held)."""
        self._counts.messages_in += 1
        try:
            msg = data if isinstance(data, mido.Message) else mido.Message.from_bytes(data)
            t = float(timestamp_s)
        except (ValueError, TypeError, IndexError, KeyError) as err:
            self._counts.dropped_messages += 1
            log.debug("dropped unparsable MIDI input %r: %s", data, err)
            return
        self.activity.heard(msg, t)
        kind, preset = msg.type, self._upcoming_preset()
        if self.clock.handle(msg, t):  # clock, start, continue, stop, song position
            if kind == "stop" and preset.timing.clock == "midi":
                self._silence("clock stop")
            return
        if kind == "note_on" and msg.velocity > 0:
            if self.controls.is_handover_key(preset, msg.note):
                self._act("hand_over", preset)
                return
            if self.response.active and preset.triggering.trigger != "continuous":
                if self.response.prepared_only(t):
                    self._end_response("pre-empted", preempted=True)
                else:
                    self._counts.barge_ins += 1
                    self._end_response("barge-in")
            self._listener.key_down(msg.note, msg.velocity, t, msg.channel)
        elif kind in ("note_on", "note_off"):
            self._listener.key_up(msg.note, t, msg.channel)
        elif kind == "polytouch":  # the key is still down (a lost note_off is not)
            self._listener.key_pressure(msg.note, t, msg.channel)
        elif kind == "control_change":
            if self.controls.is_panic(preset, msg.control, msg.value):  # like a barge-in, and then
                self._switch(preset, "panic")  # no answer to the phrase played so far
                self.scheduler.cancel(panic=True, channels=(preset.channel,))
                self._listener.answered()
            if not self._listener.control_change(msg.control, msg.value, t, msg.channel):
                was_enabled = self.controls.enabled  # not keys or pedal: a live control
                self._act(*self.controls.control_change(preset, msg.control, msg.value))
                if self.controls.enabled and not was_enabled:
                    self._trigger.enabled_s = t  # a deadline passed while off is due from now
                    self.activity.idle(True)
        elif kind == "program_change" and msg.program in self.controls.programs:
            self._switch(self.controls.programs[msg.program], f"program {msg.program}")

    def _act(self, action: str, preset: Preset) -> None:
        """Carry out a :meth:`~livegen.control.Controls.control_change` action."""
        if action == "hand_over":  # the footswitch or key: end the response, or ask for one
            if not self.response.active:
                self.controls.requested = True
            self._end_response("handed back")
        elif action == "disable":
            self._silence("disabled")
        elif action == "live":  # the response in progress carries on
            self._next_preset = preset

    def _switch(self, preset: Preset, reason: str) -> None:
        """Silence livegen (every note_off) now; play with ``preset`` from the next :meth:`tick`."""
        self._silence(reason)
        self._next_preset = preset
        self.controls.requested = False

    def _upcoming_preset(self) -> Preset:
        """The preset the input handed over so far makes: the next one, or the one in use."""
        return self.preset if self._next_preset is None else self._next_preset

    def _use_next_preset(self) -> None:
        """Put the preset of the program and controller changes handed over in use, once."""
        preset, self._next_preset = self._next_preset, None
        if preset is not None and preset is not self.generator.preset:
            self.model = self._models(preset)  # loaded when the program bank was
            self.generator.set_preset(preset, self.model)
            self.activity.preset = preset.name

    def _silence(self, reason: str) -> None:
        """End the response and every note livegen still sounds (note_offs now)."""
        self._end_response(reason)
        self.scheduler.cancel()  # a continuous chunk may still be playing out
        self._trigger.chunk_end_s = None

    def tick(self, now: float) -> float | None:
        """Do the timed work due at ``now`` (the loop calls it, lock held).

        Returns:
            Seconds until the next (None: only new input).
        """
        self._use_next_preset()  # the last of a burst of program/controller changes
        response, preset = self.response, self.preset
        if response.active:
            if response.generating:
                self._counts.collisions_avoided += response.advance(now)
            if response.generating:
                return response.wait_s(now)
            if preset.triggering.trigger == "continuous":
                self._trigger.chunk_end_s = response.end_limit_s
                self._end_response("chunk done", cancel=False)  # its notes play out
            elif now < response.last_end_s:
                return response.last_end_s - now
            elif self.scheduler.pending():
                return PENDING_RECHECK_S
            else:
                self._end_response("done", cancel=False)
        if not self._listener.flooded:  # the flood's notes, a window at most
            self._listener.catch_up()
        if self._listener.release_stuck(now):
            self._counts.stuck_keys += 1
        due = None
        if self.controls.enabled:
            due = self._trigger.due(preset, now, phrase_notes=self._listener.phrase_notes,
                                    requested=self.controls.requested, buffer=self.buffer,
                                    tempo=self.tempo)
            if due is not None and now >= due.fire_s:
                self._begin_response(now, due)
                return self.tick(now)
        # the LSTM's drift, undone: never at trigger time, a slice per tick
        rebuilt = self.generator.rebuild_slice(None if due is None else due.fire_s - now)
        if rebuilt is Rebuild.DONE:
            self._counts.rebuilds += 1
        elif rebuilt is Rebuild.SLICED:  # the next slice after the input that came meanwhile
            return 0.0
        return None if due is None else due.fire_s - now

    def _begin_response(self, now: float, due: Due) -> None:
        """Start (or, before a known instant, prepare) the response ``due`` fires; never in the past."""
        self._listener.catch_up()  # the state the answer starts from is the performer's
        trigger_s, end_s = self._trigger.plan(self.preset, now, due)
        self.response.begin(trigger_s, max(trigger_s, now), end_s,
                            phrase_notes=self._listener.phrase_notes)
        self._counts.responses += 1
        self.activity.answering(trigger_s)
        self._listener.answered()
        self.controls.requested = False

    def _end_response(self, reason: str, *, cancel: bool = True, preempted: bool = False) -> None:
        """End the response, if any: cancel its output, restore the performer's context, log.

        ``preempted``: the performer played before a prepared response
        sounded; it is undone as if it had never been triggered.
        """
        outcome = self.response.end(cancel=cancel)
        self.activity.idle(self.controls.enabled)
        if outcome is None:
            return
        self._listener.flush()
        if preempted:
            self._counts.responses -= 1
            self._listener.phrase_notes += outcome.phrase_notes
            log.debug("prepared response pre-empted by the performer before it sounded")
            return
        self._counts.answered(reason, outcome.notes_played, outcome.latency_ms)
