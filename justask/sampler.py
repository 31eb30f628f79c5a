"""Device-resident segment sampler: a batch is index arithmetic on flat arrays.

The step columns of ``Episodes`` are moved to the training device once. A batch picks ``B``
steps uniformly at random as segment *ends* and takes the ``context_len`` steps up to each, cut
at the episode's start and left-padded (mask False, zeros). No per-sample Python, no DataLoader.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from justask.column_store import PROMPT_GROUP, TABLE, step_columns
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.models.config import PolicyIO


class SegmentSampler:
    """``storage``: where the columns live (default: the training device). A dataset too large
    for the device stays in host memory (``storage="cpu"``); batches are then cut there and
    moved to ``device`` each step. ``columns``: the step columns already made (e.g. memory-mapped
    from a ``justask.column_store``) instead of building them from ``episodes``. ``own_share``:
    the episodes are this rank's shard (episode sharding under torchrun): see ``draw``."""

    def __init__(
        self,
        episodes: Episodes | None,
        config: PolicyIO,
        context_len: int,
        device: torch.device | str,
        storage: torch.device | str | None = None,
        columns: Mapping[str, np.ndarray] | None = None,
        own_share: bool = False,
        condition_dropout: float = 0.0,
    ) -> None:
        """``condition_dropout``: the share of segments marked asked nothing (``drop_condition``
        in the batch; ``ModelConfig.condition_dropout``)."""
        self.target = torch.device(device)
        self.device = torch.device(storage) if storage is not None else self.target  # where indices live
        self.context_len = context_len
        if columns is None:
            if episodes is None:
                raise ValueError("SegmentSampler needs episodes or columns")
            columns = dict(step_columns(episodes, config))  # validates the condition column
        conditioned = any(key in columns for key in ("conditions", "condition_index", PROMPT_GROUP))
        if (config.condition is not None) != conditioned or (config.target is not None) != ("targets" in columns):
            raise JustAskError("the sampler's columns do not match the model's condition and targets")
        tensors = {name: _as_tensor(array, self.device) for name, array in columns.items()}
        self.observations = tensors["observations"]
        self.actions = tensors["actions"]
        self.conditions = tensors.get("conditions")
        self.condition_index, self.condition_table = tensors.get("condition_index"), tensors.get(TABLE)
        self.targets = tensors.get("targets")
        self.timesteps = tensors["timesteps"]
        self.episode_start = tensors["episode_start"]
        self.num_steps = len(self.observations)
        # a text condition's table goes to the training device (it is small); batches gather from it
        if self.condition_table is not None:
            self.condition_table = self.condition_table.to(self.target)
        self._offsets = torch.arange(self.context_len, device=self.device) - (self.context_len - 1)
        self._pin = self.target.type == "cuda" and self.device.type == "cpu"
        self.own_share = own_share
        if condition_dropout and self.conditions is None and self.condition_index is None:
            raise JustAskError("condition dropout needs a condition column")
        self.condition_dropout = float(condition_dropout)

    def draw(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The batch's random numbers: segment ends ``(B,)``; with ``own_share``, uniform numbers
        ``(B,)`` that ``gather`` scales to this rank's own steps — every rank draws the same
        numbers from the shared generator, so a sharded run resumes exactly. With condition
        dropout, also which segments are asked nothing ``(B,)`` (drawn after the ends, so a run
        without it draws exactly as before)."""
        if self.own_share:
            draws = {"u": torch.rand(batch_size, device=self.device, generator=generator)}
        else:
            draws = {"ends": torch.randint(0, self.num_steps, (batch_size,), device=self.device, generator=generator)}
        if self.condition_dropout > 0:
            draws["drop"] = torch.rand(batch_size, device=self.device, generator=generator) < self.condition_dropout
        return draws

    def gather(self, draws: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if "u" in draws:
            batch = self.segment((draws["u"] * self.num_steps).long().clamp(max=self.num_steps - 1))
        else:
            batch = self.segment(draws["ends"])
        if "drop" in draws:
            batch["drop_condition"] = draws["drop"].to(self.target)
        return batch

    def segment(self, ends: torch.Tensor) -> dict[str, torch.Tensor]:
        """The segments ending at step indices ``ends`` ``(B,)``: a dict of ``(B, T, ...)``
        tensors (observations, actions, conditions, timesteps) and ``mask (B, T)``."""
        idx = ends[:, None] + self._offsets  # (B, T)
        mask = idx >= self.episode_start[ends][:, None]
        idx = torch.where(mask, idx, ends[:, None])  # any in-episode index; zeroed below

        def take(column: torch.Tensor) -> torch.Tensor:
            values = column[idx]
            keep = mask.view(*mask.shape, *([1] * (values.dim() - 2)))
            return values * keep.to(values.dtype)

        batch = {
            "observations": take(self.observations).float(),
            "actions": take(self.actions),
            "timesteps": take(self.timesteps),
            "mask": mask,
        }
        if self.conditions is not None:
            batch["conditions"] = take(self.conditions)
        elif self.condition_index is not None:
            batch["conditions"] = self.condition_index[idx]  # rows of the table, gathered below
        if self.targets is not None:
            batch["targets"] = take(self.targets)
        if self._pin:  # page-locked, so the copy runs asynchronously
            batch = {key: value.pin_memory().to(self.target, non_blocking=True) for key, value in batch.items()}
        elif self.target != self.device:
            batch = {key: value.to(self.target) for key, value in batch.items()}
        if self.condition_table is not None:
            keep = batch["mask"][..., None].to(self.condition_table.dtype)
            batch["conditions"] = self.condition_table[batch["conditions"]] * keep
        return batch

    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A batch of ``batch_size`` segments."""
        return self.gather(self.draw(batch_size, generator))


def _as_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """``array`` as a tensor on ``device``; a host array (memory-mapped too) is shared, not copied."""
    if device.type == "cpu":
        return torch.from_numpy(np.asarray(array))
    return torch.as_tensor(np.asarray(array), device=device)


def column_bytes(episodes: Episodes) -> int:
    """About what ``SegmentSampler`` keeps of ``episodes`` (observations, actions, conditions,
    timesteps, episode starts), in bytes."""
    n = episodes.num_steps
    per_step = 4 * (int(np.prod(episodes.observation_space.shape)) + int(np.prod(episodes.actions.shape[1:] or (2,))))
    per_step += 16 + sum(4 * int(np.prod(c.shape[1:] or (1,))) for c in episodes.conditions.values())
    return n * per_step


def shard_of(episodes: Episodes, rank: int, world_size: int) -> Episodes:
    """Every ``world_size``-th episode from ``rank``: the ranks' shards are disjoint and cover all."""
    return episodes.select(np.arange(rank, episodes.num_episodes, world_size))
