"""livegen: a real-time MIDI continuation daemon.

Play a phrase on a MIDI keyboard; livegen answers it in a chosen style on a
virtual MIDI port. The runtime never imports torch: models are ONNX files
run by onnxruntime.
"""

from livegen.buffer import PerformanceBuffer
from livegen.clock import MidiClock, estimate_tempo_from_onsets
from livegen.engine import Engine, EngineStats
from livegen.errors import (
    BackendError,
    LivegenError,
    MidiFileError,
    ModelError,
    PortNotFoundError,
    PresetError,
    VocabularyMismatchError,
)
from livegen.generation import Generator, continue_notes
from livegen.grid import BeatGrid
from livegen.model import Model, State
from livegen.notes import Note, read_midi, write_midi
from livegen.presets import Preset, list_presets, load_preset
from livegen.sampling import Sampler
from livegen.scheduler import Scheduler
from livegen.tokens import VOCAB_HASH, VOCAB_SIZE, VOCAB_VERSION

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BeatGrid",
    "Engine",
    "EngineStats",
    "Generator",
    "LivegenError",
    "MidiClock",
    "MidiFileError",
    "Model",
    "ModelError",
    "Note",
    "PerformanceBuffer",
    "PortNotFoundError",
    "Preset",
    "PresetError",
    "Sampler",
    "Scheduler",
    "State",
    "VOCAB_HASH",
    "VOCAB_SIZE",
    "VOCAB_VERSION",
    "VocabularyMismatchError",
    "continue_notes",
    "estimate_tempo_from_onsets",
    "list_presets",
    "load_preset",
    "read_midi",
    "write_midi",
]
