"""Hindsight relabelers: pure functions ``Episodes -> Episodes`` that add a condition column.

Each relabeler writes what actually happened as the request that the behaviour fulfils, so that
every episode, good or bad, becomes correct training data for *some* request.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from justask.behaviours import group_means, outcome_table
from justask.conditions import EXPECTED_RETURN as EXPECTED_RETURN_KIND
from justask.conditions import GOAL as GOAL_KIND
from justask.conditions import RETURN
from justask.episodes import Episodes
from justask.errors import JustAskError

RETURN_TO_GO = "return_to_go"
EXPECTED_RETURN = "expected_return"


def return_to_go_column(episodes: Episodes, rewards: np.ndarray | None = None) -> np.ndarray:
    """Undiscounted return-to-go of every step, ``(N,)`` float64: the sum of this and all later
    rewards of the same episode (``rewards``: per-step rewards to use instead of the recorded
    ones, e.g. a learned reward). Truncated episodes count only the rewards they saw."""
    rewards = (episodes.rewards if rewards is None else np.asarray(rewards)).astype(np.float64)
    if len(rewards) == 0:
        return rewards
    # Per episode: total - (rewards before t). A global cumsum does every episode at once.
    cumsum = np.cumsum(rewards)
    ends = episodes.episode_starts + episodes.lengths - 1
    episode_total_to_here = np.repeat(cumsum[ends], episodes.lengths)
    before = cumsum - rewards
    return episode_total_to_here - before


def return_to_go(
    episodes: Episodes,
    scale: float = 100.0,
    name: str = RETURN_TO_GO,
    rewards: np.ndarray | None = None,
    behaviours: np.ndarray | None = None,
    **info: object,
) -> Episodes:
    """Add the return-to-go column ``name`` (reward units, float64); the model reads it divided
    by ``scale`` (``ConditionSpec.to_model``). ``rewards`` replaces the recorded rewards (a
    learned reward); ``behaviours`` (``justask.behaviours.behaviour_groups``) adds what a model
    asked each return will achieve (``outcome_table``), so that asking can predict and warn;
    ``info`` adds to the column's description."""
    _check_scale(scale)
    column = return_to_go_column(episodes, rewards)
    if behaviours is not None:
        first = column[episodes.episode_starts]
        info = {**info, **_outcomes(first, episodes, behaviours, rewards)}
    return episodes.with_condition(name, column[:, None], **RETURN.describe(scale=float(scale), **info))


def expected_return(
    episodes: Episodes,
    behaviours: np.ndarray,
    scale: float = 100.0,
    name: str = EXPECTED_RETURN,
    **info: object,
) -> Episodes:
    """Add the luck-robust column ``name``: every step of an episode asks for the mean return of
    the behaviour that made it (``behaviours``: one group per episode), held for the whole
    episode. An outcome one behaviour got by luck then labels nothing higher than what that
    behaviour gets on average, so asking for more selects behaviour that gets more, not luck
    (Paster et al. 2022's remedy, with the behaviour known or clustered)."""
    _check_scale(scale)
    returns = episodes.returns().astype(np.float64)
    means = group_means(returns, behaviours)
    column = np.repeat(means, episodes.lengths)[:, None]
    described = {"behaviours": int(np.unique(behaviours).size), **info, **_outcomes(means, episodes, behaviours, None)}
    return episodes.with_condition(name, column, **EXPECTED_RETURN_KIND.describe(scale=float(scale), **described))


def _check_scale(scale: object) -> None:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not np.isfinite(scale) or scale <= 0:
        raise JustAskError(f"the return scale must be a positive number, got {scale!r}")


def _outcomes(
    labels: np.ndarray, episodes: Episodes, behaviours: np.ndarray, rewards: np.ndarray | None
) -> dict[str, object]:
    """The column description's prediction of what each request achieves (``outcome_table`` over
    the data's percentiles of its labels) and the number of episodes it was made from."""
    totals = return_to_go_column(episodes, rewards)[episodes.episode_starts]
    grid = np.unique(np.percentile(np.asarray(labels, dtype=np.float64), np.arange(101), method="nearest"))
    return {"outcomes": outcome_table(labels, totals, behaviours, grid), "episodes": int(episodes.num_episodes)}


GOAL = "goal"
GOAL_STRATEGIES = ("final", "future", "random")


def achieved_goals(episodes: Episodes, goal_dims: slice | Sequence[int] = slice(0, 2)) -> np.ndarray:
    """The goal each step achieved: ``goal_dims`` of the observation the step led to, ``(N, g)``."""
    next_obs = episodes.observations[np.arange(episodes.num_steps) + episodes.episode_of_step() + 1]
    return np.asarray(next_obs.reshape(len(next_obs), -1)[:, goal_dims], dtype=np.float64)


