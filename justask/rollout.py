"""The rollout engine shared by local and Ray collection: run jobs (which policy, which seed) on a
batch of env slots and record each episode. Free slots take the next job, so long and short
episodes mix freely, and every job runs to its end."""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np

from justask.envs import EnvSlots
from justask.errors import JustAskError
from justask.policies import Policy, policy_info


def run_jobs(
    envs: EnvSlots,
    policies: list[Policy],
    jobs: list[tuple[int, int]],
    job_seeds: np.ndarray,
    order: list[int],
    progress: bool,
    description: str,
) -> list[dict[str, Any]]:
    """Run ``jobs`` (member, index) on ``envs`` in ``order``; their episodes, in job order."""
    from tqdm.auto import tqdm

    n_envs = envs.num_envs
    queue = list(reversed(order))  # pop() from the end gives jobs in `order`
    slot_job = np.full(n_envs, -1, dtype=np.int64)  # -1: idle (no more jobs)
    slot_member = np.full(n_envs, -1, dtype=np.int64)
    buffers: list[dict[str, list]] = [_empty_buffer() for _ in range(n_envs)]
    current_obs = np.zeros((n_envs, *envs.observation_space.shape), dtype=envs.observation_space.dtype)
    finished: dict[int, dict[str, Any]] = {}

    def start_next(slots: np.ndarray) -> None:
        """Give each slot the next job (or leave it idle), reset it and tell its policy."""
        started = []
        for s in slots:
            if queue:
                k = queue.pop()
                slot_job[s], slot_member[s] = k, jobs[k][0]
                started.append(s)
            else:
                slot_job[s], slot_member[s] = -1, -1
        if not started:
            return
        started_arr = np.array(started)
        current_obs[started_arr] = envs.reset(started_arr, job_seeds[slot_job[started_arr]])
        for s in started_arr:
            buffers[s] = _empty_buffer()
            buffers[s]["observations"].append(current_obs[s].copy())
        for member in np.unique(slot_member[started_arr]):
            policy = policies[member]
            if hasattr(policy, "reset"):
                mine = started_arr[slot_member[started_arr] == member]
                policy.reset(mine, job_seeds[slot_job[mine]])

    start_next(np.arange(n_envs))
    bar = tqdm(total=len(jobs), desc=description, unit="ep", disable=not progress, leave=False, mininterval=0.5)
    steps, clock = 0, time.perf_counter()
    while True:
        active = np.flatnonzero(slot_job >= 0)
        if len(active) == 0:
            break
        actions = _batched_actions(envs.action_space, policies, slot_member[active], current_obs[active], active)
        obs, rewards, terminations, truncations = envs.step(active, actions)
        current_obs[active] = obs
        steps += len(active)
        for member in np.unique(slot_member[active]):
            policy = policies[member]
            if hasattr(policy, "observe"):
                rows = slot_member[active] == member
                policy.observe(active[rows], rewards[rows])
        for row, s in enumerate(active):
            b = buffers[s]
            b["actions"].append(actions[row])
            b["rewards"].append(rewards[row])
            b["terminations"].append(terminations[row])
            b["truncations"].append(truncations[row])
            b["observations"].append(obs[row])
        done = active[terminations | truncations]
        if len(done):
            for s in done:
                k = int(slot_job[s])
                finished[k] = _close_buffer(buffers[s], policies[jobs[k][0]], int(job_seeds[k]), envs.env_id)
            bar.update(len(done))
            start_next(done)
        if progress and steps:
            bar.set_postfix(steps_per_s=f"{steps / (time.perf_counter() - clock):.0f}", refresh=False)
    bar.close()
    return [finished[k] for k in range(len(jobs))]


def _batched_actions(
    space: gym.Space, policies: list[Policy], members: np.ndarray, obs: np.ndarray, slots: np.ndarray
) -> np.ndarray:
    """Each policy acts once for all the slots it runs; returns actions in ``slots`` order."""
    if isinstance(space, gym.spaces.Discrete):
        actions = np.zeros(len(slots), dtype=np.int64)
    else:
        actions = np.zeros((len(slots), *space.shape), dtype=space.dtype)
    for member in np.unique(members):
        rows = members == member
        chosen = np.asarray(policies[member].act(obs[rows], slots[rows]))
        name = policies[member].name
        if len(chosen) != int(rows.sum()):
            raise JustAskError(f"policy {name} returned {len(chosen)} actions for {int(rows.sum())} envs")
        if isinstance(space, gym.spaces.Discrete):
            if not np.issubdtype(chosen.dtype, np.integer):  # 1.7 would be truncated to 1 without a word
                raise JustAskError(
                    f"policy {name} returned {chosen.dtype} actions; the Discrete action space takes integers"
                )
            outside = chosen[(chosen < space.start) | (chosen >= space.start + space.n)]
            if outside.size:
                raise JustAskError(f"policy {name} returned action {int(outside[0])}, outside the env's {space}")
        else:
            if chosen.size == int(rows.sum()) * int(np.prod(space.shape)):
                chosen = chosen.reshape((len(chosen), *space.shape))
            if chosen.shape[1:] != space.shape:
                raise JustAskError(
                    f"policy {name} returned actions of shape {chosen.shape[1:]}; the env takes {space.shape}"
                )
            if not np.isfinite(chosen).all():
                raise JustAskError(f"policy {name} returned actions that are not finite (NaN or inf)")
        actions[rows] = chosen
    return actions


def _empty_buffer() -> dict[str, list]:
    return {k: [] for k in ("observations", "actions", "rewards", "terminations", "truncations")}


def _close_buffer(buffer: dict[str, list], policy: Policy, seed: int, env_id: str) -> dict[str, Any]:
    return {
        "observations": np.stack(buffer["observations"]),
        "actions": np.stack(buffer["actions"]),
        "rewards": np.asarray(buffer["rewards"], dtype=np.float32),
        "terminations": np.asarray(buffer["terminations"], dtype=bool),
        "truncations": np.asarray(buffer["truncations"], dtype=bool),
        "metadata": {"policy": policy.name, "policy_params": policy_info(policy), "seed": seed, "env_id": env_id},
    }
