"""Backend selection: which MIDI system to use here, what ports it has, find one by name.

=========  ======================  =============================================
backend    rtmidi API              needs
=========  ======================  =============================================
alsa       ``API_LINUX_ALSA``      the sequencer device ``/dev/snd/seq``
jack       ``API_UNIX_JACK``       a running JACK server
coremidi   ``API_MACOSX_CORE``     macOS; virtual ports appear in every app
winmm      ``API_WINDOWS_MM``      Windows; no virtual ports: use loopMIDI
=========  ======================  =============================================

``auto`` picks ALSA when ``/dev/snd/seq`` exists, else JACK when a server
answers (Linux); CoreMIDI on macOS; Windows MM on Windows. Listing and
probing use python-rtmidi on every backend.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence

import rtmidi

try:  # optional C extension (setup.py): its client opens without holding the GIL
    from livegen import _jackmidi
except ImportError:
    _jackmidi = None

from livegen.errors import BackendError, PortNotFoundError
from livegen.ports.servers import pipewire_hint

__all__ = [
    "ALSA_SEQ_DEVICE",
    "BACKENDS",
    "INPUT_QUEUE_SIZE",
    "JACK_PROBE_TIMEOUT_S",
    "JACK_START_HINT",
    "PROBE_CLIENT_NAME",
    "compiled_backends",
    "find_port",
    "jack_running",
    "jack_silent",
    "list_ports",
    "livegen_port_names",
    "new_rtmidi",
    "other_livegen",
    "quiet_stderr",
    "resolve_backend",
]

ALSA_SEQ_DEVICE = "/dev/snd/seq"
PROBE_CLIENT_NAME = "livegen-probe"
#: How long :func:`jack_running` waits for a JACK server to answer, seconds: a server
#: that is there answers a client's open in milliseconds.
JACK_PROBE_TIMEOUT_S = 3.0
#: A probe given up on, still waiting on a silent server (a thread, or python-rtmidi's child process).
_silent_probe: threading.Thread | subprocess.Popen | None = None
#: rtmidi's input queue, in messages (python-rtmidi's default is 1024); at the poll
#: interval this only fills if the process stalls for seconds under a MIDI flood.
INPUT_QUEUE_SIZE = 4096

#: backend name -> rtmidi API constant
APIS: dict[str, int] = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}
BACKENDS = ("auto", *APIS)
_NAME_OF_API = {api: name for name, api in APIS.items()}

JACK_START_HINT = ("start one with `jackd -d alsa` (with a sound card) or "
                   "`jackd --no-realtime -d dummy -r 48000 -p 64` (without), "
                   "or install jackd2 (apt-get install jackd2)")


def compiled_backends() -> set[str]:
    """The backends python-rtmidi was built with here (``alsa``, ``jack``, ...)."""
    return {_NAME_OF_API[api] for api in rtmidi.get_compiled_api() if api in _NAME_OF_API}


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 for a moment.

    libjack and alsa-lib print to the C-level stderr when a probe fails
    ("Cannot connect to server socket ..."); the user should see livegen's
    one-line error instead. Only used around probes and opens at start-up,
    before any other thread runs. Without a usable fd 2 (a GUI host) it does
    nothing.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2: nothing to hide
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def jack_running() -> bool:
    """Whether a JACK server answers, found by opening (and closing) a JACK client.

    This works for JACK1, JACK2 and PipeWire's JACK alike, unlike looking for
    a server socket. The client opens with ``JackNoStartServer``, so the probe
    never starts a server. The server asked is libjack's default
    (``$JACK_DEFAULT_SERVER``, else ``default``).

    With ``livegen._jackmidi`` built, the probe runs on a thread of its own: a
    server that is there but does not answer (SIGSTOP, a wedged driver) would
    block it for good, so after :data:`JACK_PROBE_TIMEOUT_S` this returns False
    and :func:`jack_silent` True (until a probe answers). Without the extension
    python-rtmidi probes, in a child process (it holds the GIL while libjack
    waits, so a thread could not be given up on), given up on alike and killed
    at exit if it still waits. While a probe given up on waits, no other starts.
    """
    global _silent_probe
    if "jack" not in compiled_backends():
        return False
    if jack_silent():
        return False  # the last probe still waits: do not pile up more
    if _jackmidi is None:
        return _rtmidi_probe()
    answer: list[bool] = []
    probe = threading.Thread(target=_jackmidi_probe, args=(answer,), name="livegen-jack-probe", daemon=True)
    with quiet_stderr():
        probe.start()
        probe.join(JACK_PROBE_TIMEOUT_S)
    _silent_probe = probe if probe.is_alive() else None
    return bool(answer) and answer[0]


def jack_silent() -> bool:
    """Whether the last :func:`jack_running` probe found a JACK server that does not answer."""
    probe = _silent_probe
    if isinstance(probe, subprocess.Popen):
        return probe.poll() is None
    return probe is not None and probe.is_alive()


def _jackmidi_probe(answer: list[bool]) -> None:
    try:
        _jackmidi.Client(PROBE_CLIENT_NAME).close()
    except OSError:  # no server
        answer.append(False)
    else:
        answer.append(True)


def _rtmidi_probe() -> bool:
    """python-rtmidi's probe, in a child process given :data:`JACK_PROBE_TIMEOUT_S`."""
    global _silent_probe
    child = subprocess.Popen([sys.executable, "-c", _RTMIDI_PROBE, PROBE_CLIENT_NAME],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return child.wait(JACK_PROBE_TIMEOUT_S) == 0
    except subprocess.TimeoutExpired:
        _silent_probe = child
        atexit.register(child.kill)  # a no-op once it has ended (the server answered)
        return False


#: The child's program (argv[1]: the client name): exit 0 if a JACK server answered, else 1.
_RTMIDI_PROBE = """
import sys, rtmidi
try:
    probe = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, sys.argv[1])
    probe.get_port_count()  # rtmidi connects lazily on some versions
except rtmidi.RtMidiError:
    sys.exit(1)
probe.delete()
"""


def resolve_backend(backend: str = "auto") -> str:
    """The concrete backend for a ``--backend`` value: :func:`_resolve_backend`, and ``pw-jack``.

    Raises:
        BackendError: as :func:`_resolve_backend`; when no JACK server answers
            but PipeWire runs here, the message ends with how to reach
            PipeWire's JACK (``pw-jack livegen ...``, :func:`~livegen.ports.servers.pipewire_hint`).
    """
    try:
        return _resolve_backend(backend)
    except BackendError as err:
        hint = pipewire_hint() if backend in ("auto", "jack") and not jack_running() else ""
        if not hint:
            raise
        raise BackendError(f"{err}{hint}") from err


def _resolve_backend(backend: str = "auto") -> str:
    """The concrete backend to use for a ``--backend`` value.

    Args:
        backend: one of :data:`BACKENDS`.

    Returns:
        ``alsa``, ``jack``, ``coremidi`` or ``winmm``.

    Raises:
        BackendError: the backend is unknown, not compiled into python-rtmidi,
            or cannot run here (no ``/dev/snd/seq``, no JACK server); the
            message says what to install or start.
    """
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    compiled = compiled_backends()
    if backend == "auto":
        if sys.platform == "darwin":
            backend = "coremidi"
        elif sys.platform == "win32":
            backend = "winmm"
        elif "alsa" in compiled and os.path.exists(ALSA_SEQ_DEVICE):
            backend = "alsa"
        elif jack_running():
            backend = "jack"
        elif jack_silent():
            backend = "jack"  # the error below says the server does not answer
        else:
            raise BackendError(_no_backend(compiled))
    if backend not in compiled:
        raise BackendError(f"backend {backend!r} is not compiled into python-rtmidi here "
                           f"(available: {', '.join(sorted(compiled)) or 'none'})")
    if backend == "alsa" and not os.path.exists(ALSA_SEQ_DEVICE):
        raise BackendError(f"no ALSA sequencer ({ALSA_SEQ_DEVICE} is missing): load it with "
                           f"`modprobe snd-seq`, or use --backend jack")
    if backend == "jack" and not jack_running():
        if jack_silent():
            raise BackendError(f"the JACK server does not answer (for {JACK_PROBE_TIMEOUT_S:g} s): "
                               "it is stopped or hung; restart it")
        raise BackendError(f"no JACK server running: {JACK_START_HINT}")
    return backend


def _no_backend(compiled: set[str]) -> str:
    """Linux, neither ALSA nor JACK usable: what was found of each and what to do, one line < 160 chars."""
    if not os.path.exists(ALSA_SEQ_DEVICE):
        alsa = f"no ALSA sequencer ({ALSA_SEQ_DEVICE})"
    else:
        alsa = "an ALSA sequencer, but this python-rtmidi has no ALSA"
    if "jack" not in compiled:
        return f"{alsa}, and this python-rtmidi has no JACK: reinstall python-rtmidi from its wheel"
    if shutil.which("jackd"):
        return (f"{alsa} and no JACK server running; jackd is installed: start it "
                f"(`jackd -d alsa`, or `-d dummy` with no sound card)")
    return (f"{alsa} and no JACK server running, nor jackd: `sudo modprobe snd-seq`, or "
            f"`apt-get install jackd2` and start jackd")


def new_rtmidi(kind: type, backend: str, client_name: str):
    """A new ``rtmidi.MidiIn``/``MidiOut`` on ``backend``, libjack/alsa-lib chatter hidden.

    Args:
        kind: ``rtmidi.MidiIn`` or ``rtmidi.MidiOut``.
        backend: a concrete backend (see :func:`resolve_backend`).
        client_name: the MIDI client name others see.

    Raises:
        BackendError: rtmidi cannot open the backend.
    """
    extra = {"queue_size_limit": INPUT_QUEUE_SIZE} if kind is rtmidi.MidiIn else {}
    with quiet_stderr():
        try:
            return kind(APIS[backend], client_name, **extra)
        except rtmidi.RtMidiError as err:
            raise BackendError(f"cannot open the {backend} MIDI backend ({err})") from err


def list_ports(backend: str = "auto") -> tuple[list[str], list[str]]:
    """The MIDI ports there are.

    Args:
        backend: one of :data:`BACKENDS`.

    Returns:
        ``(inputs, outputs)``: ``inputs`` are the sources livegen can listen to
        (``--in``: keyboards, a DAW's output); ``outputs`` the destinations it
        can play to (``--out``: synths, a DAW's input).

    Raises:
        BackendError: no backend can open (see :func:`resolve_backend`).
    """
    backend = resolve_backend(backend)
    result = []
    for kind in (rtmidi.MidiIn, rtmidi.MidiOut):
        midi = new_rtmidi(kind, backend, PROBE_CLIENT_NAME)
        try:
            result.append(list(midi.get_ports()))
        finally:
            midi.delete()
    return result[0], result[1]


def find_port(ports: Sequence[str], wanted: str, *, direction: str) -> int:
    """Index of the port named ``wanted``: an exact name, or a unique substring.

    Matching is exact first, then by case-insensitive substring, so
    ``--in keystation`` finds ``Keystation 49 MK3:Keystation 49 MK3 MIDI 1 20:0``.

    Args:
        ports: the port names, as rtmidi lists them.
        wanted: the name or part of it.
        direction: ``input`` or ``output``, for the message.

    Returns:
        The index of the port in ``ports``.

    Raises:
        PortNotFoundError: no port or several ports match; the message lists
            the ports there are (or those that matched).
    """
    if wanted in ports:
        return list(ports).index(wanted)
    matches = [i for i, name in enumerate(ports) if wanted.lower() in name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        there = ", ".join(repr(p) for p in ports) or "none"
        raise PortNotFoundError(f"no MIDI {direction} port matches {wanted!r} "
                                f"({direction} ports: {there})")
    names = ", ".join(repr(ports[i]) for i in matches)
    raise PortNotFoundError(f"{len(matches)} MIDI {direction} ports match {wanted!r}: {names}; "
                            f"give more of the name")


def livegen_port_names(names: Sequence[str], client_name: str, port_names: Sequence[str]) -> list[str]:
    """The names in ``names`` of ports ``port_names`` of a client called ``client_name``.

    A client's name may carry the suffix the MIDI system adds to a taken name
    (JACK: ``livegen-01``); ALSA adds the client and port numbers at the end
    (``livegen:livegen in 128:0``).

    Args:
        names: port names as rtmidi lists them (``client:port``).
        client_name: livegen's client name, e.g. ``livegen``.
        port_names: livegen's port names, e.g. ``livegen in``, ``livegen out``.

    Returns:
        The matching names, in the order given.
    """
    pattern = re.compile(rf"{re.escape(client_name)}(-\d+)?:(" +
                         "|".join(re.escape(p) for p in port_names) + r")( \d+:\d+)?")
    return [name for name in names if pattern.fullmatch(name)]


def other_livegen(backend: str, client_name: str, port_names: Sequence[str]) -> list[str]:
    """The ports of another livegen (or anything under its names) open on ``backend`` now.

    Args:
        backend: a concrete backend (see :func:`resolve_backend`).
        client_name: the client name livegen would open under.
        port_names: the names of livegen's ports (``livegen in``, ``livegen out``).

    Returns:
        Their names (``livegen:livegen in``, ...), sorted; empty when there are none.

    Raises:
        BackendError: the backend cannot open.
    """
    inputs, outputs = list_ports(backend)
    return sorted(set(livegen_port_names([*inputs, *outputs], client_name, port_names)))
