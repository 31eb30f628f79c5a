"""Files, written atomically and validated on load: JSON, safetensors and run folders.

A run folder holds ``config.json`` (what was trained, how; ``run_kind`` says what it holds),
``model.safetensors`` (weights and buffers) and ``train_state.safetensors`` (weights, optimizer,
RNG states and step, for ``--resume``). Every file is written to a temporary name and moved into
place, so a killed run leaves the previous complete file. Nothing is unpickled. This module knows
files, not models: each kind of model has its own loader (``justask.models.load_model``, ...).
"""

from __future__ import annotations

import contextlib
import glob
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


def check_writable(path: str | Path, what: str) -> None:
    """Raise ``JustAskError`` now, before any work, when ``path`` (a file or folder to be made)
    cannot be written: a file is in the way, or the nearest existing folder is not writable."""
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe == path and path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise JustAskError(f"cannot write {what} to {path}: the folder is not writable")
        return
    if probe != path and not probe.is_dir():
        raise JustAskError(f"cannot write {what} to {path}: {probe} is a file, not a folder")
    folder = probe if probe != path else path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise JustAskError(f"cannot write {what} to {path}: {folder} is not writable")


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then move the file to ``path`` in one rename. Temp files of
    ``path`` left by a writer that was killed (nothing else writes this path) are removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for orphan in path.parent.glob(f".{glob.escape(path.name)}.????????"):  # mkstemp's 8 random characters
        orphan.unlink(missing_ok=True)
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


CHECKSUM_KEY = "justask_sha256"  # in a safetensors file's metadata: the digest of its tensors


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` atomically, with their digest in the file's metadata (checked on load:
    safetensors itself keeps no checksum, so a flipped bit would load as a different model)."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    metadata = {**(metadata or {}), CHECKSUM_KEY: tensors_digest(tensors)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_tensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, verified against the digest justask recorded in it."""
    from safetensors import safe_open

    if not path.is_file():
        raise JustAskError(f"{what}: {path} not found")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            recorded = (f.metadata() or {}).get(CHECKSUM_KEY)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise JustAskError(f"{what}: {path} is corrupt or not a safetensors file ({exc})") from exc
    if recorded is not None and recorded != tensors_digest(tensors):
        raise JustAskError(
            f"{what}: {path} does not match the checksum justask recorded when it wrote it (changed or damaged since)"
        )
    return tensors


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
        got = tensors[name]
        if tuple(got.shape) != tuple(value.shape):
            raise JustAskError(
                f"{what} does not match the model config: tensor '{name}' has shape "
                f"{tuple(got.shape)}, the model expects {tuple(value.shape)}"
            )
        if got.dtype != value.dtype and not (got.is_floating_point() and value.is_floating_point()):
            raise JustAskError(f"{what}: tensor '{name}' holds {got.dtype}, the model expects {value.dtype}")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise JustAskError(f"{what}: tensor '{name}' holds NaN or infinite values (a diverged or damaged run)")
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
