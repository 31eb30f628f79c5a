"""Batched evaluation: many episodes on a vector env, mean return with a bootstrap 95% CI.

Every agent is evaluated on the same episode seeds (``EVAL_SEED + j`` for episode ``j``), far
from the seeds collection uses, so comparisons between agents share their start states.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np

from justask.collection import collect
from justask.envs import env_spaces
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.policies import Policy
from justask.stats import bootstrap_ci

EVAL_SEED = 1_000_000


@dataclasses.dataclass
class EvalResult:
    """Returns of one agent over many episodes."""

    name: str
    condition: Any  # what the agent was asked for, in env units (None: nothing)
    action_rule: str | None  # "argmax", "sample", or None (a scripted policy / the data)
    returns: np.ndarray
    lengths: np.ndarray

    @property
    def episodes(self) -> int:
        return int(len(self.returns))

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def ci95(self) -> tuple[float, float]:
        return bootstrap_ci(self.returns)

    def to_json(self) -> dict[str, Any]:
        lo, hi = self.ci95
        return {
            "name": self.name,
            "condition": self.condition,
            "action_rule": self.action_rule,
            "episodes": self.episodes,
            "mean": round(self.mean, 2),
            "ci95": [round(lo, 2), round(hi, 2)],
            "mean_length": round(float(np.mean(self.lengths)), 1),
        }

    @staticmethod
    def from_episodes(
        name: str, episodes: Episodes, condition: Any = None, action_rule: str | None = None
    ) -> EvalResult:
        return EvalResult(name, condition, action_rule, episodes.returns(), episodes.lengths.copy())


def check_spaces(env_id: str, observation_space: gym.Space, action_space: gym.Space, what: str) -> None:
    """Raise ``JustAskError`` when a dataset's or model's spaces do not fit the env."""
    env_obs, env_act = env_spaces(env_id)
    if getattr(env_obs, "shape", None) != getattr(observation_space, "shape", None):
        raise JustAskError(
            f"{what} has observations of shape {getattr(observation_space, 'shape', None)}, "
            f"env {env_id} gives {env_obs.shape}"
        )
    if (
        type(env_act) is not type(action_space)
        or getattr(env_act, "n", None) != getattr(action_space, "n", None)
        or (getattr(env_act, "shape", None) != getattr(action_space, "shape", None))
    ):
        raise JustAskError(f"{what} has action space {action_space}, env {env_id} has {env_act}")


def evaluate(
    env_id: str,
    policy: Policy,
    *,
    episodes: int = 500,
    num_envs: int = 100,
    seed: int = EVAL_SEED,
    progress: bool = True,
    name: str | None = None,
    ray_workers: int | None = None,
    ray_address: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> EvalResult:
    """Roll ``policy`` out for ``episodes`` episodes (``num_envs`` at a time; on Ray with
    ``ray_workers``/``ray_address``, as in ``collect``; ``env_kwargs`` go to ``gymnasium.make``,
    e.g. a world family's ``box``)."""
    if episodes < 1:
        raise JustAskError(f"episodes must be at least 1, got {episodes}")
    info = getattr(policy, "info", {}) or {}
    result = collect(
        env_id,
        [(policy, episodes)],
        num_envs=num_envs,
        seed=seed,
        progress=progress,
        description=f"eval {name or policy.name}",
        ray_workers=ray_workers,
        ray_address=ray_address,
        env_kwargs=env_kwargs,
    )
    return EvalResult.from_episodes(name or policy.name, result, info.get("condition"), info.get("action_rule"))
