"""Stable-Baselines3 DQN and PPO learning a Dark Room task from scratch: the direct-optimization
peers of in-context improvement. Each task (goal) gets a fresh learner; its learning curve is the
return of every training episode in order (with its exploration, as the in-context agent's
returns are), over the task's optimum.

Hyperparameters are RL Baselines3 Zoo's tuned ones for CartPole-v1 (a small discrete task; the
Zoo has no Dark Room entry), with DQN's warm-up and exploration scaled to the episode budget, so
the peers get their best honest shot at a few thousand env steps.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from justask.errors import JustAskError
from justask.peers.sb3_peer import ZOO_PPO_CARTPOLE
from justask.suites import darkroom

# Zoo's DQN for CartPole-v1; learning_starts and exploration_fraction are set from the budget
ZOO_DQN_CARTPOLE = dict(
    learning_rate=2.3e-3,
    batch_size=64,
    buffer_size=100_000,
    gamma=0.99,
    target_update_interval=10,
    train_freq=256,
    gradient_steps=128,
    exploration_final_eps=0.04,
    policy_kwargs={"net_arch": [256, 256]},
)


def learning_curves(algo: str, goals: list[int], episodes: int, seed: int = 0, threads: int = 1) -> np.ndarray:
    """``(len(goals), episodes)`` return / optimum of each training episode of a fresh SB3
    ``algo`` ("dqn" or "ppo") per goal."""
    import torch
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.monitor import Monitor

    if algo not in ("dqn", "ppo"):
        raise JustAskError(f"unknown SB3 peer '{algo}' (dqn or ppo)")
    if threads > 0:
        torch.set_num_threads(threads)
    steps = episodes * darkroom.HORIZON
    curves = np.zeros((len(goals), episodes))
    for i, goal in enumerate(goals):
        if algo == "dqn":
            env = Monitor(darkroom.DarkRoomEnv(goal=goal))
            settings: dict[str, Any] = dict(ZOO_DQN_CARTPOLE, learning_starts=min(1000, steps // 10))
            settings["exploration_fraction"] = 0.16
            model = DQN("MlpPolicy", env, seed=seed + i, verbose=0, **settings)
            monitors = [env]
        else:
            venv = make_vec_env(darkroom.DarkRoomEnv, n_envs=8, seed=seed + i, env_kwargs={"goal": goal})
            model = PPO("MlpPolicy", venv, seed=seed + i, verbose=0, **ZOO_PPO_CARTPOLE)
            monitors = [e for e in venv.envs]
        with contextlib.redirect_stdout(io.StringIO()):
            model.learn(total_timesteps=steps + 8 * darkroom.HORIZON)
        # episodes in the order they ended (PPO's 8 envs end theirs in lockstep, so interleave)
        rows = [np.asarray(m.get_episode_rewards()) for m in monitors]
        returns = np.stack([r[: min(len(x) for x in rows)] for r in rows], axis=1).reshape(-1)[:episodes]
        if len(returns) < episodes:
            raise JustAskError(f"SB3 {algo} ran {len(returns)} episodes, fewer than the {episodes} asked")
        curves[i] = returns / darkroom.optimal_return(goal)
    return curves
