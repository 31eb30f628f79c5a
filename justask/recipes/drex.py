"""D-REX (Brown et al. 2019): a reward from unlabeled, suboptimal demonstrations, and a policy
better than the demonstrator.

demos (rewards never read) -> BC -> rollouts of BC with injected noise (epsilon levels) ->
automatic ranking (less noise ranks higher; the demos above all, or left out) -> reward network
fitted with the T-REX loss -> learned reward r̂ -> (1) relabel every collected episode with learned
return-to-go, train a return-conditioned model, ask for a high learned return (and the steering
control: each episode asked a learned return drawn like the data's); (2) SB3 PPO on r̂. True
returns are used only to report.

The defaults are the quick demo (one seed, about 4 minutes on 2 CPU cores); the benchmark is the
same recipe at larger budgets over three seeds, one preset per env (``benchmarks/run.py drex
--preset benchmark`` and ``--preset benchmark-continuous``; ``--merge`` makes one table of both).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from justask.asking import ask
from justask.checkpoint import CONFIG_FILE, MODEL_FILE, atomic_write
from justask.collection import collect
from justask.configs import TrainConfig, seed_tuple, whole_numbers
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.evaluation import EvalResult, check_spaces, evaluate, steering, steering_line
from justask.minari_io import load_minari, save_minari
from justask.models.config import ModelConfig
from justask.models.policy import PolicyModel
from justask.policies import RandomPolicy, noisy
from justask.recipes import Recipe
from justask.relabel import return_to_go
from justask.report import plot_agents, results_table, write_report
from justask.rewards import (
    RANKER_TRAINING,
    GuardedReward,
    LearnedReward,
    RewardConfig,
    fit_offset,
    preference_pairs,
    ranks_from_metadata,
    train_reward,
)
from justask.stats import bootstrap_ci
from justask.suites.lunar_lander import DEMONSTRATORS, LunarLanderExpert, mediocre_demonstrator
from justask.training import train

LEARNED_RTG = "learned_return_to_go"
DEMOS_RANKS = ("out", "top")


@dataclasses.dataclass
class Config:
    """D-REX: learn a reward from ranked noise-injected rollouts of behaviour cloning, then a
    policy from that reward; the defaults are the quick demo (seed 0, about 4 minutes on 2 CPU cores)."""

    out: str = "runs/drex"
    """Run folder: report.md/json, pictures, and per seed its demonstrations and trained models (seed<N>/bc, /reward, /policy, /policy-round<K>)."""
    seeds: tuple[int, ...] = (0,)
    """Seeds; each seeds its data (episode seeds from seed x 100000) and its training."""
    env_id: str = "LunarLander-v3"
    """LunarLander-v3 or LunarLanderContinuous-v3 (the built-in demonstrator and held-out experts are LunarLander's)."""
    demos: str = ""
    """Minari dataset of demonstrations (rewards never read); empty: the built-in demonstrator."""
    demonstrator: str = "trigger-happy"
    """Built-in demonstrator: trigger-happy (hovers, never lands), hard-lander (crashes), hoverer."""
    demo_episodes: int = 20
    """Demonstrations to make with the built-in demonstrator."""
    bc: ModelConfig = dataclasses.field(default_factory=lambda: ModelConfig(kind="mlp"))
    """Behaviour cloning on the demonstrations."""
    bc_train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=3000, batch_size=256, threads=2)
    )
    """How BC is fitted (its seed is each of --seeds)."""
    noise_levels: tuple[float, ...] = (0.02, 0.25, 0.5, 0.75, 1.0)
    """Epsilons of the noise injected into BC (at least 2, in [0, 1]); less noise ranks higher."""
    demos_rank: str = "out"
    """The demonstrations in the ranking: out (only BC's rollouts ranked) or top (above them all)."""
    episodes_per_noise: int = 20
    """Rollouts of BC per noise level."""
    reward: RewardConfig = dataclasses.field(default_factory=lambda: RewardConfig(ensemble=3))
    """The reward network (its absorbing_horizon comes from --absorbing)."""
    reward_train: TrainConfig = dataclasses.field(
        default_factory=lambda: dataclasses.replace(RANKER_TRAINING, threads=2)
    )
    """How the reward is fitted with the T-REX loss (its seed is each of --seeds)."""
    absorbing: bool = True
    """A terminated episode runs on to the env's time limit in its final state (see rewards.py)."""
    policy: ModelConfig = dataclasses.field(
        default_factory=lambda: ModelConfig(kind="mlp", action_tokens=False, condition_token=False)
    )
    """The return-conditioned model on learned returns: mlp (RvS), or dt (the earlier D-REX DT: --policy.kind dt --policy-train.batch-size 64; its context is --policy.context-len, 10)."""
    policy_train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=6000, batch_size=256, threads=2)
    )
    """How the policy (and each improvement round's) is fitted (its seed is each of --seeds)."""
    improve_rounds: int = 0
    """Rounds of: ask for the best learned return, collect, relabel with r̂, refit."""
    ppo_steps: int = 0
    """Env steps for SB3 PPO on the learned and on the true reward (0: skip)."""
    ppo_pessimism: float = 1.0
    """PPO's reward: r̂ minus this many ensemble standard deviations."""
    ppo_threads: int = 2
    """CPU threads for torch while PPO trains."""
    heldout_episodes: int = 30
    """Held-out rollouts per source for the reward diagnostics."""
    eval_episodes: int = 300
    """Evaluation episodes per agent and action rule (and for the steering control)."""
    num_envs: int = 100
    """Envs stepped together."""
    overwrite: bool = False
    """Replace an existing run folder."""

    def __post_init__(self) -> None:
        self.seeds = seed_tuple(self.seeds)
        try:
            self.noise_levels = tuple(sorted({float(x) for x in self.noise_levels}))
        except (TypeError, ValueError):
            raise JustAskError(f"noise_levels must be numbers, got {list(self.noise_levels)}") from None
        if len(self.noise_levels) < 2 or not all(0 <= e <= 1 for e in self.noise_levels):
            raise JustAskError(
                f"D-REX needs at least 2 different noise levels in [0, 1] to rank rollouts, got {list(self.noise_levels)}"
            )
        if not self.env_id.startswith("LunarLander"):
            raise JustAskError(
                f"the D-REX recipe ships a demonstrator and held-out experts for LunarLander only, not {self.env_id}"
            )
        if self.demonstrator not in DEMONSTRATORS:
            raise JustAskError(f"unknown demonstrator '{self.demonstrator}' (choose from {', '.join(DEMONSTRATORS)})")
        if self.demos_rank not in DEMOS_RANKS:
            raise JustAskError(f"demos_rank must be top or out, got '{self.demos_rank}'")
        if self.reward.absorbing_horizon != 0:
            raise JustAskError(
                "reward.absorbing_horizon is set from the env's time limit: use --absorbing / --no-absorbing"
            )
        whole_numbers(self, 1, "demo_episodes", "episodes_per_noise", "heldout_episodes", "eval_episodes", "num_envs")
        whole_numbers(self, 0, "improve_rounds", "ppo_steps", "ppo_threads")
        pessimism = self.ppo_pessimism
        if isinstance(pessimism, bool) or not isinstance(pessimism, (int, float)) or not math.isfinite(pessimism):
            raise JustAskError(f"ppo_pessimism must be a finite number >= 0, got {pessimism!r}")
        if pessimism < 0:
            raise JustAskError(f"ppo_pessimism must be a finite number >= 0, got {pessimism!r}")


