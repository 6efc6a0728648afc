"""Data-parallel training with ``torchrun`` (PyTorch DDP, gloo on CPU): who this process is,
and the few collective operations :mod:`livegen_train.train` needs.

A job of ``world_size`` 1 is a plain single process; every helper then does nothing
collective.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["Distributed", "CORPUS_WAIT", "from_rank0", "mean_over_ranks", "gather", "param_spread",
           "rank0_first", "sampler_state"]

log = logging.getLogger(__name__)

#: How long the other ranks of a torchrun job wait for rank 0 to parse the corpus into the
#: cache (a first, uncapped music21 parse takes longer than gloo's 30-minute default timeout).
CORPUS_WAIT = timedelta(hours=6)


@dataclass(frozen=True)
class Distributed:
    """This process's place in a ``torchrun`` job; ``world_size`` 1 is a plain single process.

    Attributes:
        rank: global rank, 0 .. world_size - 1; rank 0 alone writes checkpoints, logs,
            curves, metrics and the ONNX export.
        world_size: processes in the job.
        local_world_size: processes of the job on this machine (they share its cores).

    Raises:
        ValueError: a size below 1 or a rank outside 0 .. world_size - 1.
    """

    rank: int = 0
    world_size: int = 1
    local_world_size: int = 1

    def __post_init__(self) -> None:
        if self.world_size < 1:
            raise ValueError(f"`world_size` must be at least 1 (received {self.world_size})")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"`rank` must be within 0 and {self.world_size - 1} (received {self.rank})")
        if not 1 <= self.local_world_size <= self.world_size:
            raise ValueError(f"`local_world_size` must be within 1 and {self.world_size} "
                             f"(received {self.local_world_size})")

    @property
    def enabled(self) -> bool:
        """True when there is more than one process (DDP is on)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one that writes files and shows progress."""
        return self.rank == 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Distributed:
        """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_WORLD_SIZE`` as ``torchrun`` sets them.

        Args:
            environ: the environment (``os.environ`` by default).

        Returns:
            A single process (``world_size`` 1) when ``WORLD_SIZE`` is not set.

        Raises:
            ValueError: a variable is not an integer, or the rank is out of range.
        """
        if "WORLD_SIZE" not in environ:
            return cls()
        raw = {key: environ.get(key) for key in ("RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")}
        try:
            world = int(raw["WORLD_SIZE"])
            return cls(int(raw["RANK"] or 0), world, int(raw["LOCAL_WORLD_SIZE"] or world))
        except (TypeError, ValueError) as err:
            raise ValueError(f"torchrun environment: RANK, WORLD_SIZE and LOCAL_WORLD_SIZE must be "
                             f"integers with 0 <= RANK < WORLD_SIZE (received {raw}): {err}") from err

    def threads(self, total: int) -> int:
        """Torch CPU threads of this process: ``total`` shared by the processes on this machine.

        Args:
            total: the ``--threads`` budget for the whole machine.

        Returns:
            ``total // local_world_size``, at least 1.
        """
        return max(1, total // self.local_world_size)


def from_rank0(value: float) -> float:
    """Rank 0's ``value`` on every rank (so the time budget and learning rate agree)."""
    t = torch.tensor([value], dtype=torch.float64)
    dist.broadcast(t, src=0)
    return float(t.item())


def mean_over_ranks(value: float) -> float:
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def gather(obj, ddp: Distributed) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (``[obj]`` for a single process)."""
    if not ddp.enabled:
        return [obj]
    out: list = [None] * ddp.world_size
    dist.all_gather_object(out, obj)
    return out


def param_spread(net: torch.nn.Module) -> float:
    """Largest |parameter difference| between any rank and rank 0 (0.0 while DDP keeps step)."""
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    ref = flat.clone()
    dist.broadcast(ref, src=0)
    spread = (flat - ref).abs().max().reshape(1)
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    return float(spread.item())


@contextmanager
def rank0_first(ddp: Distributed) -> Iterator[None]:
    """Rank 0 runs the block first (it fills the parse cache), then the other ranks.

    The wait uses its own process group with a timeout of :data:`CORPUS_WAIT`
    (``monitored_barrier`` would still time out on the waiting ranks' side).
    """
    if not ddp.enabled:
        yield
        return
    group = dist.new_group(backend="gloo", timeout=CORPUS_WAIT)
    if not ddp.is_main:
        dist.barrier(group=group)
    yield
    if ddp.is_main:
        dist.barrier(group=group)
    dist.destroy_process_group(group)


def sampler_state(ckpt: dict, ddp: Distributed, seed: int) -> dict:
    """This rank's sampler RNG state from a checkpoint.

    The checkpoint keeps every rank's state; a job resumed with another number of
    processes gives each new rank a fresh stream derived from (seed, rank, step).
    """
    per_rank = ckpt.get("rng_per_rank") or [ckpt["rng"]]
    if ddp.is_main and len(per_rank) != ddp.world_size:
        log.warning("checkpoint written by %d process(es), resumed by %d: ranks without a saved "
                    "sampler state start a fresh stream (the others keep theirs)",
                    len(per_rank), ddp.world_size)
    if ddp.rank < len(per_rank):
        return per_rank[ddp.rank]
    fresh = np.random.default_rng(np.random.SeedSequence([seed, ddp.rank, ckpt["step"]]))
    return fresh.bit_generator.state
