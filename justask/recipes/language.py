"""Hindsight language on BabyAI: play data, captions written afterwards, a text-conditioned
policy, and the three ways of asking it (the env's missions, held-out compositions, paraphrases).

play (the bot at play, noisy bots, random walks; no mission kept) -> caption (replay, caption
every event, drop held-out colour-object pairs, one segment per event, captions stored once) ->
train (a text-conditioned MLP or DT; instruction BC on as many env steps of the bot's demos; SB3
PPO from scratch) -> ask (each episode its own instruction, ``ask(model, text=...)``) -> evaluate
(BabyAI's verifier, Wilson CIs; the steering control: the same episodes asked another episode's
instruction and an irrelevant sentence) -> report.

The defaults are the quick demo (one seed, a few minutes on 2 CPU cores); the benchmarks are the
presets (``benchmarks/run.py language --preset gotolocal``), one per level.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from justask import captions as cp
from justask.asking import ask
from justask.collection import collect
from justask.configs import TrainConfig, seed_tuple, whole_numbers
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.evaluation import IRRELEVANT, derangement
from justask.models.config import ModelConfig
from justask.models.policy import ACTION_RULES, PolicyModel
from justask.recipes import Recipe
from justask.report import rollout_gif, write_report
from justask.stats import bootstrap_ci, overlaps, pooled_success, wilson_ci
from justask.suites import babyai as ba
from justask.training import train

EVAL_SEED = 3_000_000
VALID_SEED = 5_000_000  # the episodes that choose each model's action rule (none of them evaluated)
HELD_OUT_SEED_OFFSET = 10_000_000  # held-out compositions are looked for from EVAL_SEED + this on
# Six of the 18 colour-object pairs of movable objects; never the target of a training caption.
HELD_OUT = (("red", "ball"), ("green", "key"), ("blue", "box"), ("purple", "ball"), ("yellow", "key"), ("grey", "box"))
MOVABLE = ("key", "ball", "box")


@dataclasses.dataclass
class Config:
    """Hindsight language on BabyAI; the defaults are the quick demo (one training seed, a few
    minutes on 2 CPU cores)."""

    out: str = "runs/demo-language"
    """Run folder: report.md/json, success.png, rollout.gif; per seed the trained models (seed<N>/hindsight, /instruction_bc)."""
    seeds: tuple[int, ...] = (0,)
    """Training seeds; each seeds its own play data (episode seeds from seed x 1000000), demos, weights and sampled actions."""
    level: str = "GoToLocal"
    """BabyAI level: GoToLocal, PickupLoc, PutNextLocal or GoTo."""
    play_episodes: int = 200
    """Play episodes collected per seed (the bot on random missions, the noisy bot, random walks)."""
    noisy_share: float = 0.5
    """Share of play episodes from the bot with random actions mixed in."""
    noise: float = 0.25
    """The noisy bot's share of random actions."""
    random_share: float = 0.1
    """Share of play episodes that are random walks."""
    play_length: int = 0
    """Steps per play episode (0: the level's own, 128; GoTo 576); shorter = more rooms per env step."""
    held_out: tuple[tuple[str, str], ...] = HELD_OUT
    """Colour-object pairs no training caption or mission names (space-separated: colour type colour type ...)."""
    goto_from_event: bool = True
    """'Go to' segments start after the previous event (each step carries one 'go to' caption: the next object faced), not after the last change to the world."""
    pickup_across_drop: bool = False
    """'Pick up' segments reach back over drops (they show putting down what was held)."""
    direct_segments: bool = False
    """'Go to', 'pick up' and 'open' segments start where the approach to the object became direct (steps left <= 1.5 x distance + 3)."""
    optimal_segments: bool = False
    """'Go to', 'pick up' and 'open' segments keep only their shortest way to the object (every action left on a shortest path in the room as it was): a caption labels only actions right for it."""
    done_step: bool = True
    """Every captioned segment, and instruction BC's demos alike, ends with the agent saying it is done (BabyAI's 'done' action, one more step in the final state)."""
    segment_horizon: int = 0
    """> 0: a caption labels only the last this many steps before its event (0: from the segment's start)."""
    rare_repeat: int = 1
    """Each 'pick up', 'put next to' and 'open' segment this many times in the training data ('go to' segments, one per object faced, outnumber them about six to one)."""
    location_share: float = 0.0
    """> 0: this share of 'pick up' segments name the object by where it was when they began, as BabyAI's missions do ('pick up the key on your left')."""
    manner_share: float = 0.0
    """> 0: this share of the shortest and longest third of segments get a manner clause ('quickly', 'after wandering')."""
    wandering_clause: bool = False
    """Segments whose approach was not direct all the way end in 'after wandering'; direct ones keep the plain caption (which then asks for the direct way)."""
    kind: str = "mlp"
    """The text-conditioned model: mlp (--mlp) or dt (--dt)."""
    mlp: ModelConfig = dataclasses.field(
        default_factory=lambda: ModelConfig(kind="mlp", hidden_sizes=(512, 512), condition_embed=256)
    )
    """The MLP (--kind mlp). The sentence's embedding is projected to 256 numbers, not 32: sentences that
    differ in one colour word lie close in the encoder's space, and at 32 the steering gap on GoToLocal was
    +0.20 (hindsight) and +0.34 (instruction BC), at 256 +0.29 and +0.49; on PickupLoc +0.15 and +0.37, then +0.27
    and +0.54 (benchmarks/results/language_steering_wide.md, language_steering_pickuploc_wide.md)."""
    dt: ModelConfig = dataclasses.field(
        default_factory=lambda: ModelConfig(
            kind="dt", context_len=8, d_model=128, n_layer=2, n_head=2, timestep_embedding=False
        )
    )
    """The Decision Transformer (--kind dt). No timestep embedding: each captioned segment is its own
    episode, so its step count restarts at 0 and runs a few steps, while asking runs to the level's
    limit — with it, the hindsight DT's steering gap on GoToLocal was +0.10, without it +0.30
    (benchmarks/results/language_steering_dt.md)."""
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(steps=2000, batch_size=256, device="cpu")
    )
    """How each text-conditioned model is fitted (its seed is each of --seeds); on the CPU, as the recorded runs, with the threads the machine's load leaves free (two beside another busy process are 10-20x slower; the weights do not depend on the count)."""
    peer: bool = True
    """Also train instruction BC on the bot's demos with their true missions (as many env steps as the play data)."""
    ppo_budget: float = 0.0
    """> 0: the SB3 PPO peer, from scratch, for this multiple of the play data's env steps."""
    eval_episodes: int = 100
    """Evaluation episodes per set (own missions, held-out compositions, paraphrases) and per steering control."""
    action_rule: str = "best"
    """argmax, sample, or best: each model's better one on --valid-episodes own missions apart from the evaluated ones."""
    valid_episodes: int = 100
    """Own-mission episodes (from seed 5000000) that choose each model's action rule."""
    guidance: tuple[float, ...] = (1.0,)
    """Guidance weights (1: none) a model trained with condition dropout (--mlp.condition-dropout) is tried at; with --action-rule best, chosen with the rule on the validation episodes."""
    num_envs: int = 50
    """Envs stepped together during evaluation."""
    gif: bool = True
    """Render the first seed's hindsight model asked for a held-out composition (rollout.gif)."""
    overwrite: bool = False
    """Replace an existing run folder."""

    def __post_init__(self) -> None:
        self.seeds = seed_tuple(self.seeds)
        self.held_out = tuple(tuple(pair) for pair in self.held_out)  # type: ignore[misc]
        if self.level not in ba.LEVELS:
            raise JustAskError(f"level: unknown BabyAI level '{self.level}' (known: {', '.join(ba.LEVELS)})")
        if self.kind not in ("mlp", "dt"):
            raise JustAskError(f"kind must be mlp or dt, got '{self.kind}'")
        if self.mlp.kind != "mlp" or self.dt.kind != "dt":
            raise JustAskError(f"--mlp must be an mlp and --dt a dt (got {self.mlp.kind} and {self.dt.kind})")
        if self.action_rule not in (*ACTION_RULES, "best"):
            raise JustAskError(f"unknown action rule '{self.action_rule}' (choose from argmax, sample, best)")
        try:
            self.guidance = tuple(float(w) for w in self.guidance)
        except (TypeError, ValueError):
            raise JustAskError(f"guidance weights must be numbers in [0, 100], got {self.guidance!r}") from None
        if not self.guidance or any(not (np.isfinite(w) and 0 <= w <= 100) for w in self.guidance):
            raise JustAskError(f"guidance weights must be numbers in [0, 100], got {list(self.guidance)}")
        if self.guidance != (1.0,) and self.model.condition_dropout == 0:
            raise JustAskError("guidance needs condition dropout: set --mlp.condition-dropout (or --dt.) > 0")
        whole_numbers(self, 1, "play_episodes", "eval_episodes", "valid_episodes", "num_envs", "rare_repeat")
        whole_numbers(self, 0, "play_length", "segment_horizon")
        for name in ("noisy_share", "noise", "random_share", "manner_share", "location_share"):
            _share(self, name)
        if self.manner_share > 0 and self.wandering_clause:
            raise JustAskError(
                "choose one way of writing manner clauses: --manner-share (by length) or --wandering-clause"
            )
        if self.noisy_share + self.random_share > 1:
            raise JustAskError(
                f"noisy_share + random_share must be at most 1, got {self.noisy_share} + {self.random_share}"
            )
        if not (isinstance(self.ppo_budget, (int, float)) and np.isfinite(self.ppo_budget) and self.ppo_budget >= 0):
            raise JustAskError(f"ppo_budget must be a number >= 0, got {self.ppo_budget!r}")
        for pair in self.held_out:
            if len(pair) != 2 or pair[0] not in ba.COLOURS or pair[1] not in MOVABLE:
                raise JustAskError(
                    f"held_out: {' '.join(pair)!r} is not a colour ({', '.join(ba.COLOURS)}) and an object "
                    f"({', '.join(MOVABLE)})"
                )

    @property
    def model(self) -> ModelConfig:
        """The text-conditioned model's architecture (``kind`` picks it)."""
        return self.dt if self.kind == "dt" else self.mlp


