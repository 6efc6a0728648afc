"""Which MIDI servers run here (jackd, PipeWire), which libjack this process uses, and a JACK query.

On a PipeWire desktop (current Ubuntu and Fedora) the JACK server is PipeWire
itself, reached through PipeWire's own ``libjack.so.0``. python-rtmidi links
``libjack.so.0`` by name: if the dynamic loader finds jackd's library first
(Debian's ``libjack-jackd2-0``, pulled in by python-rtmidi's packages), rtmidi
sees no JACK server although PipeWire runs. ``pw-jack COMMAND`` runs a command
with PipeWire's libjack first on the library path. :func:`pipewire_hint` says
so in the "no JACK server" error.

Everything here reads ``/proc`` (Linux) and never raises for what it cannot
read: elsewhere, or without permission, it finds nothing.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerProcess", "server_processes", "loaded_libjack", "pipewire_hint", "PW_JACK"]

PW_JACK = "pw-jack"
_JACKD_NAMES = ("jackd", "jackdbus")
_PIPEWIRE_NAMES = ("pipewire",)
_JACK_DEFAULT_SERVER = "default"  # libjack's server name when $JACK_DEFAULT_SERVER is unset


@dataclass(frozen=True)
class ServerProcess:
    """A MIDI server process seen in ``/proc``.

    Attributes:
        kind: ``jackd`` (jackd or jackdbus) or ``pipewire``.
        pid: its process id.
        name: a jackd's server name (``-n``; ``default`` without one); None for PipeWire.
        realtime: a jackd's command line asks for real-time scheduling (jackd's
            default, unless ``-r``/``--no-realtime``); None when not known (jackdbus, PipeWire).
    """

    kind: str
    pid: int
    name: str | None
    realtime: bool | None


def _jackd_options(argv: list[str]) -> tuple[str, bool]:
    """``(server name, real-time)`` from a jackd command line (the options before ``-d``)."""
    name, realtime = _JACK_DEFAULT_SERVER, True
    options = argv[1:argv.index("-d")] if "-d" in argv else argv[1:]
    for i, word in enumerate(options):
        if word in ("-r", "--no-realtime"):
            realtime = False
        elif word in ("-R", "--realtime"):
            realtime = True
        elif word in ("-n", "--name") and i + 1 < len(options):
            name = options[i + 1]
        elif word.startswith("--name="):
            name = word.split("=", 1)[1]
    return name, realtime


def server_processes(proc: Path = Path("/proc")) -> list[ServerProcess]:
    """The jackd, jackdbus and PipeWire processes running (any user's), by pid.

    Args:
        proc: the proc file system (tests pass a fake one).

    Returns:
        One entry per process; empty off Linux.
    """
    found = []
    try:
        entries = [entry for entry in proc.iterdir() if entry.name.isdigit()]
    except OSError:
        return []
    for entry in entries:
        try:
            comm = (entry / "comm").read_text().strip()
            if comm not in _JACKD_NAMES and comm not in _PIPEWIRE_NAMES:
                continue
            argv = [a for a in (entry / "cmdline").read_bytes().decode(errors="replace").split("\0") if a]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if comm in _PIPEWIRE_NAMES:
            found.append(ServerProcess("pipewire", int(entry.name), None, None))
        elif comm == "jackd":
            found.append(ServerProcess("jackd", int(entry.name), *_jackd_options(argv)))
        else:
            found.append(ServerProcess("jackd", int(entry.name), None, None))
    return sorted(found, key=lambda s: s.pid)


def loaded_libjack(maps: Path = Path("/proc/self/maps")) -> str | None:
    """The path of the libjack mapped into this process (python-rtmidi's), or None."""
    try:
        text = maps.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        if Path(path).name.startswith("libjack.so"):
            return path
    return None


def pipewire_hint(processes: list[ServerProcess] | None = None, libjack: str | None = None) -> str:
    """What to add to a "no JACK server" error when PipeWire runs here; "" when it does not.

    Args:
        processes: the servers running (default: :func:`server_processes`).
        libjack: the libjack this process loaded (default: :func:`loaded_libjack`).

    Returns:
        ``"; PipeWire runs here: use its JACK, `pw-jack livegen ...`"``
        (with how to install ``pw-jack`` when it is missing), or ``""``.
    """
    if not sys.platform.startswith("linux"):
        return ""
    processes = server_processes() if processes is None else processes
    if not any(p.kind == "pipewire" for p in processes):
        return ""
    libjack = loaded_libjack() if libjack is None else libjack
    if libjack and "pipewire" in libjack:  # PipeWire's own libjack and still no server
        return ("; PipeWire runs here and livegen uses its libjack, but its JACK service did "
                "not answer: is pipewire-jack installed and the session running?")
    install = "" if shutil.which(PW_JACK) else (" (pw-jack is in the package pipewire-jack; "
                                                "Fedora: pipewire-jack-audio-connection-kit)")
    return f"; PipeWire runs here: use its JACK, `pw-jack livegen ...`{install}"
