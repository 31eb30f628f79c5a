"""One config for every policy model; it round-trips to JSON in the run folder."""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np

from justask.conditions import ConditionSpec
from justask.errors import JustAskError

MODEL_KINDS = ("dt", "mlp")


@dataclasses.dataclass
class ModelConfig:
    """Architecture of a policy model p(action | history, condition)."""

    kind: str = "dt"  # "dt": Decision Transformer over (condition, state, action) tokens; "mlp": RvS-style MLP
    obs_dim: int = 0  # flattened observation size (set from the data)
    action_kind: str = "discrete"  # "discrete" or "continuous" (set from the data)
    action_dim: int = 0  # number of actions (discrete) or action vector size (continuous)
    action_low: list[float] | None = None  # continuous action bounds (actions are scaled to [-1, 1])
    action_high: list[float] | None = None
    condition: ConditionSpec | None = None  # None: unconditioned behaviour cloning
    target: str | None = (
        None  # a column of actions to learn instead of the executed ones (expert labels); the context still shows the executed actions
    )
    context_len: int = 10  # steps the model sees (the DT's context; 1 for the MLP)
    d_model: int = 64  # transformer width
    n_layer: int = 2  # transformer blocks
    n_head: int = 1  # attention heads
    dropout: float = 0.0  # off by default: it costs ~30% speed on CPU and small data did not need it
    condition_token: bool = True  # DT: the request is its own token (False: added to the state token)
    action_tokens: bool = True  # DT: past actions in the context (off: states and requests only)
    timestep_embedding: bool = True  # DT: add a learned embedding of the step index within the episode
    max_timestep: int = 1024  # size of the timestep embedding; longer episodes reuse the last entry
    hidden_sizes: list[int] = dataclasses.field(default_factory=lambda: [256, 256])  # MLP layers
    condition_embed: int = 32  # width of the condition embedding fed to the MLP

    def __post_init__(self) -> None:
        if isinstance(self.condition, dict):
            self.condition = ConditionSpec.from_json(self.condition)
        if self.kind not in MODEL_KINDS:
            raise JustAskError(f"unknown model kind '{self.kind}' (choose from {', '.join(MODEL_KINDS)})")
        if self.kind == "mlp":
            self.context_len = 1
        if self.d_model % self.n_head:
            raise JustAskError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")

    @property
    def discrete(self) -> bool:
        return self.action_kind == "discrete"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["condition"] = self.condition.to_json() if self.condition else None
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(ModelConfig)}
        unknown = set(data) - known
        if unknown:
            raise JustAskError(f"model config has unknown fields {sorted(unknown)}")
        return ModelConfig(**data)

    def with_spaces(self, observation_space: gym.Space, action_space: gym.Space) -> ModelConfig:
        """A copy with the observation and action sizes taken from the spaces."""
        if not isinstance(observation_space, gym.spaces.Box):
            raise JustAskError(f"observation space {observation_space} is not supported (a Box is needed)")
        obs_dim = int(np.prod(observation_space.shape))
        if isinstance(action_space, gym.spaces.Discrete):
            return dataclasses.replace(self, obs_dim=obs_dim, action_kind="discrete", action_dim=int(action_space.n))
        if isinstance(action_space, gym.spaces.Box):
            if not (np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
                raise JustAskError("continuous actions need finite bounds")
            return dataclasses.replace(
                self,
                obs_dim=obs_dim,
                action_kind="continuous",
                action_dim=int(np.prod(action_space.shape)),
                action_low=action_space.low.astype(float).ravel().tolist(),
                action_high=action_space.high.astype(float).ravel().tolist(),
            )
        raise JustAskError(f"action space {action_space} is not supported (Discrete or Box)")
