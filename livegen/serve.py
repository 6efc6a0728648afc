"""The daemon's life (``livegen run``): open the ports, run the engine, watch the ports, end cleanly.

The main thread watches the ports every :data:`WATCH_INTERVAL_S` while the
engine and scheduler threads work:

* **The server went away** (JACK shut down or was killed; :attr:`Port.server_lost
  <livegen.ports.base.Port.server_lost>`): one warning line, then, with
  ``reconnect`` (``livegen run --reconnect``, the default), livegen closes its
  ports, waits for the server to come back, opens the same ports again and
  listens on; with ``--no-reconnect`` it exits with :data:`EXIT_SERVER_LOST`.
  While no server is there, a note_on is not sent (the scheduler counts a
  failed send), so no answer is logged as played into a dead server.
* **The output was connected again** (:attr:`OutputPort.connections_made
  <livegen.ports.base.OutputPort.connections_made>`, the one-client JACK
  output's connect callback): the receiver may still hold notes whose
  note_off went nowhere while it was disconnected. livegen sends a note_off
  for every key it struck since the connection before, and for every key its
  ledger holds as sounding, then CC123 (all notes off) on their channels. A
  note still playing is cut then; its own note_off follows later, harmless.
  This happens one watch later (0.25-0.5 s): JACK carries data on a new
  connection only from a later cycle, and a note_off sent before would be lost.
  python-rtmidi's ports have no connect callback: there a reconnection is
  not seen, and nothing is sent (stop and start livegen, or a panic on the
  synth, clears it).

On every exit the input closes first, the engine ends every note (note_offs,
then CC123/CC120), then the output closes. A JACK server that stopped answering
(SIGSTOP, a wedged driver) cannot take them: the one-client ports are left to
it after 2 s each, with a warning; python-rtmidi's ports hold the GIL while they
wait, and after :data:`~livegen.stopsignals.CLOSE_WATCHDOG_S` the daemon exits with code 1.

The main thread also draws the status line (:mod:`livegen.status`) at each
watch, and in between while the line moves (every
:data:`livegen.status.STATUS_INTERVAL_S`). Nothing but the ready line and the status shows unless
``-v``: the rest is logged at INFO, warnings excepted. The exit warning about
JACK cycles livegen's client missed counts only cycles missed while MIDI input
was arriving (:class:`InputLoss`): an idle server's missed cycles lose nothing.
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import threading
from collections.abc import Callable

from livegen import ports, status, timebase
from livegen.errors import BackendError, LivegenError
from livegen.outlet import Outlet, ServerGoneError
from livegen.stats import State
from livegen.stopsignals import closing_watchdog

__all__ = [
    "EXIT_OK",
    "EXIT_SERVER_LOST",
    "InputLoss",
    "RETRY_INTERVAL_S",
    "WATCH_INTERVAL_S",
    "Link",
    "check_alone",
    "log_stats",
    "serve",
]

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_SERVER_LOST = 1  # the server went away and --no-reconnect was given
#: How often the main thread looks at the ports, seconds: a dead server is noticed, and a
#: reconnected output cleared, within this (plus a JACK period). Each look wakes the
#: daemon: at 0.1 s livegen's own threads took 0.14-0.15 % of a core idle, at 0.25 s
#: 0.09 % (one idle daemon each, 15 s; the idle target is 1 % for everything).
WATCH_INTERVAL_S = 0.25
#: While the server is away, how often livegen tries to open its ports again, seconds.
RETRY_INTERVAL_S = 0.5
#: The backends whose virtual ports another livegen could hold under the same names.
_VIRTUAL_BACKENDS = ("alsa", "jack", "coremidi")


def check_alone(backend: str, client_name: str) -> None:
    """Refuse to start a second livegen under the same client name on the same MIDI system.

    A DAW saves its routing by port name (``livegen:livegen out``): a second
    daemon would come up under another name (JACK: ``livegen-01``), unrouted,
    while both answer whatever reaches them. Two on purpose need two names
    (``--client-name``).

    Args:
        backend: the concrete backend.
        client_name: the client name livegen would open under.

    Raises:
        BackendError: ports of a livegen under that name are open; the
            message names them and the way out.
    """
    if backend not in _VIRTUAL_BACKENDS:
        return
    found = ports.other_livegen(backend, client_name, (ports.IN_PORT_NAME, ports.OUT_PORT_NAME))
    if found:
        raise BackendError(f"another livegen is running on {backend} ({', '.join(found)}): stop "
                           f"it first, or give this one its own name with --client-name "
                           f"(e.g. --client-name {client_name}2)")


def _not_server_gone(record: logging.LogRecord) -> bool:
    """A logging filter: False for the scheduler's warning about a :class:`ServerGoneError`."""
    args = record.args if isinstance(record.args, tuple) else ()
    return not any(isinstance(arg, ServerGoneError) for arg in args)


