"""Domain randomization where the policy infers its world: data, models, DAgger, evaluation, report.

One model is trained by maximum likelihood on a *distribution* of worlds (``CartPoleWorlds``: a
hidden actuator sign; ``LunarLanderWorlds``: swapped side engines; each with nuisance physics and
held-out boxes) and asked to act as each world's expert would; the world is not given, so it has
to be read from the history the model sees. Compared on the same data:

- ``history``: a DT over the last ``context_len`` (observation, action) steps, no world given;
- ``memoryless``: an MLP on the current observation only (cannot tell the worlds apart);
- ``oracle``: an MLP told the true world parameters (the ceiling);
- ``history+world``: a DT whose world condition was withheld in half the training episodes —
  told the world when the user knows it, inferring it when not (evaluated both ways);
- SB3 PPO on the same env (memoryless and 4 stacked observations) with ``ppo_steps``.

Data: the privileged expert with a share of uniformly random actions. What the models learn
(``labels``): ``expert`` — the expert's action in every visited state, while the context shows
the executed ones (the default: a model that learned the noisy executed actions, or only
noiseless expert data, can read its own mistakes as evidence about the world — self-delusion,
Ortega et al. 2021), or ``executed``. ``dagger_rounds``: the history model acts in sampled
worlds, the expert relabels what it visited, and the model is retrained on everything.
``self_delusion``: the history model trained three ways, each probed with forced random actions.

Every model told its world gets the steering control: the same episodes, each told another
episode's world of the same box (``justask.evaluation.steering``).

The defaults are the quick demo (CartPole, one seed, about 7 minutes on 2 CPU cores); the
benchmarks are ``PRESETS`` (``benchmarks/run.py worlds --preset cartpole``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from justask.agent import Agent
from justask.asking import ask
from justask.checkpoint import write_json
from justask.collection import collect
from justask.configs import TrainConfig, seed_tuple, whole_numbers
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.evaluation import EVAL_SEED, EvalResult, steering
from justask.models.config import ModelConfig
from justask.models.policy import PolicyModel
from justask.policies import Policy, noisy
from justask.recipes import Recipe
from justask.report import write_report
from justask.stats import bootstrap_ci, wilson_ci
from justask.training import train
from justask.worlds import (
    EXPERT_ACTION,
    WORLD,
    MistakenExpert,
    WorldFamily,
    with_expert_labels,
    with_world,
    world_request,
)

FAMILIES = ("CartPoleWorlds", "LunarLanderWorlds")
MODELS = ("history", "memoryless", "oracle", "history+world")
TOLD = ("oracle", "history+world/told")  # the evaluated agents told their world: each gets the steering control
OPTIONAL_WORLD = "world_optional"  # the history+world model's column: the world, withheld in some episodes
PARTIAL = "partial.json"  # the rows so far, rewritten after each seed (removed when the run ends)


def _quiet(steps: int) -> TrainConfig:
    """A fit inside the recipe: no progress bar, ten log points, one checkpoint at the end."""
    return TrainConfig(
        steps=steps,
        batch_size=64,
        threads=2,
        device="cpu",
        progress=False,
        log_every=max(1, steps // 10),
        checkpoint_every=steps,
    )


@dataclasses.dataclass
class Config:
    """Domain randomization: a history model infers its world; the defaults are the quick demo
    (CartPole with a hidden actuator sign, seed 0, about 7 minutes on 2 CPU cores)."""

    out: str = "runs/demo-worlds"
    """Run folder: report.md/json, returns.png, rollout.gif, per seed the trained models (seed<N>/history, /memoryless, /oracle, /history+world)."""
    seeds: tuple[int, ...] = (0,)
    """Training seeds (data from episode seeds seed x 100000, weights, batches); the evaluation worlds do not depend on them."""
    family: str = "CartPoleWorlds"
    """World family: CartPoleWorlds (hidden actuator sign) or LunarLanderWorlds (swapped side engines)."""
    episodes: int = 200
    """Training episodes of the privileged expert, split evenly over the noise levels."""
    noise: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3)
    """Shares of uniformly random actions in the data, one level each."""
    labels: str = "expert"
    """Actions the models learn: expert (the expert's action in every visited state; the context shows the executed ones) or executed."""
    mistakes: int = 0
    """> 0: in one window of up to this many steps per episode the expert acts for its world's twin (the labels stay right)."""
    world_drop: float = 0.5
    """history+world: share of training episodes whose world is withheld."""
    models: tuple[str, ...] = MODELS
    """Models compared: history (DT, no world), memoryless (MLP), oracle (MLP told the world), history+world (DT told it or not)."""
    dagger_rounds: int = 0
    """Rounds of: the history model acts in fresh training worlds, the expert relabels, retrain from scratch on all data."""
    dagger_episodes: int = 100
    """Episodes the history model runs per DAgger round."""
    dt: ModelConfig = dataclasses.field(
        default_factory=lambda: ModelConfig(kind="dt", context_len=8, d_model=64, n_layer=2, n_head=1)
    )
    """The DTs (history, history+world)."""
    dt_train: TrainConfig = dataclasses.field(default_factory=lambda: _quiet(2500))
    """How each DT is fitted, after each DAgger round too (its seed is each of --seeds)."""
    mlp: ModelConfig = dataclasses.field(default_factory=lambda: ModelConfig(kind="mlp", hidden_sizes=(256, 256)))
    """The MLPs (memoryless, oracle)."""
    mlp_train: TrainConfig = dataclasses.field(default_factory=lambda: _quiet(2000))
    """How each MLP is fitted (its seed is each of --seeds)."""
    eval_worlds: int = 100
    """Fresh worlds per world box (episode seeds from 1,000,000), for every agent."""
    test_noise: float = 0.0
    """A share of random actions forced on every evaluated agent (a probe; the steering control runs without it)."""
    ppo_steps: int = 100_000
    """Env steps of the SB3 PPO peers (memoryless and 4 stacked observations); 0: none."""
    self_delusion: bool = False
    """Instead of the comparison: the history model trained three ways (noiseless data; noisy data, expert labels; noiseless + 3 DAgger rounds), each probed."""
    probes: tuple[float, ...] = (0.0, 0.1)
    """Self-delusion: the shares of random actions forced on the model while it is evaluated."""
    gif: bool = True
    """Render the history model in a rewired world of a held-out box."""
    overwrite: bool = False
    """Replace an existing run folder."""

    def __post_init__(self) -> None:
        self.seeds, self.noise = seed_tuple(self.seeds), tuple(float(x) for x in self.noise)
        self.models, self.probes = tuple(self.models), tuple(float(x) for x in self.probes)
        if self.family not in FAMILIES:
            raise JustAskError(f"unknown world family '{self.family}' (known: {', '.join(FAMILIES)})")
        whole_numbers(self, 1, "episodes", "dagger_episodes", "eval_worlds")
        whole_numbers(self, 0, "mistakes", "dagger_rounds", "ppo_steps")
        _shares(self, "noise", self.noise, "shares of random actions in the data")
        _shares(self, "probes", self.probes, "test-time shares of random actions")
        for name in ("world_drop", "test_noise"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise JustAskError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.labels not in ("expert", "executed"):
            raise JustAskError(f"labels must be 'expert' or 'executed', got '{self.labels}'")
        unknown = sorted(set(self.models) - set(MODELS))
        if unknown:
            raise JustAskError(f"models: unknown model '{unknown[0]}' ({', '.join(MODELS)})")
        if self.dt.kind != "dt" or self.mlp.kind != "mlp":
            raise JustAskError(f"dt.kind must be dt and mlp.kind mlp, got {self.dt.kind} and {self.mlp.kind}")


def _shares(cfg: Config, name: str, values: tuple[float, ...], what: str) -> None:
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise JustAskError(f"{name}: {what} must be one or more numbers in [0, 1], got {list(values)}")


def _log(message: str) -> None:
    print(message, flush=True)


# ---- the world families ----------------------------------------------------------------------
@dataclasses.dataclass
class WorldSuite:
    """What a world family needs to be run here."""

    family: WorldFamily
    env_id: str
    expert: Callable[[Any], Policy]  # box -> the privileged expert for that box's worlds
    labels_for: Callable[[np.ndarray, dict[str, float]], np.ndarray]  # (observations, world) -> actions
    success_return: float  # an episode with at least this return is a success
    ppo_hyperparameters: dict[str, Any]
    ppo_envs: int


def suites() -> dict[str, WorldSuite]:
    from justask.peers.sb3_peer import ZOO_PPO_CARTPOLE, ZOO_PPO_LUNARLANDER
    from justask.suites import cartpole_worlds as cw
    from justask.suites import lunar_lander_worlds as lw

    return {
        cw.FAMILY.name: WorldSuite(
            cw.FAMILY, cw.ENV_ID, cw.CartPoleWorldExpert, cw.labels_for, 475.0, ZOO_PPO_CARTPOLE, 8
        ),
        # success: landed (return >= 200, Gymnasium's "solved" line)
        lw.FAMILY.name: WorldSuite(
            lw.FAMILY, lw.ENV_ID, lw.LunarLanderWorldExpert, lw.labels_for, 200.0, ZOO_PPO_LUNARLANDER, 16
        ),
    }


# ---- data and models -------------------------------------------------------------------------
def world_data(suite: WorldSuite, cfg: Config, seed: int) -> Episodes:
    """The privileged expert at each noise level in training worlds, with the expert's labels,
    the world column and the optional-world column."""
    space = _action_space(suite)
    per_level = max(1, cfg.episodes // len(cfg.noise))
    population = []
    for eps in cfg.noise:
        expert = MistakenExpert(suite.family, suite.labels_for, cfg.mistakes) if cfg.mistakes else suite.expert("train")
        policy = expert if eps == 0 else noisy(expert, eps, space, name=f"expert-eps{eps:g}")
        population.append((policy, per_level))
    episodes = collect(suite.env_id, population, num_envs=50, seed=seed * 100_000, progress=False)
    return _relabeled(episodes, suite, cfg, seed)


def _action_space(suite: WorldSuite) -> gym.Space:
    env = gym.make(suite.env_id)
    try:
        return env.action_space
    finally:
        env.close()


def _relabeled(episodes: Episodes, suite: WorldSuite, cfg: Config, seed: int) -> Episodes:
    episodes = with_expert_labels(episodes, suite.family, suite.labels_for)
    episodes = with_world(episodes, suite.family)
    return with_world(episodes, suite.family, drop=cfg.world_drop, seed=seed, name=OPTIONAL_WORLD)


def train_model(name: str, data: Episodes, cfg: Config, run_dir: Path, seed: int) -> PolicyModel:
    """One of the compared models (``MODELS``), trained on ``data``."""
    target = EXPERT_ACTION if cfg.labels == "expert" else None
    condition = {"history": None, "memoryless": None, "oracle": WORLD, "history+world": OPTIONAL_WORLD}[name]
    model, fitting = (cfg.dt, cfg.dt_train) if name in ("history", "history+world") else (cfg.mlp, cfg.mlp_train)
    return train(data, model, dataclasses.replace(fitting, seed=seed), run_dir, condition=condition, target=target)


def told_worlds(suite: WorldSuite, box: Any, told: bool = True) -> Callable[[np.ndarray], np.ndarray]:
    """Per episode, its world (recovered from its seed) as a request in user units; not told: unknown."""
    return lambda seeds: world_request(suite.family, [suite.family.sample(int(s), box) for s in seeds], told)


def agent_for(name: str, model: PolicyModel, suite: WorldSuite, box: Any, told: bool = True) -> Agent:
    """The model as a policy for worlds drawn from ``box``: the oracle and a told history+world
    model are asked each episode's world, the others nothing."""
    if name in ("oracle", "history+world"):
        told = told or name == "oracle"
        label = name if name == "oracle" else f"{name}/{'told' if told else 'inferred'}"
        return ask(model, world=told_worlds(suite, box, told), name=label)
    return ask(model, name=name)


def dagger(
    model: PolicyModel, data: Episodes, suite: WorldSuite, cfg: Config, out: Path, seed: int
) -> tuple[PolicyModel, Episodes]:
    """``cfg.dagger_rounds`` rounds: the history model acts in fresh training worlds, the expert
    labels every state it visited, the model is retrained (from scratch) on all data so far."""
    for r in range(cfg.dagger_rounds):
        visited = collect(
            suite.env_id,
            [(ask(model, name=f"history-dagger{r}"), cfg.dagger_episodes)],
            num_envs=50,
            seed=seed * 100_000 + 50_000 + r * 1_000,
            progress=False,
        )
        data = Episodes.concatenate([data, _relabeled(visited, suite, cfg, seed + r + 1)])
        model = train_model("history", data, cfg, out / f"history-dagger{r + 1}", seed)
    return model, data


def ppo_peers(suite: WorldSuite, steps: int, seed: int) -> dict[str, Policy]:
    """SB3 PPO trained on the world env for ``steps`` env steps: memoryless and 4 stacked observations."""
    from justask.peers.sb3_peer import SB3Policy, StackedSB3Policy, train_ppo

    peers: dict[str, Policy] = {}
    for stack in (1, 4):
        model = train_ppo(
            suite.env_id,
            steps,
            seed=seed,
            n_envs=suite.ppo_envs,
            hyperparameters=suite.ppo_hyperparameters,
            frame_stack=stack,
        )
        name = f"ppo-{steps // 1000}k" + ("" if stack == 1 else f"-stack{stack}")
        peers[name] = SB3Policy(model, name=name) if stack == 1 else StackedSB3Policy(model, stack, name=name)
    return peers


# ---- evaluation --------------------------------------------------------------------------------
def evaluate_in_box(
    agent: Policy, suite: WorldSuite, box: Any, cfg: Config, label_agreement: bool = False
) -> tuple[dict[str, Any], Episodes]:
    """``cfg.eval_worlds`` fresh worlds of ``box``: mean return (bootstrap 95% CI), success
    (Wilson 95% CI), the per-episode returns and, with ``label_agreement``, how fast the agent
    acts as the expert would; and the episodes."""
    policy = agent if cfg.test_noise == 0 else noisy(agent, cfg.test_noise, _action_space(suite))
    episodes = collect(
        suite.env_id,
        [(policy, cfg.eval_worlds)],
        num_envs=min(100, cfg.eval_worlds),
        seed=EVAL_SEED,
        progress=False,
        env_kwargs={"box": box},
    )
    returns = episodes.returns()
    wins = int((returns >= suite.success_return).sum())
    row = {
        "mean": float(returns.mean()),
        "ci95": list(bootstrap_ci(returns)),
        "success": wins / len(returns),
        "success_ci95": list(wilson_ci(wins, len(returns))),
        "episodes": len(returns),
        "returns": returns.round(2).tolist(),
    }
    if label_agreement:
        row.update(identification(episodes, suite, box))
    return row, episodes


def identification(
    episodes: Episodes, suite: WorldSuite, box: Any, run: int = 10, twin_episode_steps: int = 20
) -> dict[str, Any]:
    """How fast the agent identifies its world: per episode, the first step from which its next
    ``run`` actions all equal the privileged expert's (episodes that never get there count as
    their length); its overall agreement with the expert; and ``twin_share``, the share of steps
    on which it acts as the expert of its world's twin would and not as its own world's — the
    signature of self-delusion (a model sure it is in the other world); ``twin_episodes``, the share
    of episodes with more than ``twin_episode_steps`` such steps."""
    labelled = with_expert_labels(episodes, suite.family, suite.labels_for, box)
    agree = labelled.actions == labelled.conditions[EXPERT_ACTION]
    twin = with_expert_labels(episodes, suite.family, lambda o, w: suite.labels_for(o, suite.family.twin(w)), box)
    as_twin = (labelled.actions == twin.conditions[EXPERT_ACTION]) & ~agree
    firsts = []
    for start, length in zip(labelled.episode_starts, labelled.lengths, strict=True):
        a = agree[start : start + length]
        window = np.convolve(a.astype(int), np.ones(run, dtype=int), mode="valid") if length >= run else np.zeros(0)
        hits = np.flatnonzero(window == run)
        firsts.append(int(hits[0]) if len(hits) else int(length))
    twin_steps = np.add.reduceat(as_twin.astype(int), labelled.episode_starts) if len(as_twin) else np.zeros(0)
    return {
        "steps_to_agree_median": float(np.median(firsts)),
        "agreement": float(agree.mean()),
        "twin_share": float(as_twin.mean()),
        "twin_episodes": float((twin_steps > twin_episode_steps).mean()) if len(twin_steps) else 0.0,
    }


def steering_in_box(
    model: PolicyModel, suite: WorldSuite, box: Any, cfg: Config, asked: EvalResult | None
) -> dict[str, Any]:
    """The steering control of a model told its world: the same ``cfg.eval_worlds`` episodes of
    ``box``, each told another episode's world (a derangement), against each told its own
    (``asked``, already evaluated; rerun without the forced noise when ``cfg.test_noise`` > 0)."""
    return steering(
        suite.env_id,
        model,
        told_worlds(suite, box),
        episodes=cfg.eval_worlds,
        num_envs=min(100, cfg.eval_worlds),
        seed=EVAL_SEED,
        asked=asked if cfg.test_noise == 0 else None,
        env_kwargs={"box": box},
    )


def variants(name: str, agent: Policy | PolicyModel, suite: WorldSuite, box: Any) -> list[tuple[str, Policy]]:
    """The evaluated agents of one compared model in ``box`` (history+world: told and not told)."""
    if not isinstance(agent, PolicyModel):
        return [(name, agent)]
    if name == "history+world":
        return [
            (f"{name}/told", agent_for(name, agent, suite, box, told=True)),
            (f"{name}/inferred", agent_for(name, agent, suite, box, told=False)),
        ]
    return [(name, agent_for(name, agent, suite, box))]


def settings(cfg: Config) -> dict[str, Any]:
    """The settings a report states (flat, for its Markdown)."""
    return {
        "family": cfg.family,
        "episodes": cfg.episodes,
        "noise": list(cfg.noise),
        "labels": cfg.labels,
        "mistakes": cfg.mistakes,
        "world_drop": cfg.world_drop,
        "models": list(cfg.models),
        "dagger_rounds": cfg.dagger_rounds,
        "dagger_episodes": cfg.dagger_episodes,
        "context_len": cfg.dt.context_len,
        "dt_steps": cfg.dt_train.steps,
        "dt_batch": cfg.dt_train.batch_size,
        "mlp_steps": cfg.mlp_train.steps,
        "mlp_batch": cfg.mlp_train.batch_size,
        "eval_worlds": cfg.eval_worlds,
        "test_noise": cfg.test_noise,
        "ppo_steps": cfg.ppo_steps,
    }


def run_worlds(cfg: Config, suite: WorldSuite, out: Path) -> dict[str, Any]:
    """The comparison over ``cfg.seeds``: every model in every box, the steering control of each
    model told its world, the PPO peers and the privileged expert."""
    boxes = suite.family.box_names
    results: dict[str, Any] = {
        "recipe": "worlds",
        "experiment": "comparison",
        "family": cfg.family,
        "settings": settings(cfg),
        "seeds": list(cfg.seeds),
        "boxes": boxes,
        "success_return": suite.success_return,
        "data": [],
        "rows": [],
        "steering": [],
    }
    for seed in cfg.seeds:
        _log(f"seed {seed}: collecting {cfg.episodes} episodes of the privileged expert in {cfg.family} ...")
        data = world_data(suite, cfg, seed)
        results["data"].append(
            {
                "seed": seed,
                "episodes": data.num_episodes,
                "steps": data.num_steps,
                "mean_return": float(data.returns().mean()),
            }
        )
        agents: dict[str, Policy | PolicyModel] = {}
        for name in cfg.models:
            t0 = time.perf_counter()
            model = train_model(name, data, cfg, out / f"seed{seed}" / name, seed)
            if name == "history" and cfg.dagger_rounds:
                model, _ = dagger(model, data, suite, cfg, out / f"seed{seed}", seed)
            agents[name] = model
            _log(f"  trained {name} in {time.perf_counter() - t0:.0f} s")
        if cfg.ppo_steps > 0:
            agents.update(ppo_peers(suite, cfg.ppo_steps, seed))
        for name, agent in agents.items():
            for box in boxes:
                for label, policy in variants(name, agent, suite, box):
                    row, episodes = evaluate_in_box(
                        policy, suite, box, cfg, label_agreement=label.startswith("history")
                    )
                    results["rows"].append({"model": label, "box": box, "seed": seed, **row})
                    _log(f"  {label:<24} {box:<16} {row['mean']:7.1f}  success {row['success']:.2f}")
                    if label in TOLD:
                        asked = EvalResult.from_episodes(label, episodes)
                        control = steering_in_box(agent, suite, box, cfg, asked)
                        results["steering"].append({"model": label, "box": box, "seed": seed, **control})
        for box in boxes:
            row, _ = evaluate_in_box(suite.expert(box), suite, box, cfg)
            results["rows"].append({"model": "privileged expert", "box": box, "seed": seed, **row})
        write_json(out / PARTIAL, results)
    results["summary"] = summarize(results)
    return results


SELF_DELUSION_REGIMES = {
    # name: (noise levels in the data, labels learned, DAgger rounds)
    "noiseless data": ((0.0,), "executed", 0),
    "noisy data, expert labels": ((0.0, 0.1, 0.2, 0.3), "expert", 0),
    "noiseless data + 3 DAgger rounds": ((0.0,), "expert", 3),
}


def run_self_delusion(cfg: Config, suite: WorldSuite, out: Path) -> dict[str, Any]:
    """The history model trained three ways (``SELF_DELUSION_REGIMES``), each evaluated in every
    box as it is and with a share ``probe`` of its actions replaced by random ones: a model that
    reads its own actions as evidence about the world is derailed by its mistakes."""
    boxes = suite.family.box_names
    results: dict[str, Any] = {
        "recipe": "worlds",
        "experiment": "self_delusion",
        "family": cfg.family,
        "settings": settings(cfg),
        "seeds": list(cfg.seeds),
        "boxes": boxes,
        "probes": list(cfg.probes),
        "success_return": suite.success_return,
        "regimes": {
            k: {"noise": list(v[0]), "labels": v[1], "dagger_rounds": v[2]} for k, v in SELF_DELUSION_REGIMES.items()
        },
        "rows": [],
        "steering": [],  # the history model is told nothing: no control
    }
    for seed in cfg.seeds:
        for regime, (noise, labels, rounds) in SELF_DELUSION_REGIMES.items():
            _log(f"seed {seed}: {regime} ...")
            rcfg = dataclasses.replace(cfg, noise=noise, labels=labels, dagger_rounds=rounds, models=("history",))
            folder = out / f"seed{seed}" / regime.replace(" ", "-").replace(",", "")
            data = world_data(suite, rcfg, seed)
            model = train_model("history", data, rcfg, folder / "history", seed)
            if rounds:
                model, _ = dagger(model, data, suite, rcfg, folder, seed)
            for probe in cfg.probes:
                pcfg = dataclasses.replace(rcfg, test_noise=probe)
                for box in boxes:
                    agent = agent_for("history", model, suite, box)
                    row, _ = evaluate_in_box(agent, suite, box, pcfg, label_agreement=True)
                    results["rows"].append(
                        {"model": f"{regime} | test noise {probe:g}", "box": box, "seed": seed, **row}
                    )
            write_json(out / PARTIAL, results)
    results["summary"] = summarize(results)
    return results


# ---- summaries and findings ---------------------------------------------------------------------
def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Per model and box: the mean over training seeds of each seed's mean return and success,
    a bootstrap 95% CI of the mean return over all evaluated episodes of all seeds, a Wilson 95%
    CI of the pooled success rate; the gap closure per box: (history - memoryless) / (oracle -
    memoryless); and the steering controls per model and box (``summarize_steering``)."""
    rows = results["rows"]
    out: dict[str, Any] = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        out[model] = {}
        for box in results["boxes"]:
            mine = [r for r in rows if r["model"] == model and r["box"] == box]
            if not mine:
                continue
            means = np.array([r["mean"] for r in mine])
            success = np.array([r["success"] for r in mine])
            entry = {
                "mean": float(means.mean()),
                "seed_means": means.round(1).tolist(),
                "success": float(success.mean()),
                "success_ci95": _pooled_wilson(mine),
                "ci95": list(bootstrap_ci(np.concatenate([r["returns"] for r in mine]))),
            }
            for key in ("steps_to_agree_median", "agreement", "twin_share"):
                if key in mine[0]:
                    entry[key] = float(np.mean([r[key] for r in mine]))
            out[model][box] = entry
    gap = {}
    for box in results["boxes"]:
        try:
            h, m, o = (out[k][box]["mean"] for k in ("history", "memoryless", "oracle"))
        except KeyError:
            continue
        gap[box] = (h - m) / (o - m) if o != m else None
    return {"models": out, "gap_closure": gap, "steering": summarize_steering(results.get("steering", []))}


def _pooled_wilson(rows: list[dict[str, Any]]) -> list[float]:
    wins = sum(round(r["success"] * r["episodes"]) for r in rows)
    total = sum(r["episodes"] for r in rows)
    return list(wilson_ci(int(wins), int(total)))


def summarize_steering(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per model and box, over training seeds: the mean return told each episode's own world
    (``asked``) and told another's (``shuffled``), their gap, and in how many seeds the gap's
    paired 95% CI lies above zero."""
    out: dict[str, Any] = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        out[model] = {}
        for box in dict.fromkeys(r["box"] for r in rows):
            mine = [r for r in rows if r["model"] == model and r["box"] == box and "gap_shuffled" in r]
            if not mine:
                continue
            out[model][box] = {
                "asked": float(np.mean([r["asked"]["mean"] for r in mine])),
                "shuffled": float(np.mean([r["shuffled"]["mean"] for r in mine])),
                "gap": float(np.mean([r["gap_shuffled"]["mean"] for r in mine])),
                "seed_gaps": [round(r["gap_shuffled"]["mean"], 1) for r in mine],
                "gap_ci95": mine[0]["gap_shuffled"]["ci95"] if len(mine) == 1 else None,
                "seeds_above_zero": sum(r["gap_shuffled"]["ci95"][0] > 0 for r in mine),
                "seeds": len(mine),
            }
    return out


STEERING_READING = {
    "oracle": "the oracle MLP sees only the current state and the told world: the gap is what the told world is worth to it",
    "history+world/told": (
        "the history+world DT also reads its history, which reveals the world: the gap says how far it trusts "
        "the telling over its own evidence (about 0: it ignores a wrong telling and infers; as large as the "
        "oracle's: it follows the telling even where its history contradicts it); told nothing, it infers "
        "(history+world/inferred)"
    ),
}
UNTOLD = {"history+world/told": "history+world/inferred"}  # the same model told nothing


def findings(results: dict[str, Any]) -> list[str]:
    """Statements read off the summary: success per box of every agent, the gap closure, and
    what telling each world-conditioned model another episode's world does."""
    summary, boxes = results["summary"], results["boxes"]
    out = []
    for model, per_box in summary["models"].items():
        cells = [f"{b} {per_box[b]['mean']:.0f} / {per_box[b]['success']:.2f}" for b in boxes if b in per_box]
        out.append(f"{model}: mean return / success per box: " + ", ".join(cells))
    gap = summary.get("gap_closure") or {}
    if gap:
        out.append(
            "gap closure (history - memoryless) / (oracle - memoryless): "
            + ", ".join(f"{b} {g:.2f}" if g is not None else f"{b} n/a" for b, g in gap.items())
        )
    for model, per_box in summary.get("steering", {}).items():
        untold = summary["models"].get(UNTOLD.get(model, ""), {})
        cells = []
        for box, s in per_box.items():
            ci = f" [{s['gap_ci95'][0]:+.0f}, {s['gap_ci95'][1]:+.0f}]" if s["gap_ci95"] else ""
            nothing = f", told nothing {untold[box]['mean']:.0f}" if box in untold else ""
            cells.append(f"{box} {s['asked']:.0f} vs {s['shuffled']:.0f} (gap {s['gap']:+.0f}{ci}{nothing})")
        seeds = next(iter(per_box.values()))["seeds"] if per_box else 0
        over = f", mean over {seeds} seeds" if seeds > 1 else ""
        reading = STEERING_READING.get(model, "")
        out.append(
            f"steering {model}: return told its own world vs another episode's{over}: "
            + ", ".join(cells)
            + (f" — {reading}" if reading else "")
        )
    return out


# ---- the report -----------------------------------------------------------------------------------
def _cell(e: dict | None) -> str:
    """``mean [CI] / success [CI]`` of one model in one box."""
    if e is None:
        return ""
    lo, hi = e["ci95"]
    slo, shi = e["success_ci95"]
    return f"{e['mean']:.0f} [{lo:.0f}, {hi:.0f}] / {e['success']:.2f} [{slo:.2f}, {shi:.2f}]"


def _table_head(results: dict, first: list[str]) -> list[str]:
    """What the cells mean, and the header of a table with columns ``first`` then one per box."""
    boxes = results["boxes"]
    return [
        f"Mean return [bootstrap 95% CI] / success (return >= {results.get('success_return', 475):g}) "
        "[Wilson 95% CI]; argmax actions.",
        "",
        "| " + " | ".join(first + boxes) + " |",
        "|" + "---|" * (len(first) + len(boxes)),
    ]


def _budget(s: dict[str, Any]) -> str:
    batch = (
        f"batch {s['dt_batch']}"
        if s["dt_batch"] == s["mlp_batch"]
        else f"DT batch {s['dt_batch']}, MLP batch {s['mlp_batch']}"
    )
    return f"DT context {s['context_len']}, {s['dt_steps']} steps; MLPs {s['mlp_steps']} steps; {batch}"


def _run_line(results: dict) -> str:
    return f"Run: {results['seconds'] / 60:.1f} min on {results.get('machine') or 'this machine'}. "


def markdown(results: dict[str, Any]) -> str:
    """The report as Markdown (the comparison, or the self-delusion experiment)."""
    if results.get("experiment") == "self_delusion":
        return self_delusion_markdown(results)
    summary, boxes, s = results["summary"], results["boxes"], results["settings"]
    mistakes = (
        f" and, in one window of up to {s['mistakes']} steps per episode, acting for its world's twin"
        if s.get("mistakes")
        else ""
    )
    lines = [
        f"# Domain randomization: {results['family']}",
        "",
        _run_line(results) + f"Training seeds {results['seeds']}; "
        f"{s['eval_worlds']} fresh worlds per box and seed (seeds from 1,000,000); data: "
        f"{s['episodes']} episodes of the privileged expert with random-action shares {s['noise']}{mistakes}, "
        f"models learn the {s['labels']} actions; {_budget(s)}; DAgger rounds {s['dagger_rounds']}; "
        f"test-time random-action share {s['test_noise']}.",
        "",
        *_table_head(results, ["model"]),
    ]
    for model, per_box in summary["models"].items():
        lines.append(f"| {model} | " + " | ".join(_cell(per_box.get(box)) for box in boxes) + " |")
    gap = summary.get("gap_closure") or {}
    if gap:
        lines += [
            "",
            "Gap closure (history - memoryless) / (oracle - memoryless): "
            + ", ".join(f"{b} {g:.2f}" if g is not None else f"{b} n/a" for b, g in gap.items()),
        ]
    lines += _identification_lines(summary, boxes)
    lines += _steering_lines(results)
    lines += ["", "## Findings", "", *[f"- {f}" for f in results.get("findings", [])]]
    return "\n".join(lines) + "\n"


def _identification_lines(summary: dict, boxes: list[str]) -> list[str]:
    lines = []
    for key, fmt, text in (
        (
            "steps_to_agree_median",
            "{:.0f}",
            "Median step from which the model acts as the privileged expert for 10 steps in a row",
        ),
        (
            "twin_share",
            "{:.1%}",
            "Steps on which the model acts as the expert of its world's twin (hidden parameters flipped) would, "
            "not as its own world's — self-delusion",
        ),
    ):
        per_model = [
            f"{m} " + " / ".join(fmt.format(per_box[b][key]) for b in boxes if b in per_box)
            for m, per_box in summary["models"].items()
            if all(key in e for e in per_box.values())
        ]
        if per_model:
            lines += ["", f"{text} (per box, {' / '.join(boxes)}): " + "; ".join(per_model)]
    return lines


def _steering_lines(results: dict) -> list[str]:
    rows = results.get("steering", [])
    if not rows:
        return []
    boxes = results["boxes"]
    lines = [
        "",
        "## Does the told world steer?",
        "",
        "Each model told its world, on the same episodes with each told another episode's world of the same box "
        "(a derangement; the steering control). Cells: mean return told its own world / told another's, gap "
        "(own minus other) [paired bootstrap 95% CI].",
        "",
    ]
    lines += [f"- {model}: {reading}" for model, reading in STEERING_READING.items()]
    lines += ["", "| model | seed | " + " | ".join(boxes) + " |", "|---|---|" + "---|" * len(boxes)]
    for r0 in dict.fromkeys((r["model"], r["seed"]) for r in rows):
        cells = []
        for box in boxes:
            r = next((x for x in rows if (x["model"], x["seed"], x["box"]) == (*r0, box)), None)
            if r is None or "gap_shuffled" not in r:
                cells.append("")
                continue
            g = r["gap_shuffled"]
            cells.append(
                f"{r['asked']['mean']:.0f} / {r['shuffled']['mean']:.0f}, {g['mean']:+.0f} [{g['ci95'][0]:+.0f}, {g['ci95'][1]:+.0f}]"
            )
        lines.append(f"| {r0[0]} | {r0[1]} | " + " | ".join(cells) + " |")
    return lines


def self_delusion_markdown(results: dict[str, Any]) -> str:
    """The self-delusion experiment: one row per (training regime, test-time noise)."""
    s, boxes = results["settings"], results["boxes"]
    lines = [
        f"# Self-delusion of history models: {results['family']}",
        "",
        _run_line(results) + f"Training seeds {results['seeds']}; "
        f"{s['eval_worlds']} fresh worlds per box, seed and row; {s['episodes']} training episodes; "
        f"DT context {s['context_len']}, {s['dt_steps']} steps (and as many again after each DAgger round, "
        f"{s['dagger_episodes']} episodes of the model per round). Test noise: the share of the model's "
        "actions replaced by uniformly random ones while it is evaluated — its own mistakes, forced.",
        "",
        "Regimes: "
        + "; ".join(
            f"**{name}**: random-action shares {r['noise']}, learns the {r['labels']} actions, "
            f"{r['dagger_rounds']} DAgger rounds"
            for name, r in results["regimes"].items()
        ),
        "",
        *_table_head(results, ["regime", "test noise"]),
    ]
    for model, per_box in results["summary"]["models"].items():
        regime, probe = model.split(" | test noise ")
        lines.append(f"| {regime} | {probe} | " + " | ".join(_cell(per_box.get(box)) for box in boxes) + " |")
    lines += _identification_lines(results["summary"], boxes)
    lines += ["", "## Findings", "", *[f"- {f}" for f in results.get("findings", [])]]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
    """Bars of mean return (95% CI) per world box, one colour per model (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from justask.checkpoint import atomic_write

    summary = results["summary"]["models"]
    boxes = results["boxes"]
    models = list(summary)
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(boxes) + 2), 5))
    for i, model in enumerate(models):
        means = [summary[model].get(b, {}).get("mean", np.nan) for b in boxes]
        lo = [m - summary[model][b]["ci95"][0] if b in summary[model] else 0 for m, b in zip(means, boxes, strict=True)]
        hi = [summary[model][b]["ci95"][1] - m if b in summary[model] else 0 for m, b in zip(means, boxes, strict=True)]
        x = np.arange(len(boxes)) + (i - (len(models) - 1) / 2) * width
        ax.bar(x, means, width, yerr=[lo, hi], label=model, capsize=2)
    ax.set_xticks(np.arange(len(boxes)), boxes)
    ax.set_ylabel("mean return (95% CI)")
    ax.set_title(f"{results['family']}: return per world box (training seeds {results['seeds']})")
    ncol = 4 if max(len(m) for m in models) < 30 else 2
    ax.legend(fontsize=7, ncol=ncol, loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False)
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


def machine(device: str) -> str:
    """Where the run ran, for its report."""
    cores = f"{os.cpu_count()} CPU cores"
    if device.startswith("cuda") or device == "auto":
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name()} (training) and {cores} (collection, evaluation)"
    return cores


def rollout(cfg: Config, suite: WorldSuite, out: Path) -> dict[str, Any]:
    """A GIF of the (last DAgger round's) history model of the first seed in a rewired world of the
    first held-out box: it has to find out how its actions act."""
    from justask.models import load_model
    from justask.report import rollout_gif

    box = list(suite.family.held_out)[0]
    hidden = suite.family.hidden[0]
    seed = next(s for s in range(10_000, 20_000) if suite.family.sample(s, box)[hidden] < 0)
    trained = "history" if not cfg.dagger_rounds else f"history-dagger{cfg.dagger_rounds}"
    model = load_model(out / f"seed{cfg.seeds[0]}" / trained)
    world = suite.family.sample(seed, box)
    return rollout_gif(
        out / "rollout.gif",
        suite.env_id,
        agent_for("history", model, suite, box),
        seed=seed,
        caption=f"history DT, {box}, {hidden} {world[hidden]:+.0f}",
        env_kwargs={"box": box},
        every=4,
    )


def run(cfg: Config, out: Path) -> dict[str, Any]:
    """The comparison (or the self-delusion experiment) over the seeds; one report."""
    started = time.perf_counter()
    suite = suites()[cfg.family]
    results = run_self_delusion(cfg, suite, out) if cfg.self_delusion else run_worlds(cfg, suite, out)
    if cfg.gif and not cfg.self_delusion and "history" in cfg.models:
        results["rollout_gif"] = rollout(cfg, suite, out)
    results["findings"] = findings(results)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["machine"] = machine(cfg.dt_train.device)
    report = write_report(out, results, markdown(results), config=cfg, seeds=cfg.seeds)
    plot(report, out / "returns.png")
    (out / PARTIAL).unlink(missing_ok=True)
    return report


def merge(reports: list[dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    """One report from runs of the same configuration over other seeds, or of other models on the
    same seeds (PPO peers run apart): a later report's row of the same model, box and seed
    replaces an earlier one. Written to ``out_dir`` with its plot."""
    if not reports:
        raise JustAskError("merge needs at least one worlds report")
    kinds = {(r.get("recipe"), r.get("experiment"), r.get("family")) for r in reports}
    if len(kinds) > 1 or next(iter(kinds))[0] != "worlds":
        raise JustAskError(f"merge takes worlds reports of one experiment and family, got {sorted(map(str, kinds))}")
    if any("returns" not in row for part in reports for row in part["rows"]):
        raise JustAskError("merge needs the per-episode returns of every row (reports of this recipe keep them)")
    merged = {k: v for k, v in reports[0].items() if k not in ("provenance", "rollout_gif")}
    merged["rows"] = _merged_rows([part["rows"] for part in reports])
    merged["steering"] = _merged_rows([part.get("steering", []) for part in reports])
    merged["data"] = sorted(
        {d["seed"]: d for part in reports for d in part.get("data", [])}.values(), key=lambda d: d["seed"]
    )
    merged["seeds"] = sorted({seed for part in reports for seed in part["seeds"]})
    merged["seconds"] = max(part["seconds"] for part in reports)  # they ran side by side
    machines = sorted({part.get("machine", "") for part in reports})
    merged["machine"] = " / ".join(machines) + (" (the runs side by side)" if len(reports) > 1 else "")
    merged["summary"] = summarize(merged)
    merged["findings"] = findings(merged)
    commands = [part.get("provenance", {}).get("command", "?") for part in reports]
    config = reports[0].get("provenance", {}).get("config")
    out_dir = Path(out_dir)
    report = write_report(
        out_dir, merged, markdown(merged), config=config, seeds=merged["seeds"], command=" ; ".join(commands)
    )
    plot(report, out_dir / "returns.png")
    return report


def _merged_rows(parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = {(row["model"], row["box"], row["seed"]): row for part in parts for row in part}
    order = {model: i for i, model in enumerate(dict.fromkeys(row["model"] for part in parts for row in part))}
    order["privileged expert"] = len(order)  # the ceiling stays the last row
    return sorted(rows.values(), key=lambda row: (order[row["model"]], row["seed"]))


# ---- the benchmarks: the settings each recorded result in benchmarks/results ran with ------------
def _lunarlander(
    dt_steps: int, *, device: str = "cuda", threads: int = 1, context_len: int = 10, **more: Any
) -> Config:
    """LunarLanderWorlds, no PPO, no GIF (the recorded runs had none), DTs of context ``context_len``."""
    dt_train = dataclasses.replace(_quiet(dt_steps), device=device, threads=threads)
    mlp_train = dataclasses.replace(_quiet(2000), device=device, threads=threads)
    dt = ModelConfig(kind="dt", context_len=context_len, d_model=64, n_layer=2, n_head=1)
    chosen = {"family": "LunarLanderWorlds", "ppo_steps": 0, "gif": False, **more}
    return Config(dt=dt, dt_train=dt_train, mlp_train=mlp_train, **chosen)


PRESETS = {
    # worlds_cartpole: python benchmarks/worlds.py --seeds 0 1 2 --ppo-steps 100000
    "cartpole": Config(seeds=(0, 1, 2), ppo_steps=100_000, gif=False),
    # worlds_cartpole_self_delusion: python benchmarks/worlds.py --self-delusion --seeds 0 1 2 --dt-steps 1500
    "cartpole_self_delusion": Config(
        seeds=(0, 1, 2), self_delusion=True, dt_train=_quiet(1500), ppo_steps=0, gif=False
    ),
    # worlds_lunarlander: --family LunarLanderWorlds --dt-steps 10000 --context-len 10 --device cuda
    # --threads 1, one run per seed 0, 1, 2, merged
    "lunarlander": _lunarlander(10_000, seeds=(0, 1, 2)),
    # worlds_lunarlander_dagger: the same with --dt-steps 8000 --models history --dagger-rounds 2
    "lunarlander_dagger": _lunarlander(8000, seeds=(0, 1, 2), models=("history",), dagger_rounds=2),
    # worlds_lunarlander_noisy: --context-len 10 --dt-steps 8000 --noise 0.3 0.5 0.7 --episodes 2000
    # --threads 1 on the CPU, one run per seed; merged with the PPO peers run apart (--models with
    # none, --ppo-steps 500000): here both in one run
    "lunarlander_noisy": _lunarlander(
        8000,
        device="cpu",
        seeds=(0, 1, 2),
        noise=(0.3, 0.5, 0.7),
        episodes=2000,
        ppo_steps=500_000,
    ),
    # the three single-seed pilots of worlds_lunarlander_pilots (the history DT alone, 4000 steps, CPU, 2 threads)
    "lunarlander_pilot_ctx10": _lunarlander(4000, device="cpu", threads=2, models=("history",)),
    "lunarlander_pilot_ctx30": _lunarlander(4000, device="cpu", threads=2, context_len=30, models=("history",)),
    "lunarlander_pilot_noisy": _lunarlander(4000, device="cpu", threads=2, models=("history",), noise=(0.3, 0.5, 0.7)),
    # worlds_lunarlander_delusion_probe's mistaken-window model (seed 0; the probe evaluates it):
    # --models history --context-len 10 --dt-steps 8000 --noise 0.3 0.5 0.7 --episodes 2000 --mistakes 20 --threads 1
    "lunarlander_mistakes": _lunarlander(
        8000, device="cpu", models=("history",), noise=(0.3, 0.5, 0.7), episodes=2000, mistakes=20
    ),
}

RECIPE = Recipe(
    name="worlds",
    summary="domain randomization: a history model infers its world (CartPole with a hidden actuator sign)",
    config=Config,
    run=run,
    pictures=("returns.png", "rollout.gif"),
    merge=merge,
)
