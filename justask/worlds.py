"""World families: one Gymnasium env whose physics are drawn per episode from a named distribution.

A *family* names its parameters with their default values, a training *box* (a range or a set
of choices per parameter) and named held-out boxes that move some parameters outside their
training ranges — the "real world" a policy never trained in. The world of an episode is a pure
function of (family, box, episode seed), so a privileged expert, a relabeler or an oracle's
request can recover it from the seed that collection records, with no side channel from the env.

``WorldEnv`` is the wrapper: ``reset(seed=s)`` draws the world for ``s`` from its box and applies
it (``info["world"]`` holds it); a reset without a seed draws from the env's own generator.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from justask.conditions import NOT_A_CONDITION
from justask.conditions import WORLD as WORLD_KIND
from justask.episodes import Episodes
from justask.errors import JustAskError


@dataclasses.dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def draw(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def overlaps(self, other: Uniform | Choice) -> bool:
        if isinstance(other, Choice):
            return any(self.low <= v <= self.high for v in other.values)
        return self.low <= other.high and other.low <= self.high

    def __str__(self) -> str:
        return f"{self.low:g}:{self.high:g}"


@dataclasses.dataclass(frozen=True)
class Choice:
    values: tuple[float, ...]

    def draw(self, rng: np.random.Generator) -> float:
        return float(self.values[int(rng.integers(len(self.values)))])

    def overlaps(self, other: Uniform | Choice) -> bool:
        if isinstance(other, Uniform):
            return other.overlaps(self)
        return bool(set(self.values) & set(other.values))

    def __str__(self) -> str:
        return "|".join(f"{v:g}" for v in self.values)


Range = Uniform | Choice


def parse_range(name: str, spec: Any) -> Range:
    """``(low, high)``, ``"low:high"``, a number, ``"a|b|c"`` or a ``Uniform``/``Choice`` -> a
    checked range; an inverted or empty one is a ``JustAskError`` naming ``name``."""
    if isinstance(spec, (Uniform, Choice)):
        parsed = spec
    elif isinstance(spec, str):
        try:
            if "|" in spec:
                parsed = Choice(tuple(float(v) for v in spec.split("|") if v.strip()))
            elif ":" in spec:
                low, high = spec.split(":")
                parsed = Uniform(float(low), float(high))
            else:
                parsed = Uniform(float(spec), float(spec))
        except ValueError as exc:
            raise JustAskError(f"world parameter '{name}': cannot read range '{spec}' (low:high or a|b)") from exc
    elif isinstance(spec, (int, float)):
        parsed = Uniform(float(spec), float(spec))
    elif isinstance(spec, Sequence) and len(spec) == 2:
        parsed = Uniform(float(spec[0]), float(spec[1]))
    else:
        raise JustAskError(f"world parameter '{name}': cannot read range {spec!r} (low:high or a|b)")
    if isinstance(parsed, Choice):
        if not parsed.values:
            raise JustAskError(f"world parameter '{name}': empty set of choices")
        if not all(np.isfinite(parsed.values)):
            raise JustAskError(f"world parameter '{name}': choices {parsed} are not all finite")
    else:
        if not (np.isfinite(parsed.low) and np.isfinite(parsed.high)):
            raise JustAskError(f"world parameter '{name}': range {parsed} is not finite")
        if parsed.low > parsed.high:
            raise JustAskError(f"world parameter '{name}': inverted range {parsed} (low above high)")
    return parsed


@dataclasses.dataclass
class WorldFamily:
    """A family of worlds over ``base_env``. ``apply(env, world)`` sets a world's parameters on
    the unwrapped env; ``act_map(action, world)`` rewrites the agent's action for hidden
    actuator changes (None: actions pass through)."""

    name: str
    base_env: str
    defaults: dict[str, float]
    train: dict[str, Range]
    held_out: dict[str, dict[str, Range]]
    apply: Callable[[gym.Env, dict[str, float]], None]
    act_map: Callable[[Any, dict[str, float]], Any] | None = None
    hidden: tuple[str, ...] = ()  # parameters the policy must infer (the rest are nuisance)

    def __post_init__(self) -> None:
        self.train = self._checked(self.train, "training box")
        self.held_out = {name: self._checked(box, f"held-out box '{name}'") for name, box in self.held_out.items()}
        for box_name, box in self.held_out.items():
            for param, rng in box.items():
                if rng.overlaps(self.train[param]):
                    raise JustAskError(
                        f"world family {self.name}: held-out box '{box_name}' overlaps training in "
                        f"'{param}' ({rng} vs {self.train[param]})"
                    )

    def _checked(self, box: Mapping[str, Any], what: str) -> dict[str, Range]:
        out = {}
        for param, spec in box.items():
            if param not in self.defaults:
                raise JustAskError(
                    f"world family {self.name}, {what}: unknown world parameter '{param}' "
                    f"(known: {', '.join(self.defaults)})"
                )
            out[param] = parse_range(param, spec)
        return out

    @property
    def box_names(self) -> list[str]:
        return ["train", *self.held_out]

    def box(self, box: str | Mapping[str, Any] = "train") -> dict[str, Range]:
        """The full box (every parameter): a named one, or the training box with the given
        parameters replaced (``{"length": "0.2:0.3"}``)."""
        if isinstance(box, str):
            if box == "train":
                return dict(self.train)
            if box not in self.held_out:
                raise JustAskError(
                    f"world family {self.name}: unknown box '{box}' (boxes: {', '.join(self.box_names)})"
                )
            return {**self.train, **self.held_out[box]}
        return {**self.train, **self._checked(box, "custom box")}

    def sample(self, seed: int, box: str | Mapping[str, Any] = "train") -> dict[str, float]:
        """The world of the episode with this seed, drawn from ``box``."""
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(self.name.encode())])
        ranges = self.box(box)
        return {
            param: ranges[param].draw(rng) if param in ranges else default for param, default in self.defaults.items()
        }

    def twin(self, world: Mapping[str, float]) -> dict[str, float]:
        """``world`` with every hidden parameter moved to another of its training choices (the
        world a policy that misread its actuators would act for)."""
        out = dict(world)
        for param in self.hidden:
            rng = self.train.get(param)
            if not isinstance(rng, Choice) or len(rng.values) < 2:
                raise JustAskError(f"world family {self.name}: hidden parameter '{param}' needs two choices for a twin")
            others = [v for v in rng.values if v != world[param]]
            out[param] = others[0]
        return out

    def scaling(self) -> tuple[np.ndarray, np.ndarray]:
        """Per parameter, the training box's centre and half-width (float64)."""
        centre = np.array([_centre(self.train.get(p), d) for p, d in self.defaults.items()])
        half = np.array([_half_width(self.train.get(p)) for p in self.defaults])
        return centre, half

    def vector(self, worlds: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Worlds as ``(n, n_params)`` float32, each parameter scaled so the training box spans
        [-1, 1] (held-out worlds fall outside it)."""
        centre, half = self.scaling()
        values = np.array([[w[p] for p in self.defaults] for w in worlds], dtype=np.float64).reshape(-1, len(centre))
        return ((values - centre) / half).astype(np.float32)


def _centre(rng: Range | None, default: float) -> float:
    if rng is None:
        return default
    values = rng.values if isinstance(rng, Choice) else (rng.low, rng.high)
    return (min(values) + max(values)) / 2


def _half_width(rng: Range | None) -> float:
    if rng is None:
        return 1.0
    values = rng.values if isinstance(rng, Choice) else (rng.low, rng.high)
    return max((max(values) - min(values)) / 2, 1e-6)


class WorldEnv(gym.Wrapper):
    """``family.base_env`` with a world drawn from ``box`` at every reset (see module doc)."""

    def __init__(self, env: gym.Env, family: WorldFamily, box: str | Mapping[str, Any] = "train") -> None:
        super().__init__(env)
        self.family = family
        self.box_spec = box
        family.box(box)  # checked now, not at the first reset
        self.world: dict[str, float] = dict(family.defaults)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        world_seed = seed if seed is not None else int(self.env.unwrapped.np_random.integers(2**31))
        self.world = self.family.sample(world_seed, self.box_spec)
        self.family.apply(self.env.unwrapped, self.world)
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, {**info, "world": dict(self.world)}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self.family.act_map is not None:
            action = self.family.act_map(action, self.world)
        return self.env.step(action)


FAMILIES: dict[str, WorldFamily] = {}


def register_family(family: WorldFamily, env_id: str) -> None:
    """Make ``family`` known and ``gymnasium.make(env_id, box=...)`` build its env."""
    FAMILIES[family.name] = family
    if env_id not in gym.registry:
        gym.register(
            env_id,
            entry_point="justask.worlds:make_world_env",
            kwargs={"family": family.name},
            max_episode_steps=gym.spec(family.base_env).max_episode_steps,
        )


def make_world_env(family: str, box: str | Mapping[str, Any] = "train", **base_kwargs: Any) -> gym.Env:
    """Entry point of the registered world envs."""
    if family not in FAMILIES:
        raise JustAskError(f"unknown world family '{family}' (known: {', '.join(FAMILIES)})")
    fam = FAMILIES[family]
    base = gym.make(fam.base_env, **base_kwargs).unwrapped  # the registration adds the time limit
    return WorldEnv(base, fam, box)


def family_of(env_id: str) -> WorldFamily:
    """The world family behind a registered world env id."""
    spec = gym.spec(env_id)
    name = (spec.kwargs or {}).get("family")
    if name not in FAMILIES:
        raise JustAskError(f"env '{env_id}' is not a world family's env (families: {', '.join(FAMILIES)})")
    return FAMILIES[name]


class MistakenExpert:
    """The privileged expert that, for one window of each episode, acts as the expert of its
    world's twin (hidden parameters flipped, ``WorldFamily.twin``): the mistake a history model
    makes while it is still wrong about its world, with the physics answering it.

    Data from it, labelled with the right expert's actions (``with_expert_labels``), shows a
    history model what to do after its own wrong guesses. Without it, the actions in expert data
    are chosen by the right expert, so their ids reveal the world; a model learns to read them
    and, at test time, reads its own wrong guesses as confirmation (self-delusion).

    The window starts uniformly in ``[0, start_max]`` and lasts ``1..max_steps`` steps, drawn from
    the episode's seed; ``labels_for(observations, world)`` is the suite's expert for one world.
    """

    def __init__(
        self,
        family: WorldFamily,
        labels_for: Callable[[np.ndarray, dict[str, float]], np.ndarray],
        max_steps: int,
        box: str | Mapping[str, Any] = "train",
        start_max: int = 100,
        name: str = "mistaken-expert",
    ) -> None:
        if max_steps < 1 or start_max < 0:
            raise JustAskError(
                f"a mistaken expert needs max_steps >= 1 and start_max >= 0, got {max_steps}, {start_max}"
            )
        self.family, self.labels_for, self.box = family, labels_for, box
        self.max_steps, self.start_max = int(max_steps), int(start_max)
        self.name = name
        self.info = {"mistake_steps": self.max_steps, "mistake_start_max": self.start_max}
        self._slot: dict[int, tuple[dict[str, float], dict[str, float], int, int]] = {}
        self._t: dict[int, int] = {}

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        for slot, seed in zip(slots, seeds, strict=True):
            world = self.family.sample(int(seed), self.box)
            rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(b"mistake-window")])
            start = int(rng.integers(self.start_max + 1))
            self._slot[int(slot)] = (
                world,
                self.family.twin(world),
                start,
                start + int(rng.integers(1, self.max_steps + 1)),
            )
            self._t[int(slot)] = 0

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        actions = []
        for obs, slot in zip(observations, slots, strict=True):
            world, twin, start, end = self._slot[int(slot)]
            t = self._t[int(slot)]
            self._t[int(slot)] = t + 1
            actions.append(np.asarray(self.labels_for(obs[None], twin if start <= t < end else world))[0])
        return np.asarray(actions)


# ---- relabelers ---------------------------------------------------------------------------------
WORLD = "world"
EXPERT_ACTION = "expert_action"


def episode_worlds(episodes: Episodes, family: WorldFamily, box: str | Mapping[str, Any] = "train") -> list[dict]:
    """Each episode's world, recovered from the seed in its metadata (and recorded there)."""
    worlds = []
    for i, meta in enumerate(episodes.metadata):
        if "world" in meta:
            worlds.append(meta["world"])
            continue
        if "seed" not in meta:
            raise JustAskError(f"episode {i} has no seed in its metadata: its world cannot be recovered")
        meta["world"] = family.sample(int(meta["seed"]), box)
        worlds.append(meta["world"])
    return worlds


def with_world(
    episodes: Episodes,
    family: WorldFamily,
    box: str | Mapping[str, Any] = "train",
    drop: float = 0.0,
    seed: int = 0,
    name: str = WORLD,
) -> Episodes:
    """Add the condition column ``name`` (default ``world``): per step ``(known, scaled parameters...)`` of the
    episode's world (``WorldFamily.vector``). ``drop``: the share of episodes whose world is
    withheld (all zeros, ``known`` 0), so one model learns to act when told the world and to
    infer it when not."""
    if not 0.0 <= drop <= 1.0:
        raise JustAskError(f"world drop share must be in [0, 1], got {drop}")
    rows = world_request(family, episode_worlds(episodes, family, box))
    hidden = np.random.default_rng(seed).random(len(rows)) < drop
    rows[hidden] = world_request(family, [family.defaults], told=False)[0]
    column = np.repeat(rows, episodes.lengths, axis=0)
    return episodes.with_condition(name, column, **world_description(family, drop))


def world_description(family: WorldFamily, drop: float = 0.0) -> dict[str, Any]:
    """The ``world`` column's description: fields ``known`` and the parameters, each scaled so the
    training box spans [-1, 1] (``WorldFamily.vector``); an unknown world is all zeros to the model.
    A request that names only some parameters takes the family's defaults for the rest."""
    centre, half = family.scaling()
    return WORLD_KIND.describe(
        fields=["known", *family.defaults],
        offset=[0.0, *centre.tolist()],
        scale=[1.0, *half.tolist()],
        defaults=[1.0, *(float(v) for v in family.defaults.values())],  # a request names what differs
        family=family.name,
        drop=float(drop),
    )


def world_request(family: WorldFamily, worlds: Sequence[Mapping[str, float]], told: bool = True) -> np.ndarray:
    """The ``world`` condition rows for these worlds, in user units ``(n, 1 + n_params)`` float64:
    told ``(1, params...)``; not told ``(0, the box's centre)``, which the model reads as zeros."""
    centre, _ = family.scaling()
    values = np.array([[w[p] for p in family.defaults] for w in worlds], dtype=np.float64).reshape(-1, len(centre))
    if not told:
        values = np.broadcast_to(centre, values.shape).copy()
    known = np.full((len(values), 1), 1.0 if told else 0.0)
    return np.concatenate([known, values], axis=1)


def with_expert_labels(
    episodes: Episodes,
    family: WorldFamily,
    labeler: Callable[[np.ndarray, dict[str, float]], np.ndarray],
    box: str | Mapping[str, Any] = "train",
) -> Episodes:
    """Add the column ``expert_action``: what the privileged expert would have done in every
    state of every episode (``labeler(observations (T, ...), world) -> actions (T,)``). A model
    trained to predict it (``ModelConfig.target``) sees the executed actions in its context but
    learns the expert's — so its own mistakes are not evidence about the world (Ortega et al.
    2021's fix for self-delusion; also how a DAgger round relabels the model's own episodes)."""
    worlds = episode_worlds(episodes, family, box)
    obs = episodes.step_observations()
    labels = np.concatenate(
        [
            np.asarray(labeler(obs[start : start + length], world))
            for start, length, world in zip(episodes.episode_starts, episodes.lengths, worlds, strict=True)
        ]
    )
    return episodes.with_condition(EXPERT_ACTION, labels.astype(episodes.actions.dtype), kind=NOT_A_CONDITION)
