"""Hindsight goals on PointMaze, offline: explore -> relabel with achieved goals -> fit -> ask.

Data: the planner sent through random waypoints (``WaypointExplorer``, never the evaluation
goals), episodes running to the time limit. Every step is relabeled with a goal its own
trajectory reached later (``hindsight_goals``), a goal-conditioned DT and an RvS-G MLP learn
p(action | history, goal), and each is asked for the env's own goals — the goal of every
evaluation episode comes from its seed, as the env draws it. Success: reaching the goal (within
0.45) before the time limit. Peers on the same data: d3rlpy IQL and CQL (goal in the
observation, sparse reward recomputed per goal); the planner told the goal is the ceiling. The
steering control asks each episode another episode's goal, success still judged by its own.

The defaults are the quick demo (one seed, a few minutes on 2 CPU cores); the benchmarks are the
presets ``medium`` and ``large`` (``benchmarks/run.py maze --preset medium``).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from justask.asking import ask
from justask.collection import collect
from justask.configs import TrainConfig, seed_tuple, whole_numbers
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.evaluation import EvalResult, evaluate, steering, steering_line
from justask.models.config import ModelConfig
from justask.models.policy import PolicyModel
from justask.recipes import Recipe
from justask.relabel import GOAL, GOAL_STRATEGIES, hindsight_goal_copies
from justask.report import provenance, write_report
from justask.stats import overlaps, pooled_success
from justask.suites import maze as mz
from justask.training import train

GOAL_MODELS = ("dt", "mlp")
PEERS = ("iql", "cql")  # d3rlpy, goal in the observation, sparse reward recomputed per goal
MODEL_NAMES = {"dt": "goal-DT", "mlp": "RvS-G", "iql": "IQL (d3rlpy)", "cql": "CQL (d3rlpy)"}
PLANNER = "planner (told the goal)"


@dataclasses.dataclass
class Config:
    """Hindsight goals on PointMaze, offline; the defaults are the quick demo (seed 0, a few
    minutes on 2 CPU cores)."""

    out: str = "runs/demo-maze"
    """Run folder: report.md/json, success.png, paths.png, rollout.gif, and per seed the trained models (seed<N>/dt, /mlp)."""
    seeds: tuple[int, ...] = (0,)
    """Training seeds; each collects its own explorer data (episode seeds from seed x 100000) and relabels it."""
    maze: str = "Medium"
    """Medium or Large (gymnasium-robotics PointMaze)."""
    episodes: int = 100
    """Explorer episodes per seed (the planner sent to random waypoints, to the time limit: 600 / 800 steps)."""
    action_noise: float = 0.2
    """Std of the explorer's Gaussian action noise."""
    strategy: str = "future"
    """Hindsight goals: future (cut at random points), final, random."""
    horizon: int = 200
    """At most this many steps between a step and the goal it is relabeled with."""
    copies: int = 2
    """Relabeled copies of the data (different cuts, more goals per step)."""
    models: tuple[str, ...] = GOAL_MODELS
    """Goal models: dt (goal-conditioned DT), mlp (RvS-G); peers iql, cql (d3rlpy, the MLP's steps and batch)."""
    dt: ModelConfig = dataclasses.field(
        default_factory=lambda: ModelConfig(kind="dt", context_len=10, d_model=64, n_layer=2, n_head=1)
    )
    """The goal-conditioned Decision Transformer."""
    dt_train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=1500, batch_size=64, threads=2, device="cpu")
    )
    """How the DT is fitted (its seed is each of --seeds)."""
    mlp: ModelConfig = dataclasses.field(default_factory=lambda: ModelConfig(kind="mlp", hidden_sizes=(256, 256)))
    """The RvS-G MLP."""
    mlp_train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=3000, batch_size=256, threads=2, device="cpu")
    )
    """How the MLP is fitted (its seed is each of --seeds); the d3rlpy peers take its steps, batch size and device."""
    eval_episodes: int = 200
    """Evaluation episodes per model and seed on the env's own goals (and per steering control)."""
    num_envs: int = 100
    """Envs stepped together during evaluation."""
    gif: bool = True
    """Render the first goal model asked for a far goal (rollout.gif)."""
    overwrite: bool = False
    """Replace an existing run folder."""

    def __post_init__(self) -> None:
        self.seeds = seed_tuple(self.seeds)
        self.models = tuple(self.models)
        mz.env_id(self.maze)  # an unknown maze names the known ones
        whole_numbers(self, 1, "episodes", "horizon", "copies")
        whole_numbers(self, 2, "eval_episodes")  # the steering control needs another episode to borrow from
        whole_numbers(self, 1, "num_envs")
        if not self.action_noise >= 0:
            raise JustAskError(f"action_noise must be >= 0, got {self.action_noise}")
        if self.strategy not in GOAL_STRATEGIES:
            raise JustAskError(f"strategy must be one of {', '.join(GOAL_STRATEGIES)}, got '{self.strategy}'")
        unknown = sorted(set(self.models) - set(MODEL_NAMES))
        if unknown:
            raise JustAskError(f"models: unknown model '{unknown[0]}' (choose from {', '.join(MODEL_NAMES)})")
        if len(set(self.models)) != len(self.models):
            raise JustAskError(f"models: each model once, got {list(self.models)}")
        if not set(self.models) & set(GOAL_MODELS):
            raise JustAskError("models needs dt or mlp (the peers alone have no goal model to ask and picture)")
        if self.dt.kind != "dt" or self.mlp.kind != "mlp":
            raise JustAskError(f"dt.kind must be dt and mlp.kind mlp, got {self.dt.kind} and {self.mlp.kind}")


