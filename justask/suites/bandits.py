"""Bernoulli bandits: the simplest in-context learning task family.

``justask/Bandit-v0`` (``gymnasium.make(..., arms=5)``, ``reset(options={"means": [...]})``): one
pull per episode (the observation is a constant), reward 1 with the pulled arm's hidden mean.
A task is the vector of arm means, drawn per task from a named distribution: ``train`` (each
mean uniform in [0, 1]) or the shifted ``narrow`` one (uniform in [0.3, 0.7]: smaller gaps, so
harder to tell apart). A learning history is one task's pulls in order, one episode each.

Sources of histories: Thompson sampling (Beta(1, 1) priors), UCB1, and the best arm with noise
annealed from 1 to a floor (AD-ε).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from justask.errors import JustAskError

ENV_ID = "justask/Bandit-v0"
ARMS = 5
DISTRIBUTIONS = {"train": (0.0, 1.0), "narrow": (0.3, 0.7)}


def sample_means(distribution: str, rng: np.random.Generator, arms: int = ARMS) -> np.ndarray:
    if distribution not in DISTRIBUTIONS:
        raise JustAskError(f"unknown bandit distribution '{distribution}' (choose from {', '.join(DISTRIBUTIONS)})")
    low, high = DISTRIBUTIONS[distribution]
    return rng.uniform(low, high, size=arms)


def check_means(means: Any, arms: int) -> np.ndarray:
    means = np.asarray(means, dtype=np.float64)
    if means.shape != (arms,) or not np.all((means >= 0) & (means <= 1)):
        raise JustAskError(f"bandit means must be {arms} probabilities in [0, 1], got {means.tolist()}")
    return means


class BernoulliBandit(gym.Env):
    """K arms; each episode is one pull."""

    def __init__(self, arms: int = ARMS, means: Any = None) -> None:
        if arms < 2:
            raise JustAskError(f"a bandit needs at least 2 arms, got {arms}")
        self.arms = int(arms)
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(self.arms)
        self.fixed = None if means is None else check_means(means, self.arms)
        self.means = self.fixed if self.fixed is not None else np.full(self.arms, 0.5)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options and "means" in options:
            self.means = check_means(options["means"], self.arms)
        elif self.fixed is None:
            self.means = sample_means("train", self.np_random, self.arms)
        return np.zeros(1, dtype=np.float32), {"means": self.means.tolist()}

    def step(self, action: Any):
        reward = float(self.np_random.random() < self.means[int(action)])
        return np.zeros(1, dtype=np.float32), reward, True, False, {"means": self.means.tolist()}


gym.register(id=ENV_ID, entry_point="justask.suites.bandits:BernoulliBandit")


def _pull(arm: int, reward: float, meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "observations": np.zeros((2, 1), dtype=np.float32),
        "actions": np.array([arm], dtype=np.int64),
        "rewards": np.array([reward], dtype=np.float32),
        "terminations": np.array([True]),
        "truncations": np.array([False]),
        "metadata": meta,
    }


def history(means: np.ndarray, pulls: int, seed: int, source: str, *, floor: float = 0.0) -> list[dict[str, Any]]:
    """One task's learning history: ``pulls`` one-pull episodes of ``source`` (``thompson``,
    ``ucb``, ``random`` or ``annealed``) in order; each episode's metadata has the task's means, its best arm
    and the position in the history."""
    rng = np.random.default_rng(seed)
    means = np.asarray(means, dtype=np.float64)
    arms = len(means)
    slot = np.array([0])
    learner = BanditLearner(source, arms, seed + 1) if source in ("thompson", "ucb") else None
    if learner is not None:
        learner.start_tasks(1)
    out = []
    for i in range(pulls):
        noise = 0.0
        if learner is not None:
            arm = int(learner.act(np.zeros((1, 1)), slot)[0])
        elif source == "random":
            arm = int(rng.integers(arms))
        elif source == "annealed":
            noise = 1.0 - (1.0 - floor) * i / max(1, pulls - 1)
            arm = int(rng.integers(arms)) if rng.random() < noise else int(np.argmax(means))
        else:
            raise JustAskError(f"unknown bandit source '{source}' (thompson, ucb, random, annealed)")
        reward = float(rng.random() < means[arm])
        if learner is not None:
            learner.observe(slot, np.array([arm]), np.array([reward]), np.zeros((1, 1)))
        meta = {"task": int(np.argmax(means)), "means": means.tolist(), "position": i, "noise": noise, "source": source}
        out.append(_pull(arm, reward, meta))
    return out


def regret(means: np.ndarray, arms: np.ndarray) -> np.ndarray:
    """Expected regret of each pull: the best mean minus the pulled arm's."""
    means = np.asarray(means, dtype=np.float64)
    return means.max(-1, keepdims=True) - np.take_along_axis(means, np.asarray(arms), axis=-1)


# ---- as an in-context task family ------------------------------------------------------------
def family(arms: int = ARMS) -> Any:
    from justask.suites.families import InContextFamily

    return InContextFamily(
        name="bandit",
        env_id=ENV_ID,
        n_tasks=arms,
        n_outcomes=2,
        step_tokens=lambda actions, rewards, next_obs: (
            np.asarray(actions, np.int64).reshape(-1),
            (np.asarray(rewards).reshape(-1) > 0).astype(np.int64),
        ),
        label=lambda meta: int(meta["task"]),
        falsified=lambda next_obs, rewards, guesses: np.ones(len(guesses), dtype=bool),  # a fresh draw every pull
        reset_options=lambda means: {"means": list(means)},
        optimal_return=lambda means: float(np.max(means)),
        env_kwargs={"arms": arms},
    )


class BanditLearner:
    """Thompson sampling (Beta(1, 1)) or UCB1 per slot, as an in-context actor."""

    def __init__(self, rule: str = "thompson", arms: int = ARMS, seed: int = 0) -> None:
        if rule not in ("thompson", "ucb"):
            raise JustAskError(f"unknown bandit rule '{rule}' (thompson, ucb)")
        self.rule, self.arms, self.name = rule, arms, rule
        self.rng = np.random.default_rng(seed)

    def start_tasks(self, n: int) -> None:
        self.wins, self.counts = np.zeros((n, self.arms)), np.zeros((n, self.arms))

    def reset(self, slots: np.ndarray) -> None:
        pass

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        wins, counts = self.wins[slots], self.counts[slots]
        if self.rule == "thompson":
            return np.argmax(self.rng.beta(1 + wins, 1 + counts - wins), axis=1)
        total = counts.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            ucb = wins / counts + np.sqrt(2 * np.log(np.maximum(total, 1)) / counts)
        return np.argmax(np.where(counts == 0, np.inf, ucb), axis=1)

    def observe(self, slots: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray) -> None:
        self.wins[slots, actions] += rewards
        self.counts[slots, actions] += 1
