"""GCSL (Ghosh et al. 2019) on PointMaze: goal-conditioned supervised learning from scratch.

No expert and no reward: the first round acts at random; every later round asks the current
model for the env's goals (sampling its actions, which explores), relabels *all* experience with
goals it actually reached (hindsight), refits the RvS-G MLP by maximum likelihood, and measures
success on the env's goals with argmax actions. The curve is success against the env steps
collected so far (evaluation episodes are not counted). Beside it, from scratch too and measured
the same way (same evaluation seeds): SB3 PPO with the goal in the observation and SAC with
``HerReplayBuffer`` (``justask.peers.sb3_goal``). The steering control asks each episode of the
last round's model another episode's goal.

The defaults are the quick demo (GCSL alone, one seed, a few minutes on 2 CPU cores); the
benchmark is the preset ``medium`` (``benchmarks/run.py gcsl --preset medium``).
"""

from __future__ import annotations

import dataclasses
import shutil
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
from justask.relabel import GOAL, hindsight_goals
from justask.report import provenance, write_report
from justask.stats import wilson_ci
from justask.suites import maze as mz
from justask.training import train

# The maze recipe's evaluation episodes (seeds from here; their goals follow from them), so GCSL,
# its peers and the offline goal models are measured on the same goals.
METHOD_NAMES = {"gcsl": "GCSL (RvS-G)", "ppo": "PPO (goal in obs)", "sac_her": "SAC+HER"}
COLOURS = {"gcsl": "tab:green", "ppo": "tab:blue", "sac_her": "tab:orange"}
ACTION_RULES = ("sample", "argmax")


@dataclasses.dataclass
class Config:
    """Goal-conditioned supervised learning from scratch on a maze (no expert, no reward): act for
    the env's goals, relabel what happened with the goals actually reached, refit, repeat. The
    defaults are the quick demo (GCSL, seed 0, a few minutes on 2 CPU cores)."""

    out: str = "runs/demo-gcsl"
    """Run folder: report.md/json, curve.png, and per seed the last round's model (seed<N>/model)."""
    seeds: tuple[int, ...] = (0,)
    """Seeds; each seeds its episodes (from seed x 1000000), the weights and the batches."""
    maze: str = "Medium"
    """Medium or Large."""
    methods: tuple[str, ...] = ("gcsl",)
    """gcsl; the SB3 peers from scratch: ppo (goal in the observation), sac_her (SAC + HerReplayBuffer)."""
    rounds: int = 10
    """GCSL: collect -> relabel -> fit rounds (the first collects with uniform random actions)."""
    episodes_per_round: int = 20
    """GCSL: episodes collected each round."""
    action_rule: str = "sample"
    """GCSL: how the model acts while collecting: sample (explores) or argmax."""
    horizon: int = 200
    """GCSL: hindsight goals at most this many steps ahead."""
    mlp: ModelConfig = dataclasses.field(default_factory=lambda: ModelConfig(kind="mlp", hidden_sizes=(256, 256)))
    """GCSL's RvS-G MLP."""
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=1500, batch_size=256, threads=2, device="cpu", progress=False)
    )
    """How the MLP is refitted from scratch on all data each round (its seed is each of --seeds); its threads are the peers' too."""
    eval_episodes: int = 100
    """Evaluation episodes (argmax / deterministic) on the env's goals per curve point (and for the steering control)."""
    num_envs: int = 100
    """Envs stepped together during evaluation."""
    ppo_steps: int = 1_000_000
    """PPO: env steps."""
    ppo_eval_every: int = 50_000
    """PPO: env steps between evaluations."""
    sac_steps: int = 150_000
    """SAC+HER: env steps."""
    sac_eval_every: int = 10_000
    """SAC+HER: env steps between evaluations."""
    overwrite: bool = False
    """Replace an existing run folder."""

    def __post_init__(self) -> None:
        self.seeds = seed_tuple(self.seeds)
        self.methods = tuple(self.methods)
        mz.env_id(self.maze)  # an unknown maze names the known ones
        if self.action_rule not in ACTION_RULES:
            raise JustAskError(f"action_rule must be sample or argmax, got '{self.action_rule}'")
        unknown = sorted(set(self.methods) - set(METHOD_NAMES))
        if not self.methods or unknown:
            raise JustAskError(
                f"methods: unknown method '{unknown[0] if unknown else ''}' (choose from {', '.join(METHOD_NAMES)})"
            )
        if len(set(self.methods)) != len(self.methods):
            raise JustAskError(f"methods: each method once, got {list(self.methods)}")
        for name in ("rounds", "episodes_per_round", "horizon", "num_envs"):
            whole_numbers(self, 1, name)
        whole_numbers(self, 2, "eval_episodes")  # the steering control needs another episode to borrow from
        for name in ("ppo_steps", "ppo_eval_every", "sac_steps", "sac_eval_every"):
            whole_numbers(self, 1, name)
        if self.mlp.kind != "mlp":
            raise JustAskError(f"mlp.kind must be mlp (GCSL refits the RvS-G MLP), got {self.mlp.kind}")