def _log(message: str) -> None:
    print(message, flush=True)


# ---- data --------------------------------------------------------------------------------------
def maze_data(cfg: Config, seed: int) -> Episodes:
    """The explorer's episodes in ``cfg.maze`` (no goal termination: they run to the limit)."""
    explorer = mz.WaypointExplorer(cfg.maze, cfg.action_noise, seed=seed)
    return collect(
        mz.env_id(cfg.maze),
        [(explorer, cfg.episodes)],
        num_envs=min(50, cfg.episodes),
        seed=seed * 100_000,
        progress=False,
        env_kwargs={"task": "explore"},
    )


# ---- models and peers --------------------------------------------------------------------------
def train_goal_model(kind: str, data: Episodes, cfg: Config, run_dir: Path, seed: int) -> PolicyModel:
    model, fitting = (cfg.dt, cfg.dt_train) if kind == "dt" else (cfg.mlp, cfg.mlp_train)
    return train(data, model, dataclasses.replace(fitting, seed=seed), run_dir, condition=GOAL)


def peer_policy(kind: str, data: Episodes, train_data: Episodes, cfg: Config, seed: int) -> Any:
    """d3rlpy IQL or CQL on the same data: the hindsight-relabeled copies plus one copy asking
    for random goals (negatives), as goal-conditioned MDPs with recomputed sparse rewards; the
    MLP's gradient steps and batch size."""
    from justask.peers.d3rlpy_peer import goal_actor

    return goal_actor(
        kind,
        data,
        train_data,
        lambda seeds: mz.episode_goals(cfg.maze, seeds),
        MODEL_NAMES[kind],
        steps=cfg.mlp_train.steps,
        batch_size=cfg.mlp_train.batch_size,
        seed=seed,
        device=cfg.mlp_train.device,
        horizon=cfg.horizon,
    )


# ---- evaluation ----------------------------------------------------------------------------------
def evaluate_goals(cfg: Config, policy: Any, name: str) -> EvalResult:
    """``policy`` on the env's own goals: the evaluation episodes (seeds from ``suites.maze.EVAL_SEED``)."""
    episodes = cfg.eval_episodes
    return evaluate(
        mz.env_id(cfg.maze),
        policy,
        episodes=episodes,
        num_envs=min(cfg.num_envs, episodes),
        seed=mz.EVAL_SEED,
        progress=False,
        name=name,
    )


def goal_steering(cfg: Config, model: PolicyModel, asked: EvalResult) -> dict[str, Any]:
    """The steering control: the same episodes, each asked another episode's goal; success is
    still reaching the episode's own goal."""
    return steering(
        mz.env_id(cfg.maze),
        model,
        mz.env_goals(cfg.maze),
        episodes=cfg.eval_episodes,
        num_envs=min(cfg.num_envs, cfg.eval_episodes),
        seed=mz.EVAL_SEED,
        action_rule="argmax",
        asked=asked,
        success_at=1.0,
    )