def _share(cfg: Any, name: str) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise JustAskError(f"{name} must be in [0, 1], got {value!r}")


def _log(message: str) -> None:
    print(message, flush=True)


# ---- play and captions ------------------------------------------------------------------------
def play_population(cfg: Config, seed: int) -> list[tuple[Any, int]]:
    """The play policies and their episode counts: the bot, the noisy bot, random walks."""
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


def play_data(cfg: Config, seed: int, progress: bool = False) -> Episodes:
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
    horizon: int = 0,
    direct: bool = False,
    done_step: bool = False,
    wandering_clause: bool = False,
    optimal: bool = False,
    location_share: float = 0.0,
    rare_repeat: int = 1,
) -> tuple[Episodes, dict[str, Any]]:
    """Segments of ``data`` with their captions as the ``caption`` text condition (stored once:
    indices into the unique captions), and counts of what the captioner found (``manner_share``
    > 0: with manner clauses, ``captions.with_manner``)."""
    events = cp.caption_episodes(data)
    n_all = sum(len(e) for e in events)
    kept = [cp.held_out_filter(e, held_out) for e in events]
    segmented = cp.segments(
        data,
        kept,
        horizon or None,
        goto_from_event=goto_from_event,
        pickup_across_drop=pickup_across_drop,
        direct=direct,
        optimal=optimal,
    )
    if done_step:
        segmented = cp.with_done_step(segmented)
    if location_share > 0:
        segmented = cp.with_location(segmented, location_share, seed)
    segmented = cp.with_rare_events_repeated(segmented, rare_repeat)
    if manner_share > 0 and wandering_clause:
        raise JustAskError("choose one way of writing manner clauses: --manner-share (by length) or --wandering-clause")
    if manner_share > 0:
        segmented = cp.with_manner(segmented, manner_share, seed)
    if wandering_clause:
        segmented = cp.with_wandering_clause(segmented)
    info = {
        "events": n_all,
        "events_kept": sum(len(e) for e in kept),
        "segments": segmented.num_episodes,
        "segment_steps": segmented.num_steps,
        "unique_captions": len({m["caption"] for m in segmented.metadata}),
        "kinds": {k: sum(m["kind"] == k for m in segmented.metadata) for k in ("goto", "pickup", "putnext", "open")},
        "located": sum(bool(m.get("location")) for m in segmented.metadata),
    }
    return cp.with_captions(segmented), info