def _log(message: str) -> None:
    print(message, flush=True)


# ---- evaluation on the env's goals -------------------------------------------------------------


def _returns_lengths(result: EvalResult) -> tuple[Any, Any]:
    return result.returns, result.lengths


def evaluate_goals(cfg: Config, policy: Any, name: str) -> EvalResult:
    """``policy`` on the env's own goals: the evaluation episodes (seeds from ``suites.maze.EVAL_SEED``)."""
    return evaluate(
        mz.env_id(cfg.maze),
        policy,
        episodes=cfg.eval_episodes,
        num_envs=min(cfg.num_envs, cfg.eval_episodes),
        seed=mz.EVAL_SEED,
        progress=False,
        name=name,
    )


# ---- GCSL ----------------------------------------------------------------------------------------
def run_gcsl(cfg: Config, seed: int, folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rounds of collect -> relabel all data -> refit -> evaluate. Returns the curve and the
    steering control of the last round's model (``folder/model``)."""
    from justask.envs import env_spaces
    from justask.policies import RandomPolicy

    env_id = mz.env_id(cfg.maze)
    _, space = env_spaces(env_id)  # (it closes the env it opens)
    policy: Any = RandomPolicy(space)
    data: Episodes | None = None
    curve: list[dict[str, Any]] = []
    started = time.perf_counter()
    for r in range(cfg.rounds):
        fresh = collect(
            env_id,
            [(policy, cfg.episodes_per_round)],
            num_envs=min(50, cfg.episodes_per_round),
            seed=seed * 1_000_000 + r * 10_000,
            progress=False,
        )
        data = fresh if data is None else Episodes.concatenate([data, fresh])
        shutil.rmtree(folder / "model", ignore_errors=True)  # the folder keeps the latest round's model
        model = refit(data, cfg, seed, r, folder / "model")
        result = evaluate_goals(cfg, ask(model, goal=mz.env_goals(cfg.maze), name="gcsl"), "gcsl")
        curve.append(
            {
                "round": r + 1,
                "env_steps": int(data.num_steps),
                "collection_success": float((data.returns()[-cfg.episodes_per_round :] >= 1).mean()),
                **mz.goal_success(result.returns, result.lengths),
            }
        )
        _log(
            f"gcsl seed {seed} round {r + 1}: {curve[-1]['env_steps']:,} env steps, success "
            f"{curve[-1]['success']:.2f} ({time.perf_counter() - started:.0f} s)"
        )
        policy = ask(
            model, goal=mz.env_goals(cfg.maze), action_rule=cfg.action_rule, seed=seed, name=f"gcsl/{cfg.action_rule}"
        )
    control = steering(
        env_id,
        model,
        mz.env_goals(cfg.maze),
        episodes=cfg.eval_episodes,
        num_envs=min(cfg.num_envs, cfg.eval_episodes),
        seed=mz.EVAL_SEED,
        action_rule="argmax",
        asked=result,
        success_at=1.0,
    )
    _log(steering_line(f"gcsl seed {seed} steering", control))
    return curve, control


def refit(data: Episodes, cfg: Config, seed: int, round_index: int, run_dir: Path) -> PolicyModel:
    """The RvS-G MLP fitted from scratch on all ``data``, relabeled with this round's hindsight goals."""
    goals = hindsight_goals(data, "future", horizon=cfg.horizon, seed=(seed * 1000 + round_index) * 1000)
    return train(goals, cfg.mlp, dataclasses.replace(cfg.train, seed=seed), run_dir, condition=GOAL)


# ---- the SB3 peers ---------------------------------------------------------------------------------
def run_peer(cfg: Config, method: str, seed: int, folder: Path) -> list[dict[str, Any]]:
    """PPO or SAC+HER from scratch, evaluated on the env's goals while it learns."""
    from justask.peers.sb3_goal import train_goal_peer

    steps, every = (cfg.ppo_steps, cfg.ppo_eval_every) if method == "ppo" else (cfg.sac_steps, cfg.sac_eval_every)
    started = time.perf_counter()

    def show(point: dict[str, Any]) -> None:
        _log(
            f"{method} seed {seed}: {point['env_steps']:,} steps, success {point['success']:.2f} "
            f"({time.perf_counter() - started:.0f} s)"
        )

    _, curve = train_goal_peer(
        method,
        cfg.maze,
        steps,
        evaluate_goals=lambda policy: mz.goal_success(
            *_returns_lengths(evaluate_goals(cfg, policy, METHOD_NAMES[method]))
        ),
        seed=seed,
        eval_every=every,
        on_eval=show,
        tensorboard_log=str(folder / "tensorboard"),
    )
    return curve


# ---- the run ---------------------------------------------------------------------------------------
def run(cfg: Config, out: Path) -> dict[str, Any]:
    """Every method on every seed; the report is rewritten after each, so a long run keeps what it has."""
    import torch

    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)  # the peers' threads too
    started = time.perf_counter()
    report: dict[str, Any] = {"recipe": "gcsl", "setup": setup_of(cfg), "runs": [], "steering": []}
    for seed in cfg.seeds:
        folder = out / f"seed{seed}"
        for method in cfg.methods:
            if method == "gcsl":
                curve, control = run_gcsl(cfg, seed, folder)
                report["steering"].append({"seed": seed, **control})
            else:
                curve = run_peer(cfg, method, seed, folder)
            report["runs"].append({"method": method, "seed": seed, "curve": curve})
            report["seconds"] = round(time.perf_counter() - started, 1)
            written = finish(report, out, config=cfg, seeds=cfg.seeds)
    return written


