"""In-context improvement: learning histories -> p(task | experience) -> an agent that gets better
on a new task with frozen weights.

A *learning history* is a run of episodes on one task, in order (``Episodes`` whose metadata say
``history``, ``task`` and ``position``). The training target is known only in hindsight — which
task the history was on — so every history, however clumsy, is correct data for "what task does
this experience point to?" (the DPT view: predict what is optimal once the task is known). The
agent then does posterior sampling: at the start of each episode, and whenever its current guess
is ruled out, it draws one task from the model's belief and acts for that task until the episode
ends. Committing to one guess per episode is what makes it explore far (a fresh guess every step
wanders near the start).

A task family says how a step turns into evidence (``InContextFamily``); the policy that acts for
a guessed task is given by the method (a goal-conditioned model for Dark Room; "pull that arm"
for a bandit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch

from justask.checkpoint import MODEL_FILE, load_state_checked, load_tensors, read_run_config
from justask.configs import TrainConfig
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.models.task_posterior import PosteriorConfig, TaskPosterior
from justask.suites.families import InContextFamily
from justask.training import fit

RUN_KIND = "task_posterior"


# ---- histories -----------------------------------------------------------------------------------
@dataclasses.dataclass
class HistoryTokens:
    """Every history's steps as (subject, outcome), flat, with each history's span and task."""

    subjects: np.ndarray  # (N,) int64
    outcomes: np.ndarray  # (N,) int64
    starts: np.ndarray  # (H,) first step of each history
    lengths: np.ndarray  # (H,) steps of each history
    labels: np.ndarray  # (H,) task index of each history

    @property
    def num_histories(self) -> int:
        return len(self.starts)


def history_spans(episodes: Episodes) -> list[np.ndarray]:
    """The episode indices of each history, in order; checks the metadata they need."""
    spans: list[list[int]] = []
    last: Any = object()
    seen: set[Any] = set()
    for i, meta in enumerate(episodes.metadata):
        for key in ("history", "task", "position"):
            if key not in meta:
                raise JustAskError(
                    f"episode {i} has no '{key}' in its metadata: learning histories need history, task and position"
                )
        if meta["history"] != last:
            if meta["history"] in seen:
                raise JustAskError(
                    f"history {meta['history']} is not contiguous (episode {i}): keep each history's episodes together"
                )
            seen.add(meta["history"])
            spans.append([])
            last = meta["history"]
        elif (
            meta["position"] <= episodes.metadata[i - 1]["position"] or meta["task"] != episodes.metadata[i - 1]["task"]
        ):
            raise JustAskError(f"episode {i} breaks its history's order or task (position {meta['position']})")
        spans[-1].append(i)
    return [np.asarray(s) for s in spans]


def next_observations(episodes: Episodes) -> np.ndarray:
    """The observation after each step, ``(N, ...)``."""
    return episodes.observations[np.arange(episodes.num_steps) + episodes.episode_of_step() + 1]


def history_tokens(episodes: Episodes, family: InContextFamily) -> HistoryTokens:
    """Learning histories -> the posterior's training data."""
    spans = history_spans(episodes)
    if not spans:
        raise JustAskError("no learning histories given")
    subjects, outcomes = family.step_tokens(episodes.actions, episodes.rewards, next_observations(episodes))
    episode_starts = episodes.episode_starts
    starts = np.array([episode_starts[s[0]] for s in spans], dtype=np.int64)
    lengths = np.array([episodes.lengths[s].sum() for s in spans], dtype=np.int64)
    labels = np.array([family.label(episodes.metadata[s[0]]) for s in spans], dtype=np.int64)
    if labels.min() < 0 or labels.max() >= family.n_tasks:
        raise JustAskError(f"task labels must lie in 0..{family.n_tasks - 1}")
    return HistoryTokens(
        subjects=np.asarray(subjects, dtype=np.int64),
        outcomes=np.asarray(outcomes, dtype=np.int64),
        starts=starts,
        lengths=lengths,
        labels=labels,
    )


