"""A piano roll of a prompt and its continuation, as a PNG (``livegen continue --plot``).

matplotlib is optional (the ``plot`` extra): it is imported here only when a
roll is drawn, never when livegen plays, so the daemon starts without it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from livegen.errors import LivegenError
from livegen.notes import Note

__all__ = ["MissingExtraError", "require_matplotlib", "plot_piano_roll"]

PLOT_EXTRA_HINT = "pip install 'livegen[plot]'"
PROMPT_COLOUR = "#4c72b0"
ANSWER_COLOUR = "#dd8452"
FIGURE_SIZE_IN = (10.0, 4.0)
DPI = 100
PITCH_MARGIN = 2  # semitones of room above and below the notes


class MissingExtraError(LivegenError, ImportError):
    """An optional feature needs a package that is not installed; the message names the extra."""


def require_matplotlib() -> None:
    """Check that matplotlib can be imported.

    Raises:
        MissingExtraError: it cannot; the message says which extra to install.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise MissingExtraError(f"--plot needs matplotlib, which is not installed: "
                                f"{PLOT_EXTRA_HINT}") from err


def plot_piano_roll(prompt: Sequence[Note], answer: Sequence[Note], path: str | os.PathLike,
                    *, title: str | None = None) -> None:
    """Draw ``prompt`` and ``answer`` as one piano roll and save it as a PNG.

    Each note is a bar from ``onset_s`` to ``end_s`` (x, seconds) at its
    ``pitch`` (y, MIDI 0-127), its opacity following its velocity (1-127). The
    prompt is blue, the answer orange; a dashed line marks where the answer begins.

    Args:
        prompt: the notes played (or read) before the answer.
        answer: the continuation.
        path: the PNG to write.
        title: the figure's title, or None.

    Raises:
        MissingExtraError: matplotlib is not installed.
        OSError: the file cannot be written.
    """
    require_matplotlib()
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=FIGURE_SIZE_IN, dpi=DPI)
    ax = fig.add_subplot()
    for notes, colour in ((prompt, PROMPT_COLOUR), (answer, ANSWER_COLOUR)):
        for note in notes:
            ax.broken_barh([(note.onset_s, note.duration_s)], (note.pitch - 0.4, 0.8),
                           facecolors=colour, alpha=0.35 + 0.65 * note.velocity / 127)
    everything = [*prompt, *answer]
    if everything:
        ax.set_xlim(min(n.onset_s for n in everything), max(n.end_s for n in everything))
        ax.set_ylim(min(n.pitch for n in everything) - PITCH_MARGIN,
                    max(n.pitch for n in everything) + PITCH_MARGIN)
    if answer:
        ax.axvline(min(n.onset_s for n in answer), color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("pitch (MIDI)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.2)
    ax.legend(handles=[Patch(color=PROMPT_COLOUR, label=f"prompt ({len(prompt)} notes)"),
                       Patch(color=ANSWER_COLOUR, label=f"livegen ({len(answer)} notes)")],
              loc="upper left", fontsize="small")
    if title:
        ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    fig.savefig(os.fspath(path), format="png", metadata={"Software": None})