def _log(message: str) -> None:
    print(message, flush=True)


# ---- the run ------------------------------------------------------------------------------------
def run(cfg: Config, out: Path) -> dict[str, Any]:
    """Every seed: demonstrations, BC, noisy rollouts, reward, policies, evaluation; one report."""
    started = time.perf_counter()
    per_seed = {str(seed): run_seed(cfg, seed, out / f"seed{seed}") for seed in cfg.seeds}
    setup = setup_of(cfg)
    report: dict[str, Any] = {"recipe": "drex", "env_id": cfg.env_id, "setup": setup, "per_seed": per_seed}
    if len(per_seed) > 1:
        report["pooled"] = pooled_rows(list(per_seed.values()), setup["model"])
        report["findings"] = pooled_findings(cfg.env_id, per_seed, report["pooled"])
    else:
        report["findings"] = next(iter(per_seed.values()))["findings"]
    report["seconds"] = round(time.perf_counter() - started, 1)
    rows = report["pooled"] if len(per_seed) > 1 else next(iter(per_seed.values()))["agents"]
    over = f"pooled over seeds {', '.join(per_seed)}" if len(per_seed) > 1 else f"seed {cfg.seeds[0]}"
    plot_agents(out / "agents.png", rows, title=f"{cfg.env_id}: D-REX (true returns, {over})")
    plot_extrapolation(out / "reward_extrapolation.png", {f"{cfg.env_id}, seed {s}": r for s, r in per_seed.items()})
    return write_report(out, report, markdown(report), config=cfg, seeds=cfg.seeds)


def setup_of(cfg: Config) -> dict[str, Any]:
    """What a report's reader needs to know of the settings (the full config is in its provenance)."""
    return {
        "demonstrator": cfg.demonstrator if not cfg.demos else None,
        "demos": cfg.demos or None,
        "demo_episodes": cfg.demo_episodes,
        "noise_levels": list(cfg.noise_levels),
        "episodes_per_noise": cfg.episodes_per_noise,
        "demos_rank": cfg.demos_rank,
        "absorbing": cfg.absorbing,
        "model": cfg.policy.kind.upper(),
        "ppo_steps": cfg.ppo_steps,
        "eval_episodes": cfg.eval_episodes,
    }


