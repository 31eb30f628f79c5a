"""Files, written atomically and validated on load: JSON, safetensors and run folders.

A run folder holds ``config.json`` (what was trained, how; ``run_kind`` says what it holds),
``model.safetensors`` (weights and buffers) and ``train_state.safetensors`` (weights, optimizer,
RNG states and step, for ``--resume``). Every file is written to a temporary name and moved into
place, so a killed run leaves the previous complete file. Nothing is unpickled. This module knows
files, not models: each kind of model has its own loader (``justask.models.load_model``, ...).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from justask.errors import JustAskError

CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
TRAIN_STATE_FILE = "train_state.safetensors"


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then move the file to ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; these are ordinary results
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def new_run_folder(out: Path, run_kind: str, settings_key: str, settings: dict[str, Any], overwrite: bool) -> None:
    """Create the run folder ``out`` with its ``config.json`` (``run_kind`` and the settings):
    an existing non-empty folder is an error unless ``overwrite``, which replaces it."""
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise JustAskError(f"{out} is not empty (pass --overwrite to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {"run_kind": run_kind, settings_key: settings})


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2, default=_json_default) + "\n"))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise JustAskError(f"{what}: {path} not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JustAskError(f"{what}: {path} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise JustAskError(f"{what}: {path} does not hold a JSON object")
    return data


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_tensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise JustAskError(f"{what}: {path} not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise JustAskError(f"{what}: {path} is corrupt or not a safetensors file ({exc})") from exc


def fresh_run_folder(out: str | Path, overwrite: bool) -> Path:
    """An empty run folder at ``out``: an existing non-empty one is replaced only with ``overwrite``."""
    import shutil

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise JustAskError(f"run folder {out} already exists (pass --overwrite or another --out)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def read_run_config(run_dir: Path, run_kind: str, what: str = "a trained policy model") -> dict[str, Any]:
    """``config.json`` of a run folder, checked to hold a run of ``run_kind``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise JustAskError(f"run folder {run_dir} does not exist")
    config = read_json(run_dir / CONFIG_FILE, f"run {run_dir}")
    kind = config.get("run_kind")
    if kind != run_kind:
        hint = ""
        models = config.get("models")
        if isinstance(models, list) and models:
            hint = f"; it holds several models, pass one of them: {', '.join(str(run_dir / str(m)) for m in models)}"
        raise JustAskError(f"{run_dir} is a '{kind}' run, not {what}{hint}")
    return config


def load_state_checked(model: torch.nn.Module, tensors: dict[str, torch.Tensor], what: str) -> None:
    """``load_state_dict`` with a one-line error naming the first missing, unexpected or
    mis-shaped tensor (a checkpoint of a different model config)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise JustAskError(f"{what} does not match the model config: tensor '{missing[0]}' is missing")
    unexpected = sorted(set(tensors) - set(expected))
    if unexpected:
        raise JustAskError(f"{what} does not match the model config: unexpected tensor '{unexpected[0]}'")
    for name, value in expected.items():
        if tuple(tensors[name].shape) != tuple(value.shape):
            raise JustAskError(
                f"{what} does not match the model config: tensor '{name}' has shape "
                f"{tuple(tensors[name].shape)}, the model expects {tuple(value.shape)}"
            )
    model.load_state_dict(tensors)


@contextlib.contextmanager
def removed_on_error(folder: Path, keep_if: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """Remove ``folder`` if this block created it and fails before anything worth keeping
    (``keep_if``) was written: bad input leaves nothing half-written behind. Under torchrun only
    rank 0 (which owns the folder) removes it."""
    existed = Path(folder).exists()
    try:
        yield
    except BaseException:
        if not existed and not keep_if() and os.environ.get("RANK", "0") == "0":
            shutil.rmtree(folder, ignore_errors=True)
        raise
