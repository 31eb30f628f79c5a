"""Training across processes with torch.distributed (launched by ``torchrun``).

``torchrun --nproc_per_node=N -m justask train ...`` starts N copies of the command; each finds
its rank in the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT),
joins a process group (NCCL on CUDA, gloo on CPU) and trains a replica wrapped in
DistributedDataParallel. Without those variables nothing here runs and training is the plain
single-process loop.

Batches: every rank draws the *global* batch's segment ends from the same seeded generator and
cuts only its own slice, on its own device. Drawing B integers is free next to cutting and
training, and it makes the run independent of the world size: N processes train on exactly the
batches one process would, so a run resumed with another world size continues the same run, and
the test can compare a 2-process run with a 1-process one. Each rank's loss is weighted by its
share of the global batch's real steps, so the averaged gradient is the global batch's.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Any

import torch
import torch.distributed as torch_dist

from justask.errors import JustAskError


@dataclasses.dataclass(frozen=True)
class Distributed:
    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> torch.device:
        """This rank's device: ``cuda:LOCAL_RANK`` when CUDA is asked for (or auto and present)."""
        if requested.startswith("cuda") or (requested == "auto" and torch.cuda.is_available()):
            if not torch.cuda.is_available():
                raise JustAskError(f"device '{requested}' asked for, but CUDA is not available")
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    def barrier(self) -> None:
        """Wait for every rank; a rank that does not come within the group's timeout
        (``TrainConfig.dist_timeout_s``) ends this one with a one-line error instead of a hang."""
        try:
            torch_dist.barrier()
        except RuntimeError as exc:  # gloo and NCCL time-outs (DistBackendError is one)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise JustAskError(
                f"rank {self.rank}: the other processes did not all arrive within the process group's "
                f"timeout (--dist-timeout-s): {first}"
            ) from exc

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over ranks (in place, returned)."""
        torch_dist.all_reduce(tensor)
        return tensor

    def shard(self, batch_size: int) -> slice:
        """This rank's part of a global batch."""
        if batch_size % self.world_size:
            raise JustAskError(
                f"batch size {batch_size} is not divisible by the {self.world_size} processes (the global batch is split evenly)"
            )
        per_rank = batch_size // self.world_size
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher setting RANK and
    WORLD_SIZE) — also with one process, which then trains through DDP like the others."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def join(device: str, timeout_s: float) -> Distributed | None:
    """Join the process group torchrun describes (None when not launched distributed)."""
    if not launched():
        return None
    info = Distributed(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0")))
    if not torch_dist.is_initialized():
        cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        try:
            torch_dist.init_process_group(
                backend="nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=timeout_s)
            )
        except (RuntimeError, ValueError) as exc:
            raise JustAskError(f"could not join the process group of {info.world_size} processes: {exc}") from exc
    return info


def leave() -> None:
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


class LossModule(torch.nn.Module):
    """A learner's loss as a module's forward, which is what DistributedDataParallel wraps: its
    gradient hooks are armed by the wrapper's forward call. ``loss`` may return ``(loss,
    metrics)``; the loss is weighted, the metrics pass through."""

    def __init__(self, learned: torch.nn.Module) -> None:
        super().__init__()
        self.learned = learned

    def forward(self, batch: dict[str, torch.Tensor], weight: torch.Tensor) -> Any:
        out = self.learned.loss(batch)
        if isinstance(out, tuple):
            return out[0] * weight, out[1]
        return out * weight
