"""Batches for a prompt condition: segments of an episode, each told k *other* episodes of the
behaviour that made it (hindsight pairing: every episode of agent j is correct data for "behave
as the agent of these episodes", as long as it is not one of them).

A batch of ``B`` segments holds ``ceil(B / SEGMENTS_PER_PROMPT)`` prompts. Each prompt picks an
anchor episode (a uniform step's episode), k uniform in ``0 .. max_episodes``, and k other
episodes of the anchor's behaviour without replacement (fewer where the behaviour has fewer); its
segments end at uniform steps of the anchor. Prompts are shared by ``SEGMENTS_PER_PROMPT``
segments so that encoding them costs a fraction of the batch: every step of a prompt goes through
the encoder. All random numbers come from the training generator (``draw``), so a resumed run
draws what an uninterrupted one would.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.models.config import PolicyIO
from justask.sampler import SegmentSampler

SEGMENTS_PER_PROMPT = 8
# a batch's tensors with a row per prompt, not per segment (``prompt_episodes``: which episodes, -1: none)
PROMPT_KEYS = ("prompt_observations", "prompt_actions", "prompt_mask", "prompt_episodes")


class PromptSampler:
    def __init__(self, episodes: Episodes, config: PolicyIO, context_len: int, device: torch.device | str) -> None:
        spec = config.condition
        if spec is None or not spec.is_prompt:
            raise JustAskError("PromptSampler is for a model conditioned on a prompt")
        # the batch is cut on the host (index arithmetic with variable prompt lengths), then moved
        self.segments = SegmentSampler(episodes, config, context_len, device, storage="cpu")
        self.device = self.segments.device
        self.target = self.segments.target
        self.max_episodes = spec.prompt_episodes
        groups = np.asarray(episodes.conditions[spec.name], dtype=np.int64)[episodes.episode_starts]
        names, group_of = np.unique(groups, return_inverse=True)
        members = [np.flatnonzero(group_of == g) for g in range(len(names))]
        width = max(len(m) for m in members)
        table = np.full((len(names), width), -1, dtype=np.int64)
        for g, m in enumerate(members):
            table[g, : len(m)] = m
        self.members = torch.from_numpy(table)  # (groups, most episodes) episode indices, -1 padded
        self.group_of = torch.from_numpy(group_of.astype(np.int64))  # episode -> its group's row
        self.starts = torch.from_numpy(episodes.episode_starts.astype(np.int64))
        self.lengths = torch.from_numpy(episodes.lengths.astype(np.int64))
        self.episode_of_step = torch.from_numpy(episodes.episode_of_step().astype(np.int64))
        self.num_steps = episodes.num_steps

    def draw(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        prompts = math.ceil(batch_size / SEGMENTS_PER_PROMPT)
        return {
            "anchor": torch.randint(0, self.num_steps, (prompts,), generator=generator),
            "k": torch.randint(0, self.max_episodes + 1, (prompts,), generator=generator),
            "order": torch.rand((prompts, self.members.shape[1]), generator=generator),
            "u": torch.rand(batch_size, generator=generator),
        }

    def gather(self, draws: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        anchors = self.episode_of_step[draws["anchor"]]  # (P,) episodes
        pool = self.members[self.group_of[anchors]]  # (P, M)
        usable = (pool >= 0) & (pool != anchors[:, None])  # never the episode itself
        order = torch.where(usable, draws["order"], torch.full_like(draws["order"], 2.0))
        ranked = torch.argsort(order, dim=1)[:, : self.max_episodes]  # (P, K)
        chosen = torch.gather(pool, 1, ranked)
        keep = torch.gather(usable, 1, ranked) & (torch.arange(ranked.shape[1])[None] < draws["k"][:, None])
        chosen = torch.where(keep, chosen, torch.zeros_like(chosen))
        lengths = torch.where(keep, self.lengths[chosen], torch.zeros_like(chosen))  # (P, K)
        longest = max(int(lengths.max()), 1)
        offsets = torch.arange(longest)
        steps = self.starts[chosen][..., None] + offsets  # (P, K, L)
        mask = offsets < lengths[..., None]
        steps = torch.where(mask, steps, torch.zeros_like(steps)).flatten(1)  # (P, K * L)
        mask = mask.flatten(1)
        observations = self.segments.observations[steps].float() * mask[..., None]
        actions = self.segments.actions[steps]
        actions = actions * mask.view(*mask.shape, *([1] * (actions.dim() - 2))).to(actions.dtype)
        prompt_of = torch.arange(len(draws["u"])) // SEGMENTS_PER_PROMPT
        own = anchors[prompt_of]
        ends = self.starts[own] + (draws["u"] * self.lengths[own]).long().clamp(max=self.lengths[own] - 1)
        batch = self.segments.segment(ends)
        extra = {"prompt_observations": observations, "prompt_actions": actions, "prompt_mask": mask}
        extra["prompt_of"] = prompt_of
        extra["prompt_episodes"] = torch.where(keep, chosen, torch.full_like(chosen, -1))
        return {**batch, **{key: value.to(self.target) for key, value in extra.items()}}

    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.gather(self.draw(batch_size, generator))
