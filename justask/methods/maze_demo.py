"""``justask demo maze``: hindsight goals on PointMaze for one training seed, with the report,
the success plot, the paths to six far-apart goals and a rollout GIF."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from justask.checkpoint import new_run_folder
from justask.configs import MazeDemoConfig, command_line
from justask.errors import JustAskError

RUN_KIND = "demo-maze"


def run_maze_demo(cfg: MazeDemoConfig) -> dict[str, Any]:
    from justask.checkpoint import load_model
    from justask.methods.maze import MODEL_NAMES, PEERS, MazeConfig, run_maze
    from justask.methods.maze_report import goal_paths, markdown, plot_paths, plot_success, pooled, spread_goals
    from justask.report import rollout_gif
    from justask.suites import maze as mz

    out = Path(cfg.out)
    models = tuple(m.strip() for m in cfg.models.split(",") if m.strip())
    values = {**dataclasses.asdict(cfg), "models": models}
    maze_cfg = MazeConfig(**{f.name: values[f.name] for f in dataclasses.fields(MazeConfig) if f.name in values})
    if not models:
        raise JustAskError("--models needs at least one of: dt, mlp")
    new_run_folder(out, RUN_KIND, "demo", dataclasses.asdict(cfg), cfg.overwrite)
    start = time.time()
    results = run_maze(maze_cfg, out, [cfg.seed])
    results["pooled"] = pooled(results["rows"])
    first = next((m for m in models if m not in PEERS), None)
    if first is None:
        raise JustAskError("--models needs dt or mlp (the peers alone have no model to picture)")
    label = MODEL_NAMES[first]
    model = load_model(out / f"seed{cfg.seed}" / first)
    plot_paths(cfg.maze, goal_paths(model, cfg.maze, spread_goals(cfg.maze)), out / "paths.png", label)
    plot_success(results, out / "success.png")
    if cfg.gif:
        geo = mz.geometry(cfg.maze)
        goal, start_cell = spread_goals(cfg.maze, 2)
        seed = next(s for s in range(10_000, 20_000) if mz.episode_goal(cfg.maze, s)[2] == int(geo.cell_of(start_cell)))
        results["gif"] = rollout_gif(
            out / "rollout.gif",
            mz.env_id(cfg.maze),
            model.ask(goal=goal),
            seed=seed,
            caption=f"{label} asked for ({goal[0]:.1f}, {goal[1]:.1f})",
            reset_options={"goal": goal},
            every=3,
            scale=1.0,
        )
    results["seconds"] = round(time.time() - start, 1)
    command = command_line("justask demo maze", cfg)
    (out / "report.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = markdown(results, command.strip())
    text += f"\nPictures: `success.png`, `paths.png` ({label} asked for six goals far apart)"
    text += ", `rollout.gif`.\n" if cfg.gif else ".\n"
    (out / "report.md").write_text(text)
    return results
