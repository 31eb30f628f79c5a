"""p(task | experience so far): the in-context improvement operator's belief about its task.

A step of experience says *which candidate task it is evidence about* (its subject: the Dark Room
cell the step ended on, the bandit arm pulled) and *what it says* (its outcome: paid or not). The
experience is read as counts per (subject, outcome). Every candidate task is scored by the same
network from its own counts and a summary pooled over all tasks (a permutation-equivariant,
DeepSets-style model): the score never sees *which* task it is scoring, so the model cannot learn
a prior over task identities — which is what lets it find tasks that never appeared in training
(held-out Dark Room goals): a cell nobody has looked at scores like any other unseen cell,
wherever it is. What evidence means (an unpaid visit rules a cell out, a paid one settles it; a
bandit arm's wins against its pulls) is learned from the histories, not written in.

A first version let each task's query attend over all steps; it read other cells' evidence into
every query and learned identity-specific beliefs that did not carry to held-out goals.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from justask.errors import JustAskError


@dataclasses.dataclass
class PosteriorConfig:
    """Architecture of a ``TaskPosterior``."""

    n_tasks: int = 0  # candidate tasks (Dark Room: 81 cells; bandit: its arms)
    n_outcomes: int = 2  # what a step can say about its subject (Dark Room, bandit: unpaid / paid)
    d_model: int = 64  # embedding width
    hidden: int = 128  # width of the scoring MLP

    def __post_init__(self) -> None:
        if self.n_tasks < 2:
            raise JustAskError(f"a task posterior needs at least 2 candidate tasks, got {self.n_tasks}")
        if self.n_outcomes < 1:
            raise JustAskError(f"a task posterior needs at least 1 outcome, got {self.n_outcomes}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class TaskPosterior(nn.Module):
    """Counts of (subject, outcome) steps -> logits over the candidate tasks."""

    def __init__(self, config: PosteriorConfig) -> None:
        super().__init__()
        self.config = config
        d, k = config.d_model, config.n_outcomes
        features = 2 * k + 1
        self.encode = nn.Sequential(nn.Linear(features, d), nn.GELU(), nn.Linear(d, d), nn.GELU())
        self.score = nn.Sequential(nn.Linear(2 * d, config.hidden), nn.GELU(), nn.Linear(config.hidden, 1))

    @staticmethod
    def features(counts: torch.Tensor) -> torch.Tensor:
        """Per task: log(1 + count) of each outcome, each outcome's share, and whether it was seen."""
        total = counts.sum(-1, keepdim=True)
        share = counts / total.clamp(min=1)
        return torch.cat([torch.log1p(counts), share, (total > 0).float()], dim=-1)

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        """``counts (B, n_tasks, n_outcomes)``: how many steps of each type the experience holds
        -> ``(B, n_tasks)`` logits."""
        own = self.encode(self.features(counts.float()))  # (B, Q, d)
        pooled = own.mean(dim=1, keepdim=True).expand_as(own)
        return self.score(torch.cat([own, pooled], dim=-1)).squeeze(-1)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of the true task (known in hindsight) given the experience."""
        return nn.functional.cross_entropy(self(batch["counts"]), batch["labels"])