# ---- the run -----------------------------------------------------------------------------------
def run(cfg: Config, out: Path) -> dict[str, Any]:
    """Every goal model on every seed, beside the planner (the privileged expert); the pictures
    of the first seed's first goal model."""
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    data_info: list[dict[str, Any]] = []
    control: list[dict[str, Any]] = []
    models: dict[str, str] = {}
    for seed in cfg.seeds:
        seed_rows, seed_control, seed_models, info = run_seed(cfg, seed, out / f"seed{seed}")
        rows += seed_rows
        control += seed_control
        models.update(seed_models)
        data_info.append(info)
    planner = evaluate_goals(cfg, mz.MazePlanner(cfg.maze), PLANNER)
    rows.append({"model": PLANNER, "seed": None, **mz.goal_success(planner.returns, planner.lengths)})
    report: dict[str, Any] = {
        "recipe": "maze",
        "setup": setup_of(cfg),
        "seeds": list(cfg.seeds),
        "data": data_info,
        "rows": rows,
        "pooled": pooled_success(rows, ("model",)),
        "steering": control,
        "models": models,
    }
    first = next(m for m in cfg.models if m in GOAL_MODELS)
    first_dir = out / f"seed{cfg.seeds[0]}" / first
    model = _load(first_dir)
    pictures(cfg.maze, model, MODEL_NAMES[first], report, out, gif=cfg.gif)
    report["findings"] = findings(report)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return write_report(out, report, markdown(report), config=cfg, seeds=cfg.seeds)


def run_seed(
    cfg: Config, seed: int, folder: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, str], dict[str, Any]]:
    """One seed: collect, relabel, fit every model, ask each for the env's goals; the steering
    control of every goal model. Returns (rows, steering, model folders, data summary)."""
    t0 = time.perf_counter()
    data = maze_data(cfg, seed)
    train_data = hindsight_goal_copies(data, cfg.strategy, horizon=cfg.horizon, copies=cfg.copies, seed=seed)
    _log(f"seed {seed}: {data.summary()}; relabeled x{cfg.copies} in {time.perf_counter() - t0:.0f} s")
    rows, control, models = [], [], {}
    for kind in cfg.models:
        name = MODEL_NAMES[kind]
        t0 = time.perf_counter()
        if kind in PEERS:
            result = evaluate_goals(cfg, peer_policy(kind, data, train_data, cfg, seed), name)
        else:
            model = train_goal_model(kind, train_data, cfg, folder / kind, seed)
            models[f"seed{seed}/{kind}"] = str(folder / kind)
            result = evaluate_goals(cfg, ask(model, goal=mz.env_goals(cfg.maze), name=name), name)
            control.append({"model": name, "seed": seed, **goal_steering(cfg, model, result)})
            _log("  " + steering_line(f"{name} steering", control[-1]))
        rows.append({"model": name, "seed": seed, **mz.goal_success(result.returns, result.lengths)})
        _log(f"  {name:<14} success {rows[-1]['success']:.3f} ({time.perf_counter() - t0:.0f} s)")
    return rows, control, models, {"seed": seed, "episodes": data.num_episodes, "steps": data.num_steps}


def _load(run_dir: Path) -> PolicyModel:
    from justask.models import load_model

    return load_model(run_dir)


def setup_of(cfg: Config) -> dict[str, Any]:
    """What the report's text says about the run (the whole config is in its provenance)."""
    return {
        "maze": cfg.maze,
        "episodes": cfg.episodes,
        "action_noise": cfg.action_noise,
        "strategy": cfg.strategy,
        "horizon": cfg.horizon,
        "copies": cfg.copies,
        "models": list(cfg.models),
        "context_len": cfg.dt.context_len,
        "dt_steps": cfg.dt_train.steps,
        "dt_batch_size": cfg.dt_train.batch_size,
        "mlp_steps": cfg.mlp_train.steps,
        "mlp_batch_size": cfg.mlp_train.batch_size,
        "eval_episodes": cfg.eval_episodes,
    }


# ---- findings and the report ---------------------------------------------------------------------
def findings(report: dict[str, Any]) -> list[str]:
    """Statements read off the numbers: each model's pooled success, how the best goal model
    compares with the rest, and whether the request steers."""
    pooled = report["pooled"]
    seeds = len(report["seeds"])
    out = [
        "success on the env's own goals (pooled over "
        + f"{seeds} seed{'s' if seeds > 1 else ''}): "
        + "; ".join(
            f"{r['model']} {r['success']:.1%} [{r['success_ci95'][0]:.1%}, {r['success_ci95'][1]:.1%}]" for r in pooled
        )
    ]
    learned = [r for r in pooled if r["model"] != PLANNER]
    best = max(learned, key=lambda r: r["success"])
    for other in learned:
        if other is best:
            continue
        apart = not overlaps(tuple(best["success_ci95"]), tuple(other["success_ci95"]))
        out.append(
            f"{best['model']} {'above' if apart else 'level with (95% CIs overlap)'} {other['model']}: "
            f"{best['success']:.1%} vs {other['success']:.1%}"
        )
    for c in report["steering"]:
        out.append(steering_line(f"steering {c['model']}, seed {c['seed']} (each episode asked another's goal)", c))
    return out


