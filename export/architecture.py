"""Draw docs/figures/architecture.png: the runtime's modules in their rooms, and the imports between rooms.

The picture is made from the code: every module of ``livegen/`` with its line
count, in the room :data:`ROOMS` gives it, and one arrow per pair of rooms
that import each other's modules (thicker for more imports). A module that
no room names is drawn in a room of its own, ``other``, so the picture never
hides one. The runtime's data flow runs left to right.

Usage::

    python -m livegen_train.architecture docs/figures/architecture.png
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ROOMS", "module_imports", "main"]

#: room -> (modules, column, row) in the picture; columns follow the data flow
ROOMS: dict[str, tuple[tuple[str, ...], float, float]] = {
    "ports (MIDI in/out)": (("ports", "ports.base", "ports.backends", "ports.opener",
                             "ports.rtmidi", "ports.jack", "ports.jack_clients", "ports.servers",
                             "ports.jackquery", "ports.affinity"), 0.0, 1.0),
    "engine (listen -> respond)": (("engine", "loop", "listener", "buffer", "triggers", "control",
                                    "response", "stats", "rebuild", "feedback"), 1.0, 1.0),
    "generation": (("generation", "offline", "placement", "guidance", "follow", "session",
                    "sampling", "keys", "repetition", "copyguard", "phrases"), 2.0, 1.0),
    "model + vocabulary": (("model", "tokens", "notes"), 3.0, 1.0),
    "time (scheduler, clocks)": (("scheduler", "schedthread", "handoff", "outlet", "clock", "clockfit",
                                  "tempo", "grid", "osthread", "timebase"), 1.0, 0.0),
    "configuration": (("presets", "userpresets", "learn", "sections", "checks", "midi", "errors"),
                      2.0, 0.0),
    "commands": (("cli", "serve", "status", "doctor", "loopback", "delegate", "pianoroll", "stopsignals",
                  "__main__"), 0.0, 0.0),
    "bench": (("bench", "bench.suite", "bench.steps", "bench.realtime", "bench.daemon", "bench.report",
               "bench.listener"), 3.0, 0.0),
}


def module_imports(root: Path) -> tuple[dict[str, int], dict[str, set[str]]]:
    """``({module: lines}, {module: modules of livegen it imports})``, names without ``livegen.``."""
    lines, imports = {}, {}
    for path in sorted((root / "livegen").rglob("*.py")):
        parts = path.relative_to(root / "livegen").with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)
        if name == "__init__":
            continue
        source = path.read_text(encoding="utf-8")
        lines[name] = len(source.splitlines())
        found = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("livegen."):
                found.add(node.module.removeprefix("livegen."))
            elif isinstance(node, ast.ImportFrom) and node.module == "livegen":
                found.update(alias.name for alias in node.names)
        imports[name] = found
    return lines, {name: {m for m in found if m in lines and m != name} for name, found in imports.items()}


def main(argv: Sequence[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    parser = argparse.ArgumentParser(prog="python -m livegen_train.architecture",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="the PNG to write")
    parser.add_argument("--root", default=".", help="the repository (default: here)")
    args = parser.parse_args(argv)
    lines, imports = module_imports(Path(args.root))
    room_of = {m: room for room, (mods, _, _) in ROOMS.items() for m in mods}
    rooms = dict(ROOMS)
    stray = tuple(sorted(m for m in lines if m not in room_of))
    if stray:
        rooms["other"] = (stray, 3.0, 0.0)
        room_of.update(dict.fromkeys(stray, "other"))
    width, height, col_w, row_h = 3.3, 3.6, 4.2, 4.6
    fig, ax = plt.subplots(figsize=(17, 10.5))
    centre = {}
    for room, (mods, col, row) in rooms.items():
        x, y = col * col_w, row * row_h
        centre[room] = (x + width / 2, y + height / 2)
        ax.add_patch(FancyBboxPatch((x, y), width, height, boxstyle="round,pad=0.05",
                                    facecolor="#eef3fb", edgecolor="#4a6fa5", linewidth=1.5))
        ax.text(x + 0.12, y + height - 0.3, room, fontsize=11.5, fontweight="bold", va="center")
        shown = [m for m in mods if m in lines]
        for i, module in enumerate(shown):
            package = any(m.startswith(module + ".") for m in lines)
            path = module.replace(".", "/") + ("/__init__.py" if package else ".py")
            ax.text(x + 0.2, y + height - 0.75 - i * 0.32, f"{path}  {lines[module]}",
                    fontsize=9.5, family="monospace", va="center")
    between = Counter((room_of[a], room_of[b]) for a, targets in imports.items() for b in targets
                      if room_of[a] != room_of[b])
    for (a, b), count in sorted(between.items()):
        (x0, y0), (x1, y1) = centre[a], centre[b]
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14,
                                     linewidth=0.6 + 0.35 * count, color="#c0504d", alpha=0.45,
                                     connectionstyle="arc3,rad=0.12", shrinkA=55, shrinkB=55))
    ax.set_xlim(-0.3, 3 * col_w + width + 0.3)
    ax.set_ylim(-0.3, row_h + height + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("livegen runtime: modules (lines) by room; arrows: imports between rooms "
                 "(width = count). Data flow: ports -> engine -> generation -> scheduler -> ports",
                 fontsize=12)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}: {len(lines)} modules in {len(rooms)} rooms"
          + (f"; not in a room: {', '.join(stray)}" if stray else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
