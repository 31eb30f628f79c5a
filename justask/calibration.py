"""Calibrate asking by measuring it: what a model achieves when asked each of a grid of requests.

The data's prediction (``behaviours.outcome_table``) says what the data's behaviours selected by a
request get — not what the model gets: acting by argmax a model can do better than the behaviours
it imitates, and a request between two behaviours' levels is off the data. A calibration rolls
the model out, per action rule, for ``episodes`` episodes at each of ``points`` requests spread
over the data's range (the same start states for every request; seeds far from evaluation's),
and records each request's returns: their middle half, mean and the mean's 95% CI. Asking a
calibrated model (``asking.honour``) then makes the request that got nearest what was asked and
predicts what it got, and "the best" is the request that got the most. It costs env episodes
(``points`` × ``episodes`` per rule) and needs the env; without one, the data's prediction stands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from justask.asking import ask
from justask.errors import JustAskError
from justask.evaluation import evaluate
from justask.models.policy import ACTION_RULES, PolicyModel

CALIBRATION_SEED = 3_000_000  # calibration episodes' seeds start here: apart from collection's and evaluation's


def grid(spec: Any, points: int) -> list[float]:
    """``points`` requests evenly spaced in the data's quantiles, from its lowest to its highest
    (repeated values, as in a staircase of behaviours' levels, once)."""
    if spec is None or spec.quantiles is None or spec.dim != 1 or spec.is_text:
        raise JustAskError("calibration is for a model asked for one number (a return): this one is not")
    values = np.interp(np.linspace(0, 100, points), np.arange(101), np.asarray(spec.quantiles))
    return [float(v) for v in np.unique(np.round(values, 4))]


def calibrate(
    model: PolicyModel,
    env_id: str,
    *,
    points: int = 12,
    episodes: int = 50,
    rules: Sequence[str] = ACTION_RULES,
    seed: int = CALIBRATION_SEED,
    num_envs: int = 100,
    reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    progress: Callable[[str], None] | None = None,
    **rollout: Any,
) -> dict[str, Any]:
    """The calibration of ``model`` on ``env_id`` (``ConditionSpec.calibration``'s contents):
    ``{"env", "episodes", "seed", "points", "rules": {rule: [[request, lo, mid, hi, mean_lo, mean_hi], ...]}}``.
    ``rollout`` goes to ``evaluate`` (``processes``, ``overlap``, Ray)."""
    for name, value, low in (("points", points, 2), ("episodes", episodes, 2), ("num_envs", num_envs, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise JustAskError(f"calibration: {name} must be a whole number >= {low}, got {value!r}")
    unknown = [r for r in rules if r not in ACTION_RULES]
    if not rules or unknown:
        raise JustAskError(f"calibration: unknown action rule '{(unknown or [''])[0]}' ({', '.join(ACTION_RULES)})")
    requests = grid(model.io.condition, int(points))
    table: dict[str, list[list[float]]] = {}
    for rule in dict.fromkeys(rules):
        rows = []
        for request in requests:
            agent = ask(model, request, action_rule=rule, reward_fn=reward_fn, as_asked=True)
            r = evaluate(env_id, agent, episodes=int(episodes), num_envs=num_envs, seed=seed, progress=False, **rollout)
            lo, hi = np.percentile(r.returns, [25, 75])
            mean_lo, mean_hi = r.ci95
            rows.append([request] + [round(float(v), 4) for v in (lo, r.mean, hi, mean_lo, mean_hi)])
            if progress:
                progress(f"calibration ({rule}): asked {request:.4g} -> {r.mean:.1f} [{mean_lo:.1f}, {mean_hi:.1f}]")
        table[rule] = rows
    return {"env": env_id, "episodes": int(episodes), "seed": int(seed), "points": len(requests), "rules": table}


def calibrate_run(run_dir: Any, model: PolicyModel, env_id: str, **settings: Any) -> dict[str, Any]:
    """``calibrate`` a trained run's model, save it as the run's ``calibration.json`` and attach it
    to ``model`` (so asking it now uses it); ``settings`` go to ``calibrate``."""
    import dataclasses

    from justask.models.saved import save_calibration

    calibration = calibrate(model, env_id, **settings)
    save_calibration(run_dir, calibration)
    model.io.condition = dataclasses.replace(model.io.condition, calibration=calibration)
    return calibration


def better_rule(calibration: dict[str, Any]) -> str:
    """The action rule whose best calibrated request got the most."""
    rules = calibration["rules"]
    return max(rules, key=lambda rule: max(row[2] for row in rules[rule]))


def table_lines(calibration: dict[str, Any], keyword: str) -> list[str]:
    """A Markdown table of a calibration: each request and what it got, per rule."""
    lines = [
        f"| action rule | asked {keyword} | got: mean [95% CI] | middle half |",
        "|---|---|---|---|",
    ]
    for rule, rows in calibration["rules"].items():
        for request, lo, mid, hi, mean_lo, mean_hi in rows:
            lines.append(
                f"| {rule} | {request:.4g} | {mid:.1f} [{mean_lo:.1f}, {mean_hi:.1f}] | [{lo:.1f}, {hi:.1f}] |"
            )
    return lines
