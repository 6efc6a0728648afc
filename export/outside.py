"""The out-of-corpus development set: real MIDI music that the training corpus does not hold.

Continuations are judged on music no one here wrote and the model never saw
(issue 13). The music comes from Debian packages that ship MIDI files,
fetched once with ``apt-get download`` (a package registry: allowed here, and
nothing is installed) and unpacked with ``dpkg-deb -x`` into the cache beside
the corpus cache (``$LIVEGEN_CACHE/outside/<package>-<version>/``). Later
calls read the cache and touch no network.

Three roles: ``dev`` music is what knobs are tuned on; ``check`` music is
never tuned on and says whether a tuned knob holds on other music (``livegen
evaluate`` judges issue 13's acceptance on it); ``extra`` music is a second
check, read only to see whether what passes on ``check`` holds on a third set.
``planetblupi-music-midi`` is never fetched: it is the project's blind check,
kept out of every development decision (:data:`BLIND`).

Usage::

    python -m livegen_train.outside            # fetch (once) and list the songs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from livegen_train.corpus import Piece, cache_dir, load_midi_dir

__all__ = ["Source", "SOURCES", "ROLES", "BLIND", "fetch", "sources_for", "load_outside", "main"]

log = logging.getLogger(__name__)

#: Packages reserved as a blind check: never fetched, read or listed by this module.
BLIND = frozenset({"planetblupi-music-midi"})
APT_TIMEOUT_S = 120  # one `apt-get download` (a few hundred kB)
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Source:
    """A Debian package that ships real MIDI music.

    Attributes:
        package: the Debian package name.
        folder: where its MIDI files lie inside the package (a path inside the .deb).
        style: the label its pieces get (``Piece.style``); a description, not a corpus style.
        note: what the music is, and whose.
        role: ``dev`` (tune on it) or ``check`` (never tune on it; see whether a knob holds).
    """

    package: str
    folder: str
    style: str
    note: str
    role: str = "dev"


SOURCES: tuple[Source, ...] = (
    Source("openttd-openmsx", "usr/share/games/openttd/baseset/openmsx", "openmsx",
           "OpenMSX, OpenTTD's music set: 31 songs by several composers (ragtime, boogie, "
           "jazz, marches, a clavinet riff); GPL-2"),
    Source("simutrans-data", "usr/share/games/simutrans/music", "simutrans",
           "Simutrans's game music: 13 songs (themes, swing, ballads) by its own composers",
           role="check"),
    Source("freedink-data", "usr/share/games/dink/dink/Sound", "freedink",
           "FreeDink's replacement music: 12 MIDI files, game themes by Joshua O'Leary and "
           "others, and MIDI renderings of Pachelbel's Canon, Schubert's Serenade D957 and "
           "Debussy's Reverie (none of them in the music21 corpus); GPL-3+, Art Libre",
           role="extra"),
    Source("liquidwar-data", "usr/share/games/liquidwar/music", "liquidwar",
           "Liquid War's music: 1 MIDI song (colossus.mid); GPL-2+", role="extra"),
)
ROLES = ("dev", "check", "extra")
assert {s.role for s in SOURCES} <= set(ROLES)
assert not {s.package for s in SOURCES} & BLIND


def _run(command: Sequence[str], cwd: Path) -> str:
    try:
        result = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True,
                                timeout=APT_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RuntimeError(f"`{' '.join(command)}` failed: {err}") from err
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed (exit {result.returncode}): "
                           f"{result.stderr.strip().splitlines()[-1:] or ''}")
    return result.stdout


def _cached(root: Path, package: str) -> Path | None:
    """The newest complete cache folder of ``package`` (one with a manifest), or None."""
    done = sorted(p.parent for p in root.glob(f"{package}-*/{MANIFEST}"))
    return done[-1] if done else None


def fetch(sources: Sequence[Source] = SOURCES, *, root: Path | None = None,
          refresh: bool = False) -> dict[str, Path]:
    """Download (once) and unpack each source's MIDI files into the cache.

    Args:
        sources: the packages to fetch.
        root: the cache folder (default ``cache_dir() / "outside"``).
        refresh: download again even where a cached copy exists.

    Returns:
        ``{package: folder holding its .mid files}``.

    Raises:
        ValueError: a source is a blind-check package (:data:`BLIND`).
        RuntimeError: ``apt-get download`` or ``dpkg-deb`` failed (no cache to fall back on).
    """
    root = Path(root) if root is not None else cache_dir() / "outside"
    out = {}
    for source in sources:
        if source.package in BLIND:
            raise ValueError(f"{source.package} is reserved as a blind check and is never fetched")
        cached = None if refresh else _cached(root, source.package)
        if cached is not None:
            out[source.package] = cached
            continue
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            work = Path(tmp)
            _run(["apt-get", "download", source.package], work)
            (deb,) = work.glob(f"{source.package}_*.deb")
            version = deb.name.split("_")[1]
            _run(["dpkg-deb", "-x", str(deb), str(work / "x")], work)
            target = root / f"{source.package}-{version}"
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            files = {}
            for mid in sorted((work / "x" / source.folder).rglob("*")):
                if mid.suffix.lower() in (".mid", ".midi"):
                    shutil.copy2(mid, target / mid.name)
                    files[mid.name] = hashlib.sha256(mid.read_bytes()).hexdigest()
            (target / MANIFEST).write_text(json.dumps(
                {"package": source.package, "version": version, "deb_sha256":
                 hashlib.sha256(deb.read_bytes()).hexdigest(), "files": files}, indent=1))
        log.info("fetched %s %s: %d MIDI files", source.package, version, len(files))
        out[source.package] = target
    return out


def sources_for(role: str) -> tuple[Source, ...]:
    """The sources of one role (``dev``, ``check`` or ``extra``).

    Raises:
        ValueError: ``role`` is not one of :data:`ROLES`.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)} (received {role!r})")
    return tuple(s for s in SOURCES if s.role == role)


def load_outside(sources: Sequence[Source] = SOURCES, *,
                 root: Path | None = None) -> tuple[list[Piece], Counter]:
    """The development set as pieces in seconds (``qpm`` 60), fetching it first if needed.

    Returns:
        ``(pieces, failures)``: unreadable or too-short files are skipped and counted.

    Raises:
        ValueError, RuntimeError: as :func:`fetch`.
    """
    pieces, failures = [], Counter()
    by_package = {s.package: s for s in sources}
    for package, folder in fetch(sources, root=root).items():
        got, failed = load_midi_dir(folder, by_package[package].style)
        pieces.extend(got)
        failures.update(failed)
    return pieces, failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m livegen_train.outside",
                                     description="Fetch (once) and list the out-of-corpus MIDI set.")
    parser.add_argument("--refresh", action="store_true", help="download again")
    args = parser.parse_args(argv)
    for package, folder in fetch(refresh=args.refresh).items():
        print(f"{package}: {folder}")
    pieces, failures = load_outside()
    for piece in pieces:
        print(f"  {piece.name}: {len(piece)} notes, {float(piece.onset_q[-1]):.0f} s")
    print(f"{len(pieces)} pieces, {sum(len(p) for p in pieces)} notes; skipped: {dict(failures)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