class Link:
    """livegen's two ports, opened again when their server comes back.

    Args:
        backend: the concrete backend.
        in_port: ``--in``: an existing source, or None for the virtual port.
        out_port: ``--out``: an existing destination, or None for the virtual port.
        client_name: the MIDI client name others see.
        jack_client: ``shared`` or ``rtmidi`` (see :func:`livegen.ports.open_input`).

    Attributes:
        input: the input port open now (None while the server is away).
        output: the output port open now.
        outlet: the engine's output (:class:`Outlet`).
        lost_messages: input messages lost in the one-client JACK input's full queue.
        missed_cycles: JACK cycles run without livegen's client.
        xruns, resent_note_offs: of the closed JACK outputs: xruns reported, note_offs placed
            again after them (:attr:`livegen.ports.jack.JackOutputPort.xrun_repairs`).
    """

    def __init__(self, backend: str, in_port: str | None, out_port: str | None, *,
                 client_name: str = ports.CLIENT_NAME, jack_client: str = "shared") -> None:
        self.backend = backend
        self._in_port, self._out_port = in_port, out_port
        self._client_name, self._jack_client = client_name, jack_client
        self.input: ports.InputPort | None = None
        self.output: ports.OutputPort | None = None
        self.outlet = Outlet()
        self.lost_messages = self.missed_cycles = self.xruns = self.resent_note_offs = 0

    def open(self) -> None:
        """Open both ports (one JACK client for both where it can).

        Raises:
            BackendError, PortNotFoundError: as :func:`livegen.ports.open_input` does.
        """
        options = {"client_name": self._client_name, "jack_client": self._jack_client,
                   "jack_clients": ports.JackClients()}
        self.input = ports.open_input(self.backend, self._in_port, **options)  # nothing fed yet
        try:
            self.output = ports.open_output(self.backend, self._out_port, **options)
        except BaseException:
            self.close_input()
            raise
        self.outlet.attach(self.output)

    def listen(self, engine) -> None:
        """Feed every input message to ``engine`` from now on."""
        self.input.keep_fast = engine.wants_fast_input  # a barge-in is heard at once
        self.input.set_handler(engine.feed)

    def stalled_between(self, start_s: float, end_s: float) -> bool:
        """The input's :meth:`~livegen.ports.InputPort.stalled_between` (False with no input)."""
        port = self.input
        return port is not None and port.stalled_between(start_s, end_s)

    def input_losses(self) -> int:
        """Input messages dropped in a full queue, plus JACK cycles run without livegen, so far."""
        port = self.input
        now = 0 if port is None else port.dropped + port.missed_cycles
        return self.lost_messages + self.missed_cycles + now

    @property
    def lost(self) -> bool:
        """Whether the server went away under either port."""
        return any(p is not None and p.server_lost for p in (self.input, self.output))

    def describe(self) -> str:
        """``<input> -> <output>``, with the client name where it is not livegen's usual one."""
        names = []
        for port in (self.input, self.output):
            custom = port.virtual and self._client_name != ports.CLIENT_NAME
            names.append(f"{self._client_name}:{port.name}" if custom else port.name)
        return " -> ".join(names)

    def missed_so_far(self) -> int:
        """JACK cycles run without livegen's client, by every input opened so far."""
        port = self.input
        return self.missed_cycles + (0 if port is None else port.missed_cycles)

    def close_input(self) -> None:
        """Close the input (no more feed() calls), keeping its loss counts."""
        port, self.input = self.input, None
        if port is not None:
            self.lost_messages += port.dropped
            self.missed_cycles += port.missed_cycles
            port.close()

    def close_output(self) -> None:
        """Close the output (its queued messages go out first, where the server lives)."""
        self.output = None
        port = self.outlet.detach()
        if port is not None:
            port.close()
            xruns, resent = getattr(port, "xrun_repairs", (0, 0))
            self.xruns, self.resent_note_offs = self.xruns + xruns, self.resent_note_offs + resent

    def reopen(self, stop: threading.Event) -> bool:
        """Wait until the ports open again, trying every :data:`RETRY_INTERVAL_S`.

        Returns:
            True once open; False if ``stop`` was set first.
        """
        last = ""
        while not stop.wait(RETRY_INTERVAL_S):
            if self.backend == "jack" and not ports.jack_running():
                continue
            try:
                self.open()
                return True
            except LivegenError as err:  # the server is back, but not yet the --in/--out port
                if str(err) != last:
                    log.info("cannot open the ports yet: %s", err)
                    last = str(err)
        return False


