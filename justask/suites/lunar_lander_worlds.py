"""LunarLander with swapped side engines: the world family and its privileged expert.

``justask/LunarLanderWorlds-v0`` (``gymnasium.make(..., box=...)``): LunarLander-v3 whose side
engines are swapped in half the worlds (``swap`` -1: action 1 fires the right engine, 3 the left),
with gravity, wind and turbulence as nuisance parameters. Held-out boxes put gravity beyond its
training range and the wind far above it.

The expert is Gymnasium's heuristic lander (``LunarLanderExpert``) told the world: it fires the
engine it means through the world's wiring.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from justask.suites.lunar_lander import LEFT_ENGINE, RIGHT_ENGINE, LunarLanderExpert
from justask.worlds import Choice, Uniform, WorldFamily, register_family

ENV_ID = "justask/LunarLanderWorlds-v0"


def _apply(env: gym.Env, world: dict[str, float]) -> None:
    env.gravity = world["gravity"]  # reset builds the Box2D world with it
    env.wind_power = world["wind_power"]
    env.turbulence_power = world["turbulence_power"]
    env.enable_wind = world["wind_power"] > 0 or world["turbulence_power"] > 0


def swapped(actions: Any, swap: float) -> Any:
    """Actions 1 and 3 exchanged where ``swap`` is -1 (works on scalars and arrays)."""
    if swap >= 0:
        return actions
    a = np.asarray(actions)
    out = np.where(a == LEFT_ENGINE, RIGHT_ENGINE, np.where(a == RIGHT_ENGINE, LEFT_ENGINE, a))
    return out if out.ndim else int(out)


FAMILY = WorldFamily(
    name="LunarLanderWorlds",
    base_env="LunarLander-v3",
    defaults={"swap": 1.0, "gravity": -10.0, "wind_power": 0.0, "turbulence_power": 0.0},
    train={
        "swap": Choice((-1.0, 1.0)),
        "gravity": Uniform(-10.5, -7.5),
        "wind_power": Uniform(0.0, 5.0),
        "turbulence_power": Uniform(0.0, 0.5),
    },
    held_out={
        "weak_gravity": {"gravity": Uniform(-5.5, -3.5)},
        "strong_gravity": {"gravity": Uniform(-11.9, -11.0)},
        "strong_wind": {"wind_power": Uniform(10.0, 15.0), "turbulence_power": Uniform(1.0, 1.5)},
    },
    apply=_apply,
    act_map=lambda action, world: swapped(action, world["swap"]),
    hidden=("swap",),
)
register_family(FAMILY, ENV_ID)

_HEURISTIC = LunarLanderExpert()


class LunarLanderWorldExpert:
    """Privileged expert for ``justask/LunarLanderWorlds-v0``: the heuristic lander, firing
    through each episode's wiring (recovered from its seed and the env's box)."""

    def __init__(self, box: Any = "train", name: str = "heuristic-expert") -> None:
        self.box = box
        self.name = name
        self.info = {"box": box if isinstance(box, str) else {k: str(v) for k, v in dict(box).items()}}
        self._swap: dict[int, float] = {}

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        for slot, seed in zip(slots, seeds, strict=True):
            self._swap[int(slot)] = FAMILY.sample(int(seed), self.box)["swap"]

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        meant = _HEURISTIC.act(observations)
        swaps = np.array([self._swap[int(s)] for s in slots])
        return np.where(swaps < 0, swapped(meant, -1.0), meant)


def labels_for(observations: np.ndarray, world: dict[str, float]) -> np.ndarray:
    """The expert's actions for one world's observations ``(T, 8)`` (for relabeling)."""
    return np.asarray(swapped(_HEURISTIC.act(observations), world["swap"]))
