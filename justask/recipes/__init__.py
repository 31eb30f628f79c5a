"""Recipes: each capability of justask as one file — one ``Config`` dataclass (its defaults are the
quick variant, a few minutes on 2 CPU cores), ``run(cfg, out) -> report`` and the report's
Markdown and pictures. ``justask demo NAME``, ``benchmarks/run.py NAME`` and ``--config FILE``
are generated from the ``Config``; nothing else knows a recipe's settings.

A recipe module is imported only when it runs (``recipe(name)``), so listing them is cheap.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from justask.errors import JustAskError


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    summary: str  # one line: what it shows
    config: type  # its Config dataclass (defaults: the quick variant)
    run: Callable[[Any, Path], dict[str, Any]]  # writes report.json/.md and pictures into the folder
    pictures: tuple[str, ...] = ()  # the pictures a run writes (listed when it ends)
    merge: Callable[[list[dict[str, Any]], Path], dict[str, Any]] | None = (
        None  # (reports of runs over other seeds, out folder) -> one report
    )


# name -> (module, one-line summary): the summaries are here so listing needs no import
RECIPES: dict[str, tuple[str, str]] = {
    "lunarlander": (
        "justask.recipes.lunarlander",
        "ask return-conditioned models (DT, RvS) for a high return on LunarLander, beside BC, filtered BC and CQL",
    ),
    "asking": (
        "justask.recipes.asking",
        "calibrated, monotone asking: return-to-go vs expected-return conditioning, swept over the data's quantiles",
    ),
    "drex": (
        "justask.recipes.drex",
        "D-REX: a reward learned from ranked noisy rollouts of unlabeled demonstrations, then a policy asked for it",
    ),
    "maze": (
        "justask.recipes.maze",
        "hindsight goals on PointMaze: goal models asked for the env's own goals from an explorer's data",
    ),
    "gcsl": (
        "justask.recipes.gcsl",
        "goal-conditioned supervised learning from scratch on a maze: act, relabel with the goals reached, refit",
    ),
    "worlds": (
        "justask.recipes.worlds",
        "domain randomization: a history model infers its world (CartPole with a hidden actuator sign)",
    ),
    "language": (
        "justask.recipes.language",
        "hindsight language on BabyAI: play captioned afterwards, a text-conditioned policy asked in English",
    ),
    "improve": (
        "justask.recipes.improve",
        "in-context improvement with frozen weights: p(task | experience) and posterior sampling on Dark Room",
    ),
}
DEFAULT = "lunarlander"


def recipe(name: str) -> Recipe:
    """The registered recipe ``name`` (its module imported now)."""
    if name not in RECIPES:
        raise JustAskError(f"unknown recipe '{name}' (recipes: {', '.join(RECIPES)})")
    module = importlib.import_module(RECIPES[name][0])
    found = getattr(module, "RECIPE", None)
    if not isinstance(found, Recipe):
        raise JustAskError(f"recipe module {RECIPES[name][0]} defines no RECIPE")
    return found


def run_recipe(chosen: Recipe, cfg: Any) -> dict[str, Any]:
    """Run ``chosen`` on ``cfg`` into ``cfg.out``: an existing folder is replaced when it holds an
    earlier run of the same recipe or ``cfg.overwrite`` says so; a failure removes the folder it
    created. The folder's ``config.json`` records the recipe and its whole config (``--config``
    reads it back). Returns the report."""
    import json

    from justask.checkpoint import CONFIG_FILE, check_writable, fresh_run_folder, removed_on_error, write_json

    out = Path(cfg.out)
    check_writable(out, f"the {chosen.name} run")
    previous = False
    try:
        saved = json.loads((out / CONFIG_FILE).read_text())
        previous = saved.get("run_kind") == "recipe" and saved.get("recipe") == chosen.name
    except (OSError, ValueError, AttributeError):
        pass
    with removed_on_error(out):
        fresh_run_folder(out, overwrite=previous or bool(getattr(cfg, "overwrite", False)))
        write_json(
            out / CONFIG_FILE,
            {"run_kind": "recipe", "recipe": chosen.name, "config": dataclasses.asdict(cfg), "models": []},
        )
        return chosen.run(cfg, out)
