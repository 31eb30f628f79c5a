"""Improve from experience without RL: learn p(task | experience) from learning histories, then
let it improve on held-out tasks with frozen weights (posterior sampling in context).

The recipe: (1) learning histories on training tasks — the privileged expert with noise annealed
from 1 to a floor (AD-ε) or the source RL algorithm itself; (2) hindsight labels — every prefix of
a history is labelled with the task it was on; (3) fit p(task | prefix) and, for Dark Room, a
goal-conditioned policy (what to do once a task is guessed); (4) on held-out tasks, draw a guess
per episode (again when it is ruled out) and act for it. Compared on the same tasks: the source
algorithm from scratch (its own learning curve) and a memoryless return-conditioned DT trained on
the same episodes (it cannot improve: nothing carries over between episodes).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from justask.configs import ImproveConfig, TrainConfig
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.incontext import (
    Episodic,
    InContextActor,
    InContextFamily,
    JointSampling,
    PosteriorSampling,
    fit_posterior,
    history_tokens,
    run_in_context,
)
from justask.models.task_posterior import PosteriorConfig
from justask.stats import bootstrap_ci
from justask.suites import bandits, darkroom, keydoor

RUN_KIND = "improve"
SOURCES = {
    "darkroom": ("annealed", "q_learning"),
    "keydoor": ("annealed",),
    "bandit": ("annealed", "thompson", "ucb", "random"),
}
GRIDS = ("darkroom", "keydoor")  # families whose tasks are cells of the 9x9 room
DEFAULTS = {  # source, histories, history_episodes, eval_episodes
    "darkroom": ("annealed", 244, 40, 40),
    "keydoor": ("annealed", 244, 30, 30),
    # Annealed histories leak the answer through the choices (late in a history the best arm is
    # the one pulled most), so a posterior trained on them trusts pull counts and under-explores
    # (regret 11.5 vs Thompson's 8.8 in a pilot); Thompson's own histories or random pulls do not.
    "bandit": ("thompson", 2000, 100, 100),
}
MARKS = (1, 10, 20, 40, 100, 300)  # in-context episodes the tables report
DISTANCE_GROUPS = {
    "darkroom": {"near (<= 2)": (0, 2), "mid (3-5)": (3, 5), "far (>= 6)": (6, 99)},
    "keydoor": {"near (<= 8)": (0, 8), "mid (9-13)": (9, 13), "far (>= 14)": (14, 99)},
}


def resolved(cfg: ImproveConfig) -> ImproveConfig:
    """``cfg`` with the family's defaults filled in; bad settings raise one-line errors."""
    if cfg.family not in SOURCES:
        raise JustAskError(f"unknown task family '{cfg.family}' (choose from {', '.join(SOURCES)})")
    source, histories, length, eval_episodes = DEFAULTS[cfg.family]
    cfg = dataclasses.replace(cfg, source=cfg.source or source)
    if cfg.source not in SOURCES[cfg.family]:
        raise JustAskError(f"source '{cfg.source}' is not one of {cfg.family}'s: {', '.join(SOURCES[cfg.family])}")
    if cfg.policy_labels not in ("expert", "hindsight"):
        raise JustAskError(f"policy_labels must be expert or hindsight, got '{cfg.policy_labels}'")
    if not 0.0 <= cfg.noise_floor < 1.0:
        raise JustAskError(f"noise_floor must lie in [0, 1), got {cfg.noise_floor}")
    cfg = dataclasses.replace(
        cfg,
        histories=cfg.histories or histories,
        history_episodes=cfg.history_episodes or length,
        eval_episodes=cfg.eval_episodes or eval_episodes,
    )
    for name in ("histories", "history_episodes", "eval_episodes", "eval_tasks", "posterior_steps", "batch_size"):
        if getattr(cfg, name) < 1:
            raise JustAskError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    episode = {"darkroom": darkroom.HORIZON, "keydoor": keydoor.HORIZON}.get(cfg.family, 1)
    if cfg.ad_steps > 0 and cfg.ad_context <= episode:
        raise JustAskError(
            f"ad_context {cfg.ad_context} is too short for one episode ({episode} steps) and the next: "
            "plain AD would never see across an episode boundary"
        )
    return cfg


