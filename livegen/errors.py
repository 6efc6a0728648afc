"""livegen's exceptions.

Every error a user can cause is a :class:`LivegenError` that also inherits the
matching built-in, so callers may catch either (python-rtmidi's
``InvalidPortError(RtMidiError, ValueError)`` pattern). The CLI turns each into
one line on stderr and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "LivegenError",
    "PresetError",
    "PortNotFoundError",
    "BackendError",
    "ModelError",
    "VocabularyMismatchError",
    "MidiFileError",
]


class LivegenError(Exception):
    """Base class of every error livegen raises on purpose."""


class PresetError(LivegenError, ValueError):
    """A preset is missing, unreadable, or has an unknown key or a bad value."""


class PortNotFoundError(LivegenError, OSError):
    """A named MIDI port does not exist; the message lists the ports there are."""


class BackendError(LivegenError, OSError):
    """No MIDI backend can open (no ALSA sequencer, no JACK server, ...)."""


class ModelError(LivegenError, ValueError):
    """An ONNX model is missing, unreadable or breaks the model contract."""


class VocabularyMismatchError(ModelError):
    """The model was trained on another vocabulary version than the runtime's."""


class MidiFileError(LivegenError, ValueError):
    """A file is not a readable Standard MIDI File, or holds no notes."""
