"""Hindsight language on BabyAI: play data, captions written afterwards, a text-conditioned
policy, and the three ways of asking it (the env's missions, held-out compositions, paraphrases).

Pipeline: ``play_data`` (the bot at play, noisy bots, random walks; no mission kept) ->
``captioned`` (replay, caption every event, drop held-out colour-object pairs, one segment per
event, sentence embeddings) -> ``train_text_model`` -> ``evaluate_asked``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from justask import captions as cp
from justask.collection import collect
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.models.policy import ACTION_RULES
from justask.stats import wilson_ci
from justask.suites import babyai as ba
from justask.text import shared_encoder

EVAL_SEED = 3_000_000
VALID_SEED = 5_000_000  # the episodes that choose each model's action rule (none of them evaluated)
# Six of the 18 colour-object pairs of movable objects; never the target of a training caption.
HELD_OUT = (("red", "ball"), ("green", "key"), ("blue", "box"), ("purple", "ball"), ("yellow", "key"), ("grey", "box"))


@dataclasses.dataclass
class LanguageConfig:
    level: str = "GoToLocal"
    play_episodes: int = 300  # play episodes collected (bot, noisy bot and random walks)
    noisy_share: float = 0.5  # share of play episodes from the bot with random actions mixed in
    noise: float = 0.25  # the noisy bot's share of random actions
    random_share: float = 0.1  # share of play episodes that are random walks
    play_length: int = 0  # steps per play episode (0: the level's PLAY_STEPS); shorter = more rooms per env step
    held_out: tuple[tuple[str, str], ...] = HELD_OUT
    kind: str = "mlp"  # mlp or dt
    steps: int = 3000
    batch_size: int = 256
    context_len: int = 8
    eval_episodes: int = 200
    # argmax, sample, or best: each model's rule chosen on ``valid_episodes`` of own missions apart
    # from the evaluation seeds (a memoryless policy's argmax can loop where sampling gets out)
    action_rule: str = "best"
    valid_episodes: int = 100
    goto_from_event: bool = False  # "go to" segments start after the previous event (captions.segments)
    pickup_across_drop: bool = False  # "pick up" segments reach back over drops (captions.segments)
    manner_share: float = 0.0  # > 0: captions get manner clauses ("quickly" / "after wandering"), this share of them
    ppo_budget: float = 0.0  # > 0: the PPO peer, at this multiple of the play data's env steps
    threads: int = 2
    device: str = "cpu"


def play_population(cfg: LanguageConfig, seed: int) -> list[tuple[Any, int]]:
    from justask.envs import env_spaces
    from justask.policies import RandomPolicy

    n_random = int(round(cfg.play_episodes * cfg.random_share))
    n_noisy = int(round(cfg.play_episodes * cfg.noisy_share))
    n_clean = cfg.play_episodes - n_random - n_noisy
    _, space = env_spaces(ba.env_id(cfg.level), task="play")
    population = [
        (ba.PlayBot(cfg.level, 0.0, seed), n_clean),
        (ba.PlayBot(cfg.level, cfg.noise, seed), n_noisy),
        (RandomPolicy(space), n_random),
    ]
    return [(p, n) for p, n in population if n > 0]


def play_data(cfg: LanguageConfig, seed: int, progress: bool = False) -> Episodes:
    """Play episodes (the task ``play``: no reward, no termination, the level's play length)."""
    return collect(
        ba.env_id(cfg.level),
        play_population(cfg, seed),
        num_envs=32,
        seed=seed * 1_000_000,
        progress=progress,
        env_kwargs={"task": "play", **({"play_length": cfg.play_length} if cfg.play_length else {})},
        description="play",
    )


def captioned(
    data: Episodes,
    held_out: tuple[tuple[str, str], ...] = (),
    manner_share: float = 0.0,
    seed: int = 0,
    goto_from_event: bool = False,
    pickup_across_drop: bool = False,
) -> tuple[Episodes, dict[str, Any]]:
    """Segments of ``data`` with their captions' embeddings as the ``caption`` text condition
    (``manner_share`` > 0: with manner clauses, ``captions.with_manner``)."""
    events = cp.caption_episodes(data)
    n_all = sum(len(e) for e in events)
    kept = [cp.held_out_filter(e, held_out) for e in events]
    segmented = cp.segments(data, kept, goto_from_event=goto_from_event, pickup_across_drop=pickup_across_drop)
    if manner_share > 0:
        segmented = cp.with_manner(segmented, manner_share, seed)
    info = {
        "events": n_all,
        "events_kept": sum(len(e) for e in kept),
        "segments": segmented.num_episodes,
        "segment_steps": segmented.num_steps,
        "unique_captions": len({m["caption"] for m in segmented.metadata}),
        "kinds": {k: sum(m["kind"] == k for m in segmented.metadata) for k in ("goto", "pickup", "putnext", "open")},
    }
    return cp.with_captions(segmented, shared_encoder()), info


def train_text_model(data: Episodes, cfg: LanguageConfig, run_dir: Path, seed: int) -> Any:
    from justask.configs import TrainConfig
    from justask.training import model_config_for, train

    arch: dict[str, Any] = (
        {"context_len": cfg.context_len, "d_model": 128, "n_layer": 2, "n_head": 2}
        if cfg.kind == "dt"
        else {"hidden_sizes": [512, 512]}
    )
    config = model_config_for(data, cfg.kind, cp.CAPTION, **arch)
    return train(data, config, TrainConfig.quiet(cfg.steps, cfg.batch_size, seed, cfg.threads, cfg.device), run_dir)


# ---- what to ask ----------------------------------------------------------------------------
_PARAPHRASES = (
    ("go to ", ("walk over to ", "head to ", "make your way to ")),
    ("pick up ", ("grab ", "take ", "lift ")),
    ("open ", ("swing open ", "pull open ", "get through ")),
)


def _object_paraphrase(phrase: str) -> str:
    """'the red ball' -> 'the ball that is red' (and 'a red ball' -> 'a ball that is red')."""
    words = phrase.split()
    if len(words) == 3 and words[1] in ba.COLOURS:
        return f"{words[0]} {words[2]} that is {words[1]}"
    return phrase


def paraphrase(mission: str, k: int) -> str:
    """A wording of ``mission`` the captioner never writes (variant ``k``); the env still checks
    the original mission."""
    m = mission.strip()
    if m.startswith("put ") and " next to " in m:
        a, b = m[4:].split(" next to ", 1)
        return [f"place {a} beside {b}", f"move {_object_paraphrase(a)} so that it touches {b}"][k % 2]
    for prefix, options in _PARAPHRASES:
        if m.startswith(prefix):
            rest = m[len(prefix) :]
            verb = options[k % len(options)]
            return verb + (_object_paraphrase(rest) if k % 2 else rest)
    return m


def held_out_instruction(level: str, seed: int, held_out: tuple[tuple[str, str], ...]) -> str | None:
    """An instruction of the level's own kind about a held-out colour-object pair present in the
    episode reset with ``seed`` (None: no such object there)."""
    env = ba.make_level(level)
    try:
        ba.quiet_reset(env, seed)
        objects = [o for o in ba.objects_in(env) if o.type != "door"]
        counts: dict[tuple[str, str], int] = {}
        for o in objects:
            counts[(o.color, o.type)] = counts.get((o.color, o.type), 0) + 1
        targets = [o for o in objects if (o.color, o.type) in set(held_out)]
        if not targets:
            return None
        target = targets[seed % len(targets)]

        def name(o: Any) -> str:
            return f"{'the' if counts[(o.color, o.type)] == 1 else 'a'} {o.color} {o.type}"

        kind = type(env.instrs).__name__
        if kind == "PickupInstr":
            return f"pick up {name(target)}"
        if kind == "PutNextInstr":
            others = [o for o in objects if (o.color, o.type) != (target.color, target.type)]
            return f"put {name(target)} next to {name(others[seed % len(others)])}" if others else None
        return f"go to {name(target)}"
    finally:
        env.close()


def asked_sets(
    level: str, episodes: int, held_out: tuple[tuple[str, str], ...], seed: int = EVAL_SEED
) -> dict[str, dict[str, Any]]:
    """Three evaluation sets, each ``{"seeds", "asked" (what the model is told), "instructions"
    (what the env checks, None: its own mission)}``."""
    own_seeds = np.arange(seed, seed + episodes)
    own = ba.env_missions(level, own_seeds)
    held: dict[int, str] = {}
    s = seed + 10_000_000
    while len(held) < episodes and s < seed + 10_000_000 + 50 * episodes:
        text = held_out_instruction(level, s, held_out)
        if text is not None:
            held[s] = text
        s += 1
    return {
        "own missions": {"seeds": own_seeds.tolist(), "asked": own, "instructions": None},
        "held-out compositions": {"seeds": list(held), "asked": list(held.values()), "instructions": held},
        "paraphrases": {
            "seeds": own_seeds.tolist(),
            "asked": [paraphrase(m, k) for k, m in enumerate(own)],
            "instructions": None,
        },
    }


def evaluate_asked(
    model: Any, level: str, asked_set: dict[str, Any], num_envs: int = 50, action_rule: str = "argmax", seed: int = 0
) -> dict[str, Any]:
    """Success of ``model`` (a text-conditioned ``PolicyModel`` or the SB3 PPO peer) asked
    ``asked_set["asked"][i]`` in the episode of ``seeds[i]``, acting by ``action_rule``
    (``sample``: draws seeded with ``seed``)."""
    from justask.agent import Agent
    from justask.models.policy import PolicyModel

    seeds = np.asarray(asked_set["seeds"], dtype=np.int64)
    if len(seeds) == 0:
        raise JustAskError("nothing to evaluate: the set has no episodes")
    by_seed = dict(zip(seeds.tolist(), asked_set["asked"], strict=True))
    encoder = shared_encoder()
    if isinstance(model, PolicyModel):
        agent: Any = Agent(
            model,
            None,
            request_fn=lambda s: encoder.encode([by_seed[int(x)] for x in s]),
            name="asked",
            action_rule=action_rule,
            seed=seed,
        )
    else:  # an SB3 model trained with the instruction embedding in its observation
        from justask.peers.sb3_language import InstructedSB3Policy

        agent = InstructedSB3Policy(model, by_seed, name="asked", encoder=encoder, action_rule=action_rule, seed=seed)
    env_kwargs = {"instructions": asked_set["instructions"]} if asked_set["instructions"] else {}
    # Seeds need not be contiguous (held-out sets skip rooms without the pair): one collect per run
    # of consecutive seeds (collect numbers its episodes seed + j).
    runs = np.split(seeds, np.flatnonzero(np.diff(seeds) != 1) + 1)
    parts = [
        collect(
            ba.env_id(level),
            [(agent, len(run))],
            num_envs=min(num_envs, len(run)),
            seed=int(run[0]),
            progress=False,
            env_kwargs=env_kwargs,
        )
        for run in runs
    ]
    episodes = Episodes.concatenate(parts)
    success = episodes.returns() > 0
    wins = int(success.sum())
    return {
        "success": wins / len(success),
        "success_ci95": list(wilson_ci(wins, len(success))),
        "episodes": len(success),
        "mean_steps_success": float(episodes.lengths[success].mean()) if wins else None,
        "action_rule": action_rule,
    }


def choose_action_rule(model: Any, cfg: LanguageConfig, seed: int = 0) -> tuple[str, dict[str, float]]:
    """``cfg.action_rule``, or for ``best`` the rule with the higher success on
    ``cfg.valid_episodes`` own missions from ``VALID_SEED`` on (ties: argmax), with both scores."""
    if cfg.action_rule in ACTION_RULES:
        return cfg.action_rule, {}
    if cfg.action_rule != "best":
        raise JustAskError(f"unknown action rule '{cfg.action_rule}' (choose from argmax, sample, best)")
    seeds = np.arange(VALID_SEED, VALID_SEED + cfg.valid_episodes)
    valid = {"seeds": seeds.tolist(), "asked": ba.env_missions(cfg.level, seeds), "instructions": None}
    scores = {
        rule: evaluate_asked(model, cfg.level, valid, action_rule=rule, seed=seed)["success"] for rule in ACTION_RULES
    }
    return max(ACTION_RULES, key=lambda r: scores[r]), scores


# ---- the instruction-following peer ----------------------------------------------------------
def instruction_data(cfg: LanguageConfig, seed: int, target_steps: int) -> Episodes:
    """BabyAI's imitation baseline's data: the bot following the level's own missions (episodes
    end at success), episodes whose mission names a held-out pair left out, collected in batches
    until ``target_steps`` env steps (equal data with the play set)."""
    parts: list[Episodes] = []
    steps, next_seed, n = 0, seed * 1_000_000 + 500_000, 64
    bot = ba.PlayBot(cfg.level, 0.0, seed, own_mission=True)
    while steps < target_steps:
        part = collect(
            ba.env_id(cfg.level), [(bot, n)], num_envs=32, seed=next_seed, progress=False, description="demos"
        )
        next_seed += n
        missions = ba.env_missions(cfg.level, np.array([m["seed"] for m in part.metadata]))
        keep = [i for i, m in enumerate(missions) if not cp.names_pair(m, cfg.held_out)]
        for i in keep:
            part.metadata[i]["caption"] = missions[i]
        part = part.select(keep)
        lengths = np.cumsum(part.lengths)
        room = int(np.searchsorted(lengths, target_steps - steps) + 1)  # stop at the step budget
        part = part.select(np.arange(min(room, part.num_episodes)))
        parts.append(part)
        steps += part.num_steps
        mean_length = max(1.0, part.num_steps / max(1, part.num_episodes))
        n = max(16, int(1.15 * (target_steps - steps) / mean_length))  # the rest in about one more batch
    return Episodes.concatenate(parts)


def with_missions(data: Episodes) -> Episodes:
    """The ``caption`` text condition from each episode's true mission (metadata ``caption``)."""
    return cp.with_captions(data, shared_encoder())


# ---- one training seed, both models, three sets ----------------------------------------------
MODEL_NAMES = {
    "hindsight": "hindsight captions (play)",
    "instruction_bc": "instruction BC (bot demos)",
    "ppo": "PPO from scratch (instruction in obs)",
}
SET_NAMES = ("own missions", "held-out compositions", "paraphrases")


def run_language(
    cfg: LanguageConfig, out: Path, seed: int, peer: bool = True, progress: bool = False
) -> dict[str, Any]:
    """Play -> captions -> text model, and (``peer``) instruction BC on as many env steps of the
    bot's demonstrations; both asked the three sets. Models land in ``out/<model>``."""
    import time

    start = time.time()
    timings: dict[str, float] = {}
    play = play_data(cfg, seed, progress)
    timings["play_s"] = round(time.time() - start, 1)
    segmented, info = captioned(play, cfg.held_out, cfg.manner_share, seed, cfg.goto_from_event, cfg.pickup_across_drop)
    timings["captions_s"] = round(time.time() - start - sum(timings.values()), 1)
    models = {"hindsight": train_text_model(segmented, cfg, out / "hindsight", seed)}
    timings["train_s"] = round(time.time() - start - sum(timings.values()), 1)
    data = {"play_episodes": play.num_episodes, "play_steps": play.num_steps, **info}
    if peer:
        demos = instruction_data(cfg, seed, play.num_steps)
        data["demo_episodes"], data["demo_steps"] = demos.num_episodes, demos.num_steps
        models["instruction_bc"] = train_text_model(with_missions(demos), cfg, out / "instruction_bc", seed)
        timings["peer_s"] = round(time.time() - start - sum(timings.values()), 1)
    if cfg.ppo_budget > 0:
        from justask.peers.sb3_language import train_instruction_ppo

        data["ppo_steps"] = int(round(cfg.ppo_budget * play.num_steps))
        models["ppo"] = train_instruction_ppo(cfg.level, data["ppo_steps"], seed=seed, held_out=cfg.held_out)
        timings["ppo_s"] = round(time.time() - start - sum(timings.values()), 1)
    sets = asked_sets(cfg.level, cfg.eval_episodes, cfg.held_out)
    names = list(SET_NAMES)
    if cfg.manner_share > 0:  # the own missions again, asked with each manner clause
        for manner in ba.MANNERS:
            own = sets["own missions"]
            sets[f"own missions {manner}"] = {**own, "asked": [f"{m} {manner}" for m in own["asked"]]}
            names.append(f"own missions {manner}")
    rows, rules = [], {}
    for key, model in models.items():
        name = MODEL_NAMES[key] + ("" if key == "ppo" else f", {cfg.kind.upper()}")
        rule, scores = choose_action_rule(model, cfg, seed)
        rules[name] = {"chosen": rule, "validation_success": scores}
        for set_name in names if key == "hindsight" else SET_NAMES:
            rows.append(
                {
                    "model": name,
                    "set": set_name,
                    "seed": seed,
                    **evaluate_asked(model, cfg.level, sets[set_name], action_rule=rule, seed=seed),
                }
            )
    timings["eval_s"] = round(time.time() - start - sum(timings.values()), 1)
    examples = {name: sets[name]["asked"][:3] for name in names}
    return {
        "config": dataclasses.asdict(cfg),
        "data": data,
        "rows": rows,
        "rules": {str(seed): rules},
        "timings": timings,
        "examples": examples,
    }


def markdown(results: dict[str, Any], command: str) -> str:
    cfg, data = results["config"], results["data"]
    lines = [
        f"# Hindsight language on BabyAI {cfg['level']}",
        "",
        f"Command: `{command}`",
        "",
        (
            f"Training seeds {results['seeds']}, one play set each; seed {results['seeds'][0]}'s play data: "
            if len(results.get("seeds", [])) > 1
            else "Play data: "
        )
        + f"{data['play_episodes']} episodes, {data['play_steps']:,} env steps (BabyAI's bot on random missions "
        f"{1 - cfg['noisy_share'] - cfg['random_share']:.0%}, the bot with {cfg['noise']:.0%} random actions "
        f"{cfg['noisy_share']:.0%}, random walks {cfg['random_share']:.0%}); the missions pursued are thrown away. The "
        f"captioner found {data['events']:,} events, kept {data['events_kept']:,} after removing every caption naming a "
        f"held-out pair ({', '.join(f'{c} {o}' for c, o in cfg['held_out'])}): {data['segments']:,} captioned segments, "
        f"{data['unique_captions']} distinct captions ({', '.join(f'{k} {v}' for k, v in data['kinds'].items())})."
        + ("" if not cfg.get("pickup_across_drop") else " 'Pick up' segments reach back over drops.")
        + ("" if not cfg.get("goto_from_event") else " 'Go to' segments start after the previous event."),
    ]
    if "demo_steps" in data:
        lines += [
            "",
            f"Instruction BC: the bot following the level's own missions, {data['demo_episodes']} episodes, "
            f"{data['demo_steps']:,} env steps (equal data), missions naming a held-out pair left out, each step "
            "conditioned on its true mission.",
        ]
    if "ppo_steps" in data:
        lines += [
            "",
            f"PPO from scratch (Stable-Baselines3): {data['ppo_steps']:,} env steps on the level's own missions and "
            "reward, the mission's embedding appended to the observation, missions naming a held-out pair skipped "
            "(`justask/peers/sb3_language.py`: the MiniGrid starter settings, 16 envs, 256x256 MLP); asked like the "
            "others.",
        ]
    lines += [
        "",
        ("Hindsight and instruction BC: the same" if "demo_steps" in data else "The hindsight model: a")
        + " text-conditioned model, conditioned on sentence embeddings of "
        f"all-MiniLM-L6-v2 (MLP: 512x512; DT: context {cfg['context_len']}, 128 dims, 2 layers), {cfg['steps']} gradient "
        f"steps, batch {cfg['batch_size']}. Success = BabyAI's verifier of the asked instruction before "
        "the level's time limit, Wilson 95% CIs.",
        "",
        _rules_line(cfg, results.get("rules", {})),
        "",
        "| model | own missions | held-out compositions | paraphrases |",
        "|---|---|---|---|",
    ]
    by = {(r["model"], r["set"]): r for r in results["rows"]}
    for model in dict.fromkeys(r["model"] for r in results["rows"]):
        cells = []
        for s in SET_NAMES:
            r = by.get((model, s))
            cells.append(
                "—"
                if r is None
                else f"{r['success']:.2f} [{r['success_ci95'][0]:.2f}, {r['success_ci95'][1]:.2f}] (n={r['episodes']})"
            )
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    manner_rows = [r for r in results["rows"] if r["set"].startswith("own missions")]
    if any(r["set"] != "own missions" for r in manner_rows):
        lines += [
            "",
            f"Manner clauses: {cfg['manner_share']:.0%} of the captions of each kind's shortest third of segments end in "
            "'quickly', of the longest third in 'after wandering'. The hindsight model asked the own missions plainly "
            "and with each clause (success; mean steps of the successful episodes):",
            "",
            "| asked | success | mean steps to success |",
            "|---|---|---|",
        ]
        for r in manner_rows:
            if not r["model"].startswith(MODEL_NAMES["hindsight"]):
                continue
            steps = r.get("mean_steps_success")
            lines.append(
                f"| {r['set']} | {r['success']:.2f} [{r['success_ci95'][0]:.2f}, {r['success_ci95'][1]:.2f}] | "
                + ("—" if steps is None else f"{steps:.1f}")
                + " |"
            )
    lines += ["", "Examples of what was asked:", ""]
    for s, texts in results["examples"].items():
        lines.append(f"- {s}: " + "; ".join(f"'{t}'" for t in texts))
    lines.append("")
    return "\n".join(lines)


def _rules_line(cfg: dict[str, Any], rules: dict[str, dict[str, Any]]) -> str:
    """How each model chose between argmax and sampled actions, per training seed."""
    rule = cfg.get("action_rule", "argmax")
    if rule != "best" or not rules:
        return f"Every model acts by {rule}."
    per_model: dict[str, list[str]] = {}
    for seed, by_model in rules.items():
        for model, r in by_model.items():
            v = r["validation_success"]
            per_model.setdefault(model, []).append(
                f"seed {seed}: {r['chosen']} (argmax {v['argmax']:.2f}, sample {v['sample']:.2f})"
            )
    return (
        f"Action rule, each model its better one: argmax or sampled actions, chosen per training seed on "
        f"{cfg.get('valid_episodes')} own-mission episodes apart from the evaluated ones (a memoryless policy's "
        "argmax can loop where sampling gets out) — "
        + "; ".join(f"{model}: {', '.join(v)}" for model, v in per_model.items())
        + "."
    )


def plot_success(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in results["rows"]))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    width = 0.8 / len(models)
    for m, model in enumerate(models):
        rows = [next(r for r in results["rows"] if r["model"] == model and r["set"] == s) for s in SET_NAMES]
        x = np.arange(len(SET_NAMES)) + (m - (len(models) - 1) / 2) * width
        y = np.array([r["success"] for r in rows])
        err = np.array([[r["success"] - r["success_ci95"][0], r["success_ci95"][1] - r["success"]] for r in rows]).T
        err = np.clip(err, 0.0, None)  # a Wilson bound at 0 or 1 can land a rounding error past it
        ax.bar(x, y, width, yerr=err, capsize=3, label=model)
    ax.set_xticks(np.arange(len(SET_NAMES)), SET_NAMES)
    ax.set_ylabel("success (Wilson 95% CI)")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"BabyAI {results['config']['level']}: asked in words")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8)  # below: never over a bar
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
