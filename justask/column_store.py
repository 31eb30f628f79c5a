"""The sampler's step columns as ``.npy`` files on disk, memory-mapped for training.

Why: ``data_placement="host"`` keeps a dataset too large for the device in host memory. Under
torchrun every rank would otherwise build its own float32 copy of the columns, so a node with 8
GPUs would hold 8 copies. Written once per node and memory-mapped by every rank, the columns are
one copy in the page cache that all ranks read, and the kernel pages them in and out as needed.

A store is a folder: one ``NAME.npy`` per column and ``manifest.json`` (written last) naming the
columns with their shapes and dtypes. Every file is written atomically.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from justask.checkpoint import atomic_write, write_json
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.models.config import PolicyIO

MANIFEST = "manifest.json"
STORE_FORMAT = 1


TABLE = "condition_table"  # the one column with a row per caption, not per step
PROMPT_GROUP = "prompt_group"  # a prompt condition's column: which behaviour made each step's episode


def step_columns(episodes: Episodes, config: PolicyIO) -> Iterator[tuple[str, np.ndarray]]:
    """The columns ``SegmentSampler`` reads, one at a time (so a writer holds one in memory):
    observations ``(N, obs_dim)`` float32 (uint8 when they are bytes), actions ``(N,)`` int64 or ``(N, act_dim)`` float32,
    conditions ``(N, cond_dim)`` float32 in model units when the model is conditioned (a text
    condition: ``condition_index (N,)`` into ``condition_table (U, dim)``, each caption once),
    a prompt condition: ``prompt_group (N,)`` int64, which behaviour made the step's episode;
    targets (like actions) when it learns a column of labels instead of the executed actions,
    timesteps and episode_start ``(N,)`` int64 (the index of each step's episode's first step)."""
    n = episodes.num_steps
    check_condition(episodes, config)
    observations = episodes.step_observations().reshape(n, -1)
    # One-hot / byte observations (BabyAI's 984 uint8 per step) stay compact: the sampler casts a
    # batch, not the dataset, to float32.
    compact = observations.dtype in (np.uint8, np.bool_)
    yield "observations", observations.astype(np.uint8 if compact else np.float32)
    if config.discrete:
        yield "actions", episodes.actions.astype(np.int64)
    else:
        yield "actions", episodes.actions.reshape(n, -1).astype(np.float32)
    if config.condition is not None and config.condition.is_prompt:  # the model reads other episodes
        yield PROMPT_GROUP, np.asarray(episodes.conditions[config.condition.name], dtype=np.int64).reshape(n)
    elif config.condition is not None:
        values, table = config.condition.model_column(episodes)
        if table is None:
            yield "conditions", values
        else:
            yield "condition_index", values
            yield TABLE, table
    if config.target is not None:
        labels = episodes.conditions[config.target]
        yield "targets", labels.astype(np.int64) if config.discrete else labels.reshape(n, -1).astype(np.float32)
    yield "timesteps", episodes.timesteps()
    yield "episode_start", np.repeat(episodes.episode_starts, episodes.lengths)


def check_condition(episodes: Episodes, config: PolicyIO) -> None:
    """The episodes hold the condition column the model reads."""
    if config.condition is not None and config.condition.name not in episodes.conditions:
        raise JustAskError(f"the episodes have no condition column '{config.condition.name}' for this model")
    if config.target is not None and config.target not in episodes.conditions:
        raise JustAskError(f"the episodes have no column '{config.target}' of target actions for this model")


def write_store(columns: Iterator[tuple[str, np.ndarray]], directory: Path) -> None:
    """Write ``columns`` as a store in ``directory`` (replacing one that is there)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).unlink(missing_ok=True)  # a store without a manifest is incomplete
    manifest: dict[str, dict] = {}
    for name, array in columns:
        array = np.ascontiguousarray(array)

        def write(tmp: str, array: np.ndarray = array) -> None:
            with open(tmp, "wb") as f:
                np.save(f, array)

        atomic_write(directory / f"{name}.npy", write)
        manifest[name] = {"shape": list(array.shape), "dtype": array.dtype.str}
    write_json(directory / MANIFEST, {"format": STORE_FORMAT, "columns": manifest})


def open_store(directory: Path) -> dict[str, np.ndarray]:
    """The store's columns, memory-mapped (copy-on-write: reading never changes the files).
    Checked against the manifest; a missing or mismatched file is a ``JustAskError`` naming it."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise JustAskError(f"column store {directory}: no {MANIFEST} (the store was not written completely)")
    try:
        manifest = json.loads(manifest_path.read_text())
        entries = manifest["columns"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise JustAskError(f"column store {directory}: {MANIFEST} is not a column-store manifest ({exc})") from exc
    if manifest.get("format") != STORE_FORMAT:
        raise JustAskError(
            f"column store {directory}: format {manifest.get('format')}, this justask reads {STORE_FORMAT}"
        )
    columns: dict[str, np.ndarray] = {}
    for name, entry in entries.items():
        path = directory / f"{name}.npy"
        try:
            array = np.load(path, mmap_mode="c", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise JustAskError(f"column store {directory}: cannot map {path.name} ({exc})") from exc
        if list(array.shape) != entry["shape"] or array.dtype.str != entry["dtype"]:
            raise JustAskError(
                f"column store {directory}: {path.name} holds {array.dtype.str} {list(array.shape)}, "
                f"the manifest says {entry['dtype']} {entry['shape']}"
            )
        columns[name] = array
    lengths = {len(a) for name, a in columns.items() if name != TABLE}
    if len(lengths) > 1:
        raise JustAskError(f"column store {directory}: columns have different numbers of steps {sorted(lengths)}")
    return columns
