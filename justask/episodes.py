"""Columnar, ragged storage of many episodes.

Layout (the way Minari keeps episodes): an episode of ``T`` steps has ``T + 1`` observations and
``T`` actions, rewards, terminations and truncations. All episodes are concatenated into one flat
array per column; ``lengths`` says where each episode ends. Per-step condition columns (written by
relabelers) have one row per step, like ``actions``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from justask.errors import JustAskError


@dataclasses.dataclass
class Episodes:
    """Many episodes as flat numpy columns plus episode lengths.

    Shapes, with ``E`` episodes and ``N = lengths.sum()`` steps:
    ``observations (N + E, *obs_shape)``, ``actions (N, *act_shape)``, ``rewards (N,)``,
    ``terminations (N,)``, ``truncations (N,)``, ``lengths (E,)``, ``metadata``: one dict per
    episode (policy name, noise, seed, ...), ``conditions``: name -> ``(N, ...)`` array, and
    ``condition_info``: name -> dict describing that column (kind, scale, ...).
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    lengths: np.ndarray
    observation_space: gym.Space
    action_space: gym.Space
    metadata: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    conditions: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    condition_info: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    env_id: str | None = None

    def __post_init__(self) -> None:
        self.lengths = np.asarray(self.lengths, dtype=np.int64)
        if not self.metadata:
            self.metadata = [{} for _ in range(len(self.lengths))]

    # ---- sizes and offsets -------------------------------------------------------------------
    @property
    def num_episodes(self) -> int:
        return int(len(self.lengths))

    @property
    def num_steps(self) -> int:
        return int(self.lengths.sum())

    def __len__(self) -> int:
        return self.num_episodes

    @property
    def episode_starts(self) -> np.ndarray:
        """Index of each episode's first step in the step columns, ``(E,)``."""
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    @property
    def observation_starts(self) -> np.ndarray:
        """Index of each episode's first observation in ``observations``, ``(E,)``."""
        return self.episode_starts + np.arange(self.num_episodes, dtype=np.int64)

    def episode_of_step(self) -> np.ndarray:
        """Episode index of every step, ``(N,)``."""
        return np.repeat(np.arange(self.num_episodes, dtype=np.int64), self.lengths)

    def timesteps(self) -> np.ndarray:
        """Time index of every step within its episode, ``(N,)`` (0 at each episode's start)."""
        return np.arange(self.num_steps, dtype=np.int64) - np.repeat(self.episode_starts, self.lengths)

    def step_observations(self) -> np.ndarray:
        """The observation each action was taken in, ``(N, *obs_shape)`` (final ones dropped)."""
        keep = np.ones(len(self.observations), dtype=bool)
        keep[self.observation_starts + self.lengths] = False
        return self.observations[keep]

    def returns(self) -> np.ndarray:
        """Undiscounted return of every episode, ``(E,)``, float64."""
        sums = np.add.reduceat(self.rewards.astype(np.float64), self.episode_starts) if self.num_steps else None
        out = np.zeros(self.num_episodes)
        nonempty = self.lengths > 0
        if sums is not None:
            out[nonempty] = sums[nonempty]
        return out

    def episode(self, index: int) -> dict[str, Any]:
        """One episode as a dict of arrays (a view, not a copy)."""
        s, n = int(self.episode_starts[index]), int(self.lengths[index])
        o = int(self.observation_starts[index])
        return {
            "observations": self.observations[o : o + n + 1],
            "actions": self.actions[s : s + n],
            "rewards": self.rewards[s : s + n],
            "terminations": self.terminations[s : s + n],
            "truncations": self.truncations[s : s + n],
            "metadata": self.metadata[index],
            "conditions": {k: v[s : s + n] for k, v in self.conditions.items()},
        }

    # ---- building new collections ------------------------------------------------------------
    def select(self, episode_indices: Sequence[int] | np.ndarray) -> Episodes:
        """A new ``Episodes`` with the chosen episodes, in the given order."""
        idx = np.asarray(episode_indices, dtype=np.int64)
        starts, obs_starts = self.episode_starts, self.observation_starts
        step_idx = _ranges(starts[idx], self.lengths[idx])
        obs_idx = _ranges(obs_starts[idx], self.lengths[idx] + 1)
        return dataclasses.replace(
            self,
            observations=self.observations[obs_idx],
            actions=self.actions[step_idx],
            rewards=self.rewards[step_idx],
            terminations=self.terminations[step_idx],
            truncations=self.truncations[step_idx],
            lengths=self.lengths[idx].copy(),
            metadata=[dict(self.metadata[i]) for i in idx],
            conditions={k: v[step_idx] for k, v in self.conditions.items()},
            condition_info={k: dict(v) for k, v in self.condition_info.items()},
        )

    def with_condition(self, name: str, values: np.ndarray, **info: Any) -> Episodes:
        """A new ``Episodes`` with one more per-step condition column (the arrays are shared)."""
        values = np.asarray(values)
        if len(values) != self.num_steps:
            raise JustAskError(f"condition '{name}' has {len(values)} rows, the episodes have {self.num_steps} steps")
        return dataclasses.replace(
            self,
            conditions={**self.conditions, name: values},
            condition_info={**self.condition_info, name: dict(info)},
        )

    @staticmethod
    def concatenate(parts: Sequence[Episodes]) -> Episodes:
        """Join several collections with the same spaces and condition columns."""
        if not parts:
            raise JustAskError("nothing to concatenate: no Episodes given")
        first = parts[0]
        for i, p in enumerate(parts[1:], start=1):
            if p.observation_space != first.observation_space or p.action_space != first.action_space:
                raise JustAskError(f"part {i} has different spaces than part 0")
            if set(p.conditions) != set(first.conditions):
                raise JustAskError(
                    f"part {i} has condition columns {sorted(p.conditions)}, part 0 has {sorted(first.conditions)}"
                )
            for name in first.conditions:
                if ("texts" in p.condition_info.get(name, {})) != ("texts" in first.condition_info.get(name, {})):
                    raise JustAskError(f"part {i}: condition '{name}' is text in one part and not in another")
        conditions, info = {}, {k: dict(v) for k, v in first.condition_info.items()}
        for name in first.conditions:
            tables = [p.condition_info.get(name, {}).get("texts") for p in parts]
            if tables[0] is None:
                conditions[name] = np.concatenate([p.conditions[name] for p in parts])
                continue
            # text columns index their part's table of captions: index one merged table instead
            merged = sorted(set().union(*map(set, tables)))
            row = {text: k for k, text in enumerate(merged)}
            conditions[name] = np.concatenate(
                [
                    np.array([row[t] for t in table], dtype=np.int64)[p.conditions[name]]
                    for p, table in zip(parts, tables, strict=True)
                ]
            )
            info[name]["texts"] = merged
        return dataclasses.replace(
            first,
            observations=np.concatenate([p.observations for p in parts]),
            actions=np.concatenate([p.actions for p in parts]),
            rewards=np.concatenate([p.rewards for p in parts]),
            terminations=np.concatenate([p.terminations for p in parts]),
            truncations=np.concatenate([p.truncations for p in parts]),
            lengths=np.concatenate([p.lengths for p in parts]),
            metadata=[m for p in parts for m in p.metadata],
            conditions=conditions,
            condition_info=info,
        )

    @staticmethod
    def from_episode_list(
        episodes: Sequence[dict[str, Any]],
        observation_space: gym.Space,
        action_space: gym.Space,
        env_id: str | None = None,
    ) -> Episodes:
        """Build from per-episode dicts with keys observations (T+1), actions, rewards,
        terminations, truncations (T each) and optionally metadata."""
        if not episodes:
            raise JustAskError("no episodes given")
        obs_shape = observation_space.shape or ()
        act_shape = action_space.shape or ()

        def cat(key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
            arrays = [np.asarray(e[key]) for e in episodes]
            return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros((0, *shape), dtype)

        return Episodes(
            observations=cat("observations", obs_shape, observation_space.dtype),
            actions=cat("actions", act_shape, action_space.dtype),
            rewards=cat("rewards", (), np.float32),
            terminations=cat("terminations", (), bool),
            truncations=cat("truncations", (), bool),
            lengths=np.array([len(e["rewards"]) for e in episodes], dtype=np.int64),
            observation_space=observation_space,
            action_space=action_space,
            metadata=[dict(e.get("metadata", {})) for e in episodes],
            env_id=env_id,
        )

    def checksums(self) -> dict[str, str]:
        """A SHA-256 of every column (its dtype, shape and bytes), per name: what a writer records
        so that a reader can tell a changed or damaged file from the data it wrote."""
        import hashlib

        columns = {
            "observations": self.observations,
            "actions": self.actions,
            "rewards": self.rewards,
            "terminations": self.terminations,
            "truncations": self.truncations,
            "lengths": self.lengths,
            **{f"condition:{name}": col for name, col in self.conditions.items()},
        }
        out = {}
        for name, col in columns.items():
            arr = np.ascontiguousarray(col)
            digest = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
            digest.update(arr.tobytes() if arr.dtype.kind not in "OU" else "\0".join(map(str, arr.ravel())).encode())
            out[name] = digest.hexdigest()
        return out

    # ---- checking ----------------------------------------------------------------------------
    def validate(self, source: str = "dataset") -> Episodes:
        """Check shapes, dtypes, finiteness and episode structure; raise ``JustAskError`` naming
        the first problem (episode and field). Returns ``self`` so calls can be chained."""
        validate_episodes(self, source)
        return self

    def summary(self) -> str:
        r = self.returns()
        return (
            f"{self.num_episodes} episodes, {self.num_steps} steps, "
            f"return mean {r.mean():.1f} (min {r.min():.1f}, max {r.max():.1f})"
            if self.num_episodes
            else "0 episodes"
        )


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each (s, n), without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def validate_episodes(ep: Episodes, source: str) -> None:
    """See ``Episodes.validate``."""
    n_ep, n_steps = ep.num_episodes, ep.num_steps
    if n_ep == 0:
        raise JustAskError(f"{source}: holds no episodes")
    if (ep.lengths < 0).any():
        raise JustAskError(f"{source}: episode {int(np.argmax(ep.lengths < 0))} has a negative length")
    empty = np.flatnonzero(ep.lengths == 0)
    if len(empty):
        raise JustAskError(f"{source}: episode {int(empty[0])} is empty (0 steps)")
    for field, arr, rows in (
        ("observations", ep.observations, n_steps + n_ep),
        ("actions", ep.actions, n_steps),
        ("rewards", ep.rewards, n_steps),
        ("terminations", ep.terminations, n_steps),
        ("truncations", ep.truncations, n_steps),
    ):
        if arr is None:
            raise JustAskError(f"{source}: field '{field}' is missing")
        if len(arr) != rows:
            raise JustAskError(
                f"{source}: field '{field}' has {len(arr)} rows, expected {rows} for these episode lengths"
            )
    obs_shape = ep.observation_space.shape
    if obs_shape is not None and tuple(ep.observations.shape[1:]) != tuple(obs_shape):
        raise JustAskError(
            f"{source}: episode 0: observations have shape {tuple(ep.observations.shape[1:])}, "
            f"the observation space expects {tuple(obs_shape)}"
        )
    act_shape = ep.action_space.shape
    if act_shape is not None and tuple(ep.actions.shape[1:]) != tuple(act_shape):
        raise JustAskError(
            f"{source}: episode 0: actions have shape {tuple(ep.actions.shape[1:])}, "
            f"the action space expects {tuple(act_shape)}"
        )
    episode_of_obs = np.repeat(np.arange(n_ep), ep.lengths + 1)
    episode_of_step = ep.episode_of_step()
    for field, arr, owner in (
        ("observations", ep.observations, episode_of_obs),
        ("actions", ep.actions, episode_of_step),
        ("rewards", ep.rewards, episode_of_step),
    ):
        if not np.issubdtype(arr.dtype, np.number):
            raise JustAskError(f"{source}: field '{field}' has dtype {arr.dtype}, expected numbers")
        if np.issubdtype(arr.dtype, np.floating):
            bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
            if bad.any():
                row = int(np.argmax(bad))
                raise JustAskError(f"{source}: episode {int(owner[row])}: field '{field}' holds NaN or inf")
    if isinstance(ep.action_space, gym.spaces.Discrete):
        if not np.issubdtype(ep.actions.dtype, np.integer):
            raise JustAskError(
                f"{source}: actions have dtype {ep.actions.dtype}, a Discrete action space needs integers"
            )
        lo, hi = ep.action_space.start, ep.action_space.start + ep.action_space.n
        bad = (ep.actions < lo) | (ep.actions >= hi)
        if bad.any():
            row = int(np.argmax(bad))
            raise JustAskError(
                f"{source}: episode {int(episode_of_step[row])}: action {int(ep.actions[row])} "
                f"outside the action space [{lo}, {hi})"
            )
    # An episode may only end by termination or truncation at its last step.
    ends = ep.episode_starts + ep.lengths - 1
    done = ep.terminations.astype(bool) | ep.truncations.astype(bool)
    early = done.copy()
    early[ends] = False
    if early.any():
        row = int(np.argmax(early))
        raise JustAskError(
            f"{source}: episode {int(episode_of_step[row])}: terminated or truncated at step "
            f"{int(row - ep.episode_starts[episode_of_step[row]])} but goes on after it"
        )
    for name, col in ep.conditions.items():
        if len(col) != n_steps:
            raise JustAskError(f"{source}: condition '{name}' has {len(col)} rows, expected {n_steps}")
        texts = ep.condition_info.get(name, {}).get("texts")
        if texts is not None:
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise JustAskError(f"{source}: text condition '{name}' needs a list of sentences ('texts')")
            if not np.issubdtype(col.dtype, np.integer) or col.ndim != 1:
                raise JustAskError(f"{source}: text condition '{name}' must hold one sentence index per step")
            if len(col) and (col.min() < 0 or col.max() >= len(texts)):
                raise JustAskError(f"{source}: text condition '{name}' indexes a sentence outside its {len(texts)}")
        if np.issubdtype(col.dtype, np.floating) and not np.isfinite(col).all():
            bad = ~np.isfinite(col.reshape(len(col), -1)).all(axis=1)
            raise JustAskError(
                f"{source}: episode {int(episode_of_step[int(np.argmax(bad))])}: condition '{name}' holds NaN or inf"
            )
    if len(ep.metadata) != n_ep:
        raise JustAskError(f"{source}: {len(ep.metadata)} metadata entries for {n_ep} episodes")