def finish(report: dict[str, Any], out: Path, **prov: Any) -> dict[str, Any]:
    """Summary, findings, the report and curve.png from the runs so far."""
    report["summary"] = summary(report["runs"])
    report["findings"] = findings(report)
    plot(report, out / "curve.png")
    return write_report(out, report, markdown(report), **prov)


def setup_of(cfg: Config) -> dict[str, Any]:
    """What the report's text says about the run (the whole config is in its provenance)."""
    return {
        "maze": cfg.maze,
        "rounds": cfg.rounds,
        "episodes_per_round": cfg.episodes_per_round,
        "action_rule": cfg.action_rule,
        "horizon": cfg.horizon,
        "train_steps": cfg.train.steps,
        "batch_size": cfg.train.batch_size,
        "eval_episodes": cfg.eval_episodes,
    }


# ---- summary, findings, the report -------------------------------------------------------------------
def steps_to(curve: list[dict[str, Any]], level: float) -> int | None:
    """Env steps collected when evaluation success first reached ``level`` (None: never)."""
    return next((p["env_steps"] for p in curve if p["success"] >= level), None)


def at_budget(curve: list[dict[str, Any]], budget: int) -> dict[str, Any] | None:
    """The last evaluation at or before ``budget`` env steps."""
    before = [p for p in curve if p["env_steps"] <= budget]
    return before[-1] if before else None


