"""Write docs/examples/: per shipped preset, a prompt and livegen's continuation, to hear before installing.

Each preset gets a short phrase of our own (written here, in the preset's
idiom; no corpus file), answered by the preset's packaged model exactly as
``livegen continue`` answers it, with a fixed seed:

- ``<preset>.prompt.mid``: the phrase alone;
- ``<preset>.mid``: the phrase's track unchanged plus a track ``livegen`` with the answer;
- ``<preset>.png``: the piano roll of both (needs matplotlib; ``--no-png`` skips it);
- ``README.md``: the table of them.

Usage::

    python -m livegen_train.examples docs/examples

The .mid files are deterministic: the same model, code and seed write the same
messages (``tests/livegen_train/test_examples.py`` regenerates them and compares).
When the model or the generation changes on purpose, run the command again and
commit the result. Needs only the runtime (no torch); matplotlib for the PNGs.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import livegen.model
import livegen.presets
from livegen.model import ModelSet
from livegen.notes import Note, write_midi
from livegen.offline import continue_file
from livegen.presets import load_preset

__all__ = ["Phrase", "PHRASES", "SEED", "shipped_presets", "write_examples", "main"]

SEED = 16  # issue 16; any fixed seed makes the examples repeatable
#: the default model shipped as package data; the examples never follow $LIVEGEN_MODEL
PACKAGED_MODEL = Path(livegen.model.__file__).resolve().parent / "models" / "default.onnx"


@dataclass(frozen=True)
class Phrase:
    """A prompt written as beats: ``voices`` are lines of ``(pitch or None for a rest, beats)``.

    Attributes:
        title: what the phrase is, for the README.
        bpm: tempo, quarter notes per minute.
        voices: each voice a sequence of ``(pitch 0-127 | None, length in beats)``, from beat 0.
        velocities: one MIDI velocity (1-127) per voice; accents come from ``accent_every``.
        accent_every: every this many beats a note starts on gets +12 velocity (0: none).
        legato: sounding fraction of each note's length, 0-1.
    """

    title: str
    bpm: float
    voices: tuple[tuple[tuple[int | None, float], ...], ...]
    velocities: tuple[int, ...]
    accent_every: float = 0.0
    legato: float = 0.9

    def notes(self) -> list[Note]:
        """The phrase as notes in seconds (channel 0), sorted by onset then pitch."""
        beat_s = 60.0 / self.bpm
        out = []
        for line, velocity in zip(self.voices, self.velocities):
            beat = 0.0
            for pitch, length in line:
                if pitch is not None:
                    accent = (self.accent_every and abs(beat / self.accent_every
                                                        - round(beat / self.accent_every)) < 1e-9)
                    out.append(Note(pitch, min(velocity + (12 if accent else 0), 127), beat * beat_s,
                                    length * beat_s * self.legato))
                beat += length
        return sorted(out, key=lambda n: (n.onset_s, n.pitch))


def _run(pitches: Sequence[int | None], beats: float) -> tuple[tuple[int | None, float], ...]:
    return tuple((p, beats) for p in pitches)


def shipped_presets() -> dict[str, Path]:
    """``{name: YAML path}`` of the presets shipped with livegen, never a user's ($LIVEGEN_PRESETS)."""
    here = Path(livegen.presets.__file__).resolve().parent
    found: dict[str, Path] = {}
    for directory in (here / "presets", here.parent / "presets"):  # installed, source checkout
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


#: one phrase per shipped preset, written for this page (2 bars or so each)
PHRASES: dict[str, Phrase] = {
    "baroque": Phrase(
        "D minor, a sixteenth-note line over a walking bass", 84,
        (_run([74, 73, 74, 69, 70, 69, 67, 65, 64, 65, 67, 69, 70, 73, 74, 76], 0.25)
         + _run([77, 76, 74, 72, 70, 69, 67, 70, 69, 67, 65, 64], 0.25) + ((62, 1.0),),
         _run([50, 53, 57, 53, 55, 58, 57, 45, 46, 43, 45, 45], 0.5) + ((38, 1.0),)),
        (82, 66), accent_every=1.0, legato=0.85),
    "classical": Phrase(
        "C major, a melody over an Alberti bass", 116,
        (((76, 1.0), (79, 1.0), (84, 2.0), (83, 0.5), (81, 0.5), (79, 0.5), (77, 0.5),
          (76, 1.0), (74, 1.0), (72, 2.0)),
         _run([48, 55, 52, 55] * 2 + [47, 55, 50, 55] * 2 + [48, 55, 52, 55], 0.5)),
        (84, 58), accent_every=2.0, legato=0.8),
    "romantic": Phrase(
        "A-flat major, a singing line over wide broken chords", 66,
        (((75, 1.5), (77, 0.5), (75, 1.0), (72, 1.0), (80, 2.0), (79, 0.5), (77, 0.5), (75, 1.0),
          (73, 1.5), (72, 0.5), (70, 2.0)),
         _run([44, 51, 60, 63, 56, 51] * 2 + [49, 56, 61, 65, 61, 56, 46, 53, 58, 62, 58, 53], 1 / 3)),
        (80, 54), accent_every=4.0, legato=1.0),
    "folk": Phrase(
        "G major, a jig (6/8 as eighths)", 150,
        (_run([67, 71, 74, 79, 74, 71, 72, 76, 72, 71, 67, 71, 69, 71, 69, 67, 66, 64, 62, 67, 69], 0.5)
         + ((71, 1.5),),),
        (88,), accent_every=1.5, legato=0.85),
    "jam": Phrase(
        "A minor pentatonic, a two-bar riff on a sixteenth grid", 110,
        (((57, 0.5), (60, 0.25), (62, 0.25), (64, 0.5), (None, 0.25), (67, 0.25), (69, 0.5),
          (67, 0.5), (64, 0.5), (62, 0.5), (64, 0.25), (62, 0.25), (60, 0.5), (57, 1.0),
          (None, 0.5), (60, 0.25), (57, 0.25)),),
        (96,), accent_every=1.0, legato=0.7),
    "modern": Phrase(
        "a twelve-tone row in wide leaps, uneven lengths", 72,
        (((62, 0.75), (73, 0.25), (67, 1.0), (58, 0.5), (None, 0.5), (70, 0.25), (76, 0.75),
          (63, 1.5), (69, 0.5), (60, 0.25), (71, 0.25), (65, 1.0), (78, 0.5), (None, 1.0)),),
        (72,), accent_every=0.0, legato=0.7),
}


