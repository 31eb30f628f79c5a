"""Domain randomization where the policy infers its world: data, models, DAgger, evaluation.

One model is trained by maximum likelihood on a *distribution* of worlds and asked to act as
each world's expert would; the world is not given, so it has to be read from the history the
model sees. Compared on the same data:

- ``history``: a DT over the last ``context_len`` (observation, action) steps, no world given;
- ``memoryless``: an MLP on the current observation only (cannot tell the worlds apart);
- ``oracle``: an MLP told the true world parameters (the ceiling);
- ``history+world``: a DT whose world condition was withheld in half the training episodes —
  told the world when the user knows it, inferring it when not (evaluated both ways).

Data: the privileged expert with a share of uniformly random actions. What the models learn
(``labels``): ``expert`` — the expert's action in every visited state, while the context shows
the executed ones (the default: a model that learned the noisy executed actions, or only
noiseless expert data, can read its own mistakes as evidence about the world — self-delusion,
Ortega et al. 2021), or ``executed``. ``dagger_rounds``: the history model acts in sampled
worlds, the expert relabels what it visited, and the model is retrained on everything.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from justask.agent import Agent
from justask.collection import collect
from justask.configs import TrainConfig
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.evaluation import EVAL_SEED
from justask.models.policy import PolicyModel
from justask.policies import Policy, noisy
from justask.stats import bootstrap_ci, wilson_ci
from justask.training import model_config_for, train
from justask.worlds import EXPERT_ACTION, MistakenExpert, WorldFamily, with_expert_labels, with_world, world_request

OPTIONAL_WORLD = "world_optional"


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


@dataclasses.dataclass
class WorldsConfig:
    family: str = "CartPoleWorlds"
    episodes: int = 200  # training episodes (split evenly over the noise levels)
    noise: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3)  # shares of uniformly random actions in the data
    labels: str = "expert"  # expert | executed: the actions the models learn
    dagger_rounds: int = 0  # rounds of: history model acts, expert relabels, retrain on all
    dagger_episodes: int = 100  # episodes the model runs per round
    mistakes: int = 0  # > 0: the expert acts for its world's twin in one window of up to this many steps per episode
    context_len: int = 8
    dt_steps: int = 2500
    mlp_steps: int = 2000
    batch_size: int = 64
    world_drop: float = 0.5  # history+world: share of training episodes whose world is withheld
    eval_worlds: int = 100  # fresh worlds per box
    test_noise: float = 0.0  # a share of random actions forced on every evaluated agent (a probe)
    seed: int = 0
    threads: int = 2
    device: str = "cpu"
    models: tuple[str, ...] = ("history", "memoryless", "oracle", "history+world")

    @staticmethod
    def from_values(values: dict[str, Any]) -> WorldsConfig:
        """A config from any mapping holding some of its fields (CLI or argparse values; the
        others are ignored); lists become tuples."""
        names = {f.name for f in dataclasses.fields(WorldsConfig)}
        return WorldsConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names})

    def __post_init__(self) -> None:
        if self.labels not in ("expert", "executed"):
            raise JustAskError(f"labels must be 'expert' or 'executed', got '{self.labels}'")
        unknown = set(self.models) - {"history", "memoryless", "oracle", "history+world"}
        if unknown:
            raise JustAskError(f"unknown world models {sorted(unknown)}")


def world_data(suite: WorldSuite, cfg: WorldsConfig, seed: int, progress: bool = False) -> Episodes:
    """The privileged expert at each noise level in training worlds, with the expert's labels,
    the world column and the optional-world column."""
    space = _action_space(suite)
    per_level = max(1, cfg.episodes // len(cfg.noise))
    population = []
    for eps in cfg.noise:
        expert = MistakenExpert(suite.family, suite.labels_for, cfg.mistakes) if cfg.mistakes else suite.expert("train")
        policy = expert if eps == 0 else noisy(expert, eps, space, name=f"expert-eps{eps:g}")
        population.append((policy, per_level))
    episodes = collect(suite.env_id, population, num_envs=50, seed=seed * 100_000, progress=progress)
    return _relabeled(episodes, suite, cfg, seed)


def _action_space(suite: WorldSuite) -> gym.Space:
    env = gym.make(suite.env_id)
    try:
        return env.action_space
    finally:
        env.close()


def _relabeled(episodes: Episodes, suite: WorldSuite, cfg: WorldsConfig, seed: int) -> Episodes:
    episodes = with_expert_labels(episodes, suite.family, suite.labels_for)
    episodes = with_world(episodes, suite.family)
    return with_world(episodes, suite.family, drop=cfg.world_drop, seed=seed, name=OPTIONAL_WORLD)


def train_model(name: str, data: Episodes, cfg: WorldsConfig, run_dir: Path, seed: int) -> PolicyModel:
    """One of the compared models, trained on ``data``."""
    target = EXPERT_ACTION if cfg.labels == "expert" else None
    dt = {"context_len": cfg.context_len, "d_model": 64, "n_layer": 2, "n_head": 1, "target": target}
    mlp = {"hidden_sizes": [256, 256], "target": target}
    kind, condition, arch = {
        "history": ("dt", None, dt),
        "memoryless": ("mlp", None, mlp),
        "oracle": ("mlp", "world", mlp),
        "history+world": ("dt", OPTIONAL_WORLD, dt),
    }[name]
    config = model_config_for(data, kind, condition, **arch)
    steps = cfg.dt_steps if kind == "dt" else cfg.mlp_steps
    train_cfg = TrainConfig.quiet(steps, cfg.batch_size, seed, cfg.threads, cfg.device)
    return train(data, config, train_cfg, run_dir)


def agent_for(name: str, model: PolicyModel, suite: WorldSuite, box: Any, told: bool = True) -> Agent:
    """The model as a policy for worlds drawn from ``box``: the oracle and a told history+world
    model get each episode's world (recovered from its seed), the others nothing."""
    if name == "oracle" or name == "history+world":

        def request(seeds: np.ndarray) -> np.ndarray:
            worlds = [suite.family.sample(int(s), box) for s in seeds]
            return world_request(suite.family, worlds, told=told or name == "oracle")

        label = name if name == "oracle" else f"{name}/{'told' if told else 'inferred'}"
        return Agent(model, None, request_fn=request, name=label)
    return Agent(model, None, name=name)


