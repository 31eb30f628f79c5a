"""``justask collect | train | ask | eval | demo | recipes``.

Each command is a config dataclass (its fields are the flags, their docstrings the help, built by
tyro in ``justask.cli_parse``) and a function. Bad input ends with one line ``justask: error: ...``
and exit status 2; a command that fails removes what it created.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import tyro

from justask.checkpoint import check_writable, removed_on_error
from justask.cli_parse import help_text, parse
from justask.configs import TrainConfig
from justask.errors import JustAskError
from justask.models.config import ModelConfig
from justask.runs import learned_reward_of, open_run, request_of, set_acting_threads

Positional = tyro.conf.Positional


def _rank_zero() -> bool:
    """Not a non-zero rank of a ``torchrun`` launch (read from the environment: no torch import)."""
    return os.environ.get("RANK", "0") == "0"


def say(text: str) -> None:
    print(text, flush=True)


# ---- collect ---------------------------------------------------------------------------------
@dataclasses.dataclass
class Collect:
    """Collect episodes with a population of policies and save them as a Minari dataset."""

    out: str = "data/lunarlander-population"
    """Minari dataset to write: a path (./x, /x) or an id (namespace/name-v0)."""
    env: str = "LunarLander-v3"
    """Gymnasium env id."""
    population: str = "demo"
    """LunarLander: demo (7 suboptimal landers), expert; the PointMaze envs: explorer (random waypoints), planner (the env's goals); any env: random."""
    action_noise: float = 0.2
    """Mazes: std of the explorer's or planner's Gaussian action noise."""
    episodes: int = 150
    """Episodes per policy of the population."""
    seed: int = 0
    """First episode seed."""
    num_envs: int = 64
    """Envs stepped together (per Ray worker with --ray)."""
    overwrite: bool = False
    """Replace an existing dataset."""
    ray: bool = False
    """Collect on a local Ray instance (needs pip install 'justask[ray]')."""
    ray_address: str = ""
    """Collect on the Ray cluster at this address (host:port or ray://host:port)."""
    ray_workers: int = 0
    """Ray actors, each with its own envs (0: one per CPU of the cluster)."""
    threads: int = 0
    """Torch CPU threads for a policy that is a torch model (0: justask's choice for acting, measured on 2 cores: 1)."""
    allow_import: bool = False
    """Let an env id of the form module:Env-vN import its module."""


def collect_command(cfg: Collect) -> None:
    from justask.collection import collect
    from justask.envs import allow_module_imports, env_spaces
    from justask.minari_io import is_path, save_minari
    from justask.suites.populations import population

    _whole(cfg.episodes, "--episodes", 1, 10_000_000)
    _whole(cfg.seed, "--seed", 0)
    _whole(cfg.num_envs, "--num-envs", 1, 100_000)
    _whole(cfg.ray_workers, "--ray-workers", 0)
    set_acting_threads(cfg.threads)
    allow_module_imports(cfg.allow_import)
    _, action_space = env_spaces(cfg.env)
    members, env_kwargs = population(cfg.population, cfg.env, action_space, cfg.episodes, cfg.action_noise, cfg.seed)
    target = cfg.out if (is_path(cfg.out) or "-v" in cfg.out.rsplit("/", 1)[-1]) else "./" + cfg.out
    if is_path(target):
        check_writable(target, "the dataset")
    on_ray = cfg.ray or bool(cfg.ray_address)
    episodes = collect(
        cfg.env,
        members,
        num_envs=cfg.num_envs,
        seed=cfg.seed,
        ray_workers=cfg.ray_workers if on_ray else None,
        ray_address=cfg.ray_address or None,
        env_kwargs=env_kwargs or None,
    )
    where = save_minari(episodes, target, overwrite=cfg.overwrite)
    say(f"{episodes.summary()}\nsaved Minari dataset: {where}")


def _whole(value: int, flag: str, low: int, high: int | None = None) -> None:
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise JustAskError(f"{flag} must be {bound}, got {value}")


# ---- train -----------------------------------------------------------------------------------
# What `train` fits when --train.steps / --train.batch-size are not given: the demo's budgets.
BUDGETS = {"dt": (2500, 64), "mlp": (6000, 256)}


@dataclasses.dataclass
class Train:
    """Relabel a dataset and train a model on it by maximum likelihood."""

    dataset: str = "data/lunarlander-population"
    """Minari dataset: a path or an id."""
    run: Annotated[str, tyro.conf.arg(aliases=("--run-dir",))] = "runs/model"
    """Run folder to write (config, weights, TensorBoard logs). --run-dir: the same (torchrun reads --run)."""
    condition: str = "return_to_go"
    """What the model is asked for: return_to_go (computed from the rewards), expected_return (the mean return of the behaviour that made each episode: robust to luck), goal (hindsight goals: the x, y reached later), any condition column the dataset holds (your own relabeler's), or none (behaviour cloning)."""
    behaviours: str = "policy"
    """Which behaviour made each episode (for expected_return, and to predict what a return request gets): the episodes' metadata key that names it (used where every episode has it, else clusters), clusters (by how each episode acts), or none."""
    return_scale: float = 100.0
    """The model reads return-to-go divided by this."""
    goal_strategy: str = "future"
    """--condition goal: future (goals reached within --goal-horizon steps), final, random."""
    goal_horizon: int = 200
    """--condition goal, future: at most this many steps between a step and its goal."""
    top_fraction: float = 1.0
    """Train on this top share of episodes by return (0.1: filtered BC); recorded in the run."""
    resume: bool = False
    """Continue a killed run from its last checkpoint (same settings; a larger --train.steps trains further)."""
    model: ModelConfig = dataclasses.field(
        default_factory=lambda: ModelConfig(kind="dt", action_tokens=False, condition_token=False)
    )
    """The architecture (the demo's DT by default; --model.kind mlp for RvS/BC)."""
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    """How long and how to fit. Without --train.steps/--train.batch-size: the demo's budgets (DT 2500 x 64, MLP 6000 x 256)."""


def train_command(cfg: Train, given: set[str]) -> None:
    import numpy as np

    from justask.behaviours import behaviour_groups
    from justask.minari_io import is_path, load_minari
    from justask.relabel import EXPECTED_RETURN, GOAL, RETURN_TO_GO, expected_return, hindsight_goals, return_to_go
    from justask.training import train

    steps, batch = BUDGETS[cfg.model.kind]
    train_cfg = dataclasses.replace(
        cfg.train,
        steps=cfg.train.steps if "--train.steps" in given else steps,
        batch_size=cfg.train.batch_size if "--train.batch-size" in given else batch,
    )
    if not 0 < cfg.top_fraction <= 1:
        raise JustAskError(f"--top-fraction must be in (0, 1], got {cfg.top_fraction}")
    source = cfg.dataset
    if not is_path(source) and Path(source).is_dir():
        source = "./" + source  # a relative folder, not a Minari id
    run_dir = Path(cfg.run)
    check_writable(run_dir, "the run")
    episodes = load_minari(source)
    condition = None if cfg.condition in ("", "none") else cfg.condition
    if condition == EXPECTED_RETURN and cfg.behaviours == "none":
        raise JustAskError("--condition expected_return needs --behaviours (a metadata key, or clusters)")
    groups = None
    if condition in (RETURN_TO_GO, EXPECTED_RETURN) and cfg.behaviours != "none":
        by = None if cfg.behaviours == "clusters" else cfg.behaviours
        named = by is not None and all(by in m for m in episodes.metadata)
        if by is not None and not named and by != Train.behaviours:
            raise JustAskError(f"--behaviours {by}: not every episode's metadata has '{by}' (or say clusters, none)")
        groups = behaviour_groups(episodes, by=by, seed=train_cfg.seed)
        say(f"{int(groups.max()) + 1} behaviours ({'by ' + str(by) if named else 'clustered'})")
    if condition == RETURN_TO_GO:
        episodes = return_to_go(episodes, scale=cfg.return_scale, behaviours=groups)
    elif condition == EXPECTED_RETURN:
        episodes = expected_return(episodes, groups, scale=cfg.return_scale)
    elif condition == GOAL:
        episodes = hindsight_goals(episodes, cfg.goal_strategy, horizon=cfg.goal_horizon, seed=train_cfg.seed)
    elif condition is not None and condition not in episodes.conditions:
        have = ", ".join(sorted(episodes.conditions)) or "none"
        raise JustAskError(
            f"unknown condition '{condition}': not return_to_go, expected_return, goal or none, and the dataset has no such "
            f"column (its condition columns: {have})"
        )
    if cfg.top_fraction < 1:
        keep = np.argsort(episodes.returns(), kind="stable")[-max(1, int(round(cfg.top_fraction * len(episodes)))) :]
        episodes = episodes.select(np.sort(keep))
    dataset = str(source) + (f" (top {cfg.top_fraction:g} by return)" if cfg.top_fraction < 1 else "")
    with removed_on_error(run_dir, keep_if=lambda: (run_dir / "train_state.safetensors").exists()):
        train(episodes, cfg.model, train_cfg, run_dir, condition=condition, resume=cfg.resume, dataset=dataset)
    if _rank_zero():
        say(f"trained {cfg.model.kind} for {train_cfg.steps} steps; run folder: {run_dir}")


# ---- ask and eval ----------------------------------------------------------------------------
@dataclasses.dataclass
class Ask:
    """Ask a trained model for something and watch one rollout (GIF). An env that can pose the
    request (a maze's goal, a BabyAI mission in its grammar) checks it."""

    run: Positional[str]
    """Run folder of a trained model (e.g. runs/demo/rvs)."""
    request: Positional[str] = "best"
    """What to ask for: best, a number (a return), numbers separated by commas (a goal x,y), field=value pairs (a world), or a sentence."""
    quantile: float | None = None
    """Ask in the data's terms instead: better than this share (0..1) of the data's episodes (1-number conditions)."""
    action_rule: str = "argmax"
    """argmax or sample."""
    guidance: float = 1.0
    """Classifier-free guidance weight (1: none; > 1 weighs the request more), for a model trained with --model.condition-dropout."""
    seed: int = 1_000_000
    """Episode seed."""
    env: str = ""
    """Env id (default: the one the model was trained on)."""
    gif: str = ""
    """Where to write the rollout GIF (default: RUN/ask-<request>-<rule>.gif)."""
    threads: int = 0
    """Torch CPU threads for acting (0: justask's choice, measured on 2 cores: 1)."""
    allow_import: bool = False
    """Let an env id of the form module:Env-vN import its module."""


def ask_command(cfg: Ask) -> None:
    from justask.asking import ask, display
    from justask.report import rollout_gif
    from justask.suites import can_pose, reset_options_for

    _whole(cfg.seed, "--seed", 0)
    set_acting_threads(cfg.threads)
    model, env_id = open_run(cfg.run, cfg.env, cfg.allow_import)
    value = request_of(model, cfg.request, cfg.quantile, say)
    spec = model.io.condition
    agent = ask(
        model, value, action_rule=cfg.action_rule, reward_fn=learned_reward_of(cfg.run, model), guidance=cfg.guidance
    )
    asked = agent.info["condition"]
    if agent.info.get("predicted"):
        lo, mid, hi = agent.info["predicted"]
        source = f", measured when calibrated ({cfg.action_rule})" if agent.info.get("calibrated") else ""
        say(
            f"asking {spec.keyword}={display(asked)} is predicted to get {mid:.4g} "
            f"(middle half [{lo:.4g}, {hi:.4g}]{source})"
        )
    options = reset_options_for(env_id, spec.keyword, value) if spec is not None else None
    if spec is not None and options is None and can_pose(env_id, spec.keyword):
        say(f"the env cannot pose {display(asked)}, so nothing checks it: watch the GIF")
    label = "".join(c if c.isalnum() or c in "-._" else "_" for c in display(asked if spec else "bc"))[:40]
    path = Path(cfg.gif) if cfg.gif else Path(cfg.run) / f"ask-{label}-{cfg.action_rule}.gif"
    check_writable(path, "the GIF")
    caption = f"{model.config.kind} asked {display(asked)}" if spec else f"{model.config.kind} (no request)"
    info = rollout_gif(path, env_id, agent, seed=cfg.seed, caption=caption, reset_options=options)
    outcome = f"return {info['return']:.1f} in {info['length']} steps"
    if options is not None:  # the env posed the request: it rewards only its success
        outcome = f"{'succeeded' if info['return'] > 0 else 'failed'} ({outcome})"
    say(f"asked {display(asked) if spec else 'nothing'} ({cfg.action_rule}): {outcome}; GIF: {path}")


@dataclasses.dataclass
class Eval:
    """Evaluate a trained model with both action rules on the same episodes; how much the
    request steers it; optionally a sweep of asked returns. Writes report.json/.md (and sweep.png)."""

    run: Positional[str]
    """Run folder of a trained model."""
    request: str = "best"
    """What to ask for (as for `ask`); a goal model on a maze is asked each episode's own goal by default."""
    quantile: float | None = None
    """Ask in the data's terms instead: better than this share (0..1) of the data's episodes (1-number conditions)."""
    episodes: int = 500
    """Evaluation episodes per action rule (and per steering control)."""
    num_envs: int = 100
    """Envs stepped together."""
    steering: bool = True
    """Also run the steering control: each episode asked another episode's request (and, for text, an irrelevant sentence)."""
    sweep: int = 0
    """Return models: also sweep this many asked returns from the data's 10th percentile to its best episode (sweep.png)."""
    sweep_episodes: int = 100
    """Episodes per swept value."""
    out: str = ""
    """Folder for the report (default: RUN/eval); an existing report is replaced only with --overwrite."""
    overwrite: bool = False
    """Replace an earlier report in --out."""
    env: str = ""
    """Env id (default: the one the model was trained on)."""
    guidance: float = 1.0
    """Classifier-free guidance weight (1: none; > 1 weighs the request more), for a model trained with --model.condition-dropout."""
    kv_cache: bool = False
    """DT: act with a KV cache (pays on a CPU; see justask/kv_cache.py)."""
    threads: int = 0
    """Torch CPU threads for acting (0: justask's choice, measured on 2 cores: 1)."""
    overlap: bool = True
    """Step the envs in worker processes while the model acts for the others (measured 1.3-1.5x faster on 2 cores with 1 thread; argmax episodes identical, sampled ones draw in another order)."""
    env_processes: int = 1
    """Step the envs in this many processes (with --overlap: worker processes, at least 2)."""
    ray: bool = False
    """Evaluate on a local Ray instance (needs pip install 'justask[ray]')."""
    ray_address: str = ""
    """Evaluate on the Ray cluster at this address."""
    ray_workers: int = 0
    """Ray actors (0: one per CPU of the cluster)."""
    allow_import: bool = False
    """Let an env id of the form module:Env-vN import its module."""


def eval_command(cfg: Eval) -> None:
    import numpy as np
    from tqdm.auto import tqdm

    from justask.asking import ask, display
    from justask.checkpoint import fresh_run_folder
    from justask.evaluation import evaluate, steering, steering_line
    from justask.report import plot_sweep, results_table, sweep_table, write_report
    from justask.stats import spearman
    from justask.suites import env_requests

    _whole(cfg.episodes, "--episodes", 1, 10_000_000)
    _whole(cfg.num_envs, "--num-envs", 1, 100_000)
    _whole(cfg.sweep, "--sweep", 0, 1000)
    _whole(cfg.sweep_episodes, "--sweep-episodes", 1, 10_000_000)
    _whole(cfg.env_processes, "--env-processes", 1, 256)
    set_acting_threads(cfg.threads)
    model, env_id = open_run(cfg.run, cfg.env, cfg.allow_import)
    spec = model.io.condition
    value = request_of(model, cfg.request, cfg.quantile, say)
    if spec is not None and value is None and spec.best is None:
        value = env_requests(env_id, spec.keyword)
        if value is None:
            raise JustAskError(f"this model has no default request: say what to ask for ({spec.keyword})")
    out = Path(cfg.out) if cfg.out else Path(cfg.run) / "eval"
    check_writable(out, "the report")
    if (out / "report.json").exists() and not cfg.overwrite:
        raise JustAskError(f"{out} already holds a report (pass --overwrite or another --out)")
    out = fresh_run_folder(out, overwrite=True) if cfg.overwrite or not out.exists() else out
    probe = out / ".writable"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise JustAskError(f"cannot write the report to {out}: {exc.strerror}") from None
    rollout: dict[str, Any] = {"processes": cfg.env_processes, "overlap": cfg.overlap}
    if cfg.ray or cfg.ray_address:
        rollout = {"ray_workers": cfg.ray_workers, "ray_address": cfg.ray_address or None}
    reward_fn = learned_reward_of(cfg.run, model)
    results = {}
    for rule in ("argmax", "sample"):
        agent = (
            ask(model, value, action_rule=rule, reward_fn=reward_fn, kv_cache=cfg.kv_cache, guidance=cfg.guidance)
            if spec
            else ask(model, action_rule=rule, kv_cache=cfg.kv_cache, guidance=cfg.guidance)
        )
        r = evaluate(env_id, agent, episodes=cfg.episodes, num_envs=cfg.num_envs, **rollout)
        results[rule] = r
        say(f"{r.name}: {r.mean:.1f} [{r.ci95[0]:.1f}, {r.ci95[1]:.1f}] over {r.episodes} episodes")
    rows = [r.to_json() for r in results.values()]
    report: dict[str, Any] = {"run": cfg.run, "env_id": env_id, "agents": rows}
    markdown = f"# Evaluation of {cfg.run} on {env_id}\n\n{results_table(rows)}\n"
    if cfg.guidance != 1:
        report["guidance"] = cfg.guidance
        markdown += f"\nEvery agent asked with classifier-free guidance, weight {cfg.guidance:g}.\n"
    asked_info = _asked_info(spec, agent.info)
    if asked_info:
        report["asked"] = asked_info
        markdown += f"\n{asked_line(asked_info)}\n"
        say(asked_line(asked_info))
    best_rule = max(results, key=lambda k: results[k].mean)
    if spec is not None and cfg.steering:
        control = steering(
            env_id,
            model,
            value,
            episodes=cfg.episodes,
            num_envs=cfg.num_envs,
            action_rule=best_rule,
            asked=results[best_rule],
            reward_fn=reward_fn,
            guidance=cfg.guidance,
            progress=True,
            overlap=cfg.overlap and not (cfg.ray or cfg.ray_address),
        )
        report["steering"] = control
        line = steering_line(f"{model.config.kind} ({best_rule})", control)
        markdown += f"\n## Does the request steer?\n\n{line}\n"
        say(line)
    if cfg.sweep and spec is not None and spec.quantiles is not None and not callable(value):
        low, high = spec.quantiles[10], spec.quantiles[100]
        points = []
        for asked in tqdm(np.linspace(low, high, cfg.sweep), desc="sweep", unit="ask"):
            swept = ask(
                model,
                float(asked),
                action_rule=best_rule,
                reward_fn=reward_fn,
                kv_cache=cfg.kv_cache,
                guidance=cfg.guidance,
            )
            r = evaluate(
                env_id,
                swept,
                episodes=cfg.sweep_episodes,
                num_envs=cfg.num_envs,
                progress=False,
                **rollout,
            )
            point = {"asked": round(float(asked), 2), "mean": round(r.mean, 2), "ci95": [round(x, 2) for x in r.ci95]}
            if swept.info.get("predicted"):
                point["predicted"] = [round(v, 2) for v in swept.info["predicted"]]
            points.append(point)
        rho = spearman([p["asked"] for p in points], [p["mean"] for p in points]) if len(points) > 1 else float("nan")
        report["sweep"] = {
            "action_rule": best_rule,
            "range": "data's 10th percentile to its best",
            "points": points,
            "spearman": round(rho, 3),
        }
        markdown += f"\n## Sweep ({best_rule}): the data's 10th percentile to its best, Spearman {rho:.2f}\n\n{sweep_table(points)}\n"
        plot_sweep(out / "sweep.png", {f"{model.config.kind} ({best_rule})": points})
        for p in points:
            say(f"  asked {display(p['asked'])} -> {p['mean']:.1f}")
    write_report(out, report, markdown)
    say(f"report: {out / 'report.md'}")


@dataclasses.dataclass
class Calibrate:
    """Measure what a return-conditioned model achieves when asked each of a grid of requests
    over the data's range, per action rule; saved as RUN/calibration.json. From then on asking
    makes the request that got nearest what is asked and predicts what it got."""

    run: Positional[str]
    """Run folder of a trained model asked for one number (a return)."""
    points: int = 12
    """Requests, evenly spaced in the data's quantiles from its lowest to its highest."""
    episodes: int = 50
    """Episodes per request and action rule (seeds from 3,000,000: apart from eval's)."""
    rules: tuple[str, ...] = ("argmax", "sample")
    """Action rules to calibrate."""
    num_envs: int = 100
    """Envs stepped together."""
    env: str = ""
    """Env id (default: the one the model was trained on)."""
    threads: int = 0
    """Torch CPU threads for acting (0: justask's choice, measured on 2 cores: 1)."""
    overlap: bool = True
    """Step the envs in worker processes while the model acts for the others."""
    allow_import: bool = False
    """Let an env id of the form module:Env-vN import its module."""


def calibrate_command(cfg: Calibrate) -> None:
    from justask.calibration import better_rule, calibrate_run, table_lines
    from justask.models.saved import CALIBRATION_FILE

    _whole(cfg.points, "--points", 2, 1000)
    _whole(cfg.episodes, "--episodes", 2, 10_000_000)
    _whole(cfg.num_envs, "--num-envs", 1, 100_000)
    set_acting_threads(cfg.threads)
    model, env_id = open_run(cfg.run, cfg.env, cfg.allow_import)
    check_writable(Path(cfg.run) / CALIBRATION_FILE, "the calibration")
    calibration = calibrate_run(
        cfg.run,
        model,
        env_id,
        points=cfg.points,
        episodes=cfg.episodes,
        rules=cfg.rules,
        num_envs=cfg.num_envs,
        reward_fn=learned_reward_of(cfg.run, model),
        progress=say,
        overlap=cfg.overlap,
    )
    path = Path(cfg.run) / CALIBRATION_FILE
    for line in table_lines(calibration, model.io.condition.keyword):
        say(line)
    rule = better_rule(calibration)
    best = max(calibration["rules"][rule], key=lambda row: row[2])
    say(f"best: {model.io.condition.keyword}={best[0]:.4g} ({rule}) got {best[2]:.1f} [{best[4]:.1f}, {best[5]:.1f}]")
    say(f"calibration: {path}")


def _asked_info(spec: Any, info: dict[str, Any]) -> dict[str, Any]:
    """What a report says about a 1-number request: as asked, as made, the prediction and the
    share of the data's episodes whose request was at least as high."""
    if spec is None or spec.quantiles is None or not isinstance(info.get("condition"), (int, float)):
        return {}
    asked = float(info["condition"])
    out: dict[str, Any] = {
        "keyword": spec.keyword,
        "asked": asked,
        "data_share_at_or_above": round(spec.share_at_or_above(asked), 4),
    }
    if spec.info.get("episodes"):
        out["data_episodes_at_or_above"] = round(out["data_share_at_or_above"] * spec.info["episodes"])
    for key in ("requested", "mapped_to", "predicted", "predicted_mean_ci", "calibrated"):
        if key in info:
            out[key] = info[key]
    return out


def asked_line(info: dict[str, Any]) -> str:
    line = f"asked {info['keyword']}={info['asked']:.4g}"
    if info.get("mapped_to") is not None and info.get("calibrated"):
        line += f" (requested {info['requested']:.4g}: the request that got nearest it when calibrated)"
    elif info.get("mapped_to") is not None:
        line += f" (requested {info['requested']:.4g}, above what the model can honour)"
    line += f"; {info['data_share_at_or_above']:.1%} of the data's episodes reached it"
    if info.get("predicted"):
        lo, mid, hi = info["predicted"]
        line += f"; predicted {mid:.4g} (middle half [{lo:.4g}, {hi:.4g}])"
        if info.get("calibrated"):
            line += f", measured when calibrated ({info['calibrated']})"
    return line


# ---- serve -----------------------------------------------------------------------------------
@dataclasses.dataclass
class Serve:
    """A local web console: list the run folders and datasets under ROOTS, ask a model and watch it act."""

    roots: Annotated[tuple[str, ...], tyro.conf.Positional, tyro.conf.arg(metavar="[ROOTS ...]")] = ("runs",)
    """Folders to serve: the run folders and Minari datasets anywhere below them (nothing outside them is read)."""
    host: str = "127.0.0.1"
    """Address to listen on (loopback by default; 0.0.0.0 lets other machines in: the console has no login)."""
    port: int = 0
    """Port to listen on (0: a free one, printed)."""
    threads: int = 0
    """Torch CPU threads for acting (0: justask's choice, measured on 2 cores: 1)."""


def serve_command(cfg: Serve) -> None:
    from justask.console import serve

    _whole(cfg.port, "--port", 0, 65535)
    set_acting_threads(cfg.threads)
    roots = [Path(r) for r in cfg.roots]
    for root in roots:
        if not root.is_dir():
            raise JustAskError(f"{root} is not a folder (the console serves the run folders and datasets under it)")
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        say(f"listening on {cfg.host}: anyone who can reach it can run asks on this machine (no login)")
    serve(roots, cfg.host, cfg.port, say)


# ---- recipes ---------------------------------------------------------------------------------
def demo_command(args: Sequence[str]) -> None:
    """``justask demo [NAME] [--config FILE] [settings]``: a recipe on its quick defaults."""
    from justask.recipes import DEFAULT, RECIPES, recipe, run_recipe

    args = list(args)
    name = args.pop(0) if args and args[0] in RECIPES else DEFAULT
    if args and not args[0].startswith("-"):
        raise JustAskError(f"unknown recipe '{args[0]}' (recipes: {', '.join(RECIPES)})")
    chosen = recipe(name)
    prog = f"justask demo {name}"
    if any(a in ("-h", "--help") for a in args):
        say(help_text(chosen.config, prog, chosen.summary))
        if name == DEFAULT:
            say("Other recipes (justask demo NAME --help for their settings):")
            for other, (_, summary) in RECIPES.items():
                say(f"  {other:<12} {summary}")
        return
    cfg = parse(chosen.config, args, prog, chosen.summary)
    report = run_recipe(chosen, cfg)
    for line in report.get("findings", []):
        say(f"- {line}")
    out = Path(cfg.out)
    shown = [str(out / p) for p in chosen.pictures if (out / p).exists()]
    say(f"\nreport: {out / 'report.md'} (and report.json)")
    if shown:
        say(f"pictures: {', '.join(shown)}")
    board = Path(sys.executable).with_name("tensorboard")  # the venv's, which may not be on PATH
    say(f"TensorBoard: {board if board.exists() else 'tensorboard'} --logdir {out}")
    say(f"total time: {report.get('seconds', 0):.0f} s")


def recipes_command(args: Sequence[str]) -> None:
    from justask.recipes import RECIPES

    for name, (_, summary) in RECIPES.items():
        say(f"{name:<12} {summary}")


COMMANDS: dict[str, tuple[type | None, Callable[..., None], str]] = {
    "collect": (Collect, collect_command, "collect episodes with a population of policies (a Minari dataset)"),
    "train": (Train, train_command, "relabel a dataset and train a model on it by maximum likelihood"),
    "ask": (Ask, ask_command, "ask a trained model for something and watch one rollout (GIF)"),
    "eval": (Eval, eval_command, "evaluate a trained model, how much its request steers it, a sweep"),
    "calibrate": (Calibrate, calibrate_command, "measure what asking each return gets; asking then picks by it"),
    "serve": (Serve, serve_command, "a local web console: ask trained models and watch them act"),
    "demo": (None, demo_command, "run a recipe on its quick defaults (default: lunarlander)"),
    "recipes": (None, recipes_command, "list the recipes"),
}


def overview() -> str:
    lines = [
        "usage: justask COMMAND [OPTIONS]",
        "",
        "Learn p(action | history, condition) by supervised learning on relabeled experience, then just ask.",
        "",
        "commands:",
    ]
    lines += [f"  {name:<8} {summary}" for name, (_, _, summary) in COMMANDS.items()]
    lines += ["", "justask COMMAND --help for its options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        say(overview())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"justask: error: unknown command '{name}' (commands: {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    config_class, run, summary = COMMANDS[name]
    if not getattr(warnings.showwarning, "justask", False):
        warnings.showwarning = _one_line_warnings(warnings.showwarning)
    try:
        if config_class is None:
            run(rest)
        else:
            cfg = parse(config_class, rest, f"justask {name}", config_class.__doc__)
            if name == "train":
                run(cfg, {a.split("=", 1)[0] for a in rest if a.startswith("--")})
            else:
                run(cfg)
    except JustAskError as exc:
        print(f"justask: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path that cannot be read or written (under a file, read-only, disk full)
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"justask: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except MemoryError:
        print(
            f"justask: error: out of memory during '{name}': ask for less (episodes, batch size, envs)", file=sys.stderr
        )
        return 2
    return 0


def _one_line_warnings(show: Any) -> Any:
    """``JustAskWarning``s as one ``justask: warning: ...`` line on stderr; the rest as Python shows them."""
    from justask.errors import JustAskWarning

    def showwarning(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
        if issubclass(category, JustAskWarning):
            print(f"justask: warning: {message}", file=sys.stderr)
        else:
            show(message, category, *args, **kwargs)

    showwarning.justask = True  # type: ignore[attr-defined]
    return showwarning


if __name__ == "__main__":
    sys.exit(main())