def train_text_model(data: Episodes, cfg: Config, run_dir: Path, seed: int, dataset: str) -> PolicyModel:
    """The text-conditioned model (``cfg.kind``) fitted to ``data``'s ``caption`` column."""
    fitting = dataclasses.replace(cfg.train, seed=seed)
    return train(data, cfg.model, fitting, run_dir, condition=cp.CAPTION, dataset=dataset)


# ---- what to ask ------------------------------------------------------------------------------
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
    """Three evaluation sets, each ``{"seeds", "asked" (what the model is told), "named" (the
    instruction in BabyAI's grammar that it words), "instructions" (what the env checks, None:
    its own mission)}``; the paraphrases are marked ``paraphrased``."""
    own_seeds = np.arange(seed, seed + episodes)
    own = ba.env_missions(level, own_seeds)
    held: dict[int, str] = {}
    s = first = seed + HELD_OUT_SEED_OFFSET
    while len(held) < episodes and s < first + 50 * episodes:
        text = held_out_instruction(level, s, held_out)
        if text is not None:
            held[s] = text
        s += 1
    return {
        "own missions": {"seeds": own_seeds.tolist(), "asked": own, "named": own, "instructions": None},
        "held-out compositions": {
            "seeds": list(held),
            "asked": list(held.values()),
            "named": list(held.values()),
            "instructions": held,
        },
        "paraphrases": {
            "seeds": own_seeds.tolist(),
            "asked": [paraphrase(m, k) for k, m in enumerate(own)],
            "named": own,
            "paraphrased": True,
            "instructions": None,
        },
    }


# ---- asking and judging -----------------------------------------------------------------------
GUIDED = " guided "  # "sample guided 2": the action rule, then the guidance weight


def acting(rule: str) -> tuple[str, float]:
    """``"sample guided 2"`` -> ``("sample", 2.0)``; a plain rule has guidance 1 (none)."""
    action_rule, _, weight = rule.partition(GUIDED)
    return action_rule, float(weight) if weight else 1.0


def rules_for(model: Any, cfg: Config) -> list[str]:
    """The ways of acting ``choose_action_rule`` tries: each action rule, and with guidance
    weights when the model learned the policy asked nothing (condition dropout)."""
    weights = cfg.guidance if isinstance(model, PolicyModel) and model.can_guide else (1.0,)
    return [rule if w == 1.0 else f"{rule}{GUIDED}{w:g}" for rule in ACTION_RULES for w in weights]


def asker(model: Any, texts_of: Callable[[np.ndarray], list[str]], action_rule: str, seed: int) -> Any:
    """A policy for ``model`` (a text-conditioned ``PolicyModel`` or the SB3 PPO peer) that asks
    each episode ``texts_of(seeds)``, acting by ``action_rule`` (``sample``: draws seeded with
    ``seed``; ``... guided W``: with classifier-free guidance of weight W, see ``acting``)."""
    action_rule, guidance = acting(action_rule)
    if isinstance(model, PolicyModel):
        return ask(model, text=texts_of, action_rule=action_rule, seed=seed, name="asked", guidance=guidance)
    from justask.peers.sb3_language import InstructedSB3Policy  # trained with the embedding in its observation

    return InstructedSB3Policy(model, texts_of, name="asked", action_rule=action_rule, seed=seed)


def asked_episodes(
    model: Any, level: str, asked_set: dict[str, Any], num_envs: int = 50, action_rule: str = "argmax", seed: int = 0
) -> Episodes:
    """The episodes of ``model`` asked ``asked_set["asked"][i]`` in the episode of ``seeds[i]``,
    in the set's order; the env checks ``asked_set["instructions"]`` (None: its own missions)."""
    seeds = np.asarray(asked_set["seeds"], dtype=np.int64)
    if len(seeds) == 0:
        raise JustAskError("nothing to evaluate: the set has no episodes")
    by_seed = dict(zip(seeds.tolist(), asked_set["asked"], strict=True))
    policy = asker(model, lambda batch: [by_seed[int(s)] for s in batch], action_rule, seed)
    env_kwargs = {"instructions": asked_set["instructions"]} if asked_set["instructions"] else {}
    # Seeds need not be contiguous (held-out sets skip rooms without the pair): one collect per run
    # of consecutive seeds (collect numbers its episodes seed + j).
    runs = np.split(seeds, np.flatnonzero(np.diff(seeds) != 1) + 1)
    parts = [
        collect(
            ba.env_id(level),
            [(policy, len(run))],
            num_envs=min(num_envs, len(run)),
            seed=int(run[0]),
            progress=False,
            env_kwargs=env_kwargs,
        )
        for run in runs
    ]
    episodes = Episodes.concatenate(parts)
    order = {int(m["seed"]): i for i, m in enumerate(episodes.metadata)}
    return episodes.select([order[int(s)] for s in seeds])


def success_summary(episodes: Episodes, action_rule: str) -> dict[str, Any]:
    """Success rate (return > 0: BabyAI's verifier said done in time) with a Wilson 95% CI."""
    success = episodes.returns() > 0
    wins = int(success.sum())
    return {
        "success": wins / len(success),
        "success_ci95": list(wilson_ci(wins, len(success))),
        "episodes": len(success),
        "mean_steps_success": float(episodes.lengths[success].mean()) if wins else None,
        "action_rule": action_rule,
    }


def evaluate_asked(
    model: Any, level: str, asked_set: dict[str, Any], num_envs: int = 50, action_rule: str = "argmax", seed: int = 0
) -> dict[str, Any]:
    """Success of ``model`` asked ``asked_set`` (see ``asked_episodes``)."""
    return success_summary(asked_episodes(model, level, asked_set, num_envs, action_rule, seed), action_rule)


