"""d3rlpy as the offline-RL peer: the real library, on the same ``Episodes``.

``train_discrete_cql`` fits d3rlpy's DiscreteCQL; ``QPolicy`` acts with it through the justask
policy protocol, greedily (``argmax``) or by sampling from a Boltzmann distribution over its
Q-values (``sample``), so it is evaluated with both action rules like every other agent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import logging
from typing import Any

import gymnasium as gym
import numpy as np

from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.policies import SlotRandomness


@dataclasses.dataclass
class CQLConfig:
    """DiscreteCQL settings. d3rlpy's defaults are tuned for Atari (lr 6.25e-5, batch 32, target
    sync every 8000 steps — never within a short run); these suit a small-vector task."""

    steps: int = 10_000
    """Gradient steps."""
    batch_size: int = 256
    """Transitions per step."""
    learning_rate: float = 3e-4
    """Adam learning rate."""
    alpha: float = 1.0
    """Weight of the conservative penalty."""
    gamma: float = 0.99
    """Discount."""
    target_update_interval: int = 1000
    """Steps between target-network syncs."""
    hidden_units: tuple[int, ...] = (256, 256)
    """Q-network hidden layers."""
    reward_scale: float = 0.1
    """Rewards are multiplied by this (LunarLander's +-100 events)."""
    seed: int = 0
    """Seeds d3rlpy (weights, batches)."""
    device: str = "cpu"
    """cpu, cuda, cuda:0, ..."""


@functools.cache
def import_d3rlpy() -> Any:
    """d3rlpy, imported quietly: it pulls the old ``gym`` package, which prints a deprecation
    notice on import, and logs every fit at INFO level through structlog."""
    import structlog

    with contextlib.redirect_stderr(io.StringIO()):
        import d3rlpy
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    return d3rlpy


def to_mdp_dataset(episodes: Episodes) -> Any:
    """``Episodes`` -> d3rlpy ``MDPDataset`` (the final observation of each episode is dropped,
    as d3rlpy stores one observation per step)."""
    d3rlpy = import_d3rlpy()

    ends = episodes.episode_starts + episodes.lengths - 1
    terminals = np.zeros(episodes.num_steps, dtype=np.float32)
    timeouts = np.zeros(episodes.num_steps, dtype=np.float32)
    ended_by_termination = episodes.terminations[ends].astype(bool)
    terminals[ends[ended_by_termination]] = 1.0
    timeouts[ends[~ended_by_termination]] = 1.0  # truncated (or cut) episodes: no terminal state
    discrete = isinstance(episodes.action_space, gym.spaces.Discrete)
    return d3rlpy.dataset.MDPDataset(
        observations=episodes.step_observations().astype(np.float32),
        actions=episodes.actions.astype(np.int64 if discrete else np.float32),
        rewards=episodes.rewards.astype(np.float32),
        terminals=terminals,
        timeouts=timeouts,
        action_space=d3rlpy.ActionSpace.DISCRETE if discrete else d3rlpy.ActionSpace.CONTINUOUS,
        action_size=int(episodes.action_space.n) if discrete else int(np.prod(episodes.action_space.shape)),
    )


def fit(algo: Any, dataset: Any, steps: int, progress: bool) -> Any:
    """``algo.fit`` for ``steps`` gradient steps in one epoch, writing no d3rlpy_logs; returns ``algo``."""
    d3rlpy = import_d3rlpy()
    algo.fit(
        dataset,
        n_steps=steps,
        n_steps_per_epoch=steps,
        logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
        show_progress=progress,
    )
    return algo


def train_discrete_cql(episodes: Episodes, config: CQLConfig, progress: bool = True) -> Any:
    """Fit d3rlpy's DiscreteCQL on ``episodes``; returns the fitted algorithm."""
    d3rlpy = import_d3rlpy()

    if not isinstance(episodes.action_space, gym.spaces.Discrete):
        raise JustAskError("DiscreteCQL needs a discrete action space")
    d3rlpy.seed(config.seed)
    dataset = to_mdp_dataset(episodes)
    cql = d3rlpy.algos.DiscreteCQLConfig(
        learning_rate=config.learning_rate,
        batch_size=config.batch_size,
        alpha=config.alpha,
        gamma=config.gamma,
        target_update_interval=config.target_update_interval,
        encoder_factory=d3rlpy.models.VectorEncoderFactory(hidden_units=list(config.hidden_units)),
        observation_scaler=d3rlpy.preprocessing.StandardObservationScaler(),
        reward_scaler=d3rlpy.preprocessing.MultiplyRewardScaler(config.reward_scale),
    ).create(device=config.device)
    return fit(cql, dataset, config.steps, progress)


class QPolicy:
    """Acts with a fitted d3rlpy Q-learner: greedy, or Boltzmann over Q (temperature 1 on the
    scaled rewards' Q-values)."""

    def __init__(self, algo: Any, n_actions: int, action_rule: str = "argmax", name: str = "cql") -> None:
        self.algo = algo
        self.n_actions = n_actions
        self.action_rule = action_rule
        self.name = f"{name}/{action_rule}"
        self.info = {"action_rule": action_rule, "condition": None}
        self._randomness = SlotRandomness(self.name)

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        self._randomness.reset(slots, seeds)

    def q_values(self, observations: np.ndarray) -> np.ndarray:
        obs = np.asarray(observations, dtype=np.float32)
        return np.stack(
            [self.algo.predict_value(obs, np.full(len(obs), a, dtype=np.int64)) for a in range(self.n_actions)], axis=1
        )

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        if self.action_rule == "argmax":
            return np.asarray(self.algo.predict(np.asarray(observations, dtype=np.float32)), dtype=np.int64)
        q = self.q_values(observations)
        p = np.exp(q - q.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        u = self._randomness.uniform(slots)
        return np.minimum((p.cumsum(axis=1) < u[:, None]).sum(axis=1), self.n_actions - 1).astype(np.int64)


CONTINUOUS_ALGOS = ("iql", "cql")


def train_continuous(
    episodes: Episodes,
    algo: str,
    steps: int,
    *,
    batch_size: int = 256,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> Any:
    """Fit d3rlpy's IQL or CQL (continuous actions) on ``episodes`` with d3rlpy's defaults for
    them (the ones its D4RL reproductions use) and standardised observations; returns the fitted
    algorithm."""
    d3rlpy = import_d3rlpy()

    if algo not in CONTINUOUS_ALGOS:
        raise JustAskError(f"unknown d3rlpy algorithm '{algo}' (choose from {', '.join(CONTINUOUS_ALGOS)})")
    if isinstance(episodes.action_space, gym.spaces.Discrete):
        raise JustAskError(f"{algo.upper()} here is for continuous actions; the episodes' are discrete")
    d3rlpy.seed(seed)
    common = {
        "batch_size": batch_size,
        "observation_scaler": d3rlpy.preprocessing.StandardObservationScaler(),
    }
    config = (d3rlpy.algos.IQLConfig if algo == "iql" else d3rlpy.algos.CQLConfig)(**common)
    learner = config.create(device=device)
    fit(learner, to_mdp_dataset(episodes), steps, progress)
    return learner


class GoalActorPolicy:
    """Acts with a fitted continuous d3rlpy learner whose observations end with a goal: each
    episode's goal comes from ``goal_fn(seeds) -> (n, g)`` and is appended to the observation;
    actions are the learner's deterministic (mean) actions."""

    def __init__(self, algo: Any, goal_fn: Any, name: str) -> None:
        self.algo = algo
        self.goal_fn = goal_fn
        self.name = name
        self.info = {"action_rule": "argmax", "condition": "goal"}
        self._goals: dict[int, np.ndarray] = {}

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        for slot, goal in zip(slots, np.asarray(self.goal_fn(np.asarray(seeds))), strict=True):
            self._goals[int(slot)] = goal

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        goals = np.stack([self._goals[int(s)] for s in slots])
        obs = np.concatenate([np.asarray(observations).reshape(len(goals), -1), goals], axis=1)
        return np.asarray(self.algo.predict(obs.astype(np.float32)), dtype=np.float32)


def goal_actor(
    algo: str,
    data: Episodes,
    relabeled: Episodes,
    goal_fn: Any,
    name: str,
    *,
    steps: int,
    batch_size: int,
    seed: int,
    device: str = "cpu",
    horizon: int | None = None,
    radius: float = 0.45,
) -> GoalActorPolicy:
    """A goal-conditioned d3rlpy IQL or CQL on the same data as justask's goal models: the
    hindsight-relabeled ``relabeled`` plus one copy of ``data`` asking for random goals
    (negatives), as goal-conditioned MDPs whose sparse reward is recomputed within ``radius``;
    acting for each episode's goal from ``goal_fn(seeds)``."""
    from justask.relabel import goal_mdp, hindsight_goals
    from justask.training import resolve_device

    negatives = hindsight_goals(data, "random", horizon=horizon, seed=seed * 1000 + 999)
    mdp = Episodes.concatenate([goal_mdp(relabeled, radius=radius), goal_mdp(negatives, radius=radius)])
    learner = train_continuous(mdp, algo, steps, batch_size=batch_size, seed=seed, device=str(resolve_device(device)))
    return GoalActorPolicy(learner, goal_fn, name)


@dataclasses.dataclass
class DiscreteDTConfig:
    """d3rlpy's DiscreteDecisionTransformer, sized like justask's demo DT (d3rlpy's own default
    is 6 layers x 8 heads, about 3.5 steps/s on 2 CPU cores)."""

    steps: int = 2500
    batch_size: int = 64
    context_len: int = 10
    n_layer: int = 2
    n_head: int = 1
    d_model: int = 64
    learning_rate: float = 6e-4
    return_scale: float = 0.01  # rewards (and so the asked return) times this, as justask divides by 100
    seed: int = 0
    device: str = "cpu"


def train_discrete_dt(episodes: Episodes, config: DiscreteDTConfig, progress: bool = True) -> Any:
    """Fit d3rlpy's DiscreteDecisionTransformer on ``episodes``; returns the fitted algorithm."""
    d3rlpy = import_d3rlpy()

    if not isinstance(episodes.action_space, gym.spaces.Discrete):
        raise JustAskError("DiscreteDecisionTransformer needs a discrete action space")
    d3rlpy.seed(config.seed)
    dt = d3rlpy.algos.DiscreteDecisionTransformerConfig(
        batch_size=config.batch_size,
        context_size=config.context_len,
        num_layers=config.n_layer,
        num_heads=config.n_head,
        learning_rate=config.learning_rate,
        encoder_factory=d3rlpy.models.VectorEncoderFactory(hidden_units=[config.d_model]),
        observation_scaler=d3rlpy.preprocessing.StandardObservationScaler(),
        reward_scaler=d3rlpy.preprocessing.MultiplyRewardScaler(config.return_scale),
        max_timestep=max(1024, int(episodes.lengths.max()) + 1),
    ).create(device=config.device)
    return fit(dt, to_mdp_dataset(episodes), config.steps, progress)


class DTPolicy:
    """A fitted d3rlpy Decision Transformer asked for ``target_return`` (reward units), acting
    for many envs: one of d3rlpy's stateful wrappers per env slot (d3rlpy acts for one env at a
    time), greedy or sampled from its softmax."""

    def __init__(self, algo: Any, target_return: float, action_rule: str = "argmax", name: str = "d3rlpy DT") -> None:
        from d3rlpy.algos import GreedyTransformerActionSampler, SoftmaxTransformerActionSampler

        self.algo, self.target_return, self.action_rule = algo, float(target_return), action_rule
        self.name = f"{name}/{action_rule}"
        self.info = {"action_rule": action_rule, "condition": round(self.target_return, 2)}
        self._sampler = GreedyTransformerActionSampler if action_rule == "argmax" else SoftmaxTransformerActionSampler
        self._wrappers: dict[int, Any] = {}
        self._rewards: dict[int, float] = {}

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> None:
        # d3rlpy's softmax sampler draws from numpy's global generator, which d3rlpy.seed sets when
        # the model is fitted: a run (fit, then evaluate) is reproducible as a whole, not per episode.
        for slot in np.asarray(slots).tolist():
            self._wrappers[slot] = self.algo.as_stateful_wrapper(self.target_return, action_sampler=self._sampler())
            self._rewards[slot] = 0.0

    def observe(self, slots: np.ndarray, rewards: np.ndarray) -> None:
        for slot, reward in zip(np.asarray(slots).tolist(), np.asarray(rewards).tolist(), strict=True):
            self._rewards[slot] = float(reward)

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        obs = np.asarray(observations, dtype=np.float32)
        return np.array(
            [
                int(self._wrappers[s].predict(o, self._rewards[s]))
                for o, s in zip(obs, np.asarray(slots).tolist(), strict=True)
            ],
            dtype=np.int64,
        )
