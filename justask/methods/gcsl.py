"""GCSL (Ghosh et al. 2019) on PointMaze: goal-conditioned supervised learning from scratch.

No expert and no reward: the first round acts at random; every later round asks the current
model for the env's goals (sampling its actions, which explores), relabels *all* experience with
goals it actually reached (hindsight), refits the RvS-G MLP by maximum likelihood, and measures
success on the env's goals with argmax actions. The curve is success against the env steps
collected so far (evaluation episodes are not counted).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from justask.checkpoint import new_run_folder
from justask.collection import collect
from justask.configs import GCSLConfig
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.methods.maze import MazeConfig, evaluate_goals, goal_agent, relabeled, train_goal_model
from justask.suites import maze as mz

RUN_KIND = "gcsl"


def run_gcsl(cfg: GCSLConfig, progress: bool = True) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from justask.envs import env_spaces
    from justask.policies import RandomPolicy

    mz.env_id(cfg.maze)
    if cfg.action_rule not in ("sample", "argmax"):
        raise JustAskError(f"--action-rule must be sample or argmax, got '{cfg.action_rule}'")
    if cfg.rounds < 1 or cfg.episodes_per_round < 1:
        raise JustAskError("GCSL needs at least one round and one episode per round")
    out = Path(cfg.out)
    new_run_folder(out, RUN_KIND, "gcsl", dataclasses.asdict(cfg), cfg.overwrite)
    fit = MazeConfig(
        maze=cfg.maze,
        horizon=cfg.horizon,
        copies=1,
        models=("mlp",),
        mlp_steps=cfg.train_steps,
        batch_size=cfg.batch_size,
        threads=cfg.threads,
    )
    env_id = mz.env_id(cfg.maze)
    _, space = env_spaces(env_id)  # (it closes the env it opens)
    policy: Any = RandomPolicy(space)
    data: Episodes | None = None
    curve: list[dict[str, Any]] = []
    start = time.time()
    for r in tqdm(range(cfg.rounds), desc="gcsl", unit="round", disable=not progress):
        fresh = collect(
            env_id,
            [(policy, cfg.episodes_per_round)],
            num_envs=min(50, cfg.episodes_per_round),
            seed=cfg.seed * 1_000_000 + r * 10_000,
            progress=False,
        )
        data = fresh if data is None else Episodes.concatenate([data, fresh])
        shutil.rmtree(out / "model", ignore_errors=True)  # the folder keeps the latest round's model
        model = train_goal_model("mlp", relabeled(data, fit, cfg.seed * 1000 + r), fit, out / "model", cfg.seed)
        point = {
            "round": r + 1,
            "env_steps": int(data.num_steps),
            "collection_success": float((data.returns()[-cfg.episodes_per_round :] >= 1).mean()),
            **evaluate_goals(goal_agent(model, cfg.maze, "gcsl"), cfg.maze, cfg.eval_episodes),
        }
        curve.append(point)
        policy = _asking(model, cfg)
    results = {"config": dataclasses.asdict(cfg), "curve": curve, "seconds": round(time.time() - start, 1)}
    (out / "report.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "report.md").write_text(markdown(results))
    plot_curve(results, out / "curve.png")
    return results


def _asking(model: Any, cfg: GCSLConfig) -> Any:
    """The model acting for each episode's env goal with ``cfg.action_rule``."""
    from justask.agent import Agent

    return Agent(
        model,
        None,
        action_rule=cfg.action_rule,
        seed=cfg.seed,
        request_fn=lambda seeds: mz.episode_goals(cfg.maze, seeds),
        name=f"gcsl/{cfg.action_rule}",
    )


def steps_to(curve: list[dict[str, Any]], level: float) -> int | None:
    """Env steps collected when evaluation success first reached ``level`` (None: never)."""
    return next((p["env_steps"] for p in curve if p["success"] >= level), None)


def markdown(results: dict[str, Any]) -> str:
    cfg = results["config"]
    lines = [
        f"# GCSL from scratch on PointMaze_{cfg['maze']}",
        "",
        f"{cfg['rounds']} rounds of {cfg['episodes_per_round']} episodes (the first with uniform random actions); the RvS-G MLP "
        f"refit from scratch each round for {cfg['train_steps']} steps on all experience relabeled with goals "
        f"reached at most {cfg['horizon']} steps later; collection asks for the env's goals with "
        f"'{cfg['action_rule']}' actions; evaluation: {cfg['eval_episodes']} episodes, argmax, env goals. "
        f"Seed {cfg['seed']}; {results['seconds'] / 60:.1f} min.",
        "",
        "| round | env steps | success [Wilson 95% CI] | success of the round's collected episodes |",
        "|---:|---:|---|---:|",
    ]
    for p in results["curve"]:
        lo, hi = p["success_ci95"]
        lines.append(
            f"| {p['round']} | {p['env_steps']:,} | {p['success']:.2f} [{lo:.2f}, {hi:.2f}] | {p['collection_success']:.2f} |"
        )
    for level in (0.5, 0.9):
        reached = steps_to(results["curve"], level)
        lines.append("")
        lines.append(
            f"Env steps to {level:.0%} success: "
            + (f"{reached:,}" if reached is not None else f"not reached in {results['curve'][-1]['env_steps']:,}")
        )
    lines.append("")
    return "\n".join(lines)


def plot_curve(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = results["curve"]
    x = np.array([p["env_steps"] for p in curve])
    y = np.array([p["success"] for p in curve])
    lo = np.array([p["success_ci95"][0] for p in curve])
    hi = np.array([p["success_ci95"][1] for p in curve])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(x, y, "o-", label="GCSL (RvS-G), argmax")
    ax.fill_between(x, lo, hi, alpha=0.25)
    ax.set_xlabel("env steps collected")
    ax.set_ylabel("success on the env's goals")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"GCSL from scratch, PointMaze_{results['config']['maze']}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
