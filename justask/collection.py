"""Run policies on a batch of Gymnasium envs and record what happened as ``Episodes``.

Every episode is a *job*: (which policy, which seed). Free env slots take the next job, so long
and short episodes mix freely, and every job runs to its end — stopping once N episodes are done
would bias the data toward short episodes. Episodes come back in job order, so the same command
gives the same episodes whatever the number of envs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from justask.envs import EnvSlots
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.policies import Policy
from justask.rollout import run_jobs


def collect(
    env_id: str,
    population: Sequence[tuple[Policy, int]],
    *,
    num_envs: int = 64,
    seed: int = 0,
    progress: bool = True,
    env_kwargs: dict[str, Any] | None = None,
    description: str = "collect",
    processes: int = 1,
    overlap: bool = False,
    ray_workers: int | None = None,
    ray_address: str | None = None,
) -> Episodes:
    """Run each ``(policy, n_episodes)`` of ``population`` for its episodes; return them all.

    Episode ``j`` (counting over the population in order) is reset with seed ``seed + j`` and its
    policy is told that seed. ``processes > 1`` steps the envs in that many processes.
    ``overlap``: the envs are stepped in ``max(2, processes)`` worker processes while this one
    computes the actions of the envs that are not stepping (``run_jobs``). Metadata
    per episode: ``policy``, ``policy_params``, ``seed``, ``env_id``.

    On Ray (``ray_workers`` not None, or a ``ray_address``): that many Ray actors (0: one per CPU
    of the cluster), each with ``num_envs`` envs, run contiguous shares of the episodes; the
    episodes come back in the same order with the same seeds (``justask.ray_backend``).
    """
    jobs = [(member, j) for member, (_, n) in enumerate(population) for j in range(n)]
    if not jobs:
        raise JustAskError("nothing to collect: the population asks for 0 episodes")
    policies = [p for p, _ in population]
    job_seeds = np.array([seed + k for k in range(len(jobs))], dtype=np.int64)
    # Start jobs interleaved across members so slow and fast policies share the batch.
    order = sorted(range(len(jobs)), key=lambda k: (jobs[k][1], jobs[k][0]))
    num_envs = max(1, min(num_envs, len(jobs)))
    if ray_workers is not None or ray_address:
        from justask.envs import env_spaces
        from justask.ray_backend import run_jobs_on_ray

        observation_space, action_space = env_spaces(env_id, **(env_kwargs or {}))
        check_spaces_storable(env_id, observation_space, action_space)
        ordered = run_jobs_on_ray(
            env_id,
            policies,
            jobs,
            job_seeds,
            workers=ray_workers or 0,
            num_envs=num_envs,
            env_kwargs=env_kwargs or {},
            address=ray_address,
        )
        return Episodes.from_episode_list(ordered, observation_space, action_space, env_id=env_id)
    if overlap:
        envs = EnvSlots(env_id, num_envs, processes=max(2, processes), in_workers=True, **(env_kwargs or {}))
    else:
        envs = EnvSlots(env_id, num_envs, processes=processes, **(env_kwargs or {}))
    try:
        check_spaces_storable(env_id, envs.observation_space, envs.action_space)
        ordered = run_jobs(envs, policies, jobs, job_seeds, order, progress, description, overlap=overlap)
        return Episodes.from_episode_list(ordered, envs.observation_space, envs.action_space, env_id=envs.env_id)
    finally:
        envs.close()


def check_spaces_storable(env_id: str, observation_space: gym.Space, action_space: gym.Space) -> None:
    """Episodes hold arrays: observations and actions of a Box or Discrete space. Anything else
    (Tuple, Dict, Text, ...) is refused before an episode is played, with the wrapper to use."""
    for what, space in (("observation", observation_space), ("action", action_space)):
        if not isinstance(space, (gym.spaces.Box, gym.spaces.Discrete)):
            raise JustAskError(
                f"env {env_id}: its {what} space {space} is not supported (Box or Discrete; "
                "gymnasium.wrappers.FlattenObservation turns Tuple and Dict observations into a Box)"
            )
