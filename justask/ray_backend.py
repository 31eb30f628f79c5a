"""Collection and evaluation on Ray: each worker is a Ray actor with its own envs and its own copy
of the policies, running a contiguous share of the episode jobs with the same seeds the local
path would give them. Results come back in job order, so a command gives the same episode
seeds and metadata with or without Ray (and the same episodes wherever the policies' randomness
is seeded per episode, as justask's scripted and noisy policies are).

Ray is an optional extra: ``pip install 'justask[ray]'``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from justask.errors import JustAskError


def ray_module() -> Any:
    try:
        import ray
    except ImportError:
        raise JustAskError("Ray is not installed: pip install 'justask[ray]' (or pip install ray)") from None
    return ray


def connect(address: str | None) -> Any:
    """Ray, connected: to the cluster at ``address`` (``host:port`` or ``ray://host:port``), or a
    local instance when ``address`` is None or ``local``."""
    ray = ray_module()
    local = address in (None, "", "local")
    if not local and address != "auto":
        _check_reachable(address)
    if ray.is_initialized():  # the caller's own ray.init (a test, a notebook) is kept
        return ray
    try:
        if local:
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, TimeoutError ... by version
        where = "a local Ray instance" if local else f"the Ray cluster at {address}"
        raise JustAskError(f"could not start or reach {where}: {str(exc).splitlines()[0][:200]}") from None
    return ray


def _check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail fast with one line where ``ray.init`` would wait minutes for an unreachable head."""
    import socket

    host_port = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise JustAskError(f"Ray address '{address}' is not host:port or ray://host:port")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise JustAskError(f"could not reach the Ray cluster at {address}: {exc.strerror or exc}") from None


class _Worker:
    """Runs jobs on its own envs (the actor's body; wrapped by ``ray.remote`` in ``run_jobs``)."""

    def __init__(self, env_id: str, num_envs: int, env_kwargs: dict[str, Any], policies: list) -> None:
        import torch

        from justask.envs import EnvSlots

        torch.set_num_threads(1)
        self.envs = EnvSlots(env_id, num_envs, **env_kwargs)
        self.policies = policies

    def run(self, jobs: list[tuple[int, int]], job_seeds: np.ndarray, order: list[int]) -> list[dict[str, Any]]:
        from justask.rollout import run_jobs

        try:
            return run_jobs(self.envs, self.policies, jobs, job_seeds, order, progress=False, description="")
        finally:
            self.envs.close()


def run_jobs_on_ray(
    env_id: str,
    policies: list,
    jobs: list[tuple[int, int]],
    job_seeds: np.ndarray,
    *,
    workers: int,
    num_envs: int,
    env_kwargs: dict[str, Any],
    address: str | None,
) -> list[dict[str, Any]]:
    """The episodes of ``jobs`` (in job order), run by ``workers`` actors, each with
    ``num_envs`` envs and a contiguous share of the jobs."""
    ray = connect(address)
    if workers <= 0:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    shares = [share for share in np.array_split(np.arange(len(jobs)), min(workers, len(jobs))) if len(share)]
    actor = ray.remote(num_cpus=1)(_Worker)
    policies_ref = ray.put(policies)

    def start(share: np.ndarray) -> Any:
        worker = actor.remote(env_id, max(1, min(num_envs, len(share))), env_kwargs, policies_ref)
        share_jobs = [jobs[k] for k in share]
        order = sorted(range(len(share)), key=lambda i: (share_jobs[i][1], share_jobs[i][0]))
        return worker.run.remote(share_jobs, job_seeds[share], order)

    # A share whose actor dies (a killed process, a lost node) is run again on a fresh actor:
    # its jobs carry their seeds, so the episodes are the ones the lost actor would have given.
    lost = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError)
    running = {start(share): (i, 0) for i, share in enumerate(shares)}
    parts: dict[int, list[dict[str, Any]]] = {}
    while running:
        done, _ = ray.wait(list(running), num_returns=1)
        i, retries = running.pop(done[0])
        try:
            parts[i] = ray.get(done[0])
        except lost as exc:
            if retries >= MAX_RETRIES:
                first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
                raise JustAskError(
                    f"a Ray worker died on each of {retries + 1} attempts to run episodes "
                    f"{int(shares[i][0])}..{int(shares[i][-1])} ({first})"
                ) from None
            running[start(shares[i])] = (i, retries + 1)
    return [episode for i in range(len(shares)) for episode in parts[i]]


MAX_RETRIES = 2  # fresh actors for a share whose actor died, before giving up