def run_seed(cfg: Config, seed: int, folder: Path) -> dict[str, Any]:
    """One seed, top to bottom: each phase's seconds and env steps are recorded."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    env_steps: dict[str, int] = {}
    folder.mkdir(parents=True, exist_ok=True)
    _, action_space = _spaces(cfg.env_id)

    # ---- demonstrations (rewards never read), BC, then BC with noise --------------------------
    t0 = time.perf_counter()
    demos, source = demonstrations(cfg, seed, folder)
    demo_returns = demos.returns()  # for the report only
    demos_seen = without_rewards(demos)
    bc = train(demos_seen, cfg.bc, dataclasses.replace(cfg.bc_train, seed=seed), folder / "bc", dataset=source)
    population = [
        (noisy(ask(bc, action_rule="argmax"), eps, action_space, name=f"bc+eps{eps:g}"), cfg.episodes_per_noise)
        for eps in cfg.noise_levels
    ]
    rollouts = collect(cfg.env_id, population, num_envs=cfg.num_envs, seed=seed * 100_000 + 10_000)
    env_steps["noise_rollouts"] = rollouts.num_steps
    timings["demos_bc_rollouts_s"] = time.perf_counter() - t0
    _log(
        f"BC rollouts at noise {list(cfg.noise_levels)}: {rollouts.num_episodes} episodes, {rollouts.num_steps} env steps"
    )

    # ---- rank automatically and fit the reward ----------------------------------------------
    t0 = time.perf_counter()
    ranked, ranks = ranking(demos_seen, rollouts, cfg.demos_rank)
    horizon = _time_limit(cfg.env_id) if cfg.absorbing else 0
    reward_dir = folder / "reward"
    reward, reward_log = fit_reward(cfg, seed, ranked, preference_pairs(ranks), horizon, reward_dir)
    timings["reward_s"] = time.perf_counter() - t0

    # ---- does r̂ extrapolate? held-out rollouts, worse and better than the demos --------------
    t0 = time.perf_counter()
    heldout, predicted, diagnostics = reward_diagnostics(cfg, seed, reward, demo_returns)
    labels = [m["policy"] for m in heldout.metadata]
    timings["diagnostics_s"] = time.perf_counter() - t0
    _log(
        f"learned vs true return on held-out rollouts: Spearman {diagnostics['spearman']:.2f}, "
        f"Pearson {diagnostics['pearson']:.2f}"
    )

    # ---- (1) generalize then infer: learned returns as the condition --------------------------
    t0 = time.perf_counter()
    experience = Episodes.concatenate([_plain(demos), _plain(rollouts)])
    policy_dir = folder / "policy"
    policy, relabeled, episode_learned = fit_policy(cfg, seed, experience, reward, reward_dir, policy_dir, source)
    # Learned policy improvement: act for the highest learned return seen so far, with some
    # exploration noise, add what happened to the data, relabel with r̂, fit again.
    for round_ in range(1, cfg.improve_rounds + 1):
        new = improvement_rollouts(cfg, seed, round_, policy, float(episode_learned.max()), reward, action_space)
        env_steps[f"improve_round{round_}"] = new.num_steps
        experience = Episodes.concatenate([experience, _plain(new)])
        policy_dir = folder / f"policy-round{round_}"
        policy, relabeled, episode_learned = fit_policy(cfg, seed, experience, reward, reward_dir, policy_dir, source)
    timings["policy_s"] = time.perf_counter() - t0

    # ---- (2) direct optimisation of r̂, and of the true reward --------------------------------
    ppo_models = ppo_peers(cfg, seed, reward, ranked, horizon, timings, env_steps)

    # ---- evaluate (true returns), and does the request steer? ---------------------------------
    t0 = time.perf_counter()
    torch.set_num_threads(1)  # acting is many small forward passes; leave a core to the envs
    expert = heldout.select([i for i, n in enumerate(labels) if n.startswith("expert")])
    rows: list[EvalResult] = [
        EvalResult("demonstrations (true return)", None, None, demo_returns, demos.lengths.copy()),
        EvalResult.from_episodes("held-out: expert (never shown)", expert),
    ]
    high = float(episode_learned.max())
    model_label = f"D-REX-{cfg.policy.kind.upper()}"
    asked_best = evaluate_agents(cfg, bc, policy, model_label, high, reward, ppo_models, rows)
    timings["evaluate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rule = max(asked_best, key=lambda k: asked_best[k].mean)
    control = steering(
        cfg.env_id,
        policy,
        None,
        episodes=cfg.eval_episodes,
        num_envs=cfg.num_envs,
        action_rule=rule,
        asked=asked_best[rule],
        reward_fn=reward,
    )
    steering_name = f"steering {model_label} asked best (vs each episode asked a learned return drawn like the data's)"
    _log(steering_line(steering_name, control))
    timings["steering_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - started

    table = [{**r.to_json(), "returns": [round(float(x), 2) for x in r.returns]} for r in rows]
    best_demo = float(demo_returns.max())
    spec = policy.io.condition
    assert spec is not None and spec.best is not None
    seed_report = {
        "demonstrations": {
            "source": source,
            "episodes": demos.num_episodes,
            "mean_return": float(demo_returns.mean()),
            "ci95": list(bootstrap_ci(demo_returns)),
            "best_return": best_demo,
        },
        "reward": {
            **reward_log,
            "diagnostics": diagnostics,
            "heldout": {
                "true": [round(float(x), 2) for x in heldout.returns()],
                "predicted": [round(float(x), 3) for x in predicted],
                "source": labels,
            },
        },
        "asked_learned_return": {
            "best": spec.best[0],
            "high": high,
            "scale": relabeled.condition_info[LEARNED_RTG]["scale"],
        },
        "env_steps": env_steps,
        "agents": table,
        "steering": control,
        "findings": [
            *seed_findings(table, best_demo, diagnostics, model_label),
            steering_line(steering_name, control),
        ],
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "models": {"bc": str(folder / "bc"), "reward": str(reward_dir), "policy": str(policy_dir)},
    }
    plot_agents(folder / "agents.png", table, title=f"{cfg.env_id}: D-REX (true returns, seed {seed})")
    plot_extrapolation(folder / "reward_extrapolation.png", {f"{cfg.env_id}, seed {seed}": seed_report})
    return seed_report


def demonstrations(cfg: Config, seed: int, folder: Path) -> tuple[Episodes, str]:
    """The demonstrations and where they came from: ``cfg.demos``, or the built-in demonstrator's
    episodes (seeds from ``seed`` x 100000), saved as a Minari dataset under ``folder``."""
    if cfg.demos:
        demos, source = load_minari(cfg.demos), cfg.demos
    else:
        continuous = isinstance(_spaces(cfg.env_id)[1], gym.spaces.Box)
        demonstrator = mediocre_demonstrator(continuous, cfg.demonstrator)
        demos = collect(
            cfg.env_id, [(demonstrator, cfg.demo_episodes)], num_envs=cfg.demo_episodes, seed=seed * 100_000
        )
        source = str(save_minari(demos, folder.resolve() / "demos", description="justask D-REX demonstrations"))
    check_demos(demos, cfg.env_id, source)
    _log(f"seed {seed}: demonstrations: {demos.num_episodes} episodes from {source}")
    return demos, source


def fit_reward(
    cfg: Config, seed: int, ranked: Episodes, pairs: np.ndarray, horizon: int, reward_dir: Path
) -> tuple[LearnedReward, dict[str, Any]]:
    """r̂ fitted to the ranked pairs (T-REX) into ``reward_dir``, then anchored (see below)."""
    reward_cfg = dataclasses.replace(cfg.reward, absorbing_horizon=horizon)
    train_cfg = dataclasses.replace(cfg.reward_train, seed=seed)
    reward, log = train_reward(ranked, pairs, reward_dir, reward_cfg, train_cfg)
    _log(f"reward: {len(pairs)} ranked pairs, snippet accuracy {log['final_snippet_accuracy']:.2f}")
    # T-REX compares snippets of equal length, so r̂ is defined only up to a per-step constant,
    # and without absorbing states the constant decides how episode length counts (mean-centred
    # r̂ taught PPO to crash at once in a pilot; anchored at its minimum, random flailing
    # outscored the demonstrations). Fit it to the whole-episode preferences, which differ in
    # length; with absorbing states every episode spans the horizon and it comes out 0.
    anchor, whole_episode_accuracy = fit_offset(reward, ranked, pairs)
    reward.offset.fill_(anchor)
    reward.save(reward_dir)  # r̂(observations, actions) -> (N,), anchored
    return reward, {**log, "whole_episode_pair_accuracy": whole_episode_accuracy, "anchor": anchor}


def fit_policy(
    cfg: Config,
    seed: int,
    data: Episodes,
    reward: LearnedReward,
    reward_dir: Path,
    run_dir: Path,
    source: str,
) -> tuple[PolicyModel, Episodes, np.ndarray]:
    """The return-conditioned model on ``data`` relabeled with r̂'s return-to-go, that data and
    each episode's learned return ``(E,)``; the reward is copied beside the model (its requests
    are counted down by r̂)."""
    learned = reward.step_rewards(data)
    relabeled = relabel_learned(data, learned)
    policy_train = dataclasses.replace(cfg.policy_train, seed=seed)
    model = train(relabeled, cfg.policy, policy_train, run_dir, condition=LEARNED_RTG, dataset=source)
    copy_reward(reward_dir, run_dir / "reward")
    return model, relabeled, _episode_sums(data, learned)


def improvement_rollouts(
    cfg: Config,
    seed: int,
    round_: int,
    policy: PolicyModel,
    high: float,
    reward: LearnedReward,
    action_space: gym.Space,
) -> Episodes:
    """The policy asked for ``high`` (the highest learned return of its data), with exploration noise."""
    asking = [
        (
            noisy(
                ask(policy, high, action_rule="sample", reward_fn=reward),
                eps,
                action_space,
                name=f"round{round_}+eps{eps:g}",
            ),
            cfg.episodes_per_noise,
        )
        for eps in (0.0, 0.1, 0.3)
    ]
    new = collect(cfg.env_id, asking, num_envs=cfg.num_envs, seed=seed * 100_000 + 20_000 + 1000 * round_)
    new_learned = _episode_sums(new, reward.step_rewards(new))
    _log(
        f"round {round_}: asked {high:.1f}, got learned returns {new_learned.mean():.1f} "
        f"(max {new_learned.max():.1f}), true {new.returns().mean():.1f}"
    )
    return new


def ppo_peers(
    cfg: Config,
    seed: int,
    reward: LearnedReward,
    ranked: Episodes,
    horizon: int,
    timings: dict[str, float],
    env_steps: dict[str, int],
) -> dict[str, Any]:
    """SB3 PPO on the guarded r̂ and on the true reward (none when ``cfg.ppo_steps`` is 0); their
    seconds and env steps are added to ``timings`` and ``env_steps``."""
    if cfg.ppo_steps == 0:
        return {}
    from justask.peers.sb3_peer import train_ppo

    if cfg.ppo_threads > 0:
        torch.set_num_threads(cfg.ppo_threads)
    guarded = GuardedReward.fit(reward, ranked, pessimism=cfg.ppo_pessimism)  # see GuardedReward
    models = {}
    for label, fn in (("PPO on learned reward", guarded), ("PPO on true reward", None)):
        t0 = time.perf_counter()
        models[label] = train_ppo(
            cfg.env_id,
            cfg.ppo_steps,
            seed=seed,
            reward_fn=fn,
            reward_scale=guarded.scale if fn else 1.0,
            absorbing_fn=guarded.absorbing if fn else None,
            horizon=horizon,
        )
        timings[f"{label}_s"] = time.perf_counter() - t0
        env_steps[label] = cfg.ppo_steps
        _log(f"trained {label} for {cfg.ppo_steps} env steps in {timings[f'{label}_s']:.0f} s")
    return models


def evaluate_agents(
    cfg: Config,
    bc: PolicyModel,
    policy: PolicyModel,
    model_label: str,
    high: float,
    reward: LearnedReward,
    ppo_models: dict[str, Any],
    rows: list[EvalResult],
) -> dict[str, EvalResult]:
    """Every agent with both action rules on the same episodes, appended to ``rows``; returns the
    policy asked its best learned return, per action rule."""
    from justask.peers.sb3_peer import SB3Policy

    def run_agent(agent: Any, name: str) -> EvalResult:
        r = evaluate(cfg.env_id, agent, episodes=cfg.eval_episodes, num_envs=cfg.num_envs, name=name)
        _log(f"  {name:<40} {r.mean:8.1f}  [{r.ci95[0]:.1f}, {r.ci95[1]:.1f}]")
        rows.append(r)
        return r

    asked_best = {}
    for rule in ("argmax", "sample"):
        run_agent(ask(bc, action_rule=rule), f"BC/{rule}")
        asked_best[rule] = run_agent(
            ask(policy, action_rule=rule, reward_fn=reward), f"{model_label} asked best/{rule}"
        )
        run_agent(ask(policy, high, action_rule=rule, reward_fn=reward), f"{model_label} asked high/{rule}")
        for label, model in ppo_models.items():
            run_agent(SB3Policy(model, rule, name=label), f"{label}/{rule}")
    return asked_best


# ---- the pieces ---------------------------------------------------------------------------------
def check_demos(demos: Episodes, env_id: str, source: str) -> None:
    """Demonstrations must fit the env and be enough to rank against."""
    check_spaces(env_id, demos.observation_space, demos.action_space, f"demonstrations {source}")
    if demos.num_episodes < 2:
        raise JustAskError(
            f"demonstrations {source}: {demos.num_episodes} episode(s); D-REX needs at least 2 "
            "(behaviour cloning on them, and rollouts ranked against them)"
        )
    if len(np.unique(demos.lengths)) == 1 and demos.num_episodes > 1:
        _log(
            f"note: all {demos.num_episodes} demonstrations last {demos.lengths[0]} steps; if they were cut at a "
            "time limit the ranking cannot use how quickly they finished — D-REX works best with whole episodes"
        )


def without_rewards(episodes: Episodes) -> Episodes:
    """The same episodes with rewards zeroed: what the learner is allowed to see."""
    return dataclasses.replace(episodes, rewards=np.zeros_like(episodes.rewards))


def ranking(demos_seen: Episodes, rollouts: Episodes, demos_rank: str) -> tuple[Episodes, np.ndarray]:
    """The ranked episodes and their ranks (higher is better): less noise ranks higher; the
    demonstrations rank above every rollout ("top"), or stay out of the ranking ("out": BC can
    beat its teacher when its argmax strips the teacher's noise, and then "demos above all" ranks
    the better behaviour below the worse)."""
    noise_ranks = ranks_from_metadata(rollouts, "noise_eps")
    if demos_rank == "top":
        ranked = Episodes.concatenate([_plain(demos_seen), _plain(without_rewards(rollouts))])
        return ranked, np.concatenate([np.full(demos_seen.num_episodes, 1.0), noise_ranks])
    if demos_rank == "out":
        return _plain(without_rewards(rollouts)), noise_ranks
    raise JustAskError(f"demos_rank must be top or out, got '{demos_rank}'")


def relabel_learned(data: Episodes, learned: np.ndarray) -> Episodes:
    """``data`` with rewards hidden and the learned return-to-go as its condition; the model reads
    it divided by the spread of the episodes' learned returns."""
    return return_to_go(
        without_rewards(data),
        scale=float(np.std(_episode_sums(data, learned))) or 1.0,
        name=LEARNED_RTG,
        rewards=learned,
        reward="learned",
    )