def family_of(name: str) -> InContextFamily:
    """The family's in-context view (Key-to-Door: its key part; the door part shares the env)."""
    if name == "keydoor":
        return keydoor.families()[0]
    return darkroom.family() if name == "darkroom" else bandits.family()


# ---- data ----------------------------------------------------------------------------------------
def training_histories(cfg: ImproveConfig) -> Episodes:
    """``cfg.histories`` learning histories on training tasks, in order, one ``history`` id each.
    Dark Room: the training goals in turn (no held-out goal ever); bandit: fresh arm means from
    the training distribution."""
    import gymnasium as gym

    episodes: list[dict[str, Any]] = []
    rng = np.random.default_rng(cfg.seed)
    for h in range(cfg.histories):
        seed = cfg.seed * 1_000_003 + h
        if cfg.family == "darkroom":
            goal = darkroom.TRAIN_GOALS[h % len(darkroom.TRAIN_GOALS)]
            if cfg.source == "annealed":
                run = darkroom.annealed_history(goal, cfg.history_episodes, seed, floor=cfg.noise_floor)
            else:
                run = darkroom.q_learning_history(goal, cfg.history_episodes, seed)
        elif cfg.family == "keydoor":
            task = keydoor.TRAIN_PAIRS[int(rng.integers(len(keydoor.TRAIN_PAIRS)))]
            run = keydoor.annealed_history(task, cfg.history_episodes, seed, floor=cfg.noise_floor)
        else:
            means = bandits.sample_means("train", rng)
            run = bandits.history(means, cfg.history_episodes, seed, cfg.source, floor=cfg.noise_floor)
        for e in run:
            e["metadata"]["history"] = h
        episodes += run
    env_id = family_of(cfg.family).env_id
    env = gym.make(env_id)
    try:
        return Episodes.from_episode_list(episodes, env.observation_space, env.action_space, env_id=env_id)
    finally:
        env.close()


def evaluation_tasks(cfg: ImproveConfig) -> dict[str, list[Any]]:
    """Held-out task instances, the same for every training seed. Dark Room: the 20 held-out
    goals in turn; bandit: fresh means from the training and the shifted (narrow) distribution."""
    if cfg.family == "darkroom":
        goals = darkroom.HELD_OUT_GOALS
        return {"held-out goals": [goals[i % len(goals)] for i in range(cfg.eval_tasks)]}
    if cfg.family == "keydoor":
        rng = np.random.default_rng(10_000)
        picks = rng.choice(
            len(keydoor.HELD_OUT_PAIRS), size=cfg.eval_tasks, replace=cfg.eval_tasks > len(keydoor.HELD_OUT_PAIRS)
        )
        return {"held-out key-door pairs": [list(keydoor.HELD_OUT_PAIRS[i]) for i in picks]}
    out = {}
    for k, name in enumerate(bandits.DISTRIBUTIONS):
        rng = np.random.default_rng(10_000 + k)
        out[f"{name} means"] = [bandits.sample_means(name, rng).tolist() for _ in range(cfg.eval_tasks)]
    return out


def normalised_training_returns(data: Episodes, cfg: ImproveConfig) -> np.ndarray:
    """Each training episode's return over its task's optimum."""
    family = family_of(cfg.family)
    key = "means" if cfg.family == "bandit" else "task"
    optimum = np.array([family.optimal_return(m[key]) for m in data.metadata])
    return data.returns() / optimum


