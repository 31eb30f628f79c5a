"""RvS-style MLP trunk (Emmons et al. 2021): [state, condition] -> hidden, one step at a time.

With ``condition_film`` the condition also scales and shifts every hidden layer (FiLM, Perez et
al. 2018, as BabyAI's own baselines condition on the instruction): a sentence then selects which
features of the state matter instead of only adding to them."""

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
        self.film = nn.ModuleList() if config.condition_film and io.condition else None
        for hidden in config.hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            if config.dropout:
                layers.append(nn.Dropout(config.dropout))
            if self.film is not None:
                film = nn.Linear(config.condition_embed, 2 * hidden)
                nn.init.zeros_(film.weight)  # starts as the plain MLP: scale 1, shift 0
                nn.init.zeros_(film.bias)
                self.film.append(film)
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
        embedded = None
        if self.embed_condition is not None:
            embedded = self.embed_condition(conditions, drop_condition)
            x = torch.cat([x, embedded], dim=-1)
        if self.film is None:
            return self.net(x)
        films = iter(self.film)
        for layer in self.net:
            x = layer(x)
            if isinstance(layer, nn.Linear):  # FiLM between each linear map and its ReLU
                scale, shift = next(films)(embedded).chunk(2, dim=-1)
                x = x * (1 + scale) + shift
        return x
