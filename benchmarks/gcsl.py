"""Goal reaching from scratch on PointMaze: GCSL against SB3 PPO and SAC+HER, success per env step.

    .venv/bin/python benchmarks/gcsl.py --seeds 0 1 2 --methods gcsl ppo sac_her

Writes ``benchmarks/results/gcsl_<maze>.{json,md,png}``: each method's learning curve (success on
the env's own goals, argmax / deterministic actions, 100 evaluation episodes per point with the
same evaluation seeds for every method) against the env steps it collected, per training seed;
env steps to 50% and 90% success; success at GCSL's env-step budget. Methods can run as separate
processes (``--methods``/``--seeds`` per process) and be merged with ``--merge``. The JSON is
rewritten after every finished method, so a long run keeps what it has.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

METHOD_NAMES = {"gcsl": "GCSL (RvS-G)", "ppo": "PPO (goal in obs)", "sac_her": "SAC+HER"}
COLOURS = {"gcsl": "tab:green", "ppo": "tab:blue", "sac_her": "tab:orange"}


def steps_to(curve: list[dict[str, Any]], level: float) -> int | None:
    return next((p["env_steps"] for p in curve if p["success"] >= level), None)


def at_budget(curve: list[dict[str, Any]], budget: int) -> dict[str, Any] | None:
    """The last evaluation at or before ``budget`` env steps."""
    before = [p for p in curve if p["env_steps"] <= budget]
    return before[-1] if before else None


def run_method(method: str, seed: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    if method == "gcsl":
        from justask.configs import GCSLConfig
        from justask.methods.gcsl import run_gcsl

        cfg = GCSLConfig(
            out=str(Path(args.runs) / f"gcsl_seed{seed}"),
            maze=args.maze,
            seed=seed,
            rounds=args.gcsl_rounds,
            eval_episodes=args.eval_episodes,
            threads=args.threads,
            overwrite=True,
        )
        return run_gcsl(cfg, progress=False)["curve"]
    from justask.peers.sb3_goal import train_goal_peer

    steps = args.ppo_steps if method == "ppo" else args.sac_steps
    every = args.ppo_eval_every if method == "ppo" else args.sac_eval_every
    start = time.time()

    def show(point: dict[str, Any]) -> None:
        print(
            f"{method} seed {seed}: {point['env_steps']:,} steps, success {point['success']:.2f} ({time.time() - start:.0f} s)"
        )

    _, curve = train_goal_peer(
        method,
        args.maze,
        steps,
        seed=seed,
        eval_every=every,
        eval_episodes=args.eval_episodes,
        on_eval=show,
        tensorboard_log=str(Path(args.runs) / "tensorboard"),
    )
    return curve


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """Per method: steps to 50/90% per seed, final success pooled over seeds (Wilson CI), and
    success at GCSL's budget (the mean over seeds of GCSL's final env steps)."""
    from justask.stats import wilson_ci

    runs = results["runs"]
    gcsl = [r for r in runs if r["method"] == "gcsl"]
    budget = int(np.mean([r["curve"][-1]["env_steps"] for r in gcsl])) if gcsl else None
    out: dict[str, Any] = {"budget": budget, "methods": {}}
    for method in METHOD_NAMES:
        mine = [r for r in runs if r["method"] == method]
        if not mine:
            continue
        final = [r["curve"][-1] for r in mine]
        wins = sum(round(p["success"] * p["episodes"]) for p in final)
        trials = sum(p["episodes"] for p in final)
        row: dict[str, Any] = {
            "seeds": [r["seed"] for r in mine],
            "final_env_steps": [p["env_steps"] for p in final],
            "final_success": wins / trials,
            "final_success_ci95": list(wilson_ci(wins, trials)),
            "steps_to_50": [steps_to(r["curve"], 0.5) for r in mine],
            "steps_to_90": [steps_to(r["curve"], 0.9) for r in mine],
        }
        if budget is not None:
            points = [at_budget(r["curve"], budget) for r in mine]
            if all(p is not None for p in points):
                wins = sum(round(p["success"] * p["episodes"]) for p in points)
                trials = sum(p["episodes"] for p in points)
                row["success_at_budget"] = wins / trials
                row["success_at_budget_ci95"] = list(wilson_ci(wins, trials))
        out["methods"][method] = row
    return out


def _steps(values: list[int | None], cap: list[int]) -> str:
    return ", ".join(f"{v:,}" if v is not None else f">{c:,}" for v, c in zip(values, cap, strict=True))


def markdown(results: dict[str, Any]) -> str:
    s = results["summary"]
    budget = s["budget"]
    lines = [
        f"# Goal reaching from scratch on PointMaze_{results['maze']}: GCSL vs PPO vs SAC+HER",
        "",
        f"Command: `{results['command']}` ({results['seconds'] / 60:.1f} min on {results['machine']}).",
        "",
        "Every method starts from nothing (no expert, no demonstrations) and learns on the env's own goal distribution; "
        f"every evaluation point is {results['eval_episodes']} episodes on the same evaluation seeds (the env's goals, "
        "argmax / deterministic actions; success = within 0.45 of the goal before the time limit). Env steps count "
        "the steps each method collected to learn (evaluation episodes are not counted). "
        f"GCSL: {results['gcsl_rounds']} rounds of 20 episodes, the RvS-G MLP refit each round on all experience "
        "relabeled with reached goals (`justask gcsl` defaults otherwise). PPO: SB3 2.x, 8 envs, the goal appended to the "
        "observation, sparse reward 1 and the episode ends at the goal. SAC+HER: SB3 `HerReplayBuffer` (future, 4 goals) "
        "on gymnasium-robotics' own dict-observation PointMaze (continuing task). Settings: `justask/peers/sb3_goal.py`.",
        "",
        "| method | seeds | env steps (final) | final success [Wilson 95% CI] | "
        + (f"success at GCSL's budget ({budget:,} steps) | " if budget else "")
        + "env steps to 50% (per seed) | env steps to 90% (per seed) |",
        "|---|---|---|---|" + ("---|" if budget else "") + "---|---|",
    ]
    for method, row in s["methods"].items():
        lo, hi = row["final_success_ci95"]
        cells = [
            METHOD_NAMES[method],
            ", ".join(map(str, row["seeds"])),
            ", ".join(f"{v:,}" for v in row["final_env_steps"]),
            f"{row['final_success']:.2f} [{lo:.2f}, {hi:.2f}]",
        ]
        if budget:
            if "success_at_budget" in row:
                blo, bhi = row["success_at_budget_ci95"]
                cells.append(f"{row['success_at_budget']:.2f} [{blo:.2f}, {bhi:.2f}]")
            else:
                cells.append("(no evaluation that early)")
        cells.append(_steps(row["steps_to_50"], row["final_env_steps"]))
        cells.append(_steps(row["steps_to_90"], row["final_env_steps"]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "'>N': not reached in the N env steps the run had.", ""]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    seen: set[str] = set()
    for run in results["runs"]:
        m = run["method"]
        x = [p["env_steps"] for p in run["curve"]]
        y = [p["success"] for p in run["curve"]]
        ax.plot(x, y, "o-", ms=3, lw=1.2, color=COLOURS[m], alpha=0.8, label=None if m in seen else METHOD_NAMES[m])
        seen.add(m)
    ax.set_xscale("log")
    ax.set_xlabel("env steps collected (log scale)")
    ax.set_ylabel("success on the env's goals")
    ax.set_ylim(0, 1.02)
    ax.axhline(0.5, color="grey", lw=0.6, ls=":")
    ax.axhline(0.9, color="grey", lw=0.6, ls=":")
    ax.set_title(f"From scratch on PointMaze_{results['maze']} (one line per training seed)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(results: dict[str, Any], out: Path, name: str) -> None:
    results["summary"] = summary(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown(results))
    plot(results, out / f"{name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maze", default="Medium")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=list(METHOD_NAMES), choices=list(METHOD_NAMES))
    parser.add_argument("--gcsl-rounds", type=int, default=14)
    parser.add_argument("--ppo-steps", type=int, default=1_000_000)
    parser.add_argument("--ppo-eval-every", type=int, default=50_000)
    parser.add_argument("--sac-steps", type=int, default=150_000)
    parser.add_argument("--sac-eval-every", type=int, default=10_000)
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="")
    parser.add_argument("--out", default=str(ROOT / "results"))
    parser.add_argument("--runs", default="runs/benchmarks/gcsl")
    parser.add_argument(
        "--merge", nargs="+", help="JSON files of runs over other seeds or methods: one table (later files win)"
    )
    args = parser.parse_args()
    name = args.name or f"gcsl_{args.maze.lower()}"
    out = Path(args.out)
    if args.merge:
        parts = [json.loads(Path(p).read_text()) for p in args.merge]
        results = dict(parts[0])
        # A later file's run of the same (method, seed) replaces an earlier one: merging the
        # published JSON with a rerun of one method updates it in place.
        latest = {(run["method"], run["seed"]): run for part in parts for run in part["runs"]}
        results["runs"] = sorted(latest.values(), key=lambda r: (list(METHOD_NAMES).index(r["method"]), r["seed"]))
        results["command"] = " ; ".join(part["command"] for part in parts)
        results["seconds"] = max(part["seconds"] for part in parts)
        results["machine"] = parts[0]["machine"] + (" (the runs side by side)" if len(parts) > 1 else "")
        write(results, out, name)
        print((out / f"{name}.md").read_text())
        return

    import torch

    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {
        "maze": args.maze,
        "gcsl_rounds": args.gcsl_rounds,
        "eval_episodes": args.eval_episodes,
        "command": "python benchmarks/gcsl.py " + " ".join(sys.argv[1:]),
        "machine": f"{os.cpu_count()} CPU cores",
        "runs": [],
    }
    start = time.time()
    for seed in args.seeds:
        for method in args.methods:
            curve = run_method(method, seed, args)
            results["runs"].append({"method": method, "seed": seed, "curve": curve})
            results["seconds"] = round(time.time() - start, 1)
            write(results, out, name)
    print((out / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
