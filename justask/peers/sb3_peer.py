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

# RL Baselines3 Zoo's tuned PPO for CartPole-v1 (8 envs; its linear schedules as constants)
ZOO_PPO_CARTPOLE = dict(
    n_steps=32,
    batch_size=256,
    gae_lambda=0.8,
    gamma=0.98,
    n_epochs=20,
    ent_coef=0.0,
    learning_rate=1e-3,
    clip_range=0.2,
)
ZOO_PPO_LUNARLANDER = dict(
    n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01, learning_rate=3e-4
)


def learned_reward_vec_env(
    venv: Any,
    reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    offset: float,
    scale: float,
    absorbing_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    horizon: int = 0,
) -> Any:
    """Wrap an SB3 VecEnv so its reward is ``(reward_fn(obs, action) - offset) / scale`` of the
    state each action was taken in, computed for all envs in one call; the true reward stays in
    ``info["true_reward"]``. With ``absorbing_fn`` and a ``horizon``, an episode that terminates
    after t steps (not one cut by the time limit) also gets ``absorbing_fn(final_obs, horizon - t)``
    on its last step: the learned reward of the steps it would spend in its absorbing state."""
    from stable_baselines3.common.vec_env import VecEnvWrapper

    class LearnedRewardVecEnv(VecEnvWrapper):
        def reset(self) -> Any:
            self._last_obs = self.venv.reset()
            self._steps = np.zeros(self.num_envs, dtype=np.int64)
            return self._last_obs

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = actions
            self.venv.step_async(actions)

        def step_wait(self) -> Any:
            obs, rewards, dones, infos = self.venv.step_wait()
            learned = np.asarray(reward_fn(self._last_obs, self._actions), dtype=np.float64) - offset
            self._steps += 1
            for info, true in zip(infos, rewards, strict=True):
                info["true_reward"] = float(true)
            if absorbing_fn is not None and horizon > 0:
                ended = [
                    i
                    for i in np.flatnonzero(dones)
                    if not infos[i].get("TimeLimit.truncated", False) and self._steps[i] < horizon
                ]
                if ended:
                    finals = np.stack([infos[i]["terminal_observation"] for i in ended])
                    learned[ended] += absorbing_fn(finals, horizon - self._steps[ended]) - offset * (
                        horizon - self._steps[ended]
                    )
            self._steps[dones] = 0
            self._last_obs = obs  # after a done, SB3 has already reset: the next state acted in
            return obs, (learned / scale).astype(np.float32), dones, infos

    return LearnedRewardVecEnv(venv)


def import_sb3(what: str) -> Any:
    """``stable_baselines3``, imported without the old gym package's notice on stderr; a clear
    error naming ``what`` needs it when it is not installed."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            import stable_baselines3
    except ImportError as exc:
        raise JustAskError(f"{what} needs stable-baselines3: pip install stable-baselines3") from exc
    return stable_baselines3


def train_ppo(
    env_id: str,
    total_steps: int,
    *,
    seed: int = 0,
    reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    reward_offset: float = 0.0,
    reward_scale: float = 1.0,
    absorbing_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    horizon: int = 0,
    n_envs: int = 16,
    tensorboard_log: str | None = None,
    hyperparameters: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    frame_stack: int = 1,
) -> Any:
    """SB3 PPO for ``total_steps`` env steps, on the env's reward or on ``reward_fn`` (with
    ``absorbing_fn``/``horizon``: see ``learned_reward_vec_env``; ``hyperparameters``: PPO's,
    default the Zoo's LunarLander ones; ``frame_stack`` > 1: the last that many observations side
    by side, SB3's ``VecFrameStack``)."""
    sb3 = import_sb3("PPO")
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(env_id, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs)
    if frame_stack > 1:
        from stable_baselines3.common.vec_env import VecFrameStack

        venv = VecFrameStack(venv, frame_stack)
    if reward_fn is not None:
        venv = learned_reward_vec_env(venv, reward_fn, reward_offset, reward_scale, absorbing_fn, horizon)
    model = sb3.PPO(
        "MlpPolicy",
        venv,
        seed=seed,
        verbose=0,
        device="cpu",
        tensorboard_log=tensorboard_log,
        **(ZOO_PPO_LUNARLANDER if hyperparameters is None else hyperparameters),
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


class StackedSB3Policy(SB3Policy):
    """An SB3 model trained on ``VecFrameStack``-ed observations, as a justask policy: per slot
    the last ``stack`` observations, zeros before the episode's first (as VecFrameStack pads)."""

    def __init__(self, model: Any, stack: int, action_rule: str = "argmax", name: str = "ppo-stacked") -> None:
        super().__init__(model, action_rule, name)
        self.stack = stack
        self._frames: dict[int, np.ndarray] = {}

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        for slot in slots:
            self._frames.pop(int(slot), None)

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        observations = np.asarray(observations, dtype=np.float32)
        stacked = []
        for obs, slot in zip(observations, slots, strict=True):
            frames = self._frames.get(int(slot))
            if frames is None:
                frames = np.zeros((self.stack, *obs.shape), dtype=np.float32)
            frames = np.concatenate([frames[1:], obs[None]])
            self._frames[int(slot)] = frames
            stacked.append(np.concatenate(list(frames), axis=-1))
        return super().act(np.stack(stacked), slots)