def copy_reward(reward_dir: Path, target: Path) -> None:
    """The learned reward's run files (config and anchored weights) beside a policy, so that
    ``justask ask``/``eval`` can count its requests down by the same r̂ (``LearnedReward.load``)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG_FILE, MODEL_FILE):
        shutil.copyfile(reward_dir / name, target / name)


def _spaces(env_id: str) -> tuple[gym.Space, gym.Space]:
    from justask.envs import env_spaces

    if not env_id.startswith("LunarLander"):
        raise JustAskError(
            f"the D-REX recipe ships a demonstrator and held-out experts for LunarLander only, not {env_id}"
        )
    return env_spaces(env_id)


def reward_diagnostics(
    cfg: Config, seed: int, reward: LearnedReward, demo_returns: np.ndarray
) -> tuple[Episodes, np.ndarray, dict[str, Any]]:
    """Held-out rollouts that span worse and better than the demonstrations (the never-shown
    expert, the demonstrator, it with noise, random), r̂'s return of each, and how those
    correlate with the true ones. Deterministic in ``seed``, so a saved run's reward can be re-checked
    (``LearnedReward.load(RUN/seed<N>/reward)``)."""
    continuous = cfg.env_id.startswith("LunarLanderContinuous")
    _, action_space = _spaces(cfg.env_id)
    sources = [
        LunarLanderExpert(continuous=continuous, name="expert (never shown)"),
        mediocre_demonstrator(continuous, cfg.demonstrator),
        noisy(mediocre_demonstrator(continuous, cfg.demonstrator), 0.5, action_space, name="demonstrator+eps0.5"),
        RandomPolicy(action_space),
    ]
    heldout = collect(
        cfg.env_id,
        [(p, cfg.heldout_episodes) for p in sources],
        num_envs=cfg.num_envs,
        seed=seed * 100_000 + 50_000,
    )
    predicted = _episode_sums(heldout, reward.step_rewards(heldout))
    labels = [m["policy"] for m in heldout.metadata]
    return heldout, predicted, _correlations(heldout.returns(), predicted, labels, demo_returns)


def _time_limit(env_id: str) -> int:
    spec = gym.spec(env_id)
    if not spec.max_episode_steps:
        raise JustAskError(f"{env_id} has no time limit: absorbing states need one (or pass --no-absorbing)")
    return int(spec.max_episode_steps)


def _plain(episodes: Episodes) -> Episodes:
    """Drop condition columns so collections from different places concatenate."""
    return dataclasses.replace(episodes, conditions={}, condition_info={})


def _episode_sums(episodes: Episodes, per_step: np.ndarray) -> np.ndarray:
    return np.add.reduceat(np.asarray(per_step, dtype=np.float64), episodes.episode_starts)


def _correlations(
    true: np.ndarray, predicted: np.ndarray, labels: list[str], demo_returns: np.ndarray
) -> dict[str, Any]:
    from scipy.stats import pearsonr, spearmanr

    better = true > demo_returns.max()
    out: dict[str, Any] = {
        "episodes": int(len(true)),
        "spearman": float(spearmanr(true, predicted).statistic),
        "pearson": float(pearsonr(true, predicted).statistic),
        "episodes_better_than_best_demo": int(better.sum()),
        "per_source": {},
    }
    # the random policy's returns spread far below the rest and alone make a high Spearman easy
    others = np.array([not n.startswith("random") for n in labels])
    if others.sum() > 2 and not others.all():
        out["spearman_without_random"] = float(spearmanr(true[others], predicted[others]).statistic)
    for name in dict.fromkeys(labels):
        idx = [i for i, n in enumerate(labels) if n == name]
        out["per_source"][name] = {
            "true_mean": float(true[idx].mean()),
            "predicted_mean": float(predicted[idx].mean()),
        }
    return out


# ---- findings -----------------------------------------------------------------------------------
def _verdict(ci95: Any, best_demo: float) -> str:
    lo, hi = ci95
    return "above" if lo > best_demo else "below" if hi < best_demo else "level with (CI covers)"


def _diagnostics_line(diag: dict[str, Any]) -> str:
    return (
        f"learned vs true return on {diag['episodes']} held-out rollouts ({diag['episodes_better_than_best_demo']} "
        f"better than the best demo): Spearman {diag['spearman']:.2f}, Pearson {diag['pearson']:.2f}"
        + (
            f" (Spearman without the random policy's rollouts {diag['spearman_without_random']:.2f})"
            if "spearman_without_random" in diag
            else ""
        )
    )


def agent_prefixes(model: str) -> tuple[str, ...]:
    """The learned agents of a report, each evaluated with both action rules."""
    return (
        "BC",
        f"D-REX-{model} asked best",
        f"D-REX-{model} asked high",
        "PPO on learned reward",
        "PPO on true reward",
    )


def seed_findings(rows: list[dict[str, Any]], best_demo: float, diag: dict[str, Any], model_label: str) -> list[str]:
    """Statements read off one seed's numbers (each agent at its better action rule)."""
    out = [_diagnostics_line(diag)]
    for prefix in agent_prefixes(model_label.removeprefix("D-REX-")):
        mine = [r for r in rows if r["name"].startswith(prefix + "/")]
        if not mine:
            continue
        r = max(mine, key=lambda r: r["mean"])
        out.append(
            f"{prefix} ({r['action_rule']}): {r['mean']:.1f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}] — "
            f"{_verdict(r['ci95'], best_demo)} the best demonstration ({best_demo:.1f})"
        )
    return out


