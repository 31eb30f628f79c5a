"""Hindsight goals on PointMaze, offline: goal-conditioned DT and RvS-G asked for the env's goals.

    .venv/bin/python benchmarks/maze.py --maze Medium --seeds 0 1 2
    .venv/bin/python benchmarks/maze.py --maze Large --seeds 0 1 2

Writes ``benchmarks/results/maze_<maze>.{json,md,png}`` and ``maze_<maze>_paths.png``: per model, the success rate (reaching
the goal within 0.45 before the time limit) over every evaluation episode of every training seed,
with a Wilson 95% CI, and per seed; the planner told the goal beside them. The training data never
aimed at the evaluation goals: an explorer sent to random waypoints, relabeled in hindsight.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))


def merge(paths: list[str]) -> dict:
    """One table from runs of the same configuration over different seeds (run side by side).
    The planner ran on the same evaluation seeds in each, so it is kept once."""
    from justask.methods.maze_report import pooled

    parts = [json.loads(Path(p).read_text()) for p in paths]
    merged = dict(parts[0])
    rows = [r for part in parts for r in part["rows"] if r["seed"] is not None]
    merged["rows"] = rows + [r for r in parts[0]["rows"] if r["seed"] is None]
    merged["seeds"] = sorted(seed for part in parts for seed in part["seeds"])
    merged["data"] = [d for part in parts for d in part["data"]]
    merged["seconds"] = max(part["seconds"] for part in parts)
    merged["command"] = " ; ".join(part["command"] for part in parts)
    merged["machine"] = parts[0]["machine"] + (" (the runs side by side)" if len(parts) > 1 else "")
    merged["pooled"] = pooled(merged["rows"])
    return merged


def main() -> None:
    from justask.checkpoint import load_model
    from justask.methods.maze import MODEL_NAMES, PEERS, MazeConfig, run_maze
    from justask.methods.maze_report import goal_paths, markdown, plot_paths, plot_success, pooled, spread_goals

    defaults = MazeConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maze", default=defaults.maze)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    for field in dataclasses.fields(MazeConfig):
        if field.name in ("maze", "models", "threads", "device"):
            continue
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default)
    parser.add_argument("--models", nargs="+", default=list(defaults.models))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--name", default="")
    parser.add_argument("--out", default=str(ROOT / "results"))
    parser.add_argument("--runs", default="runs/benchmarks")
    parser.add_argument("--merge", nargs="+", help="JSON files of runs over different seeds: one table")
    args = parser.parse_args()
    if args.merge:
        from justask.methods.maze_report import markdown as merged_markdown
        from justask.methods.maze_report import plot_success as plot_merged

        results = merge(args.merge)
        name = args.name or f"maze_{results['config']['maze'].lower()}"
        out = Path(args.out)
        (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
        (out / f"{name}.md").write_text(merged_markdown(results, results["command"]))
        plot_merged(results, out / f"{name}.png")
        print((out / f"{name}.md").read_text())
        return
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(MazeConfig)}
    values["models"] = tuple(args.models)
    cfg = MazeConfig(**values)
    name = args.name or f"maze_{cfg.maze.lower()}"
    runs = Path(args.runs) / name
    shutil.rmtree(runs, ignore_errors=True)
    start = time.time()
    results = run_maze(cfg, runs, args.seeds)
    results["command"] = "python benchmarks/maze.py " + " ".join(sys.argv[1:])
    results["seconds"] = round(time.time() - start, 1)
    results["machine"] = f"{os.cpu_count()} CPU cores"
    results["pooled"] = pooled(results["rows"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results, results["command"])
    first = next(m for m in cfg.models if m not in PEERS)
    model = load_model(runs / f"seed{args.seeds[0]}" / first)
    label = MODEL_NAMES[first]
    plot_paths(cfg.maze, goal_paths(model, cfg.maze, spread_goals(cfg.maze)), out / f"{name}_paths.png", label)
    text += f"\nPictures: `{name}.png` (success per model), `{name}_paths.png` ({label} of seed {args.seeds[0]} asked for six goals far apart).\n"
    (out / f"{name}.md").write_text(text)
    plot_success(results, out / f"{name}.png")
    print(text)


if __name__ == "__main__":
    main()
