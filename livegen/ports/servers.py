"""Which MIDI servers run here (jackd, PipeWire), which libjack this process uses, and a JACK query.

On a PipeWire desktop (current Ubuntu and Fedora) the JACK server is PipeWire
itself, reached through PipeWire's own ``libjack.so.0``; jackd's libjack sees
no server there. ``pw-jack COMMAND`` runs a command with PipeWire's libjack
first on the library path (Fedora installs it system-wide). That reaches
livegen's one-client extension and a python-rtmidi built on the machine, both
linked to ``libjack.so.0``; python-rtmidi's wheel from PyPI carries jackd's
libjack of its own under a mangled name (``libjack-<hash>.so.0``), which
``pw-jack`` cannot replace. :func:`pipewire_hint` says which way out applies in
the "no JACK server" error.

Everything here reads ``/proc`` (Linux) and never raises for what it cannot
read: elsewhere, or without permission, it finds nothing.
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerProcess", "server_processes", "loaded_libjacks", "pipewire_hint", "PW_JACK"]

PW_JACK = "pw-jack"
_JACKD_NAMES = ("jackd", "jackdbus")
_PIPEWIRE_NAMES = ("pipewire",)
_JACK_DEFAULT_SERVER = "default"  # libjack's server name when $JACK_DEFAULT_SERVER is unset
_LIBJACK = re.compile(r"libjack(-[0-9a-f]+)?\.so")  # libjack.so.0, or a wheel's libjack-<hash>.so.0
_BUNDLED = re.compile(r"libjack-[0-9a-f]+\.so")


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


def loaded_libjacks(maps: Path = Path("/proc/self/maps")) -> list[str]:
    """The paths of every libjack mapped into this process (python-rtmidi's, livegen's), in order.

    Args:
        maps: the process's memory map (tests pass a fake one).
    """
    try:
        text = maps.read_text()
    except OSError:
        return []
    found: list[str] = []
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        path = fields[5] if len(fields) == 6 else ""
        if _LIBJACK.match(Path(path).name) and path not in found:
            found.append(path)
    return found


def pipewire_hint(processes: list[ServerProcess] | None = None,
                  libjacks: list[str] | None = None) -> str:
    """What to add to a "no JACK server" error when PipeWire runs here; "" when it does not.

    Args:
        processes: the servers running (default: :func:`server_processes`).
        libjacks: the libjacks this process loaded (default: :func:`loaded_libjacks`).

    Returns:
        ``"; PipeWire runs here: use its JACK, `pw-jack livegen ...`"`` (with
        where ``pw-jack`` comes from when it is missing); with python-rtmidi's
        wheel, which ``pw-jack`` cannot redirect, ``--backend alsa`` first; or ``""``.
    """
    if not sys.platform.startswith("linux"):
        return ""
    processes = server_processes() if processes is None else processes
    if not any(p.kind == "pipewire" for p in processes):
        return ""
    libjacks = loaded_libjacks() if libjacks is None else libjacks
    if any(_BUNDLED.match(Path(path).name) for path in libjacks):
        return ("; PipeWire runs here, but python-rtmidi's wheel carries jackd's own libjack: use "
                "--backend alsa, or `pw-jack livegen ...` with python-rtmidi built here (docs/daw.md)")
    if any("pipewire" in path for path in libjacks):  # PipeWire's own libjack and still no server
        return ("; PipeWire runs here and livegen uses its libjack, but its JACK did not answer: "
                "is pipewire-jack installed and your session's PipeWire running?")
    install = "" if shutil.which(PW_JACK) else (" (pw-jack is in the package pipewire-jack; "
                                                "Fedora: pipewire-jack-audio-connection-kit)")
    return f"; PipeWire runs here: use its JACK, `pw-jack livegen ...`{install}"
