"""``TrainConfig`` (how any learner is fitted) and reading configs from YAML/JSON files.

A light module (no torch import): the CLI builds its options from these dataclasses. Each
recipe's own settings are its ``Config`` (``justask/recipes/<name>.py``); each command's are in
``justask/cli.py``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from justask.errors import JustAskError


def whole_numbers(config: Any, low: int, *names: str) -> None:
    """Each named field of ``config`` is a whole number >= ``low``, or a ``JustAskError`` that
    names it and its range (where every config checks its counts)."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise JustAskError(f"{name} must be a whole number >= {low}, got {value!r}")


def seed_tuple(seeds: Any) -> tuple[int, ...]:
    """A recipe's seeds as a tuple: one or more different whole numbers >= 0 (each seed gets its
    own run folder, so a repeated seed would only overwrite itself)."""
    values = tuple(seeds)
    if not values or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in values):
        raise JustAskError(f"seeds must be one or more whole numbers >= 0, got {list(values)}")
    if len(set(values)) != len(values):
        raise JustAskError(f"seeds must differ, got {list(values)}")
    return values


MAX_BATCH = 1 << 20  # rows per step


@dataclasses.dataclass
class TrainConfig:
    """How to fit a model (any learner: a policy, a task posterior, a reward ranker)."""

    steps: int = 2000
    """Gradient steps in total."""
    batch_size: int = 64
    """Rows per step (segments for a policy; the global batch under torchrun)."""
    learning_rate: float = 1e-3
    """Peak AdamW learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay on weight matrices."""
    warmup_steps: int = 100
    """Linear warmup steps."""
    schedule: str = "cosine"
    """After warmup: cosine (decay to 10% of the peak) or constant."""
    grad_clip: float = 1.0
    """Max gradient norm."""
    seed: int = 0
    """Seeds the initial weights and the batch sampler."""
    device: str = "auto"
    """auto (cuda if present, else cpu), cpu, cuda, cuda:1, ..."""
    threads: int = 0
    """CPU threads for torch (0: on a CPU, the cores the 1-minute load average leaves free, at least 1; measured: benchmarks/results/threads.md)."""
    log_every: int = 50
    """Steps between TensorBoard scalars and progress-bar updates."""
    checkpoint_every: int = 500
    """Steps between checkpoints (and one at the end)."""
    micro_batch: int = -1
    """Forward/backward in chunks of this many rows, same gradient (-1: 64 for a DT on a CPU, else the whole batch; 0: the whole batch)."""
    bf16: bool = True
    """bf16 autocast on CUDA (ignored on a CPU)."""
    compile: bool = False
    """torch.compile the loss (under torchrun: the DDP-wrapped module)."""
    cuda_graph: bool = True
    """On CUDA, capture the whole step (batch, forward, backward, AdamW) as one CUDA graph."""
    progress: bool = True
    """Show a progress bar."""
    data_placement: str = "auto"
    """device (columns on the training device), host (columns written to the run folder and memory-mapped by every process: one copy per node), shard (under torchrun: each rank keeps every N-th episode), auto (device if it fits in half the free memory, else host)."""
    dist_timeout_s: float = 600.0
    """Under torchrun: how long a rank waits for the others before failing."""

    def __post_init__(self) -> None:
        whole_numbers(self, 1, "steps", "batch_size", "log_every", "checkpoint_every")
        whole_numbers(self, 0, "warmup_steps", "seed", "threads")
        if self.batch_size > MAX_BATCH:  # a batch is built in memory at once: far beyond this, the machine dies
            raise JustAskError(f"batch_size must be a whole number in [1, {MAX_BATCH}], got {self.batch_size}")
        whole_numbers(self, -1, "micro_batch")
        positive = {
            "learning_rate": self.learning_rate,
            "grad_clip": self.grad_clip,
            "dist_timeout_s": self.dist_timeout_s,
        }
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise JustAskError(f"{name} must be a positive finite number, got {value!r}")
        if (
            isinstance(self.weight_decay, bool)
            or not isinstance(self.weight_decay, (int, float))
            or not (math.isfinite(self.weight_decay) and self.weight_decay >= 0)
        ):
            raise JustAskError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if self.schedule not in ("cosine", "constant"):
            raise JustAskError(f"schedule must be cosine or constant, got {self.schedule!r}")
        if self.data_placement not in ("auto", "device", "host", "shard"):
            raise JustAskError(f"data_placement must be auto, device, host or shard, got {self.data_placement!r}")
        if not isinstance(self.device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", self.device):
            raise JustAskError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")

    @staticmethod
    def quiet(steps: int, batch_size: int, seed: int, threads: int, device: str, **more: Any) -> TrainConfig:
        """A fit inside a larger job (a benchmark, a demo): no progress bar, ten log points, one
        checkpoint at the end."""
        return TrainConfig(
            steps=steps,
            batch_size=batch_size,
            seed=seed,
            progress=False,
            threads=threads,
            device=device,
            log_every=max(1, steps // 10),
            checkpoint_every=steps,
            **more,
        )


def from_dict(cls: type, data: Any, what: str = "config") -> Any:
    """A config dataclass (nested ones too) from a dict read from YAML/JSON: unknown keys are an
    error naming them; lists become tuples where the field is a tuple."""
    import typing

    if not isinstance(data, dict):
        raise JustAskError(f"{what} must be a mapping of settings, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise JustAskError(f"{what}: unknown setting '{unknown[0]}' (settings: {', '.join(fields)})")
    values = {}
    for name, value in data.items():
        hint = hints.get(name)
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value, f"{what}.{name}")
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        values[name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise JustAskError(f"{what}: {exc}") from exc


def read_config_file(path: str, cls: type) -> Any:
    """``cls`` from a YAML or JSON file; a run's ``config.json`` works too (its ``config`` key)."""
    import json
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        raise JustAskError(f"config file {path} not found")
    text = file.read_text()
    try:
        if file.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError
        raise JustAskError(
            f"config file {path} is not valid {'YAML' if file.suffix in ('.yaml', '.yml') else 'JSON'} ({exc})"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("config"), dict) and "run_kind" in data:
        data = data["config"]
    return from_dict(cls, data if data is not None else {}, f"config file {path}")
