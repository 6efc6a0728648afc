"""Helpers of the fuzz suite: the corpus folder, the CLI run in-process, a clean exit."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"


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
