"""Ask and get what you asked for: calibrated, monotone asking of return-conditioned models.

collect (the LunarLander population, calm and in strong gusty wind, where the same policy's
episodes end anywhere from a crash to a landing) -> relabel two ways: the plain return-to-go (one
episode's outcome) and the expected return (the mean return of the behaviour that made the episode:
an outcome one policy got by luck labels nothing above what that policy gets on average) -> train
RvS (and optionally DT) on each, BC and filtered BC as peers -> ask each model a sweep of the
data's return quantiles (each request mapped down to what the model can honour, with the
prediction of what it will get made before acting) and "the best" -> measure Spearman(asked,
achieved), collapse at the data's maximum, coverage of the predictions, and "best" against the
best fixed ask and filtered BC.

The defaults are the quick variant (seed 0, 100 episodes per ask, 30 calibration episodes per
request and rule); the benchmark is ``benchmarks/run.py asking --preset benchmark`` (3 seeds, 500
episodes per ask, 50 per calibrated request).
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
from justask.calibration import better_rule, calibrate_run
from justask.collection import collect
from justask.configs import TrainConfig, seed_tuple, whole_numbers
from justask.errors import JustAskError, JustAskWarning
from justask.evaluation import EVAL_SEED, EvalResult, evaluate
from justask.minari_io import save_minari
from justask.models.config import ModelConfig
from justask.models.policy import PolicyModel
from justask.recipes import Recipe
from justask.relabel import EXPECTED_RETURN, RETURN_TO_GO, expected_return, return_to_go
from justask.report import plot_sweep, write_report
from justask.stats import spearman
from justask.suites.lunar_lander import WINDY_ENV, demo_population
from justask.training import train

# model name -> (architecture field of Config, its training field, the condition column)
MODELS = {
    "rvs": ("mlp", "mlp_train", RETURN_TO_GO),
    "rvs_expected": ("mlp", "mlp_train", EXPECTED_RETURN),
    "dt": ("dt", "dt_train", RETURN_TO_GO),
    "dt_expected": ("dt", "dt_train", EXPECTED_RETURN),
}
LABELS = {
    "rvs": "RvS, return-to-go",
    "rvs_expected": "RvS, expected return",
    "dt": "DT, return-to-go",
    "dt_expected": "DT, expected return",
}
TARGETS = {"spearman": 0.9, "coverage": 0.9}


@dataclasses.dataclass
class Config:
    """Asking return-conditioned models a sweep of the data's return quantiles, calm and windy;
    the defaults are the quick variant (seed 0, 100 episodes per ask)."""

    out: str = "runs/asking"
    """Run folder: report.md/json, sweep_<task>.png, and per task and seed its dataset and models."""
    seeds: tuple[int, ...] = (0,)
    """Training seeds; each collects its own data (episode seeds from seed x 100000)."""
    tasks: tuple[str, ...] = ("LunarLander-v3", WINDY_ENV)
    """Env ids the population is collected and evaluated on."""
    episodes_per_policy: int = 150
    """Episodes collected from each of the population's seven policies."""
    behaviours: str = "policy"
    """Which behaviour made each episode: 'policy' (the data's metadata says) or 'clusters' (policy fingerprints)."""
    return_scale: float = 100.0
    """The models read returns divided by this."""
    models: tuple[str, ...] = ("rvs", "rvs_expected")
    """Return-conditioned models to ask (rvs, rvs_expected, dt, dt_expected); BC and filtered BC always."""
    mlp: ModelConfig = dataclasses.field(default_factory=lambda: ModelConfig(kind="mlp"))
    """The MLP of RvS, BC and filtered BC."""
    mlp_train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=6000, batch_size=256, threads=2)
    )
    """How each MLP is fitted (its seed is each of --seeds)."""
    dt: ModelConfig = dataclasses.field(
        default_factory=lambda: ModelConfig(
            kind="dt", context_len=10, n_layer=2, d_model=64, action_tokens=False, condition_token=False
        )
    )
    """The Decision Transformer (when --models names dt or dt_expected)."""
    dt_train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(steps=2500, batch_size=64, threads=2))
    """How the DT is fitted."""
    top_fraction: float = 0.1
    """Filtered BC trains on this top share of episodes by return."""
    quantiles: tuple[float, ...] = (0.1, 0.25, 0.4, 0.55, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
    """The asks: these quantiles of the data's episode returns (1.0: its best episode)."""
    episodes_per_ask: int = 100
    """Evaluation episodes per ask (and per agent and action rule)."""
    calibration_episodes: int = 30
    """Calibrate each return-conditioned model first (justask.calibration): episodes per request and
    action rule, on seeds apart from the evaluation's; asking then makes the request that got nearest
    what is asked, and the action rule is the one whose best calibrated request got the most.
    0: no calibration (the data's prediction; the action rule chosen on the evaluation of "best")."""
    calibration_points: int = 12
    """Requests calibrated, evenly spaced in the data's quantiles (repeated levels once)."""
    num_envs: int = 250
    """Envs stepped together during evaluation."""
    overwrite: bool = False
    """Replace an existing run folder."""

    def __post_init__(self) -> None:
        self.seeds = seed_tuple(self.seeds)
        self.tasks, self.models, self.quantiles = tuple(self.tasks), tuple(self.models), tuple(self.quantiles)
        whole_numbers(self, 1, "episodes_per_policy", "episodes_per_ask", "num_envs")
        whole_numbers(self, 0, "calibration_episodes")
        whole_numbers(self, 2, "calibration_points")
        if self.calibration_episodes == 1:
            raise JustAskError("calibration_episodes must be 0 (none) or at least 2")
        if not self.tasks:
            raise JustAskError("tasks: give at least one env id")
        unknown = sorted(set(self.models) - set(MODELS))
        if unknown:
            raise JustAskError(f"models: unknown model '{unknown[0]}' ({', '.join(MODELS)})")
        if self.behaviours not in ("policy", "clusters"):
            raise JustAskError(f"behaviours must be 'policy' or 'clusters', got '{self.behaviours}'")
        if not 0 < self.top_fraction <= 1:
            raise JustAskError(f"top_fraction must be in (0, 1], got {self.top_fraction}")
        bad = [q for q in self.quantiles if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 1]
        if len(self.quantiles) < 2 or bad or list(self.quantiles) != sorted(set(self.quantiles)):
            raise JustAskError(f"quantiles must be two or more rising numbers in [0, 1], got {list(self.quantiles)}")


def _log(message: str) -> None:
    print(message, flush=True)


def task_name(env_id: str) -> str:
    """A short name for file names: ``justask/WindyLunarLander-v3`` -> ``windylunarlander``."""
    return env_id.split("/")[-1].split("-")[0].lower()


def run(cfg: Config, out: Path) -> dict[str, Any]:
    """Every task and seed: collect, relabel, train, ask, evaluate; one report."""
    started = time.perf_counter()
    tasks = {
        env_id: {str(seed): run_one(cfg, env_id, seed, out / task_name(env_id) / f"seed{seed}") for seed in cfg.seeds}
        for env_id in cfg.tasks
    }
    report = {
        "recipe": "asking",
        "targets": TARGETS,
        "tasks": tasks,
        "summary": summary(tasks),
        "seconds": round(time.perf_counter() - started, 1),
    }
    report["findings"] = findings(report["summary"])
    report = write_report(out, report, markdown(report), config=cfg, seeds=cfg.seeds)
    for env_id, per_seed in tasks.items():
        plot_task(out / f"sweep_{task_name(env_id)}.png", env_id, per_seed)
    return report


def run_one(cfg: Config, env_id: str, seed: int, folder: Path) -> dict[str, Any]:
    timings: dict[str, float] = {}
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    _log(f"{env_id}, seed {seed}: collecting {cfg.episodes_per_policy} episodes from each of 7 lander policies ...")
    episodes = collect(env_id, demo_population(cfg.episodes_per_policy), num_envs=64, seed=seed * 100_000)
    dataset_ref = str(
        save_minari(episodes, folder.resolve() / "dataset", description=f"justask population on {env_id}")
    )
    timings["collect_s"] = time.perf_counter() - t0

    # ---- relabel: the outcome, and what the behaviour gets on average ---------------------------
    groups = behaviour_groups(episodes, by="policy" if cfg.behaviours == "policy" else None, seed=seed)
    episodes = return_to_go(episodes, scale=cfg.return_scale, behaviours=groups)
    episodes = expected_return(episodes, groups, scale=cfg.return_scale)
    returns = episodes.returns()
    top = np.argsort(returns, kind="stable")[-max(1, int(round(cfg.top_fraction * len(returns)))) :]
    fits: dict[str, tuple[Any, ModelConfig, TrainConfig, str | None]] = {
        "bc": (episodes, cfg.mlp, cfg.mlp_train, None),
        "filtered_bc": (episodes.select(np.sort(top)), cfg.mlp, cfg.mlp_train, None),
    }
    for name in cfg.models:
        arch, fitting, column = MODELS[name]
        fits[name] = (episodes, getattr(cfg, arch), getattr(cfg, fitting), column)
    trained: dict[str, PolicyModel] = {}
    for name, (data, model, fitting, condition) in fits.items():
        t0 = time.perf_counter()
        fitting = dataclasses.replace(fitting, seed=seed)
        trained[name] = train(data, model, fitting, folder / name, condition=condition, dataset=dataset_ref)
        timings[f"train_{name}_s"] = time.perf_counter() - t0
        _log(f"trained {name} ({fitting.steps} steps) in {timings[f'train_{name}_s']:.0f} s")

    # ---- ask and evaluate -----------------------------------------------------------------------
    torch.set_num_threads(1)  # acting is many small forward passes: one thread leaves a core to the envs
    t0 = time.perf_counter()

    def run_agent(agent: Any, name: str) -> EvalResult:
        r = evaluate(env_id, agent, episodes=cfg.episodes_per_ask, num_envs=cfg.num_envs, name=name, progress=False)
        _log(f"  {name:<44} {r.mean:8.1f}  [{r.ci95[0]:.1f}, {r.ci95[1]:.1f}]")
        return r

    peers = {}
    for name, label in (("bc", "BC"), ("filtered_bc", f"filtered BC (top {cfg.top_fraction:.0%})")):
        rules = {
            rule: run_agent(ask(trained[name], action_rule=rule), f"{label}/{rule}") for rule in ("argmax", "sample")
        }
        better = max(rules.values(), key=lambda r: r.mean)
        peers[name] = {"label": label, **better.to_json(), "by_rule": {k: v.to_json() for k, v in rules.items()}}

    asked_returns = [float(np.percentile(returns, 100 * q)) for q in cfg.quantiles]
    iqr = float(np.percentile(returns, 75) - np.percentile(returns, 25))
    methods = {}
    for name in cfg.models:
        model = trained[name]
        calibration = None
        if cfg.calibration_episodes:
            t1 = time.perf_counter()
            calibration = calibrate_run(
                folder / name,
                model,
                env_id,
                points=cfg.calibration_points,
                episodes=cfg.calibration_episodes,
                num_envs=cfg.num_envs,
            )
            timings[f"calibrate_{name}_s"] = time.perf_counter() - t1
            _log(f"calibrated {name} ({calibration['points']} requests x {cfg.calibration_episodes} episodes per rule)")
        rules = (better_rule(calibration),) if calibration else ("argmax", "sample")
        best_by_rule = {}
        for rule in rules:
            agent = ask(model, action_rule=rule)
            best_by_rule[rule] = (run_agent(agent, f"{LABELS[name]} asked best/{rule}"), dict(agent.info))
        rule = max(best_by_rule, key=lambda k: best_by_rule[k][0].mean)
        best_result, best_info = best_by_rule[rule]
        spec = model.io.condition
        points = []
        for q, value in zip(cfg.quantiles, asked_returns, strict=True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", JustAskWarning)  # the mapping is recorded in the point
                agent = ask(model, value, action_rule=rule)
            r = run_agent(agent, f"{LABELS[name]} asked q{q:g} ({value:.0f})/{rule}")
            made = float(agent.info["condition"])
            points.append(
                {
                    "asked_quantile": q,
                    "asked_return": round(value, 2),
                    "asked": round(value, 2),
                    "mapped_to": agent.info.get("mapped_to"),
                    "predicted": agent.info.get("predicted"),
                    "predicted_mean_ci": agent.info.get("predicted_mean_ci"),
                    "predicted_by_data": [round(v, 4) for v in spec.predict(made) or ()] or None,
                    "mean": round(r.mean, 2),
                    "ci95": [round(r.ci95[0], 2), round(r.ci95[1], 2)],
                    "data_episodes_at_or_above": int((returns >= value - 1e-6).sum()),
                }
            )
        methods[name] = {
            "label": LABELS[name],
            "action_rule": rule,
            "rule_chosen_by": "calibration" if calibration else "evaluation of the best ask",
            "calibration": calibration,
            "honourable": spec.honourable,
            "sweep": points,
            **sweep_metrics(points, iqr),
            "best": {
                "asked": best_info.get("condition"),
                "predicted": best_info.get("predicted"),
                "predicted_mean_ci": best_info.get("predicted_mean_ci"),
                **best_result.to_json(),
                "by_rule": {k: v[0].to_json() for k, v in best_by_rule.items()},
            },
        }
    timings["evaluate_s"] = time.perf_counter() - t0
    names = np.array([m.get("policy", "?") for m in episodes.metadata])
    return {
        "dataset": {
            "source": dataset_ref,
            "episodes": episodes.num_episodes,
            "steps": episodes.num_steps,
            "behaviours": int(groups.max() + 1),
            "grouped_by": cfg.behaviours,
            "return_quantiles": {f"{q:g}": round(v, 2) for q, v in zip(cfg.quantiles, asked_returns, strict=True)},
            "return_iqr": round(iqr, 2),
            "policy_mean_returns": {
                str(n): round(float(returns[names == n].mean()), 1) for n in dict.fromkeys(names.tolist())
            },
        },
        "peers": peers,
        "methods": methods,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "eval_seed": EVAL_SEED,
    }


def sweep_metrics(points: list[dict[str, Any]], iqr: float) -> dict[str, Any]:
    """The issue's measures of one sweep: Spearman(asked, achieved); collapse (the mean at the
    data's maximum minus the best mean over all asks: at least minus the best ask's CI half-width
    is no collapse); coverage (asks whose mean lies in the predicted middle half) and the
    predicted intervals' median width against the data's interquartile range."""
    asked = [p["asked_return"] for p in points]
    means = [p["mean"] for p in points]
    top = max(points, key=lambda p: p["mean"])
    half = (top["ci95"][1] - top["ci95"][0]) / 2
    collapse = points[-1]["mean"] - top["mean"]
    predicted = [p["predicted"] for p in points if p.get("predicted")]
    inside = [p["predicted"][0] <= p["mean"] <= p["predicted"][2] for p in points if p.get("predicted")]
    widths = [hi - lo for lo, _, hi in predicted]
    by_data = [p["predicted_by_data"] for p in points if p.get("predicted_by_data")]
    in_data = [
        lo <= p["mean"] <= hi for p in points if p.get("predicted_by_data") for lo, _, hi in [p["predicted_by_data"]]
    ]
    in_mean = [
        lo <= p["mean"] <= hi for p in points if p.get("predicted_mean_ci") for lo, hi in [p["predicted_mean_ci"]]
    ]
    extra = {}
    if in_mean:  # calibrated: also the stricter test, the measured mean inside the calibration's 95% CI of it
        extra["coverage_of_mean_ci"] = round(float(np.mean(in_mean)), 3)
    if by_data and in_mean:  # and what the data's prediction of the same requests would have covered
        extra["coverage_by_data"] = round(float(np.mean(in_data)), 3)
        extra["interval_width_by_data_median"] = round(float(np.median([hi - lo for lo, _, hi in by_data])), 2)
    return {
        "spearman": round(spearman(asked, means), 3),
        "collapse": round(collapse, 2),
        "no_collapse": bool(collapse >= -half),
        "best_fixed_ask": {"asked_return": top["asked_return"], "mean": top["mean"], "ci95": top["ci95"]},
        "coverage": round(float(np.mean(inside)), 3) if inside else None,
        "interval_width_median": round(float(np.median(widths)), 2) if widths else None,
        "data_iqr": round(iqr, 2),
        **extra,
    }


def summary(tasks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per task and method: the measures averaged over seeds, with each seed's."""
    rows = []
    for env_id, per_seed in tasks.items():
        first = next(iter(per_seed.values()))
        for name in first["methods"]:
            runs = [r["methods"][name] for r in per_seed.values()]
            fbc = [r["peers"]["filtered_bc"] for r in per_seed.values()]
            rows.append(
                {
                    "task": env_id,
                    "method": name,
                    "label": LABELS[name],
                    "seeds": list(per_seed),
                    "spearman": [m["spearman"] for m in runs],
                    "collapse": [m["collapse"] for m in runs],
                    "no_collapse": [m["no_collapse"] for m in runs],
                    "coverage": [m["coverage"] for m in runs],
                    "coverage_of_mean_ci": [m.get("coverage_of_mean_ci") for m in runs],
                    "coverage_by_data": [m.get("coverage_by_data") for m in runs],
                    "action_rule": [m["action_rule"] for m in runs],
                    "interval_width_median": [m["interval_width_median"] for m in runs],
                    "data_iqr": [m["data_iqr"] for m in runs],
                    "best": [m["best"]["mean"] for m in runs],
                    "best_ci95": [m["best"]["ci95"] for m in runs],
                    "best_fixed_ask": [m["best_fixed_ask"]["mean"] for m in runs],
                    "filtered_bc": [f["mean"] for f in fbc],
                    "filtered_bc_ci95": [f["ci95"] for f in fbc],
                    "best_vs_best_fixed": [_verdict(m["best"]["ci95"], m["best_fixed_ask"]["ci95"]) for m in runs],
                    "best_vs_filtered_bc": [
                        _verdict(m["best"]["ci95"], tuple(f["ci95"])) for m, f in zip(runs, fbc, strict=True)
                    ],
                }
            )
    return rows


def _verdict(a: tuple[float, float] | list[float], b: tuple[float, float] | list[float]) -> str:
    """``above``/``below`` when the 95% CIs do not overlap, else ``level``."""
    if a[0] > b[1]:
        return "above"
    if a[1] < b[0]:
        return "below"
    return "level"


def findings(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in rows:
        spear = ", ".join(f"{s:.2f}" for s in r["spearman"])
        cov = ", ".join("—" if c is None else f"{c:.2f}" for c in r["coverage"])
        collapses = sum(not ok for ok in r["no_collapse"])
        out.append(
            f"{r['task']}, {r['label']}: Spearman {spear} (target >= {TARGETS['spearman']}); "
            f"collapse at the data's maximum in {collapses} of {len(r['seeds'])} seeds; "
            f"coverage {cov} (target >= {TARGETS['coverage']}, median interval width "
            f"{np.mean(r['interval_width_median']):.0f} vs the data's IQR {np.mean(r['data_iqr']):.0f}); "
            f"asked best {', '.join(f'{b:.1f}' for b in r['best'])} vs the best fixed ask "
            f"{', '.join(f'{b:.1f}' for b in r['best_fixed_ask'])} ({', '.join(r['best_vs_best_fixed'])}) "
            f"and filtered BC {', '.join(f'{b:.1f}' for b in r['filtered_bc'])} ({', '.join(r['best_vs_filtered_bc'])})"
        )
    return out


def markdown(report: dict[str, Any]) -> str:
    calibrated = any(c is not None for r in report["summary"] for c in r["coverage_of_mean_ci"])
    how = (
        "Each model is first **calibrated**: asked each of a grid of requests over the data's range for a few "
        "episodes per action rule, on seeds apart from the evaluation's (`justask.calibration`); asking it a return "
        "then makes the request whose calibrated mean was nearest it (*asked as*), *predicted* is what that request "
        "got when calibrated (mean and middle half of its returns), and its action rule is the one whose best "
        "calibrated request got the most. "
        if calibrated
        else "A request above what the model can honour is mapped down to it, as `ask` does; *predicted* is what asking "
        "was predicted to get before acting: the mean and middle half of the returns of the data's behaviours the "
        "request selects. Each agent at its better action rule. "
    )
    lines = [
        "# Asking for a return: calibrated and monotone?",
        "",
        "Each model is asked the data's return quantiles, each ask evaluated on the same episode seeds. " + how,
        "",
        "| task | model | Spearman (≥ 0.9) | no collapse | coverage (≥ 0.9) | interval width / data IQR | "
        + ("mean in calibrated 95% CI | data's prediction coverage | " if calibrated else "")
        + "asked best | best fixed ask | filtered BC |",
        "|---|---|---|---|---|---|---|---|---|" + ("---|---|" if calibrated else ""),
    ]

    def listed(values: list[Any]) -> str:
        return ", ".join("—" if v is None else f"{v:.2f}" for v in values)

    for r in report["summary"]:
        lines.append(
            f"| {r['task']} | {r['label']} | {listed(r['spearman'])} | "
            f"{sum(r['no_collapse'])}/{len(r['seeds'])} | {listed(r['coverage'])} | "
            f"{np.mean(r['interval_width_median']):.0f} / {np.mean(r['data_iqr']):.0f} | "
            + (f"{listed(r['coverage_of_mean_ci'])} | {listed(r['coverage_by_data'])} | " if calibrated else "")
            + f"{', '.join(f'{b:.1f}' for b in r['best'])} | {', '.join(f'{b:.1f}' for b in r['best_fixed_ask'])} | "
            f"{', '.join(f'{b:.1f}' for b in r['filtered_bc'])} |"
        )
    lines += [
        "",
        "Seeds in each cell in order: " + ", ".join(report["summary"][0]["seeds"]) if report["summary"] else "",
    ]
    for env_id, per_seed in report["tasks"].items():
        for seed, run_ in per_seed.items():
            d = run_["dataset"]
            lines += [
                "",
                f"## {env_id}, seed {seed}",
                "",
                f"Data: {d['episodes']} episodes, {d['steps']} steps; {d['behaviours']} behaviours (by {d['grouped_by']}); "
                "policy means: " + ", ".join(f"{k} {v:.0f}" for k, v in d["policy_mean_returns"].items()) + ".",
                "",
                "| peer | mean [95% CI] (rule) |",
                "|---|---|",
            ]
            for p in run_["peers"].values():
                lines.append(
                    f"| {p['label']} | {p['mean']:.1f} [{p['ci95'][0]:.1f}, {p['ci95'][1]:.1f}] ({p['action_rule']}) |"
                )
            for m in run_["methods"].values():
                b = m["best"]
                limit = (
                    f"calibrated ({m['calibration']['points']} requests x {m['calibration']['episodes']} episodes per rule)"
                    if m.get("calibration")
                    else f"honours at most {m['honourable']:.1f}"
                )
                lines += [
                    "",
                    f"### {m['label']} ({m['action_rule']}); {limit}; asked best: "
                    f"{b['mean']:.1f} [{b['ci95'][0]:.1f}, {b['ci95'][1]:.1f}]",
                    "",
                    "| quantile | asked | asked as | predicted [middle half] | predicted mean [95% CI] | "
                    "achieved [95% CI] | data episodes ≥ asked |",
                    "|---|---|---|---|---|---|---|",
                ]
                for p in m["sweep"]:
                    pred, mapped, mean_ci = p["predicted"], p["mapped_to"], p.get("predicted_mean_ci")
                    lines.append(
                        f"| {p['asked_quantile']:g} | {p['asked_return']:.1f} | "
                        f"{'—' if mapped is None else f'{mapped:.1f}'} | "
                        f"{'—' if not pred else f'{pred[1]:.1f} [{pred[0]:.1f}, {pred[2]:.1f}]'} | "
                        f"{'—' if not mean_ci else f'[{mean_ci[0]:.1f}, {mean_ci[1]:.1f}]'} | "
                        f"{p['mean']:.1f} [{p['ci95'][0]:.1f}, {p['ci95'][1]:.1f}] | {p['data_episodes_at_or_above']} |"
                    )
                lines.append(
                    f"\nSpearman {m['spearman']:.2f}; collapse {m['collapse']:.1f} "
                    f"({'none' if m['no_collapse'] else 'asking the maximum gets significantly less'}); "
                    f"coverage {m['coverage']}"
                )
            lines.append(f"\nTimings (s): {run_['timings_s']}")
    lines += ["", "## Findings", "", *[f"- {f}" for f in report["findings"]]]
    lines += ["", "Pictures: `sweep_<task>.png` (achieved and predicted vs asked, first seed)."]
    return "\n".join(lines) + "\n"


def plot_task(path: Path, env_id: str, per_seed: dict[str, dict[str, Any]]) -> None:
    """Achieved (with CIs) and predicted (dashed, middle half shaded) vs asked, first seed."""
    seed, first = next(iter(per_seed.items()))
    sweeps = {f"{m['label']} ({m['action_rule']})": m["sweep"] for m in first["methods"].values()}
    if not sweeps:
        return
    fbc = first["peers"]["filtered_bc"]
    q = first["dataset"]["return_quantiles"]
    plot_sweep(
        path,
        sweeps,
        marks={f"data's best episode ({q['1']:.0f})": q["1"]} if "1" in q else None,
        reference={f"{fbc['label']} ({fbc['action_rule']})": (fbc["mean"], *fbc["ci95"])},
        title=f"{env_id}, seed {seed}: achieved and predicted vs asked return",
    )


PRESETS = {
    # The benchmark: three seeds, 500 episodes per ask and per agent, the DT beside the two RvS.
    "benchmark": Config(
        seeds=(0, 1, 2), episodes_per_ask=500, models=("rvs", "rvs_expected", "dt"), calibration_episodes=50
    ),
}

RECIPE = Recipe(
    name="asking",
    summary="calibrated, monotone asking: return-to-go vs expected-return conditioning, swept over the data's quantiles",
    config=Config,
    run=run,
    pictures=("sweep_lunarlander.png", "sweep_windylunarlander.png"),
)