# ---- models --------------------------------------------------------------------------------------
def train_goal_policy(data: Episodes, cfg: ImproveConfig, run_dir: Path) -> Any:
    """Dark Room: p(action | position, goal) as ``act_for(obs, goals)``. ``expert`` labels: the
    expert's action toward each history's goal (known once the history is over: DPT's targets);
    ``hindsight``: the executed action, asked for a cell the same episode reached within the next
    10 steps (goal relabeling: no expert, no task label)."""
    from justask.relabel import hindsight_goals
    from justask.training import model_config_for, train

    if cfg.policy_labels == "expert":
        observations = data.step_observations()
        if cfg.family == "keydoor":  # the current target: the key, then the door
            tasks = np.repeat(np.array([m["task"] for m in data.metadata]), data.lengths, axis=0)
            goals = np.where(observations[:, 2] >= 1, tasks[:, 1], tasks[:, 0])
            expert = keydoor.expert_actions(observations, tasks)
        else:
            goals = np.repeat([m["task"] for m in data.metadata], data.lengths)
            expert = darkroom.expert_actions(observations, goals)
        labelled = data.with_condition("goal", darkroom.cell_xy(goals).astype(np.float32), kind="vector")
        labelled = labelled.with_condition("expert_action", expert, kind="labels")
        target = "expert_action"
    else:
        labelled, target = hindsight_goals(data, "future", horizon=10, seed=cfg.seed), None
    config = model_config_for(labelled, "mlp", "goal", hidden_sizes=[128, 128], target=target)
    train_cfg = TrainConfig.quiet(cfg.policy_steps, 256, cfg.seed, cfg.threads, cfg.device)
    model = train(labelled, config, train_cfg, run_dir).eval()
    device = next(model.parameters()).device

    @torch.no_grad()
    def act_for(observations: np.ndarray, guesses: np.ndarray) -> np.ndarray:
        n = len(observations)
        obs = torch.as_tensor(np.asarray(observations, np.float32).reshape(n, 1, -1), device=device)
        goal = torch.as_tensor(darkroom.cell_xy(guesses).astype(np.float32).reshape(n, 1, 2), device=device)
        zeros = torch.zeros(n, 1, dtype=torch.long, device=device)
        return model(obs, zeros, goal, zeros, last_only=True)[:, -1].argmax(-1).cpu().numpy()

    if cfg.family == "keydoor":  # guesses (N, 2): go for the key's guess, then the door's

        def act_for_pair(observations: np.ndarray, guesses: np.ndarray) -> np.ndarray:
            stage = np.asarray(observations).reshape(len(observations), -1)[:, 2]
            return act_for(observations, np.where(stage >= 1, guesses[:, 1], guesses[:, 0]))

        return act_for_pair
    return act_for


def train_plain_ad(data: Episodes, cfg: ImproveConfig, run_dir: Path) -> InContextActor:
    """Plain AD: a causal DT over whole learning histories predicting the history's next action,
    its context ``cfg.ad_context`` steps across episode boundaries."""
    from justask.incontext import AcrossEpisodes, as_trials
    from justask.training import model_config_for, train

    trials = as_trials(data)
    config = model_config_for(trials, "dt", None, context_len=cfg.ad_context, d_model=64, n_layer=2, n_head=1)
    model = train(trials, config, TrainConfig.quiet(cfg.ad_steps, 64, cfg.seed, cfg.threads, cfg.device), run_dir)
    return AcrossEpisodes(model.ask(action_rule="sample", seed=cfg.seed, name="plain AD"), name="plain AD")


def train_memoryless_dt(data: Episodes, cfg: ImproveConfig, run_dir: Path) -> InContextActor:
    """A return-conditioned DT on the same episodes, each on its own: asked for a high return, it
    acts the same in every episode of a task."""
    from justask.relabel import return_to_go
    from justask.training import model_config_for, train

    scale = {"darkroom": float(darkroom.HORIZON), "keydoor": keydoor.OPTIMAL_RETURN}.get(cfg.family, 1.0)
    relabeled = return_to_go(data, scale=scale)
    context = int(data.lengths.max())
    config = model_config_for(relabeled, "dt", "return_to_go", context_len=context, d_model=64, n_layer=2, n_head=1)
    model = train(relabeled, config, TrainConfig.quiet(cfg.dt_steps, 64, cfg.seed, cfg.threads, cfg.device), run_dir)
    return Episodic(model.ask(name="memoryless DT"), name="memoryless DT")


# ---- evaluation ----------------------------------------------------------------------------------
def curve_summary(values: np.ndarray) -> dict[str, Any]:
    """``(tasks, episodes)`` -> the mean per episode with bootstrap 95% CIs."""
    means = values.mean(axis=0)
    cis = [bootstrap_ci(values[:, e], resamples=2000, seed=e) for e in range(values.shape[1])]
    return {"mean": means.tolist(), "ci95": [list(c) for c in cis]}


def first_reaching(curve: list[float], level: float) -> int | None:
    """The first in-context episode (1-based) whose mean reaches ``level``; None if none does."""
    hits = np.flatnonzero(np.asarray(curve) >= level)
    return int(hits[0]) + 1 if len(hits) else None


