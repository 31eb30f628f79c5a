"""The console's work: asks (a model asked something, rolled out for N episodes) and replays of a
dataset's episodes, run one at a time by one worker thread from a bounded queue.

A job streams events a page reads as they come (``Job.since``): the first episode's frames as it
is played, each finished episode's return (with the running mean and its 95% CI) and a closing
summary. Work per job is bounded (episodes, envs, seconds, frames kept) and so is the queue, so a
flood of asks is refused with a one-line message instead of exhausting the machine.
"""

from __future__ import annotations

import base64
import collections
import io
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from justask.errors import JustAskError
from justask.stats import bootstrap_ci, wilson_ci

MAX_EPISODES = 200  # per ask
MAX_SLOTS = 16  # envs stepped together per ask
MAX_SECONDS = 120.0  # per job; then it stops and says so
MAX_WAITING = 4  # asks queued behind the running one; more are refused
MAX_FRAMES = 400  # streamed frames per job
FRAME_WIDTH = 480  # pixels; frames are sent as JPEG
KEEP_JOBS = 16  # finished jobs kept for a page that reconnects; older ones are dropped
FRAME_INTERVAL_S = 1 / 30  # at most this often a frame is rendered and sent


class Job:
    """One unit of console work and the events it has produced so far."""

    _ids = itertools.count(1)

    def __init__(self, kind: str, title: str, work: Callable[[Job], None]) -> None:
        self.id = f"{kind}-{next(self._ids)}"
        self.kind, self.title, self.work = kind, title, work
        self.state = "queued"
        self.created = time.monotonic()
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.stop_requested = False
        self.ahead = 0

    def emit(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.append(event)

    def since(self, index: int) -> tuple[list[dict[str, Any]], bool]:
        """Events from ``index`` on, and whether the job has finished (no more will come)."""
        with self._lock:
            return self._events[index:], self.state in ("done", "failed")

    def drop_frames(self) -> None:
        """Forget the frames of a finished job (its episodes and summary stay)."""
        with self._lock:
            self._events = [e for e in self._events if e.get("type") != "frame"]


class Worker:
    """One thread running queued jobs in order (one at a time: the machine may have 2 cores)."""

    def __init__(self, max_waiting: int = MAX_WAITING) -> None:
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=max_waiting)
        self.jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.running = False
        self._thread = threading.Thread(target=self._loop, name="justask-console-worker", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> Job:
        """Queue ``job``; ``job.ahead`` says how many jobs run or wait before it."""
        job.ahead = self._queue.qsize() + int(self.running)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise JustAskError(
                f"the console is busy: {self._queue.maxsize} asks are already waiting; ask again when one finishes"
            ) from None
        with self._lock:
            self.jobs[job.id] = job
            while len(self.jobs) > KEEP_JOBS + self._queue.maxsize + 1:
                self.jobs.popitem(last=False)
            finished = [j for j in self.jobs.values() if j.state in ("done", "failed")]
            for old in finished[:-4]:  # frames are most of a job's memory
                old.drop_frames()
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise JustAskError(f"no job '{job_id}' (finished jobs are kept for a while, then forgotten)")
        return job

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            self.running = True
            job.state = "running"
            job.emit({"type": "running", "waited_s": round(time.monotonic() - job.created, 3)})
            try:
                job.work(job)
                job.state = "done"
            except JustAskError as exc:
                job.emit({"type": "error", "message": str(exc)})
                job.state = "failed"
            except Exception as exc:  # the server keeps serving; the page shows one line
                job.emit({"type": "error", "message": f"{type(exc).__name__}: {exc}"})
                job.state = "failed"
            finally:
                self.running = False


def frame_event(frame: np.ndarray, **fields: Any) -> dict[str, Any]:
    """An rgb_array frame as a JPEG data URL, at most ``FRAME_WIDTH`` wide."""
    from PIL import Image

    image = Image.fromarray(np.asarray(frame, dtype=np.uint8))
    if image.width > FRAME_WIDTH:
        image = image.resize((FRAME_WIDTH, max(1, round(image.height * FRAME_WIDTH / image.width))))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return {
        "type": "frame",
        "image": "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode(),
        **fields,
    }


def running_stats(returns: list[float], successes: list[bool] | None) -> dict[str, Any]:
    """Mean return with its bootstrap 95% CI (as the reports compute it) and, where the env
    judged the request, the success rate with its Wilson interval."""
    lo, hi = bootstrap_ci(np.asarray(returns), resamples=2000)
    out: dict[str, Any] = {"n": len(returns), "mean": float(np.mean(returns)), "ci95": [lo, hi]}
    if successes is not None:
        k = int(sum(successes))
        out["success"] = k / len(successes)
        out["success_ci95"] = list(wilson_ci(k, len(successes)))
    return out


def roll_out(
    job: Job,
    env_id: str,
    agent: Any,
    *,
    episodes: int,
    seed: int,
    options: Callable[[int], dict[str, Any] | None],
    judged: bool,
    max_seconds: float = MAX_SECONDS,
) -> dict[str, Any]:
    """Run ``agent`` for ``episodes`` episodes (seeds ``seed, seed+1, ...``) on up to
    ``MAX_SLOTS`` envs; the first episode is rendered and streamed. ``options(seed)``: the
    env's reset options (a request the env poses); ``judged``: the env rewards only the
    request's success, so success is reported. Returns the closing summary."""
    slots = min(episodes, MAX_SLOTS)
    envs = [gym.make(env_id, render_mode="rgb_array") if s == 0 else gym.make(env_id) for s in range(slots)]
    start = time.monotonic()
    returns: list[float] = []
    successes: list[bool] = []
    try:
        obs = [None] * slots
        episode_of = [-1] * slots
        totals = np.zeros(slots)
        steps = np.zeros(slots, dtype=np.int64)
        started = 0
        frames, last_frame = 0, 0.0

        def begin(s: int) -> None:
            nonlocal started
            episode_of[s] = started
            ep_seed = seed + started
            obs[s], _ = envs[s].reset(seed=ep_seed, options=options(ep_seed))
            agent.reset(np.array([s]), np.array([ep_seed]))
            totals[s], steps[s] = 0.0, 0
            started += 1

        def show(final: bool = False) -> None:
            nonlocal frames, last_frame
            now = time.monotonic()
            if frames >= MAX_FRAMES or (not final and now - last_frame < FRAME_INTERVAL_S):
                return
            job.emit(frame_event(envs[0].render(), episode=0, t=int(steps[0]), ret=round(float(totals[0]), 2)))
            frames, last_frame = frames + 1, now

        for s in range(slots):
            begin(s)
        show(final=True)
        stopped = None
        while True:
            active = [s for s in range(slots) if episode_of[s] >= 0]
            if not active:
                break
            if job.stop_requested:
                stopped = "stopped on request"
                break
            if time.monotonic() - start > max_seconds:
                stopped = f"stopped after {max_seconds:g} s (the console's limit per ask)"
                break
            batch = np.stack([np.asarray(obs[s]) for s in active])
            actions = np.asarray(agent.act(batch, np.array(active)))
            rewards = np.zeros(len(active))
            for row, s in enumerate(active):
                obs[s], reward, terminated, truncated, _ = envs[s].step(actions[row])
                rewards[row] = reward
                totals[s] += float(reward)
                steps[s] += 1
                if terminated or truncated:
                    if s == 0 and episode_of[s] == 0:
                        show(final=True)
                    returns.append(float(totals[s]))
                    successes.append(bool(totals[s] > 0))
                    job.emit(
                        {
                            "type": "episode",
                            "index": episode_of[s],
                            "return": round(float(totals[s]), 3),
                            "length": int(steps[s]),
                            "success": successes[-1] if judged else None,
                            "stats": running_stats(returns, successes if judged else None),
                        }
                    )
                    episode_of[s] = -1
            agent.observe(np.array(active), rewards)
            if episode_of[0] == 0:
                show()
            for s in active:
                if episode_of[s] < 0 and started < episodes:
                    begin(s)
    finally:
        for env in envs:
            env.close()
    summary: dict[str, Any] = {"type": "done", "seconds": round(time.monotonic() - start, 3), "stopped": stopped}
    if returns:
        summary.update(running_stats(returns, successes if judged else None))
    else:
        summary["n"] = 0
    job.emit(summary)
    return summary


def replay(job: Job, env_id: str, episode: dict[str, Any]) -> None:
    """Play a recorded episode back: reset with its seed, step its actions, stream the frames;
    say where the replay leaves the recording (an env that is not deterministic, or another
    version of it)."""
    seed = episode.get("seed")
    env = gym.make(env_id, render_mode="rgb_array")
    start = time.monotonic()
    try:
        obs, _ = env.reset(seed=None if seed is None else int(seed))
        recorded = episode["observations"]
        diverged = None if np.allclose(obs, recorded[0], atol=1e-4) else 0
        total, last = 0.0, 0.0
        job.emit(frame_event(env.render(), episode=episode["index"], t=0, ret=0.0))
        frames = 1
        actions = episode["actions"]
        for t, action in enumerate(actions, start=1):
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            if diverged is None and not np.allclose(obs, recorded[t], atol=1e-4):
                diverged = t
            now = time.monotonic()
            if frames < MAX_FRAMES and (now - last >= FRAME_INTERVAL_S or t == len(actions)):
                job.emit(frame_event(env.render(), episode=episode["index"], t=t, ret=round(total, 2)))
                frames, last = frames + 1, now
            if job.stop_requested or now - start > MAX_SECONDS or terminated or truncated:
                break
    finally:
        env.close()
    job.emit(
        {
            "type": "done",
            "n": 1,
            "mean": total,
            "recorded_return": episode["return"],
            "diverged_at": diverged,
            "seconds": round(time.monotonic() - start, 3),
            "stopped": None,
        }
    )
