"""Reports of the maze runs: success per model pooled over seeds, its plot, and the maze with the
paths a goal model takes to several asked goals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from justask.stats import pooled_success
from justask.suites import maze as mz


def pooled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model: successes pooled over seeds (Wilson 95% CI) and the per-seed rates."""
    return pooled_success(rows, ("model",))


def markdown(results: dict[str, Any], command: str) -> str:
    cfg = results["config"]
    lines = [
        f"# Hindsight goals on PointMaze_{cfg['maze']} (offline)",
        "",
        f"Command: `{command}` ({results['seconds'] / 60:.1f} min on {results.get('machine', 'this machine')}).",
        "",
        f"Data per seed: {cfg['episodes']} episodes of the planner sent to random waypoints (Gaussian action "
        f"noise {cfg['action_noise']:g}; episodes run to the time limit and never aim at the evaluation goals), "
        f"relabeled with '{cfg['strategy']}' hindsight goals at most {cfg['horizon']} steps ahead, "
        f"{cfg['copies']} copies. Goal-DT: context {cfg['context_len']}, {cfg['dt_steps']} steps, batch "
        f"{cfg['dt_batch_size']}; RvS-G MLP: {cfg['mlp_steps']} steps, batch {cfg['batch_size']}. Evaluation: "
        f"{cfg['eval_episodes']} episodes per training seed on the env's own goal distribution (a uniform free "
        "cell ± 0.25, a different start cell; seeds from 2,000,000); success = within 0.45 of the goal before "
        "the time limit. The planner is told the goal (the privileged expert).",
        "",
        "| model | success [Wilson 95% CI] | episodes | per seed |",
        "|---|---|---:|---|",
    ]
    for row in results["pooled"]:
        lo, hi = row["success_ci95"]
        lines.append(
            f"| {row['model']} | {row['success']:.3f} [{lo:.3f}, {hi:.3f}] | {row['episodes']} | "
            f"{', '.join(f'{s:.2f}' for s in row['per_seed'])} |"
        )
    lines.append("")
    return "\n".join(lines)


def plot_success(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["pooled"]
    fig, ax = plt.subplots(figsize=(6, 0.6 * len(rows) + 1.4))
    y = np.arange(len(rows))
    rates = np.array([r["success"] for r in rows])
    err = np.array([[r["success"] - r["success_ci95"][0], r["success_ci95"][1] - r["success"]] for r in rows]).T
    ax.barh(y, rates, xerr=err, color="#4c72b0", capsize=4)
    ax.set_yticks(y, [r["model"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("success rate (Wilson 95% CI)")
    ax.set_title(f"PointMaze_{results['config']['maze']}: asked for the env's goals")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def goal_paths(model: Any, maze: str, goals: np.ndarray, seed: int = 0) -> list[dict[str, Any]]:
    """One episode per goal of ``model`` asked for it (the env's goal set to it too): the
    positions it went through and whether it got there."""
    import gymnasium as gym

    env = gym.make(mz.env_id(maze))
    out = []
    for k, goal in enumerate(np.asarray(goals, dtype=np.float64)):
        agent = model.ask(goal=goal)
        obs, _ = env.reset(seed=seed + k, options={"goal": goal})
        agent.reset(np.array([0]), np.array([seed + k]))
        path, done, info = [obs[:2].copy()], False, {"success": False}
        while not done:
            obs, reward, terminated, truncated, info = env.step(agent.act(obs[None], np.array([0]))[0])
            agent.observe(np.array([0]), np.array([reward]))
            path.append(obs[:2].copy())
            done = terminated or truncated
        out.append({"goal": goal.tolist(), "path": np.array(path), "success": bool(info["success"])})
    env.close()
    return out


def plot_paths(maze: str, paths: list[dict[str, Any]], path: Path, title: str) -> None:
    """The maze's walls and each episode's path (start: circle, goal: star)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    geo = mz.geometry(maze)
    rows, cols = geo.shape
    fig, ax = plt.subplots(figsize=(cols * 0.55 + 1, rows * 0.55 + 0.6))
    for r, c in np.argwhere(geo.walls):
        x0 = c * geo.scaling - cols / 2 * geo.scaling
        y0 = rows / 2 * geo.scaling - (r + 1) * geo.scaling
        ax.add_patch(plt.Rectangle((x0, y0), geo.scaling, geo.scaling, color="#555555"))
    colours = plt.cm.tab10(np.arange(len(paths)) % 10)
    for colour, p in zip(colours, paths, strict=True):
        xy = p["path"]
        ax.plot(xy[:, 0], xy[:, 1], color=colour, lw=1.6)
        ax.plot(*xy[0], "o", color=colour, ms=6)
        ax.plot(*p["goal"], "*", color=colour, ms=14, mec="black", mew=0.6)
        if not p["success"]:
            ax.plot(*xy[-1], "x", color="black", ms=8, mew=2)
    ax.set_xlim(-cols / 2 * geo.scaling, cols / 2 * geo.scaling)
    ax.set_ylim(-rows / 2 * geo.scaling, rows / 2 * geo.scaling)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    reached = sum(p["success"] for p in paths)
    ax.set_title(f"{title}: {reached}/{len(paths)} goals reached (star: goal, o: start, x: missed)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def spread_goals(maze: str, count: int = 6, seed: int = 0) -> np.ndarray:
    """``count`` goals at free-cell centres far apart (greedy farthest-point over the cells by
    path distance), for pictures."""
    geo = mz.geometry(maze)
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(geo.cells)))]
    while len(chosen) < min(count, len(geo.cells)):
        chosen.append(int(np.argmax(geo.distance[chosen].min(axis=0))))
    return geo.centre(np.array(chosen))
