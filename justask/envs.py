"""``EnvSlots``: a batch of Gymnasium envs where only the slots that are running get stepped.

Gymnasium's vector envs step every sub-env on every call. Collecting or evaluating a fixed
number of episodes (each slot takes the next episode when it is free) then keeps stepping idle
envs through the tail: measured on LunarLander, 200 expert episodes with 200 envs stepped 200k
env steps to record 50k. Here each slot is a ``gymnasium.make`` env (with its usual wrappers),
reset with its own seed, and stepped only while it has an episode to run.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from justask.errors import JustAskError


def check_env_id(env_id: str) -> None:
    """Raise ``JustAskError`` for an env id Gymnasium does not know."""
    try:
        gym.spec(env_id)
    except gym.error.Error as exc:
        raise JustAskError(f"unknown env id '{env_id}': {exc}") from exc


def env_spaces(env_id: str, **env_kwargs: Any) -> tuple[gym.Space, gym.Space]:
    """(observation space, action space) of one env."""
    check_env_id(env_id)
    env = gym.make(env_id, **env_kwargs)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


class EnvSlots:
    def __init__(self, env_id: str, num_envs: int, **env_kwargs: Any) -> None:
        check_env_id(env_id)
        self.env_id = env_id
        self.envs = [gym.make(env_id, **env_kwargs) for _ in range(num_envs)]
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space

    @property
    def num_envs(self) -> int:
        return len(self.envs)

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Start new episodes in ``slots`` with the given seeds; their first observations."""
        return np.stack([self.envs[s].reset(seed=int(seed))[0] for s, seed in zip(slots, seeds, strict=True)])

    def step(self, slots: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step ``slots`` with ``actions``: observations, rewards, terminations, truncations."""
        results = [self.envs[s].step(a) for s, a in zip(slots, actions, strict=True)]
        obs = np.stack([r[0] for r in results])
        rewards = np.array([r[1] for r in results], dtype=np.float64)
        terminations = np.array([r[2] for r in results], dtype=bool)
        truncations = np.array([r[3] for r in results], dtype=bool)
        return obs, rewards, terminations, truncations

    def close(self) -> None:
        for env in self.envs:
            env.close()
