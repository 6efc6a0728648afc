"""The house rules, checked on the source: what livegen/ imports, its module sizes, what installs.

DESIGN.md: the runtime never imports torch, onnx or the training side, not
even lazily; STYLE.md: one concept per module, ~500 lines at most (issue 12:
no runtime module over ~400 lines), and no import cycle.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "livegen"
#: top-level packages the runtime may never import (the training side and what it needs)
FORBIDDEN = frozenset({"torch", "onnx", "onnxscript", "livegen_train", "export", "music21",
                       "matplotlib", "tqdm"})
#: the runtime's optional imports, each in one module and only inside a function (issue 16:
#: matplotlib for `livegen continue --plot`, the `plot` extra)
OPTIONAL_LAZY = {"livegen.pianoroll": frozenset({"matplotlib"})}
MAX_MODULE_LINES = 400  # issue 12: "no runtime module over ~400 lines"
#: modules that `livegen ports`, `livegen presets` and `--help` must not load (slow start)
HEAVY_AT_START = ("onnxruntime",)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(RUNTIME.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth (function bodies too),
    except under ``if TYPE_CHECKING:`` (never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # submodules
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    """``{runtime module: runtime modules it imports}``."""
    modules = _runtime_modules()
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path, name) if m in modules and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            # a package importing its own submodules, or a submodule its package, is no cycle
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_runtime_never_imports_the_training_side():
    offenders = {}
    for name, path in _runtime_modules().items():
        allowed = OPTIONAL_LAZY.get(name, frozenset())
        bad = sorted(m for m in _imports(path, name) if m.split(".")[0] in FORBIDDEN - allowed)
        if bad:
            offenders[name] = bad
    assert offenders == {}


def test_the_import_walk_sees_lazy_and_relative_imports(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"
                      "def f():\n    import onnx\n    from .sibling import x\n")
    found = _imports(source, "livegen.mod")
    assert "onnx" in found and "livegen.sibling" in found and "torch" not in found


def test_the_runtime_has_no_import_cycle():
    assert _cycle(_graph()) is None


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_runtime_module_is_over_the_size_limit():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines())
             for name, path in _runtime_modules().items()}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


START_CHILD = textwrap.dedent("""
    import json, sys
    import livegen.cli
    for argv in (["presets"], ["ports", "--help"], ["--help"]):
        try:
            livegen.cli.main(argv)
        except SystemExit:
            pass
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[1:])))
""")


def test_quick_commands_do_not_load_the_model_runtime():
    result = subprocess.run([sys.executable, "-c", START_CHILD, *HEAVY_AT_START],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


@pytest.mark.slow
def test_the_wheel_installs_no_top_level_export_package(tmp_path):
    """`pip install .` installs the wheel built here: the training code is livegen_train."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"pip wheel failed: {result.stderr[-2000:]}")
    (wheel,) = tmp_path.glob("livegen-*.whl")
    top = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert "export" not in top
    assert {"livegen", "livegen_train"} <= top
    names = zipfile.ZipFile(wheel).namelist()
    assert "livegen_train/train.py" in names
    assert any(name.startswith("livegen/presets/") and name.endswith(".yaml") for name in names)
    packages = {str(p.relative_to(ROOT)) for p in RUNTIME.rglob("__init__.py")}
    assert packages <= set(names)  # every runtime package installs (pyproject lists them)
