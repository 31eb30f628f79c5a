"""Behave as π_test (issue 27, its first rows): a model of many agents, asked in words to behave
as an agent it never saw.

collect (training agents of the ManyAgents population, each a few episodes) -> relabel (each
episode captioned in hindsight with its agent's description: preference, style, caution, view)
-> train a text-conditioned policy, and BC on the same data (the population's average policy) ->
ask it to behave as each held-out agent (unseen trait combinations, and every agent of the
held-out style), described in words, in new layouts -> measure per-step action agreement with the
agent in the states it visits and first-object agreement (does it go for what the agent went
for), against the population's average policy; and the same for training agents in new layouts.

The description model is the issue's "oracle told π_test's true traits" row. Demonstration
prompts (k of the agent's episodes), the prompt-fitted BC and the nearest training agent are the
next rows (not built yet). The defaults are the quick variant (seed 0, 1000 training agents x 12
episodes, 60 held-out agents x 3 layouts; about 10 minutes on 2 CPU cores). Measured: with 400
agents x 4 episodes every model fitted its data (loss 0.11) and none did better than chance at the
first object in new layouts — the world wants many layouts.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from justask.asking import ask
from justask.captions import CAPTION, with_captions
from justask.collection import collect
from justask.conditions import ConditionKind
from justask.configs import TrainConfig, seed_tuple, whole_numbers
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.evaluation import EVAL_SEED
from justask.minari_io import save_minari
from justask.models.config import ModelConfig
from justask.recipes import Recipe
from justask.report import write_report
from justask.stats import bootstrap_ci, wilson_ci
from justask.suites import agents as world
from justask.training import train


@dataclasses.dataclass
class Config:
    """Behave as an unseen agent, asked in words; the defaults are the quick variant."""

    out: str = "runs/behave"
    """Run folder: report.md/json, behave.png, per seed its dataset and models."""
    seeds: tuple[int, ...] = (0,)
    """Training seeds; each draws its own agents and collects its own data."""
    train_agents: int = 1000
    """Training agents drawn from the population's training split (1152 in all)."""
    episodes_per_agent: int = 12
    """Episodes collected from each training agent (each in its own layout)."""
    test_agents: int = 60
    """Held-out agents asked for (and as many training agents, in new layouts)."""
    layouts_per_agent: int = 3
    """New layouts each asked-for agent is played in."""
    model: ModelConfig = dataclasses.field(
        default_factory=lambda: ModelConfig(kind="mlp", hidden_sizes=(256, 256), condition_film=True)
    )
    """The policy (the text model and BC alike)."""
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(steps=4000, batch_size=256, threads=0))
    """How each model is fitted (its seed is each of --seeds)."""
    overwrite: bool = False
    """Replace an existing run folder."""

    def __post_init__(self) -> None:
        self.seeds = seed_tuple(self.seeds)
        whole_numbers(self, 1, "train_agents", "episodes_per_agent", "test_agents", "layouts_per_agent")
        pool, held = world.held_out(world.population())
        if self.train_agents > len(pool) or self.test_agents > min(len(pool), len(held)):
            raise JustAskError(
                f"train_agents must be at most {len(pool)} and test_agents at most {min(len(pool), len(held))}"
            )


def _log(message: str) -> None:
    print(message, flush=True)


def traits_of(metadata: dict[str, Any]) -> world.Traits:
    """The traits a collected episode's agent recorded (``TraitAgent.info``)."""
    p = metadata["policy_params"]
    return world.Traits(tuple(p["preference"]), p["style"], bool(p["cautious"]), bool(p["sees_all"]))


TRAITS = ConditionKind("traits")


def described(episodes: Episodes) -> Episodes:
    """Every episode labelled in hindsight with its agent: its description in words (the text
    condition ``caption``) and its traits as numbers (``traits``)."""
    metadata = [{**m, "caption": world.describe(traits_of(m))} for m in episodes.metadata]
    out = with_captions(dataclasses.replace(episodes, metadata=metadata))
    vectors = np.stack([world.trait_vector(traits_of(m)) for m in episodes.metadata])
    return out.with_condition(
        TRAITS.name, np.repeat(vectors, episodes.lengths, axis=0), **TRAITS.describe(fields=list(world.TRAIT_FIELDS))
    )


def request_of(model: Any, agent: world.Traits) -> Any:
    """What a model is told about ``agent``: its description, its traits, or nothing."""
    spec = model.io.condition
    if spec is None:
        return None
    return world.describe(agent) if spec.is_text else world.trait_vector(agent)


