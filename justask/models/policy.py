"""``PolicyModel``: a trunk (DT or MLP) plus what every policy model shares — observation
normalisation, action scaling, the action head and its likelihood loss, and action selection.
Asking it for something is one layer up (``justask.asking.ask``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from justask.errors import JustAskError
from justask.models.config import ModelConfig, PolicyIO
from justask.models.dt import DecisionTransformer
from justask.models.mlp import MLPTrunk
from justask.models.prompt_encoder import PromptEncoder, prompt_arrays

ACTION_RULES = ("argmax", "sample")
LOG_STD_MIN, LOG_STD_MAX = -5.0, 1.0


class PolicyModel(nn.Module):
    """p(action | recent states and actions, condition), trained by maximum likelihood."""

    def __init__(self, config: ModelConfig, io: PolicyIO) -> None:
        super().__init__()
        self.config = config
        self.io = io
        self.trunk: nn.Module = DecisionTransformer(config, io) if config.kind == "dt" else MLPTrunk(config, io)
        width = config.d_model if config.kind == "dt" else self.trunk.out_dim
        out = io.action_dim if io.discrete else 2 * io.action_dim
        self.head = nn.Linear(width, out)
        spec = io.condition
        self.prompt_encoder = (
            PromptEncoder(io.obs_dim, io.action_dim, io.discrete, config.prompt_width, spec.dim)
            if spec is not None and spec.is_prompt
            else None
        )
        self.register_buffer("obs_mean", torch.zeros(io.obs_dim))
        self.register_buffer("obs_std", torch.ones(io.obs_dim))
        if not io.discrete:
            low = torch.tensor(io.action_low, dtype=torch.float32)
            high = torch.tensor(io.action_high, dtype=torch.float32)
            self.register_buffer("action_center", (high + low) / 2)
            self.register_buffer("action_half_range", (high - low) / 2)

    @staticmethod
    def for_episodes(
        episodes: Any, config: ModelConfig | str = "dt", condition: str | None = None, target: str | None = None
    ) -> PolicyModel:
        """An untrained model sized for ``episodes``, conditioned on column ``condition``."""
        config = ModelConfig(kind=config) if isinstance(config, str) else config
        return PolicyModel(config, PolicyIO.from_episodes(episodes, condition, target, config.max_timestep))

    def set_observation_stats(self, observations: np.ndarray) -> None:
        """Normalise observations by the data's mean and std (kept in the checkpoint)."""
        flat = observations.reshape(len(observations), -1).astype(np.float64)
        self.obs_mean.copy_(torch.as_tensor(flat.mean(0), dtype=torch.float32))
        self.obs_std.copy_(torch.as_tensor(flat.std(0) + 1e-6, dtype=torch.float32).clamp(min=1e-3))

    # ---- the model ---------------------------------------------------------------------------
    def forward(
        self,
        observations: torch.Tensor,
        actions: torch.Tensor,
        conditions: torch.Tensor | None,
        timesteps: torch.Tensor,
        mask: torch.Tensor | None = None,
        last_only: bool = False,
        kv_out: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        drop_condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Raw observations ``(B, T, obs_dim)``, env actions ``(B, T)`` or ``(B, T, act_dim)``
        -> head output ``(B, T, n_actions)`` logits or ``(B, T, 2 * act_dim)`` mean/log-std
        (``T`` = 1 with ``last_only``: the last step's, for acting). ``kv_out`` (DT): collects
        each block's keys and values. ``drop_condition`` (B,) bool: those rows are asked nothing
        (the learned "no request" of a model trained with ``condition_dropout``)."""
        obs = (observations - self.obs_mean) / self.obs_std
        extra: dict[str, Any] = {} if kv_out is None else {"kv_out": kv_out}
        if drop_condition is not None:
            extra["drop_condition"] = drop_condition
        hidden = self.trunk(obs, self._action_input(actions), conditions, timesteps, mask, last_only, **extra)
        return self.head(hidden)

    def forward_incremental(
        self,
        observations: torch.Tensor,
        actions: torch.Tensor,
        conditions: torch.Tensor | None,
        timesteps: torch.Tensor,
        first: torch.Tensor,
        past: list[tuple[torch.Tensor, torch.Tensor]],
        past_valid: torch.Tensor,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
        """The DT's cached step (``DecisionTransformer.forward_incremental``) on raw inputs of
        the steps (t-1, t): head output (N, ...) at step t, new keys/values, their validity."""
        obs = (observations - self.obs_mean) / self.obs_std
        hidden, new_kv, new_valid = self.trunk.forward_incremental(
            obs, self._action_input(actions), conditions, timesteps, first, past, past_valid
        )
        return self.head(hidden), new_kv, new_valid

    def _action_input(self, actions: torch.Tensor) -> torch.Tensor:
        if self.io.discrete:
            return actions.long()
        return ((actions - self.action_center) / self.action_half_range).clamp(-1, 1)

    def encode_prompt(self, observations: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Prompts as raw steps ``(P, N, ...)`` with their ``mask (P, N)`` -> condition vectors
        ``(P, dim)`` (``PromptEncoder``)."""
        if self.prompt_encoder is None:
            raise ValueError("this model is not conditioned on a prompt")
        obs = (observations.reshape(*observations.shape[:2], -1).float() - self.obs_mean) / self.obs_std
        return self.prompt_encoder(obs, self._action_input(actions), mask)

    @torch.no_grad()
    def encode_episodes(self, prompt: Any) -> np.ndarray:
        """One prompt (an ``Episodes`` of the behaviour wanted; None: the empty prompt) -> its
        condition vector ``(dim,)`` in model units."""
        obs, actions, mask = prompt_arrays(prompt, self.io.obs_dim)
        if obs.shape[-1] != self.io.obs_dim:
            raise JustAskError(
                f"the prompt's observations have {obs.shape[-1]} numbers, this model reads {self.io.obs_dim}"
            )
        device = self.obs_mean.device
        z = self.encode_prompt(
            torch.as_tensor(obs, device=device),
            torch.as_tensor(actions, device=device),
            torch.as_tensor(mask, device=device),
        )
        return z[0].float().cpu().numpy()

    def batch_conditions(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The batch's condition column ``(B, T, dim)``: given, or encoded from its prompts
        (``prompt_of (B,)`` says which of the batch's prompts each segment is told)."""
        if "prompt_observations" not in batch:
            return batch.get("conditions")
        z = self.encode_prompt(batch["prompt_observations"], batch["prompt_actions"], batch["prompt_mask"])
        z = z[batch["prompt_of"]]  # (B, dim)
        mask = batch["mask"]
        return z[:, None, :].expand(-1, mask.shape[1], -1) * mask[..., None].to(z.dtype)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Masked negative log-likelihood of the data's actions (mean over real steps) — or of
        ``targets`` where the batch has them (labels), the context still holding the actions."""
        out = self(
            batch["observations"],
            batch["actions"],
            self.batch_conditions(batch),
            batch["timesteps"],
            batch["mask"],
            drop_condition=batch.get("drop_condition"),
        )
        mask = batch["mask"].float()
        wanted = batch.get("targets", batch["actions"])
        if self.io.discrete:
            nll = F.cross_entropy(out.flatten(0, 1).float(), wanted.flatten().long(), reduction="none")
            nll = nll.view_as(mask)
        else:
            mean, log_std = self._gaussian(out.float())
            target = self._action_input(wanted)
            nll = (0.5 * ((target - mean) / log_std.exp()) ** 2 + log_std + 0.5 * math.log(2 * math.pi)).sum(-1)
        return (nll * mask).sum() / mask.sum().clamp(min=1)

    @property
    def can_guide(self) -> bool:
        """Whether the model learned a "no request" policy too (trained with condition dropout)."""
        return self.io.condition is not None and self.config.condition_dropout > 0

    def guided(self, asked: torch.Tensor, unasked: torch.Tensor, weight: float) -> torch.Tensor:
        """Classifier-free guidance (Ho & Salimans 2022) on head outputs: the asked policy pushed
        away from the one asked nothing by ``weight`` (1: the asked policy itself). Discrete:
        log p = log p0 + w (log p1 - log p0); continuous: the mean moves the same way (before
        its tanh), the spread stays the asked one's."""
        if self.io.discrete:
            base = torch.log_softmax(unasked.float(), -1)
            return base + weight * (torch.log_softmax(asked.float(), -1) - base)
        mean_1, log_std = asked.float().chunk(2, dim=-1)
        mean_0, _ = unasked.float().chunk(2, dim=-1)
        return torch.cat([mean_0 + weight * (mean_1 - mean_0), log_std], dim=-1)

    def _gaussian(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = out.chunk(2, dim=-1)
        return torch.tanh(mean), log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def select_actions(self, out: torch.Tensor, rule: str, generator: torch.Generator | None = None) -> torch.Tensor:
        """Head output ``(N, ...)`` for the current step -> env actions ``(N,)`` / ``(N, act_dim)``.
        ``argmax``: the most likely action (the mean for continuous); ``sample``: a draw."""
        out = out.float()
        if self.io.discrete:
            if rule == "argmax":
                return out.argmax(-1)
            probs = torch.softmax(out, -1)
            return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        mean, log_std = self._gaussian(out)
        if rule == "sample":
            noise = torch.randn(mean.shape, generator=generator, device=mean.device)
            mean = (mean + noise * log_std.exp()).clamp(-1, 1)
        return mean * self.action_half_range + self.action_center
