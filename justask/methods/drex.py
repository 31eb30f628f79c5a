"""D-REX (Brown et al. 2019): a reward from unlabeled, suboptimal demonstrations, and a policy
better than the demonstrator.

demos (rewards never read) -> BC -> rollouts of BC with injected noise (epsilon levels) ->
automatic ranking (less noise ranks higher; the demos above all) -> reward network fitted with
the T-REX loss -> learned reward r̂ -> (1) relabel every collected episode with learned
return-to-go, train a return-conditioned model, ask for a high learned return; (2) SB3 PPO on
r̂. True returns are used only to report.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from justask import __version__
from justask.checkpoint import fresh_run_folder, write_json
from justask.collection import collect
from justask.configs import DrexConfig, TrainConfig
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.evaluation import EvalResult, check_spaces, evaluate
from justask.minari_io import load_minari, save_minari
from justask.policies import RandomPolicy, noisy
from justask.relabel import return_to_go
from justask.report import plot_agents, results_table, write_report
from justask.rewards import (
    GuardedReward,
    LearnedReward,
    RewardConfig,
    fit_offset,
    preference_pairs,
    ranks_from_metadata,
    train_reward,
)
from justask.stats import bootstrap_ci
from justask.suites.lunar_lander import LunarLanderExpert, mediocre_demonstrator
from justask.training import model_config_for, train

LEARNED_RTG = "learned_return_to_go"


def _log(message: str) -> None:
    print(message, flush=True)


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


def run_drex(cfg: DrexConfig) -> dict[str, Any]:
    out = fresh_run_folder(cfg.out, cfg.overwrite)
    torch.set_num_threads(cfg.threads)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    env_steps: dict[str, int] = {}
    write_json(out / "config.json", {"run_kind": "drex", "drex": dataclasses.asdict(cfg), "models": ["bc", "policy"]})
    observation_space, action_space = _spaces(cfg.env_id)
    continuous = isinstance(action_space, gym.spaces.Box)
    try:
        noise_levels = sorted({float(x) for x in cfg.noise_levels.split(",") if x.strip()})
    except ValueError:
        raise JustAskError(f"--noise-levels must be comma-separated numbers, got '{cfg.noise_levels}'") from None
    if len(noise_levels) < 2 or not all(0 <= e <= 1 for e in noise_levels):
        raise JustAskError("D-REX needs at least 2 noise levels in [0, 1] to rank rollouts")

    # ---- demonstrations (rewards never read) -------------------------------------------------
    t0 = time.perf_counter()
    if cfg.demos:
        demos = load_minari(cfg.demos)
        source = cfg.demos
    else:
        demonstrator = mediocre_demonstrator(continuous, cfg.demonstrator)
        demos = collect(
            cfg.env_id, [(demonstrator, cfg.demo_episodes)], num_envs=cfg.demo_episodes, seed=cfg.seed * 100_000
        )
        source = str(save_minari(demos, out.resolve() / "demos", description="justask D-REX demonstrations"))
    check_demos(demos, cfg.env_id, source)
    demo_returns = demos.returns()  # for the report only
    demos_seen = without_rewards(demos)
    _log(f"demonstrations: {demos.num_episodes} episodes from {source}")

    # ---- BC, then BC with noise --------------------------------------------------------------
    train_cfg = TrainConfig(steps=cfg.bc_steps, batch_size=256, seed=cfg.seed, threads=cfg.threads)
    bc = train(demos_seen, model_config_for(demos_seen, "mlp", None), train_cfg, out / "bc", dataset=source)
    population = [
        (noisy(bc.ask(action_rule="argmax"), eps, action_space, name=f"bc+eps{eps:g}"), cfg.episodes_per_noise)
        for eps in noise_levels
    ]
    rollouts = collect(cfg.env_id, population, num_envs=cfg.num_envs, seed=cfg.seed * 100_000 + 10_000)
    env_steps["noise_rollouts"] = rollouts.num_steps
    timings["demos_bc_rollouts_s"] = time.perf_counter() - t0
    _log(f"BC rollouts at noise {noise_levels}: {rollouts.num_episodes} episodes, {rollouts.num_steps} env steps")

    # ---- rank automatically and fit the reward ----------------------------------------------
    t0 = time.perf_counter()
    # less noise ranks higher; the demonstrations rank above every rollout ("top"), or stay out
    # of the ranking ("out": BC can beat its teacher when its argmax strips the teacher's noise,
    # and then "demos above all" ranks the better behaviour below the worse)
    if cfg.demos_rank == "top":
        ranked = Episodes.concatenate([_plain(demos_seen), _plain(without_rewards(rollouts))])
        ranks = np.concatenate([np.full(demos.num_episodes, 1.0), ranks_from_metadata(rollouts, "noise_eps")])
    elif cfg.demos_rank == "out":
        ranked = _plain(without_rewards(rollouts))
        ranks = ranks_from_metadata(rollouts, "noise_eps")
    else:
        raise JustAskError(f"--demos-rank must be top or out, got '{cfg.demos_rank}'")
    pairs = preference_pairs(ranks)
    horizon = _time_limit(cfg.env_id) if cfg.absorbing else 0
    reward_cfg = RewardConfig(
        steps=cfg.reward_steps,
        ensemble=cfg.reward_ensemble,
        use_actions=cfg.reward_use_actions,
        absorbing_horizon=horizon,
        seed=cfg.seed,
    )
    reward, reward_log = train_reward(ranked, pairs, reward_cfg)
    timings["reward_s"] = time.perf_counter() - t0
    _log(f"reward: {len(pairs)} ranked pairs, snippet accuracy {reward_log['final_snippet_accuracy']:.2f}")

    # T-REX compares snippets of equal length, so r̂ is defined only up to a per-step constant,
    # and without absorbing states the constant decides how episode length counts (mean-centred
    # r̂ taught PPO to crash at once in a pilot; anchored at its minimum, random flailing
    # outscored the demonstrations). Fit it to the whole-episode preferences, which differ in
    # length; with absorbing states every episode spans the horizon and it comes out 0.
    anchor, whole_episode_accuracy = fit_offset(reward, ranked, pairs)
    reward_log["whole_episode_pair_accuracy"] = whole_episode_accuracy
    reward.offset.fill_(anchor)
    reward.save(out / "reward")
    reward_fn = reward  # r̂(observations, actions) -> (N,), anchored

    # ---- does r̂ extrapolate? held-out rollouts, worse and better than the demos --------------
    t0 = time.perf_counter()
    heldout, predicted, diagnostics = reward_diagnostics(cfg, reward, demo_returns)
    true, labels = heldout.returns(), [m["policy"] for m in heldout.metadata]
    plot_extrapolation(out / "reward_extrapolation.png", true, predicted, labels, demo_returns, diagnostics, cfg.env_id)
    timings["diagnostics_s"] = time.perf_counter() - t0
    _log(
        f"learned vs true return on held-out rollouts: Spearman {diagnostics['spearman']:.2f}, Pearson {diagnostics['pearson']:.2f}"
    )

    # ---- (1) generalize then infer: learned returns as the condition --------------------------
    t0 = time.perf_counter()
    experience = Episodes.concatenate([_plain(demos), _plain(rollouts)])

    def fit_policy(data: Episodes, run_dir: Path) -> tuple[Any, Episodes, np.ndarray]:
        learned = reward.step_rewards(data)
        relabeled = return_to_go(
            without_rewards(data),
            scale=float(np.std(_episode_sums(data, learned))) or 1.0,
            name=LEARNED_RTG,
            rewards=learned,
            reward="learned",
        )
        arch = (
            {"context_len": 10, "d_model": 64, "n_layer": 2, "action_tokens": False, "condition_token": False}
            if cfg.policy_model == "dt"
            else {}
        )
        batch = 256 if cfg.policy_model == "mlp" else 64
        model = train(
            relabeled,
            model_config_for(relabeled, cfg.policy_model, LEARNED_RTG, **arch),
            TrainConfig(steps=cfg.policy_steps, batch_size=batch, seed=cfg.seed, threads=cfg.threads),
            run_dir,
            dataset=source,
        )
        reward.save(run_dir / "reward")  # the policy's request is counted down by this r̂
        return model, relabeled, learned

    policy, relabeled, learned_rewards = fit_policy(experience, out / "policy")
    # Learned policy improvement: act for the highest learned return seen so far, with some
    # exploration noise, add what happened to the data, relabel with r̂, fit again.
    for round_ in range(1, cfg.improve_rounds + 1):
        high = float(_episode_sums(experience, learned_rewards).max())
        asking = [
            (
                noisy(
                    policy.ask(action_rule="sample", reward_fn=reward_fn, return_to_go=high),
                    eps,
                    action_space,
                    name=f"round{round_}+eps{eps:g}",
                ),
                cfg.episodes_per_noise,
            )
            for eps in (0.0, 0.1, 0.3)
        ]
        new = collect(cfg.env_id, asking, num_envs=cfg.num_envs, seed=cfg.seed * 100_000 + 20_000 + 1000 * round_)
        env_steps[f"improve_round{round_}"] = new.num_steps
        experience = Episodes.concatenate([experience, _plain(new)])
        new_learned = _episode_sums(new, reward.step_rewards(new))
        _log(
            f"round {round_}: asked {high:.1f}, got learned returns {new_learned.mean():.1f} (max {new_learned.max():.1f}), true {new.returns().mean():.1f}"
        )
        policy, relabeled, learned_rewards = fit_policy(experience, out / f"policy-round{round_}")
    episode_learned = _episode_sums(experience, learned_rewards)
    scale = relabeled.condition_info[LEARNED_RTG]["scale"]
    timings["policy_s"] = time.perf_counter() - t0

    # ---- (2) direct optimisation of r̂, and of the true reward --------------------------------
    ppo_models: dict[str, Any] = {}
    if cfg.ppo_steps > 0:
        from justask.peers.sb3_peer import train_ppo

        guarded = GuardedReward.fit(reward, ranked, pessimism=cfg.ppo_pessimism)  # see GuardedReward
        for label, fn in (("PPO on learned reward", guarded), ("PPO on true reward", None)):
            t0 = time.perf_counter()
            ppo_models[label] = train_ppo(
                cfg.env_id,
                cfg.ppo_steps,
                seed=cfg.seed,
                reward_fn=fn,
                reward_scale=guarded.scale if fn else 1.0,
                absorbing_fn=guarded.absorbing if fn else None,
                horizon=horizon,
            )
            timings[f"{label}_s"] = time.perf_counter() - t0
            env_steps[label] = cfg.ppo_steps
            _log(f"trained {label} for {cfg.ppo_steps} env steps in {timings[f'{label}_s']:.0f} s")

    # ---- evaluate (true returns) --------------------------------------------------------------
    t0 = time.perf_counter()
    torch.set_num_threads(1)
    rows: list[EvalResult] = [
        EvalResult("demonstrations (true return)", None, None, demo_returns, demos.lengths.copy()),
        EvalResult.from_episodes(
            "held-out: expert (never shown)",
            heldout.select([i for i, n in enumerate(labels) if n.startswith("expert")]),
        ),
    ]
    spec = policy.config.condition
    assert spec is not None and spec.best is not None
    asks = {"best": None, "high": float(episode_learned.max())}

    def run(agent: Any, name: str) -> None:
        r = evaluate(cfg.env_id, agent, episodes=cfg.eval_episodes, num_envs=cfg.num_envs, name=name)
        _log(f"  {name:<40} {r.mean:8.1f}  [{r.ci95[0]:.1f}, {r.ci95[1]:.1f}]")
        rows.append(r)

    from justask.peers.sb3_peer import SB3Policy

    for rule in ("argmax", "sample"):
        run(bc.ask(action_rule=rule), f"BC/{rule}")
        for label, value in asks.items():
            agent = policy.ask(action_rule=rule, reward_fn=reward_fn, return_to_go=value)
            run(agent, f"D-REX-{cfg.policy_model.upper()} asked {label}/{rule}")
        for label, model in ppo_models.items():
            run(SB3Policy(model, rule, name=label), f"{label}/{rule}")
    timings["evaluate_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - started

    table = [{**r.to_json(), "returns": [round(float(x), 2) for x in r.returns]} for r in rows]
    best_demo = float(demo_returns.max())
    report = {
        "justask_version": __version__,
        "config": dataclasses.asdict(cfg),
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()},
        "demonstrations": {
            "source": source,
            "episodes": demos.num_episodes,
            "mean_return": float(demo_returns.mean()),
            "ci95": list(bootstrap_ci(demo_returns)),
            "best_return": best_demo,
        },
        "reward": {**reward_log, "anchor": anchor, "diagnostics": diagnostics},
        "asked_learned_return": {"best": spec.in_user_units(spec.best), "high": asks["high"], "scale": scale},
        "env_steps": env_steps,
        "agents": table,
        "findings": _findings(table, best_demo, diagnostics, cfg.policy_model.upper()),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }
    write_report(out, report, _markdown(report))
    plot_agents(out / "agents.png", table, title=f"{cfg.env_id}: D-REX (true returns)")
    return report


def _spaces(env_id: str) -> tuple[gym.Space, gym.Space]:
    from justask.envs import env_spaces

    if not env_id.startswith("LunarLander"):
        raise JustAskError(
            f"the D-REX recipe ships a demonstrator and held-out experts for LunarLander only, not {env_id}"
        )
    return env_spaces(env_id)


def reward_diagnostics(
    cfg: DrexConfig, reward: LearnedReward, demo_returns: np.ndarray
) -> tuple[Episodes, np.ndarray, dict[str, Any]]:
    """Held-out rollouts that span worse and better than the demonstrations (the never-shown
    expert, the demonstrator, it with noise, random), r̂'s return of each, and how those
    correlate with the true ones. Deterministic in ``cfg.seed``, so a saved run's reward can be re-checked."""
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
        seed=cfg.seed * 100_000 + 50_000,
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


