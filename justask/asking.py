"""``ask``: a trained model + what you want -> an ``Agent`` that acts for it.

The request is read by the model's condition (``ConditionSpec``): its keyword, units, fields, the
default "best" and, for text, the sentence encoder. It may be one request for every episode or a
request per episode — a function of the episodes' seeds (each maze episode asked for its own goal,
each BabyAI episode for its own mission).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from justask.agent import Agent
from justask.conditions import ConditionSpec
from justask.episodes import Episodes
from justask.errors import JustAskError, JustAskWarning
from justask.minari_io import load_minari
from justask.models.policy import ACTION_RULES, PolicyModel

_NOTHING = object()


def ask(
    model: PolicyModel,
    request: Any = _NOTHING,
    /,
    *,
    action_rule: str = "argmax",
    seed: int = 0,
    name: str | None = None,
    reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    kv_cache: bool = False,
    cache_keep: int | None = None,
    guidance: float = 1.0,
    as_asked: bool = False,
    **by_keyword: Any,
) -> Agent:
    """An ``Agent`` acting for what you ask::

        ask(model)                               # the best the data supports (see below; else a return's 95th percentile)
        ask(model, return_to_go=250)             # by the condition's keyword ...
        ask(model, quantile=0.99)                # ... or in the data's terms: better than 99% of its episodes
        ask(model, "pick up the blue key")       # ... or positionally
        ask(model, world={"length": 0.6})        # named fields; the rest take their defaults
        ask(model, goal=lambda seeds: goals_of(seeds))  # one request per episode, from its seed

    ``action_rule``: ``argmax`` (the most likely action) or ``sample``; ``seed`` seeds the draws.
    A model trained on returns of a learned reward needs that reward as ``reward_fn(observations,
    actions) -> (N,)``. ``kv_cache``/``cache_keep``: see ``Agent``. ``guidance`` > 1 (a model
    trained with ``condition_dropout``): classifier-free guidance, the asked policy pushed away
    from the policy asked nothing, so the request weighs more in each action (``PolicyModel.guided``).
    An unconditioned model (behaviour cloning) takes no request. ``as_asked``: make the request
    exactly as given — no mapping by a calibration or by what the data says (for measuring).

    A model whose condition predicts what each request achieves (relabeled with behaviours:
    ``ConditionSpec.outcomes``) is asked by default for the request predicted to get the most,
    and a request above that one is mapped down to it, with a ``JustAskWarning``: asking for
    more than the data's behaviours get would select luck, not skill. ``agent.info`` then holds
    what was requested, what was asked and the prediction.

    A calibrated model (``justask.calibration``, for the ``action_rule`` it is asked with) makes,
    instead, the request whose measured mean was nearest what was asked, predicts what that
    request got, and is asked by default for the request that got the most.
    """
    if action_rule not in ACTION_RULES:
        raise JustAskError(f"unknown action rule '{action_rule}' (choose from {', '.join(ACTION_RULES)})")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise JustAskError(f"the seed must be a whole number >= 0, got {seed!r}")
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not 0 <= guidance <= 100:
        raise JustAskError(f"guidance must be a number in [0, 100] (1: none), got {guidance!r}")
    spec = model.io.condition
    value = _the_request(spec, request, by_keyword)
    kind = model.config.kind
    if spec is None:
        return Agent(
            model,
            None,
            name=name or f"{kind}/{action_rule}",
            action_rule=action_rule,
            seed=int(seed),
            kv_cache=kv_cache,
            cache_keep=cache_keep,
            guidance=float(guidance),
        )
    if spec.info.get("reward") == "learned" and reward_fn is None:
        raise JustAskError(
            f"this model was trained on returns of a learned reward ('{spec.name}'): ask it with that reward_fn"
        )
    extra: dict[str, Any] = {}
    if spec.is_prompt:
        requests, asked = prompt_requests(model, value)
    elif callable(value):
        requests: Any = per_episode(spec, value)
        asked: Any = "per episode"
    elif as_asked:
        requests = spec.request(value)
        asked = spec.describe(value)
    else:
        value, extra = honour(spec, value, action_rule)
        requests = spec.request(value)
        asked = spec.describe(value)
    agent = Agent(
        model,
        requests,
        name=name or f"{kind}@{display(asked)}/{action_rule}" + (f" guided {guidance:g}" if guidance != 1 else ""),
        asked=asked,
        action_rule=action_rule,
        seed=int(seed),
        reward_fn=reward_fn,
        kv_cache=kv_cache,
        cache_keep=cache_keep,
        guidance=float(guidance),
    )
    agent.info.update(extra)
    return agent


def honour(spec: ConditionSpec, value: Any, action_rule: str = "argmax") -> tuple[Any, dict[str, Any]]:
    """A request as it will be made, and what to record about it.

    Calibrated for ``action_rule`` (``spec.calibration``, measured by ``justask.calibration``):
    the request whose measured mean was nearest what was asked (the best: the one that got the
    most), predicted to get what it got; a request beyond everything the model got warns. Else a
    request above the highest one the data says the model can honour (``spec.honourable``) is
    mapped down to it, with a warning."""
    rows = spec.calibrated(action_rule)
    if rows is not None:
        return _calibrated(spec, value, rows, action_rule)
    limit = spec.honourable
    if limit is None:
        return value, {}
    requested = float(spec.describe(value))
    extra: dict[str, Any] = {"requested": round(requested, 4)}
    if value is not None and requested > limit + 1e-5 * max(1.0, abs(limit)):  # beyond float32's round trip
        lo, mid, hi = spec.predict(requested) or (0.0, 0.0, 0.0)
        warnings.warn(
            f"asked {spec.keyword}={requested:.4g}, above the {limit:.4g} this model can honour "
            f"(the data's behaviours selected by it are predicted to get {mid:.4g}, middle half [{lo:.4g}, {hi:.4g}], "
            f"no more than asking {limit:.4g}); asking {limit:.4g} instead",
            JustAskWarning,
            stacklevel=3,
        )
        value = limit
        extra["mapped_to"] = round(limit, 4)
    extra["predicted"] = [round(v, 4) for v in spec.predict(spec.describe(value)) or ()]
    return value, extra


def _calibrated(spec: ConditionSpec, value: Any, rows: np.ndarray, action_rule: str) -> tuple[float, dict[str, Any]]:
    chosen = spec.calibrated_choice(value, action_rule)
    request, lo, mid, hi, mean_lo, mean_hi = (float(v) for v in rows[chosen])
    extra: dict[str, Any] = {"calibrated": action_rule}
    if value is not None:
        requested = float(spec.describe(value))
        extra["requested"] = round(requested, 4)
        top, bottom = rows[int(np.argmax(rows[:, 2]))], rows[int(np.argmin(rows[:, 2]))]
        beyond = "above the most" if requested > top[5] else "below the least" if requested < bottom[4] else ""
        if beyond:
            warnings.warn(
                f"asked {spec.keyword}={requested:.4g}, {beyond} this model got when calibrated "
                f"({action_rule}, {spec.calibration['episodes']} episodes per request on {spec.calibration['env']}: "
                f"{bottom[2]:.4g} to {top[2]:.4g}); asking {request:.4g}, which got {mid:.4g}",
                JustAskWarning,
                stacklevel=4,
            )
        if abs(request - requested) > 1e-5 * max(1.0, abs(requested)):
            extra["mapped_to"] = round(request, 4)
    extra["predicted"] = [round(lo, 4), round(mid, 4), round(hi, 4)]
    extra["predicted_mean_ci"] = [round(mean_lo, 4), round(mean_hi, 4)]
    return request, extra


def _the_request(spec: ConditionSpec | None, request: Any, by_keyword: dict[str, Any]) -> Any:
    if spec is not None and "quantile" in by_keyword and spec.keyword != "quantile":
        quantile = by_keyword.pop("quantile")
        if request is not _NOTHING or by_keyword:
            raise JustAskError("ask for a quantile or for a value, not both")
        return spec.quantile_request(quantile)
    if spec is None:
        if request is not _NOTHING or by_keyword:
            asked = ", ".join(sorted(by_keyword)) or repr(request)
            raise JustAskError(f"this model is not conditioned on anything (behaviour cloning); it was asked {asked}")
        return None
    wrong = sorted(set(by_keyword) - {spec.keyword})
    if wrong:
        raise JustAskError(
            f"this model is asked for '{spec.keyword}' ({spec.kind} condition '{spec.name}'), not '{wrong[0]}'"
        )
    if request is not _NOTHING and by_keyword:
        raise JustAskError(f"give the request for '{spec.keyword}' once, positionally or by keyword")
    if request is not _NOTHING:
        return request
    return by_keyword.get(spec.keyword)


def per_episode(spec: ConditionSpec, values_of: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], np.ndarray]:
    """Requests from a function of the episodes' seeds, in model units: seeds ``(n,)`` -> ``(n, dim)``."""

    def requests(seeds: np.ndarray) -> np.ndarray:
        values = values_of(np.asarray(seeds))
        if isinstance(values, str):
            values = [values] * len(seeds)
        rows = list(values) if not isinstance(values, np.ndarray) else list(values.reshape(len(seeds), -1))
        if len(rows) != len(seeds):
            raise JustAskError(f"per-episode requests: {len(rows)} requests for {len(seeds)} episodes")
        return spec.requests(rows)

    return requests