def markdown(report: dict[str, Any]) -> str:
    s = report["setup"]
    lines = [
        f"# Hindsight goals on PointMaze_{s['maze']} (offline)",
        "",
        f"Seeds {', '.join(map(str, report['seeds']))}; {report['seconds'] / 60:.1f} min. Data per seed: "
        f"{s['episodes']} episodes of the planner sent to random waypoints (Gaussian action noise "
        f"{s['action_noise']:g}; episodes run to the time limit and never aim at the evaluation goals), relabeled "
        f"with '{s['strategy']}' hindsight goals at most {s['horizon']} steps ahead, {s['copies']} copies. "
        f"Goal-DT: context {s['context_len']}, {s['dt_steps']} steps, batch {s['dt_batch_size']}; RvS-G MLP: "
        f"{s['mlp_steps']} steps, batch {s['mlp_batch_size']}. Evaluation: {s['eval_episodes']} episodes per "
        "training seed on the env's own goal distribution (a uniform free cell ± 0.25, a different start cell; "
        "seeds from 2,000,000); success = within 0.45 of the goal before the time limit. The planner is told "
        "the goal (the privileged expert).",
        "",
        "| model | success [Wilson 95% CI] | episodes | per seed |",
        "|---|---|---:|---|",
    ]
    for row in report["pooled"]:
        lo, hi = row["success_ci95"]
        lines.append(
            f"| {row['model']} | {row['success']:.3f} [{lo:.3f}, {hi:.3f}] | {row['episodes']} | "
            f"{', '.join(f'{x:.2f}' for x in row['per_seed'])} |"
        )
    if any(m in PEERS for m in s["models"]):
        lines += [
            "",
            "IQL and CQL: d3rlpy with its default IQL / CQL settings and standardised observations, on the same "
            "relabeled data plus one copy asking for random goals (negatives), the goal appended to the observation "
            "and the sparse reward recomputed for every relabeled goal; the RvS-G MLP's gradient steps and batch.",
        ]
    lines += [
        "",
        "## Does the request steer?",
        "",
        "Each goal model asked each episode's own goal, against the same episodes each asked another episode's "
        "goal (a derangement); success is reaching the episode's own goal in both; gap = asked minus control, "
        "paired bootstrap 95% CI.",
        "",
        *["- " + steering_line(f"{c['model']}, seed {c['seed']}", c) for c in report["steering"]],
        "",
        "## Findings",
        "",
        *[f"- {f}" for f in report["findings"]],
        "",
    ]
    if report.get("paths_model"):
        lines.append(
            f"Pictures: `success.png` (success per model), `paths.png` ({report['paths_model']} asked for six goals "
            "far apart)" + (", `rollout.gif`." if report.get("gif") else ".")
        )
    return "\n".join(lines) + "\n"


# ---- pictures ------------------------------------------------------------------------------------
def pictures(maze: str, model: PolicyModel, label: str, report: dict[str, Any], out: Path, gif: bool) -> None:
    """success.png, paths.png (``model`` asked for six far-apart goals) and, with ``gif``, rollout.gif."""
    plot_success(report, out / "success.png")
    plot_paths(maze, goal_paths(model, maze, spread_goals(maze)), out / "paths.png", label)
    report["paths_model"] = label
    if gif:
        geo = mz.geometry(maze)
        goal, start_cell = spread_goals(maze, 2)
        seed = next(s for s in range(10_000, 20_000) if mz.episode_goal(maze, s)[2] == int(geo.cell_of(start_cell)))
        from justask.report import rollout_gif

        report["gif"] = rollout_gif(
            out / "rollout.gif",
            mz.env_id(maze),
            ask(model, goal=goal),
            seed=seed,
            caption=f"{label} asked for ({goal[0]:.1f}, {goal[1]:.1f})",
            reset_options={"goal": goal},
            every=3,
            scale=1.0,
        )


