"""Batched evaluation: many episodes on a vector env, mean return with a bootstrap 95% CI.

Every agent is evaluated on the same episode seeds (``EVAL_SEED + j`` for episode ``j``), far
from the seeds collection uses, so comparisons between agents share their start states.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np

from justask.asking import ask
from justask.collection import collect
from justask.conditions import IRRELEVANT  # noqa: F401  (the text control, re-exported for recipes)
from justask.envs import env_spaces
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.models.policy import PolicyModel
from justask.policies import Policy
from justask.stats import bootstrap_ci

EVAL_SEED = 1_000_000


@dataclasses.dataclass
class EvalResult:
    """Returns of one agent over many episodes."""

    name: str
    condition: Any  # what the agent was asked for, in env units (None: nothing)
    action_rule: str | None  # "argmax", "sample", or None (a scripted policy / the data)
    returns: np.ndarray
    lengths: np.ndarray

    @property
    def episodes(self) -> int:
        return int(len(self.returns))

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def ci95(self) -> tuple[float, float]:
        return bootstrap_ci(self.returns)

    def to_json(self) -> dict[str, Any]:
        lo, hi = self.ci95
        return {
            "name": self.name,
            "condition": self.condition,
            "action_rule": self.action_rule,
            "episodes": self.episodes,
            "mean": round(self.mean, 4),  # 4 decimals: a table's 1 decimal then agrees with the console's
            "ci95": [round(lo, 4), round(hi, 4)],
            "mean_length": round(float(np.mean(self.lengths)), 1),
        }

    @staticmethod
    def from_episodes(
        name: str, episodes: Episodes, condition: Any = None, action_rule: str | None = None
    ) -> EvalResult:
        return EvalResult(name, condition, action_rule, episodes.returns(), episodes.lengths.copy())


def check_spaces(env_id: str, observation_space: gym.Space, action_space: gym.Space, what: str) -> None:
    """Raise ``JustAskError`` when a dataset's or model's spaces do not fit the env."""
    env_obs, env_act = env_spaces(env_id)
    if getattr(env_obs, "shape", None) != getattr(observation_space, "shape", None):
        raise JustAskError(
            f"{what} has observations of shape {getattr(observation_space, 'shape', None)}, "
            f"env {env_id} gives {env_obs.shape}"
        )
    if (
        type(env_act) is not type(action_space)
        or getattr(env_act, "n", None) != getattr(action_space, "n", None)
        or (getattr(env_act, "shape", None) != getattr(action_space, "shape", None))
    ):
        raise JustAskError(f"{what} has action space {action_space}, env {env_id} has {env_act}")


def evaluate(
    env_id: str,
    policy: Policy,
    *,
    episodes: int = 500,
    num_envs: int = 100,
    seed: int = EVAL_SEED,
    progress: bool = True,
    name: str | None = None,
    ray_workers: int | None = None,
    ray_address: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    processes: int = 1,
    overlap: bool = False,
) -> EvalResult:
    """Roll ``policy`` out for ``episodes`` episodes (``num_envs`` at a time; on Ray with
    ``ray_workers``/``ray_address``, as in ``collect``; ``env_kwargs`` go to ``gymnasium.make``,
    e.g. a world family's ``box``; ``processes > 1`` steps the envs in that many processes;
    ``overlap``: the envs step in worker processes while the policy acts for the others)."""
    if episodes < 1:
        raise JustAskError(f"episodes must be at least 1, got {episodes}")
    info = getattr(policy, "info", {}) or {}
    result = collect(
        env_id,
        [(policy, episodes)],
        num_envs=num_envs,
        seed=seed,
        progress=progress,
        description=f"eval {name or policy.name}",
        ray_workers=ray_workers,
        ray_address=ray_address,
        env_kwargs=env_kwargs,
        processes=processes,
        overlap=overlap,
    )
    return EvalResult.from_episodes(name or policy.name, result, info.get("condition"), info.get("action_rule"))


# ---- does the request steer? ---------------------------------------------------------------------
def derangement(n: int, seed: int = 0) -> np.ndarray:
    """A permutation of ``range(n)`` that moves every element (n >= 2): episode ``j`` is asked
    episode ``perm[j]``'s request."""
    if n < 2:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        if (perm != np.arange(n)).all():
            return perm