def choose_action_rule(model: Any, cfg: Config, seed: int = 0) -> tuple[str, dict[str, float]]:
    """``cfg.action_rule``, or for ``best`` the way of acting (``rules_for``: argmax or sample,
    each at every guidance weight) with the highest success on ``cfg.valid_episodes`` own
    missions from ``VALID_SEED`` on (ties: the first), with every score."""
    candidates = rules_for(model, cfg)
    if cfg.action_rule in ACTION_RULES:
        candidates = [r for r in candidates if acting(r)[0] == cfg.action_rule]
        if len(candidates) == 1:
            return candidates[0], {}
    seeds = np.arange(VALID_SEED, VALID_SEED + cfg.valid_episodes)
    valid = {"seeds": seeds.tolist(), "asked": ba.env_missions(cfg.level, seeds), "instructions": None}
    scores = {
        rule: evaluate_asked(model, cfg.level, valid, cfg.num_envs, action_rule=rule, seed=seed)["success"]
        for rule in candidates
    }
    return max(candidates, key=lambda r: scores[r]), scores


# ---- does the instruction steer? --------------------------------------------------------------
CONTROLS = ("other", "shuffled", "irrelevant")
CONTROL_NAMES = {
    "other": "another object in the room",
    "shuffled": "another episode's instruction",
    "irrelevant": f"'{IRRELEVANT}'",
}


def control_sets(asked_set: dict[str, Any], seed: int, level: str) -> dict[str, dict[str, Any]]:
    """The steering controls of an evaluation set: the same episodes (and the same instructions
    checked by the env), each asked the same verb about another object in its room (``other``:
    ``captions.other_object_instruction``; another episode's instruction where the room has
    none), another episode's instruction of the set (``shuffled``, a derangement drawn with
    ``seed``) or ``IRRELEVANT``. Paraphrase sets ask the controls paraphrased the same way."""
    asked, named = list(asked_set["asked"]), list(asked_set["named"])
    perm = derangement(len(asked), seed)
    other_named = []
    for k, (s, text) in enumerate(zip(asked_set["seeds"], named, strict=True)):
        other_named.append(cp.other_object_instruction(level, int(s), text) or named[perm[k]])
    other_asked = [paraphrase(t, k) for k, t in enumerate(other_named)] if asked_set.get("paraphrased") else other_named
    return {
        "other": {**asked_set, "asked": other_asked, "named": other_named},
        "shuffled": {**asked_set, "asked": [asked[k] for k in perm], "named": [named[k] for k in perm]},
        "irrelevant": {**asked_set, "asked": [IRRELEVANT] * len(asked), "named": [None] * len(asked)},
    }


def episode_record(episodes: Episodes, level: str, named: Sequence[str | None]) -> dict[str, Any]:
    """Per episode, in the set's order: success (a string of 0/1, judged by the env's
    instruction), steps when it succeeded (0: failed), and whether the first object the agent
    faced (go to) or picked up (pick up, put next to) is one the asked instruction names (a
    string of 1/0; ``-`` where nothing was named)."""
    success = episodes.returns() > 0
    first = []
    for i, text in enumerate(named):
        if text is None:
            first.append("-")
            continue
        ep = episodes.episode(i)
        seed = int(ep["metadata"]["seed"])
        kind, objects = cp.named_objects(level, seed, text)
        first.append("1" if cp.first_object(level, seed, ep["actions"], kind) in objects else "0")
    return {
        "success": "".join("1" if w else "0" for w in success),
        "steps": [int(n) if w else 0 for n, w in zip(episodes.lengths, success, strict=True)],
        "first": "".join(first),
    }


def steering_summary(per_episode: dict[str, Any]) -> dict[str, Any]:
    """Success asked the own instruction and each control, and the gaps (own minus control)
    with paired-bootstrap 95% CIs over episodes; mean steps of the successes and the share whose
    first object is the asked one, where recorded. ``per_episode``: per name (``asked`` and the
    controls) an ``episode_record`` or its success string alone."""
    records = {name: r if isinstance(r, dict) else {"success": r} for name, r in per_episode.items()}
    values = {name: np.array([c == "1" for c in r["success"]], dtype=np.float64) for name, r in records.items()}
    out: dict[str, Any] = {"episodes": len(values["asked"])}
    for name, v in values.items():
        out[name] = {"mean": round(float(v.mean()), 4), "ci95": [round(x, 4) for x in bootstrap_ci(v)]}
        steps = [n for n in records[name].get("steps", []) if n > 0]
        if steps:
            out[name]["steps_to_success"] = round(float(np.mean(steps)), 2)
        first = [c == "1" for c in records[name].get("first", "") if c != "-"]
        if first:
            out[name]["first_is_asked"] = round(float(np.mean(first)), 4)
    for name in CONTROLS:
        if name in values:
            gap = values["asked"] - values[name]
            out[f"gap_{name}"] = {"mean": round(float(gap.mean()), 4), "ci95": [round(x, 4) for x in bootstrap_ci(gap)]}
    return out


