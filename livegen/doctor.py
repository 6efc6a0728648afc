"""``livegen doctor``: what livegen would use here, and what stands in its way, one line each.

Checks, in order: the MIDI backend and why ``auto`` chose it; the JACK server
(jackd or PipeWire's) and its real-time flag, period and rate; real-time
scheduling for this process; the ports livegen would open and the ports there
are; the model (path, styles, whether it loads and has the preset's style);
and the loop-back check. Each finding is ``ok``, a ``note`` (advice; livegen
works) or a ``PROBLEM`` with its fix on the same line. The exit status is 0
with no problem, 1 with any.

The loop-back check (:mod:`livegen.loopback`) opens livegen's own ports,
waits up to ``wait_s`` for both to be connected (a patchbay or DAW that
restores connections by name does it; on JACK the wait ends as soon as they
are), then sends a probe note on ``livegen out``. Without ``loopback`` a probe
that comes back on ``livegen in`` is a MIDI feedback loop made in the DAW (MIDI
thru or input monitoring on the track that records livegen): a problem. With
``loopback`` the user has routed it back on purpose, and the doctor times
:data:`~livegen.loopback.LOOPBACK_PROBES` round trips.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from livegen import timebase
from livegen.errors import LivegenError
from livegen.loopback import LOOPBACK_PROBES, PROBE_TIMEOUT_S, check_loop
from livegen.osthread import REALTIME_PRIORITY, request_realtime
from livegen.ports import (
    IN_PORT_NAME,
    OUT_PORT_NAME,
    list_ports,
    other_livegen,
    resolve_backend,
)
from livegen.ports.backends import (
    ALSA_SEQ_DEVICE,
    JACK_PROBE_TIMEOUT_S,
    JACK_START_HINT,
    compiled_backends,
    jack_silent,
)
from livegen.ports.jackquery import JackQuery
from livegen.ports.servers import loaded_libjacks, pipewire_hint, server_processes

__all__ = ["Finding", "DoctorOptions", "diagnose", "exit_status", "run_doctor", "OK", "NOTE", "PROBLEM"]

OK, NOTE, PROBLEM = "ok", "note", "PROBLEM"


@dataclass(frozen=True)
class Finding:
    """One line of the report.

    Attributes:
        topic: what was checked (``backend``, ``server``, ``real-time``, ``ports``, ``model``,
            ``loop-back``).
        level: :data:`OK`, :data:`NOTE` or :data:`PROBLEM`.
        text: what was found.
        fix: what to do (for a note or a problem).
    """

    topic: str
    level: str
    text: str
    fix: str = ""

    def line(self) -> str:
        """The finding as one line: ``PROBLEM server: ... | fix: ...``."""
        fix = f" | fix: {self.fix}" if self.fix else ""
        return f"{self.level:<7} {self.topic}: {self.text}{fix}"


@dataclass(frozen=True)
class DoctorOptions:
    """What ``livegen doctor`` checks (the command line's options).

    Attributes:
        backend: a ``--backend`` value.
        preset: the preset whose style the model must have (name or path).
        model: an ONNX model path; None: the packaged one (or ``$LIVEGEN_MODEL``).
        client_name: the MIDI client name livegen would open under.
        jack_client: ``shared`` or ``rtmidi`` (as ``livegen run --jack-client``).
        loopback: the user routed ``livegen out`` back to ``livegen in`` on purpose: time it.
        wait_s: how long to wait for ``livegen out`` to be connected before the probe, seconds.
    """

    backend: str = "auto"
    preset: str = "romantic"
    model: str | None = None
    client_name: str = "livegen"
    jack_client: str = "shared"
    loopback: bool = False
    wait_s: float = 1.0


def exit_status(findings: list[Finding]) -> int:
    """0 when no finding is a problem, else 1."""
    return 1 if any(f.level == PROBLEM for f in findings) else 0


def diagnose(options: DoctorOptions, emit: Callable[[Finding], None] = lambda finding: None
             ) -> list[Finding]:
    """Run every check; hand each finding to ``emit`` as soon as it is made.

    Args:
        options: what to check.
        emit: called with each finding in order (the CLI prints it).

    Returns:
        Every finding, in order.
    """
    findings: list[Finding] = []

    def add(finding: Finding) -> None:
        findings.append(finding)
        emit(finding)

    backend = _backend(options.backend, add)
    query = _server(backend, options.backend, add) if sys.platform.startswith("linux") else None
    try:
        add(_realtime())
        loop_ok = backend is not None and _ports(backend, options.client_name, add)
        add(_model(options.preset, options.model))
        if loop_ok and backend == "winmm":
            add(Finding("loop-back", NOTE, "not checked on Windows: it has no virtual ports",
                        "route your loopMIDI ports by hand and keep the DAW from echoing "
                        "livegen's output port into its input port"))
        elif loop_ok:
            add(_loop(backend, options, query))
        elif backend is not None:
            add(Finding("loop-back", NOTE, "not checked: see the ports line above"))
    finally:
        if query is not None:
            query.close()
    return findings


# --- backend, server, real-time ---------------------------------------------------------------


def _backend(asked: str, add: Callable[[Finding], None]) -> str | None:
    try:
        backend = resolve_backend(asked)
    except LivegenError as err:
        add(Finding("backend", PROBLEM, f"none can open (--backend {asked})", _fix_of(str(err))))
        return None
    if asked != "auto":
        why = f"as asked (--backend {asked})"
    elif backend == "alsa":
        why = f"auto: the ALSA sequencer {ALSA_SEQ_DEVICE} is there"
    elif backend == "jack":
        why = (f"auto: no ALSA sequencer ({ALSA_SEQ_DEVICE} absent"
               f"{'' if 'alsa' in compiled_backends() else ', or ALSA not in python-rtmidi'}), "
               f"and a JACK server answers")
    else:
        why = f"auto: the system's MIDI on {sys.platform}"
    add(Finding("backend", OK, f"{backend} ({why})"))
    return backend


def _fix_of(message: str) -> str:
    """The advice part of a BackendError message (after its first colon), or the whole."""
    head, sep, tail = message.partition(": ")
    return tail if sep and tail else message


def _server(backend: str | None, asked: str, add: Callable[[Finding], None]) -> JackQuery | None:
    """The JACK server: which one runs, real-time or not; a JackQuery on it, or None."""
    if backend not in (None, "jack"):
        add(Finding("server", OK, f"not needed on {backend}"))
        return None
    processes = server_processes()
    jackds = [p for p in processes if p.kind == "jackd"]
    pipewire = [p for p in processes if p.kind == "pipewire"]
    wanted = os.environ.get("JACK_DEFAULT_SERVER", "default")
    running = ", ".join(f"jackd {p.name or '(dbus)'!r} (pid {p.pid})" for p in jackds)
    if pipewire:
        running += (", " if running else "") + f"PipeWire (pid {pipewire[0].pid})"
    if jack_silent():  # the backend's probe still waits on it: so would the query, for good
        add(Finding("server", PROBLEM, f"the JACK server {wanted!r} does not answer (for "
                                       f"{JACK_PROBE_TIMEOUT_S:g} s); running: {running or 'no jackd'}",
                    "it is stopped or hung: restart it"))
        return None
    try:
        query = JackQuery()
    except OSError:
        env = " ($JACK_DEFAULT_SERVER)" if "JACK_DEFAULT_SERVER" in os.environ else ""
        hint = pipewire_hint(processes)
        if hint:
            fix = hint.lstrip("; ")
        elif jackds:
            names = [p.name for p in jackds if p.name]
            fix = (f"point livegen at a running one (`export JACK_DEFAULT_SERVER={names[0]}`) or "
                   f"start yours: `jackd -n {wanted} -d ...`" if names else JACK_START_HINT)
        else:
            fix = JACK_START_HINT
        add(Finding("server", PROBLEM, f"no JACK server named {wanted!r}{env} answers; running: "
                                       f"{running or 'no jackd, no PipeWire'}", fix))
        return None
    libjack = ", ".join(loaded_libjacks()) or "libjack"
    kind = "PipeWire's JACK" if "pipewire" in libjack else "jackd"
    period_ms = 1000.0 * query.period_frames / max(query.rate_hz, 1)
    text = (f"{kind} {wanted!r} answers: {query.period_frames} frames at {query.rate_hz} Hz "
            f"({period_ms:.2f} ms period), real-time {'on' if query.realtime else 'off'} "
            f"(libjack: {libjack})")
    if query.realtime:
        add(Finding("server", OK, text))
    else:
        add(Finding("server", NOTE, text,
                    "a server without real-time scheduling misses cycles (and MIDI) on a busy "
                    "machine: start jackd with -R (jackd -R -P 70 ...); PipeWire: see docs/daw.md"))
    if pipewire and kind == "jackd":
        add(Finding("server", NOTE, f"PipeWire runs too (pid {pipewire[0].pid}) but livegen "
                                    f"talks to jackd", "to use PipeWire's JACK: `pw-jack livegen ...`"))
    return query


def _realtime() -> Finding:
    """Whether this process may run a thread with SCHED_FIFO (as livegen's scheduler asks)."""
    if not sys.platform.startswith("linux"):
        return Finding("real-time", OK, f"not checked on {sys.platform}")
    import resource  # POSIX only

    granted: list[bool] = []
    probe = threading.Thread(target=lambda: granted.append(request_realtime(REALTIME_PRIORITY)),
                             name="livegen-doctor-rt")
    probe.start()
    probe.join()
    soft, _ = resource.getrlimit(resource.RLIMIT_RTPRIO)
    limit = "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
    if granted and granted[0]:
        return Finding("real-time", OK, f"SCHED_FIFO {REALTIME_PRIORITY} granted to this process "
                                        f"(rtprio limit {limit}, uid {os.getuid()})")
    return Finding("real-time", NOTE,
                   f"SCHED_FIFO not permitted (rtprio limit {limit}); livegen runs, its notes may "
                   f"be late on a busy machine",
                   "add yourself to the audio group with `@audio - rtprio 95` in "
                   "/etc/security/limits.d/audio.conf, then log in again")


# --- ports, model -----------------------------------------------------------------------------


def _ports(backend: str, client_name: str, add: Callable[[Finding], None]) -> bool:
    """The ports livegen would open and those there are; False when a livegen holds its names."""
    try:
        inputs, outputs = list_ports(backend)
        taken = other_livegen(backend, client_name, (IN_PORT_NAME, OUT_PORT_NAME))
    except LivegenError as err:
        add(Finding("ports", PROBLEM, f"cannot list the {backend} ports", str(err)))
        return False
    mine = f"{client_name}:{IN_PORT_NAME}, {client_name}:{OUT_PORT_NAME}"
    there = (f"sources {', '.join(inputs) or '(none)'}; destinations "
             f"{', '.join(outputs) or '(none)'}")
    if taken:
        add(Finding("ports", NOTE, f"a livegen already holds {', '.join(taken)}; there are "
                                   f"{there}", "stop it to run the loop-back check (a second "
                                               "livegen needs its own --client-name)"))
        return False
    add(Finding("ports", OK, f"would open {mine}; there are {there}"))
    return True


def _model(preset_name: str, model_path: str | None) -> Finding:
    """Whether the model loads and has the preset's style."""
    try:
        from livegen.model import ModelSet
        from livegen.presets import load_preset

        preset = load_preset(preset_name)
        start_s = timebase.now()
        model = ModelSet(model_path)(preset)  # the preset's own model, or --model
        load_ms = 1000 * (timebase.now() - start_s)
    except LivegenError as err:
        return Finding("model", PROBLEM, str(err).split(": ")[0],
                       f"{' '.join(str(err).split())} (--model PATH, or $LIVEGEN_MODEL)")
    quantized = model.metadata.get("quantized")  # livegen_train.quantize names the float32 source
    graph = f" (the int8 graph of {quantized.get('from')})" if isinstance(quantized, dict) else ""
    return Finding("model", OK, f"{model.path}{graph} loads in {load_ms:.0f} ms; styles "
                                f"{', '.join(model.styles)}; preset {preset.name} uses "
                                f"{preset.conditioning.style!r}")


# --- loop-back --------------------------------------------------------------------------------


def _loop(backend: str, options: DoctorOptions, query: JackQuery | None) -> Finding:
    """The loop-back probe's finding (see the module's docstring)."""
    checked = check_loop(backend, client_name=options.client_name,
                         jack_client=options.jack_client, wait_s=options.wait_s,
                         probes=LOOPBACK_PROBES if options.loopback else 1,
                         query=query if backend == "jack" else None)
    if checked.error:
        return Finding("loop-back", PROBLEM, "cannot open livegen's ports", checked.error)
    where = f" ({checked.route})" if checked.route else ""
    trips_ms = sorted(1000 * t for t in checked.trips_s)
    if options.loopback:
        if checked.connected is False:
            return Finding("loop-back", PROBLEM, f"not routed: {checked.route} (waited "
                                                 f"{options.wait_s:g} s)", _ROUTE_FIX)
        if not trips_ms:
            return Finding("loop-back", PROBLEM, f"the probe on {OUT_PORT_NAME} did not come back "
                                                 f"on {IN_PORT_NAME} within "
                                                 f"{PROBE_TIMEOUT_S * 1000:.0f} ms{where}", _ROUTE_FIX)
        return Finding("loop-back", OK, f"round trip {OUT_PORT_NAME} -> {IN_PORT_NAME}{where}: "
                                        f"median {statistics.median(trips_ms):.1f} ms, max "
                                        f"{trips_ms[-1]:.1f} ms over {len(trips_ms)} probe(s)")
    if checked.connected is False:
        return Finding("loop-back", OK, f"no feedback loop: {checked.route} (waited "
                                        f"{options.wait_s:g} s for a DAW or patchbay)")
    if trips_ms:
        return Finding("loop-back", PROBLEM,
                       f"MIDI feedback loop: the probe on {OUT_PORT_NAME} came back on "
                       f"{IN_PORT_NAME} {trips_ms[0]:.1f} ms later{where}",
                       "turn off MIDI thru / input monitoring on the DAW track that records "
                       f"{OUT_PORT_NAME}, or do not route it to {IN_PORT_NAME} (livegen ignores "
                       "its own echoes, with a warning, but the DAW hears every note twice)")
    return Finding("loop-back", OK, f"no feedback loop: the probe on {OUT_PORT_NAME} did not come "
                                    f"back within {PROBE_TIMEOUT_S * 1000:.0f} ms{where}")


_ROUTE_FIX = (f"route {OUT_PORT_NAME} back to {IN_PORT_NAME} (a DAW track with input "
              f"{OUT_PORT_NAME}, output {IN_PORT_NAME} and monitoring on; or `jack_connect "
              f"'livegen:{OUT_PORT_NAME}' 'livegen:{IN_PORT_NAME}'`) during --wait")


def run_doctor(args, say: Callable[[str], None], prog: str = "livegen") -> int:
    """``livegen doctor``: ``say`` each finding's line as it comes, then the verdict; the exit status."""
    options = DoctorOptions(backend=args.backend, preset=args.preset, model=args.model,
                            client_name=args.client_name, jack_client=args.jack_client,
                            loopback=args.loopback, wait_s=max(args.wait, 0.0))
    findings = diagnose(options, emit=lambda finding: say(finding.line()))
    problems = sum(f.level == PROBLEM for f in findings)
    say(f"{prog} doctor: {problems} problem(s)" if problems else f"{prog} doctor: healthy")
    return exit_status(findings)
