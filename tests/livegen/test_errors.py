"""Tests of livegen.errors: each error is also the built-in error a caller would catch."""

from __future__ import annotations

import pytest

from livegen import errors


@pytest.mark.parametrize(("error", "builtin"), [
    (errors.PresetError, ValueError),
    (errors.PortNotFoundError, OSError),
    (errors.BackendError, OSError),
    (errors.ModelError, ValueError),
    (errors.VocabularyMismatchError, errors.ModelError),
    (errors.MidiFileError, ValueError),
])
def test_every_error_is_a_livegen_error_and_a_builtin_one(error, builtin):
    assert issubclass(error, errors.LivegenError) and issubclass(error, builtin)
    with pytest.raises(builtin, match="received 3"):
        raise error("x must be 1 (received 3)")
