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


class _Jobs:
    """The state of running jobs on env slots: which job each slot runs, its episode so far."""

    def __init__(
        self,
        envs: EnvSlots,
        policies: list[Policy],
        jobs: list[tuple[int, int]],
        job_seeds: np.ndarray,
        order: list[int],
    ) -> None:
        self.envs, self.policies, self.jobs, self.job_seeds = envs, policies, jobs, job_seeds
        n_envs = envs.num_envs
        self.queue = list(reversed(order))  # pop() from the end gives jobs in `order`
        self.slot_job = np.full(n_envs, -1, dtype=np.int64)  # -1: idle (no more jobs)
        self.slot_member = np.full(n_envs, -1, dtype=np.int64)
        self.buffers: list[dict[str, list]] = [_empty_buffer() for _ in range(n_envs)]
        self.obs = np.zeros((n_envs, *envs.observation_space.shape), dtype=envs.observation_space.dtype)
        self.finished: dict[int, dict[str, Any]] = {}

    def start_next(self, slots: np.ndarray) -> None:
        """Give each slot the next job (or leave it idle), reset it and tell its policy."""
        started = []
        for s in slots:
            if self.queue:
                k = self.queue.pop()
                self.slot_job[s], self.slot_member[s] = k, self.jobs[k][0]
                started.append(s)
            else:
                self.slot_job[s], self.slot_member[s] = -1, -1
        if not started:
            return
        started_arr = np.array(started)
        self.obs[started_arr] = self.envs.reset(started_arr, self.job_seeds[self.slot_job[started_arr]])
        for s in started_arr:
            self.buffers[s] = _empty_buffer()
            self.buffers[s]["observations"].append(self.obs[s].copy())
        for member in np.unique(self.slot_member[started_arr]):
            policy = self.policies[member]
            if hasattr(policy, "reset"):
                mine = started_arr[self.slot_member[started_arr] == member]
                policy.reset(mine, self.job_seeds[self.slot_job[mine]])

    def active(self, among: np.ndarray | None = None) -> np.ndarray:
        running = np.flatnonzero(self.slot_job >= 0)
        return running if among is None else running[np.isin(running, among)]

    def actions(self, active: np.ndarray) -> np.ndarray:
        return _batched_actions(
            self.envs.action_space, self.policies, self.slot_member[active], self.obs[active], active
        )

    def record(self, active: np.ndarray, actions: np.ndarray, result: tuple) -> int:
        """Take one step's results for ``active``: tell the policies, extend the episodes, close
        the finished ones and start the next jobs there. Returns how many episodes finished."""
        obs, rewards, terminations, truncations = result
        self.obs[active] = obs
        for member in np.unique(self.slot_member[active]):
            policy = self.policies[member]
            if hasattr(policy, "observe"):
                rows = self.slot_member[active] == member
                policy.observe(active[rows], rewards[rows])
        for row, s in enumerate(active):
            b = self.buffers[s]
            b["actions"].append(actions[row])
            b["rewards"].append(rewards[row])
            b["terminations"].append(terminations[row])
            b["truncations"].append(truncations[row])
            b["observations"].append(obs[row])
        done = active[terminations | truncations]
        for s in done:
            k = int(self.slot_job[s])
            self.finished[k] = _close_buffer(
                self.buffers[s], self.policies[self.jobs[k][0]], int(self.job_seeds[k]), self.envs.env_id
            )
        if len(done):
            self.start_next(done)
        return len(done)


def run_jobs(
    envs: EnvSlots,
    policies: list[Policy],
    jobs: list[tuple[int, int]],
    job_seeds: np.ndarray,
    order: list[int],
    progress: bool,
    description: str,
    overlap: bool = False,
) -> list[dict[str, Any]]:
    """Run ``jobs`` (member, index) on ``envs`` in ``order``; their episodes, in job order.

    ``overlap`` (envs made ``in_workers``, two or more chunks): while the workers step one
    chunk's envs, the policies compute the next chunk's actions, so acting and env stepping run at
    the same time. Each slot runs the same episodes either way; a sampling policy draws its random
    numbers in another order."""
    from tqdm.auto import tqdm

    state = _Jobs(envs, policies, jobs, job_seeds, order)
    state.start_next(np.arange(envs.num_envs))
    bar = tqdm(total=len(jobs), desc=description, unit="ep", disable=not progress, leave=False, mininterval=0.5)
    steps, clock = 0, time.perf_counter()
    chunks = envs.chunks() if overlap else [np.arange(envs.num_envs)]
    pending: list[Any] = [None] * len(chunks)  # per chunk: (active, actions, sent step) not yet received
    while True:
        for c, chunk in enumerate(chunks):
            if pending[c] is not None:  # the step sent a round ago: take it, then act again
                active, actions, sent = pending[c]
                pending[c] = None
                bar.update(state.record(active, actions, envs.step_receive(sent)))
            active = state.active(chunk if overlap else None)
            if len(active):
                actions = state.actions(active)
                pending[c] = (active, actions, envs.step_send(active, actions))
                steps += len(active)
        if all(p is None for p in pending):
            break
        if progress and steps:
            bar.set_postfix(steps_per_s=f"{steps / (time.perf_counter() - clock):.0f}", refresh=False)
    bar.close()
    return [state.finished[k] for k in range(len(jobs))]


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
