"""A prompt (k episodes of one behaviour) -> the condition vector a policy is asked with.

ToMnet's character net (Rabinowitz et al. 2018) in its simplest form, trained with the policy by
maximum likelihood: every step (observation, action) of the prompt goes through the same MLP, the
steps of all k episodes are pooled (mean and max over the real steps, so k and the episodes'
lengths may vary), and a linear map gives the ``dim`` numbers the trunk reads as its condition. An
empty prompt (k = 0) is a learned vector of its own: the model asked with nothing behaves as the
data's average behaviour. The max pool is there because what tells behaviours apart is often a
few steps (which object an agent touched first), which a mean over forty steps would dilute.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from justask.episodes import Episodes


class PromptEncoder(nn.Module):
    def __init__(self, obs_dim: int, action_dim: int, discrete: bool, width: int, out_dim: int) -> None:
        super().__init__()
        self.discrete = discrete
        self.action_dim = action_dim
        self.step = nn.Sequential(nn.Linear(obs_dim + action_dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.out = nn.Linear(2 * width, out_dim)
        self.empty = nn.Parameter(torch.zeros(out_dim))

    def forward(self, observations: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Normalised observations ``(P, N, obs_dim)``, actions ``(P, N)`` (discrete) or
        ``(P, N, act_dim)`` in [-1, 1], ``mask (P, N)`` of real steps -> ``(P, out_dim)``."""
        if self.discrete:
            acts = F.one_hot(actions.long().clamp(min=0), self.action_dim).to(observations.dtype)
        else:
            acts = actions.to(observations.dtype)
        h = self.step(torch.cat([observations, acts], dim=-1))  # (P, N, width)
        keep = mask[..., None].to(h.dtype)
        count = keep.sum(1)  # (P, 1)
        mean = (h * keep).sum(1) / count.clamp(min=1)
        top = torch.where(mask[..., None], h, torch.zeros_like(h)).amax(1)  # h >= 0 after the ReLU
        z = self.out(torch.cat([mean, top], dim=-1))
        return torch.where(count > 0, z, self.empty.to(z.dtype).expand_as(z))


def prompt_arrays(prompt: Episodes | None, obs_dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One prompt as the encoder's inputs with P = 1: raw observations ``(1, N, obs_dim)``,
    actions ``(1, N, ...)``, mask ``(1, N)`` — every step of every episode in ``prompt`` (None or
    no episodes: the empty prompt)."""
    if prompt is None or prompt.num_episodes == 0:
        return np.zeros((1, 1, obs_dim), np.float32), np.zeros((1, 1), np.int64), np.zeros((1, 1), bool)
    n = prompt.num_steps
    observations = prompt.step_observations().reshape(n, -1).astype(np.float32)
    actions = np.asarray(prompt.actions)
    actions = actions.astype(np.int64) if actions.ndim == 1 else actions.reshape(n, -1).astype(np.float32)
    return observations[None], actions[None], np.ones((1, n), bool)
