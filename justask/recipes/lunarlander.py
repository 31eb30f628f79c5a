"""Ask return-conditioned models for a high return on LunarLander.

collect (a population of systematically different suboptimal landers) -> relabel (return-to-go,
and the luck-robust expected return: the mean return of the policy that made each episode) ->
train (DT and RvS MLP by maximum likelihood; BC, filtered BC, d3rlpy DiscreteCQL as peers on the
same data) -> ask (the best each model can honour, predicted before acting; a sweep of asked
returns, each above what a model can honour mapped down to it) -> evaluate (both action rules,
the same episode seeds, bootstrap CIs; the steering control) -> report.

The defaults are the quick demo (one seed, about 10 minutes on 2 CPU cores); the benchmark is the
same recipe at larger budgets over three seeds (``benchmarks/run.py lunarlander``).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from justask.asking import ask
from justask.behaviours import behaviour_groups
from justask.collection import collect
from justask.configs import TrainConfig, seed_tuple, whole_numbers
from justask.episodes import Episodes
from justask.errors import JustAskError, JustAskWarning
from justask.evaluation import EVAL_SEED, EvalResult, check_spaces, evaluate, steering, steering_line
from justask.minari_io import load_minari, save_minari
from justask.models.config import ModelConfig
from justask.models.policy import PolicyModel
from justask.recipes import Recipe
from justask.relabel import EXPECTED_RETURN, RETURN_TO_GO, expected_return, return_to_go
from justask.report import plot_agents, plot_sweep, results_table, rollout_gif, sweep_table, write_report
from justask.stats import overlaps, spearman
from justask.suites.lunar_lander import LunarLanderExpert, demo_population
from justask.training import train


@dataclasses.dataclass
class Config:
    """Ask return-conditioned models for a high return on LunarLander; the defaults are the quick
    demo (seed 0, about 10 minutes on 2 CPU cores)."""

    out: str = "runs/demo"
    """Run folder: report.md/json, pictures, and per seed its dataset and trained models (seed<N>/dt, /rvs, /bc, /filtered_bc)."""
    seeds: tuple[int, ...] = (0,)
    """Training seeds; each seed collects its own data (episode seeds from seed x 100000) unless --dataset is given."""
    env_id: str = "LunarLander-v3"
    """Gymnasium env id (the discrete LunarLander)."""
    dataset: str = ""
    """Train every seed on this Minari dataset (id or path) instead of collecting."""
    episodes_per_policy: int = 150
    """Episodes collected from each of the population's seven policies."""
    return_scale: float = 100.0
    """The models read return-to-go divided by this."""
    dt: ModelConfig = dataclasses.field(
        default_factory=lambda: ModelConfig(
            kind="dt", context_len=10, n_layer=2, d_model=64, action_tokens=False, condition_token=False
        )
    )
    """The Decision Transformer."""
    dt_train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(steps=2500, batch_size=64, threads=2))
    """How the DT is fitted (its seed is each of --seeds)."""
    mlp: ModelConfig = dataclasses.field(default_factory=lambda: ModelConfig(kind="mlp"))
    """The MLP of RvS, BC and filtered BC."""
    mlp_train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=6000, batch_size=256, threads=2)
    )
    """How each MLP is fitted (its seed is each of --seeds)."""
    cql_steps: int = 5000
    """d3rlpy DiscreteCQL gradient steps (batch 256); 0: leave CQL out."""
    top_fraction: float = 0.1
    """Filtered BC trains on this top share of episodes by return."""
    eval_episodes: int = 300
    """Evaluation episodes per agent and action rule (and per steering control)."""
    sweep_points: int = 8
    """Asked returns from the data's 10th percentile to its best episode (plus 2 above it)."""
    sweep_episodes: int = 60
    """Episodes per asked return."""
    sweep_models: tuple[str, ...] = ("rvs", "rvs_expected", "dt")
    """Which return-conditioned models to sweep (rvs, rvs_expected, dt)."""
    num_envs: int = 250
    """Envs stepped together during evaluation."""
    gif: bool = True
    """Render a rollout GIF of the DT asked for the best."""
    overwrite: bool = False
    """Replace an existing run folder."""

    def __post_init__(self) -> None:
        self.seeds = seed_tuple(self.seeds)
        self.sweep_models = tuple(self.sweep_models)
        whole_numbers(self, 1, "episodes_per_policy", "eval_episodes", "sweep_episodes", "num_envs")
        if not 0 < self.top_fraction <= 1:
            raise JustAskError(f"top_fraction must be in (0, 1], got {self.top_fraction}")
        unknown = set(self.sweep_models) - set(SWEPT)
        if unknown:
            raise JustAskError(f"sweep_models: unknown model '{sorted(unknown)[0]}' ({', '.join(SWEPT)})")


