"""The out-of-corpus set: the blind check is refused, the cache is read without the network."""

from __future__ import annotations

import json
import shutil

import pytest

from livegen.notes import Note, write_midi
from livegen_train.outside import BLIND, MANIFEST, SOURCES, Source, fetch, load_outside, sources_for


def test_the_blind_check_package_is_never_fetched(tmp_path):
    (blind,) = BLIND
    with pytest.raises(ValueError, match="blind"):
        fetch([Source(blind, "usr/share", "x", "")], root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_cached_set_is_read_without_apt(tmp_path, monkeypatch):
    source = SOURCES[0]
    folder = tmp_path / f"{source.package}-1.0"
    folder.mkdir()
    notes = [Note(60 + i % 12, 80, i * 0.25, 0.2) for i in range(16)]
    write_midi([notes], folder / "song.mid")
    (folder / MANIFEST).write_text(json.dumps({"package": source.package, "version": "1.0"}))
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))  # apt-get would fail
    pieces, failures = load_outside([source], root=tmp_path)
    assert [p.name for p in pieces] == [f"{source.style}/song.mid"]
    assert len(pieces[0]) == 16 and not failures


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None,
                    reason="needs Debian's apt-get and dpkg-deb")
def test_openttd_openmsx_is_fetched_and_read(tmp_path):
    pieces, _ = load_outside(sources_for("dev"), root=tmp_path)
    assert len(pieces) >= 30  # 31 songs in openttd-openmsx 0.4.2
    (folder,) = tmp_path.glob("openttd-openmsx-*")
    assert len(json.loads((folder / MANIFEST).read_text())["files"]) == len(list(folder.glob("*.mid")))


def test_dev_and_check_music_are_apart():
    dev, check, extra = sources_for("dev"), sources_for("check"), sources_for("extra")
    packages = [{s.package for s in role} for role in (dev, check, extra)]
    assert all(packages) and len(set().union(*packages)) == sum(map(len, packages))
    with pytest.raises(ValueError, match="received 'blind'"):
        sources_for("blind")
