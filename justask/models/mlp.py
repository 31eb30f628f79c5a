"""RvS-style MLP trunk (Emmons et al. 2021): [state, condition] -> hidden, one step at a time."""

from __future__ import annotations

import torch
from torch import nn

from justask.models.condition_encoder import ConditionEncoder
from justask.models.config import ModelConfig, PolicyIO


class MLPTrunk(nn.Module):
    def __init__(self, config: ModelConfig, io: PolicyIO) -> None:
        super().__init__()
        self.embed_condition = (
            ConditionEncoder(io.condition.dim, config.condition_embed, config.condition_dropout > 0)
            if io.condition
            else None
        )
        width = io.obs_dim + (config.condition_embed if io.condition else 0)
        layers: list[nn.Module] = []
        for hidden in config.hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            if config.dropout:
                layers.append(nn.Dropout(config.dropout))
            width = hidden
        self.net = nn.Sequential(*layers)
        self.out_dim = width

    def forward(
        self,
        observations: torch.Tensor,
        actions: torch.Tensor,
        conditions: torch.Tensor | None,
        timesteps: torch.Tensor,
        mask: torch.Tensor | None,
        last_only: bool = False,
        drop_condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Same signature as the DT; reads only the state and condition of each step."""
        if last_only:
            observations = observations[:, -1:]
            conditions = None if conditions is None else conditions[:, -1:]
        x = observations
        if self.embed_condition is not None:
            x = torch.cat([x, self.embed_condition(conditions, drop_condition)], dim=-1)
        return self.net(x)
