"""Conditions: what a model is asked for, and how a request becomes model input.

A condition is a per-step float column of ``Episodes`` written by a relabeler (``return_to_go``
divided by its scale, later an achieved goal, a caption's embedding, ...). ``ConditionSpec``
records which column a model was trained on and how to turn a user's request into that column's
units; ``ConditionEncoder`` turns the column into model tokens. Adding a kind of condition is a
relabeler plus an entry here — the models and the training loop do not change.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn

from justask.episodes import Episodes
from justask.errors import JustAskError

# kind -> the keyword a user asks with, e.g. model.ask(return_to_go=250)
ASK_KEYWORD = {"return": "return_to_go", "vector": "goal", "text": "text"}


@dataclasses.dataclass
class ConditionSpec:
    """Which condition column a model reads and how requests map onto it."""

    name: str  # column name in Episodes.conditions
    kind: str  # "return" (decremented by each reward while acting), "vector" or "text" (held fixed)
    dim: int  # width of the column
    scale: float = 1.0  # model units = user units / scale (returns)
    best: list[float] | None = None  # the request used when the user asks for "the best"
    info: dict[str, Any] = dataclasses.field(default_factory=dict)  # the column's description

    @staticmethod
    def from_episodes(episodes: Episodes, name: str, best_quantile: float = 95.0) -> ConditionSpec:
        if name not in episodes.conditions:
            raise JustAskError(
                f"the episodes have no condition column '{name}' "
                f"(columns: {sorted(episodes.conditions) or 'none'}; relabel them first)"
            )
        column = episodes.conditions[name]
        info = dict(episodes.condition_info.get(name, {}))
        kind = info.get("kind", "vector")
        if kind not in ASK_KEYWORD:
            raise JustAskError(f"condition '{name}' has unknown kind '{kind}'")
        dim = 1 if column.ndim == 1 else int(np.prod(column.shape[1:]))
        scale = float(info.get("scale", 1.0))
        best = None
        if kind == "return":
            # Ask for a high percentile of the data's episode returns, not its maximum: the top
            # of the range has few episodes behind it, and asking there does no better (pilot).
            # The column at each episode's first step is that episode's return, in model units.
            episode_returns = column.reshape(len(column), -1)[episodes.episode_starts, 0].astype(np.float64)
            best = [float(np.percentile(episode_returns, best_quantile))]
            info["best_quantile"] = best_quantile
        return ConditionSpec(name=name, kind=kind, dim=dim, scale=scale, best=best, info=info)

    def request(self, value: Any) -> np.ndarray:
        """A user's request (env units) as a model-unit vector ``(dim,)``; ``None`` = the best."""
        if self.kind == "text":
            return self._text_request(value)
        if value is None:
            if self.best is None:
                raise JustAskError(f"condition '{self.name}' has no default request; give a value")
            return np.asarray(self.best, dtype=np.float32)
        arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
        if arr.shape != (self.dim,):
            raise JustAskError(f"condition '{self.name}' takes {self.dim} number(s), got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise JustAskError(f"condition '{self.name}': request {value} is not finite")
        return (arr / self.scale).astype(np.float32)

    def _text_request(self, value: Any) -> np.ndarray:
        """An instruction (a string) -> its sentence embedding; an embedding passes through."""
        if value is None:
            raise JustAskError(f"condition '{self.name}' is text: give an instruction, e.g. 'pick up the blue key'")
        if isinstance(value, str):
            from justask.text import shared_encoder

            return shared_encoder().encode([value])[0]
        arr = np.asarray(value, dtype=np.float32)
        if arr.shape != (self.dim,) or not np.isfinite(arr).all():
            raise JustAskError(f"condition '{self.name}' takes an instruction (a string), got {type(value).__name__}")
        return arr

    def in_user_units(self, vector: np.ndarray) -> float | list[float]:
        values = (np.asarray(vector, dtype=np.float64) * self.scale).tolist()
        return values[0] if self.dim == 1 else values

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> ConditionSpec:
        return ConditionSpec(**data)


class ConditionEncoder(nn.Module):
    """Condition column ``(B, T, dim)`` -> tokens ``(B, T, d_out)``. One for every kind.

    Linear on purpose: with an MLP here (GELU between two layers) the RvS MLP asked for the
    best return fell from 133 to -5 mean return on the demo data (same seed, 200 episodes) — a
    flexible embedding of the near-unique return-to-go values lets the model identify the
    episode instead of learning a smooth return -> behaviour map.
    """

    def __init__(self, spec: ConditionSpec, d_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(spec.dim, d_out)

    def forward(self, conditions: torch.Tensor) -> torch.Tensor:
        return self.proj(conditions)