def hindsight_goals(
    episodes: Episodes,
    strategy: str = "future",
    *,
    goal_dims: slice | Sequence[int] = slice(0, 2),
    horizon: int | None = None,
    seed: int = 0,
    name: str = GOAL,
    **info: object,
) -> Episodes:
    """Add a goal column ``name``: for every step, a goal that the episode achieved after it
    (hindsight goal relabeling), read from the observations' ``goal_dims``.

    - ``final``: the goal achieved at the end of the episode;
    - ``future``: each episode is cut at random points at most ``horizon`` steps apart (``None``:
      no cuts, i.e. ``final``), and every step asks for the goal achieved at the next cut. The
      goal stays constant between cuts, as a request does while a model acts, and each step's
      goal is one its own trajectory reached within ``horizon`` steps;
    - ``random``: cut the same way, each piece asks for the goal achieved at a random step of a
      random episode — mostly not a goal this behaviour reaches: negatives for value-based
      learners (rewards by ``goal_rewards``), wrong labels for behaviour cloning.
    """
    if strategy not in GOAL_STRATEGIES:
        raise JustAskError(f"unknown goal strategy '{strategy}' (choose from {', '.join(GOAL_STRATEGIES)})")
    if horizon is not None and horizon < 1:
        raise JustAskError(f"goal horizon must be at least 1 step, got {horizon}")
    achieved = achieved_goals(episodes, goal_dims)
    rng = np.random.default_rng(seed)
    target = np.empty(episodes.num_steps, dtype=np.int64)  # which step's achieved goal
    for start, length in zip(episodes.episode_starts, episodes.lengths, strict=True):
        p = 0
        while p < length:
            gap = length - p if strategy == "final" or horizon is None else int(rng.integers(1, horizon + 1))
            end = min(p + gap, length)  # steps p .. end-1 ask for what step end-1 achieved
            target[start + p : start + end] = (
                start + end - 1 if strategy != "random" else rng.integers(episodes.num_steps)
            )
            p = end
    goals = achieved[target]
    return episodes.with_condition(
        name, goals.astype(np.float32), **GOAL_KIND.describe(strategy=strategy, horizon=horizon, **info)
    )


def hindsight_goal_copies(
    episodes: Episodes, strategy: str = "future", *, horizon: int | None = None, copies: int = 1, seed: int = 0
) -> Episodes:
    """``copies`` copies of ``episodes``, each relabeled by ``hindsight_goals`` with its own cuts
    (seed ``seed * 1000 + k``): more goals per step from the same experience."""
    if copies < 1:
        raise JustAskError(f"hindsight goal copies must be at least 1, got {copies}")
    relabeled = [hindsight_goals(episodes, strategy, horizon=horizon, seed=seed * 1000 + k) for k in range(copies)]
    return relabeled[0] if copies == 1 else Episodes.concatenate(relabeled)


def goal_rewards(
    episodes: Episodes, name: str = GOAL, radius: float = 0.45, goal_dims: slice | Sequence[int] = slice(0, 2)
) -> tuple[np.ndarray, np.ndarray]:
    """Sparse rewards for the goals in column ``name``, recomputed: ``(rewards, reached)``, both
    ``(N,)``; a step earns 1 when the observation it led to is within ``radius`` of its goal."""
    if name not in episodes.conditions:
        raise JustAskError(f"the episodes have no goal column '{name}' (relabel them with hindsight_goals first)")
    reached = np.linalg.norm(achieved_goals(episodes, goal_dims) - episodes.conditions[name], axis=-1) <= radius
    return reached.astype(np.float32), reached


def goal_mdp(
    episodes: Episodes, name: str = GOAL, radius: float = 0.45, goal_dims: slice | Sequence[int] = slice(0, 2)
) -> Episodes:
    """The goal-conditioned MDP that value-based learners (IQL, CQL) train on: every stretch of
    steps asking for one goal becomes an episode whose observations carry that goal
    (``[observation, goal]``), whose reward is 1 on reaching it, and which ends there, as the env
    does. Stretches that never reach their goal end truncated."""
    rewards, reached = goal_rewards(episodes, name, radius, goal_dims)
    goals = episodes.conditions[name].astype(np.float64)
    episode = episodes.episode_of_step()
    step_obs = episodes.step_observations().reshape(episodes.num_steps, -1)
    next_obs = episodes.observations[np.arange(episodes.num_steps) + episode + 1].reshape(episodes.num_steps, -1)
    new_run = np.ones(episodes.num_steps, dtype=bool)
    new_run[1:] = (episode[1:] != episode[:-1]) | (goals[1:] != goals[:-1]).any(axis=1) | reached[:-1]
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], episodes.num_steps)
    parts = []
    for s, e in zip(starts, ends, strict=True):
        g = np.broadcast_to(goals[s], (e - s + 1, goals.shape[1]))
        obs = np.concatenate([np.vstack([step_obs[s:e], next_obs[e - 1]]), g], axis=1)
        parts.append(
            {
                "observations": obs,
                "actions": episodes.actions[s:e],
                "rewards": rewards[s:e],
                "terminations": reached[s:e],
                "truncations": np.eye(1, e - s, e - s - 1, dtype=bool)[0] & ~reached[s:e],
            }
        )
    import gymnasium as gym

    width = step_obs.shape[1] + goals.shape[1]
    return Episodes.from_episode_list(
        parts,
        observation_space=gym.spaces.Box(-np.inf, np.inf, (width,), dtype=np.float64),
        action_space=episodes.action_space,
        env_id=episodes.env_id,
    )
