"""What a policy model is: its architecture (``ModelConfig``, chosen by the user) and its interface
to the data (``PolicyIO``: sizes, action bounds, condition — fixed by the episodes it learns from).
Both round-trip to JSON in the run folder. No torch here: the CLI builds its options from these."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import gymnasium as gym
import numpy as np

from justask.conditions import ConditionSpec
from justask.configs import whole_numbers
from justask.episodes import Episodes
from justask.errors import JustAskError

MODEL_KINDS = ("dt", "mlp")


@dataclasses.dataclass
class ModelConfig:
    """Architecture of a policy model p(action | history, condition)."""

    kind: str = "dt"
    """dt: a Decision Transformer over (condition, state, action) tokens; mlp: an RvS-style MLP."""
    context_len: int = 10
    """Steps the DT sees (an MLP always sees 1: see ``window``)."""
    d_model: int = 64
    """DT width."""
    n_layer: int = 2
    """DT transformer blocks."""
    n_head: int = 1
    """DT attention heads (must divide d_model)."""
    dropout: float = 0.0
    """Dropout; off by default: it costs ~30% speed on a CPU and small data did not need it."""
    condition_token: bool = True
    """DT: the request is its own token (False: added to the state token)."""
    action_tokens: bool = True
    """DT: past actions in the context (False: states and requests only)."""
    timestep_embedding: bool = True
    """DT: add a learned embedding of the step index within the episode."""
    max_timestep: int = 0
    """Size of the DT's timestep embedding (0: from the data, at least 1024); longer episodes reuse the last entry."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """MLP hidden layers."""
    condition_embed: int = 32
    """Width of the condition embedding fed to the MLP."""
    condition_film: bool = False
    """MLP: the condition embedding also scales and shifts every hidden layer (FiLM) besides being an input."""
    prompt_width: int = 256
    """Width of the prompt encoder's per-step MLP (a prompt condition: the model is told episodes of the behaviour)."""
    condition_dropout: float = 0.0
    """Share of training segments asked nothing (a learned "no request" token instead of theirs): the model also learns the unconditioned policy, which guidance at ask time contrasts with the asked one."""

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(self.hidden_sizes)
        if self.kind not in MODEL_KINDS:
            raise JustAskError(f"unknown model kind '{self.kind}' (choose from {', '.join(MODEL_KINDS)})")
        whole_numbers(self, 1, "context_len", "d_model", "n_head", "condition_embed", "prompt_width")
        whole_numbers(self, 0, "n_layer", "max_timestep")
        for name in ("condition_token", "action_tokens", "timestep_embedding", "condition_film"):
            if not isinstance(getattr(self, name), bool):
                raise JustAskError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.dropout, bool) or not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            raise JustAskError(f"dropout must be in [0, 1), got {self.dropout}")
        if isinstance(self.condition_dropout, bool) or not (
            isinstance(self.condition_dropout, (int, float)) and 0.0 <= self.condition_dropout < 1.0
        ):
            raise JustAskError(f"condition_dropout must be in [0, 1), got {self.condition_dropout!r}")
        if not self.hidden_sizes or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden_sizes
        ):
            raise JustAskError(f"hidden_sizes must be positive whole numbers, got {list(self.hidden_sizes)}")
        if self.d_model % self.n_head:
            raise JustAskError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")

    @property
    def window(self) -> int:
        """Steps the model reads per prediction: the DT its context, an MLP one."""
        return self.context_len if self.kind == "dt" else 1

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["hidden_sizes"] = list(self.hidden_sizes)
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> ModelConfig:
        return _from_json(ModelConfig, data, "model config")