def plot_success(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["pooled"]
    fig, ax = plt.subplots(figsize=(6, 0.6 * len(rows) + 1.4))
    y = np.arange(len(rows))
    rates = np.array([r["success"] for r in rows])
    err = np.array([[r["success"] - r["success_ci95"][0], r["success_ci95"][1] - r["success"]] for r in rows]).T
    ax.barh(y, rates, xerr=err, color="#4c72b0", capsize=4)
    ax.set_yticks(y, [r["model"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("success rate (Wilson 95% CI)")
    ax.set_title(f"PointMaze_{report['setup']['maze']}: asked for the env's goals")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def goal_paths(model: PolicyModel, maze: str, goals: np.ndarray, seed: int = 0) -> list[dict[str, Any]]:
    """One episode per goal of ``model`` asked for it (the env's goal set to it too): the
    positions it went through and whether it got there."""
    import gymnasium as gym

    env = gym.make(mz.env_id(maze))
    out = []
    for k, goal in enumerate(np.asarray(goals, dtype=np.float64)):
        agent = ask(model, goal=goal)
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


# ---- runs over other seeds, side by side -> one report ---------------------------------------------
def merge(reports: list[dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    """One report from runs of the same settings over different seeds (run side by side). The
    planner ran on the same evaluation seeds in each, so it is kept once; the paths picture is
    redrawn from the first run's model when its folder is still there."""
    if not reports:
        raise JustAskError("merge needs at least one maze report")
    first = reports[0]
    for i, part in enumerate(reports):
        if part.get("recipe") != "maze":
            raise JustAskError(f"report {i + 1} is not a maze report (recipe: {part.get('recipe')})")
        if part["setup"] != first["setup"]:
            raise JustAskError(f"report {i + 1} ran other settings than report 1: {part['setup']} vs {first['setup']}")
    seeds = [seed for part in reports for seed in part["seeds"]]
    if len(set(seeds)) != len(seeds):
        raise JustAskError(f"the reports share seeds ({seeds}): merge runs over different seeds")
    rows = [r for part in reports for r in part["rows"] if r["seed"] is not None]
    rows += [r for r in first["rows"] if r["seed"] is None]
    merged: dict[str, Any] = {
        "recipe": "maze",
        "setup": first["setup"],
        "seeds": sorted(seeds),
        "data": [d for part in reports for d in part["data"]],
        "rows": rows,
        "pooled": pooled_success(rows, ("model",)),
        "steering": [c for part in reports for c in part["steering"]],
        "models": {k: v for part in reports for k, v in part.get("models", {}).items()},
        "seconds": max(part["seconds"] for part in reports),
    }
    merged["findings"] = findings(merged)
    out_dir = Path(out_dir)
    plot_success(merged, out_dir / "success.png")
    maze = first["setup"]["maze"]
    goal_model = next(m for m in first["setup"]["models"] if m in GOAL_MODELS)
    saved = Path(first.get("models", {}).get(f"seed{first['seeds'][0]}/{goal_model}", ""))
    if saved.is_dir() and (saved / "config.json").exists():
        plot_paths(
            maze, goal_paths(_load(saved), maze, spread_goals(maze)), out_dir / "paths.png", MODEL_NAMES[goal_model]
        )
        merged["paths_model"] = MODEL_NAMES[goal_model]
    prov = provenance(first["provenance"]["config"], merged["seeds"])
    merged["provenance"] = {**prov, "merged_from": [part["provenance"] for part in reports]}
    return write_report(out_dir, merged, markdown(merged))


PRESETS = {
    # benchmarks/results/maze_medium.*: three seeds (each ran as its own process with one torch
    # thread, then merged), every model and peer, 3000 DT steps, 500 evaluation episodes.
    "medium": Config(
        maze="Medium",
        seeds=(0, 1, 2),
        models=("dt", "mlp", "iql", "cql"),
        dt_train=TrainConfig(steps=3000, batch_size=64, threads=1, device="cpu"),
        mlp_train=TrainConfig(steps=3000, batch_size=256, threads=1, device="cpu"),
        eval_episodes=500,
        gif=False,
    ),
    # benchmarks/results/maze_large.*: the same on Large.
    "large": Config(
        maze="Large",
        seeds=(0, 1, 2),
        models=("dt", "mlp", "iql", "cql"),
        dt_train=TrainConfig(steps=3000, batch_size=64, threads=1, device="cpu"),
        mlp_train=TrainConfig(steps=3000, batch_size=256, threads=1, device="cpu"),
        eval_episodes=500,
        gif=False,
    ),
}

RECIPE = Recipe(
    name="maze",
    summary="hindsight goals on PointMaze: goal models asked for the env's own goals from an explorer's data",
    config=Config,
    run=run,
    pictures=("success.png", "paths.png", "rollout.gif"),
    merge=merge,
)
