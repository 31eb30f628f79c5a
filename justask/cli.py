"""``justask collect | train | ask | eval | demo``.

Each command's options are generated from config dataclasses (their fields, defaults and the
one-line comment beside each field), so the CLI and the Python API cannot drift apart. Bad input
ends with one line ``justask: error: ...`` and exit status 2.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import os
import re
import shutil
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

from justask.configs import (
    CollectConfig,
    DemoConfig,
    DrexConfig,
    GCSLConfig,
    ImproveConfig,
    LanguageDemoConfig,
    MazeDemoConfig,
    TrainCommandConfig,
    TrainConfig,
    WorldsDemoConfig,
    command_line,
)
from justask.errors import JustAskError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Learn p(action | history, condition) by supervised learning on relabeled experience, then just ask.",
    pretty_exceptions_enable=False,
)


# ---- dataclass -> typer options ------------------------------------------------------------------
def _field_help(cls: type) -> dict[str, str]:
    """The ``# comment`` after each field in a dataclass's source."""
    helps: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        for line in inspect.getsource(klass).splitlines():
            m = re.match(r"\s+(\w+): [^#]*#\s*(.*)$", line)
            if m:
                helps[m.group(1)] = m.group(2)
    return helps


_SUPPORTED = {int, float, str, bool}


def options_from(*classes: type) -> list[inspect.Parameter]:
    """typer options for every simple-typed field of the given dataclasses."""
    params = []
    for cls in classes:
        helps = _field_help(cls)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            kind = hints.get(f.name)
            if kind not in _SUPPORTED:
                continue
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            option = typer.Option(
                default,
                "--" + f.name.replace("_", "-"),
                *ALIASES.get(f.name, ()),
                help=helps.get(f.name, ""),
                show_default=True,
            )
            if kind is bool:
                flag = "--" + f.name.replace("_", "-")
                option = typer.Option(default, f"{flag}/--no-{f.name.replace('_', '-')}", help=helps.get(f.name, ""))
            params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind))
    return params


# Second spellings. ``--run-dir``: torchrun's own parser reads ``--run`` after ``-m justask train``
# as an abbreviation of its ``--run-path`` and stops ("ambiguous option").
ALIASES = {"run": ("--run-dir",)}


def build(cls: type, values: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def command(name: str, *classes: type, extra: list[inspect.Parameter] | None = None, on: typer.Typer | None = None):
    """Register ``func(**values)`` as a typer command (on ``app``, or the sub-app ``on``) whose
    options come from ``classes``."""

    def wrap(func: Callable[..., None]) -> Callable[..., None]:
        params = (extra or []) + options_from(*classes)

        @functools.wraps(func)
        def runner(**values: Any) -> None:
            try:
                func(**values)
            except JustAskError as exc:
                typer.echo(f"justask: error: {exc}", err=True)
                raise typer.Exit(2) from None

        runner.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        (on or app).command(name, help=inspect.getdoc(func))(runner)
        return func

    return wrap


def _arg(name: str, help: str, annotation: Any = str) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=typer.Argument(..., help=help), annotation=annotation
    )


def _opt(name: str, default: Any, help: str, annotation: Any) -> inspect.Parameter:
    flag = "--" + name.replace("_", "-")
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=typer.Option(default, flag, help=help), annotation=annotation
    )


def _rank_zero() -> bool:
    """Not a non-zero rank of a ``torchrun`` launch (read from the environment: no torch import)."""
    return os.environ.get("RANK", "0") == "0"


