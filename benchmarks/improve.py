"""In-context improvement with frozen weights: posterior sampling from a learned p(task |
experience), against the source algorithm from scratch and a memoryless return-conditioned DT.

    .venv/bin/python benchmarks/improve.py --family darkroom --seeds 0 1 2
    .venv/bin/python benchmarks/improve.py --family darkroom --noise-floor 0.5 --seeds 0 1 2 --name improve_darkroom_floor05
    .venv/bin/python benchmarks/improve.py --family bandit --seeds 0 1 2

Writes ``benchmarks/results/<name>.{json,md,png}``: Dark Room — return / optimum per in-context
episode on the held-out goals (bootstrap 95% CIs over every task instance of every training
seed); bandits — cumulative regret on tasks from the training and a shifted distribution.
Seeds can run as separate processes and be merged with ``--merge`` (their run folders).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

SKIP = ("out", "overwrite", "gif", "seed")


def pooled(runs: list[Path]) -> dict[str, Any]:
    """One report over the run folders of several training seeds: per-task results stacked."""
    from justask.methods.improve import GRIDS, bandit_summary, darkroom_summary

    reports = [json.loads((r / "report.json").read_text()) for r in runs]
    first = reports[0]
    family = first["config"]["family"]
    arrays = [dict(np.load(r / "per_task.npz")) for r in runs]
    results: dict[str, dict[str, Any]] = {}
    for set_name, methods in first["results"].items():
        results[set_name] = {}
        for method in methods:
            stacked = np.concatenate([a[f"{set_name}|{method}"] for a in arrays])
            if family in GRIDS:
                goals = [
                    g
                    for r, a in zip(reports, arrays, strict=True)
                    for g in r["config_tasks"][set_name][: len(a[f"{set_name}|{method}"])]
                ]
                summary = darkroom_summary({"normalised": stacked}, goals, family)
                summary["per_seed_final"] = [round(float(a[f"{set_name}|{method}"][:, -1].mean()), 3) for a in arrays]
            else:
                share = np.mean([r["results"][set_name][method]["best_arm_share_last_10"] for r in reports])
                summary = bandit_summary(stacked, float(share))
                summary["per_seed_regret"] = [round(float(a[f"{set_name}|{method}"][:, -1].mean()), 2) for a in arrays]
            results[set_name][method] = summary
    data_keys = ("best_episode_normalised", "last_position_mean_normalised", "mean_normalised")
    training = dict(first["training_data"])
    for key in data_keys:
        training[key] = float(np.mean([r["training_data"][key] for r in reports]))
    return {
        **first,
        "results": results,
        "training_data": training,
        "seeds": [r["config"]["seed"] for r in reports],
        "gif": first.get("gif"),
        "timings_s": {k: float(np.mean([r["timings_s"][k] for r in reports])) for k in first["timings_s"]},
        "seconds": max(r["seconds"] for r in reports),
        "per_task": arrays,
    }


def write(report: dict[str, Any], out: Path, name: str, command: str) -> None:
    from justask.methods.improve import markdown, plot_curves

    arrays = report.pop("per_task")
    raw = {
        s: {m: np.concatenate([a[f"{s}|{m}"] for a in arrays]) for m in methods}
        for s, methods in report["results"].items()
    }
    out.mkdir(parents=True, exist_ok=True)
    if report.get("gif") is None:
        report.pop("gif", None)
    report = {**report, "command": command, "machine": f"{os.cpu_count()} CPU cores"}
    (out / f"{name}.json").write_text(
        json.dumps({k: v for k, v in report.items() if k != "config_tasks"}, indent=2) + "\n"
    )
    text = markdown(report)
    text = text.replace("; seed ", "; seeds " + ", ".join(map(str, report["seeds"])) + " (pooled); first seed ", 1)
    text += f"\n{report['seconds'] / 60:.1f} min per seed on {report['machine']}; picture: `{name}.png`.\n"
    (out / f"{name}.md").write_text(text)
    plot_curves(out / f"{name}.png", report, raw)


def source_curves(args: argparse.Namespace, name: str, command: str) -> None:
    """The source algorithm alone (both Q-learning variants; no training) on the held-out tasks,
    per seed: its learning curve over ``--sources-only`` episodes."""
    from justask.configs import ImproveConfig
    from justask.incontext import run_in_context
    from justask.methods.improve import darkroom_summary, evaluation_tasks, family_of, resolved
    from justask.suites import darkroom

    cfg = resolved(ImproveConfig(family=args.family, eval_tasks=args.eval_tasks))
    sets = evaluation_tasks(cfg)
    rows = {}
    for set_name, tasks in sets.items():
        for label, settings in (("q-learning", {}), ("q-learning (ε-greedy)", darkroom.QLEARNING_EPSILON_GREEDY)):
            curves = [
                run_in_context(family_of(args.family), tasks, darkroom.QLearner(seed=s, **settings), args.sources_only)
                for s in args.seeds
            ]
            stacked = np.concatenate([c["normalised"] for c in curves])
            summary = darkroom_summary({"normalised": stacked}, tasks * len(args.seeds), args.family)
            summary["per_seed_episodes_to_0.9"] = [
                darkroom_summary(c, tasks, args.family)["episodes_to_0.9"] for c in curves
            ]
            summary.pop("curve")
            rows[f"{set_name} | {label}"] = summary
    out = Path(args.out)
    (out / f"{name}.json").write_text(json.dumps({"command": command, "results": rows}, indent=2) + "\n")
    lines = [f"# The source algorithm alone on {args.family}'s held-out tasks (seeds {args.seeds} pooled)", ""]
    lines += [
        "| tasks / method | "
        + " | ".join(f"episode {m}" for m in rows[next(iter(rows))]["at"])
        + " | episodes to 0.9 (pooled; per seed) |"
    ]
    lines += ["|---|" + "---|" * (len(rows[next(iter(rows))]["at"]) + 1)]
    for key, s in rows.items():
        cells = [f"{v['mean']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]" for v in s["at"].values()]
        lines.append(
            f"| {key} | " + " | ".join(cells) + f" | {s['episodes_to_0.9']}; {s['per_seed_episodes_to_0.9']} |"
        )
    lines += ["", "Reproduce:", "", "```", command, "```", ""]
    (out / f"{name}.md").write_text("\n".join(lines))


def main() -> None:
    from justask.configs import ImproveConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    for field in dataclasses.fields(ImproveConfig):
        if field.name not in SKIP:
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default)
    parser.add_argument("--name", default="")
    parser.add_argument("--out", default=str(ROOT / "results"))
    parser.add_argument("--runs", default="runs/benchmarks/improve")
    parser.add_argument("--merge", nargs="+", help="run folders of other seeds' runs: one table")
    parser.add_argument("--sources-only", type=int, default=0, help="only the source algorithm, this many episodes")
    args = parser.parse_args()
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(ImproveConfig) if f.name not in SKIP}
    floor = f"_floor{str(args.noise_floor).replace('.', '')}" if args.noise_floor else ""
    source = f"_{args.source}" if args.source else ""
    name = args.name or f"improve_{args.family}{source}{floor}"
    command = "python benchmarks/improve.py " + " ".join(sys.argv[1:])
    if args.sources_only:
        source_curves(args, args.name or f"improve_{args.family}_sources", command)
        print((Path(args.out) / f"{args.name or f'improve_{args.family}_sources'}.md").read_text())
        return
    if args.merge:
        runs = [Path(p) for p in args.merge]
        ran = [json.loads((r / "report.json").read_text()).get("command", "") for r in runs]
        command = " ; ".join([c for c in dict.fromkeys(ran) if c] + [command])
        write(pooled(runs), Path(args.out), name, command)
        print((Path(args.out) / f"{name}.md").read_text())
        return
    from justask.methods.improve import evaluation_tasks, resolved, run_improve

    runs = []
    start = time.time()
    for k, seed in enumerate(args.seeds):
        run = Path(args.runs) / name / f"seed{seed}"
        cfg = ImproveConfig(**values, seed=seed, out=str(run), overwrite=True, gif=k == 0)
        run_improve(cfg, progress=True, command=command)
        # the task instances, for the per-distance breakdown when pooling
        report = json.loads((run / "report.json").read_text())
        report["config_tasks"] = evaluation_tasks(resolved(cfg))
        (run / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        runs.append(run)
        print(f"seed {seed} done after {(time.time() - start) / 60:.1f} min", flush=True)
        write(pooled(runs), Path(args.out), name, command)
    print((Path(args.out) / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
