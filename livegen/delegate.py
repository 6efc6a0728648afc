"""The subcommands handed to the training side (``train``, ``export``, ``evaluate``, ``copy-guard``).

The runtime never imports torch or ``livegen_train`` (the repository's ``export/``
folder); :func:`delegate` imports them only when one of these commands runs.
"""

from __future__ import annotations

import importlib

from livegen.errors import ModelError

__all__ = ["DELEGATED", "TRAIN_EXTRA_HINT", "delegate"]

#: subcommands handed to the training side: name -> (module of livegen_train, help)
DELEGATED = {
    "train": ("livegen_train.train", "train a model (needs the train extra)"),
    "export": ("livegen_train.onnx_export", "export a checkpoint to ONNX (needs the train extra)"),
    "evaluate": ("livegen_train.evaluate", "held-out NLL vs baselines, continuation statistics, copies, "
                                    "style distinctness; writes docs/evaluation.md (needs the train extra)"),
    "copy-guard": ("livegen_train.copies", "rebuild a model's copy guard from its training split "
                                    "(needs the train extra)"),
}
TRAIN_EXTRA_HINT = "pip install torch==2.13.0 && pip install 'livegen[train]'"


def delegate(command: str, argv: list[str]) -> int:
    """Run ``livegen_train.<module>.main(argv)``; torch is imported only here."""
    module_name = DELEGATED[command][0]
    try:
        importlib.import_module("torch")
    except ImportError:
        raise ModelError(f"`livegen {command}` needs PyTorch and the train extra: "
                         f"{TRAIN_EXTRA_HINT}") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name not in (module_name, "livegen_train"):
            raise ModelError(f"`livegen {command}` needs the train extra ({err.name} is "
                             f"missing): {TRAIN_EXTRA_HINT}") from err
        raise ModelError(f"`livegen {command}` is not available in this install "
                         f"({module_name} not found)") from err
    entry = getattr(module, "main", None)
    if entry is None:
        raise ModelError(f"`livegen {command}` is not wired yet ({module_name} has no main())")
    return int(entry(argv) or 0)