@contextlib.contextmanager
def removed_on_error(folder: Path, keep_if: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """Remove ``folder`` if this command created it and fails before anything worth keeping
    (``keep_if``) was written: bad input leaves nothing half-written behind."""
    existed = Path(folder).exists()
    try:
        yield
    except BaseException:
        if not existed and not keep_if() and _rank_zero():  # under torchrun, rank 0 owns the folder
            shutil.rmtree(folder, ignore_errors=True)
        raise


# ---- collect ---------------------------------------------------------------------------------
@command("collect", CollectConfig)
def collect_command(**values: Any) -> None:
    """Collect episodes with a population of policies and save them as a Minari dataset."""
    from justask.collection import collect
    from justask.envs import env_spaces
    from justask.minari_io import is_path, save_minari
    from justask.policies import RandomPolicy
    from justask.suites.lunar_lander import LunarLanderExpert, demo_population

    cfg = build(CollectConfig, values)
    _, action_space = env_spaces(cfg.env)
    env_kwargs: dict[str, Any] = {}
    if cfg.population == "random":
        population = [(RandomPolicy(action_space), cfg.episodes)]
    elif cfg.population in ("explorer", "planner"):
        from justask.suites import maze as mz

        maze = next((m for m in mz.MAZES if cfg.env == mz.env_id(m)), None)
        if maze is None:
            ids = ", ".join(mz.env_id(m) for m in mz.MAZES)
            raise JustAskError(f"population '{cfg.population}' is for the maze envs ({ids}), not {cfg.env}")
        if cfg.population == "explorer":
            population = [(mz.WaypointExplorer(maze, cfg.action_noise, seed=cfg.seed), cfg.episodes)]
            env_kwargs = {"task": "explore"}
        else:
            population = [(mz.MazePlanner(maze, cfg.action_noise, seed=cfg.seed), cfg.episodes)]
    elif cfg.population in ("demo", "expert"):
        if not cfg.env.startswith("LunarLander"):
            raise JustAskError(f"population '{cfg.population}' is for LunarLander, not {cfg.env}")
        continuous = cfg.env.startswith("LunarLanderContinuous")
        if cfg.population == "expert":
            population = [(LunarLanderExpert(continuous=continuous), cfg.episodes)]
        else:
            if continuous:
                raise JustAskError("the demo population is for the discrete LunarLander-v3")
            population = demo_population(cfg.episodes)
    else:
        raise JustAskError(f"unknown population '{cfg.population}' (demo, expert, explorer, planner, random)")
    target = cfg.out if (is_path(cfg.out) or "-v" in cfg.out.rsplit("/", 1)[-1]) else "./" + cfg.out
    on_ray = cfg.ray or bool(cfg.ray_address)
    episodes = collect(
        cfg.env,
        population,
        num_envs=cfg.num_envs,
        seed=cfg.seed,
        ray_workers=cfg.ray_workers if on_ray else None,
        ray_address=cfg.ray_address or None,
        env_kwargs=env_kwargs or None,
    )
    where = save_minari(episodes, target, overwrite=cfg.overwrite)
    typer.echo(f"{episodes.summary()}\nsaved Minari dataset: {where}")


# ---- train -----------------------------------------------------------------------------------
@command("train", TrainCommandConfig, TrainConfig)
def train_command(**values: Any) -> None:
    """Relabel a dataset and train a model on it by maximum likelihood."""
    import numpy as np

    from justask.minari_io import is_path, load_minari
    from justask.relabel import GOAL, RETURN_TO_GO, hindsight_goals, return_to_go
    from justask.training import model_config_for, train

    cfg = build(TrainCommandConfig, values)
    train_cfg = build(TrainConfig, values)
    source = cfg.dataset
    if not is_path(source) and Path(source).is_dir():
        source = "./" + source  # a relative folder, not a Minari id
    run_dir = Path(cfg.run)
    if cfg.resume and not (run_dir / "config.json").exists():
        raise JustAskError(f"nothing to resume: {run_dir}/config.json not found")
    episodes = load_minari(source)
    condition = None if cfg.condition in ("", "none") else cfg.condition
    if condition not in (None, RETURN_TO_GO, GOAL):
        raise JustAskError(f"unknown condition '{cfg.condition}' (return_to_go, goal or none)")
    episodes = return_to_go(episodes, scale=cfg.return_scale)
    if condition == GOAL:
        episodes = hindsight_goals(episodes, cfg.goal_strategy, horizon=cfg.goal_horizon, seed=train_cfg.seed)
    if not 0 < cfg.top_fraction <= 1:
        raise JustAskError(f"--top-fraction must be in (0, 1], got {cfg.top_fraction}")
    if cfg.top_fraction < 1:
        keep = np.argsort(episodes.returns(), kind="stable")[-max(1, int(round(cfg.top_fraction * len(episodes)))) :]
        episodes = episodes.select(np.sort(keep))
    arch: dict[str, Any] = {}
    if cfg.model == "dt":
        arch = dict(
            context_len=cfg.context_len,
            d_model=cfg.d_model,
            n_layer=cfg.n_layer,
            n_head=cfg.n_head,
            action_tokens=cfg.action_tokens,
            condition_token=cfg.condition_token,
        )
    model_config = model_config_for(episodes, cfg.model, condition, **arch)
    with removed_on_error(run_dir, keep_if=lambda: (run_dir / "train_state.safetensors").exists()):
        train(episodes, model_config, train_cfg, run_dir, resume=cfg.resume, dataset=str(source))
    if _rank_zero():
        typer.echo(f"trained {cfg.model} for {train_cfg.steps} steps; run folder: {run_dir}")


# ---- ask and eval ----------------------------------------------------------------------------
def _parse_request(return_to_go: str) -> dict[str, Any]:
    if return_to_go in ("", "best"):
        return {}
    try:
        value = float(return_to_go)
    except ValueError:
        raise JustAskError(f"--return must be a number or 'best', got '{return_to_go}'") from None
    return {"return_to_go": value}


def _parse_goal(goal: str) -> list[float]:
    try:
        values = [float(x) for x in goal.split(",")]
    except ValueError:
        raise JustAskError(f"--goal takes numbers separated by commas (e.g. 1.5,-0.5), got '{goal}'") from None
    return values


def _learned_reward_of(run: str, model: Any) -> Any:
    """The learned reward saved beside a model trained on learned returns (else None)."""
    spec = model.config.condition
    if spec is None or spec.info.get("reward") != "learned":
        return None
    from justask.rewards import LearnedReward

    return LearnedReward.load(Path(run) / "reward")


@command(
    "ask",
    extra=[
        _arg("run", "run folder of a trained model"),
        inspect.Parameter(
            "instruction",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=typer.Argument("", help="what to ask a text-conditioned model, e.g. 'pick up the blue key'"),
            annotation=str,
        ),
        _opt("return_to_go", "best", "return to ask for, or 'best' (the 95th percentile of the data's returns)", str),
        _opt("text", "", "a text request (for text-conditioned models)", str),
        _opt("goal", "", "a goal X,Y (for goal-conditioned models; the env's goal is set to it too)", str),
        _opt("action_rule", "argmax", "argmax or sample", str),
        _opt("seed", 1_000_000, "episode seed", int),
        _opt("env", "", "env id (default: the one the model was trained on)", str),
        _opt("gif", "", "where to write the rollout GIF (default: RUN/ask-<request>.gif)", str),
    ],
)
def ask_command(
    run: str,
    instruction: str,
    return_to_go: str,
    text: str,
    goal: str,
    action_rule: str,
    seed: int,
    env: str,
    gif: str,
) -> None:
    """Ask a trained model for something and watch one rollout (GIF). A text-conditioned BabyAI
    model asked an instruction in BabyAI's grammar acts in a fresh env whose verifier checks it."""
    from justask.checkpoint import load_model, read_run_config
    from justask.report import rollout_gif

    config = read_run_config(Path(run))
    model = load_model(run)
    env_id = env or config.get("env_id") or ""
    if not env_id:
        raise JustAskError(f"run {run} does not record its env; pass --env")
    text = instruction or text
    reset_options = None
    if goal:
        request = {"goal": _parse_goal(goal)}
        reset_options = {"goal": request["goal"]}
    elif text:
        request = {"text": text}
        if env_id.startswith("justask/BabyAI-"):
            from justask.suites.babyai import parse_instruction

            try:
                parse_instruction(text)
                reset_options = {"instruction": text}
            except JustAskError:
                typer.echo(f"'{text}' is outside BabyAI's grammar, so no verifier can check it: watch the GIF")
    else:
        request = _parse_request(return_to_go)
    agent = model.ask(action_rule=action_rule, reward_fn=_learned_reward_of(run, model), **request)
    label = "best" if not request else str(next(iter(request.values()))).replace(" ", "_")[:40]
    if goal:
        label = "goal" + "_".join(f"{v:g}" for v in request["goal"])
    path = Path(gif) if gif else Path(run) / f"ask-{label}-{action_rule}.gif"
    caption = f"asked goal {goal}" if goal else f"asked: {text}" if text else f"asked {agent.info['condition']}"
    info = rollout_gif(path, env_id, agent, seed=seed, caption=caption, reset_options=reset_options)
    asked = f"'{text}'" if text else agent.info["condition"]
    outcome = f"return {info['return']:.1f} in {info['length']} steps"
    if text and env_id.startswith("justask/BabyAI-") and reset_options is None:
        outcome = f"not checked ({info['length']} steps)"
    elif text and env_id.startswith("justask/BabyAI-"):
        outcome = f"{'succeeded' if info['return'] > 0 else 'failed'} ({outcome})"
    typer.echo(f"asked {asked} ({action_rule}): {outcome}; GIF: {path}")


@command(
    "eval",
    extra=[
        _arg("run", "run folder of a trained model"),
        _opt("return_to_go", "best", "return to ask for, or 'best'", str),
        _opt("episodes", 500, "evaluation episodes per action rule", int),
        _opt("num_envs", 100, "envs stepped together", int),
        _opt("sweep", 0, "also sweep this many asked returns across the data's range (plots sweep.png)", int),
        _opt("sweep_episodes", 100, "episodes per swept value", int),
        _opt("env", "", "env id (default: the one the model was trained on)", str),
        _opt("kv_cache", False, "DT: act with a KV cache (pays on CPU; see justask/kv_cache.py)", bool),
        _opt("ray", False, "evaluate on a local Ray instance (needs pip install 'justask[ray]')", bool),
        _opt("ray_address", "", "evaluate on the Ray cluster at this address", str),
        _opt("ray_workers", 0, "Ray actors (0: one per CPU of the cluster)", int),
    ],
)
def eval_command(
    run: str,
    return_to_go: str,
    episodes: int,
    num_envs: int,
    sweep: int,
    sweep_episodes: int,
    env: str,
    kv_cache: bool,
    ray: bool,
    ray_address: str,
    ray_workers: int,
) -> None:
    """Evaluate a trained model with both action rules; write report.json/.md (and a sweep PNG)."""
    import numpy as np

    from justask.checkpoint import load_model, read_run_config
    from justask.evaluation import check_spaces, evaluate
    from justask.report import plot_sweep, results_table, sweep_table, write_report
    from justask.stats import spearman

    config = read_run_config(Path(run))
    model = load_model(run)
    env_id = env or config.get("env_id") or ""
    if not env_id:
        raise JustAskError(f"run {run} does not record its env; pass --env")
    import gymnasium as gym

    mc = model.config
    obs_space = gym.spaces.Box(-np.inf, np.inf, (mc.obs_dim,), np.float32)
    act_space = (
        gym.spaces.Discrete(mc.action_dim) if mc.discrete else gym.spaces.Box(-1, 1, (mc.action_dim,), np.float32)
    )
    check_spaces(env_id, obs_space, act_space, f"model {run}")
    request = _parse_request(return_to_go)
    on_ray: dict[str, Any] = {}
    if ray or ray_address:
        on_ray = {"ray_workers": ray_workers, "ray_address": ray_address or None}
    rows = []
    reward_fn = _learned_reward_of(run, model)
    for rule in ("argmax", "sample"):
        r = evaluate(
            env_id,
            model.ask(action_rule=rule, reward_fn=reward_fn, kv_cache=kv_cache, **request),
            episodes=episodes,
            num_envs=num_envs,
            **on_ray,
        )
        rows.append(r.to_json())
        typer.echo(f"{r.name}: {r.mean:.1f} [{r.ci95[0]:.1f}, {r.ci95[1]:.1f}] over {r.episodes} episodes")
    report: dict[str, Any] = {"run": run, "env_id": env_id, "agents": rows}
    markdown = f"# Evaluation of {run} on {env_id}\n\n{results_table(rows)}\n"
    spec = mc.condition
    if sweep and spec is not None and spec.kind == "return":
        q = spec.info.get("episode_return_quantiles", {})
        low = q.get("q50", spec.info.get("episode_return_min", 0.0))
        high = spec.info.get("episode_return_max", 0.0)
        rule = max(rows, key=lambda r: r["mean"])["action_rule"]
        points = []
        for asked in np.linspace(low, high, sweep):
            r = evaluate(
                env_id,
                model.ask(action_rule=rule, return_to_go=float(asked), reward_fn=reward_fn, kv_cache=kv_cache),
                episodes=sweep_episodes,
                num_envs=num_envs,
                progress=False,
                **on_ray,
            )
            points.append(
                {"asked": round(float(asked), 2), "mean": round(r.mean, 2), "ci95": [round(x, 2) for x in r.ci95]}
            )
            typer.echo(f"  asked {asked:7.1f} -> {r.mean:7.1f}")
        rho = spearman([p["asked"] for p in points], [p["mean"] for p in points]) if len(points) > 1 else float("nan")
        report["sweep"] = {"action_rule": rule, "points": points, "spearman": round(rho, 3)}
        markdown += f"\n## Sweep ({rule}), Spearman {rho:.2f}\n\n{sweep_table(points)}\n"
        plot_sweep(Path(run) / "sweep.png", {f"{mc.kind} ({rule})": points})
    write_report(Path(run), report, markdown)
    typer.echo(f"report: {Path(run) / 'report.md'}")


# ---- D-REX -----------------------------------------------------------------------------------
def _run_drex(cfg: DrexConfig) -> None:
    from justask.methods.drex import run_drex

    out = Path(cfg.out)
    _run_recipe(
        cfg,
        "drex",
        run_drex,
        f"report: {out / 'report.md'}\nplots: {out / 'reward_extrapolation.png'}, {out / 'agents.png'}",
    )


@command("drex", DrexConfig)
def drex_command(**values: Any) -> None:
    """D-REX: from unlabeled suboptimal demonstrations, learn a reward by ranking noise-injected
    rollouts of behaviour cloning, then a policy from it (and SB3 PPO with --ppo-steps)."""
    _run_drex(build(DrexConfig, values))


# ---- demos -----------------------------------------------------------------------------------
@command("gcsl", GCSLConfig)
def gcsl_command(**values: Any) -> None:
    """Goal-conditioned supervised learning from scratch on a maze: act for the env's goals,
    relabel with the goals reached, refit, repeat; writes the learning curve."""
    from justask.methods.gcsl import run_gcsl

    cfg = build(GCSLConfig, values)
    out = Path(cfg.out)
    with removed_on_error(out):
        results = run_gcsl(cfg)
    typer.echo((out / "report.md").read_text())
    typer.echo(f"report: {out / 'report.md'} (and report.json); curve: {out / 'curve.png'}")
    typer.echo(f"total time: {results['seconds']:.0f} s")


demo_app = typer.Typer(
    help="Quick end-to-end demos, about 10 minutes each on 2 CPU cores. Without a name: lunarlander.",
    invoke_without_command=True,
)
app.add_typer(demo_app, name="demo")


def _is_own_previous_run(out: Path, kind: str) -> bool:
    """A folder that an earlier run of the same demo wrote (re-running replaces it)."""
    import json

    try:
        return json.loads((out / "config.json").read_text()).get("run_kind") == kind
    except (OSError, ValueError):
        return False


def _run_lunarlander(cfg: DemoConfig) -> None:
    from justask.methods.lunarlander_demo import run_demo

    out = Path(cfg.out)
    _run_recipe(
        cfg,
        "demo",
        run_demo,
        f"report: {out / 'report.md'} (and report.json)\nplots: {out / 'sweep.png'}, {out / 'agents.png'}\n"
        f"rollout: {out / 'rollout.gif'}\nTensorBoard: tensorboard --logdir {out}",
    )


def _run_recipe(cfg: Any, kind: str, runner: Any, where: str) -> None:
    """Run a recipe into ``cfg.out`` (replacing an earlier run of the same kind; removing the
    folder if it fails), then print its table, findings and where its files are."""
    from justask.report import results_table

    out = Path(cfg.out)
    if _is_own_previous_run(out, kind):
        cfg.overwrite = True
    with removed_on_error(out):
        report = runner(cfg)
    typer.echo("\n" + results_table(report["agents"]) + "\n")
    for line in report["findings"]:
        typer.echo(f"- {line}")
    typer.echo(f"\n{where}\ntotal time: {report['timings_s']['total_s']:.0f} s")


@demo_app.callback()
def demo_default(ctx: typer.Context) -> None:
    """Without a demo name, run the LunarLander demo on its defaults."""
    if ctx.invoked_subcommand is None:
        try:
            _run_lunarlander(DemoConfig())
        except JustAskError as exc:
            typer.echo(f"justask: error: {exc}", err=True)
            raise typer.Exit(2) from None


@command("lunarlander", DemoConfig, on=demo_app)
def demo_lunarlander(**values: Any) -> None:
    """The LunarLander demo: collect a population's data, relabel with return-to-go, train DT and
    RvS (and BC, filtered BC, d3rlpy DiscreteCQL), ask for a high return, evaluate and report."""
    _run_lunarlander(build(DemoConfig, values))


@command("drex", DrexConfig, on=demo_app)
def demo_drex(**values: Any) -> None:
    """D-REX on LunarLander, quick variant: the built-in demonstrator, no PPO (see `justask drex`)."""
    _run_drex(build(DrexConfig, values))


def _run_report_demo(cfg: Any, run_kind: str, run: Callable[[Any], dict[str, Any]], pictures: list[str]) -> None:
    """A demo that writes report.md into ``cfg.out``: re-running replaces its own earlier run,
    a failure leaves no half-written folder; prints the report, its pictures and the time."""
    out = Path(cfg.out)
    if _is_own_previous_run(out, run_kind):
        cfg.overwrite = True
    with removed_on_error(out):
        results = run(cfg)
    typer.echo((out / "report.md").read_text())
    shown = pictures + (["rollout.gif"] if cfg.gif else [])
    typer.echo(f"report: {out / 'report.md'} (and report.json)\npictures: {', '.join(str(out / p) for p in shown)}")
    typer.echo(f"total time: {results['seconds']:.0f} s")


@command("worlds", WorldsDemoConfig, on=demo_app)
def demo_worlds(**values: Any) -> None:
    """Domain randomization, quick variant: CartPole with a hidden actuator sign (and random pole,
    mass and force); a history DT infers its world, beside memoryless BC, an oracle told the
    world, a DT told the world when known, SB3 PPO and the privileged expert, per held-out box."""
    from justask.methods.worlds_demo import RUN_KIND, run_worlds_demo

    _run_report_demo(build(WorldsDemoConfig, values), RUN_KIND, run_worlds_demo, ["returns.png"])


@command("maze", MazeDemoConfig, on=demo_app)
def demo_maze(**values: Any) -> None:
    """Hindsight goals on PointMaze, quick variant: an explorer's data (never aimed at the
    evaluation goals) relabeled with the goals it reached; a goal DT and RvS-G asked for the
    env's own goals, beside the planner told the goal."""
    from justask.methods.maze_demo import RUN_KIND, run_maze_demo

    _run_report_demo(build(MazeDemoConfig, values), RUN_KIND, run_maze_demo, ["success.png", "paths.png"])


@command("language", LanguageDemoConfig, on=demo_app)
def demo_language(**values: Any) -> None:
    """Hindsight language on BabyAI, quick variant: play data captioned afterwards, a
    text-conditioned policy asked for the level's missions, held-out compositions and
    paraphrases, beside instruction BC on the bot's demos with their true missions."""
    from justask.methods.language_demo import RUN_KIND, run_language_demo

    _run_report_demo(build(LanguageDemoConfig, values), RUN_KIND, run_language_demo, ["success.png"])


@command("improve", ImproveConfig, on=demo_app)
def demo_improve(**values: Any) -> None:
    """In-context improvement with frozen weights, quick variant: Dark Room learning histories
    (an expert with annealed noise), p(goal | experience) learned from them, then posterior
    sampling on 20 held-out goals, beside tabular Q-learning from scratch and a memoryless
    return-conditioned DT. `--family bandit`: Bernoulli bandits against Thompson sampling and UCB."""
    from justask.methods.improve import RUN_KIND, run_improve

    cfg = build(ImproveConfig, values)
    command = command_line("justask demo improve", cfg)
    _run_report_demo(cfg, RUN_KIND, lambda c: run_improve(c, command=command.strip()), ["curves.png"])


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