class ContextSampler:
    """Batches of (a history's first ``cut`` steps as counts per (subject, outcome), its task),
    ``cut`` uniform in 0..length — one scatter per batch, no per-sample Python. Batches are cut at
    the longest history's width (fixed shapes: the CUDA graph can replay them)."""

    def __init__(self, tokens: HistoryTokens, n_tasks: int, n_outcomes: int, device: torch.device) -> None:
        if tokens.subjects.size and (tokens.subjects.max() >= n_tasks or tokens.outcomes.max() >= n_outcomes):
            raise JustAskError(
                f"history steps name a subject or outcome outside {n_tasks} tasks x {n_outcomes} outcomes"
            )
        self.device = device
        self.n_types = n_tasks * n_outcomes
        self.shape = (n_tasks, n_outcomes)
        self.types = torch.as_tensor(tokens.subjects * n_outcomes + tokens.outcomes, device=device)
        self.starts = torch.as_tensor(tokens.starts, device=device)
        self.lengths = torch.as_tensor(tokens.lengths, device=device)
        self.labels = torch.as_tensor(tokens.labels, device=device)
        self.offsets = torch.arange(max(1, int(tokens.lengths.max()) if len(tokens.lengths) else 1), device=device)

    def draw(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        h = torch.randint(len(self.starts), (batch_size,), generator=generator, device=self.device)
        return {"history": h, "u": torch.rand(batch_size, generator=generator, device=self.device)}

    def gather(self, draws: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        h = draws["history"]
        cut = torch.minimum((draws["u"] * (self.lengths[h] + 1)).long(), self.lengths[h])
        mask = self.offsets[None, :] < cut[:, None]
        index = torch.where(
            mask, self.starts[h][:, None] + self.offsets[None, :], torch.zeros_like(mask, dtype=torch.long)
        )
        index = index.clamp(max=len(self.types) - 1)
        counts = torch.zeros(len(h), self.n_types, device=self.device)
        counts.scatter_add_(1, self.types[index], mask.float())
        return {"counts": counts.view(len(h), *self.shape), "labels": self.labels[h]}

    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.gather(self.draw(batch_size, generator))


# ---- fitting -------------------------------------------------------------------------------------
@dataclasses.dataclass
class PosteriorLearner:
    """p(task | experience) fitted by cross-entropy to the histories' hindsight task labels."""

    tokens: HistoryTokens
    config: PosteriorConfig
    run_kind: str = RUN_KIND

    def describe(self) -> dict[str, Any]:
        return {"posterior": self.config.to_json(), "histories": self.tokens.num_histories}

    def build(self) -> TaskPosterior:
        return TaskPosterior(self.config)

    def sampler(self, placement: Any) -> ContextSampler:
        return ContextSampler(self.tokens, self.config.n_tasks, self.config.n_outcomes, placement.device)

    def weight(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.tensor(float(len(batch["labels"])), device=batch["labels"].device)


def fit_posterior(
    tokens: HistoryTokens,
    config: PosteriorConfig,
    train_cfg: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    stop_at: int | None = None,
) -> TaskPosterior:
    """Fit p(task | context) by cross-entropy through the one training loop (``training.fit``):
    config, weights, TensorBoard logs and a resumable train state in ``run_dir``."""
    return fit(PosteriorLearner(tokens, config), train_cfg, run_dir, resume=resume, stop_at=stop_at)


def load_posterior(run_dir: str | Path, device: str | torch.device = "cpu") -> TaskPosterior:
    """A fitted posterior from its run folder (JSON config + safetensors; nothing unpickled)."""
    run_dir = Path(run_dir)
    saved = read_run_config(run_dir, RUN_KIND, "a task posterior")
    try:
        config = PosteriorConfig(**saved["posterior"])
    except (KeyError, TypeError) as exc:
        raise JustAskError(f"run {run_dir}: config.json's posterior section is invalid ({exc})") from exc
    model = TaskPosterior(config)
    load_state_checked(model, load_tensors(run_dir / MODEL_FILE, f"run {run_dir}"), f"run {run_dir}")
    return model.to(device).eval()


# ---- acting across episodes ----------------------------------------------------------------------
class InContextActor(Protocol):
    """Acts on many tasks at once, one slot per task, keeping what it learns across episodes."""

    name: str

    def start_tasks(self, n: int) -> None: ...

    def reset(self, slots: np.ndarray) -> None: ...

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray: ...

    def observe(self, slots: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray) -> None: ...


class PosteriorSampling:
    """The in-context improvement operator: draw a task from p(task | this slot's experience) at
    each episode start and when the draw is ruled out; act for it with ``act_for``. Weights stay
    frozen; only the context grows."""

    def __init__(
        self,
        posterior: TaskPosterior,
        family: InContextFamily,
        act_for: Callable[[np.ndarray, np.ndarray], np.ndarray],
        *,
        rule: str = "sample",
        seed: int = 0,
        name: str = "posterior-sampling",
    ) -> None:
        if rule not in ("sample", "argmax"):
            raise JustAskError(f"unknown rule '{rule}' (sample or argmax)")
        self.posterior = posterior.eval()
        self.family = family
        self.act_for = act_for
        self.rule = rule
        self.name = name
        self.generator = torch.Generator().manual_seed(seed)
        self.device = next(posterior.parameters()).device

    def start_tasks(self, n: int) -> None:
        self.counts = np.zeros((n, self.family.n_tasks, self.family.n_outcomes), dtype=np.float32)
        self.guess = np.full(n, -1, dtype=np.int64)
        self.stale = np.ones(n, dtype=bool)
        self.draws = np.zeros(n, dtype=np.int64)

    def reset(self, slots: np.ndarray) -> None:
        self.stale[slots] = True

    def beliefs(self, slots: np.ndarray) -> np.ndarray:
        """p(task | experience) of ``slots``, ``(len(slots), n_tasks)``."""
        with torch.no_grad():
            logits = self.posterior(torch.as_tensor(self.counts[slots], device=self.device))
        return torch.softmax(logits.float(), -1).cpu().numpy()

    def draw(self, slots: np.ndarray) -> np.ndarray:
        """The current guesses of ``slots``, redrawn where stale."""
        slots = np.asarray(slots)
        redraw = slots[self.stale[slots]]
        if len(redraw):
            probs = torch.as_tensor(self.beliefs(redraw))
            if self.rule == "argmax":
                self.guess[redraw] = probs.argmax(-1).numpy()
            else:
                self.guess[redraw] = torch.multinomial(probs, 1, generator=self.generator).squeeze(-1).numpy()
            self.stale[redraw] = False
            self.draws[redraw] += 1
        return self.guess[slots]

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        return self.act_for(observations, self.draw(slots))

    def observe(self, slots: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray) -> None:
        subjects, outcomes = self.family.step_tokens(actions, rewards, next_obs)
        np.add.at(self.counts, (np.asarray(slots), np.asarray(subjects), np.asarray(outcomes)), 1.0)
        self.stale[slots] |= self.family.falsified(next_obs, rewards, self.guess[slots])


class JointSampling:
    """Posterior sampling for a task made of parts (a key cell and a door cell), one belief per
    part: each part's guess is drawn and ruled out on its own; ``act_for(obs, guesses (N, parts))``
    acts for them together."""

    def __init__(
        self,
        parts: Sequence[PosteriorSampling],
        act_for: Callable[[np.ndarray, np.ndarray], np.ndarray],
        name: str = "posterior-sampling",
    ) -> None:
        self.parts = list(parts)
        self.act_for = act_for
        self.name = name

    def start_tasks(self, n: int) -> None:
        for part in self.parts:
            part.start_tasks(n)

    def reset(self, slots: np.ndarray) -> None:
        for part in self.parts:
            part.reset(slots)

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        return self.act_for(observations, np.stack([part.draw(slots) for part in self.parts], axis=1))

    def observe(self, slots: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray) -> None:
        for part in self.parts:
            part.observe(slots, actions, rewards, next_obs)


class Episodic:
    """A memoryless policy (an ``Agent``, anything with reset/act/observe) as an in-context
    actor: every episode starts from nothing — the control that cannot improve."""

    def __init__(self, agent: Any, name: str | None = None) -> None:
        self.agent = agent
        self.name = name or getattr(agent, "name", "episodic")

    def start_tasks(self, n: int) -> None:
        pass

    def reset(self, slots: np.ndarray) -> None:
        self.agent.reset(slots, np.asarray(slots))

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        return self.agent.act(observations, slots)

    def observe(self, slots: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray) -> None:
        if hasattr(self.agent, "observe"):
            self.agent.observe(slots, rewards)


def run_in_context(
    family: InContextFamily,
    tasks: Sequence[Any],
    actor: InContextActor,
    episodes: int,
    *,
    seed: int = 0,
    progress: bool = False,
    normalise: bool = True,
) -> dict[str, Any]:
    """``actor`` meets each task fresh and plays ``episodes`` episodes on it in a row: returns
    ``(tasks, episodes)`` raw and (``normalise``) over each task's optimum, and each episode's
    actions."""
    from tqdm.auto import tqdm

    if normalise and family.optimal_return is None:
        raise JustAskError(
            f"task family '{family.name}' has no known optimum: normalised scores need one (normalise=False)"
        )
    if episodes < 1:
        raise JustAskError(f"need at least one episode per task, got {episodes}")
    n = len(tasks)
    envs = [gym.make(family.env_id, **family.env_kwargs) for _ in range(n)]
    returns = np.zeros((n, episodes))
    actions_log: list[list[list[Any]]] = [[[] for _ in range(episodes)] for _ in range(n)]
    actor.start_tasks(n)
    try:
        for e in tqdm(range(episodes), desc=f"in-context {actor.name}", disable=not progress):
            obs = np.stack(
                [
                    env.reset(seed=seed + 1000 * i + e, options=family.reset_options(task))[0]
                    for i, (env, task) in enumerate(zip(envs, tasks, strict=True))
                ]
            )
            actor.reset(np.arange(n))
            active = np.arange(n)
            while len(active):
                actions = np.asarray(actor.act(obs[active], active))
                next_obs, rewards, ended = [], np.zeros(len(active)), np.zeros(len(active), bool)
                for j, (slot, action) in enumerate(zip(active, actions, strict=True)):
                    o, r, term, trunc, _ = envs[slot].step(action)
                    next_obs.append(o)
                    rewards[j], ended[j] = r, term or trunc
                    actions_log[slot][e].append(action.item() if hasattr(action, "item") else action)
                next_obs = np.stack(next_obs)
                actor.observe(active, actions, rewards, next_obs)
                returns[active, e] += rewards
                obs[active] = next_obs
                active = active[~ended]
    finally:
        for env in envs:
            env.close()
    out = {"returns": returns, "actions": actions_log}
    if normalise:
        optimum = np.array([family.optimal_return(task) for task in tasks], dtype=np.float64)
        out["normalised"] = returns / optimum[:, None]
    return out


# ---- plain Algorithm Distillation: a sequence model over whole learning histories ---------------
def as_trials(episodes: Episodes) -> Episodes:
    """Each learning history as one long episode for a sequence model (plain AD): the
    observation gains the previous step's reward and a flag for an episode's first step, so the
    model can read its own across-episode experience; actions and rewards are unchanged."""
    import gymnasium as gym

    spans = history_spans(episodes)
    obs_dim = int(np.prod(episodes.observation_space.shape or (1,)))
    step_obs = episodes.step_observations().reshape(episodes.num_steps, obs_dim).astype(np.float32)
    final_obs = episodes.observations.reshape(len(episodes.observations), obs_dim)[
        episodes.observation_starts + episodes.lengths
    ]
    starts, lengths = episodes.episode_starts, episodes.lengths
    trials = []
    for span in spans:
        steps = np.concatenate([np.arange(starts[e], starts[e] + lengths[e]) for e in span])
        previous = np.concatenate([[0.0], episodes.rewards[steps[:-1]]]).astype(np.float32)
        first = np.zeros(len(steps), np.float32)
        first[np.cumsum([0, *lengths[span][:-1]])] = 1.0
        last = np.concatenate([final_obs[span[-1]], [episodes.rewards[steps[-1]], 0.0]]).astype(np.float32)
        trials.append(
            {
                "observations": np.vstack([np.column_stack([step_obs[steps], previous, first]), last]),
                "actions": episodes.actions[steps],
                "rewards": episodes.rewards[steps],
                "terminations": np.zeros(len(steps), bool),
                "truncations": np.arange(1, len(steps) + 1) == len(steps),
                "metadata": {
                    "history": episodes.metadata[span[0]]["history"],
                    "task": episodes.metadata[span[0]]["task"],
                },
            }
        )
    space = gym.spaces.Box(-np.inf, np.inf, shape=(obs_dim + 2,), dtype=np.float32)
    return Episodes.from_episode_list(trials, space, episodes.action_space, env_id=episodes.env_id)


class AcrossEpisodes:
    """A policy trained on ``as_trials`` data acting as an in-context actor: its context runs
    across episode boundaries (reset once per task), and each observation carries the previous
    reward and the episode-start flag, as in training."""

    def __init__(self, agent: Any, name: str = "plain AD") -> None:
        self.agent = agent
        self.name = name

    def start_tasks(self, n: int) -> None:
        slots = np.arange(n)
        self.agent.reset(slots, slots)
        self.previous = np.zeros(n, np.float32)
        self.first = np.zeros(n, np.float32)

    def reset(self, slots: np.ndarray) -> None:
        self.first[slots] = 1.0

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        obs = np.asarray(observations, np.float32).reshape(len(slots), -1)
        actions = self.agent.act(np.column_stack([obs, self.previous[slots], self.first[slots]]), slots)
        self.first[slots] = 0.0
        return actions

    def observe(self, slots: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray) -> None:
        self.previous[slots] = rewards
