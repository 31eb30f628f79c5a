"""CartPole with a hidden actuator sign: the world family and its privileged LQR expert.

``justask/CartPoleWorlds-v0`` (``gymnasium.make(..., box="train" | held-out name | {param: range})``):
CartPole-v1 whose push direction is swapped in half the worlds (``sign`` -1: action 1 pushes
left), with force magnitude, pole half-length and pole mass as nuisance parameters. The physics
alone need no inference — one controller can balance every pole here — but the sign does, and a
single transition reveals it: the cart accelerates against the push the policy asked for.

The expert is told the world: an LQR gain for the linearised cart-pole with that world's masses,
length and force, pushing in the direction the gain asks for (through the world's sign).
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np

from justask.worlds import Choice, Uniform, WorldFamily, register_family

ENV_ID = "justask/CartPoleWorlds-v0"


def _apply(env: gym.Env, world: dict[str, float]) -> None:
    env.force_mag = world["force_mag"]
    env.length = world["length"]
    env.masspole = world["masspole"]
    env.total_mass = env.masspole + env.masscart
    env.polemass_length = env.masspole * env.length


def _act_map(action: Any, world: dict[str, float]) -> Any:
    return 1 - int(action) if world["sign"] < 0 else action


FAMILY = WorldFamily(
    name="CartPoleWorlds",
    base_env="CartPole-v1",
    defaults={"sign": 1.0, "force_mag": 10.0, "length": 0.5, "masspole": 0.1},
    train={
        "sign": Choice((-1.0, 1.0)),
        "force_mag": Uniform(7.0, 13.0),
        "length": Uniform(0.3, 0.8),
        "masspole": Uniform(0.05, 0.3),
    },
    held_out={
        "short_pole": {"length": Uniform(0.12, 0.25)},
        "long_heavy_pole": {"length": Uniform(1.0, 1.6), "masspole": Uniform(0.4, 0.8)},
        "weak_force": {"force_mag": Uniform(3.0, 6.0)},
        "strong_force": {"force_mag": Uniform(16.0, 25.0)},
    },
    apply=_apply,
    act_map=_act_map,
    hidden=("sign",),
)
register_family(FAMILY, ENV_ID)


def lqr_gain(world: dict[str, float], masscart: float = 1.0, gravity: float = 9.8) -> np.ndarray:
    """The LQR state-feedback gain ``K`` (``u = -K s``, ``s = (x, ẋ, θ, θ̇)``, ``u`` in newtons)
    of CartPole's equations linearised about the upright pole for this world (cached per pole:
    a relabeler or a mistaken expert asks for it every step)."""
    return _lqr_gain(world["masspole"], world["length"], masscart, gravity).copy()


@functools.lru_cache(maxsize=4096)
def _lqr_gain(m: float, length: float, masscart: float, gravity: float) -> np.ndarray:
    from scipy.linalg import solve_continuous_are

    total = m + masscart
    # CartPole-v1: θ̈ = (g θ - F/M) / (l (4/3 - m/M)),  ẍ = F/M - (m l / M) θ̈  (small angles)
    d = length * (4.0 / 3.0 - m / total)
    a = np.zeros((4, 4))
    a[0, 1] = a[2, 3] = 1.0
    a[3, 2] = gravity / d
    a[1, 2] = -(m * length / total) * gravity / d
    b = np.zeros((4, 1))
    b[3, 0] = -1.0 / (total * d)
    b[1, 0] = 1.0 / total + (m * length / total) / (total * d)
    q = np.diag([1.0, 1.0, 10.0, 1.0])
    r = np.array([[0.1]])
    p = solve_continuous_are(a, b, q, r)
    return (np.linalg.solve(r, b.T @ p)).ravel()


class CartPoleWorldExpert:
    """Privileged expert for ``justask/CartPoleWorlds-v0``: told each episode's world (recovered
    from its seed and the env's box), it pushes the way the world's LQR gain asks."""

    def __init__(self, box: Any = "train", name: str = "lqr-expert") -> None:
        self.box = box
        self.name = name
        self.info = {"box": box if isinstance(box, str) else {k: str(v) for k, v in dict(box).items()}}
        self._gain: dict[int, np.ndarray] = {}
        self._sign: dict[int, float] = {}

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        for slot, seed in zip(slots, seeds, strict=True):
            world = FAMILY.sample(int(seed), self.box)
            self._gain[int(slot)] = lqr_gain(world)
            self._sign[int(slot)] = world["sign"]

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        gains = np.stack([self._gain[int(s)] for s in slots])
        signs = np.array([self._sign[int(s)] for s in slots])
        push_right = -(gains * np.asarray(observations, dtype=np.float64)).sum(-1) > 0
        return expert_actions(push_right, signs)


def expert_actions(push_right: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """The action index that pushes the cart right (``push_right``) in worlds with these signs."""
    wanted = push_right.astype(np.int64)
    return np.where(signs < 0, 1 - wanted, wanted)


def labels_for(observations: np.ndarray, world: dict[str, float]) -> np.ndarray:
    """The expert's actions for one world's observations ``(T, 4)`` (for relabeling)."""
    push_right = -(np.asarray(observations, dtype=np.float64) @ lqr_gain(world)) > 0
    return expert_actions(push_right, np.full(len(push_right), world["sign"]))