def pooled_steering(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One steering row per (model, set): the episodes of every training seed pooled."""
    out = []
    for key in dict.fromkeys((r["model"], r["set"]) for r in rows):
        mine = [r for r in rows if (r["model"], r["set"]) == key]
        names = [n for n in ("asked", *CONTROLS) if all(n in r["per_episode"] for r in mine)]
        joined = {n: _joined([r["per_episode"][n] for r in mine]) for n in names}
        out.append({"model": key[0], "set": key[1], "seeds": [r["seed"] for r in mine], **steering_summary(joined)})
    return out


def _joined(records: Sequence[Any]) -> Any:
    """Episode records (or success strings) of several seeds as one, in order."""
    if all(isinstance(r, str) for r in records):
        return "".join(records)
    records = [r if isinstance(r, dict) else {"success": r} for r in records]
    out: dict[str, Any] = {"success": "".join(r["success"] for r in records)}
    if all("steps" in r for r in records):
        out["steps"] = [n for r in records for n in r["steps"]]
    if all("first" in r for r in records):
        out["first"] = "".join(r["first"] for r in records)
    return out


def steering_line(row: dict[str, Any]) -> str:
    parts = [f"steering {row['model']} / {row['set']}: success asked its own {row['asked']['mean']:.2f}"]
    for name in CONTROLS:
        if name in row:
            gap = row[f"gap_{name}"]
            parts.append(
                f"{name} {row[name]['mean']:.2f} (gap {gap['mean']:+.2f} [{gap['ci95'][0]:+.2f}, {gap['ci95'][1]:+.2f}])"
            )
    return "; ".join(parts) + f" (n={row['episodes']})"


# ---- the instruction-following peer -----------------------------------------------------------
def instruction_data(cfg: Config, seed: int, target_steps: int) -> Episodes:
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
    return cp.with_captions(data)


# ---- one training seed: every model, every set, the controls ----------------------------------
MODEL_NAMES = {
    "hindsight": "hindsight captions (play)",
    "instruction_bc": "instruction BC (bot demos)",
    "ppo": "PPO from scratch (instruction in obs)",
}
SET_NAMES = ("own missions", "held-out compositions", "paraphrases")


def with_manner_sets(sets: dict[str, dict[str, Any]], manners: Sequence[str] = ba.MANNERS) -> list[str]:
    """Add the own missions asked with each manner clause to ``sets``; returns their names."""
    own = sets["own missions"]
    names = []
    for manner in manners:
        name = f"own missions {manner}"
        sets[name] = {**own, "asked": [f"{m} {manner}" for m in own["asked"]]}
        names.append(name)
    return names


def train_models(cfg: Config, folder: Path, seed: int, timings: dict[str, float]) -> tuple[dict[str, Any], dict]:
    """Play -> captions -> the hindsight model; instruction BC and PPO on as many env steps."""
    t0 = time.perf_counter()
    _log(f"seed {seed}: {cfg.play_episodes} play episodes in BabyAI {cfg.level} ...")
    play = play_data(cfg, seed, progress=True)
    timings["play_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    segmented, info = captioned(
        play,
        cfg.held_out,
        cfg.manner_share,
        seed,
        cfg.goto_from_event,
        cfg.pickup_across_drop,
        cfg.segment_horizon,
        cfg.direct_segments,
        cfg.done_step,
        cfg.wandering_clause,
        optimal=cfg.optimal_segments,
        location_share=cfg.location_share,
        rare_repeat=cfg.rare_repeat,
    )
    timings["captions_s"] = time.perf_counter() - t0
    _log(f"captioned {info['segments']} segments ({info['unique_captions']} distinct captions)")
    t0 = time.perf_counter()
    source = f"BabyAI {cfg.level} play (seed {seed}), captioned in hindsight"
    models: dict[str, Any] = {"hindsight": train_text_model(segmented, cfg, folder / "hindsight", seed, source)}
    timings["train_s"] = time.perf_counter() - t0
    data = {"play_episodes": play.num_episodes, "play_steps": play.num_steps, **info}
    if cfg.peer:
        t0 = time.perf_counter()
        demos = instruction_data(cfg, seed, play.num_steps)
        data["demo_episodes"], data["demo_steps"] = demos.num_episodes, demos.num_steps
        source = f"BabyAI {cfg.level} bot demos (seed {seed}) with their true missions"
        demos = cp.with_done_step(demos) if cfg.done_step else demos
        models["instruction_bc"] = train_text_model(with_missions(demos), cfg, folder / "instruction_bc", seed, source)
        timings["peer_s"] = time.perf_counter() - t0
    if cfg.ppo_budget > 0:
        from justask.peers.sb3_language import train_instruction_ppo

        t0 = time.perf_counter()
        data["ppo_steps"] = int(round(cfg.ppo_budget * play.num_steps))
        models["ppo"] = train_instruction_ppo(cfg.level, data["ppo_steps"], seed=seed, held_out=cfg.held_out)
        timings["ppo_s"] = time.perf_counter() - t0
    return models, data


def model_name(key: str, cfg: Config) -> str:
    return MODEL_NAMES[key] + ("" if key == "ppo" else f", {cfg.kind.upper()}")


def evaluate_model(
    model: Any,
    name: str,
    set_names: Sequence[str],
    sets: dict[str, dict[str, Any]],
    cfg: Config,
    rule: str,
    seed: int,
    controls: dict[str, dict[str, dict[str, Any]]] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Success rows of ``model`` on each set, and beside each evaluation set (``SET_NAMES``) its
    steering controls (``control_sets``: another object in the room, another episode's
    instruction, an irrelevant sentence), from ``controls`` where given (made once for every model)."""
    rows, steering_rows = [], []
    for set_name in set_names:
        episodes = asked_episodes(model, cfg.level, sets[set_name], cfg.num_envs, rule, seed)
        rows.append({"model": name, "set": set_name, "seed": seed, **success_summary(episodes, rule)})
        _log(f"  {name} / {set_name} ({rule}): success {rows[-1]['success']:.2f}")
        if set_name not in SET_NAMES:
            continue
        per_episode = {"asked": episode_record(episodes, cfg.level, sets[set_name]["named"])}
        mine = (controls or {}).get(set_name) or control_sets(sets[set_name], seed, cfg.level)
        for control, asked_set in mine.items():
            told = asked_episodes(model, cfg.level, asked_set, cfg.num_envs, rule, seed)
            per_episode[control] = episode_record(told, cfg.level, asked_set["named"])
        row = {"model": name, "set": set_name, "seed": seed, "action_rule": rule, "per_episode": per_episode}
        steering_rows.append({**row, **steering_summary(per_episode)})
        _log("  " + steering_line(steering_rows[-1]))
    return rows, steering_rows


def run_seed(cfg: Config, seed: int, folder: Path, gif: Path | None = None) -> dict[str, Any]:
    """One training seed: every model trained, asked every set, and the steering controls;
    ``gif``: render the hindsight model asked for the first held-out composition there."""
    timings: dict[str, float] = {}
    folder.mkdir(parents=True, exist_ok=True)
    models, data = train_models(cfg, folder, seed, timings)
    sets = asked_sets(cfg.level, cfg.eval_episodes, cfg.held_out)
    manner_names = (
        with_manner_sets(sets)
        if cfg.manner_share > 0
        else with_manner_sets(sets, ba.MANNERS[1:])
        if cfg.wandering_clause
        else []
    )
    rows, rules, steering_rows = [], {}, []
    t0 = time.perf_counter()
    controls = {name: control_sets(sets[name], seed, cfg.level) for name in SET_NAMES}  # the same for every model
    for key, model in models.items():
        name = model_name(key, cfg)
        rule, scores = choose_action_rule(model, cfg, seed)
        rules[name] = {"chosen": rule, "validation_success": scores}
        set_names = [*SET_NAMES, *manner_names] if key == "hindsight" else list(SET_NAMES)
        mine, control = evaluate_model(model, name, set_names, sets, cfg, rule, seed, controls)
        rows += mine
        steering_rows += control
    timings["eval_s"] = time.perf_counter() - t0
    shown = None
    if gif is not None:
        shown = render_gif(gif, cfg.level, models["hindsight"], sets["held-out compositions"], rules, cfg, seed)
    return {
        "seed": seed,
        "data": data,
        "rows": rows,
        "steering": steering_rows,
        "rules": rules,
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "examples": {name: sets[name]["asked"][:3] for name in [*SET_NAMES, *manner_names]},
        "models": {key: str(folder / key) for key in models if key != "ppo"},
        "gif": shown,
    }


def run(cfg: Config, out: Path) -> dict[str, Any]:
    """Every seed: play, caption, train, ask, evaluate, control; one report over the seeds."""
    started = time.perf_counter()
    gif = out / "rollout.gif" if cfg.gif else None
    per_seed = [run_seed(cfg, seed, out / f"seed{seed}", gif if k == 0 else None) for k, seed in enumerate(cfg.seeds)]
    report = combined(per_seed, dataclasses.asdict(cfg))
    report["seconds"] = round(time.perf_counter() - started, 1)
    report = write_report(out, report, markdown(report), config=cfg, seeds=cfg.seeds)
    plot_success(report, out / "success.png")
    return report


def render_gif(
    path: Path, level: str, model: PolicyModel, held_out: dict[str, Any], rules: dict, cfg: Config, seed: int
) -> dict[str, Any]:
    """The hindsight ``model`` asked for the set's first held-out composition, at its action rule."""
    text = held_out["asked"][0]
    rule = rules[model_name("hindsight", cfg)]["chosen"]
    return rollout_gif(
        path,
        ba.env_id(level),
        ask(model, text, action_rule=acting(rule)[0], seed=seed, guidance=acting(rule)[1]),
        seed=held_out["seeds"][0],
        caption=f"asked: {text} ({rule})",
        reset_options={"instruction": text},
        every=1,
        scale=1.0,
    )


def combined(per_seed: list[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    """One report from the per-seed results: rows pooled over the seeds, the steering pooled,
    the findings."""
    rows = [r for s in per_seed for r in s["rows"]]
    steering_rows = [r for s in per_seed for r in s["steering"]]
    report = {
        "recipe": "language",
        "config": config,
        "seeds": [s["seed"] for s in per_seed],
        "data": per_seed[0]["data"],
        "rows": rows,
        "pooled": pooled_success(rows, ("model", "set")),
        "steering_per_seed": steering_rows,
        "steering": pooled_steering(steering_rows),
        "rules": {str(s["seed"]): s["rules"] for s in per_seed},
        "examples": per_seed[0]["examples"],
        "timings": {str(s["seed"]): s["timings"] for s in per_seed},
        "models": {str(s["seed"]): s["models"] for s in per_seed},
        "gif": per_seed[0].get("gif"),
    }
    report["findings"] = findings(report)
    return report


def merge(reports: list[dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    """One report from runs over other seeds (the same settings, side by side)."""
    if not reports:
        raise JustAskError("nothing to merge: no reports given")
    keys = ("level", "kind", "play_episodes", "eval_episodes", "manner_share")
    for r in reports[1:]:
        differ = [k for k in keys if r["config"].get(k) != reports[0]["config"].get(k)]
        if differ:
            raise JustAskError(f"cannot merge runs with different settings ({', '.join(differ)})")
    per_seed = []
    for r in reports:
        for seed in r["seeds"]:
            mine = [row for row in r["rows"] if row["seed"] == seed]
            per_seed.append(
                {
                    "seed": seed,
                    "data": r["data"],
                    "rows": mine,
                    "steering": [row for row in r["steering_per_seed"] if row["seed"] == seed],
                    "rules": r["rules"][str(seed)],
                    "examples": r["examples"],
                    "timings": r["timings"][str(seed)],
                    "models": r["models"][str(seed)],
                }
            )
    config = {**reports[0]["config"], "seeds": [s["seed"] for s in per_seed]}
    report = combined(per_seed, config)
    report["merged_from"] = [r.get("provenance", {}).get("command") for r in reports]
    report["seconds"] = max(r["seconds"] for r in reports)
    out_dir = Path(out_dir)
    report = write_report(out_dir, report, markdown(report), config=config, seeds=report["seeds"])
    plot_success(report, out_dir / "success.png")
    return report


def findings(report: dict[str, Any]) -> list[str]:
    """Statements read off the pooled numbers."""
    out = []
    by = {(r["model"], r["set"]): r for r in report["pooled"]}
    models = list(dict.fromkeys(r["model"] for r in report["pooled"]))
    for model in models:
        cells = [
            f"{s} {by[(model, s)]['success']:.2f} [{by[(model, s)]['success_ci95'][0]:.2f}, "
            f"{by[(model, s)]['success_ci95'][1]:.2f}]"
            for s in SET_NAMES
            if (model, s) in by
        ]
        out.append(f"{model}: " + "; ".join(cells) + f" (n={by[(model, SET_NAMES[0])]['episodes']} per set)")
    hindsight = next((m for m in models if m.startswith(MODEL_NAMES["hindsight"])), None)
    for peer in (m for m in models if m != hindsight):
        for s in SET_NAMES[1:2]:  # generalisation to held-out compositions: the point of hindsight captions
            a, b = by.get((hindsight, s)), by.get((peer, s))
            if a is None or b is None:
                continue
            verdict = (
                "level with (Wilson CIs overlap)"
                if overlaps(tuple(a["success_ci95"]), tuple(b["success_ci95"]))
                else "above"
                if a["success"] > b["success"]
                else "below"
            )
            out.append(f"on {s}, the hindsight model ({a['success']:.2f}) is {verdict} {peer} ({b['success']:.2f})")
    out += [steering_line(row) for row in report["steering"]]
    return out


# ---- the report -------------------------------------------------------------------------------
def markdown(report: dict[str, Any]) -> str:
    cfg, data, seeds = report["config"], report["data"], report["seeds"]
    dt = cfg["dt"]
    lines = [
        f"# Hindsight language on BabyAI {cfg['level']}",
        "",
        (
            f"Training seeds {seeds}, one play set each; seed {seeds[0]}'s play data: "
            if len(seeds) > 1
            else "Play data: "
        )
        + f"{data['play_episodes']} episodes, {data['play_steps']:,} env steps (BabyAI's bot on random missions "
        f"{1 - cfg['noisy_share'] - cfg['random_share']:.0%}, the bot with {cfg['noise']:.0%} random actions "
        f"{cfg['noisy_share']:.0%}, random walks {cfg['random_share']:.0%}); the missions pursued are thrown away. The "
        f"captioner found {data['events']:,} events, kept {data['events_kept']:,} after removing every caption naming a "
        f"held-out pair ({', '.join(f'{c} {o}' for c, o in cfg['held_out'])}): {data['segments']:,} captioned segments, "
        f"{data['unique_captions']} distinct captions ({', '.join(f'{k} {v}' for k, v in data['kinds'].items())})."
        + ("" if not cfg.get("pickup_across_drop") else " 'Pick up' segments reach back over drops.")
        + ("" if not cfg.get("goto_from_event") else " 'Go to' segments start after the previous event.")
        + ("" if not cfg.get("direct_segments") else " Segments start where the approach became direct.")
        + ("" if not cfg.get("optimal_segments") else " Segments keep only their shortest way to the object.")
        + (
            ""
            if cfg.get("rare_repeat", 1) == 1
            else f" 'Pick up', 'put next to' and 'open' segments appear {cfg['rare_repeat']} times each."
        )
        + (
            ""
            if not cfg.get("location_share")
            else f" {data.get('located', 0):,} 'pick up' captions name the object by where it was."
        )
        + ("" if not cfg.get("segment_horizon") else f" Segments keep their last {cfg['segment_horizon']} steps.")
        + (
            ""
            if not cfg.get("done_step")
            else " Every segment"
            + (" (and every instruction BC demo)" if cfg.get("peer") else "")
            + " ends with the agent saying 'done' in its final state."
        ),
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
    hidden = "x".join(str(h) for h in cfg["mlp"]["hidden_sizes"])
    lines += [
        "",
        ("Hindsight and instruction BC: the same" if "demo_steps" in data else "The hindsight model: a")
        + " text-conditioned model, conditioned on sentence embeddings of "
        f"all-MiniLM-L6-v2 (MLP: {hidden}; DT: context {dt['context_len']}, {dt['d_model']} dims, {dt['n_layer']} "
        f"layers), {cfg['train']['steps']} gradient steps, batch {cfg['train']['batch_size']}. Success = BabyAI's "
        "verifier of the asked instruction before the level's time limit, Wilson 95% CIs"
        + (" pooled over the training seeds." if len(seeds) > 1 else "."),
        "",
        _rules_line(cfg, report.get("rules", {})),
        "",
        "| model | own missions | held-out compositions | paraphrases |",
        "|---|---|---|---|",
    ]
    by = {(r["model"], r["set"]): r for r in report["pooled"]}
    for model in dict.fromkeys(r["model"] for r in report["pooled"]):
        cells = []
        for s in SET_NAMES:
            r = by.get((model, s))
            cells.append(
                "—"
                if r is None
                else f"{r['success']:.2f} [{r['success_ci95'][0]:.2f}, {r['success_ci95'][1]:.2f}] (n={r['episodes']})"
            )
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    if len(seeds) > 1:
        lines += [
            "",
            "Per seed (success): "
            + "; ".join(f"{r['model']} / {r['set']}: {', '.join(map(str, r['per_seed']))}" for r in report["pooled"]),
        ]
    lines += _steering_section(report)
    lines += _manner_section(report)
    lines += ["", "Examples of what was asked:", ""]
    for s, texts in report["examples"].items():
        lines.append(f"- {s}: " + "; ".join(f"'{t}'" for t in texts))
    lines += ["", "## Findings", "", *[f"- {f}" for f in report["findings"]]]
    lines += [
        "",
        "Pictures: `success.png`"
        + (", `rollout.gif` (asked for a held-out composition)." if report.get("gif") else ".")
        + " Trained models: `seed<N>/hindsight`"
        + (", `seed<N>/instruction_bc`" if "demo_steps" in data else "")
        + " (`justask ask seed0/hindsight 'go to the red ball'`).",
    ]
    for seed, t in report["timings"].items():
        lines.append(f"\nTime, seed {seed} (s): {', '.join(f'{k} {v:.0f}' for k, v in t.items())}.")
    if report.get("seconds") is not None:
        lines.append(f"\nTotal: {report['seconds'] / 60:.1f} min.")
    if report.get("merged_from"):
        lines.append("\nMerged from the runs side by side: " + "; ".join(f"`{c}`" for c in report["merged_from"]) + ".")
    return "\n".join(lines) + "\n"


def _steering_section(report: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Does the instruction steer?",
        "",
        "Beside each evaluation set, the same episodes (and the same instruction checked by the env) with each "
        "episode asked the same verb about another object in its room (*other*), another episode's instruction of "
        f"the set (*shuffled*) or '{IRRELEVANT}' (*irrelevant*). Success; **steering gap** = success asked its own "
        "instruction minus asked another object's, paired bootstrap 95% CI over the episodes"
        + (" of every seed" if len(report["seeds"]) > 1 else "")
        + "; steps = mean steps of the successes; first = share of episodes whose first object faced (go to) or "
        "picked up (pick up, put next to) is the one asked for (own: the mission's object; other: the other object).",
        "",
        "| model | set | own | other | shuffled | irrelevant | steering gap (own − other) | own − irrelevant "
        "| steps own / other | first own / other |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def gap(r: dict[str, Any], c: str) -> str:
        g = r.get(f"gap_{c}")
        return "—" if g is None else f"{g['mean']:+.2f} [{g['ci95'][0]:+.2f}, {g['ci95'][1]:+.2f}]"

    def pair(r: dict[str, Any], field: str, fmt: str) -> str:
        got = [r.get(c, {}).get(field) for c in ("asked", "other")]
        return " / ".join("—" if v is None else format(v, fmt) for v in got)

    for r in report["steering"]:
        cells = [f"{r['asked']['mean']:.2f}"]
        cells += [f"{r[c]['mean']:.2f}" if c in r else "—" for c in CONTROLS]
        cells += [
            gap(r, "other"),
            gap(r, "irrelevant"),
            pair(r, "steps_to_success", ".1f"),
            pair(r, "first_is_asked", ".2f"),
        ]
        lines.append(f"| {r['model']} | {r['set']} | " + " | ".join(cells) + " |")
    return lines


def _manner_section(report: dict[str, Any]) -> list[str]:
    cfg = report["config"]
    manner_rows = [r for r in report["pooled"] if r["set"].startswith("own missions")]
    if not any(r["set"] != "own missions" for r in manner_rows):
        return []
    how = (
        "every segment whose approach was not direct all the way ends in 'after wandering' (direct ones keep the "
        "plain caption)"
        if cfg.get("wandering_clause")
        else f"{cfg['manner_share']:.0%} of the captions of each kind's shortest third of segments end in "
        "'quickly', of the longest third in 'after wandering'"
    )
    lines = [
        "",
        f"Manner clauses: {how}. The hindsight model asked the own missions plainly "
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
    return lines


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


def plot_success(report: dict[str, Any], path: Path) -> None:
    """Success per set and model (pooled over the seeds), Wilson 95% CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from justask.checkpoint import atomic_write

    pooled = report["pooled"]
    models = list(dict.fromkeys(r["model"] for r in pooled))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    width = 0.8 / len(models)
    for m, model in enumerate(models):
        rows = [next(r for r in pooled if r["model"] == model and r["set"] == s) for s in SET_NAMES]
        x = np.arange(len(SET_NAMES)) + (m - (len(models) - 1) / 2) * width
        y = np.array([r["success"] for r in rows])
        err = np.array([[r["success"] - r["success_ci95"][0], r["success_ci95"][1] - r["success"]] for r in rows]).T
        err = np.clip(err, 0.0, None)  # a Wilson bound at 0 or 1 can land a rounding error past it
        ax.bar(x, y, width, yerr=err, capsize=3, label=model)
    ax.set_xticks(np.arange(len(SET_NAMES)), SET_NAMES)
    ax.set_ylabel("success (Wilson 95% CI)")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"BabyAI {report['config']['level']}: asked in words")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8)  # below: never over a bar
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


# ---- the benchmark configurations -------------------------------------------------------------
NARROW_MLP = ModelConfig(kind="mlp", hidden_sizes=(512, 512), condition_embed=32)  # the MLP until 2026-12-02


def _benchmark(level: str, **changes: Any) -> Config:
    """A run recorded in benchmarks/results by benchmarks/language.py (with the segments of then:
    from the last change to the world, no 'done' step): seeds 0-2, 500 play episodes,
    4000 gradient steps, 200 episodes per set, manner clauses on half the captions, the PPO peer at
    the play data's env steps, one torch thread (the seeds ran side by side); ``changes`` on top."""
    settings: dict[str, Any] = dict(
        goto_from_event=False,  # recorded before these two became the defaults
        done_step=False,
        seeds=(0, 1, 2),
        play_episodes=500,
        train=TrainConfig(steps=4000, batch_size=256, threads=1, device="cpu"),
        eval_episodes=200,
        manner_share=0.5,
        ppo_budget=1.0,
        mlp=NARROW_MLP,  # recorded before the wider sentence embedding became the default
    )
    return Config(level=level, **{**settings, **changes})


def _hindsight_only(level: str, **changes: Any) -> Config:
    """A pilot: the hindsight model alone (no instruction BC, no PPO)."""
    return _benchmark(level, peer=False, ppo_budget=0.0, **changes)


PRESETS = {
    # `justask demo language --threads 1` (language_demo_quick_run.md)
    "quick": Config(
        train=TrainConfig(steps=2000, batch_size=256, threads=1, device="cpu"),
        goto_from_event=False,
        done_step=False,
        mlp=NARROW_MLP,
    ),
    "gotolocal": _benchmark("GoToLocal"),
    "pickuploc": _benchmark("PickupLoc"),
    "putnextlocal": _benchmark("PutNextLocal"),
    "goto": _benchmark("GoTo", play_episodes=120),  # 9 rooms, 576-step play episodes: about as many env steps
    "gotolocal_dt": _benchmark(
        "GoToLocal",
        kind="dt",
        seeds=(0,),
        eval_episodes=500,
        ppo_budget=0.0,
        dt=ModelConfig(kind="dt", context_len=8, d_model=128, n_layer=2, n_head=2, timestep_embedding=True),
    ),  # recorded with the timestep embedding, the default then
    "pickuploc_across_drop": _hindsight_only("PickupLoc", pickup_across_drop=True),
    # the pilots of language_pilots.md (seed 0)
    "gotolocal_across_drop": _hindsight_only("GoToLocal", seeds=(0,), pickup_across_drop=True),
    "putnextlocal_across_drop": _hindsight_only("PutNextLocal", seeds=(0,), pickup_across_drop=True),
    # 2000 play episodes of 32 steps (as many env steps); it ran before the action-rule choice: argmax
    "gotolocal_len32": _hindsight_only(
        "GoToLocal", seeds=(0,), play_episodes=2000, play_length=32, action_rule="argmax"
    ),
}

RECIPE = Recipe(
    name="language",
    summary="hindsight language on BabyAI: play captioned afterwards, a text-conditioned policy asked in English",
    config=Config,
    run=run,
    pictures=("success.png", "rollout.gif"),
    merge=merge,
)
