"""Environment families with their experts, captioners and verifiers — everything a recipe needs,
no downloads. Importing this package registers every justask env id with Gymnasium (the
``justask/`` namespace; entry points are justask's own classes), in one place."""

from __future__ import annotations

from typing import Any

from justask.suites import (  # noqa: F401  (each registers its envs)
    agents,
    babyai,
    bandits,
    cartpole_worlds,
    darkroom,
    keydoor,
    lunar_lander,
    lunar_lander_worlds,
    maze,
    ogbench,
)


def can_pose(env_id: str, keyword: str) -> bool:
    """Whether ``env_id`` can be told a request asked with ``keyword`` (a maze its goal, BabyAI a
    mission). Such an env rewards only the request's success."""
    return (env_id.startswith(("justask/PointMaze", "justask/OGBench-PointMaze")) and keyword == "goal") or (
        env_id.startswith("justask/BabyAI-") and keyword == "text"
    )


def reset_options_for(env_id: str, keyword: str, value: Any) -> dict[str, Any] | None:
    """Reset options that make ``env_id`` pose what a model is asked for, so the env's own check
    judges it: a maze's goal, a BabyAI mission in its grammar. None: the env cannot be told."""
    if (
        env_id.startswith(("justask/PointMaze", "justask/OGBench-PointMaze"))
        and keyword == "goal"
        and value is not None
    ):
        return {"goal": list(value)}
    if env_id.startswith("justask/BabyAI-") and keyword == "text" and isinstance(value, str):
        from justask.errors import JustAskError

        try:
            babyai.parse_instruction(value)
        except JustAskError:
            return None
        return {"instruction": value}
    return None


def env_requests(env_id: str, keyword: str) -> Any:
    """The env's own request of each episode, as a function of the episodes' seeds (a maze's
    goal), for a model asked what the env poses; None when the env does not say."""
    if env_id.startswith("justask/PointMaze") and keyword == "goal":
        name = next((m for m in maze.MAZES if maze.env_id(m) == env_id), None)
        if name is not None:
            return lambda seeds: maze.episode_goals(name, seeds)
    if env_id.startswith("justask/OGBench-PointMaze") and keyword == "goal":
        name = next((m for m in ogbench.MAZES if ogbench.env_id(m) == env_id), None)
        if name is not None:
            return ogbench.env_goals(name)
    return None
