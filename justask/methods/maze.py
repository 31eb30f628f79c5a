"""Hindsight goals on PointMaze, offline: explore → relabel with achieved goals → fit → ask.

Data: the planner sent through random waypoints (``WaypointExplorer``, never the evaluation
goals), episodes running to the time limit. Every step is relabeled with a goal its own
trajectory reached later (``hindsight_goals``), a goal-conditioned DT and an RvS-G MLP learn
p(action | history, goal), and each is asked for the env's own goals — the goal of every
evaluation episode comes from its seed, as the env draws it. Success: reaching the goal (within
0.45) before the time limit.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from justask.agent import Agent
from justask.collection import collect
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.models.policy import PolicyModel
from justask.relabel import GOAL, goal_mdp, hindsight_goals
from justask.stats import wilson_ci
from justask.suites import maze as mz
from justask.training import TrainConfig, model_config_for, train

EVAL_SEED = 2_000_000  # evaluation episodes' seeds start here (their goals follow from them)
GOAL_MODELS = ("dt", "mlp")
PEERS = ("iql", "cql")  # d3rlpy, goal in the observation, sparse reward recomputed per goal
MODEL_NAMES = {"dt": "goal-DT", "mlp": "RvS-G", "iql": "IQL (d3rlpy)", "cql": "CQL (d3rlpy)"}


@dataclasses.dataclass
class MazeConfig:
    """One offline goal-relabeling run on one maze."""

    maze: str = "Medium"
    episodes: int = 100  # explorer episodes (each runs to the time limit: 600 / 800 steps)
    action_noise: float = 0.2  # std of the explorer's Gaussian action noise
    strategy: str = "future"  # hindsight goal strategy (see justask.relabel.hindsight_goals)
    horizon: int = 200  # at most this many steps between a step and the goal it is asked for
    copies: int = 2  # relabeled copies of the data (different cuts, more goals per step)
    models: tuple[str, ...] = GOAL_MODELS  # "dt": goal DT; "mlp": RvS-G; peers "iql", "cql" (the MLP's steps, batch)
    context_len: int = 10
    dt_steps: int = 3000
    mlp_steps: int = 3000
    batch_size: int = 256  # the MLP's batch
    dt_batch_size: int = 64  # the DT's (a step costs ~context_len times more)
    eval_episodes: int = 500
    threads: int = 2
    device: str = "cpu"

    def __post_init__(self) -> None:
        mz.env_id(self.maze)
        unknown = set(self.models) - set(MODEL_NAMES)
        if unknown:
            raise JustAskError(f"unknown goal models {sorted(unknown)} (choose from {', '.join(MODEL_NAMES)})")


def maze_data(cfg: MazeConfig, seed: int, progress: bool = False) -> Episodes:
    """The explorer's episodes in ``cfg.maze`` (no goal termination: they run to the limit)."""
    explorer = mz.WaypointExplorer(cfg.maze, cfg.action_noise, seed=seed)
    return collect(
        mz.env_id(cfg.maze),
        [(explorer, cfg.episodes)],
        num_envs=min(50, cfg.episodes),
        seed=seed * 100_000,
        progress=progress,
        env_kwargs={"task": "explore"},
    )


def relabeled(data: Episodes, cfg: MazeConfig, seed: int) -> Episodes:
    """``cfg.copies`` copies of ``data``, each with its own hindsight goals."""
    copies = [hindsight_goals(data, cfg.strategy, horizon=cfg.horizon, seed=seed * 1000 + k) for k in range(cfg.copies)]
    return copies[0] if len(copies) == 1 else Episodes.concatenate(copies)


def train_goal_model(kind: str, data: Episodes, cfg: MazeConfig, run_dir: Path, seed: int) -> PolicyModel:
    arch: dict[str, Any] = (
        {"context_len": cfg.context_len, "d_model": 64, "n_layer": 2, "n_head": 1}
        if kind == "dt"
        else {"hidden_sizes": [256, 256]}
    )
    config = model_config_for(data, kind, GOAL, **arch)
    steps = cfg.dt_steps if kind == "dt" else cfg.mlp_steps
    train_cfg = TrainConfig.quiet(
        steps, cfg.dt_batch_size if kind == "dt" else cfg.batch_size, seed, cfg.threads, cfg.device
    )
    return train(data, config, train_cfg, run_dir)


def peer_policy(kind: str, data: Episodes, train_data: Episodes, cfg: MazeConfig, seed: int) -> Any:
    """d3rlpy IQL or CQL on the same data: the hindsight-relabeled copies plus one copy asking
    for random goals (negatives), as goal-conditioned MDPs with recomputed sparse rewards; the
    MLP's gradient steps and batch size."""
    from justask.peers.d3rlpy_peer import GoalActorPolicy, train_continuous

    negatives = hindsight_goals(data, "random", horizon=cfg.horizon, seed=seed * 1000 + 999)
    mdp = Episodes.concatenate([goal_mdp(train_data), goal_mdp(negatives)])
    learner = train_continuous(mdp, kind, cfg.mlp_steps, batch_size=cfg.batch_size, seed=seed, device=cfg.device)
    return GoalActorPolicy(learner, lambda seeds: mz.episode_goals(cfg.maze, seeds), MODEL_NAMES[kind])


def goal_agent(model: PolicyModel, maze: str, name: str | None = None) -> Agent:
    """``model`` asked, in every episode, for that episode's goal (recovered from its seed)."""
    return Agent(model, None, request_fn=lambda seeds: mz.episode_goals(maze, seeds), name=name)


def evaluate_goals(policy: Any, maze: str, episodes: int, seed: int = EVAL_SEED) -> dict[str, Any]:
    """Success rate (Wilson 95% CI) and steps to the goal of ``policy`` on the env's own goals."""
    result = collect(mz.env_id(maze), [(policy, episodes)], num_envs=min(100, episodes), seed=seed, progress=False)
    success = result.returns() >= 1.0
    wins = int(success.sum())
    return {
        "success": wins / len(success),
        "success_ci95": list(wilson_ci(wins, len(success))),
        "episodes": len(success),
        "steps_to_goal_median": float(np.median(result.lengths[success])) if wins else None,
    }


def run_maze(cfg: MazeConfig, out: Path, seeds: list[int], progress: bool = True) -> dict[str, Any]:
    """Every goal model on every seed, beside the planner (the privileged expert)."""
    from tqdm.auto import tqdm

    start = time.time()
    rows: list[dict[str, Any]] = []
    data_info = []
    for seed in tqdm(seeds, desc=f"maze {cfg.maze}", unit="seed", disable=not progress):
        data = maze_data(cfg, seed)
        data_info.append({"seed": seed, "episodes": data.num_episodes, "steps": data.num_steps})
        train_data = relabeled(data, cfg, seed)
        for kind in cfg.models:
            name = MODEL_NAMES[kind]
            if kind in PEERS:
                policy = peer_policy(kind, data, train_data, cfg, seed)
            else:
                model = train_goal_model(kind, train_data, cfg, out / f"seed{seed}" / kind, seed)
                policy = goal_agent(model, cfg.maze, name)
            rows.append({"model": name, "seed": seed, **evaluate_goals(policy, cfg.maze, cfg.eval_episodes)})
    rows.append(
        {
            "model": "planner (told the goal)",
            "seed": None,
            **evaluate_goals(mz.MazePlanner(cfg.maze), cfg.maze, cfg.eval_episodes),
        }
    )
    return {
        "config": dataclasses.asdict(cfg),
        "seeds": seeds,
        "data": data_info,
        "rows": rows,
        "seconds": round(time.time() - start, 1),
    }
