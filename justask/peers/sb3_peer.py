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

import numpy as np

from justask.errors import JustAskError

ZOO_PPO_LUNARLANDER = dict(
    n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01, learning_rate=3e-4
)


def learned_reward_vec_env(
    venv: Any, reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], offset: float, scale: float
) -> Any:
    """Wrap an SB3 VecEnv so its reward is ``(reward_fn(obs, action) - offset) / scale`` of the
    state each action was taken in, computed for all envs in one call; the true reward stays in
    ``info["true_reward"]``."""
    from stable_baselines3.common.vec_env import VecEnvWrapper

    class LearnedRewardVecEnv(VecEnvWrapper):
        def reset(self) -> Any:
            self._last_obs = self.venv.reset()
            return self._last_obs

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = actions
            self.venv.step_async(actions)

        def step_wait(self) -> Any:
            obs, rewards, dones, infos = self.venv.step_wait()
            learned = (np.asarray(reward_fn(self._last_obs, self._actions), dtype=np.float32) - offset) / scale
            for info, true in zip(infos, rewards, strict=True):
                info["true_reward"] = float(true)
            self._last_obs = obs  # after a done, SB3 has already reset: the next state acted in
            return obs, learned, dones, infos

    return LearnedRewardVecEnv(venv)


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

    venv = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    if reward_fn is not None:
        venv = learned_reward_vec_env(venv, reward_fn, reward_offset, reward_scale)
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
