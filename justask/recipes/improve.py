"""Improve from experience without RL: learn p(task | experience) from learning histories, then
let it improve on held-out tasks with frozen weights (posterior sampling in context).

The recipe: (1) learning histories on training tasks — the privileged expert with noise annealed
from 1 to a floor (AD-ε) or the source RL algorithm itself; (2) hindsight labels — every prefix of
a history is labelled with the task it was on; (3) fit p(task | prefix) and, for the grid families
(Dark Room, Key-to-Door), a goal-conditioned policy (what to do once a task is guessed); (4) on
held-out tasks, draw a guess per episode (again when it is ruled out) and act for it. Compared on
the same tasks: the source algorithm from scratch (its own learning curve), SB3 DQN/PPO from
scratch (Dark Room, optional), plain AD (optional) and a memoryless return-conditioned DT trained
on the same episodes (it cannot improve: nothing carries over between episodes).

Steering: the goal policy is asked the operator's guesses, so the in-context curve is its control
(episode 1: uninformed guesses; later: the posterior's). The memoryless DT is asked a return: its
control is ``evaluation.steering`` (the best return vs returns drawn like the data's).

The defaults are the quick demo (Dark Room, one seed, about 4 minutes on 2 CPU cores); the
benchmarks are the presets (``benchmarks/run.py improve --preset darkroom``, ...).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from justask.asking import ask
from justask.configs import TrainConfig, seed_tuple, whole_numbers
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.evaluation import steering, steering_line
from justask.incontext import (
    AcrossEpisodes,
    Episodic,
    InContextActor,
    JointSampling,
    PosteriorSampling,
    as_trials,
    fit_posterior,
    history_tokens,
    run_in_context,
)
from justask.models.config import ModelConfig
from justask.models.policy import PolicyModel
from justask.models.task_posterior import PosteriorConfig, TaskPosterior
from justask.recipes import Recipe
from justask.report import write_report
from justask.stats import bootstrap_ci
from justask.suites import bandits, darkroom, keydoor
from justask.suites.families import InContextFamily

SOURCES = {
    "darkroom": ("annealed", "q_learning"),
    "keydoor": ("annealed",),
    "bandit": ("annealed", "thompson", "ucb", "random"),
}
GRIDS = ("darkroom", "keydoor")  # families whose tasks are cells of the 9x9 room
DEFAULTS = {  # source, histories, history_episodes, eval_episodes
    "darkroom": ("annealed", 244, 40, 40),
    "keydoor": ("annealed", 244, 30, 30),
    # Annealed histories leak the answer through the choices (late in a history the best arm is
    # the one pulled most), so a posterior trained on them trusts pull counts and under-explores
    # (regret 11.5 vs Thompson's 8.8 in a pilot); Thompson's own histories or random pulls do not.
    "bandit": ("thompson", 2000, 100, 100),
}
HORIZONS = {"darkroom": darkroom.HORIZON, "keydoor": keydoor.HORIZON, "bandit": 1}  # steps per episode
MARKS = (1, 10, 20, 40, 100, 300)  # in-context episodes the tables report
DISTANCE_GROUPS = {
    "darkroom": {"near (<= 2)": (0, 2), "mid (3-5)": (3, 5), "far (>= 6)": (6, 99)},
    "keydoor": {"near (<= 8)": (0, 8), "mid (9-13)": (9, 13), "far (>= 14)": (14, 99)},
}
EVAL_SEED = 7_000_000  # episode seeds of the in-context evaluation (seed + 1000 * task + episode)
PER_TASK_FILE = "per_task.npz"


def _quiet_fit(steps: int, batch_size: int, progress: bool = False) -> TrainConfig:
    """A fit inside the recipe: ten log points, one checkpoint at the end (its seed is each of --seeds)."""
    return dataclasses.replace(TrainConfig.quiet(steps, batch_size, 0, 2, "auto"), progress=progress)


@dataclasses.dataclass
class Config:
    """In-context improvement with frozen weights (Dark Room, Key-to-Door, bandits); the defaults
    are the quick demo on Dark Room (seed 0, about 4 minutes on 2 CPU cores)."""

    out: str = "runs/demo-improve"
    """Run folder: report.md/json, curves.png, rollout.gif, and per seed (seed<N>/) the fitted models and per_task.npz."""
    seeds: tuple[int, ...] = (0,)
    """Training seeds (histories, weights, batches, the learners' draws); the evaluation tasks do not depend on them."""
    family: str = "darkroom"
    """Task family: darkroom (9x9, hidden goal), keydoor (a hidden key, then a hidden door) or bandit (5 Bernoulli arms)."""
    source: str = ""
    """Learning histories ('': annealed for darkroom and keydoor, thompson for bandit): annealed (the expert, noise 1 -> floor: AD-ε), q_learning (darkroom), thompson, ucb or random (bandit)."""
    noise_floor: float = 0.0
    """Annealed sources: the least noise any training episode has (> 0: no near-optimal episode in training)."""
    histories: int = 0
    """Training histories (0: 244 for darkroom and keydoor, 4 per training goal; 2000 for bandit)."""
    history_episodes: int = 0
    """Episodes per history (0: 40 for darkroom, 30 for keydoor; 100 pulls for bandit)."""
    posterior_train: TrainConfig = dataclasses.field(default_factory=lambda: _quiet_fit(3000, 64, progress=True))
    """How p(task | experience) is fitted (batch: contexts per step)."""
    goal_policy: ModelConfig = dataclasses.field(
        default_factory=lambda: ModelConfig(kind="mlp", hidden_sizes=(128, 128))
    )
    """Darkroom, keydoor: the goal-conditioned policy that acts for a guessed goal."""
    goal_policy_train: TrainConfig = dataclasses.field(default_factory=lambda: _quiet_fit(1500, 256))
    """How the goal policy is fitted."""
    policy_labels: str = "expert"
    """What the goal policy learns: expert (the action optimal for the history's goal, DPT-style) or hindsight (the executed action, asked for a cell the episode reached later: no expert anywhere)."""
    memoryless_dt: bool = True
    """Train the memoryless return-conditioned DT (the control that cannot improve) and its steering control."""
    dt: ModelConfig = dataclasses.field(default_factory=lambda: ModelConfig(kind="dt", d_model=64, n_layer=2, n_head=1))
    """The memoryless DT; its context_len is set to one whole episode of the family (it sees its episode, never the last)."""
    dt_train: TrainConfig = dataclasses.field(default_factory=lambda: _quiet_fit(1500, 64))
    """How the memoryless DT is fitted."""
    plain_ad: bool = False
    """Train plain AD: a causal DT over whole learning histories predicting their next action."""
    ad: ModelConfig = dataclasses.field(
        default_factory=lambda: ModelConfig(kind="dt", context_len=60, d_model=64, n_layer=2, n_head=1)
    )
    """Plain AD's DT; context_len: the steps it sees across episode boundaries (darkroom: 3 episodes)."""
    ad_train: TrainConfig = dataclasses.field(default_factory=lambda: _quiet_fit(3000, 64))
    """How plain AD is fitted."""
    eval_episodes: int = 0
    """In-context episodes per evaluation task (0: 40 for darkroom, 30 for keydoor; 100 pulls for bandit)."""
    eval_tasks: int = 100
    """Evaluation task instances (darkroom: spread over the 20 held-out goals; keydoor: held-out pairs; bandit: per distribution)."""
    steering_episodes: int = 200
    """Episodes of the memoryless DT's steering control (asked the best return, and asked returns drawn like the data's)."""
    sb3_episodes: int = 0
    """Darkroom: episodes of SB3 DQN and PPO learning each task from scratch (0: skip; Q-learning then runs as long too)."""
    sb3_tasks: int = 20
    """Darkroom: held-out task instances the SB3 peers learn (one fresh learner each)."""
    sources_only: int = 0
    """> 0: run only the source algorithm (both Q-learning variants, no training) for this many episodes per held-out task, per seed."""
    threads: int = 2
    """CPU threads for torch while acting in context and for the SB3 peers (each fit has its own threads)."""
    gif: bool = True
    """Render the operator on a held-out task (darkroom, keydoor; the first seed)."""
    overwrite: bool = False
    """Replace an existing run folder."""

    def __post_init__(self) -> None:
        self.seeds = seed_tuple(self.seeds)
        if self.family not in SOURCES:
            raise JustAskError(f"unknown task family '{self.family}' (choose from {', '.join(SOURCES)})")
        if self.source and self.source not in SOURCES[self.family]:
            raise JustAskError(
                f"source '{self.source}' is not one of {self.family}'s: {', '.join(SOURCES[self.family])}"
            )
        if self.policy_labels not in ("expert", "hindsight"):
            raise JustAskError(f"policy_labels must be expert or hindsight, got '{self.policy_labels}'")
        if not 0.0 <= self.noise_floor < 1.0:
            raise JustAskError(f"noise_floor must lie in [0, 1), got {self.noise_floor}")
        whole_numbers(
            self, 0, "histories", "history_episodes", "eval_episodes", "sb3_episodes", "sources_only", "threads"
        )
        whole_numbers(self, 1, "eval_tasks", "steering_episodes", "sb3_tasks")
        if self.sources_only and self.family not in GRIDS:
            raise JustAskError(f"sources_only runs Q-learning: a grid family (darkroom, keydoor), not {self.family}")
        if self.plain_ad and self.ad.context_len <= HORIZONS[self.family]:
            raise JustAskError(
                f"ad.context_len {self.ad.context_len} is too short for one {self.family} episode "
                f"({HORIZONS[self.family]} steps) and the next: plain AD would never see across an episode boundary"
            )
        if self.dt.kind != "dt" or self.ad.kind != "dt":
            raise JustAskError("the memoryless DT and plain AD are DTs: --dt.kind and --ad.kind must be dt")


def resolved(cfg: Config) -> Config:
    """``cfg`` with the family's defaults filled in where it says 0 or ''."""
    source, histories, length, eval_episodes = DEFAULTS[cfg.family]
    return dataclasses.replace(
        cfg,
        source=cfg.source or source,
        histories=cfg.histories or histories,
        history_episodes=cfg.history_episodes or length,
        eval_episodes=cfg.eval_episodes or eval_episodes,
    )


def family_of(name: str) -> InContextFamily:
    """The family's in-context view (Key-to-Door: its key part; the door part shares the env)."""
    if name == "keydoor":
        return keydoor.families()[0]
    return darkroom.family() if name == "darkroom" else bandits.family()


def _log(message: str) -> None:
    print(message, flush=True)


# ---- data ----------------------------------------------------------------------------------------
def training_histories(cfg: Config, seed: int) -> Episodes:
    """``cfg.histories`` learning histories on training tasks (``cfg`` resolved), in order, one
    ``history`` id each. Dark Room: the training goals in turn (no held-out goal ever);
    Key-to-Door: training pairs drawn at random; bandit: fresh arm means from the training
    distribution."""
    import gymnasium as gym

    episodes: list[dict[str, Any]] = []
    rng = np.random.default_rng(seed)
    for h in range(cfg.histories):
        history_seed = seed * 1_000_003 + h
        if cfg.family == "darkroom":
            goal = darkroom.TRAIN_GOALS[h % len(darkroom.TRAIN_GOALS)]
            if cfg.source == "annealed":
                run = darkroom.annealed_history(goal, cfg.history_episodes, history_seed, floor=cfg.noise_floor)
            else:
                run = darkroom.q_learning_history(goal, cfg.history_episodes, history_seed)
        elif cfg.family == "keydoor":
            task = keydoor.TRAIN_PAIRS[int(rng.integers(len(keydoor.TRAIN_PAIRS)))]
            run = keydoor.annealed_history(task, cfg.history_episodes, history_seed, floor=cfg.noise_floor)
        else:
            means = bandits.sample_means("train", rng)
            run = bandits.history(means, cfg.history_episodes, history_seed, cfg.source, floor=cfg.noise_floor)
        for e in run:
            e["metadata"]["history"] = h
        episodes += run
    env_id = family_of(cfg.family).env_id
    env = gym.make(env_id)
    try:
        return Episodes.from_episode_list(episodes, env.observation_space, env.action_space, env_id=env_id)
    finally:
        env.close()


def evaluation_tasks(cfg: Config) -> dict[str, list[Any]]:
    """Held-out task instances, the same for every training seed. Dark Room: the 20 held-out
    goals in turn; Key-to-Door: held-out pairs drawn once; bandit: fresh means from the training
    and the shifted (narrow) distribution."""
    if cfg.family == "darkroom":
        goals = darkroom.HELD_OUT_GOALS
        return {"held-out goals": [goals[i % len(goals)] for i in range(cfg.eval_tasks)]}
    if cfg.family == "keydoor":
        rng = np.random.default_rng(10_000)
        picks = rng.choice(
            len(keydoor.HELD_OUT_PAIRS), size=cfg.eval_tasks, replace=cfg.eval_tasks > len(keydoor.HELD_OUT_PAIRS)
        )
        return {"held-out key-door pairs": [list(keydoor.HELD_OUT_PAIRS[i]) for i in picks]}
    out = {}
    for k, name in enumerate(bandits.DISTRIBUTIONS):
        rng = np.random.default_rng(10_000 + k)
        out[f"{name} means"] = [bandits.sample_means(name, rng).tolist() for _ in range(cfg.eval_tasks)]
    return out


def training_quality(data: Episodes, family: str) -> dict[str, float]:
    """Each training episode's return over its task's optimum: mean, best, and at the histories'
    last position."""
    key = "means" if family == "bandit" else "task"
    optimum = np.array([family_of(family).optimal_return(m[key]) for m in data.metadata])
    normalised = data.returns() / optimum
    positions = np.array([m["position"] for m in data.metadata])
    return {
        "best_episode_normalised": float(normalised.max()),
        "last_position_mean_normalised": float(normalised[positions == positions.max()].mean()),
        "mean_normalised": float(normalised.mean()),
    }


# ---- models --------------------------------------------------------------------------------------
def train_goal_policy(data: Episodes, cfg: Config, seed: int, run_dir: Path) -> PolicyModel:
    """Dark Room, Key-to-Door: p(action | position, goal cell (x, y)). ``expert`` labels: the
    expert's action toward each history's goal (Key-to-Door: the key, then the door; known once
    the history is over: DPT's targets); ``hindsight``: the executed action, asked for a cell the
    same episode reached within the next 10 steps (goal relabeling: no expert, no task label)."""
    from justask.conditions import GOAL, NOT_A_CONDITION
    from justask.relabel import hindsight_goals
    from justask.training import train

    if cfg.policy_labels == "expert":
        observations = data.step_observations()
        if cfg.family == "keydoor":  # the current target: the key, then the door
            tasks = np.repeat(np.array([m["task"] for m in data.metadata]), data.lengths, axis=0)
            goals = np.where(observations[:, 2] >= 1, tasks[:, 1], tasks[:, 0])
            expert = keydoor.expert_actions(observations, tasks)
        else:
            goals = np.repeat([m["task"] for m in data.metadata], data.lengths)
            expert = darkroom.expert_actions(observations, goals)
        labelled = data.with_condition("goal", darkroom.cell_xy(goals).astype(np.float32), **GOAL.describe())
        labelled = labelled.with_condition("expert_action", expert, kind=NOT_A_CONDITION)
        target = "expert_action"
    else:
        labelled, target = hindsight_goals(data, "future", horizon=10, seed=seed), None
    fitting = dataclasses.replace(cfg.goal_policy_train, seed=seed)
    return train(labelled, cfg.goal_policy, fitting, run_dir, condition="goal", target=target)


def goal_actor(model: PolicyModel, family: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``act_for(observations, guesses)``: the goal policy asked, per slot, for its current
    guess — a cell ``(N,)`` (Key-to-Door: a (key, door) pair ``(N, 2)``, the key's until it is
    picked up, then the door's).

    A guess can change within an episode (when it is ruled out), so the request is per slot and
    per step, not per episode: ``ask``'s per-episode request is keyed by the target cell, and
    every step starts each slot afresh with its target's request. The goal policy is an MLP that
    reads one step, so starting afresh loses nothing: this is the model called on (position,
    guessed cell) at every step, argmax, as before."""
    if model.config.window != 1:
        raise JustAskError(f"the goal policy must read one step (an mlp), got a window of {model.config.window} steps")
    agent = ask(model, goal=darkroom.cell_xy, name="goal policy")

    def act_for(observations: np.ndarray, guesses: np.ndarray) -> np.ndarray:
        guesses = np.asarray(guesses)
        if family == "keydoor":
            stage = np.asarray(observations).reshape(len(observations), -1)[:, 2]
            guesses = np.where(stage >= 1, guesses[:, 1], guesses[:, 0])
        slots = np.arange(len(observations))
        agent.reset(slots, guesses)
        return agent.act(observations, slots)

    return act_for


def pull_the_guess(observations: np.ndarray, guesses: np.ndarray) -> np.ndarray:
    """Bandit: act for a guessed best arm by pulling it."""
    return np.asarray(guesses)


def train_plain_ad(data: Episodes, cfg: Config, seed: int, run_dir: Path) -> InContextActor:
    """Plain AD: a causal DT over whole learning histories predicting the history's next action,
    its context ``cfg.ad.context_len`` steps across episode boundaries; asked (it is
    unconditioned) with sampled actions."""
    from justask.training import train

    model = train(as_trials(data), cfg.ad, dataclasses.replace(cfg.ad_train, seed=seed), run_dir)
    return AcrossEpisodes(ask(model, action_rule="sample", seed=seed, name="plain AD"), name="plain AD")


def train_memoryless_dt(data: Episodes, cfg: Config, seed: int, run_dir: Path) -> PolicyModel:
    """A return-conditioned DT on the same episodes, each on its own (its context: one whole
    episode): asked for a high return, it acts the same in every episode of a task."""
    from justask.relabel import return_to_go
    from justask.training import train

    scale = {"darkroom": float(darkroom.HORIZON), "keydoor": keydoor.OPTIMAL_RETURN}.get(cfg.family, 1.0)
    relabeled = return_to_go(data, scale=scale)
    model = dataclasses.replace(cfg.dt, context_len=int(data.lengths.max()))
    return train(relabeled, model, dataclasses.replace(cfg.dt_train, seed=seed), run_dir, condition="return_to_go")


def fit_posteriors(cfg: Config, data: Episodes, seed: int, folder: Path) -> list[tuple[TaskPosterior, InContextFamily]]:
    """p(task | experience) for each part of the task (Key-to-Door: the key and the door)."""
    families = list(keydoor.families()) if cfg.family == "keydoor" else [family_of(cfg.family)]
    fitting = dataclasses.replace(cfg.posterior_train, seed=seed)
    parts = []
    for k, part in enumerate(families):
        posterior_cfg = PosteriorConfig(n_tasks=part.n_tasks, n_outcomes=part.n_outcomes)
        run_dir = folder / ("posterior" if k == 0 else "posterior_door")
        parts.append((fit_posterior(history_tokens(data, part), posterior_cfg, fitting, run_dir), part))
    return parts


def improvement_operator(
    parts: list[tuple[TaskPosterior, InContextFamily]],
    act_for: Callable[[np.ndarray, np.ndarray], np.ndarray],
    seed: int,
) -> InContextActor:
    """Posterior sampling: one belief per part of the task (their draws seeded seed, seed + 1, ...)."""
    samplers = [PosteriorSampling(post, part, act_for, seed=seed + k) for k, (post, part) in enumerate(parts)]
    if len(samplers) == 1:
        return samplers[0]
    return JointSampling(samplers, act_for)


def source_learners(family: str, seed: int) -> list[InContextActor]:
    """The source algorithms learning each task from scratch (their own learning curves)."""
    if family in GRIDS:
        return [
            darkroom.QLearner(seed=seed),
            darkroom.QLearner(seed=seed, name="q-learning (ε-greedy)", **darkroom.QLEARNING_EPSILON_GREEDY),
        ]
    return [bandits.BanditLearner("thompson", seed=seed), bandits.BanditLearner("ucb", seed=seed)]


# ---- evaluation ----------------------------------------------------------------------------------
def curve_summary(values: np.ndarray) -> dict[str, Any]:
    """``(tasks, episodes)`` -> the mean per episode with bootstrap 95% CIs."""
    means = values.mean(axis=0)
    cis = [bootstrap_ci(values[:, e], resamples=2000, seed=e) for e in range(values.shape[1])]
    return {"mean": means.tolist(), "ci95": [list(c) for c in cis]}


def first_reaching(curve: list[float], level: float) -> int | None:
    """The first in-context episode (1-based) whose mean reaches ``level``; None if none does."""
    hits = np.flatnonzero(np.asarray(curve) >= level)
    return int(hits[0]) + 1 if len(hits) else None


def task_distance(family: str, tasks: list[Any]) -> np.ndarray:
    """Steps of the shortest solution of each task (Dark Room: to the goal; Key-to-Door: to the
    key, then the door)."""
    return keydoor.path_length(tasks) if family == "keydoor" else darkroom.goal_distance(tasks)


def grid_summary(norm: np.ndarray, tasks: list[Any], family: str) -> dict[str, Any]:
    """``(tasks, episodes)`` return / optimum -> the curve, the marked episodes, episodes to 0.8
    and 0.9, and the same by task distance."""
    curve = curve_summary(norm)
    episodes = norm.shape[1]
    marks = [e for e in MARKS if e <= episodes] + ([episodes] if episodes not in MARKS else [])
    distance = task_distance(family, tasks)
    by_distance = {}
    for label, (lo, hi) in DISTANCE_GROUPS[family].items():
        rows = (distance >= lo) & (distance <= hi)
        if rows.any():
            by_distance[label] = {
                "tasks": int(rows.sum()),
                "at": {str(e): float(norm[rows, e - 1].mean()) for e in marks},
                "solved_final": float((norm[rows, -1] >= 0.9).mean()),
            }
    return {
        "curve": curve,
        "at": {str(e): {"mean": curve["mean"][e - 1], "ci95": curve["ci95"][e - 1]} for e in marks},
        "episodes_to_0.9": first_reaching(curve["mean"], 0.9),
        "episodes_to_0.8": first_reaching(curve["mean"], 0.8),
        "final": {"mean": curve["mean"][-1], "ci95": curve["ci95"][-1]},
        "best_episode_mean": float(max(curve["mean"])),
        "by_distance": by_distance,
        "tasks": int(norm.shape[0]),
    }


def pulled_arms(result: dict[str, Any]) -> np.ndarray:
    """The arm of every pull of a bandit run, ``(tasks, pulls)``."""
    return np.array([[episode[0] for episode in row] for row in result["actions"]], dtype=np.int64)


def bandit_regret(result: dict[str, Any], tasks: list[list[float]]) -> np.ndarray:
    """Cumulative expected regret after each pull, ``(tasks, pulls)``."""
    return np.cumsum(bandits.regret(np.asarray(tasks), pulled_arms(result)), axis=1)


def best_arm_share(result: dict[str, Any], tasks: list[list[float]], last: int = 10) -> float:
    """How often the last ``last`` pulls took the best arm."""
    return float((pulled_arms(result)[:, -last:] == np.asarray(tasks).argmax(1)[:, None]).mean())


def bandit_summary(cumulative: np.ndarray, best_share: float) -> dict[str, Any]:
    """``(tasks, pulls)`` cumulative regret -> its final mean with a bootstrap 95% CI, the curve."""
    final = cumulative[:, -1]
    return {
        "cumulative_regret": {"mean": float(final.mean()), "ci95": list(bootstrap_ci(final, resamples=4000))},
        "regret_curve": cumulative.mean(axis=0).tolist(),
        "best_arm_share_last_10": best_share,
    }


def in_context(
    cfg: Config, seed: int, actors: list[InContextActor], timings: dict[str, float]
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, float]]]:
    """Every actor on every evaluation set (plus the SB3 peers on Dark Room): the per-task arrays
    (grids: return / optimum; bandit: cumulative regret), ``{set: {method: (tasks, episodes)}}``,
    and (bandit) each method's best-arm share in the last 10 pulls."""
    family = family_of(cfg.family)
    raw: dict[str, dict[str, np.ndarray]] = {}
    shares: dict[str, dict[str, float]] = {}
    for set_name, tasks in evaluation_tasks(cfg).items():
        raw[set_name], shares[set_name] = {}, {}
        for actor in actors:
            # the source algorithm learns as long as the SB3 peers do, to compare their curves
            source = actor.name.startswith("q-learning")
            episodes = max(cfg.eval_episodes, cfg.sb3_episodes) if source else cfg.eval_episodes
            result = run_in_context(family, tasks, actor, episodes, seed=EVAL_SEED, progress=True)
            if cfg.family in GRIDS:
                raw[set_name][actor.name] = result["normalised"]
            else:
                raw[set_name][actor.name] = bandit_regret(result, tasks)
                shares[set_name][actor.name] = best_arm_share(result, tasks)
        if cfg.family == "darkroom" and cfg.sb3_episodes > 0:
            from justask.peers.sb3_incontext import learning_curves

            peer_tasks = list(tasks[: cfg.sb3_tasks])
            for algo in ("dqn", "ppo"):
                t0 = time.time()
                curves = learning_curves(algo, peer_tasks, cfg.sb3_episodes, seed=seed, threads=cfg.threads)
                raw[set_name][f"SB3 {algo.upper()} (from scratch)"] = curves
                timings[f"sb3_{algo}_s"] = time.time() - t0
    return raw, shares


def run_seed(cfg: Config, seed: int, folder: Path, gif: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """One training seed (``cfg`` resolved): histories, the posterior(s), the goal policy, the
    controls, the in-context evaluation and the DT's steering control, into ``folder``. Returns
    (the seed's summary, its per-task arrays)."""
    folder.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = t0 = time.time()
    data = training_histories(cfg, seed)
    timings["histories_s"] = time.time() - t0
    _log(f"seed {seed}: {cfg.histories} {cfg.family} histories from {cfg.source}: {data.summary()}")

    t0 = time.time()
    parts = fit_posteriors(cfg, data, seed, folder)
    timings["posterior_s"] = time.time() - t0
    t0 = time.time()
    if cfg.family in GRIDS:
        act_for = goal_actor(train_goal_policy(data, cfg, seed, folder / "goal_policy"), cfg.family)
    else:
        act_for = pull_the_guess
    timings["goal_policy_s"] = time.time() - t0

    actors = [improvement_operator(parts, act_for, seed), *source_learners(cfg.family, seed)]
    if cfg.plain_ad:
        t0 = time.time()
        actors.append(train_plain_ad(data, cfg, seed, folder / "plain_ad"))
        timings["plain_ad_s"] = time.time() - t0
    dt_model = None
    if cfg.memoryless_dt:
        t0 = time.time()
        dt_model = train_memoryless_dt(data, cfg, seed, folder / "memoryless_dt")
        actors.append(Episodic(ask(dt_model, name="memoryless DT"), name="memoryless DT"))
        timings["memoryless_dt_s"] = time.time() - t0

    if cfg.threads > 0:  # each fit set its own thread count
        torch.set_num_threads(cfg.threads)
    t0 = time.time()
    raw, shares = in_context(cfg, seed, actors, timings)
    timings["evaluation_s"] = time.time() - t0
    np.savez(folder / PER_TASK_FILE, **{f"{s}|{m}": v for s, methods in raw.items() for m, v in methods.items()})

    control: dict[str, Any] = {}
    if dt_model is not None:
        t0 = time.time()
        family = family_of(cfg.family)
        control["memoryless DT"] = steering(
            family.env_id, dt_model, None, episodes=cfg.steering_episodes, env_kwargs=family.env_kwargs or None
        )
        timings["steering_s"] = time.time() - t0
        _log(steering_line(f"seed {seed}, memoryless DT", control["memoryless DT"]))

    gif_info = None
    if gif is not None and cfg.family in GRIDS:
        # a held-out task far enough that solving it takes a few episodes
        tasks = next(iter(evaluation_tasks(cfg).values()))
        task = next(t for t in tasks if int(task_distance(cfg.family, [t])[0]) >= 6)
        gif_info = room_gif(gif, improvement_operator(parts, act_for, 1), cfg.family, task)
    summary = {
        "seed": seed,
        "training_data": {
            "histories": cfg.histories,
            "episodes": data.num_episodes,
            "steps": data.num_steps,
            **training_quality(data, cfg.family),
        },
        "tasks": evaluation_tasks(cfg),
        "best_arm_share": shares if cfg.family == "bandit" else None,
        "steering": control,
        "gif": gif_info,
        "per_task": str((folder / PER_TASK_FILE).resolve()),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "seconds": round(time.time() - started, 1),
    }
    return summary, raw


# ---- pooling seeds -------------------------------------------------------------------------------
def pooled_results(family: str, per_seed: list[dict[str, Any]], raws: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary per set and method over every task instance of every seed (per-task arrays
    stacked), with each seed's own final score beside it."""
    results: dict[str, dict[str, Any]] = {}
    for set_name, methods in raws[0].items():
        results[set_name] = {}
        for method in methods:
            arrays = [raw[set_name][method] for raw in raws]
            stacked = np.concatenate(arrays)
            if family in GRIDS:
                tasks = [t for s, a in zip(per_seed, arrays, strict=True) for t in s["tasks"][set_name][: len(a)]]
                summary = grid_summary(stacked, tasks, family)
                summary["per_seed_final"] = [round(float(a[:, -1].mean()), 3) for a in arrays]
            else:
                share = float(np.mean([s["best_arm_share"][set_name][method] for s in per_seed]))
                summary = bandit_summary(stacked, share)
                summary["per_seed_regret"] = [round(float(a[:, -1].mean()), 2) for a in arrays]
            results[set_name][method] = summary
    return results


def pooled_report(
    settings: dict[str, Any], per_seed: list[dict[str, Any]], raws: list[dict[str, Any]]
) -> dict[str, Any]:
    """The report over the seeds: pooled results, mean training-data quality and timings, the
    steering controls, findings."""
    family = settings["family"]
    training = dict(per_seed[0]["training_data"])
    for key in ("best_episode_normalised", "last_position_mean_normalised", "mean_normalised"):
        training[key] = float(np.mean([s["training_data"][key] for s in per_seed]))
    timings = {
        k: round(float(np.mean([s["timings_s"].get(k, 0.0) for s in per_seed])), 1) for k in per_seed[0]["timings_s"]
    }
    results = pooled_results(family, per_seed, raws)
    report = {
        "recipe": "improve",
        "settings": settings,
        "seeds": [s["seed"] for s in per_seed],
        "training_data": training,
        "results": results,
        "steering": {str(s["seed"]): s["steering"] for s in per_seed},
        "gif": next((s["gif"] for s in per_seed if s.get("gif")), None),
        "timings_s": timings,
        "seconds_per_seed": max(s["seconds"] for s in per_seed),
        "per_seed": {str(s["seed"]): s for s in per_seed},
    }
    report["findings"] = findings(report)
    return report


def load_per_task(path: str) -> dict[str, dict[str, np.ndarray]]:
    """A seed's ``per_task.npz`` as ``{set: {method: (tasks, episodes)}}``."""
    if not Path(path).is_file():
        raise JustAskError(f"per-task results {path} not found (merging needs the seeds' run folders)")
    raw: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path) as arrays:
        for key in arrays.files:
            set_name, method = key.split("|", 1)
            raw.setdefault(set_name, {})[method] = arrays[key]
    return raw


# ---- the recipe ----------------------------------------------------------------------------------
def run(cfg: Config, out: Path) -> dict[str, Any]:
    """Every seed into ``out/seed<N>``; one report pooled over the seeds."""
    started = time.time()
    if cfg.sources_only:
        return run_sources(cfg, out, started)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    full = resolved(cfg)
    per_seed, raws = [], []
    for k, seed in enumerate(cfg.seeds):
        gif = out / "rollout.gif" if cfg.gif and k == 0 else None
        summary, raw = run_seed(full, seed, out / f"seed{seed}", gif)
        per_seed.append(summary)
        raws.append(raw)
    report = pooled_report(settings_of(full), per_seed, raws)
    report["seconds"] = round(time.time() - started, 1)
    report = write_report(out, report, markdown(report), config=cfg, seeds=cfg.seeds)
    plot_curves(out / "curves.png", report, raws)
    return report


def settings_of(cfg: Config) -> dict[str, Any]:
    """What the report's words need of a resolved config."""
    return {
        "family": cfg.family,
        "source": cfg.source,
        "noise_floor": cfg.noise_floor,
        "histories": cfg.histories,
        "history_episodes": cfg.history_episodes,
        "posterior_steps": cfg.posterior_train.steps,
        "policy_labels": cfg.policy_labels,
        "eval_episodes": cfg.eval_episodes,
        "eval_tasks": cfg.eval_tasks,
        "sb3_episodes": cfg.sb3_episodes,
    }


def merge(reports: list[dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    """One report from runs over other seeds of the same settings: their per-task arrays (read
    from each seed's ``per_task.npz``) pooled, as if one run had trained every seed."""
    import shutil

    from justask.report import command_line

    if not reports:
        raise JustAskError("nothing to merge: no reports given")
    if any(r.get("recipe") != "improve" or "per_seed" not in r for r in reports):
        raise JustAskError("merge takes improve reports of whole runs (not sources_only runs)")
    settings = reports[0]["settings"]
    for r in reports[1:]:
        if r["settings"] != settings:
            raise JustAskError(f"cannot merge runs of different settings: {r['settings']} vs {settings}")
    per_seed = [s for r in reports for s in r["per_seed"].values()]
    seeds = [s["seed"] for s in per_seed]
    if len(set(seeds)) != len(seeds):
        raise JustAskError(f"the runs share seeds: {seeds}")
    raws = [load_per_task(s["per_task"]) for s in per_seed]
    report = pooled_report(settings, per_seed, raws)
    report["seconds"] = round(sum(r.get("seconds", 0.0) for r in reports), 1)
    ran = [r.get("provenance", {}).get("command", "") for r in reports]
    command = " ; ".join([c for c in dict.fromkeys(ran) if c] + [command_line()])
    config = reports[0].get("provenance", {}).get("config")
    out_dir = Path(out_dir)
    if report["gif"] and Path(report["gif"].get("file", "")).is_file():
        shutil.copyfile(report["gif"]["file"], out_dir / "rollout.gif")
    report = write_report(out_dir, report, markdown(report), config=config, seeds=seeds, command=command)
    plot_curves(out_dir / "curves.png", report, raws)
    return report


def run_sources(cfg: Config, out: Path, started: float) -> dict[str, Any]:
    """The source algorithm alone (both Q-learning variants; no training) on the held-out tasks,
    per seed: its learning curve over ``cfg.sources_only`` episodes."""
    family = family_of(cfg.family)
    rows = {}
    for set_name, tasks in evaluation_tasks(resolved(cfg)).items():
        for label, settings in (("q-learning", {}), ("q-learning (ε-greedy)", darkroom.QLEARNING_EPSILON_GREEDY)):
            curves = [
                run_in_context(family, tasks, darkroom.QLearner(seed=s, **settings), cfg.sources_only)
                for s in cfg.seeds
            ]
            stacked = np.concatenate([c["normalised"] for c in curves])
            summary = grid_summary(stacked, tasks * len(cfg.seeds), cfg.family)
            summary["per_seed_episodes_to_0.9"] = [
                grid_summary(c["normalised"], tasks, cfg.family)["episodes_to_0.9"] for c in curves
            ]
            summary.pop("curve")
            rows[f"{set_name} | {label}"] = summary
    report = {
        "recipe": "improve",
        "mode": "sources_only",
        "family": cfg.family,
        "seeds": list(cfg.seeds),
        "episodes": cfg.sources_only,
        "results": rows,
        "findings": [
            f"{key}: episodes to 0.9 {s['episodes_to_0.9'] or 'not reached'} pooled "
            f"(per seed {s['per_seed_episodes_to_0.9']}); final {s['final']['mean']:.3f}"
            for key, s in rows.items()
        ],
        "seconds": round(time.time() - started, 1),
    }
    return write_report(out, report, sources_markdown(report), config=cfg, seeds=cfg.seeds)


# ---- words ---------------------------------------------------------------------------------------
def findings(report: dict[str, Any]) -> list[str]:
    """Statements read off the pooled numbers."""
    settings = report["settings"]
    out = []
    for set_name, methods in report["results"].items():
        for name, s in methods.items():
            if settings["family"] in GRIDS:
                first, last = s["curve"]["mean"][0], s["final"]
                episodes = len(s["curve"]["mean"])
                out.append(
                    f"{set_name}, {name}: return / optimum {first:.3f} at episode 1 -> {last['mean']:.3f} "
                    f"[{last['ci95'][0]:.3f}, {last['ci95'][1]:.3f}] at episode {episodes} ({s['tasks']} tasks); "
                    f"0.9 reached at episode {s['episodes_to_0.9'] or 'never'}"
                )
            else:
                r = s["cumulative_regret"]
                out.append(
                    f"{set_name}, {name}: cumulative regret {r['mean']:.2f} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] "
                    f"after {len(s['regret_curve'])} pulls; best arm in the last 10 pulls {s['best_arm_share_last_10']:.2f}"
                )
    out.append(operator_steering(report))
    for seed, controls in report["steering"].items():
        for name, result in controls.items():
            out.append(
                steering_line(
                    f"steering {name}, seed {seed} (asked the best return vs returns drawn like the data's, "
                    "on the env's own random tasks)",
                    result,
                )
            )
    return out


def operator_steering(report: dict[str, Any]) -> str:
    """The goal policy's steering control is the in-context operator itself: it is asked the
    operator's guesses, uninformed in the first episode, the posterior's afterwards."""
    set_name, methods = next(iter(report["results"].items()))
    s = methods["posterior-sampling"]
    asked = "the goal policy" if report["settings"]["family"] in GRIDS else "the pulled arm"
    if report["settings"]["family"] in GRIDS:
        first, last, n = s["curve"]["mean"][0], s["final"]["mean"], len(s["curve"]["mean"])
        return (
            f"steering of {asked}: the in-context operator is its control — asked the posterior's guesses "
            f"({set_name}), it scores {first:.3f} at episode 1 (no evidence yet: guesses uniform over the "
            f"candidates) and {last:.3f} at episode {n}, with the same weights"
        )
    per_pull = np.diff(s["regret_curve"], prepend=0.0)
    return (
        f"steering of {asked}: the in-context operator is its control — expected regret {per_pull[0]:.3f} at the "
        f"first pull (no evidence yet) and {per_pull[-1]:.3f} at pull {len(per_pull)} ({set_name})"
    )


def markdown(report: dict[str, Any]) -> str:
    cfg = report["settings"]
    data = report["training_data"]
    seeds = ", ".join(map(str, report["seeds"]))
    if cfg["family"] in GRIDS:
        quality = (
            f"training episodes' return / optimum: mean {data['mean_normalised']:.3f}, at the history's last "
            f"position {data['last_position_mean_normalised']:.3f}, best {data['best_episode_normalised']:.3f}"
        )
    else:
        quality = f"training pulls' reward / the best arm's mean: {data['mean_normalised']:.3f}"
    lines = [
        f"# In-context improvement: {cfg['family']}, histories from `{cfg['source']}` (noise floor {cfg['noise_floor']})",
        "",
        f"Training: {data['histories']} histories x {cfg['history_episodes']} episodes ({data['steps']} steps); "
        f"{quality}. Posterior {cfg['posterior_steps']} steps; seeds {seeds} (pooled). Weights frozen during evaluation.",
        "",
    ]
    for set_name, methods in report["results"].items():
        lines.append(f"## {set_name} ({cfg['eval_episodes']} in-context episodes each; tasks per method below)")
        lines.append("")
        lines += grid_tables(methods) if cfg["family"] in GRIDS else bandit_table(methods, cfg["eval_episodes"])
        lines.append("")
    lines += ["## Does the request steer?", "", f"- {operator_steering(report)}"]
    for seed, controls in report["steering"].items():
        for name, result in controls.items():
            lines.append(f"- {steering_line(f'{name}, seed {seed}', result)}")
    if not any(report["steering"].values()):
        lines.append("- no memoryless DT was trained: no return-conditioned model to control")
    lines += [
        "",
        "The memoryless DT's control: each episode of the env's own random tasks asked the data's 95th-percentile "
        "return, against the same episodes each asked a return drawn like the data's; gap = asked minus control, "
        "paired bootstrap 95% CI.",
        "",
    ]
    if report.get("gif"):
        g = report["gif"]
        lines.append(
            f"`rollout.gif`: the operator on held-out task {g['task']} ({g['distance']} steps away), "
            f"returns per episode {g['returns']}."
        )
        lines.append("")
    t = report["timings_s"]
    lines.append(
        "Timings (s, mean per seed): "
        + ", ".join(f"{k[:-2]} {v:.0f}" for k, v in t.items())
        + f"; {report['seconds_per_seed'] / 60:.1f} min per seed at most; picture: `curves.png`."
    )
    return "\n".join(lines) + "\n"


def grid_tables(methods: dict[str, Any]) -> list[str]:
    """Return / optimum at the marked episodes per method, then by task distance."""
    marks = [str(m) for m in sorted({int(m) for s in methods.values() for m in s["at"]})]
    lines = [
        "| method | tasks | "
        + " | ".join(f"episode {m}" for m in marks)
        + " | episodes to 0.8 | episodes to 0.9 | far tasks solved (final) |",
        "|---|---|" + "---|" * (len(marks) + 3),
    ]
    for name, s in methods.items():
        cells = [
            f"{s['at'][m]['mean']:.3f} [{s['at'][m]['ci95'][0]:.3f}, {s['at'][m]['ci95'][1]:.3f}]"
            if m in s["at"]
            else "-"
            for m in marks
        ]
        far = next((g["solved_final"] for k, g in s["by_distance"].items() if k.startswith("far")), None)
        far_cell = "-" if far is None else f"{far:.2f}"
        lines.append(
            f"| {name} | {s.get('tasks', '')} | "
            + " | ".join(cells)
            + f" | {s['episodes_to_0.8'] or 'not reached'} | {s['episodes_to_0.9'] or 'not reached'} | {far_cell} |"
        )
    lines += ["", "By task distance (steps of the shortest solution; mean return / optimum):", ""]
    lines.append("| method | group | tasks | " + " | ".join(f"episode {m}" for m in marks) + " |")
    lines.append("|---|---|---|" + "---|" * len(marks))
    for name, s in methods.items():
        for group, g in s["by_distance"].items():
            lines.append(
                f"| {name} | {group} | {g['tasks']} | "
                + " | ".join(f"{g['at'][m]:.3f}" if m in g["at"] else "-" for m in marks)
                + " |"
            )
    return lines


def bandit_table(methods: dict[str, Any], pulls: int) -> list[str]:
    lines = [
        f"| method | cumulative regret after {pulls} pulls | best arm, last 10 pulls |",
        "|---|---|---|",
    ]
    for name, s in methods.items():
        r = s["cumulative_regret"]
        lines.append(
            f"| {name} | {r['mean']:.2f} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] | {s['best_arm_share_last_10']:.2f} |"
        )
    return lines


def sources_markdown(report: dict[str, Any]) -> str:
    rows = report["results"]
    first = rows[next(iter(rows))]
    lines = [
        f"# The source algorithm alone on {report['family']}'s held-out tasks (seeds {report['seeds']} pooled)",
        "",
        "| tasks / method | "
        + " | ".join(f"episode {m}" for m in first["at"])
        + " | episodes to 0.9 (pooled; per seed) |",
        "|---|" + "---|" * (len(first["at"]) + 1),
    ]
    for key, s in rows.items():
        cells = [f"{v['mean']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]" for v in s["at"].values()]
        lines.append(
            f"| {key} | " + " | ".join(cells) + f" | {s['episodes_to_0.9']}; {s['per_seed_episodes_to_0.9']} |"
        )
    return "\n".join(lines) + "\n"


# ---- pictures ------------------------------------------------------------------------------------
def plot_curves(path: Path, report: dict[str, Any], raws: list[dict[str, Any]]) -> None:
    """Grids: return / optimum per in-context episode, every method on one axis (95% CI bands).
    Bandit: cumulative regret per pull, one panel per task distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from justask.checkpoint import atomic_write

    sets = list(report["results"])
    fig, axes = plt.subplots(1, len(sets), figsize=(6.2 * len(sets), 4.2), dpi=110, squeeze=False)
    family = report["settings"]["family"]
    for ax, set_name in zip(axes[0], sets, strict=True):
        for name, summary in report["results"][set_name].items():
            if family in GRIDS:
                mean = np.array(summary["curve"]["mean"])
                lo, hi = np.array(summary["curve"]["ci95"]).T
                x = np.arange(1, len(mean) + 1)
                ax.plot(x, mean, label=name)
                ax.fill_between(x, lo, hi, alpha=0.2)
            else:
                curve = summary["regret_curve"]
                ax.plot(np.arange(1, len(curve) + 1), curve, label=name)
        if family in GRIDS:
            if max(len(s["curve"]["mean"]) for s in report["results"][set_name].values()) > 60:
                ax.set_xscale("log")
            best = report["training_data"]["last_position_mean_normalised"]
            ax.axhline(best, color="gray", ls="--", lw=0.8, label=f"training episodes at least noise ({best:.2f})")
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("in-context episode on a held-out task (frozen weights)")
            ax.set_ylabel("return / optimal return (mean, 95% CI)")
        else:
            ax.set_xlabel("pull")
            ax.set_ylabel("cumulative expected regret (mean)")
        tasks = sum(len(next(iter(raw[set_name].values()))) for raw in raws)
        ax.set_title(f"{family}: {set_name} ({tasks} tasks)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def room_gif(path: Path, actor: Any, family: str, task: Any, episodes: int = 12) -> dict[str, Any]:
    """The operator's first ``episodes`` episodes on one held-out task: the agent white, its
    current target guess blue, cells already ruled out (for its current part) lighter."""
    import gymnasium as gym
    from PIL import Image, ImageDraw

    from justask.checkpoint import atomic_write

    fam = family_of(family)
    env = gym.make(fam.env_id, render_mode="rgb_array")
    frames: list[Image.Image] = []
    actor.start_tasks(1)
    slot = np.array([0])
    parts = getattr(actor, "parts", [actor])
    returns = []
    for e in range(episodes):
        obs, _ = env.reset(seed=e, options=fam.reset_options(task))
        actor.reset(slot)
        total, done, t = 0.0, False, 0
        while not done:
            action = actor.act(obs[None], slot)
            nxt, reward, term, trunc, _ = env.step(int(action[0]))
            image = env.render().copy()
            current = parts[-1] if len(parts) > 1 and nxt[2] >= 1 else parts[0]
            for cell in np.flatnonzero(current.counts[0, :, 1 if current is not parts[0] else 0] > 0):
                cx, cy = darkroom.cell_xy(cell)
                patch = image[cy * 16 : cy * 16 + 16, cx * 16 : cx * 16 + 16]
                patch[(patch == 40).all(-1)] = (85, 85, 85)
            gx, gy = darkroom.cell_xy(current.guess[0])
            image[gy * 16 + 5 : gy * 16 + 11, gx * 16 + 5 : gx * 16 + 11] = (70, 120, 255)
            frame = Image.fromarray(image).resize((288, 288), Image.NEAREST)
            total += reward
            t += 1
            ImageDraw.Draw(frame).text((4, 4), f"episode {e + 1}  t={t}  return={total:.0f}", fill=(255, 255, 255))
            frames.append(frame)
            actor.observe(slot, np.asarray(action), np.array([reward]), nxt[None])
            obs, done = nxt, term or trunc
        returns.append(total)
    env.close()
    atomic_write(
        path,
        lambda tmp: frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=120, loop=0),
    )
    task_json = task if not isinstance(task, tuple) else list(task)
    return {
        "task": task_json,
        "distance": int(task_distance(family, [task])[0]),
        "returns": returns,
        "file": str(Path(path).resolve()),
    }


# ---- benchmark presets: the recorded benchmarks/results/improve_*.json commands ----------------
def _one_thread(**settings: Any) -> Config:
    """A benchmark Config with one torch thread everywhere (the recorded runs used --threads 1,
    for every fit and for acting)."""
    cfg = Config(**settings)
    fits = {
        name: dataclasses.replace(getattr(cfg, name), threads=1)
        for name in ("posterior_train", "goal_policy_train", "dt_train", "ad_train")
    }
    return dataclasses.replace(cfg, threads=1, **fits)


PRESETS = {
    # python benchmarks/improve.py --family darkroom --seeds 0 1 2 --sb3-episodes 300 --threads 1
    "darkroom": _one_thread(family="darkroom", seeds=(0, 1, 2), sb3_episodes=300),
    # python benchmarks/improve.py --threads 1 --family darkroom --noise-floor 0.5 --policy-labels hindsight --seeds 0 1 2
    "darkroom_floor05_hindsight": _one_thread(
        family="darkroom", noise_floor=0.5, policy_labels="hindsight", seeds=(0, 1, 2)
    ),
    # python benchmarks/improve.py --threads 1 --family darkroom --ad-steps 3000 --dt-steps 0 --seeds 0
    "darkroom_plain_ad": _one_thread(family="darkroom", plain_ad=True, memoryless_dt=False, seeds=(0,)),
    # python benchmarks/improve.py --family darkroom --seeds 0 1 2 --sources-only 300 (nothing trains)
    "darkroom_sources": Config(family="darkroom", seeds=(0, 1, 2), sources_only=300),
    # python benchmarks/improve.py --threads 1 --family keydoor --seeds 0 1 2: that run stopped after seed 0 and
    # the recorded table is seed 0 alone (its merge command); --seeds 0 1 2 runs all three
    "keydoor": _one_thread(family="keydoor", seeds=(0,)),
    # python benchmarks/improve.py --threads 1 --family bandit --seeds 0 1 2
    "bandit": _one_thread(family="bandit", seeds=(0, 1, 2)),
    # python benchmarks/improve.py --threads 1 --family bandit --source annealed --seeds 0
    "bandit_annealed": _one_thread(family="bandit", source="annealed", seeds=(0,)),
}

RECIPE = Recipe(
    name="improve",
    summary="in-context improvement with frozen weights: p(task | experience) and posterior sampling on Dark Room",
    config=Config,
    run=run,
    pictures=("curves.png", "rollout.gif"),
    merge=merge,
)