def dagger(
    model: PolicyModel, data: Episodes, suite: WorldSuite, cfg: WorldsConfig, out: Path, seed: int
) -> tuple[PolicyModel, Episodes]:
    """``cfg.dagger_rounds`` rounds: the history model acts in fresh training worlds, the expert
    labels every state it visited, the model is retrained (from scratch) on all data so far."""
    for r in range(cfg.dagger_rounds):
        visited = collect(
            suite.env_id,
            [(Agent(model, None, name=f"history-dagger{r}"), cfg.dagger_episodes)],
            num_envs=50,
            seed=seed * 100_000 + 50_000 + r * 1_000,
            progress=False,
        )
        data = Episodes.concatenate([data, _relabeled(visited, suite, cfg, seed + r + 1)])
        model = train_model("history", data, cfg, out / f"history-dagger{r + 1}", seed)
    return model, data


def evaluate_in_box(
    agent: Policy, suite: WorldSuite, box: Any, cfg: WorldsConfig, label_agreement: bool = False
) -> dict[str, Any]:
    """``cfg.eval_worlds`` fresh worlds of ``box``: mean return (bootstrap 95% CI), success
    (Wilson 95% CI) and, with ``label_agreement``, how fast the agent acts as the expert would."""
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
    return row


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


def run_worlds(
    cfg: WorldsConfig, out: Path, seeds: list[int], ppo_steps: int = 0, progress: bool = True
) -> dict[str, Any]:
    """The comparison over ``seeds`` (training seeds), every model in every box; PPO peers
    (memoryless and 4-stacked observations) at ``ppo_steps`` env steps when > 0."""
    from tqdm.auto import tqdm

    suite = suites().get(cfg.family)
    if suite is None:
        raise JustAskError(f"unknown world family '{cfg.family}' (known: {', '.join(suites())})")
    boxes = suite.family.box_names
    results: dict[str, Any] = {
        "config": dataclasses.asdict(cfg),
        "seeds": seeds,
        "boxes": boxes,
        "success_return": suite.success_return,
        "rows": [],
    }
    bar = tqdm(total=len(seeds), desc=f"worlds {cfg.family}", unit="seed", disable=not progress)
    for seed in seeds:
        data = world_data(suite, cfg, seed)
        results.setdefault("data", []).append(
            {
                "seed": seed,
                "episodes": data.num_episodes,
                "steps": data.num_steps,
                "mean_return": float(data.returns().mean()),
            }
        )
        agents: dict[str, list[Policy]] = {}
        for name in cfg.models:
            model = train_model(name, data, cfg, out / f"seed{seed}" / name, seed)
            if name == "history" and cfg.dagger_rounds:
                model, _ = dagger(model, data, suite, cfg, out / f"seed{seed}", seed)
            agents[name] = [model]
        if ppo_steps > 0:
            agents.update(_ppo_peers(suite, ppo_steps, seed, out))
        for name, (model_or_policy, *_) in agents.items():
            for box in boxes:
                variants = [(name, model_or_policy)]
                if isinstance(model_or_policy, PolicyModel):
                    variants = [(name, agent_for(name, model_or_policy, suite, box))]
                    if name == "history+world":
                        variants = [
                            (f"{name}/told", agent_for(name, model_or_policy, suite, box, told=True)),
                            (f"{name}/inferred", agent_for(name, model_or_policy, suite, box, told=False)),
                        ]
                for label, policy in variants:
                    row = evaluate_in_box(policy, suite, box, cfg, label_agreement=label.startswith("history"))
                    results["rows"].append({"model": label, "box": box, "seed": seed, **row})
        expert = suite.expert
        for box in boxes:
            row = evaluate_in_box(expert(box), suite, box, cfg)
            results["rows"].append({"model": "privileged expert", "box": box, "seed": seed, **row})
        bar.update(1)
        (out / "worlds_partial.json").write_text(json.dumps(results, indent=2) + "\n")
    bar.close()
    results["summary"] = summarize(results)
    return results