def prompt_requests(model: PolicyModel, value: Any) -> tuple[Any, str]:
    """A prompt request as the agent's model-unit requests, and as a report shows it: ``None``
    (the empty prompt: the data's average behaviour), an ``Episodes`` of the behaviour wanted, a
    local Minari dataset of it, or a function of the episodes' seeds giving one of those each."""

    def one(prompt: Any) -> np.ndarray:
        if isinstance(prompt, (str, os.PathLike)):
            prompt = load_minari(prompt)
        if prompt is not None and not isinstance(prompt, Episodes):
            raise JustAskError(
                f"a prompt is episodes of the behaviour wanted (Episodes, or a local Minari dataset), "
                f"got {type(prompt).__name__}"
            )
        return model.encode_episodes(prompt)

    if callable(value):

        def requests(seeds: np.ndarray) -> np.ndarray:
            prompts = list(value(np.asarray(seeds)))
            if len(prompts) != len(seeds):
                raise JustAskError(f"per-episode prompts: {len(prompts)} prompts for {len(seeds)} episodes")
            return np.stack([one(p) for p in prompts])

        return requests, "per episode"
    if isinstance(value, (str, os.PathLike)):
        value = load_minari(value)
    vector = one(value)
    return vector, "no prompt" if value is None else f"prompt of {value.num_episodes} episode(s)"


def display(asked: Any) -> str:
    """A request as a name shows it: numbers to at most 4 significant digits, sentences quoted."""
    if isinstance(asked, str):
        return asked if asked == "per episode" else f"'{asked}'"
    if isinstance(asked, float):
        return f"{asked:.4g}"
    if isinstance(asked, list):
        return "[" + ", ".join(f"{v:.3g}" for v in asked) + "]"
    return str(asked)