def task_distance(family: str, tasks: list[Any]) -> np.ndarray:
    """Steps of the shortest solution of each task (Dark Room: to the goal; Key-to-Door: to the
    key, then the door)."""
    return keydoor.path_length(tasks) if family == "keydoor" else darkroom.goal_distance(tasks)


def darkroom_summary(result: dict[str, Any], goals: list[Any], family: str = "darkroom") -> dict[str, Any]:
    norm = result["normalised"]
    curve = curve_summary(norm)
    episodes = norm.shape[1]
    marks = [e for e in MARKS if e <= episodes] + ([episodes] if episodes not in MARKS else [])
    distance = task_distance(family, goals)
    by_distance = {}
    for label, (lo, hi) in DISTANCE_GROUPS[family].items():
        rows = (distance >= lo) & (distance <= hi)
        if rows.any():
            by_distance[label] = {
                "tasks": int(rows.sum()),
                "at": {str(e): float(norm[rows, e - 1].mean()) for e in marks},
                "solved_final": float((norm[rows, -1] >= 0.9).mean()),
            }
    return {
        "curve": curve,
        "at": {str(e): {"mean": curve["mean"][e - 1], "ci95": curve["ci95"][e - 1]} for e in marks},
        "episodes_to_0.9": first_reaching(curve["mean"], 0.9),
        "episodes_to_0.8": first_reaching(curve["mean"], 0.8),
        "final": {"mean": curve["mean"][-1], "ci95": curve["ci95"][-1]},
        "best_episode_mean": float(max(curve["mean"])),
        "by_distance": by_distance,
        "tasks": int(norm.shape[0]),
    }


def pulled_arms(result: dict[str, Any]) -> np.ndarray:
    """The arm of every pull of a bandit run, ``(tasks, pulls)``."""
    return np.array([[episode[0] for episode in row] for row in result["actions"]], dtype=np.int64)


def bandit_regret(result: dict[str, Any], tasks: list[list[float]]) -> np.ndarray:
    """Cumulative expected regret after each pull, ``(tasks, pulls)``."""
    return np.cumsum(bandits.regret(np.asarray(tasks), pulled_arms(result)), axis=1)


def best_arm_share(result: dict[str, Any], tasks: list[list[float]], last: int = 10) -> float:
    """How often the last ``last`` pulls took the best arm."""
    return float((pulled_arms(result)[:, -last:] == np.asarray(tasks).argmax(1)[:, None]).mean())


def bandit_summary(cumulative: np.ndarray, best_share: float) -> dict[str, Any]:
    """``(tasks, pulls)`` cumulative regret -> its final mean with a bootstrap 95% CI, the curve."""
    final = cumulative[:, -1]
    return {
        "cumulative_regret": {"mean": float(final.mean()), "ci95": list(bootstrap_ci(final, resamples=4000))},
        "regret_curve": cumulative.mean(axis=0).tolist(),
        "best_arm_share_last_10": best_share,
    }