def pooled(runs: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """One agent's evaluation episodes over the seeds' runs, pooled."""
    rows = [a for run in runs for a in run["agents"] if a["name"] == name]
    if not rows:
        return None
    returns = np.concatenate([a["returns"] for a in rows])
    lo, hi = bootstrap_ci(returns)
    return {
        "name": name,
        "condition": None,
        "action_rule": rows[0].get("action_rule"),
        "mean": round(float(returns.mean()), 2),
        "ci95": [round(lo, 2), round(hi, 2)],
        "episodes": int(len(returns)),
    }


def pooled_rows(runs: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    """The demonstrations, each learned agent at its better action rule (chosen on the pooled
    mean) and the never-shown expert, every seed's evaluation episodes pooled."""
    out = []
    demos = pooled(runs, "demonstrations (true return)")
    if demos:
        out.append({**demos, "name": "demonstrations"})
    for prefix in agent_prefixes(model):
        candidates = [c for c in (pooled(runs, f"{prefix}/{rule}") for rule in ("argmax", "sample")) if c]
        if candidates:
            out.append(max(candidates, key=lambda c: c["mean"]))
    expert = pooled(runs, "held-out: expert (never shown)")
    if expert:
        out.append({**expert, "name": "expert (never shown; reference)"})
    return out


def mean_best_demo(runs: list[dict[str, Any]]) -> float:
    return float(np.mean([r["demonstrations"]["best_return"] for r in runs]))


def pooled_findings(env_id: str, per_seed: dict[str, dict[str, Any]], rows: list[dict[str, Any]]) -> list[str]:
    """Statements read off the pooled numbers of one env, and every seed's reward and steering."""
    runs = list(per_seed.values())
    best_demo = mean_best_demo(runs)
    spearman = ", ".join(f"{r['reward']['diagnostics']['spearman']:.2f}" for r in runs)
    out = [f"{env_id}: learned vs true return on held-out rollouts, Spearman per seed {spearman}"]
    for r in rows:
        if r["action_rule"] is None:
            continue
        out.append(
            f"{env_id}: {r['name']}, pooled over seeds {', '.join(per_seed)}: {r['mean']:.1f} "
            f"[{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}] — {_verdict(r['ci95'], best_demo)} the best demonstration "
            f"(mean over seeds {best_demo:.1f})"
        )
    for seed, r in per_seed.items():
        out.append(f"{env_id}, seed {seed}: " + steering_line("steering", r["steering"]))
    return out


# ---- Markdown ---------------------------------------------------------------------------------------
def markdown(report: dict[str, Any]) -> str:
    per_seed = report["per_seed"]
    if len(per_seed) == 1:
        ((seed, only),) = per_seed.items()
        return seed_markdown(f"# D-REX on {report['env_id']} (seed {seed})", only)
    lines = [
        f"# D-REX on {report['env_id']}",
        "",
        POOLED_INTRO,
        "",
        *env_section(report["env_id"], report["setup"], per_seed, report["pooled"]),
    ]
    for seed, r in per_seed.items():
        lines += ["", seed_markdown(f"## Seed {seed}", r)]
    return "\n".join(lines) + "\n"


POOLED_INTRO = (
    "True returns. Every agent's evaluation episodes are pooled over the seeds (bootstrap 95% CI); each "
    "learned agent at its better action rule (argmax or sample, chosen on the pooled mean). The learner "
    "never reads a reward: demonstrations without rewards -> BC -> BC with noise -> ranked by noise -> "
    "T-REX reward (absorbing final states) -> policies. 'vs best demo' compares with the best single "
    "demonstration of the same seed, averaged over seeds."
)


def seed_markdown(title: str, r: dict[str, Any]) -> str:
    """One seed's run, as a run folder's report.md showed it."""
    d = r["demonstrations"]
    diag = r["reward"]["diagnostics"]
    lines = [
        title,
        "",
        f"Demonstrations: {d['episodes']} episodes, true return mean {d['mean_return']:.1f} "
        f"[{d['ci95'][0]:.1f}, {d['ci95'][1]:.1f}], best {d['best_return']:.1f} (never shown to the learner).",
        f"Reward: {r['reward']['pairs']} ranked pairs; held-out Spearman **{diag['spearman']:.2f}**, "
        f"Pearson {diag['pearson']:.2f}.",
        f"Env steps: {r['env_steps']}",
        "",
        results_table(r["agents"]),
        "",
        "Does the request steer? The policy asked its best learned return, against the same episodes with each "
        "asked a learned return drawn like the data's (gap = asked minus control, paired bootstrap 95% CI): "
        + steering_line("", r["steering"]).removeprefix(": "),
        "",
        "Findings:",
        "",
        *[f"- {f}" for f in r["findings"]],
        "",
        f"Timings (s): {r['timings_s']}",
        "",
        "Pictures: `reward_extrapolation.png`, `agents.png`. Models: `seed<N>/{bc,reward,policy}` "
        "(`justask ask` / `justask eval` the policy: it carries its reward).",
    ]
    return "\n".join(lines) + "\n"


def env_section(
    env_id: str,
    setup: dict[str, Any],
    per_seed: dict[str, dict[str, Any]],
    rows: list[dict[str, Any]],
    command: str | None = None,
) -> list[str]:
    """One env's pooled table over its seeds (the benchmark's view)."""
    runs = list(per_seed.values())
    best_demo = mean_best_demo(runs)
    demo_means = [r["demonstrations"]["mean_return"] for r in runs]
    demo_best = [r["demonstrations"]["best_return"] for r in runs]
    diags = [r["reward"]["diagnostics"] for r in runs]
    without_random = [d.get("spearman_without_random") for d in diags]
    who = (
        f"Demonstrator `{setup['demonstrator']}`" if setup.get("demonstrator") else f"Demonstrations `{setup['demos']}`"
    )
    lines = [
        f"## {env_id} (seeds {', '.join(per_seed)})",
        "",
        (f"Command: `{command}`. " if command else "")
        + f"{who}, {setup['demo_episodes']} demonstrations, noise levels {setup['noise_levels']} x "
        f"{setup['episodes_per_noise']} BC rollouts, demonstrations ranked: {setup['demos_rank']}, "
        f"PPO {setup['ppo_steps']:,} env steps, {setup['eval_episodes']} evaluation episodes per agent, rule and seed.",
        "",
        f"- demonstrations: mean {np.mean(demo_means):.1f} (per seed {', '.join(f'{x:.1f}' for x in demo_means)}); "
        f"best {', '.join(f'{x:.1f}' for x in demo_best)}",
        "- learned vs true return on held-out rollouts (the never-shown expert, the demonstrator, it with noise, "
        f"random): Spearman **{_joined(d['spearman'] for d in diags)}**, Pearson {_joined(d['pearson'] for d in diags)}"
        + (
            f"; without the random policy's rollouts: Spearman {_joined(without_random)}"
            if None not in without_random
            else ""
        ),
        f"- env steps per seed: {runs[0]['env_steps']}",
        "- steering (asked best vs each episode asked a learned return drawn like the data's), per seed: "
        + "; ".join(steering_line(f"seed {s}", r["steering"]) for s, r in per_seed.items()),
        "",
        "| agent | rule | mean true return | 95% CI | vs best demo |",
        "|---|---|---:|---|---|",
    ]
    for a in rows:
        lo, hi = a["ci95"]
        if a["name"] == "demonstrations":
            lines.append(f"| demonstrations | — | {a['mean']:.1f} | [{lo:.1f}, {hi:.1f}] | best {best_demo:.1f} |")
        elif a["action_rule"] is None:
            lines.append(f"| {a['name']} | — | {a['mean']:.1f} | [{lo:.1f}, {hi:.1f}] | — |")
        else:
            prefix, rule = a["name"].rsplit("/", 1)
            verdict = "above" if lo > best_demo else "below" if hi < best_demo else "CI covers it"
            lines.append(f"| {prefix} | {rule} | {a['mean']:.1f} | [{lo:.1f}, {hi:.1f}] | {verdict} |")
    return lines


def _joined(values: Any) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


# ---- pictures -------------------------------------------------------------------------------------
def plot_extrapolation(path: Path, panels: dict[str, dict[str, Any]]) -> None:
    """Predicted (learned) vs true return of held-out rollouts, one panel per seed run; the
    demonstrations' range shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(panels))
    grid_rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(grid_rows, columns, figsize=(7 * columns, 4.5 * grid_rows), dpi=110, squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (title, r) in zip(axes.flat, panels.items(), strict=False):
        held = r["reward"]["heldout"]
        diag = r["reward"]["diagnostics"]
        true, predicted, labels = np.asarray(held["true"]), np.asarray(held["predicted"]), held["source"]
        demos = next(a for a in r["agents"] if a["name"] == "demonstrations (true return)")["returns"]
        ax.axvspan(min(demos), max(demos), color="tab:green", alpha=0.12, label="demonstrations' true returns")
        for name in dict.fromkeys(labels):
            idx = [i for i, n in enumerate(labels) if n == name]
            ax.scatter(true[idx], predicted[idx], s=14, label=name, alpha=0.8)
        ax.set_xlabel("true return")
        ax.set_ylabel("learned return (sum of r̂)")
        ax.set_title(
            f"{title}: learned vs true return, held-out rollouts\n"
            f"Spearman {diag['spearman']:.2f}, Pearson {diag['pearson']:.2f}",
            fontsize=9,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


# ---- merging runs (other envs, other seeds) -----------------------------------------------------
def merge(reports: list[dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    """One report from D-REX runs side by side (one per env, or one env's seeds split over runs):
    per env, every agent's evaluation episodes pooled over all its seeds."""
    envs: dict[str, dict[str, Any]] = {}
    for report in reports:
        if report.get("recipe") != "drex":
            raise JustAskError(f"cannot merge a '{report.get('recipe')}' report into D-REX reports")
        env = envs.setdefault(report["env_id"], {"setup": report["setup"], "commands": [], "per_seed": {}})
        command = (report.get("provenance") or {}).get("command")
        if command:
            env["commands"].append(command)
        for seed, run_report in report["per_seed"].items():
            if seed in env["per_seed"]:
                raise JustAskError(f"two reports hold seed {seed} of {report['env_id']}")
            env["per_seed"][seed] = run_report
    for env in envs.values():
        env["per_seed"] = dict(sorted(env["per_seed"].items(), key=lambda kv: int(kv[0])))
        env["pooled"] = pooled_rows(list(env["per_seed"].values()), env["setup"]["model"])
    merged = {
        "recipe": "drex",
        "merged_from": [r.get("provenance", {}).get("command") for r in reports],
        "envs": envs,
        "findings": [
            f for env_id, env in envs.items() for f in pooled_findings(env_id, env["per_seed"], env["pooled"])
        ],
        "seconds": round(sum(float(r.get("seconds", 0.0)) for r in reports), 1),
    }
    out_dir = Path(out_dir)
    rows = [
        {**a, "name": f"{env_id.removesuffix('-v3')}: {a['name']}"}
        for env_id, env in envs.items()
        for a in env["pooled"]
    ]
    plot_agents(out_dir / "agents.png", rows, title="D-REX on LunarLander (true returns, pooled over seeds)")
    plot_extrapolation(
        out_dir / "reward_extrapolation.png",
        {f"{env_id}, seed {s}": r for env_id, env in envs.items() for s, r in env["per_seed"].items()},
    )
    return write_report(out_dir, merged, merged_markdown(merged), config=None, seeds=None, command=None)


def merged_markdown(merged: dict[str, Any]) -> str:
    lines = ["# D-REX on LunarLander", "", POOLED_INTRO, ""]
    for env_id, env in merged["envs"].items():
        command = " and ".join(f"{c}" for c in env["commands"]) or None
        lines += [*env_section(env_id, env["setup"], env["per_seed"], env["pooled"], command), ""]
    lines.append("Pictures: `reward_extrapolation.png` (every env and seed), `agents.png` (pooled, every env).")
    return "\n".join(lines) + "\n"


# ---- presets -----------------------------------------------------------------------------------
def _benchmark(env_id: str) -> Config:
    """The benchmark (python benchmarks/drex.py --envs ENV --seeds 0 1 2 before the recipes):
    three seeds, larger budgets, PPO peers, one torch thread throughout."""
    return Config(
        seeds=(0, 1, 2),
        env_id=env_id,
        bc_train=TrainConfig(steps=3000, batch_size=256, threads=1),
        episodes_per_noise=40,
        reward_train=dataclasses.replace(RANKER_TRAINING, steps=5000, threads=1),
        policy_train=TrainConfig(steps=10000, batch_size=256, threads=1),
        ppo_steps=300_000,
        ppo_threads=1,
        heldout_episodes=50,
        eval_episodes=200,
    )


PRESETS = {
    "benchmark": _benchmark("LunarLander-v3"),
    "benchmark-continuous": _benchmark("LunarLanderContinuous-v3"),
    # the quick demo on each env (justask demo drex [--env-id LunarLanderContinuous-v3])
    "quick": Config(),
    "quick-continuous": Config(env_id="LunarLanderContinuous-v3"),
}

RECIPE = Recipe(
    name="drex",
    summary="D-REX: a reward learned from ranked noisy rollouts of unlabeled demonstrations, then a policy asked for it",
    config=Config,
    run=run,
    pictures=("reward_extrapolation.png", "agents.png"),
    merge=merge,
)
