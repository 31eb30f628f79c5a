"""Named populations of policies for ``justask collect``: who acts in the data."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from justask.errors import JustAskError
from justask.policies import Policy, RandomPolicy

POPULATIONS = ("demo", "expert", "explorer", "planner", "random")


def population(
    name: str, env_id: str, action_space: gym.Space, episodes: int, action_noise: float = 0.2, seed: int = 0
) -> tuple[list[tuple[Policy, int]], dict[str, Any]]:
    """``(population, env_kwargs)``: ``episodes`` per policy of the population ``name`` for ``env_id``.

    LunarLander: ``demo`` (seven suboptimal landers), ``expert``; the PointMaze envs: ``explorer``
    (random waypoints, to the time limit), ``planner`` (the env's goals); any env: ``random``."""
    from justask.suites import maze as mz
    from justask.suites.lunar_lander import LunarLanderExpert, demo_population

    if name == "random":
        return [(RandomPolicy(action_space), episodes)], {}
    if name in ("explorer", "planner"):
        maze = next((m for m in mz.MAZES if env_id == mz.env_id(m)), None)
        if maze is None:
            ids = ", ".join(mz.env_id(m) for m in mz.MAZES)
            raise JustAskError(f"population '{name}' is for the maze envs ({ids}), not {env_id}")
        if name == "explorer":
            return [(mz.WaypointExplorer(maze, action_noise, seed=seed), episodes)], {"task": "explore"}
        return [(mz.MazePlanner(maze, action_noise, seed=seed), episodes)], {}
    if name in ("demo", "expert"):
        if not env_id.startswith("LunarLander"):
            raise JustAskError(f"population '{name}' is for LunarLander, not {env_id}")
        continuous = env_id.startswith("LunarLanderContinuous")
        if name == "expert":
            return [(LunarLanderExpert(continuous=continuous), episodes)], {}
        if continuous:
            raise JustAskError("the demo population is for the discrete LunarLander-v3")
        return demo_population(episodes), {}
    raise JustAskError(f"unknown population '{name}' ({', '.join(POPULATIONS)})")