def run_improve(cfg: ImproveConfig, progress: bool = True, command: str = "") -> dict[str, Any]:
    """The whole recipe into ``cfg.out`` (an empty or new folder; ``overwrite`` replaces one):
    report.json/md, curves.png, rollout.gif (Dark Room), the fitted models."""
    from justask.checkpoint import new_run_folder

    started = time.time()
    cfg = resolved(cfg)
    out = Path(cfg.out)
    new_run_folder(out, RUN_KIND, "config", dataclasses.asdict(cfg), cfg.overwrite)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    family = family_of(cfg.family)
    timings: dict[str, float] = {}
    t0 = time.time()
    data = training_histories(cfg)
    tokens = history_tokens(data, family)
    timings["histories_s"] = time.time() - t0

    t0 = time.time()
    posterior_cfg = PosteriorConfig(n_tasks=family.n_tasks, n_outcomes=family.n_outcomes)
    train_cfg = dataclasses.replace(
        TrainConfig.quiet(cfg.posterior_steps, cfg.batch_size, cfg.seed, cfg.threads, cfg.device), progress=progress
    )
    posterior = fit_posterior(tokens, posterior_cfg, train_cfg, out / "posterior")
    if cfg.family == "keydoor":
        door = keydoor.families()[1]
        door_posterior = fit_posterior(history_tokens(data, door), posterior_cfg, train_cfg, out / "posterior_door")
    timings["posterior_s"] = time.time() - t0

    t0 = time.time()
    if cfg.family in GRIDS:
        act_for = train_goal_policy(data, cfg, out / "goal_policy")
    else:

        def act_for(observations: np.ndarray, guesses: np.ndarray) -> np.ndarray:
            return np.asarray(guesses)

    timings["goal_policy_s"] = time.time() - t0

    def operator(seed: int) -> InContextActor:
        if cfg.family != "keydoor":
            return PosteriorSampling(posterior, family, act_for, seed=seed)
        parts = [PosteriorSampling(posterior, family, act_for, seed=seed)]
        parts.append(PosteriorSampling(door_posterior, door, act_for, seed=seed + 1))
        return JointSampling(parts, act_for)

    actors: list[InContextActor] = [operator(cfg.seed)]
    if cfg.family in GRIDS:
        actors.append(darkroom.QLearner(seed=cfg.seed))
        actors.append(
            darkroom.QLearner(seed=cfg.seed, name="q-learning (ε-greedy)", **darkroom.QLEARNING_EPSILON_GREEDY)
        )
    else:
        actors += [bandits.BanditLearner("thompson", seed=cfg.seed), bandits.BanditLearner("ucb", seed=cfg.seed)]
    if cfg.ad_steps > 0:
        t0 = time.time()
        actors.append(train_plain_ad(data, cfg, out / "plain_ad"))
        timings["plain_ad_s"] = time.time() - t0
    if cfg.dt_steps > 0:
        t0 = time.time()
        actors.append(train_memoryless_dt(data, cfg, out / "memoryless_dt"))
        timings["memoryless_dt_s"] = time.time() - t0

    t0 = time.time()
    results: dict[str, dict[str, Any]] = {}
    raw: dict[str, dict[str, np.ndarray]] = {}
    for set_name, tasks in evaluation_tasks(cfg).items():
        results[set_name], raw[set_name] = {}, {}
        for actor in actors:
            # the source algorithm learns as long as the SB3 peers do, to compare their curves
            source = actor.name.startswith("q-learning")
            episodes = max(cfg.eval_episodes, cfg.sb3_episodes) if source else cfg.eval_episodes
            result = run_in_context(family, tasks, actor, episodes, seed=7_000_000, progress=progress)
            if cfg.family in GRIDS:
                raw[set_name][actor.name] = result["normalised"]
                results[set_name][actor.name] = darkroom_summary(result, tasks, cfg.family)
            else:
                raw[set_name][actor.name] = bandit_regret(result, tasks)
                results[set_name][actor.name] = bandit_summary(raw[set_name][actor.name], best_arm_share(result, tasks))
        if cfg.family == "darkroom" and cfg.sb3_episodes > 0:
            from justask.peers.sb3_incontext import learning_curves

            peer_tasks = list(tasks[: cfg.sb3_tasks])
            for algo in ("dqn", "ppo"):
                t1 = time.time()
                curves = learning_curves(algo, peer_tasks, cfg.sb3_episodes, seed=cfg.seed, threads=cfg.threads)
                name = f"SB3 {algo.upper()} (from scratch)"
                raw[set_name][name] = curves
                results[set_name][name] = darkroom_summary({"normalised": curves}, peer_tasks)
                timings[f"sb3_{algo}_s"] = time.time() - t1
    timings["evaluation_s"] = time.time() - t0

    training_norm = normalised_training_returns(data, cfg)
    positions = np.array([m["position"] for m in data.metadata])
    last = positions == positions.max()
    report = {
        "run_kind": RUN_KIND,
        "config": dataclasses.asdict(cfg),
        "training_data": {
            "histories": cfg.histories,
            "episodes": data.num_episodes,
            "steps": data.num_steps,
            "best_episode_normalised": float(training_norm.max()),
            "last_position_mean_normalised": float(training_norm[last].mean()),
            "mean_normalised": float(training_norm.mean()),
        },
        "results": results,
        "timings_s": timings,
        "command": command,
    }
    from justask.checkpoint import write_json
    from justask.report import write_text

    write_json(out / "report.json", report)
    np.savez(out / "per_task.npz", **{f"{s}|{m}": v for s, methods in raw.items() for m, v in methods.items()})
    plot_curves(out / "curves.png", report, raw)
    if cfg.gif and cfg.family in GRIDS:
        # a held-out task far enough that solving it takes a few episodes
        tasks = evaluation_tasks(cfg)
        task = next(t for t in next(iter(tasks.values())) if int(task_distance(cfg.family, [t])[0]) >= 6)
        report["gif"] = room_gif(out / "rollout.gif", operator(1), cfg.family, task)
    report["seconds"] = round(time.time() - started, 1)
    write_json(out / "report.json", report)
    write_text(out / "report.md", markdown(report))
    return report