def _from_json(cls: type, data: Any, what: str) -> Any:
    if not isinstance(data, dict):
        raise JustAskError(f"{what} must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise JustAskError(f"{what} has unknown fields {unknown}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise JustAskError(f"{what} is invalid ({exc})") from exc


@dataclasses.dataclass
class PolicyIO:
    """What the data fixes about a policy model: its inputs and outputs."""

    obs_dim: int  # flattened observation size
    action_kind: str  # discrete or continuous
    action_dim: int  # number of actions (discrete) or action vector size (continuous)
    max_timestep: int = 1024  # size of the DT's timestep embedding
    action_low: list[float] | None = None  # continuous action bounds (the model acts in [-1, 1])
    action_high: list[float] | None = None
    condition: ConditionSpec | None = None  # None: unconditioned behaviour cloning
    target: str | None = None  # a column of actions to learn instead of the executed ones (expert labels)

    def __post_init__(self) -> None:
        if isinstance(self.condition, dict):
            self.condition = ConditionSpec.from_json(self.condition)
        if self.condition is not None and not isinstance(self.condition, ConditionSpec):
            raise JustAskError(f"condition must be a condition description or null, got {self.condition!r}")
        if self.target is not None and (not isinstance(self.target, str) or not self.target):
            raise JustAskError(f"target must be a column name or null, got {self.target!r}")
        if self.action_kind not in ("discrete", "continuous"):
            raise JustAskError(f"action_kind must be 'discrete' or 'continuous', got {self.action_kind!r}")
        for name in ("obs_dim", "action_dim", "max_timestep"):
            whole_numbers(self, 1, name)
        if not self.discrete:
            for name in ("action_low", "action_high"):
                bounds = getattr(self, name)
                if not isinstance(bounds, list) or len(bounds) != self.action_dim:
                    raise JustAskError(f"{name} must list {self.action_dim} numbers for continuous actions")
                if not all(isinstance(b, (int, float)) and math.isfinite(b) for b in bounds):
                    raise JustAskError(f"{name} must be finite numbers, got {bounds}")

    @property
    def discrete(self) -> bool:
        return self.action_kind == "discrete"

    @staticmethod
    def from_episodes(
        episodes: Episodes, condition: str | None = None, target: str | None = None, max_timestep: int = 0
    ) -> PolicyIO:
        """Sizes from the episodes' spaces; the spec of column ``condition`` (None: BC)."""
        spec = ConditionSpec.from_episodes(episodes, condition) if condition else None
        if target is not None and target not in episodes.conditions:
            raise JustAskError(f"the episodes have no column '{target}' of target actions")
        longest = int(episodes.lengths.max()) if episodes.num_episodes else 1
        base = PolicyIO.from_spaces(episodes.observation_space, episodes.action_space)
        return dataclasses.replace(
            base, max_timestep=max_timestep or max(1024, longest + 1), condition=spec, target=target
        )

    @staticmethod
    def from_spaces(observation_space: gym.Space, action_space: gym.Space) -> PolicyIO:
        if not isinstance(observation_space, gym.spaces.Box):
            raise JustAskError(f"observation space {observation_space} is not supported (a Box is needed)")
        obs_dim = int(np.prod(observation_space.shape))
        if isinstance(action_space, gym.spaces.Discrete):
            return PolicyIO(obs_dim=obs_dim, action_kind="discrete", action_dim=int(action_space.n))
        if isinstance(action_space, gym.spaces.Box):
            if not (np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
                raise JustAskError("continuous actions need finite bounds")
            return PolicyIO(
                obs_dim=obs_dim,
                action_kind="continuous",
                action_dim=int(np.prod(action_space.shape)),
                action_low=action_space.low.astype(float).ravel().tolist(),
                action_high=action_space.high.astype(float).ravel().tolist(),
            )
        raise JustAskError(f"action space {action_space} is not supported (Discrete or Box)")

    def spaces(self) -> tuple[gym.Space, gym.Space]:
        """(observation space, action space) this model acts in (bounds of observations unknown)."""
        obs = gym.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)
        if self.discrete:
            return obs, gym.spaces.Discrete(self.action_dim)
        return obs, gym.spaces.Box(
            np.asarray(self.action_low, np.float32), np.asarray(self.action_high, np.float32), dtype=np.float32
        )

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["condition"] = self.condition.to_json() if self.condition else None
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> PolicyIO:
        return _from_json(PolicyIO, data, "model interface (io)")