class InputLoss:
    """JACK cycles livegen's client missed while MIDI input was arriving (the exit warning's count).

    A missed cycle loses the input that came in it, if any: while nothing is
    played there is nothing to lose. The daemon's watch calls :meth:`update`
    with the running totals; a watch interval's missed cycles count when MIDI
    input arrived in that interval, the one before or the one after.

    Attributes:
        cycles: the missed cycles counted.
    """

    def __init__(self) -> None:
        self.cycles = 0
        self._missed = self._messages = self._pending = 0
        self._arrived_before = False

    def update(self, missed_total: int, messages_total: int) -> None:
        """One watch interval ended.

        Args:
            missed_total: cycles missed so far (:meth:`Link.missed_so_far`).
            messages_total: input messages the engine was handed so far.
        """
        missed, self._missed = missed_total - self._missed, missed_total
        arrived, self._messages = messages_total != self._messages, messages_total
        if arrived:
            self.cycles += self._pending + missed
            self._pending = 0
        elif self._arrived_before:
            self.cycles += missed
        else:
            self._pending = missed  # counted if input comes in the next interval
        self._arrived_before = arrived


def serve(args: argparse.Namespace, preset, backend: str, models, stop: threading.Event,
          ready: Callable[[str], None], *, close_watchdog_s: float | None = None) -> int:
    """Open the ports, run the engine until ``stop``; on every exit end every note, close all.

    Args:
        args: ``livegen run``'s options (``in_port``, ``out_port``, ``client_name``,
            ``jack_client``, ``seed``, ``reconnect``).
        preset: the preset to play.
        backend: the concrete backend.
        models: each preset's model (:class:`livegen.model.ModelSet`; the program bank's too).
        stop: set by a stop signal.
        ready: told the ready line once the daemon listens (the CLI prints it).
        close_watchdog_s: if given (the CLI gives :data:`~livegen.stopsignals.CLOSE_WATCHDOG_S`),
            exit the process when closing takes longer, seconds
            (:func:`~livegen.stopsignals.closing_watchdog`).

    Returns:
        :data:`EXIT_OK`, or :data:`EXIT_SERVER_LOST` when the server went
        away without ``reconnect``.

    Raises:
        BackendError, PortNotFoundError: the ports cannot open at start.
    """
    from livegen.engine import Engine
    from livegen.osthread import engine_priority
    from livegen.ports.affinity import CycleAffinity
    from livegen.ports.jack import jack_process_tid, jack_server_priority

    link = Link(backend, args.in_port, args.out_port, client_name=args.client_name,
                jack_client=args.jack_client)
    engine = None
    started = False
    display: status.Display | None = None
    loss = InputLoss()
    scheduler_log = logging.getLogger("livegen.scheduler")
    scheduler_log.addFilter(_not_server_gone)  # the watch's line says it once
    try:
        link.open()
        # the engine thread real-time only under a real-time JACK server (issue 14)
        priority, why = engine_priority(jack_server_priority(backend, link.output,
                                                             client_name=args.client_name))
        log.info("engine thread: %s", why)
        # idle under a real-time server, JACK's process thread on the CPU of the server's
        # own (livegen/ports/affinity.py: idle CPU 0.5 % instead of 1.3-1.5 % on a 2-core VM)
        affinity = CycleAffinity(lambda: jack_process_tid(link.output)) if priority is not None else None
        engine = Engine(models(preset), preset, link.outlet.send, seed=args.seed, realtime=True,
                        input_stalls=link.stalled_between, input_losses=link.input_losses,
                        models=models)
        # A full collection holds the GIL, so it stalls the engine and the scheduler:
        # over the ~30k objects of startup it took 15-34 ms on this 2-core VM; frozen,
        # they are never scanned again (livegen bench: "full GC pause").
        gc.freeze()
        engine.start(priority)
        started = True
        link.listen(engine)
        ready(f"listening on {link.describe()} (preset {preset.name}, backend {backend})")
        display = status.open_display(engine.activity)
        code = _watch(link, engine, stop, display, loss, reconnect=args.reconnect, affinity=affinity)
        log.info("stopping")
        return code
    finally:
        if display is not None:
            display.close()  # the status line ends with a newline; the exit log goes below it
        scheduler_log.removeFilter(_not_server_gone)
        with closing_watchdog(close_watchdog_s):
            link.close_input()  # cancels the callback: no more feed() calls
            if engine is not None:
                loss.update(link.missed_so_far(), engine.activity.messages_in)
                engine.stop()  # note_offs for every sounding note, then CC123/CC120
            link.close_output()
        if started:
            log_stats(engine)
        if link.lost_messages:
            log.warning("%d MIDI messages were lost: livegen's JACK input queue was full",
                        link.lost_messages)
        if loss.cycles:
            log.warning("JACK ran %d cycles without livegen's client while MIDI input was "
                        "arriving (a busy machine, a non-real-time server or an xrun): some of "
                        "that input may be lost", loss.cycles)
        if link.resent_note_offs:
            log.warning("%d note_offs were sent again after %d JACK xruns (an xrun loses the MIDI "
                        "of its cycle), so that no note is left sounding", link.resent_note_offs, link.xruns)


