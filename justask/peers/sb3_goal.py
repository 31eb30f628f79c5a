"""Stable-Baselines3 peers for goal-reaching from scratch on PointMaze: PPO with the goal in the
observation, and SAC with ``HerReplayBuffer`` (hindsight experience replay, the strongest
direct-optimization baseline for sparse goal rewards).

Both learn on the env's own goal distribution and sparse reward and are measured exactly as GCSL
is: the caller's ``evaluate_goals(policy)`` (the gcsl recipe's: ``justask/PointMazeGoal-*`` on its
evaluation seeds, deterministic actions, success = within 0.45 of the goal before the time
limit). ``train_goal_peer`` evaluates every ``eval_every`` env steps while it learns, so the curve
is success against env steps.

- PPO trains on ``justask/PointMazeGoal-*`` with the goal appended to the observation (reward 1
  and the episode ends on reaching it, so a faster path is a larger discounted return).
- SAC+HER trains on gymnasium-robotics' own ``PointMaze_*-v3`` (dict observations, its
  ``compute_reward``; ``continuing_task``: the episode runs on to the time limit with reward 1
  while at the goal, which keeps HER's relabeled transitions consistent — no episode ended at a
  goal that is not the relabeled one). Its goal and start distribution is the one the justask env
  draws from seeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from justask.errors import JustAskError
from justask.peers.sb3_peer import import_sb3
from justask.suites import maze as mz

PEER_NAMES = {"ppo": "PPO (goal in obs)", "sac_her": "SAC+HER"}

# PPO on an 8-env vector (no tuned Zoo entry exists for PointMaze): SB3's defaults except the
# rollout split over 8 envs and a larger minibatch.
PPO_MAZE = dict(n_steps=256, batch_size=256, n_epochs=10, gamma=0.99, gae_lambda=0.95, ent_coef=0.0, learning_rate=3e-4)
# SAC+HER after the RL Zoo's HER settings (future strategy, 4 sampled goals, lr 1e-3, tau 0.05),
# with a 256x256 network and batch 256 so a run fits the 2-core machine; gamma 0.99 as the
# mazes' paths are hundreds of steps long.
SAC_HER_MAZE = dict(
    learning_rate=1e-3,
    buffer_size=1_000_000,
    batch_size=256,
    gamma=0.99,
    tau=0.05,
    learning_starts=1_000,
    policy_kwargs={"net_arch": [256, 256]},
)
HER_KWARGS = dict(n_sampled_goal=4, goal_selection_strategy="future")


class GoalInObservation(gym.ObservationWrapper):
    """``justask/PointMazeGoal-*`` with the episode's goal appended: ``(x, y, vx, vy, gx, gy)``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        low = np.concatenate([env.observation_space.low, [-np.inf, -np.inf]])
        high = np.concatenate([env.observation_space.high, [np.inf, np.inf]])
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float64)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.concatenate([observation, self.env.unwrapped.goal])


def goal_in_observation_env(maze: str) -> gym.Env:
    return GoalInObservation(gym.make(mz.env_id(maze)))


def her_env(maze: str) -> gym.Env:
    """gymnasium-robotics' own PointMaze (dict observations, sparse reward, continuing task)."""
    mz.env_id(maze)
    mz._register_point_maze()
    return gym.make(f"PointMaze_{maze}-v3", continuing_task=True, reset_target=False)


class GoalPeerPolicy:
    """A goal-reaching SB3 model acting in ``justask/PointMazeGoal-*``: each episode's goal comes
    from its seed, as for every justask goal agent, and is shown to the model the way it trained
    (``layout="flat"``: appended to the observation; ``"dict"``: HER's dict observation)."""

    def __init__(self, model: Any, maze: str, layout: str, name: str, action_rule: str = "argmax") -> None:
        if layout not in ("flat", "dict"):
            raise JustAskError(f"goal layout must be 'flat' or 'dict', got '{layout}'")
        self.model, self.maze, self.layout, self.action_rule = model, maze, layout, action_rule
        self.name = f"{name}/{action_rule}"
        self.info = {"action_rule": action_rule, "condition": "goal"}
        self._goals: dict[int, np.ndarray] = {}

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        for slot, goal in zip(slots, mz.episode_goals(self.maze, seeds), strict=True):
            self._goals[int(slot)] = goal.astype(np.float64)

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        obs = np.asarray(observations, dtype=np.float64)
        goals = np.stack([self._goals[int(s)] for s in slots])
        if self.layout == "flat":
            shown: Any = np.concatenate([obs, goals], axis=1)
        else:
            shown = {"observation": obs, "achieved_goal": obs[:, :2].copy(), "desired_goal": goals}
        actions, _ = self.model.predict(shown, deterministic=self.action_rule == "argmax")
        return np.asarray(actions, dtype=np.float32)


def train_goal_peer(
    kind: str,
    maze: str,
    total_steps: int,
    *,
    evaluate_goals: Callable[[GoalPeerPolicy], dict[str, Any]],
    seed: int = 0,
    eval_every: int = 10_000,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
    tensorboard_log: str | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """Train ``kind`` (``ppo`` or ``sac_her``) for ``total_steps`` env steps, measuring it with
    ``evaluate_goals(policy) -> {"success": ..., ...}`` on the env's goals every ``eval_every``
    steps and at the end. Returns the model and the curve (``env_steps``, what ``evaluate_goals``
    returned, ``seconds`` per point)."""
    if kind not in PEER_NAMES:
        raise JustAskError(f"unknown maze peer '{kind}' (known: {', '.join(PEER_NAMES)})")
    mz.env_id(maze)
    if total_steps < 1 or eval_every < 1:
        raise JustAskError("a peer needs total_steps >= 1 and eval_every >= 1")
    sb3 = import_sb3("the maze peers")
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    if kind == "ppo":
        venv = make_vec_env(lambda: goal_in_observation_env(maze), n_envs=8, seed=seed)
        model = sb3.PPO("MlpPolicy", venv, seed=seed, device="cpu", tensorboard_log=tensorboard_log, **PPO_MAZE)
        layout = "flat"
    else:
        venv = make_vec_env(lambda: her_env(maze), n_envs=1, seed=seed)
        model = sb3.SAC(
            "MultiInputPolicy",
            venv,
            replay_buffer_class=sb3.HerReplayBuffer,
            replay_buffer_kwargs=HER_KWARGS,
            seed=seed,
            device="cpu",
            tensorboard_log=tensorboard_log,
            **SAC_HER_MAZE,
        )
        layout = "dict"
    curve: list[dict[str, Any]] = []
    start = time.time()

    def evaluate() -> None:
        policy = GoalPeerPolicy(model, maze, layout, PEER_NAMES[kind])
        point = {"env_steps": int(model.num_timesteps), **evaluate_goals(policy)}
        point["seconds"] = round(time.time() - start, 1)
        curve.append(point)
        if on_eval is not None:
            on_eval(point)

    class EvalEvery(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_eval = eval_every

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_eval:
                evaluate()
                self.next_eval += eval_every
            return True

    model.learn(total_timesteps=total_steps, callback=EvalEvery(), progress_bar=False)
    if not curve or curve[-1]["env_steps"] != model.num_timesteps:
        evaluate()
    venv.close()
    return model, curve
