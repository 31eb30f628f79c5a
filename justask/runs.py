"""A trained model's run folder opened for asking, and a typed request read for it.

The command line and the console share these, so both load a run with the same checks (the
config's kind, the weights' checksum, the env id's trust rule, the spaces) and read a request with
the same rules and the same one-line errors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from justask.errors import JustAskError

# Torch threads for acting when a command is not told (--threads 0): chosen by measurement on a
# 2-core machine (benchmarks/results/threads.md).
ACTING_THREADS = 1


def set_acting_threads(threads: int) -> int:
    """Set torch's CPU threads for acting: ``threads``, or ``ACTING_THREADS`` for 0. Returns it."""
    import torch

    if isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= 1024:
        raise JustAskError(f"--threads must be a whole number in [0, 1024], got {threads!r}")
    chosen = threads or ACTING_THREADS
    torch.set_num_threads(chosen)
    return chosen


def open_run(run: str | Path, env: str = "", allow_import: bool = False) -> tuple[Any, str]:
    """(model, env id) of a run folder; ``env`` overrides the env it was trained on."""
    from justask.envs import allow_module_imports
    from justask.evaluation import check_spaces
    from justask.models import load_model
    from justask.models.saved import policy_run_config

    allow_module_imports(allow_import)
    config = policy_run_config(run)
    model = load_model(run)
    env_id = env or config.get("env_id") or ""
    if not env_id:
        raise JustAskError(f"run {run} does not record its env; pass --env")
    check_spaces(env_id, *model.io.spaces(), f"model {run}")
    spec = model.io.condition
    if spec is not None and spec.calibration is not None and spec.calibration.get("env") != env_id:
        import dataclasses
        import warnings

        from justask.errors import JustAskWarning

        warnings.warn(
            f"run {run} was calibrated on {spec.calibration.get('env')}, not {env_id}: asking without its calibration",
            JustAskWarning,
            stacklevel=2,
        )
        model.io.condition = dataclasses.replace(spec, calibration=None)
    return model, str(env_id)


def learned_reward_of(run: str | Path, model: Any) -> Any:
    """The learned reward saved beside a model trained on learned returns (else None)."""
    spec = model.io.condition
    if spec is None or spec.info.get("reward") != "learned":
        return None
    from justask.rewards import LearnedReward

    return LearnedReward.load(Path(run) / "reward")


def request_of(model: Any, text: str, quantile: float | None = None, say: Callable[[str], None] = print) -> Any:
    """The request ``text`` (as typed: ``best``, numbers, ``field=value`` pairs, a sentence) or
    ``quantile`` of the data's requests, read by the model's condition; ``say`` tells what a
    quantile maps to."""
    spec = model.io.condition
    if quantile is not None:
        if text not in ("", "best"):
            raise JustAskError(f"ask for a quantile or for '{text}', not both")
        if spec is None:
            raise JustAskError("this model is not conditioned on anything (behaviour cloning); it takes no quantile")
        value = spec.quantile_request(quantile)
        say(quantile_line(spec, quantile, value))
        return value
    if spec is None:
        if text not in ("", "best"):
            raise JustAskError(
                f"this model is not conditioned on anything (behaviour cloning); it takes no request, got '{text}'"
            )
        return None
    return spec.parse(text)


def quantile_line(spec: Any, quantile: float, value: float) -> str:
    """What a quantile request maps to, and how many of the data's episodes reached it."""
    share = spec.share_at_or_above(value)
    reached = spec.info.get("episodes")
    count = (
        f"{round(share * reached)} of the data's {reached} episodes"
        if reached
        else f"{share:.1%} of the data's episodes"
    )
    return f"quantile {quantile:g} of the data's requests: {spec.keyword}={value:.4g} ({count} reached it)"