def _watch(link: Link, engine, stop: threading.Event, display: status.Display, loss: InputLoss,
           *, reconnect: bool, affinity=None) -> int:
    """Watch the ports until ``stop``: a lost server, a reconnected output (see the module).

    Each watch also updates ``display`` and ``loss``, and has ``affinity``
    (a :class:`~livegen.ports.affinity.CycleAffinity`, or None) follow the server.
    """
    activity = engine.activity
    watch_s = timebase.now()
    while not stop.wait(min(WATCH_INTERVAL_S, display.interval_s)):
        now_s = timebase.now()
        display.update(now_s)
        if now_s < watch_s + WATCH_INTERVAL_S * 0.9:  # the status line's wake-up only
            continue
        watch_s = now_s
        loss.update(link.missed_so_far(), activity.messages_in)
        if affinity is not None:  # pinned only while idle
            affinity.update(now_s, activity.messages_in,
                            activity.state not in (State.PREPARING, State.ANSWERING))
        if not link.lost:
            link.outlet.renew(engine.scheduler.sounding())
            continue
        log.warning("the %s server went away: %s", link.backend,
                    "waiting for it to come back (--no-reconnect exits instead)" if reconnect
                    else "exiting (status 1; --reconnect waits for it instead)")
        link.close_input()
        link.close_output()
        engine.scheduler.cancel()  # nothing sounds any more: an empty ledger for the next server
        if not reconnect:
            return EXIT_SERVER_LOST
        if not link.reopen(stop):
            break
        link.listen(engine)
        log.warning("the %s server is back: listening on %s again", link.backend, link.describe())
    return EXIT_OK


def log_stats(engine) -> None:
    """Log the engine's counters and response latency percentiles (the daemon's last line)."""
    stats = engine.stats
    latencies = sorted(getattr(stats, "latencies_ms", ()) or ())
    text = ""
    if latencies:
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        text = (f", response latency p50 {statistics.median(latencies):.1f} ms "
                f"p99 {p99:.1f} ms")
    log.info("%s responses (%s cut short by barge-in), %s notes sent, %s messages in "
             "(%s dropped)%s",
             getattr(stats, "responses", "?"), getattr(stats, "barge_ins", "?"),
             getattr(stats, "notes_sent", "?"), getattr(stats, "messages_in", "?"),
             getattr(stats, "dropped_messages", "?"), text)