def _pooled(points: list[dict[str, Any]]) -> tuple[float, list[float]]:
    wins = sum(round(p["success"] * p["episodes"]) for p in points)
    trials = sum(p["episodes"] for p in points)
    return wins / trials, list(wilson_ci(wins, trials))


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per method: steps to 50/90% per seed, final success pooled over seeds (Wilson CI), and
    success at GCSL's budget (the mean over seeds of GCSL's final env steps)."""
    gcsl = [r for r in runs if r["method"] == "gcsl"]
    budget = int(np.mean([r["curve"][-1]["env_steps"] for r in gcsl])) if gcsl else None
    out: dict[str, Any] = {"budget": budget, "methods": {}}
    for method in METHOD_NAMES:
        mine = [r for r in runs if r["method"] == method]
        if not mine:
            continue
        final = [r["curve"][-1] for r in mine]
        rate, ci = _pooled(final)
        row: dict[str, Any] = {
            "seeds": [r["seed"] for r in mine],
            "final_env_steps": [p["env_steps"] for p in final],
            "final_success": rate,
            "final_success_ci95": ci,
            "steps_to_50": [steps_to(r["curve"], 0.5) for r in mine],
            "steps_to_90": [steps_to(r["curve"], 0.9) for r in mine],
        }
        if budget is not None:
            points = [at_budget(r["curve"], budget) for r in mine]
            if all(p is not None for p in points):
                row["success_at_budget"], row["success_at_budget_ci95"] = _pooled(points)
        out["methods"][method] = row
    return out


def findings(report: dict[str, Any]) -> list[str]:
    """Statements read off the numbers: each method's final success and env steps to 50%, success
    at GCSL's budget, and whether the request steers."""
    s = report["summary"]
    out = []
    for method, row in s["methods"].items():
        lo, hi = row["final_success_ci95"]
        out.append(
            f"{METHOD_NAMES[method]}: final success {row['final_success']:.2f} [{lo:.2f}, {hi:.2f}] after "
            f"{_steps(row['final_env_steps'], row['final_env_steps'])} env steps; env steps to 50%: "
            f"{_steps(row['steps_to_50'], row['final_env_steps'])}"
        )
    if s["budget"] and len(s["methods"]) > 1:
        at = [
            f"{METHOD_NAMES[m]} {row['success_at_budget']:.2f}"
            for m, row in s["methods"].items()
            if "success_at_budget" in row
        ]
        out.append(f"at GCSL's budget ({s['budget']:,} env steps): " + ", ".join(at))
    for c in report["steering"]:
        out.append(steering_line(f"steering GCSL, seed {c['seed']} (each episode asked another's goal)", c))
    return out


def _steps(values: list[int | None], cap: list[int]) -> str:
    return ", ".join(f"{v:,}" if v is not None else f">{c:,}" for v, c in zip(values, cap, strict=True))


