"""justask: learn p(action | history, condition) by supervised learning on relabeled experience,
then just ask for what you want.

    episodes = collect("LunarLander-v3", demo_population(150))
    episodes = return_to_go(episodes, scale=100)
    model = train(episodes, ModelConfig("dt"), TrainConfig(), "runs/dt", condition="return_to_go")
    report = evaluate("LunarLander-v3", ask(model, return_to_go=200), episodes=500)

Names are imported lazily so that ``import justask`` and ``justask --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from justask import cpu_math

__version__ = "0.1.0"

# The one import-time effect: reproducible CPU arithmetic (see justask.cpu_math for why).
cpu_math.pin()

_EXPORTS = {
    "Episodes": "justask.episodes",
    "JustAskError": "justask.errors",
    "save_minari": "justask.minari_io",
    "load_minari": "justask.minari_io",
    "Policy": "justask.policies",
    "RandomPolicy": "justask.policies",
    "noisy": "justask.policies",
    "collect": "justask.collection",
    "return_to_go": "justask.relabel",
    "ConditionSpec": "justask.conditions",
    "ConditionKind": "justask.conditions",
    "ModelConfig": "justask.models",
    "PolicyModel": "justask.models",
    "TrainConfig": "justask.configs",
    "train": "justask.training",
    "fit": "justask.training",
    "load_model": "justask.models",
    "ask": "justask.asking",
    "Agent": "justask.agent",
    "evaluate": "justask.evaluation",
    "steering": "justask.evaluation",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'justask' has no attribute '{name}'")