def first_touched(episodes: Episodes) -> np.ndarray:
    """Per episode, the object it touched first (-1: none): the object in the cell the agent moved
    into at its first rewarded step."""
    out = np.full(episodes.num_episodes, -1, dtype=np.int64)
    observations = episodes.step_observations()
    for e, (start, length) in enumerate(zip(episodes.episode_starts, episodes.lengths, strict=True)):
        steps = np.flatnonzero(episodes.rewards[start : start + length] > 0)
        if not len(steps):
            continue
        t = start + int(steps[0])
        state = world.parse(observations[t])
        dx, dy = world.MOVES[int(episodes.actions[t])]
        cell = (state["agent"][0] + int(dx), state["agent"][1] + int(dy))
        out[e] = next(k for k, xy in enumerate(state["objects"]) if xy == cell)
    return out


def play_agents(agents: list[world.Traits], layouts: int, seed: int) -> Episodes:
    """Each agent in ``layouts`` new layouts: episode ``i * layouts + l`` has seed ``seed + i * layouts + l``."""
    return collect(
        world.ENV_ID, [(world.TraitAgent(a), layouts) for a in agents], num_envs=64, seed=seed, progress=False
    )


def imitation(model: Any, agents: list[world.Traits], truth: Episodes, layouts: int, seed: int) -> dict[str, Any]:
    """How well ``model`` behaves as each agent (asked its description; a model with no condition
    is asked nothing): action agreement in the agent's own states, first-object agreement in the
    same layouts."""
    spec = model.io.condition
    told = [request_of(model, a) for a in agents]
    agreement = []
    observations = truth.step_observations()
    for e, (start, length) in enumerate(zip(truth.episode_starts, truth.lengths, strict=True)):
        agent = ask(model, told[e // layouts]) if spec is not None else ask(model)
        slots = np.arange(length)
        agent.reset(slots, np.full(length, seed + e))
        acted = agent.act(observations[start : start + length], slots)
        agreement.append(float(np.mean(acted == truth.actions[start : start + length])))
    if spec is not None:
        asked = ask(model, lambda seeds: [told[(int(s) - seed) // layouts] for s in seeds])
    else:
        asked = ask(model)
    played = collect(world.ENV_ID, [(asked, truth.num_episodes)], num_envs=64, seed=seed, progress=False)
    same = first_touched(played) == first_touched(truth)
    agreement_arr = np.asarray(agreement)
    lo, hi = bootstrap_ci(agreement_arr)
    flo, fhi = wilson_ci(int(same.sum()), len(same))
    return {
        "episodes": int(truth.num_episodes),
        "action_agreement": round(float(agreement_arr.mean()), 4),
        "action_agreement_ci95": [round(lo, 4), round(hi, 4)],
        "first_object_agreement": round(float(same.mean()), 4),
        "first_object_agreement_ci95": [round(flo, 4), round(fhi, 4)],
        "by_style": {
            style: round(float(np.mean([same[i] for i in range(len(same)) if agents[i // layouts].style == style])), 4)
            for style in dict.fromkeys(a.style for a in agents)
        },
    }


def run_one(cfg: Config, seed: int, folder: Path) -> dict[str, Any]:
    timings: dict[str, float] = {}
    rng = np.random.default_rng(seed)
    pool, held = world.held_out(world.population())
    train_agents = [pool[i] for i in np.sort(rng.choice(len(pool), cfg.train_agents, replace=False))]
    seen = {a.name for a in train_agents}
    test_agents = [held[i] for i in np.sort(rng.choice(len(held), cfg.test_agents, replace=False))]
    known = [a for a in pool if a.name in seen]
    known = [known[i] for i in np.sort(rng.choice(len(known), cfg.test_agents, replace=False))]

    t0 = time.perf_counter()
    _log(f"seed {seed}: {cfg.train_agents} training agents x {cfg.episodes_per_agent} episodes ...")
    episodes = collect(
        world.ENV_ID,
        [(world.TraitAgent(a), cfg.episodes_per_agent) for a in train_agents],
        num_envs=64,
        seed=seed * 100_000,
        progress=False,
    )
    dataset = str(save_minari(episodes, folder.resolve() / "dataset", description="ManyAgents training agents"))
    data = described(episodes)
    timings["collect_s"] = time.perf_counter() - t0

    models = {}
    for name, condition in (("described", CAPTION), ("traits", TRAITS.name), ("population", None)):
        t0 = time.perf_counter()
        fit = dataclasses.replace(cfg.train, seed=seed)
        models[name] = train(data, cfg.model, fit, folder / name, condition=condition, dataset=dataset)
        timings[f"train_{name}_s"] = time.perf_counter() - t0
        _log(f"trained {name} in {timings[f'train_{name}_s']:.0f} s")

    t0 = time.perf_counter()
    sets = {}
    for label, agents, offset in (
        ("held-out agents", test_agents, 0),
        ("training agents, new layouts", known, 500_000),
    ):
        truth = play_agents(agents, cfg.layouts_per_agent, EVAL_SEED + offset)
        sets[label] = {
            "agents": len(agents),
            "methods": {
                name: imitation(model, agents, truth, cfg.layouts_per_agent, EVAL_SEED + offset)
                for name, model in models.items()
            },
        }
        for name, r in sets[label]["methods"].items():
            _log(
                f"  {label:<30} {name:<11} action agreement {r['action_agreement']:.3f}, "
                f"first object {r['first_object_agreement']:.3f}"
            )
    timings["evaluate_s"] = time.perf_counter() - t0
    return {
        "data": {"episodes": episodes.num_episodes, "steps": episodes.num_steps, "agents": len(train_agents)},
        "held_out_never_trained": not ({a.name for a in test_agents} & seen),
        "sets": sets,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }


METHODS = {
    "described": "told the agent's description in words",
    "traits": "told the agent's traits as numbers (the oracle)",
    "population": "the population's average policy (BC, told nothing)",
}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Behave as an agent never seen: asked in words",
        "",
        f"Training: {report['config_summary']}. Each asked-for agent plays new layouts; *action agreement*: the "
        "model's argmax action equals the agent's in the states the agent visits; *first object*: asked to behave "
        "as the agent in the same layout, the model touches first what the agent touched first. "
        f"Chance for the first object ≈ 1/{world.N_OBJECTS}.",
        "",
        "| set | method | seed | action agreement [95% CI] | first object [95% CI] | first object by style |",
        "|---|---|---|---|---|---|",
    ]
    for seed, run_ in report["seeds"].items():
        for label, s in run_["sets"].items():
            for name, r in s["methods"].items():
                a, f = r["action_agreement_ci95"], r["first_object_agreement_ci95"]
                styles = ", ".join(f"{k} {v:.2f}" for k, v in r["by_style"].items())
                lines.append(
                    f"| {label} ({s['agents']} agents) | {METHODS[name]} | {seed} | {r['action_agreement']:.3f} "
                    f"[{a[0]:.3f}, {a[1]:.3f}] | {r['first_object_agreement']:.3f} [{f[0]:.3f}, {f[1]:.3f}] | {styles} |"
                )
    lines += [
        "",
        "Not built yet: demonstration prompts (k = 0, 1, 2, 5), the prompt-fitted BC, the nearest training "
        "agent, the false-belief prediction test and the mirror test (issue 27).",
    ]
    return "\n".join(lines) + "\n"


def plot(path: Path, report: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    seed, first = next(iter(report["seeds"].items()))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    labels = list(first["sets"])
    for ax, key, title in (
        (axes[0], "action_agreement", "action agreement in the agent's states"),
        (axes[1], "first_object_agreement", "first object agreement in new layouts"),
    ):
        width = 0.8 / len(METHODS)
        for j, name in enumerate(METHODS):
            values = [first["sets"][label]["methods"][name][key] for label in labels]
            cis = [first["sets"][label]["methods"][name][f"{key}_ci95"] for label in labels]
            x = np.arange(len(labels)) + (j - (len(METHODS) - 1) / 2) * width
            err = np.array(
                [
                    [v - c[0] for v, c in zip(values, cis, strict=True)],
                    [c[1] - v for v, c in zip(values, cis, strict=True)],
                ]
            )
            ax.bar(x, values, width=width * 0.95, yerr=err, capsize=3, label=METHODS[name])
        if key == "first_object_agreement":
            ax.axhline(1 / world.N_OBJECTS, color="grey", ls=":", label="chance")
        ax.set_xticks(np.arange(len(labels)), labels, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(title, fontsize=10)
    axes[1].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"Behave as an unseen agent, asked in words (seed {seed})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(cfg: Config, out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    seeds = {str(seed): run_one(cfg, seed, out / f"seed{seed}") for seed in cfg.seeds}
    report = {
        "recipe": "behave",
        "config_summary": f"{cfg.train_agents} agents x {cfg.episodes_per_agent} episodes, "
        f"MLP {list(cfg.model.hidden_sizes)} (FiLM: {cfg.model.condition_film}), {cfg.train.steps} steps",
        "seeds": seeds,
        "seconds": round(time.perf_counter() - started, 1),
    }
    report = write_report(out, report, markdown(report), config=cfg, seeds=cfg.seeds)
    plot(out / "behave.png", report)
    return report


RECIPE = Recipe(
    name="behave",
    summary="behave as an agent never seen: a model of many agents asked in words to imitate a held-out one",
    config=Config,
    run=run,
    pictures=("behave.png",),
)
