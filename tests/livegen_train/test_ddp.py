"""Data-parallel training: ``torchrun`` with 2 CPU processes (gloo) on a tiny MIDI folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

from livegen.notes import Note, write_midi  # noqa: E402
from livegen_train.distributed import Distributed  # noqa: E402
from livegen_train.network import EventLSTM, NetConfig  # noqa: E402

pytestmark = pytest.mark.torch

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 240  # two processes importing torch on a loaded 2-core machine
TINY = ["--batch", "4", "--window-notes", "8", "--hidden", "16", "--embed", "8", "--eval-every", "2",
        "--checkpoint-every", "2", "--no-progress", "--threads", "2"]


def test_a_plain_process_is_a_world_of_one():
    ddp = Distributed.from_env({})
    assert (ddp.rank, ddp.world_size, ddp.enabled, ddp.is_main) == (0, 1, False, True)
    assert ddp.threads(2) == 2


def test_torchrun_environment_is_read_and_threads_are_shared():
    ddp = Distributed.from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"})
    assert (ddp.rank, ddp.world_size, ddp.enabled, ddp.is_main) == (1, 2, True, False)
    assert ddp.threads(2) == 1 and ddp.threads(8) == 4 and ddp.threads(1) == 1
    two_machines = Distributed.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2"})
    assert two_machines.threads(2) == 1 and two_machines.threads(6) == 3


@pytest.mark.parametrize("env", [{"RANK": "2", "WORLD_SIZE": "2"}, {"RANK": "x", "WORLD_SIZE": "2"},
                                 {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "3"}])
def test_an_inconsistent_torchrun_environment_is_refused(env):
    with pytest.raises(ValueError, match="RANK"):
        Distributed.from_env(env)


def _torchrun(args: list[str]) -> subprocess.CompletedProcess:
    # --standalone rendezvous on localhost:0, i.e. a free port: parallel runs do not collide
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "livegen_train.train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()), reason="no gloo backend")
def test_two_processes_train_in_step_write_once_and_resume(tmp_path):
    rng = np.random.default_rng(5)
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(10):
        notes = [Note(int(p), int(v), 0.25 * k, 0.2)
                 for k, (p, v) in enumerate(zip(rng.integers(55, 75, 40), rng.integers(40, 110, 40)))]
        write_midi([notes], folder / f"take{i}.mid")
    out = tmp_path / "run"
    common = ["--midi-dir", str(folder), "--style", "mine", "--out", str(out), *TINY]

    _torchrun(common + ["--steps", "4"])
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "curves.png", "log.jsonl",
                                                      "metrics.json"]
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]  # one writer: rank 1 would have doubled each row
    assert {r["world_size"] for r in rows} == {2}
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["world_size"] == 2 and metrics["steps"] == 4
    assert metrics["param_spread_across_ranks"] == 0.0  # DDP kept both replicas identical
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 4 and ckpt["world_size"] == 2
    first, second = ckpt["rng_per_rank"]
    assert first == ckpt["rng"] and first["state"] != second["state"]  # ranks draw their own windows
    EventLSTM(NetConfig(**ckpt["config"])).load_state_dict(ckpt["model"])

    # resume under a time budget: rank 0's clock decides when both stop (no deadlock)
    _torchrun(common + ["--resume", "--minutes", "0.05"])
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows]
    assert steps[:3] == [2, 4, 6] and steps == list(range(2, 2 * len(steps) + 1, 2))
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["steps"] > 4 and metrics["param_spread_across_ranks"] == 0.0
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == metrics["steps"]