def markdown(report: dict[str, Any]) -> str:
    setup, s = report["setup"], report["summary"]
    budget = s["budget"]
    lines = [
        f"# Goal reaching from scratch on PointMaze_{setup['maze']}: "
        + " vs ".join(METHOD_NAMES[m].split(" (")[0] for m in s["methods"]),
        "",
        f"{report['seconds'] / 60:.1f} min. Every method starts from nothing (no expert, no demonstrations) and "
        "learns on the env's own goal distribution; every evaluation point is "
        f"{setup['eval_episodes']} episodes on the same evaluation seeds (the env's goals, argmax / deterministic "
        "actions; success = within 0.45 of the goal before the time limit). Env steps count the steps each method "
        "collected to learn (evaluation episodes are not counted). "
        f"GCSL: {setup['rounds']} rounds of {setup['episodes_per_round']} episodes (the first with uniform random "
        f"actions), the RvS-G MLP refit from scratch each round for {setup['train_steps']} steps (batch "
        f"{setup['batch_size']}) on all experience relabeled with goals reached at most {setup['horizon']} steps "
        f"later; collection asks for the env's goals with '{setup['action_rule']}' actions.",
    ]
    if set(s["methods"]) - {"gcsl"}:
        lines[-1] += (
            " PPO: SB3 2.x, 8 envs, the goal appended to the observation, sparse reward 1 and the episode ends at "
            "the goal. SAC+HER: SB3 `HerReplayBuffer` (future, 4 goals) on gymnasium-robotics' own dict-observation "
            "PointMaze (continuing task). Settings: `justask/peers/sb3_goal.py`."
        )
    lines += [
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
    lines += ["", "'>N': not reached in the N env steps the run had."]
    if report["steering"]:
        lines += [
            "",
            "## Does the request steer?",
            "",
            "The last round's GCSL model asked each episode's own goal, against the same episodes each asked "
            "another episode's goal (a derangement); success is reaching the episode's own goal in both; gap = "
            "asked minus control, paired bootstrap 95% CI.",
            "",
            *["- " + steering_line(f"seed {c['seed']}", c) for c in report["steering"]],
        ]
    for r in (r for r in report["runs"] if r["method"] == "gcsl"):
        lines += [
            "",
            f"## GCSL, seed {r['seed']}",
            "",
            "| round | env steps | success [Wilson 95% CI] | success of the round's collected episodes |",
            "|---:|---:|---|---:|",
        ]
        for p in r["curve"]:
            lo, hi = p["success_ci95"]
            lines.append(
                f"| {p['round']} | {p['env_steps']:,} | {p['success']:.2f} [{lo:.2f}, {hi:.2f}] | "
                f"{p['collection_success']:.2f} |"
            )
    lines += ["", "## Findings", "", *[f"- {f}" for f in report["findings"]], ""]
    lines.append("Pictures: `curve.png` (success against env steps, one line per method and seed).")
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    """Success against env steps collected (log scale), one line per method and seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    seen: set[str] = set()
    for run_ in report["runs"]:
        m = run_["method"]
        x = [p["env_steps"] for p in run_["curve"]]
        y = [p["success"] for p in run_["curve"]]
        ax.plot(x, y, "o-", ms=3, lw=1.2, color=COLOURS[m], alpha=0.8, label=None if m in seen else METHOD_NAMES[m])
        seen.add(m)
    ax.set_xscale("log")
    ax.set_xlabel("env steps collected (log scale)")
    ax.set_ylabel("success on the env's goals")
    ax.set_ylim(0, 1.02)
    ax.axhline(0.5, color="grey", lw=0.6, ls=":")
    ax.axhline(0.9, color="grey", lw=0.6, ls=":")
    ax.set_title(f"From scratch on PointMaze_{report['setup']['maze']} (one line per training seed)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---- runs over other seeds or methods -> one report --------------------------------------------------
def merge(reports: list[dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    """One report from runs over other seeds or methods (later reports win): a later report's run
    of the same (method, seed) replaces an earlier one, so merging the published JSON with a rerun
    of one method updates it in place. The runs must share the maze and the evaluation."""
    if not reports:
        raise JustAskError("merge needs at least one gcsl report")
    first = reports[0]
    for i, part in enumerate(reports):
        if part.get("recipe") != "gcsl":
            raise JustAskError(f"report {i + 1} is not a gcsl report (recipe: {part.get('recipe')})")
        for key in ("maze", "eval_episodes"):
            if part["setup"][key] != first["setup"][key]:
                raise JustAskError(
                    f"report {i + 1} has {key} {part['setup'][key]}, report 1 {first['setup'][key]}: not comparable"
                )
    latest = {(r["method"], r["seed"]): r for part in reports for r in part["runs"]}
    control = {c["seed"]: c for part in reports for c in part["steering"]}
    merged: dict[str, Any] = {
        "recipe": "gcsl",
        "setup": first["setup"],
        "runs": sorted(latest.values(), key=lambda r: (list(METHOD_NAMES).index(r["method"]), r["seed"])),
        "steering": [control[s] for s in sorted(control)],
        "seconds": max(part["seconds"] for part in reports),
    }
    seeds = sorted({r["seed"] for r in merged["runs"]})
    prov = provenance(first["provenance"]["config"], seeds)
    merged["provenance"] = {**prov, "merged_from": [part["provenance"] for part in reports]}
    return finish(merged, Path(out_dir))


PRESETS = {
    # benchmarks/results/gcsl_medium.*: every method on three seeds with one torch thread; GCSL 14
    # rounds (~100k env steps), PPO 500k env steps (evaluated every 25k), SAC+HER 100k (every
    # 10k). The recorded result ran method and seed groups as separate processes and merged them.
    "medium": Config(
        maze="Medium",
        seeds=(0, 1, 2),
        methods=("gcsl", "ppo", "sac_her"),
        rounds=14,
        train=TrainConfig(steps=1500, batch_size=256, threads=1, device="cpu", progress=False),
        eval_episodes=100,
        ppo_steps=500_000,
        ppo_eval_every=25_000,
        sac_steps=100_000,
        sac_eval_every=10_000,
    ),
    # benchmarks/results/gcsl_medium_pilot_4000steps.md: GCSL alone, seed 0, 4000 steps per refit.
    "medium_pilot_4000steps": Config(
        maze="Medium",
        rounds=14,
        train=TrainConfig(steps=4000, batch_size=256, threads=2, device="cpu", progress=False),
    ),
}

RECIPE = Recipe(
    name="gcsl",
    summary="goal-conditioned supervised learning from scratch on a maze: act, relabel with the goals reached, refit",
    config=Config,
    run=run,
    pictures=("curve.png",),
    merge=merge,
)