def write_examples(folder: str | Path, *, model_path: str | Path | None = None,
                   png: bool = True, presets: Sequence[str] | None = None) -> list[str]:
    """Write each preset's prompt, continuation and piano roll into ``folder``, and a README.md.

    Args:
        folder: where to write (made if missing).
        model_path: the ONNX model of every preset; default each preset's packaged one
            (never ``$LIVEGEN_MODEL``).
        png: draw the piano rolls (needs matplotlib).
        presets: the presets to write; default every one with a phrase in :data:`PHRASES`.

    Returns:
        One line per preset saying what was written.

    Raises:
        PresetError: a preset has no phrase here, or no such preset is shipped.
        MissingExtraError: ``png`` without matplotlib.
    """
    from livegen.errors import PresetError

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(PHRASES) if presets is None else list(presets)
    unknown = [name for name in names if name not in PHRASES]
    if unknown:
        raise PresetError(f"no example phrase for preset {unknown[0]!r} (have {', '.join(PHRASES)})")
    models = ModelSet(model_path, env=False)  # each preset its own packaged model
    if png:
        from livegen.pianoroll import plot_piano_roll, require_matplotlib

        require_matplotlib()
    shipped = shipped_presets()
    lines, rows, drawn = [], [], []  # drawn: (prompt, answer) of each preset, from continue_file
    for name in names:
        phrase, preset = PHRASES[name], load_preset(shipped[name])
        prompt_path, answer_path = folder / f"{name}.prompt.mid", folder / f"{name}.mid"
        write_midi([phrase.notes()], prompt_path, track_names=[f"prompt ({name})"],
                   tempo_us=round(60e6 / phrase.bpm))
        lines.append(continue_file(prompt_path, answer_path, preset, functools.partial(models, preset),
                                   seed=SEED, plot=lambda *both: drawn.append(both)))
        prompt, answer = drawn[-1]
        if png:
            plot_piano_roll(prompt, answer, folder / f"{name}.png",
                            title=f"{name}: {phrase.title} (blue) + livegen (orange), seed {SEED}")
        rows += [f"## {name}", "", f"{preset.description}.", "",
                 f"Prompt: {phrase.title}, {len(prompt)} notes ([{name}.prompt.mid]({name}.prompt.mid)). "
                 f"Prompt and answer ({len(answer)} notes): [{name}.mid]({name}.mid).", ""]
        rows += [f"![{name}: the prompt in blue, livegen's answer in orange]({name}.png)", ""] if png else []
    (folder / "README.md").write_text(_readme(rows), encoding="utf-8")
    return lines


def _readme(rows: Sequence[str]) -> str:
    return "\n".join([
        "# Examples: hear livegen before installing it",
        "",
        "For each shipped preset, a short phrase written for this page (the prompt) and the",
        "packaged model's answer, made exactly as `livegen continue` makes it, with a fixed",
        f"seed ({SEED}). Each `<preset>.mid` holds the prompt's track unchanged and a track",
        "`livegen` with the answer: load it into a DAW or any MIDI player, and mute either",
        "track to hear one side. The answers are not chosen: this is the first draw.",
        "",
        "Regenerate (the .mid files must come out the same; CI checks it):",
        "",
        "```",
        "python -m livegen_train.examples docs/examples",
        "```",
        "",
        "The `jam` preset follows a MIDI clock when it plays live; offline, as here, it answers",
        "where the phrase ends.",
        "",
        *rows,
    ])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m livegen_train.examples FOLDER [--no-png] [--model PATH]``."""
    parser = argparse.ArgumentParser(prog="python -m livegen_train.examples",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="where to write, e.g. docs/examples")
    parser.add_argument("--model", help="ONNX model (default: the packaged one)")
    parser.add_argument("--no-png", action="store_true", help="skip the piano rolls (no matplotlib needed)")
    args = parser.parse_args(argv)
    for line in write_examples(args.folder, model_path=args.model, png=not args.no_png):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
