"""livegen: a real-time MIDI continuation daemon.

Play a phrase on a MIDI keyboard; livegen answers it in a chosen style on a
virtual MIDI port. The runtime never imports torch: models are ONNX files
run by onnxruntime.

The public names below are imported on first use (PEP 562 module
``__getattr__``), so ``import livegen`` and the quick commands (``livegen
ports``, ``livegen presets``, ``--help``) never load onnxruntime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_PUBLIC = {
    "BackendError": "livegen.errors",
    "LivegenError": "livegen.errors",
    "MidiFileError": "livegen.errors",
    "ModelError": "livegen.errors",
    "PortNotFoundError": "livegen.errors",
    "PresetError": "livegen.errors",
    "VocabularyMismatchError": "livegen.errors",
    "BeatGrid": "livegen.grid",
    "Engine": "livegen.engine",
    "EngineStats": "livegen.stats",
    "Generator": "livegen.generation",
    "continue_notes": "livegen.offline",
    "MidiClock": "livegen.clock",
    "estimate_tempo_from_onsets": "livegen.tempo",
    "Model": "livegen.model",
    "State": "livegen.model",
    "Note": "livegen.notes",
    "read_midi": "livegen.notes",
    "write_midi": "livegen.notes",
    "PerformanceBuffer": "livegen.buffer",
    "Preset": "livegen.presets",
    "list_presets": "livegen.presets",
    "load_preset": "livegen.presets",
    "Sampler": "livegen.sampling",
    "Scheduler": "livegen.scheduler",
    "VOCAB_HASH": "livegen.tokens",
    "VOCAB_SIZE": "livegen.tokens",
    "VOCAB_VERSION": "livegen.tokens",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562).

    Raises:
        AttributeError: ``name`` is not a public name of livegen.
    """
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'livegen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from livegen.buffer import PerformanceBuffer  # noqa: F401
    from livegen.clock import MidiClock  # noqa: F401
    from livegen.engine import Engine  # noqa: F401
    from livegen.errors import (  # noqa: F401
        BackendError,
        LivegenError,
        MidiFileError,
        ModelError,
        PortNotFoundError,
        PresetError,
        VocabularyMismatchError,
    )
    from livegen.generation import Generator  # noqa: F401
    from livegen.grid import BeatGrid  # noqa: F401
    from livegen.model import Model, State  # noqa: F401
    from livegen.notes import Note, read_midi, write_midi  # noqa: F401
    from livegen.offline import continue_notes  # noqa: F401
    from livegen.presets import Preset, list_presets, load_preset  # noqa: F401
    from livegen.sampling import Sampler  # noqa: F401
    from livegen.scheduler import Scheduler  # noqa: F401
    from livegen.stats import EngineStats  # noqa: F401
    from livegen.tempo import estimate_tempo_from_onsets  # noqa: F401
    from livegen.tokens import VOCAB_HASH, VOCAB_SIZE, VOCAB_VERSION  # noqa: F401