def steering(
    env_id: str,
    model: PolicyModel,
    request: Any = None,
    *,
    episodes: int = 300,
    num_envs: int = 100,
    seed: int = EVAL_SEED,
    action_rule: str = "argmax",
    asked: EvalResult | None = None,
    env_kwargs: dict[str, Any] | None = None,
    reward_fn: Any = None,
    success_at: float | None = None,
    progress: bool = False,
    guidance: float = 1.0,
    overlap: bool = False,
) -> dict[str, Any]:
    """How much the request steers ``model``: the outcome when each episode is asked its request
    beside a control asked another's — the same episodes (seeds), success judged by the env's own
    task throughout.

    - ``shuffled``: per-episode requests (a function of the seeds): each episode is asked another
      episode's request of the same set; one request for all: each episode is asked a request
      drawn like the data's own (1-dim conditions: the data's quantile function);
    - ``irrelevant`` (text): every episode is told ``spec.null_request`` (``IRRELEVANT``).

    ``asked``: the result already evaluated on these episodes with this request (not rerun). The
    gap (asked minus control) has a paired bootstrap 95% CI over episodes; with ``success_at``
    the outcome is success (return >= it), else the return. ``guidance``: every agent asks with
    it (``ask``). Returns a JSON-ready dict."""
    spec = model.io.condition
    if spec is None:
        raise JustAskError("steering needs a conditioned model (behaviour cloning takes no request)")
    common = dict(episodes=episodes, num_envs=num_envs, seed=seed, env_kwargs=env_kwargs, overlap=overlap)

    def run(value: Any, label: str) -> EvalResult:
        agent = ask(model, value, action_rule=action_rule, reward_fn=reward_fn, name=label, guidance=guidance)
        return evaluate(env_id, agent, progress=progress, **common)

    if asked is None:
        asked = run(request, "asked")
    if len(asked.returns) != episodes:
        raise JustAskError(f"the asked result has {len(asked.returns)} episodes, the control {episodes}")
    controls: dict[str, EvalResult] = {}
    seeds = seed + np.arange(episodes)
    if callable(request):
        perm = derangement(episodes, seed)
        index = {int(s): j for j, s in enumerate(seeds)}
        values = request(seeds)
        rows = [values[j] for j in range(episodes)] if not isinstance(values, str) else [values] * episodes

        def shuffled(batch: np.ndarray, rows: list[Any] = rows) -> list[Any]:
            return [rows[perm[index[int(s)]]] for s in batch]

        controls["shuffled"] = run(shuffled, "shuffled requests")
    elif spec.quantiles is not None:
        draws = spec.data_requests(np.random.default_rng(seed).random(episodes))
        by_seed = {int(s): float(v) for s, v in zip(seeds, draws, strict=True)}
        controls["shuffled"] = run(lambda batch: [by_seed[int(s)] for s in batch], "data's requests")
    if spec.null_request is not None:
        controls["irrelevant"] = run(spec.null_request, "irrelevant request")

    def outcome(result: EvalResult) -> np.ndarray:
        return (result.returns >= success_at).astype(np.float64) if success_at is not None else result.returns

    def summary(result: EvalResult) -> dict[str, Any]:
        values = outcome(result)
        return {"mean": round(float(values.mean()), 4), "ci95": [round(x, 4) for x in bootstrap_ci(values)]}

    out: dict[str, Any] = {
        "outcome": "success" if success_at is not None else "return",
        "episodes": episodes,
        "action_rule": action_rule,
        "asked": summary(asked),
    }
    for name, result in controls.items():
        gap = outcome(asked) - outcome(result)
        out[name] = summary(result)
        out[f"gap_{name}"] = {"mean": round(float(gap.mean()), 4), "ci95": [round(x, 4) for x in bootstrap_ci(gap)]}
    if not controls:
        out["note"] = "no control: a fixed multi-dimensional request has no data distribution to draw others from"
    return out


def steering_line(name: str, result: dict[str, Any]) -> str:
    """One line for a report: the outcome asked vs each control, and the gaps."""
    unit = result["outcome"]
    parts = [f"{name}: {unit} asked {result['asked']['mean']:.3g}"]
    for control in ("shuffled", "irrelevant"):
        if control in result:
            gap = result[f"gap_{control}"]
            parts.append(
                f"{control} {result[control]['mean']:.3g} (gap {gap['mean']:+.3g} [{gap['ci95'][0]:+.3g}, {gap['ci95'][1]:+.3g}])"
            )
    if len(parts) == 1:
        parts.append(result.get("note", "no control"))
    return "; ".join(parts)
