"""Hindsight relabelers: pure functions ``Episodes -> Episodes`` that add a condition column.

Each relabeler writes what actually happened as the request that the behaviour fulfils, so that
every episode, good or bad, becomes correct training data for *some* request.
"""

from __future__ import annotations

import numpy as np

from justask.episodes import Episodes

RETURN_TO_GO = "return_to_go"


def return_to_go_column(episodes: Episodes, rewards: np.ndarray | None = None) -> np.ndarray:
    """Undiscounted return-to-go of every step, ``(N,)`` float64: the sum of this and all later
    rewards of the same episode (``rewards``: per-step rewards to use instead of the recorded
    ones, e.g. a learned reward). Truncated episodes count only the rewards they saw."""
    rewards = (episodes.rewards if rewards is None else np.asarray(rewards)).astype(np.float64)
    if len(rewards) == 0:
        return rewards
    # Per episode: total - (rewards before t). A global cumsum does every episode at once.
    cumsum = np.cumsum(rewards)
    ends = episodes.episode_starts + episodes.lengths - 1
    episode_total_to_here = np.repeat(cumsum[ends], episodes.lengths)
    before = cumsum - rewards
    return episode_total_to_here - before


def return_to_go(
    episodes: Episodes,
    scale: float = 100.0,
    name: str = RETURN_TO_GO,
    rewards: np.ndarray | None = None,
    **info: object,
) -> Episodes:
    """Add the return-to-go column ``name``, divided by ``scale`` (the model's units).

    The column's info records ``kind="return"`` and ``scale``, so asking for a return in the
    env's units converts it the same way, and the episode-return quantiles used to choose what to
    ask for by default. ``rewards`` replaces the recorded rewards (a learned reward); ``info``
    adds to the column's description.
    """
    if scale <= 0:
        raise ValueError(f"return scale must be positive, got {scale}")
    rtg_unscaled = return_to_go_column(episodes, rewards)
    rtg = rtg_unscaled / scale
    returns = rtg_unscaled[episodes.episode_starts] if episodes.num_steps else np.zeros(0)
    quantiles = {f"q{q}": float(np.percentile(returns, q)) for q in (50, 90, 95, 99)}
    return episodes.with_condition(
        name,
        rtg.astype(np.float32)[:, None],
        kind="return",
        scale=float(scale),
        episode_return_max=float(returns.max()),
        episode_return_min=float(returns.min()),
        episode_return_quantiles=quantiles,
        **info,
    )