# ---- pictures and words --------------------------------------------------------------------------
def plot_curves(path: Path, report: dict[str, Any], raw: dict[str, dict[str, np.ndarray]]) -> None:
    """Dark Room: normalised return per in-context episode, every method on one axis (95% CI
    bands). Bandit: cumulative regret per pull, one panel per task distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from justask.checkpoint import atomic_write

    sets = list(report["results"])
    fig, axes = plt.subplots(1, len(sets), figsize=(6.2 * len(sets), 4.2), dpi=110, squeeze=False)
    family = report["config"]["family"]
    for ax, set_name in zip(axes[0], sets, strict=True):
        for name, summary in report["results"][set_name].items():
            if family in GRIDS:
                mean = np.array(summary["curve"]["mean"])
                lo, hi = np.array(summary["curve"]["ci95"]).T
                x = np.arange(1, len(mean) + 1)
                ax.plot(x, mean, label=name)
                ax.fill_between(x, lo, hi, alpha=0.2)
            else:
                curve = summary["regret_curve"]
                ax.plot(np.arange(1, len(curve) + 1), curve, label=name)
        if family in GRIDS:
            if max(len(s["curve"]["mean"]) for s in report["results"][set_name].values()) > 60:
                ax.set_xscale("log")
            best = report["training_data"]["last_position_mean_normalised"]
            ax.axhline(best, color="gray", ls="--", lw=0.8, label=f"training episodes at least noise ({best:.2f})")
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("in-context episode on a held-out task (frozen weights)")
            ax.set_ylabel("return / optimal return (mean, 95% CI)")
        else:
            ax.set_xlabel("pull")
            ax.set_ylabel("cumulative expected regret (mean)")
        ax.set_title(f"{family}: {set_name} ({len(raw[set_name][next(iter(raw[set_name]))])} tasks)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def room_gif(path: Path, actor: InContextActor, family: str, task: Any, episodes: int = 12) -> dict[str, Any]:
    """The operator's first ``episodes`` episodes on one held-out task: the agent white, its
    current target guess blue, cells already ruled out (for its first part) lighter."""
    import gymnasium as gym
    from PIL import Image, ImageDraw

    from justask.checkpoint import atomic_write

    fam = family_of(family)
    env = gym.make(fam.env_id, render_mode="rgb_array")
    frames: list[Image.Image] = []
    actor.start_tasks(1)
    slot = np.array([0])
    parts = getattr(actor, "parts", [actor])
    returns = []
    for e in range(episodes):
        obs, _ = env.reset(seed=e, options=fam.reset_options(task))
        actor.reset(slot)
        total, done, t = 0.0, False, 0
        while not done:
            action = actor.act(obs[None], slot)
            nxt, reward, term, trunc, _ = env.step(int(action[0]))
            image = env.render().copy()
            current = parts[-1] if len(parts) > 1 and nxt[2] >= 1 else parts[0]
            for cell in np.flatnonzero(current.counts[0, :, 1 if current is not parts[0] else 0] > 0):
                cx, cy = darkroom.cell_xy(cell)
                patch = image[cy * 16 : cy * 16 + 16, cx * 16 : cx * 16 + 16]
                patch[(patch == 40).all(-1)] = (85, 85, 85)
            gx, gy = darkroom.cell_xy(current.guess[0])
            image[gy * 16 + 5 : gy * 16 + 11, gx * 16 + 5 : gx * 16 + 11] = (70, 120, 255)
            frame = Image.fromarray(image).resize((288, 288), Image.NEAREST)
            total += reward
            t += 1
            ImageDraw.Draw(frame).text((4, 4), f"episode {e + 1}  t={t}  return={total:.0f}", fill=(255, 255, 255))
            frames.append(frame)
            actor.observe(slot, np.asarray(action), np.array([reward]), nxt[None])
            obs, done = nxt, term or trunc
        returns.append(total)
    env.close()
    atomic_write(
        path,
        lambda tmp: frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=120, loop=0),
    )
    return {"task": task, "distance": int(task_distance(family, [task])[0]), "returns": returns}


def markdown(report: dict[str, Any]) -> str:
    cfg = report["config"]
    data = report["training_data"]
    if cfg["family"] in GRIDS:
        quality = (
            f"training episodes' return / optimum: mean {data['mean_normalised']:.3f}, at the history's last "
            f"position {data['last_position_mean_normalised']:.3f}, best {data['best_episode_normalised']:.3f}"
        )
    else:
        quality = f"training pulls' reward / the best arm's mean: {data['mean_normalised']:.3f}"
    lines = [
        f"# In-context improvement: {cfg['family']}, histories from `{cfg['source']}` (noise floor {cfg['noise_floor']})",
        "",
        f"Training: {data['histories']} histories x {cfg['history_episodes']} episodes ({data['steps']} steps); "
        f"{quality}. Posterior {cfg['posterior_steps']} steps; seed {cfg['seed']}. Weights frozen during evaluation.",
        "",
    ]
    for set_name, methods in report["results"].items():
        lines.append(f"## {set_name} ({cfg['eval_episodes']} in-context episodes each; tasks per method below)")
        lines.append("")
        if cfg["family"] in GRIDS:
            marks = sorted({int(m) for s in methods.values() for m in s["at"]})
            marks = [str(m) for m in marks]
            lines.append(
                "| method | tasks | "
                + " | ".join(f"episode {m}" for m in marks)
                + " | episodes to 0.8 | episodes to 0.9 | far tasks solved (final) |"
            )
            lines.append("|---|---|" + "---|" * (len(marks) + 3))
            for name, s in methods.items():
                cells = [
                    f"{s['at'][m]['mean']:.3f} [{s['at'][m]['ci95'][0]:.3f}, {s['at'][m]['ci95'][1]:.3f}]"
                    if m in s["at"]
                    else "-"
                    for m in marks
                ]
                far = next((g["solved_final"] for k, g in s["by_distance"].items() if k.startswith("far")), None)
                far_cell = "-" if far is None else f"{far:.2f}"
                lines.append(
                    f"| {name} | {s.get('tasks', '')} | "
                    + " | ".join(cells)
                    + f" | {s['episodes_to_0.8'] or 'not reached'} | {s['episodes_to_0.9'] or 'not reached'} | {far_cell} |"
                )
            lines += ["", "By task distance (steps of the shortest solution; mean return / optimum):", ""]
            lines.append("| method | group | tasks | " + " | ".join(f"episode {m}" for m in marks) + " |")
            lines.append("|---|---|---|" + "---|" * len(marks))
            for name, s in methods.items():
                for group, g in s["by_distance"].items():
                    lines.append(
                        f"| {name} | {group} | {g['tasks']} | "
                        + " | ".join(f"{g['at'][m]:.3f}" if m in g["at"] else "-" for m in marks)
                        + " |"
                    )
        else:
            lines.append(f"| method | cumulative regret after {cfg['eval_episodes']} pulls | best arm, last 10 pulls |")
            lines.append("|---|---|---|")
            for name, s in methods.items():
                r = s["cumulative_regret"]
                lines.append(
                    f"| {name} | {r['mean']:.2f} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] | {s['best_arm_share_last_10']:.2f} |"
                )
        lines.append("")
    if "gif" in report:
        g = report["gif"]
        lines.append(
            f"`rollout.gif`: the operator on held-out task {g['task']} ({g['distance']} steps away), "
            f"returns per episode {g['returns']}."
        )
        lines.append("")
    t = report["timings_s"]
    lines.append(
        "Timings (s): "
        + ", ".join(f"{k[:-2]} {v:.0f}" for k, v in t.items())
        + f"; total {report.get('seconds', 0):.0f}"
    )
    if report.get("command"):
        lines += ["", "Reproduce:", "", "```", report["command"], "```"]
    return "\n".join(lines) + "\n"