def _ppo_peers(suite: WorldSuite, steps: int, seed: int, out: Path) -> dict[str, list[Policy]]:
    from justask.peers.sb3_peer import SB3Policy, StackedSB3Policy, train_ppo

    peers: dict[str, list[Policy]] = {}
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
        peers[name] = [SB3Policy(model, name=name) if stack == 1 else StackedSB3Policy(model, stack, name=name)]
    return peers


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Per model and box: the mean over training seeds of each seed's mean return and success,
    a bootstrap 95% CI of the mean return over all evaluated episodes of all seeds, a Wilson 95%
    CI of the pooled success rate; and the gap closure per box:
    (history - memoryless) / (oracle - memoryless)."""
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
            if "steps_to_agree_median" in mine[0]:
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
    return {"models": out, "gap_closure": gap}


def _pooled_wilson(rows: list[dict[str, Any]]) -> list[float]:
    wins = sum(round(r["success"] * r["episodes"]) for r in rows)
    total = sum(r["episodes"] for r in rows)
    return list(wilson_ci(int(wins), int(total)))


SELF_DELUSION_REGIMES = {
    # name: (noise levels in the data, labels learned, DAgger rounds)
    "noiseless data": ((0.0,), "executed", 0),
    "noisy data, expert labels": ((0.0, 0.1, 0.2, 0.3), "expert", 0),
    "noiseless data + 3 DAgger rounds": ((0.0,), "expert", 3),
}


def run_self_delusion(
    cfg: WorldsConfig, out: Path, seeds: list[int], probes: tuple[float, ...] = (0.0, 0.1), progress: bool = True
) -> dict[str, Any]:
    """The history model trained three ways (``SELF_DELUSION_REGIMES``), each evaluated in every
    box as it is and with a share ``probe`` of its actions replaced by random ones: a model that
    reads its own actions as evidence about the world is derailed by its mistakes."""
    from tqdm.auto import tqdm

    suite = suites()[cfg.family]
    boxes = suite.family.box_names
    results: dict[str, Any] = {
        "config": dataclasses.asdict(cfg),
        "seeds": seeds,
        "boxes": boxes,
        "probes": list(probes),
        "success_return": suite.success_return,
        "regimes": {
            k: {"noise": v[0], "labels": v[1], "dagger_rounds": v[2]} for k, v in SELF_DELUSION_REGIMES.items()
        },
        "rows": [],
    }
    bar = tqdm(total=len(seeds) * len(SELF_DELUSION_REGIMES), desc="self-delusion", unit="model", disable=not progress)
    for seed in seeds:
        for regime, (noise, labels, rounds) in SELF_DELUSION_REGIMES.items():
            rcfg = dataclasses.replace(cfg, noise=noise, labels=labels, dagger_rounds=rounds, models=("history",))
            folder = out / f"seed{seed}" / regime.replace(" ", "-").replace(",", "")
            data = world_data(suite, rcfg, seed)
            model = train_model("history", data, rcfg, folder / "history", seed)
            if rounds:
                model, _ = dagger(model, data, suite, rcfg, folder, seed)
            for probe in probes:
                pcfg = dataclasses.replace(rcfg, test_noise=probe)
                for box in boxes:
                    row = evaluate_in_box(
                        agent_for("history", model, suite, box), suite, box, pcfg, label_agreement=True
                    )
                    results["rows"].append(
                        {"model": f"{regime} | test noise {probe:g}", "box": box, "seed": seed, **row}
                    )
            bar.update(1)
            (out / "self_delusion_partial.json").write_text(json.dumps(results, indent=2) + "\n")
    bar.close()
    results["summary"] = summarize(results)
    return results
