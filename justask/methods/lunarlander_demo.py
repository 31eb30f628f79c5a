"""The foundation demo: ask return-conditioned models for a high return on LunarLander.

collect (a population of systematically different suboptimal landers) -> relabel
(return-to-go) -> train (DT and RvS MLP by maximum likelihood; BC, filtered BC, d3rlpy
DiscreteCQL as peers on the same data) -> ask -> evaluate (both action rules, same seeds,
bootstrap CIs) -> report (JSON, Markdown, PNGs, GIF).
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from typing import Any

import numpy as np
import torch

from justask import __version__
from justask.checkpoint import fresh_run_folder, write_json
from justask.collection import collect
from justask.configs import DemoConfig
from justask.episodes import Episodes
from justask.evaluation import EVAL_SEED, EvalResult, check_spaces, evaluate
from justask.minari_io import load_minari, save_minari
from justask.models.policy import PolicyModel
from justask.relabel import RETURN_TO_GO, return_to_go
from justask.report import plot_agents, plot_sweep, results_table, rollout_gif, sweep_table, write_report
from justask.stats import overlaps, spearman
from justask.suites.lunar_lander import LunarLanderExpert, demo_population
from justask.training import TrainConfig, model_config_for, train


def _log(message: str) -> None:
    print(message, flush=True)


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run the whole demo; returns the report dict (also written to ``cfg.out``)."""
    out = fresh_run_folder(cfg.out, cfg.overwrite)
    torch.set_num_threads(cfg.threads)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    models = ["dt", "rvs", "bc", "filtered_bc"]
    write_json(out / "config.json", {"run_kind": "demo", "demo": dataclasses.asdict(cfg), "models": models})

    # ---- collect -----------------------------------------------------------------------------
    t0 = time.perf_counter()
    if cfg.dataset:
        episodes = load_minari(cfg.dataset)
        check_spaces(cfg.env_id, episodes.observation_space, episodes.action_space, f"dataset {cfg.dataset}")
        dataset_ref = cfg.dataset
        _log(f"loaded {cfg.dataset}: {episodes.summary()}")
    else:
        _log(f"collecting {cfg.episodes_per_policy} episodes from each of 7 lander policies ...")
        episodes = collect(cfg.env_id, demo_population(cfg.episodes_per_policy), num_envs=64, seed=cfg.data_seed)
        dataset_ref = str(
            save_minari(episodes, out.resolve() / "dataset", description="justask LunarLander demo population")
        )
        _log(f"collected {episodes.summary()}; saved as Minari dataset {dataset_ref}")
    timings["collect_s"] = time.perf_counter() - t0

    # ---- relabel and train -------------------------------------------------------------------
    episodes = return_to_go(episodes, scale=cfg.return_scale)
    returns = episodes.returns()
    top = np.argsort(returns, kind="stable")[-max(1, int(round(cfg.top_fraction * len(returns)))) :]
    filtered = episodes.select(np.sort(top))
    dt_arch = dict(
        context_len=cfg.dt_context,
        n_layer=cfg.dt_layers,
        d_model=cfg.dt_dim,
        action_tokens=cfg.dt_action_tokens,
        condition_token=cfg.dt_condition_token,
    )
    specs = {
        "dt": (episodes, model_config_for(episodes, "dt", RETURN_TO_GO, **dt_arch), cfg.dt_steps, cfg.dt_batch),
        "rvs": (episodes, model_config_for(episodes, "mlp", RETURN_TO_GO), cfg.mlp_steps, cfg.mlp_batch),
        "bc": (episodes, model_config_for(episodes, "mlp", None), cfg.mlp_steps, cfg.mlp_batch),
        "filtered_bc": (filtered, model_config_for(filtered, "mlp", None), cfg.mlp_steps, cfg.mlp_batch),
    }
    trained: dict[str, PolicyModel] = {}
    for name, (data, model_config, steps, batch) in specs.items():
        t0 = time.perf_counter()
        train_config = TrainConfig(steps=steps, batch_size=batch, seed=cfg.seed, threads=cfg.threads)
        trained[name] = train(data, model_config, train_config, out / name, dataset=dataset_ref)
        timings[f"train_{name}_s"] = time.perf_counter() - t0
        _log(f"trained {name} ({steps} steps) in {timings[f'train_{name}_s']:.0f} s")

    from justask.peers.d3rlpy_peer import CQLConfig, QPolicy, train_discrete_cql

    t0 = time.perf_counter()
    cql = train_discrete_cql(episodes, CQLConfig(steps=cfg.cql_steps, seed=cfg.seed))
    timings["train_cql_s"] = time.perf_counter() - t0
    _log(f"trained d3rlpy DiscreteCQL ({cfg.cql_steps} steps) in {timings['train_cql_s']:.0f} s")

    disagreement = bc_expert_disagreement(trained["bc"], episodes)
    _log(f"BC-argmax disagrees with the noiseless expert on {disagreement:.1%} of the data's states")

    # ---- ask and evaluate --------------------------------------------------------------------
    t0 = time.perf_counter()
    spec = trained["rvs"].config.condition
    assert spec is not None and spec.best is not None
    best_return = spec.best[0] * spec.scale
    high_return = float(returns.max())
    results: list[EvalResult] = data_rows(episodes)
    n_eval = cfg.eval_episodes

    def run(policy: Any, name: str) -> EvalResult:
        r = evaluate(cfg.env_id, policy, episodes=n_eval, num_envs=cfg.num_envs, name=name)
        _log(f"  {name:<34} {r.mean:8.1f}  [{r.ci95[0]:.1f}, {r.ci95[1]:.1f}]")
        results.append(r)
        return r

    filtered_label = f"filtered BC (top {cfg.top_fraction:.0%})"
    # Acting is many small forward passes: one torch thread is faster than two on 2 cores
    # (200 RvS episodes: 13.2 s with two, 9.4 s with one) and leaves a core to the envs.
    torch.set_num_threads(1)
    _log(f"evaluating each agent over {n_eval} episodes (seeds {EVAL_SEED}...) with both action rules:")
    for rule in ("argmax", "sample"):
        run(trained["bc"].ask(action_rule=rule), f"BC/{rule}")
        run(trained["filtered_bc"].ask(action_rule=rule), f"{filtered_label}/{rule}")
        run(QPolicy(cql, int(episodes.action_space.n), rule, name="d3rlpy DiscreteCQL"), f"d3rlpy DiscreteCQL/{rule}")
        run(trained["dt"].ask(return_to_go=high_return, action_rule=rule), f"DT asked high/{rule}")
        run(trained["dt"].ask(action_rule=rule), f"DT asked best/{rule}")
        run(trained["rvs"].ask(action_rule=rule), f"RvS asked best/{rule}")
    timings["evaluate_s"] = time.perf_counter() - t0

    # ---- the sweep: does behaviour follow the ask? ------------------------------------------
    t0 = time.perf_counter()
    low = float(np.percentile(returns, 10))
    asked_values = [*np.linspace(low, high_return, cfg.sweep_points).tolist(), high_return + 50.0, high_return + 100.0]
    rows = [r.to_json() for r in results]
    sweeps: dict[str, dict[str, Any]] = {}
    for model_name in [m.strip() for m in cfg.sweep_models.split(",") if m.strip()]:
        rule = better_rule(rows, "DT asked best" if model_name == "dt" else "RvS asked best")
        points = []
        _log(f"sweep {model_name}/{rule}: asked return -> achieved ({cfg.sweep_episodes} episodes each)")
        for asked in asked_values:
            r = evaluate(
                cfg.env_id,
                trained[model_name].ask(return_to_go=asked, action_rule=rule),
                episodes=cfg.sweep_episodes,
                num_envs=cfg.num_envs,
                progress=False,
            )
            lo, hi = r.ci95
            points.append(
                {
                    "asked": round(asked, 2),
                    "mean": round(r.mean, 2),
                    "ci95": [round(lo, 2), round(hi, 2)],
                    "data_episodes_at_or_above": int((returns >= asked - 1e-6).sum()),
                }
            )
            _log(f"  asked {asked:7.1f} -> {r.mean:7.1f}  [{lo:.1f}, {hi:.1f}]")
        inside = points[: cfg.sweep_points]
        sweeps[model_name] = {
            "action_rule": rule,
            "episodes_per_point": cfg.sweep_episodes,
            "points": points,
            "spearman_in_data_range": round(spearman([p["asked"] for p in inside], [p["mean"] for p in inside]), 3),
        }
    timings["sweep_s"] = time.perf_counter() - t0

    gif_info = None
    if cfg.gif:
        rule = better_rule(rows, "DT asked best")
        gif_info = rollout_gif(
            out / "rollout.gif",
            cfg.env_id,
            trained["dt"].ask(action_rule=rule),
            seed=EVAL_SEED,
            caption=f"DT asked {best_return:.0f} ({rule})",
        )
    timings["total_s"] = time.perf_counter() - started

    report = {
        "justask_version": __version__,
        "command": " ".join(["justask", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("justask") else None,
        "config": dataclasses.asdict(cfg),
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()},
        "dataset": {
            "source": dataset_ref,
            "episodes": episodes.num_episodes,
            "steps": episodes.num_steps,
            "return_quantiles": {q: float(np.percentile(returns, q)) for q in (10, 50, 90, 95, 99, 100)},
            "bc_argmax_expert_disagreement": round(disagreement, 4),
            "above_best_ask": top_of_data(episodes, best_return),
        },
        "asked": {
            "best": round(best_return, 2),
            "best_rule": "95th percentile of the data's episode returns",
            "high": round(high_return, 2),
        },
        "agents": rows,
        "sweep": sweeps,
        "findings": findings(rows, sweeps, high_return, filtered_label)
        + [top_of_data_finding(top_of_data(episodes, best_return), best_return)],
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "rollout_gif": gif_info,
    }
    write_report(out, report, render_markdown(report))
    bc_row = max((r for r in rows if r["name"].startswith("BC/")), key=lambda r: r["mean"])
    sweep_plots = {f"{k} ({v['action_rule']})": v["points"] for k, v in sweeps.items()}
    if sweep_plots:
        plot_sweep(
            out / "sweep.png",
            sweep_plots,
            data_returns=returns,
            reference={f"BC ({bc_row['action_rule']})": (bc_row["mean"], *bc_row["ci95"])},
            title=f"{cfg.env_id}: achieved vs asked return",
        )
    plot_agents(out / "agents.png", rows, title=f"{cfg.env_id}: agents over {n_eval} episodes each, data rows")
    return report


def data_rows(episodes: Episodes) -> list[EvalResult]:
    """One row per data policy: its episodes in the dataset."""
    names = [m.get("policy", "?") for m in episodes.metadata]
    rows = []
    for name in dict.fromkeys(names):
        idx = [i for i, n in enumerate(names) if n == name]
        rows.append(EvalResult.from_episodes(f"data: {name}", episodes.select(idx)))
    return rows


def top_of_data(episodes: Episodes, threshold: float) -> dict[str, Any]:
    """Which policies made the episodes whose return is at or above ``threshold``, and what
    those policies return on average: high returns from a policy whose mean is low are luck
    (start states, noise), which conditioning on the return cannot make happen again."""
    returns = episodes.returns()
    names = np.array([m.get("policy", "?") for m in episodes.metadata])
    top = returns >= threshold - 1e-6
    by_policy = {
        str(name): {
            "episodes": int((top & (names == name)).sum()),
            "policy_mean_return": round(float(returns[names == name].mean()), 1),
            "policy_share_at_or_above": round(float(top[names == name].mean()), 3),
        }
        for name in dict.fromkeys(names[top].tolist())
    }
    return {"threshold": round(float(threshold), 1), "episodes": int(top.sum()), "by_policy": by_policy}


def top_of_data_finding(top: dict[str, Any], threshold: float) -> str:
    parts = [
        f"{name}: {v['episodes']} ({v['policy_share_at_or_above']:.0%} of its episodes; its mean return {v['policy_mean_return']:.0f})"
        for name, v in sorted(top["by_policy"].items(), key=lambda kv: -kv[1]["episodes"])
    ]
    return f"the {top['episodes']} data episodes at or above the asked best ({threshold:.0f}) come from " + "; ".join(
        parts
    )


def bc_expert_disagreement(bc: PolicyModel, episodes: Episodes) -> float:
    """Share of the data's states where BC's most likely action differs from the noiseless
    expert's — how often the per-state majority of the data is the wrong action."""
    obs = episodes.step_observations()
    expert = LunarLanderExpert().act(obs)
    with torch.no_grad():
        x = torch.as_tensor(obs, dtype=torch.float32)
        chosen = []
        for chunk in x.split(65536):
            out = bc(
                chunk[:, None],
                torch.zeros(len(chunk), 1, dtype=torch.long),
                None,
                torch.zeros(len(chunk), 1, dtype=torch.long),
            )
            chosen.append(out[:, 0].argmax(-1))
    return float((torch.cat(chosen).numpy() != expert).mean())


def better_rule(rows: list[dict[str, Any]], prefix: str) -> str:
    mine = [r for r in rows if r["name"].startswith(prefix + "/")]
    return max(mine, key=lambda r: r["mean"])["action_rule"] if mine else "argmax"


def best_of(rows: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    return max((r for r in rows if r["name"].startswith(prefix + "/")), key=lambda r: r["mean"])


def findings(rows: list[dict[str, Any]], sweeps: dict[str, Any], high_return: float, filtered_label: str) -> list[str]:
    """Statements read off the numbers (each agent at its better action rule)."""
    out = []
    bc = best_of(rows, "BC")
    fbc = best_of(rows, filtered_label)
    for label in ("DT asked high", "DT asked best", "RvS asked best"):
        if not any(r["name"].startswith(label + "/") for r in rows):
            continue
        r = best_of(rows, label)
        verdict = (
            "beats" if r["ci95"][0] > bc["ci95"][1] else "loses to" if r["ci95"][1] < bc["ci95"][0] else "overlaps"
        )
        line = f"{label} ({r['action_rule']}): {r['mean']:.1f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}] {verdict} BC ({bc['action_rule']}) {bc['mean']:.1f} [{bc['ci95'][0]:.1f}, {bc['ci95'][1]:.1f}]"
        if verdict == "overlaps":
            line += " (95% CIs overlap)"
        if fbc is not None:
            rel = (
                "above"
                if r["ci95"][0] > fbc["ci95"][1]
                else "below"
                if r["ci95"][1] < fbc["ci95"][0]
                else "level with (CIs overlap)"
            )
            line += f"; {rel} filtered BC ({fbc['action_rule']}) {fbc['mean']:.1f}"
        out.append(line)
    for name, sweep in sweeps.items():
        pts = sweep["points"]
        n_in = len(pts) - 2
        at_max, above = pts[n_in - 1], pts[n_in:]
        out.append(
            f"sweep {name}: Spearman(asked, achieved) = {sweep['spearman_in_data_range']:.2f} over {n_in} asked values in the data's range; "
            f"asking above the data's best ({high_return:.0f}): "
            + ", ".join(f"asked {p['asked']:.0f} -> {p['mean']:.1f}" for p in above)
            + f" vs asked {at_max['asked']:.0f} -> {at_max['mean']:.1f}"
            + (
                " (overlapping CIs: a plateau)"
                if all(overlaps(tuple(p["ci95"]), tuple(at_max["ci95"])) for p in above)
                else ""
            )
        )
    return out


def render_markdown(report: dict[str, Any]) -> str:
    d = report["dataset"]
    lines = [
        f"# LunarLander demo (justask {report['justask_version']})",
        "",
        f"Data: {d['episodes']} episodes, {d['steps']} steps from a population of suboptimal landers "
        f"(`{d['source']}`). BC-argmax disagrees with the noiseless expert on "
        f"**{d['bc_argmax_expert_disagreement']:.1%}** of the data's states.",
        f"Asked: *best* = {report['asked']['best']:.1f} ({report['asked']['best_rule']}); *high* = {report['asked']['high']:.1f} (the data's best episode).",
        "",
        "## Agents (mean return, bootstrap 95% CI; data rows are the dataset's own episodes)",
        "",
        results_table(report["agents"]),
        "",
    ]
    for name, sweep in report["sweep"].items():
        lines += [
            f"## Sweep: {name} ({sweep['action_rule']}), {sweep['episodes_per_point']} episodes per asked value",
            "",
            f"Spearman over the asked values inside the data's range: **{sweep['spearman_in_data_range']:.2f}**",
            "",
            sweep_table(sweep["points"]),
            "",
        ]
    lines += ["## Findings", "", *[f"- {f}" for f in report["findings"]], ""]
    lines += ["## Timings (s)", "", "```", json.dumps(report["timings_s"], indent=1), "```", ""]
    lines += [
        "Pictures: `sweep.png` (achieved vs asked), `agents.png` (all agents), `rollout.gif` (one DT episode).",
        "",
    ]
    return "\n".join(lines)
