"""The fuzz and fault suite (issue 15): hostile input, bounded to about a minute in all.

The engine rig, its fakes and the stand-in ONNX model live with the unit
tests (tests/livegen); this directory reuses them.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "livegen"))

CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.fixture(scope="session")
def stand_in_model(tmp_path_factory) -> Path:
    """A contract-true tiny ONNX model (tests/livegen/test_cli.py's)."""
    from test_cli import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("fuzz-model") / "tiny.onnx")


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``livegen.cli.main(argv)`` in this process; return its status and what it wrote to stderr.

    Anything but a :class:`~livegen.errors.LivegenError` escapes ``main`` and fails the test:
    that is a traceback a user would see.
    """
    from livegen import cli

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(argv)
    return status, err.getvalue()


def assert_clean_exit(status: int, stderr: str) -> None:
    """Success, or exit 2 with one line ``livegen: error: ...`` (warnings are lines too)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("livegen: error: ")]
    assert status in (0, 2), (status, stderr)
    assert "Traceback" not in stderr
    if status == 2:
        assert len(errors) == 1, stderr
    assert all(line.startswith(("livegen: error: ", "livegen: warning: ")) for line in lines), stderr
