"""The LunarLander demo at a larger budget over several seeds; writes JSON + Markdown + PNG.

    .venv/bin/python benchmarks/lunarlander_demo.py --seeds 0 1 2

Each seed collects its own data (episode seeds start at seed * 100000) and trains with its own
seed; every run folder is kept under runs/bench-lunarlander/seed<N>. The table compares each
agent at its better action rule, per seed, as the issue asks (no best-of-seeds picking).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from justask.configs import DemoConfig  # noqa: E402

# The larger variant: more data-independent training and evaluation than the quick default.
LARGE = dict(
    dt_steps=8000,
    dt_batch=64,
    mlp_steps=10000,
    cql_steps=20000,
    eval_episodes=500,
    sweep_points=8,
    sweep_episodes=200,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/bench-lunarlander")
    parser.add_argument("--results", default=str(ROOT / "results"))
    parser.add_argument("--quick", action="store_true", help="use the quick demo defaults instead of the larger budget")
    parser.add_argument(
        "--from-runs",
        action="store_true",
        help="summarise the finished run folders under --out again instead of running (no training, no evaluation)",
    )
    args = parser.parse_args()

    from justask.methods.lunarlander_demo import run_demo

    overrides = {} if args.quick else LARGE
    reports = {}
    started = time.perf_counter()
    for seed in args.seeds:
        cfg = DemoConfig(out=f"{args.out}/seed{seed}", seed=seed, data_seed=seed * 100_000, overwrite=True, **overrides)
        reports[seed] = _read_run(Path(cfg.out)) if args.from_runs else run_demo(cfg)
    total = (
        sum(r["timings_s"]["total_s"] for r in reports.values()) if args.from_runs else time.perf_counter() - started
    )
    if args.from_runs:
        sys.argv = [a for a in sys.argv if a != "--from-runs"]

    command = "python benchmarks/lunarlander_demo.py " + " ".join(sys.argv[1:])
    name = "lunarlander_demo_quick" if args.quick else "lunarlander_demo"
    summary = {
        "command": command.strip(),
        "seeds": args.seeds,
        "config": dataclasses.asdict(DemoConfig(**overrides)),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": _cpus()},
        "git_commit": _git_commit(),
        "total_s": round(total, 1),
        "per_seed": {str(s): _brief(r) for s, r in reports.items()},
    }
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    (results / f"{name}.md").write_text(render(summary))
    _plot(results / f"{name}_sweep.png", reports)
    print(render(summary))


def _read_run(run_dir: Path) -> dict:
    """A finished run's report, with the data-support columns added if the run predates them."""
    from justask.methods.lunarlander_demo import top_of_data, top_of_data_finding
    from justask.minari_io import load_minari

    report = json.loads((run_dir / "report.json").read_text())
    if "above_best_ask" not in report["dataset"]:
        episodes = load_minari(str(run_dir / "dataset"))
        returns = episodes.returns()
        for sweep in report["sweep"].values():
            for p in sweep["points"]:
                p["data_episodes_at_or_above"] = int((returns >= p["asked"] - 0.01).sum())
        top = top_of_data(episodes, report["asked"]["best"])
        report["dataset"]["above_best_ask"] = top
        report["findings"].append(top_of_data_finding(top, report["asked"]["best"]))
    return report


def _git_commit() -> str | None:
    import subprocess

    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        return None


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def _brief(report: dict) -> dict:
    return {
        "agents": report["agents"],
        "sweep": report["sweep"],
        "findings": report["findings"],
        "dataset": report["dataset"],
        "asked": report["asked"],
        "timings_s": report["timings_s"],
    }


AGENTS = [
    "BC",
    "filtered BC (top 10%)",
    "d3rlpy DiscreteCQL",
    "DT asked high",
    "DT asked best",
    "RvS asked best",
]


def _better(agents: list[dict], prefix: str) -> dict | None:
    mine = [a for a in agents if a["name"].startswith(prefix + "/")]
    return max(mine, key=lambda a: a["mean"]) if mine else None


