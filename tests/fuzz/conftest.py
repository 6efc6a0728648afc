"""The fuzz and fault suite (issue 15): hostile input, bounded to about a minute in all.

The engine rig, its fakes and the stand-in ONNX model live with the unit
tests (tests/livegen); this directory reuses them. The helpers the tests import are in ``fuzzkit.py``
(a module of its own: ``conftest`` names several files in this test tree).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "livegen"))


@pytest.fixture(scope="session")
def stand_in_model(tmp_path_factory) -> Path:
    """A contract-true tiny ONNX model (tests/livegen/test_cli.py's)."""
    from test_cli import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("fuzz-model") / "tiny.onnx")
