"""Policies: anything that maps a batch of observations to a batch of actions.

The protocol is small on purpose. ``act(observations, slots)`` gets ``(N, *obs_shape)``
observations and the env *slots* they come from (``(N,)`` ints: which env of the vector env);
it returns ``(N,)`` ints for a discrete action space or ``(N, act_dim)`` floats for a box.

Two optional hooks let a policy keep per-episode state (randomness, a context, a return-to-go):

- ``reset(slots, seeds)``: new episodes begin in these slots, with these per-episode seeds;
- ``observe(slots, rewards)``: the rewards the last actions earned.

Randomness is drawn from a generator per slot, re-seeded from the episode's seed at ``reset``,
so an episode is the same whichever slot or batch it runs in.
"""

from __future__ import annotations

import zlib
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np


@runtime_checkable
class Policy(Protocol):
    """Maps ``(N, *obs_shape)`` observations from env ``slots`` to ``N`` actions."""

    name: str

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray: ...


def policy_info(policy: Any) -> dict[str, Any]:
    """The parameters a policy reports for episode metadata (its ``info`` dict, if any)."""
    info = getattr(policy, "info", None)
    return dict(info) if isinstance(info, dict) else {}


class SlotRandomness:
    """One numpy generator per env slot, re-seeded from each episode's seed.

    ``salt`` separates the streams of policies that share a seed (a noisy wrapper and the random
    policy inside it must not draw the same numbers).
    """

    def __init__(self, salt: str) -> None:
        self._salt = zlib.crc32(salt.encode())
        self._rngs: dict[int, np.random.Generator] = {}

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        for slot, seed in zip(slots, seeds, strict=True):
            self._rngs[int(slot)] = np.random.default_rng([int(seed), self._salt])

    def for_slot(self, slot: int) -> np.random.Generator:
        rng = self._rngs.get(int(slot))
        if rng is None:  # acting without a reset: seed from the slot so runs stay repeatable
            rng = self._rngs[int(slot)] = np.random.default_rng([int(slot), self._salt, 1])
        return rng

    def uniform(self, slots: np.ndarray) -> np.ndarray:
        """One U[0, 1) draw per slot, ``(N,)``."""
        return np.array([self.for_slot(s).random() for s in slots])


def sample_actions(space: gym.Space, randomness: SlotRandomness, slots: np.ndarray) -> np.ndarray:
    """Uniformly random actions for the given slots."""
    if isinstance(space, gym.spaces.Discrete):
        return np.array([space.start + randomness.for_slot(s).integers(space.n) for s in slots], dtype=np.int64)
    if isinstance(space, gym.spaces.Box):
        low, high = space.low.astype(np.float64), space.high.astype(np.float64)
        draws = (
            np.stack([randomness.for_slot(s).random(space.shape) for s in slots])
            if len(slots)
            else np.zeros((0, *space.shape))
        )
        return (low + draws * (high - low)).astype(space.dtype)
    raise TypeError(f"action space {space} is not supported (Discrete or Box)")


class RandomPolicy:
    """Uniformly random actions."""

    def __init__(self, action_space: gym.Space, name: str = "random") -> None:
        self.action_space = action_space
        self.name = name
        self.info: dict[str, Any] = {}
        self._randomness = SlotRandomness(name)

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        self._randomness.reset(slots, seeds)

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        return sample_actions(self.action_space, self._randomness, slots)


class NoisyPolicy:
    """With probability ``eps`` per step, replace ``policy``'s action by a random one (uniform
    noise), or by the fixed ``toward`` action when given (noise biased toward one action)."""

    def __init__(
        self,
        policy: Policy,
        eps: float,
        action_space: gym.Space,
        toward: int | np.ndarray | None = None,
        name: str | None = None,
    ) -> None:
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"noise eps must be in [0, 1], got {eps}")
        self.policy = policy
        self.eps = float(eps)
        self.toward = toward
        self.action_space = action_space
        self.name = name or (f"{policy.name}+eps{eps:g}" + ("" if toward is None else f"->{toward}"))
        self.info = {
            **policy_info(policy),
            "base_policy": policy.name,
            "noise_eps": self.eps,
            "noise_toward": None if toward is None else np.asarray(toward).tolist(),
        }
        self._randomness = SlotRandomness(self.name + "/noise")

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        self._randomness.reset(slots, seeds)
        if hasattr(self.policy, "reset"):
            self.policy.reset(slots, seeds)

    def observe(self, slots: np.ndarray, rewards: np.ndarray) -> None:
        if hasattr(self.policy, "observe"):
            self.policy.observe(slots, rewards)

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        actions = np.array(self.policy.act(observations, slots), copy=True)
        replace = self._randomness.uniform(slots) < self.eps
        if replace.any():
            if self.toward is None:
                actions[replace] = sample_actions(self.action_space, self._randomness, slots[replace])
            else:
                actions[replace] = self.toward
        return actions


def noisy(
    policy: Policy, eps: float, action_space: gym.Space, toward: int | np.ndarray | None = None, name: str | None = None
) -> NoisyPolicy:
    """``policy`` with probability-``eps`` uniform noise, or noise biased toward ``toward``."""
    return NoisyPolicy(policy, eps, action_space, toward=toward, name=name)
