"""``EnvSlots``: a batch of Gymnasium envs where only the slots that are running get stepped.

Gymnasium's vector envs step every sub-env on every call. Collecting or evaluating a fixed
number of episodes (each slot takes the next episode when it is free) then keeps stepping idle
envs through the tail: measured on LunarLander, 200 expert episodes with 200 envs stepped 200k
env steps to record 50k. Here each slot is a ``gymnasium.make`` env (with its usual wrappers),
reset with its own seed, and stepped only while it has an episode to run.

With ``processes > 1`` the slots are split into contiguous chunks; the calling process steps
the first chunk while worker processes step the others at the same time (physics dominates the
cost of a LunarLander step, and it runs in Python, so one process uses one core).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from multiprocessing.connection import Connection
from typing import Any

import gymnasium as gym
import numpy as np

import justask.suites  # noqa: F401  (registers justask's envs)
from justask.errors import JustAskError

StepResult = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


_ALLOW_IMPORT = [False]


def allow_module_imports(allowed: bool) -> None:
    """Let env ids of the form ``module:Env-vN`` import their module (the CLI's --allow-import)."""
    _ALLOW_IMPORT[0] = bool(allowed)


def check_env_id(env_id: str) -> None:
    """Raise ``JustAskError`` for an env id Gymnasium does not know — or one of the form
    ``module:Env-vN``, which makes Gymnasium import ``module`` (code named by whoever wrote the
    id: a run folder or a dataset someone handed you), unless ``allow_module_imports`` was
    called (the user said so on the command line)."""
    if not isinstance(env_id, str) or not env_id:
        raise JustAskError(f"an env id must be a non-empty string, got {env_id!r}")
    if ":" in env_id and not _ALLOW_IMPORT[0]:
        raise JustAskError(
            f"env id '{env_id}' names a Python module to import; justask imports code only when you "
            "ask for it (--allow-import)"
        )
    try:
        gym.spec(env_id)
    except gym.error.Error as exc:
        raise JustAskError(f"unknown env id '{env_id}': {exc}") from exc


def env_spaces(env_id: str, **env_kwargs: Any) -> tuple[gym.Space, gym.Space]:
    """(observation space, action space) of one env."""
    check_env_id(env_id)
    env = gym.make(env_id, **env_kwargs)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


class _LocalEnvs:
    """Envs stepped in this process; ``slots`` index into its own list."""

    def __init__(self, env_id: str, count: int, env_kwargs: dict[str, Any]) -> None:
        self.envs = [gym.make(env_id, **env_kwargs) for _ in range(count)]

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        return np.stack([self.envs[s].reset(seed=int(seed))[0] for s, seed in zip(slots, seeds, strict=True)])

    def step(self, slots: np.ndarray, actions: np.ndarray) -> StepResult:
        results = [self.envs[s].step(a) for s, a in zip(slots, actions, strict=True)]
        return (
            np.stack([r[0] for r in results]),
            np.array([r[1] for r in results], dtype=np.float64),
            np.array([r[2] for r in results], dtype=bool),
            np.array([r[3] for r in results], dtype=bool),
        )

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _worker(conn: Connection, env_id: str, count: int, env_kwargs: dict[str, Any]) -> None:
    envs = _LocalEnvs(env_id, count, env_kwargs)
    try:
        while True:
            command, slots, payload = conn.recv()
            if command == "close":
                break
            conn.send(envs.reset(slots, payload) if command == "reset" else envs.step(slots, payload))
    finally:
        envs.close()
        conn.close()


class EnvSlots:
    def __init__(
        self, env_id: str, num_envs: int, processes: int = 1, in_workers: bool = False, **env_kwargs: Any
    ) -> None:
        """``in_workers``: every chunk of slots is stepped by a worker process and this one only
        sends and receives, so it can compute one chunk's actions while the workers step the
        others (``step_send``/``step_receive``; ``justask.rollout.run_jobs(overlap=True)``)."""
        check_env_id(env_id)
        self.env_id = env_id
        self.num_envs = num_envs
        processes = max(1, min(processes, num_envs))
        bounds = np.linspace(0, num_envs, processes + 1).round().astype(int)
        if in_workers:
            bounds = np.concatenate([[0], bounds])  # an empty chunk here; every slot in a worker
        self._starts = bounds[:-1]
        self._local = _LocalEnvs(env_id, int(bounds[1] - bounds[0]), env_kwargs)
        probe = self._local.envs[0] if self._local.envs else gym.make(env_id, **env_kwargs)
        self.observation_space = probe.observation_space
        self.action_space = probe.action_space
        if not self._local.envs:
            probe.close()
        self._workers: list[tuple[Any, Connection]] = []
        # fork, like Gymnasium's AsyncVectorEnv on Linux: spawn would re-import the user's main
        # script. Workers touch only Gymnasium, never torch.
        context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        for lo, hi in zip(bounds[1:-1], bounds[2:], strict=True):
            parent, child = context.Pipe()
            proc = context.Process(target=_worker, args=(child, env_id, int(hi - lo), env_kwargs), daemon=True)
            proc.start()
            child.close()
            self._workers.append((proc, parent))

    def _split(self, slots: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per chunk: (positions in ``slots``, chunk-local slot numbers)."""
        chunk = np.searchsorted(self._starts, slots, side="right") - 1
        parts = []
        for c in range(len(self._starts)):
            rows = np.flatnonzero(chunk == c)
            parts.append((rows, slots[rows] - self._starts[c]))
        return parts

    def chunks(self) -> list[np.ndarray]:
        """The slots of each chunk that has any (each chunk is stepped by one process)."""
        bounds = [*self._starts, self.num_envs]
        return [np.arange(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]

    def _send(self, command: str, slots: np.ndarray, payload: np.ndarray) -> Any:
        parts = self._split(np.asarray(slots))
        for (_proc, conn), (rows, local) in zip(self._workers, parts[1:], strict=True):
            if len(rows):
                conn.send((command, local, payload[rows]))
        return command, parts, payload

    def _receive(self, sent: Any) -> list[tuple[np.ndarray, Any]]:
        command, parts, payload = sent
        rows0, local0 = parts[0]
        results: list[tuple[np.ndarray, Any]] = []
        if len(rows0):
            results.append((rows0, getattr(self._local, command)(local0, payload[rows0])))
        for (_, conn), (rows, _) in zip(self._workers, parts[1:], strict=True):
            if len(rows):
                results.append((rows, conn.recv()))
        return results

    def _call(self, command: str, slots: np.ndarray, payload: np.ndarray) -> list[Any]:
        return self._receive(self._send(command, slots, payload))

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Start new episodes in ``slots`` with the given seeds; their first observations."""
        results = self._call("reset", np.asarray(slots), np.asarray(seeds))
        obs = np.empty((len(slots), *self.observation_space.shape), dtype=self.observation_space.dtype)
        for rows, part in results:
            obs[rows] = part
        return obs

    def step(self, slots: np.ndarray, actions: np.ndarray) -> StepResult:
        """Step ``slots`` with ``actions``: observations, rewards, terminations, truncations."""
        return self.step_receive(self.step_send(slots, actions))

    def step_send(self, slots: np.ndarray, actions: np.ndarray) -> Any:
        """Start stepping ``slots`` (workers step at once); ``step_receive`` collects the result.
        Calls for the slots of one worker are answered in the order they were sent."""
        slots = np.asarray(slots)
        return slots, self._send("step", slots, np.asarray(actions))

    def step_receive(self, pending: Any) -> StepResult:
        slots, sent = pending
        results = self._receive(sent)
        n = len(slots)
        obs = np.empty((n, *self.observation_space.shape), dtype=self.observation_space.dtype)
        rewards, terminations, truncations = np.empty(n), np.empty(n, dtype=bool), np.empty(n, dtype=bool)
        for rows, (o, r, te, tr) in results:
            obs[rows], rewards[rows], terminations[rows], truncations[rows] = o, r, te, tr
        return obs, rewards, terminations, truncations

    def close(self) -> None:
        self._local.close()
        for proc, conn in self._workers:
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send(("close", None, None))
            conn.close()
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        self._workers = []