def render(summary: dict) -> str:
    seeds = list(summary["per_seed"])
    lines = [
        "# LunarLander demo, larger budget"
        if "quick" not in summary["command"]
        else "# LunarLander demo, quick budget",
        "",
        f"Command: `{summary['command']}` — seeds {', '.join(seeds)}; {summary['machine']['cpus']} CPU cores; "
        f"total {summary['total_s'] / 60:.0f} min.",
        "",
        "Mean return over 500 evaluation episodes (bootstrap 95% CI), each agent at its better action rule "
        "(argmax or sample; the rule is given). Data rows: the dataset's own episodes.",
        "",
        "| agent | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|---|" + "---|" * len(seeds),
    ]
    for prefix in AGENTS:
        cells = []
        for s in seeds:
            a = _better(summary["per_seed"][s]["agents"], prefix)
            cells.append(
                "—" if a is None else f"{a['mean']:.1f} [{a['ci95'][0]:.0f}, {a['ci95'][1]:.0f}] ({a['action_rule']})"
            )
        lines.append(f"| {prefix} | " + " | ".join(cells) + " |")
    data_names = [a["name"] for a in summary["per_seed"][seeds[0]]["agents"] if a["name"].startswith("data: ")]
    for name in data_names:
        cells = []
        for s in seeds:
            a = next(x for x in summary["per_seed"][s]["agents"] if x["name"] == name)
            cells.append(f"{a['mean']:.1f} [{a['ci95'][0]:.0f}, {a['ci95'][1]:.0f}]")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| per seed | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|---|" + "---|" * len(seeds),
        "| BC-argmax disagrees with the expert | "
        + " | ".join(f"{summary['per_seed'][s]['dataset']['bc_argmax_expert_disagreement']:.1%}" for s in seeds)
        + " |",
        "| asked *best* (data's 95th pct) / *high* (data's best) | "
        + " | ".join(
            f"{summary['per_seed'][s]['asked']['best']:.0f} / {summary['per_seed'][s]['asked']['high']:.0f}"
            for s in seeds
        )
        + " |",
    ]
    for model in ("dt", "rvs"):
        if all(model in summary["per_seed"][s]["sweep"] for s in seeds):
            lines.append(
                f"| sweep Spearman, {model} | "
                + " | ".join(f"{summary['per_seed'][s]['sweep'][model]['spearman_in_data_range']:.2f}" for s in seeds)
                + " |"
            )
    lines.append(
        "| end-to-end time (s) | "
        + " | ".join(f"{summary['per_seed'][s]['timings_s']['total_s']:.0f}" for s in seeds)
        + " |"
    )
    from justask.report import sweep_table

    for model in ("rvs", "dt"):
        for s in seeds:
            sweep = summary["per_seed"][s]["sweep"].get(model)
            if sweep:
                lines += [
                    "",
                    f"### Sweep {model}, seed {s} ({sweep['action_rule']}, {sweep['episodes_per_point']} episodes per ask; "
                    "the last two asks are above the data's best)",
                    "",
                    sweep_table(sweep["points"]),
                ]
    lines += ["", "## Findings per seed (read off the numbers by the demo)", ""]
    for s in seeds:
        lines.append(f"**seed {s}**")
        lines += [f"- {f}" for f in summary["per_seed"][s]["findings"]]
        lines.append("")
    return "\n".join(lines) + "\n"


def _plot(path: Path, reports: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in ("dt", "rvs") if all(m in r["sweep"] for r in reports.values())]
    if not models:
        return
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.2), dpi=110, squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        for seed, report in reports.items():
            pts = report["sweep"][model]["points"]
            asked = np.array([p["asked"] for p in pts])
            mean = np.array([p["mean"] for p in pts])
            err = np.array([[p["mean"] - p["ci95"][0], p["ci95"][1] - p["mean"]] for p in pts]).T
            ax.errorbar(
                asked,
                mean,
                yerr=err,
                marker="o",
                capsize=2,
                label=f"seed {seed} ({report['sweep'][model]['action_rule']})",
            )
            ax.axvline(report["asked"]["high"], color="grey", ls="--", lw=0.8)
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], color="grey", ls=":", lw=1)
        ax.set_title(f"{model}: achieved vs asked return (dashed: data's best episode)")
        ax.set_xlabel("asked return")
        ax.set_ylabel("achieved return (mean, 95% CI)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
