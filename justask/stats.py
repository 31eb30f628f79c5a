"""Confidence intervals: percentile bootstrap for means, Wilson for success rates."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def bootstrap_ci(
    values: np.ndarray, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of ``values``."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return (math.nan, math.nan)
    if len(values) == 1:
        return (float(values[0]), float(values[0]))
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // len(values))  # bound memory: (chunk, n) indices at a time
    for lo in range(0, resamples, chunk):
        hi = min(resamples, lo + chunk)
        means[lo:hi] = values[rng.integers(0, len(values), size=(hi - lo, len(values)))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return (float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)))


def wilson_ci(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a success rate."""
    if trials == 0:
        return (math.nan, math.nan)
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / trials
    denom = 1 + z * z / trials
    center = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, center - half), min(1.0, center + half))


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return not (a[1] < b[0] or b[1] < a[0])


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def pooled_success(rows: list[dict[str, Any]], keys: tuple[str, ...] = ("model",)) -> list[dict[str, Any]]:
    """One row per distinct ``keys`` (in first-seen order): the successes of every row with those
    keys (e.g. every training seed) pooled into one rate with a Wilson 95% CI, plus the per-row
    rates. Rows carry ``success`` (a rate) and ``episodes`` (and may carry ``mean_steps_success``,
    pooled over the successful episodes)."""
    out = []
    for key in dict.fromkeys(tuple(r[k] for k in keys) for r in rows):
        mine = [r for r in rows if tuple(r[k] for k in keys) == key]
        wins = sum(round(r["success"] * r["episodes"]) for r in mine)
        n = sum(r["episodes"] for r in mine)
        out.append(
            {
                **dict(zip(keys, key, strict=True)),
                "success": wins / n,
                "success_ci95": list(wilson_ci(wins, n)),
                "episodes": n,
                "per_seed": [round(r["success"], 3) for r in mine],
            }
        )
        steps = [
            (r["mean_steps_success"], round(r["success"] * r["episodes"])) for r in mine if r.get("mean_steps_success")
        ]
        if steps:  # mean steps of the successful episodes, over all of them
            out[-1]["mean_steps_success"] = sum(m * w for m, w in steps) / sum(w for _, w in steps)
    return out