def plot_extrapolation(
    path: Path,
    true: np.ndarray,
    predicted: np.ndarray,
    labels: list[str],
    demo_returns: np.ndarray,
    diag: dict[str, Any],
    env_id: str,
) -> None:
    """Predicted (learned) vs true return of held-out rollouts; the demos' range shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from justask.checkpoint import atomic_write

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.axvspan(
        demo_returns.min(), demo_returns.max(), color="tab:green", alpha=0.12, label="demonstrations' true returns"
    )
    for name in dict.fromkeys(labels):
        idx = [i for i, n in enumerate(labels) if n == name]
        ax.scatter(true[idx], predicted[idx], s=14, label=name, alpha=0.8)
    ax.set_xlabel("true return")
    ax.set_ylabel("learned return (sum of r̂)")
    ax.set_title(
        f"{env_id}: learned vs true return, held-out rollouts\nSpearman {diag['spearman']:.2f}, Pearson {diag['pearson']:.2f}"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def _findings(rows: list[dict[str, Any]], best_demo: float, diag: dict[str, Any], model: str) -> list[str]:
    def best_of(prefix: str) -> dict[str, Any] | None:
        mine = [r for r in rows if r["name"].startswith(prefix)]
        return max(mine, key=lambda r: r["mean"]) if mine else None

    out = [
        f"learned vs true return on {diag['episodes']} held-out rollouts ({diag['episodes_better_than_best_demo']} better than the best demo): "
        f"Spearman {diag['spearman']:.2f}, Pearson {diag['pearson']:.2f}"
        + (
            f" (Spearman without the random policy's rollouts {diag['spearman_without_random']:.2f})"
            if "spearman_without_random" in diag
            else ""
        )
    ]
    for prefix in (
        "BC",
        f"D-REX-{model} asked best",
        f"D-REX-{model} asked high",
        "PPO on learned reward",
        "PPO on true reward",
    ):
        r = best_of(prefix + "/")
        if r is None:
            continue
        verdict = (
            "above" if r["ci95"][0] > best_demo else "below" if r["ci95"][1] < best_demo else "level with (CI covers)"
        )
        out.append(
            f"{prefix} ({r['action_rule']}): {r['mean']:.1f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}] — {verdict} the best demonstration ({best_demo:.1f})"
        )
    return out


def _markdown(report: dict[str, Any]) -> str:
    d = report["demonstrations"]
    diag = report["reward"]["diagnostics"]
    lines = [
        f"# D-REX on {report['config']['env_id']} (justask {report['justask_version']})",
        "",
        f"Demonstrations: {d['episodes']} episodes, true return mean {d['mean_return']:.1f} "
        f"[{d['ci95'][0]:.1f}, {d['ci95'][1]:.1f}], best {d['best_return']:.1f} (never shown to the learner).",
        f"Reward: {report['reward']['pairs']} ranked pairs; held-out Spearman **{diag['spearman']:.2f}**, Pearson {diag['pearson']:.2f}.",
        f"Env steps: {report['env_steps']}",
        "",
        results_table(report["agents"]),
        "",
        "## Findings",
        "",
        *[f"- {f}" for f in report["findings"]],
        "",
        "Pictures: `reward_extrapolation.png`, `agents.png`.",
        "",
    ]
    return "\n".join(lines)