def _log(message: str) -> None:
    print(message, flush=True)


# the return-conditioned models: name -> the label of their "asked best" rows
SWEPT = {"rvs": "RvS asked best", "rvs_expected": "RvS (expected return) asked best", "dt": "DT asked best"}


def run(cfg: Config, out: Path) -> dict[str, Any]:
    """Every seed: collect, relabel, train, ask, evaluate; one report over the seeds."""
    started = time.perf_counter()
    per_seed = {str(seed): run_seed(cfg, seed, out / f"seed{seed}") for seed in cfg.seeds}
    report = {
        "recipe": "lunarlander",
        "per_seed": per_seed,
        "findings": [f"seed {s}: {f}" for s, r in per_seed.items() for f in r["findings"]]
        if len(per_seed) > 1
        else next(iter(per_seed.values()))["findings"],
        "seconds": round(time.perf_counter() - started, 1),
    }
    first = next(iter(per_seed.values()))
    report = write_report(out, report, markdown(report), config=cfg, seeds=cfg.seeds)
    plot_agents(out / "agents.png", first["agents"], title=f"{cfg.env_id}: mean return per agent (seed {cfg.seeds[0]})")
    plot_sweeps(out / "sweep.png", per_seed, cfg.env_id)
    return report


def run_seed(cfg: Config, seed: int, folder: Path) -> dict[str, Any]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)

    # ---- collect -----------------------------------------------------------------------------
    t0 = time.perf_counter()
    if cfg.dataset:
        episodes = load_minari(cfg.dataset)
        check_spaces(cfg.env_id, episodes.observation_space, episodes.action_space, f"dataset {cfg.dataset}")
        dataset_ref = cfg.dataset
        _log(f"loaded {cfg.dataset}: {episodes.summary()}")
    else:
        _log(f"seed {seed}: collecting {cfg.episodes_per_policy} episodes from each of 7 lander policies ...")
        episodes = collect(cfg.env_id, demo_population(cfg.episodes_per_policy), num_envs=64, seed=seed * 100_000)
        dataset_ref = str(
            save_minari(episodes, folder.resolve() / "dataset", description="justask LunarLander population")
        )
        _log(f"collected {episodes.summary()}; saved as Minari dataset {dataset_ref}")
    timings["collect_s"] = time.perf_counter() - t0

    # ---- relabel and train -------------------------------------------------------------------
    # Which policy made each episode (the data says): what a return request will get is the
    # mix of the policies whose episodes it selects; the expected return labels each episode
    # with its policy's mean, so that luck labels nothing (justask.behaviours).
    groups = behaviour_groups(episodes)
    episodes = return_to_go(episodes, scale=cfg.return_scale, behaviours=groups)
    episodes = expected_return(episodes, groups, scale=cfg.return_scale)
    returns = episodes.returns()
    top = np.argsort(returns, kind="stable")[-max(1, int(round(cfg.top_fraction * len(returns)))) :]
    filtered = episodes.select(np.sort(top))
    fits = {
        "dt": (episodes, cfg.dt, cfg.dt_train, RETURN_TO_GO),
        "rvs": (episodes, cfg.mlp, cfg.mlp_train, RETURN_TO_GO),
        "rvs_expected": (episodes, cfg.mlp, cfg.mlp_train, EXPECTED_RETURN),
        "bc": (episodes, cfg.mlp, cfg.mlp_train, None),
        "filtered_bc": (filtered, cfg.mlp, cfg.mlp_train, None),
    }
    trained: dict[str, PolicyModel] = {}
    for name, (data, model, fitting, condition) in fits.items():
        t0 = time.perf_counter()
        source = dataset_ref + (f" (top {cfg.top_fraction:g} by return)" if name == "filtered_bc" else "")
        fitting = dataclasses.replace(fitting, seed=seed)
        trained[name] = train(data, model, fitting, folder / name, condition=condition, dataset=source)
        timings[f"train_{name}_s"] = time.perf_counter() - t0
        _log(f"trained {name} ({fitting.steps} steps) in {timings[f'train_{name}_s']:.0f} s")
    cql = None
    if cfg.cql_steps > 0:
        from justask.peers.d3rlpy_peer import CQLConfig, train_discrete_cql

        t0 = time.perf_counter()
        cql = train_discrete_cql(episodes, CQLConfig(steps=cfg.cql_steps, seed=seed))
        timings["train_cql_s"] = time.perf_counter() - t0
        _log(f"trained d3rlpy DiscreteCQL ({cfg.cql_steps} steps) in {timings['train_cql_s']:.0f} s")
    disagreement = bc_expert_disagreement(trained["bc"], episodes)
    _log(f"BC-argmax disagrees with the noiseless expert on {disagreement:.1%} of the data's states")

    # ---- ask and evaluate --------------------------------------------------------------------
    t0 = time.perf_counter()
    spec = trained["rvs"].io.condition
    best_return = spec.best[0]
    high_return = float(returns.max())
    expected_best = trained["rvs_expected"].io.condition.best[0]
    results: list[EvalResult] = data_rows(episodes)
    filtered_label = f"filtered BC (top {cfg.top_fraction:.0%})"

    def run_agent(policy: Any, name: str) -> EvalResult:
        r = evaluate(cfg.env_id, policy, episodes=cfg.eval_episodes, num_envs=cfg.num_envs, name=name)
        _log(f"  {name:<34} {r.mean:8.1f}  [{r.ci95[0]:.1f}, {r.ci95[1]:.1f}]")
        results.append(r)
        return r

    # Acting is many small forward passes: one torch thread is faster than two on 2 cores
    # (200 RvS episodes: 13.2 s with two, 9.4 s with one) and leaves a core to the envs.
    torch.set_num_threads(1)
    _log(f"evaluating each agent over {cfg.eval_episodes} episodes (seeds {EVAL_SEED}...) with both action rules:")
    by_rule: dict[str, dict[str, EvalResult]] = {}
    for rule in ("argmax", "sample"):
        mine = by_rule.setdefault(rule, {})
        run_agent(ask(trained["bc"], action_rule=rule), f"BC/{rule}")
        run_agent(ask(trained["filtered_bc"], action_rule=rule), f"{filtered_label}/{rule}")
        if cql is not None:
            from justask.peers.d3rlpy_peer import QPolicy

            policy = QPolicy(cql, int(episodes.action_space.n), rule, name="d3rlpy DiscreteCQL")
            run_agent(policy, f"d3rlpy DiscreteCQL/{rule}")
        for name, label in SWEPT.items():
            mine[name] = run_agent(ask(trained[name], action_rule=rule), f"{label}/{rule}")
    timings["evaluate_s"] = time.perf_counter() - t0
    rows = [r.to_json() for r in results]

    # ---- does the request steer? each episode asked a return drawn like the data's ----------
    t0 = time.perf_counter()
    control = {}
    for name, label in SWEPT.items():
        rule = better_rule(rows, label)
        control[name] = steering(
            cfg.env_id,
            trained[name],
            None,
            episodes=cfg.eval_episodes,
            num_envs=cfg.num_envs,
            action_rule=rule,
            asked=by_rule[rule][name],
        )
        _log(steering_line(label, control[name]))
    timings["steering_s"] = time.perf_counter() - t0

    # ---- the sweep: does behaviour follow the ask? ------------------------------------------
    t0 = time.perf_counter()
    low = float(np.percentile(returns, 10))
    asked_values = [*np.linspace(low, high_return, cfg.sweep_points).tolist(), high_return + 50.0, high_return + 100.0]
    sweeps: dict[str, dict[str, Any]] = {}
    for model_name in cfg.sweep_models:
        rule = better_rule(rows, SWEPT[model_name])
        points = []
        _log(f"sweep {model_name}/{rule}: asked return -> achieved ({cfg.sweep_episodes} episodes each)")
        for asked in asked_values:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", JustAskWarning)  # the mapping is recorded in the point
                agent = ask(trained[model_name], asked, action_rule=rule)
            r = evaluate(cfg.env_id, agent, episodes=cfg.sweep_episodes, num_envs=cfg.num_envs, progress=False)
            lo, hi = r.ci95
            points.append(
                {
                    "asked": round(asked, 2),
                    "mapped_to": agent.info.get("mapped_to"),
                    "predicted": agent.info.get("predicted"),
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
            folder / "rollout.gif",
            cfg.env_id,
            ask(trained["dt"], action_rule=rule),
            seed=EVAL_SEED,
            caption=f"DT asked {best_return:.0f} ({rule})",
        )
    timings["total_s"] = time.perf_counter() - started
    above = top_of_data(episodes, best_return)
    return {
        "dataset": {
            "source": dataset_ref,
            "episodes": episodes.num_episodes,
            "steps": episodes.num_steps,
            "return_quantiles": {str(q): round(float(np.percentile(returns, q)), 2) for q in (10, 50, 90, 95, 99, 100)},
            "bc_argmax_expert_disagreement": round(disagreement, 4),
            "above_best_ask": above,
        },
        "asked": {
            "best": round(best_return, 2),
            "best_rule": "the highest return predicted to get the most (from the data's policies that each request selects)",
            "best_predicted": [round(v, 1) for v in spec.predict() or ()],
            "best_expected": round(expected_best, 2),
            "best_expected_predicted": [round(v, 1) for v in trained["rvs_expected"].io.condition.predict() or ()],
            "high": round(high_return, 2),
        },
        "agents": rows,
        "steering": control,
        "sweep": sweeps,
        "findings": findings(rows, sweeps, control, high_return, filtered_label)
        + [top_of_data_finding(above, best_return)],
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "rollout_gif": gif_info,
        "models": {name: str(folder / name) for name in trained},
    }


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
            zeros = torch.zeros(len(chunk), 1, dtype=torch.long)
            chosen.append(bc(chunk[:, None], zeros, None, zeros)[:, 0].argmax(-1))
    return float((torch.cat(chosen).numpy() != expert).mean())


def better_rule(rows: list[dict[str, Any]], prefix: str) -> str:
    mine = [r for r in rows if r["name"].startswith(prefix + "/")]
    return max(mine, key=lambda r: r["mean"])["action_rule"] if mine else "argmax"


def best_of(rows: list[dict[str, Any]], prefix: str) -> dict[str, Any] | None:
    mine = [r for r in rows if r["name"].startswith(prefix + "/")]
    return max(mine, key=lambda r: r["mean"]) if mine else None


def findings(
    rows: list[dict[str, Any]],
    sweeps: dict[str, Any],
    control: dict[str, Any],
    high_return: float,
    filtered_label: str,
) -> list[str]:
    """Statements read off the numbers (each agent at its better action rule)."""
    out = []
    bc = best_of(rows, "BC")
    fbc = best_of(rows, filtered_label)
    for label in SWEPT.values():
        r = best_of(rows, label)
        if r is None or bc is None:
            continue
        verdict = (
            "beats" if r["ci95"][0] > bc["ci95"][1] else "loses to" if r["ci95"][1] < bc["ci95"][0] else "overlaps"
        )
        line = (
            f"{label} ({r['action_rule']}): {r['mean']:.1f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}] {verdict} "
            f"BC ({bc['action_rule']}) {bc['mean']:.1f} [{bc['ci95'][0]:.1f}, {bc['ci95'][1]:.1f}]"
        )
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
    for name, result in control.items():
        out.append(
            steering_line(f"steering {name} (asked best vs each episode asked a return drawn like the data's)", result)
        )
    for name, sweep in sweeps.items():
        pts = sweep["points"]
        n_in = len(pts) - 2
        at_max, above = pts[n_in - 1], pts[n_in:]
        out.append(
            f"sweep {name}: Spearman(asked, achieved) = {sweep['spearman_in_data_range']:.2f} over {n_in} asked values in the data's range; "
            f"asking above the data's best ({high_return:.0f}): "
            + ", ".join(
                f"asked {p['asked']:.0f}"
                + (f" (asked as {p['mapped_to']:.0f})" if p.get("mapped_to") is not None else "")
                + f" -> {p['mean']:.1f}"
                for p in above
            )
            + f" vs asked {at_max['asked']:.0f} -> {at_max['mean']:.1f}"
            + (
                " (overlapping CIs: a plateau)"
                if all(overlaps(tuple(p["ci95"]), tuple(at_max["ci95"])) for p in above)
                else ""
            )
        )
    return out


AGENTS = ("BC", "filtered BC", "d3rlpy DiscreteCQL", *SWEPT.values())


def markdown(report: dict[str, Any]) -> str:
    per_seed = report["per_seed"]
    seeds = list(per_seed)
    first = per_seed[seeds[0]]
    d = first["dataset"]
    lines = [
        "# LunarLander: asking return-conditioned models for a high return",
        "",
        f"Seeds {', '.join(seeds)}; data per seed: {d['episodes']} episodes, {d['steps']} steps from a population of "
        f"suboptimal landers. BC-argmax disagrees with the noiseless expert on "
        + ", ".join(f"**{per_seed[s]['dataset']['bc_argmax_expert_disagreement']:.1%}**" for s in seeds)
        + " of the data's states.",
        f"Asked: *best* = {first['asked']['best_rule']}: return-to-go "
        + ", ".join(
            f"{per_seed[s]['asked']['best']:.0f} (predicted {per_seed[s]['asked']['best_predicted'][1]:.0f})"
            for s in seeds
        )
        + "; expected return "
        + ", ".join(
            f"{per_seed[s]['asked']['best_expected']:.0f} (predicted {per_seed[s]['asked']['best_expected_predicted'][1]:.0f})"
            for s in seeds
        )
        + ". The data's best episode: "
        + ", ".join(f"{per_seed[s]['asked']['high']:.0f}" for s in seeds)
        + "; a request above the best is mapped down to it.",
        "",
        "## Each agent at its better action rule (mean return, bootstrap 95% CI)",
        "",
        "| agent | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|---|" + "---|" * len(seeds),
    ]
    for prefix in AGENTS:
        cells = []
        for s in seeds:
            a = next(
                (
                    r
                    for r in sorted(per_seed[s]["agents"], key=lambda r: -r["mean"])
                    if r["name"].startswith(prefix) and r.get("action_rule")
                ),
                None,
            )
            cells.append(
                "—" if a is None else f"{a['mean']:.1f} [{a['ci95'][0]:.0f}, {a['ci95'][1]:.0f}] ({a['action_rule']})"
            )
        if any(c != "—" for c in cells):
            lines.append(f"| {prefix} | " + " | ".join(cells) + " |")
    for name in [a["name"] for a in first["agents"] if a["name"].startswith("data: ")]:
        cells = []
        for s in seeds:
            a = next((x for x in per_seed[s]["agents"] if x["name"] == name), None)
            cells.append("—" if a is None else f"{a['mean']:.1f} [{a['ci95'][0]:.0f}, {a['ci95'][1]:.0f}]")
        lines.append(f"| {name} ({first['agents'][0]['episodes']} episodes) | " + " | ".join(cells) + " |")
    lines += ["", "## Does the request steer?", ""]
    lines += [
        "Each model asked its best, against the same episodes with each asked a return drawn "
        "like the data's own (the steering control); gap = asked minus control, paired bootstrap 95% CI.",
        "",
    ]
    for s in seeds:
        for name, result in per_seed[s]["steering"].items():
            lines.append(f"- {steering_line(f'seed {s}, {name}', result)}")
    for s in seeds:
        lines += ["", f"## Seed {s}: every agent and action rule", "", results_table(per_seed[s]["agents"])]
        for name, sweep in per_seed[s]["sweep"].items():
            lines += [
                "",
                f"### Sweep {name} ({sweep['action_rule']}), {sweep['episodes_per_point']} episodes per asked value; "
                f"the last two asks are above the data's best",
                "",
                f"Spearman over the asked values inside the data's range: **{sweep['spearman_in_data_range']:.2f}**",
                "",
                sweep_table(sweep["points"]),
            ]
        lines += ["", f"### Findings, seed {s}", "", *[f"- {f}" for f in per_seed[s]["findings"]]]
        lines += ["", f"Timings (s): {per_seed[s]['timings_s']}"]
    lines += [
        "",
        "Pictures: `sweep.png` (achieved vs asked, every seed), `agents.png` (all agents of the first seed), "
        "`seed<N>/rollout.gif` (the DT asked for the best). Trained models: `seed<N>/{dt,rvs,bc,filtered_bc}` "
        "(`justask ask` / `justask eval` them).",
    ]
    return "\n".join(lines) + "\n"


def plot_sweeps(path: Path, per_seed: dict[str, dict[str, Any]], env_id: str) -> None:
    """Achieved vs asked return, one line per model and seed."""
    sweeps = {
        f"{model} ({sweep['action_rule']}), seed {s}": sweep["points"]
        for s, r in per_seed.items()
        for model, sweep in r["sweep"].items()
    }
    if not sweeps:
        return
    first = next(iter(per_seed.values()))
    q = first["dataset"]["return_quantiles"]
    fbc = best_of(first["agents"], "filtered BC")
    plot_sweep(
        path,
        sweeps,
        marks={f"data 95th pct ({q['95']:.0f})": q["95"], f"data best episode ({q['100']:.0f})": q["100"]},
        reference={f"filtered BC, first seed ({fbc['action_rule']})": (fbc["mean"], *fbc["ci95"])} if fbc else None,
        title=f"{env_id}: achieved vs asked return",
    )


PRESETS = {
    # The benchmark: three seeds at larger budgets than the quick demo, 500 episodes per agent.
    "benchmark": Config(
        seeds=(0, 1, 2),
        dt_train=TrainConfig(steps=8000, batch_size=64, threads=2),
        mlp_train=TrainConfig(steps=10000, batch_size=256, threads=2),
        cql_steps=20000,
        eval_episodes=500,
        sweep_episodes=200,
    ),
}

RECIPE = Recipe(
    name="lunarlander",
    summary="ask return-conditioned models (DT, RvS) for a high return on LunarLander, beside BC, filtered BC and CQL",
    config=Config,
    run=run,
    pictures=("sweep.png", "agents.png", "seed0/rollout.gif"),
)
