"""LunarLander: a scripted expert with its constants exposed, and the demo's population.

The expert is Gymnasium's heuristic lander controller (``gymnasium.envs.box2d.lunar_lander.
heuristic``) written as a batched function whose gains and targets are parameters, so mis-tuned
and biased variants are one line each.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np

from justask.errors import JustAskError
from justask.policies import Policy, RandomPolicy, noisy

DISCRETE_ENV = "LunarLander-v3"
CONTINUOUS_ENV = "LunarLanderContinuous-v3"
# LunarLander in strong, gusty wind: the same policy's episodes end anywhere from a crash to a
# landing, so a high return is often luck (the task on which asking for an outcome is tested).
WINDY_ENV = "justask/WindyLunarLander-v3"
WIND = {"enable_wind": True, "wind_power": 15.0, "turbulence_power": 1.5}
NOOP, LEFT_ENGINE, MAIN_ENGINE, RIGHT_ENGINE = 0, 1, 2, 3


@dataclasses.dataclass
class LunarLanderExpert:
    """Gymnasium's heuristic lander, batched, with its constants as fields.

    Defaults reproduce the original controller. Observation layout: x, y, vx, vy, angle,
    angular velocity, left-leg contact, right-leg contact.
    """

    angle_from_x: float = 0.5  # angle target per unit horizontal offset (point toward the pad)
    angle_from_vx: float = 1.0  # angle target per unit horizontal speed
    angle_limit: float = 0.4  # |angle target| cap, radians
    angle_target_offset: float = 0.0  # added to the angle target (a mis-tuned lander drifts)
    hover_from_x: float = 0.55  # hover-height target per unit horizontal offset
    hover_target_offset: float = 0.0  # added to the hover target (a mis-tuned lander hovers)
    angle_gain: float = 0.5  # angle error gain
    angular_speed_gain: float = 1.0  # angular speed damping
    height_gain: float = 0.5  # height error gain
    vertical_speed_gain: float = 0.5  # vertical speed damping (low: lands hard)
    threshold: float = 0.05  # dead band for firing an engine (discrete)
    continuous: bool = False  # act for LunarLanderContinuous (2-dim throttle) instead of 4 actions
    name: str = "expert"

    @property
    def info(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "name"}

    def act(self, observations: np.ndarray, slots: np.ndarray | None = None) -> np.ndarray:
        s = np.asarray(observations, dtype=np.float64)
        x, y, vx, vy, angle, angular_speed = (s[:, i] for i in range(6))
        contact = (s[:, 6] > 0.5) | (s[:, 7] > 0.5)
        angle_target = np.clip(x * self.angle_from_x + vx * self.angle_from_vx, -self.angle_limit, self.angle_limit)
        angle_target = angle_target + self.angle_target_offset
        hover_target = self.hover_from_x * np.abs(x) + self.hover_target_offset
        angle_todo = (angle_target - angle) * self.angle_gain - angular_speed * self.angular_speed_gain
        hover_todo = (hover_target - y) * self.height_gain - vy * self.vertical_speed_gain
        # After touchdown only slow the fall.
        angle_todo = np.where(contact, 0.0, angle_todo)
        hover_todo = np.where(contact, -vy * self.vertical_speed_gain, hover_todo)
        if self.continuous:
            return np.clip(np.stack([hover_todo * 20 - 1, -angle_todo * 20], axis=1), -1, 1).astype(np.float32)
        actions = np.full(len(s), NOOP, dtype=np.int64)
        actions[angle_todo > self.threshold] = LEFT_ENGINE
        actions[angle_todo < -self.threshold] = RIGHT_ENGINE
        main = (hover_todo > np.abs(angle_todo)) & (hover_todo > self.threshold)
        actions[main] = MAIN_ENGINE
        return actions


def demo_population(episodes_per_policy: int = 150) -> list[tuple[Policy, int]]:
    """Systematically different suboptimal lander policies (the noiseless expert left out).

    Each variant's per-state majority action differs from the expert's in the states it visits,
    so behaviour cloning's majority vote is often wrong (the demo reports how often).
    """
    space = gym.spaces.Discrete(4)
    n = episodes_per_policy
    return [
        (noisy(LunarLanderExpert(angle_target_offset=0.2, name="drifter"), 0.1, space, toward=NOOP, name="drifter"), n),
        (noisy(LunarLanderExpert(hover_target_offset=0.4, name="hoverer"), 0.1, space, toward=NOOP, name="hoverer"), n),
        (
            noisy(
                LunarLanderExpert(vertical_speed_gain=0.1, name="hard-lander"),
                0.1,
                space,
                toward=NOOP,
                name="hard-lander",
            ),
            n,
        ),
        (noisy(LunarLanderExpert(), 0.3, space, toward=MAIN_ENGINE, name="trigger-happy"), n),
        (noisy(LunarLanderExpert(), 0.6, space, toward=NOOP, name="lazy"), n),
        (noisy(LunarLanderExpert(), 0.3, space, toward=LEFT_ENGINE, name="left-biased"), n),
        (RandomPolicy(space, name="random"), n),
    ]


DEMONSTRATORS = ("hard-lander", "hoverer", "trigger-happy")


def mediocre_demonstrator(continuous: bool = False, kind: str = "hard-lander") -> Policy:
    """A D-REX demonstrator well below the expert.

    ``hard-lander``: the expert with its vertical-speed damping cut from 0.5 to 0.15, so it comes
    down too fast and crashes, consistently (40 episodes: return -66 +- 22, best 16 on
    LunarLander-v3; -68 +- 20, best 1 on the continuous one; the expert: 228 and 293).
    ``hoverer``: the expert aiming 0.2 higher than the pad, so it hovers above it until the time
    limit and never lands (40 episodes: return 6 +- 17, best 45 on LunarLander-v3; 15 +- 16,
    best 42 on the continuous one).
    ``trigger-happy``: the expert firing its main engine on 40% of steps (full main throttle on
    the continuous one): it means to land, but its extra thrust keeps it aloft until the time
    limit (40 episodes: return 42 +- 30, best 91 on LunarLander-v3; 51 +- 23, best 91 on the
    continuous one), so no demonstration shows a landing.
    """
    if kind == "hard-lander":
        return LunarLanderExpert(vertical_speed_gain=0.15, continuous=continuous, name="hard-lander demonstrator")
    if kind == "hoverer":
        return LunarLanderExpert(hover_target_offset=0.2, continuous=continuous, name="hoverer demonstrator")
    if kind == "trigger-happy":
        space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32) if continuous else gym.spaces.Discrete(4)
        toward = np.array([1.0, 0.0], dtype=np.float32) if continuous else MAIN_ENGINE
        return noisy(
            LunarLanderExpert(continuous=continuous), 0.4, space, toward=toward, name="trigger-happy demonstrator"
        )
    raise JustAskError(f"unknown demonstrator '{kind}' (choose from {', '.join(DEMONSTRATORS)})")


if WINDY_ENV not in gym.registry:
    gym.register(
        id=WINDY_ENV,
        entry_point="gymnasium.envs.box2d.lunar_lander:LunarLander",
        kwargs=dict(WIND),
        max_episode_steps=1000,
    )
