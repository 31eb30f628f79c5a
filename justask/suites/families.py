"""What an in-context task family is: how its steps become evidence about its candidate tasks.

A plain description, made by each suite (Dark Room, Key-to-Door, bandits) and read by the
in-context improvement machinery (``justask.incontext``), which sits above the suites.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class InContextFamily:
    """How a task family's steps become evidence about its candidate tasks."""

    name: str
    env_id: str
    n_tasks: int
    n_outcomes: int
    # (actions (N,), rewards (N,), next observations (N, ...)) -> subjects (N,), outcomes (N,): ints
    step_tokens: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    # an episode's metadata -> the index of its task among the candidates
    label: Callable[[dict[str, Any]], int]
    # (next observations, rewards, current guesses) -> (N,) bool: the guess is ruled out
    falsified: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    # a task -> the options that make the env pose it at reset
    reset_options: Callable[[Any], dict[str, Any]]
    # a task -> its best episode return (for normalised scores); None: not known
    optimal_return: Callable[[Any], float] | None
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)  # for gymnasium.make
