"""Stable-Baselines3 PPO as the direct-optimization peer, on the true or on a learned reward.

Hyperparameters for LunarLander follow the RL Baselines3 Zoo's tuned PPO (16 envs, 1024 steps
per env per update, batch 64, 4 epochs, gamma 0.999, GAE 0.98, entropy 0.01), so the peer gets
its best honest shot. ``SB3Policy`` acts through the justask policy protocol: ``argmax`` is SB3's
deterministic action, ``sample`` a draw from its policy.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from justask.errors import JustAskError

ZOO_PPO_LUNARLANDER = dict(
    n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01, learning_rate=3e-4
)


class LearnedRewardWrapper(gym.Wrapper):
    """Replaces the env's reward by ``reward_fn(obs, action)`` of the state the action was taken
    in (shifted and scaled by ``offset`` and ``scale``); the true reward stays in
    ``info["true_reward"]``."""

    def __init__(
        self,
        env: gym.Env,
        reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
        offset: float = 0.0,
        scale: float = 1.0,
    ) -> None:
        super().__init__(env)
        self.reward_fn, self.offset, self.scale = reward_fn, offset, scale
        self._last_obs: np.ndarray | None = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        obs, info = self.env.reset(**kwargs)
        self._last_obs = np.asarray(obs)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        learned = float(self.reward_fn(self._last_obs[None], np.asarray(action)[None])[0])
        self._last_obs = np.asarray(obs)
        info = {**info, "true_reward": reward}
        return obs, (learned - self.offset) / self.scale, terminated, truncated, info


def train_ppo(
    env_id: str,
    total_steps: int,
    *,
    seed: int = 0,
    reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    reward_offset: float = 0.0,
    reward_scale: float = 1.0,
    n_envs: int = 16,
    tensorboard_log: str | None = None,
) -> Any:
    """SB3 PPO for ``total_steps`` env steps, on the env's reward or on ``reward_fn``."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # the old gym package's import notice
            from stable_baselines3 import PPO
            from stable_baselines3.common.env_util import make_vec_env
    except ImportError as exc:
        raise JustAskError("PPO needs stable-baselines3: pip install stable-baselines3") from exc

    wrapper = None
    if reward_fn is not None:

        def wrapper(env: gym.Env) -> gym.Env:
            return LearnedRewardWrapper(env, reward_fn, reward_offset, reward_scale)

    venv = make_vec_env(env_id, n_envs=n_envs, seed=seed, wrapper_class=wrapper)
    model = PPO(
        "MlpPolicy", venv, seed=seed, verbose=0, device="cpu", tensorboard_log=tensorboard_log, **ZOO_PPO_LUNARLANDER
    )
    model.learn(total_timesteps=total_steps, progress_bar=False)
    venv.close()
    return model


class SB3Policy:
    """A trained SB3 model as a justask policy."""

    def __init__(self, model: Any, action_rule: str = "argmax", name: str = "ppo") -> None:
        self.model, self.action_rule = model, action_rule
        self.name = f"{name}/{action_rule}"
        self.info = {"action_rule": action_rule, "condition": None}

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        actions, _ = self.model.predict(np.asarray(observations), deterministic=self.action_rule == "argmax")
        return np.asarray(actions)
