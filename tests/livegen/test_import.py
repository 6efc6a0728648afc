"""The runtime never imports torch or the training side (DESIGN.md: livegen/ never imports torch).

Checked in a fresh interpreter (a subprocess), since this test session may
have imported torch already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from test_cli import write_tiny_model  # tests/livegen is on sys.path (pytest's rootdir-less mode)

from livegen.notes import Note, write_midi

# J. S. Bach, chorale BWV 66.6 (music21 corpus bach/bwv66.6), soprano, first 8 notes
PHRASE = [(73, 80, 0.0, 0.25), (71, 76, 0.25, 0.25), (69, 78, 0.5, 0.5), (71, 80, 1.0, 0.5),
          (73, 84, 1.5, 0.5), (76, 90, 2.0, 0.5), (73, 84, 2.5, 0.5), (71, 78, 3.0, 0.5)]

CHILD = textwrap.dedent("""
    import json, sys
    import livegen, livegen.cli, livegen.engine, livegen.model, livegen.notes, livegen.ports
    import livegen.offline, livegen.session
    import livegen.presets, livegen.tokens
    status = livegen.cli.main(["continue", sys.argv[1], "-o", sys.argv[2], "--model", sys.argv[3],
                               "--notes", "4", "--seed", "0"])
    for command in (["presets"], ["--help"]):
        try:
            livegen.cli.main(command)
        except SystemExit:
            pass
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in
                   ("torch", "livegen_train", "export", "onnx", "music21", "onnxscript"))
    print(json.dumps({"status": status, "heavy": heavy}))
""")


def test_runtime_does_not_import_torch(tmp_path):
    pytest.importorskip("onnx")  # to build the stand-in model, in this process
    model = write_tiny_model(tmp_path / "tiny.onnx")
    write_midi([[Note(*row) for row in PHRASE]], tmp_path / "in.mid")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "in.mid"), str(tmp_path / "out.mid"),
         str(model)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == 0
    assert report["heavy"] == []
