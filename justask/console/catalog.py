"""What the console serves: the run folders and Minari datasets found under the roots it was given.

Everything the browser names is an id from this catalog (a path relative to a root, looked up, never
joined), so no request reaches a file outside the roots. Folders are found by walking the roots
without following links, to a bounded depth and count; a folder that is not what it says is listed
with its one-line error, as the command line would give it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from justask.checkpoint import CONFIG_FILE, MODEL_FILE, read_json
from justask.errors import JustAskError

MAX_DEPTH = 8  # folders below a root
MAX_ENTRIES = 2000  # run folders and datasets, together
SKIPPED = {"tb", ".git", "__pycache__", "node_modules", ".venv"}


@dataclasses.dataclass
class Entry:
    """A run folder or dataset: its id, where it is, what it holds (or why it cannot be opened)."""

    id: str
    kind: str  # run or dataset
    path: Path
    root: Path
    summary: dict[str, Any]
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "summary": self.summary, "error": self.error}


class Catalog:
    def __init__(self, roots: list[Path]) -> None:
        if not roots:
            raise JustAskError("give the console at least one folder to serve")
        self.roots = []
        for root in roots:
            root = Path(root)
            if not root.is_dir():
                raise JustAskError(f"{root} is not a folder (the console serves run folders and datasets under it)")
            self.roots.append(root.resolve())
        self.entries: dict[str, Entry] = {}
        self.refresh()

    def refresh(self) -> None:
        """Walk the roots again (a run trained since the console started shows up)."""
        found: dict[str, Entry] = {}
        for index, root in enumerate(self.roots):
            prefix = "" if len(self.roots) == 1 else f"{index}:"
            for folder in _folders(root):
                rel = folder.relative_to(root).as_posix()
                name = prefix + ("." if rel == "." else rel)
                if (folder / CONFIG_FILE).is_file() and (folder / MODEL_FILE).exists():
                    entry = _run_entry(name, folder, root)
                    if entry is not None:
                        found[name] = entry
                elif (folder / "data" / "metadata.json").is_file() and (folder / "data" / "main_data.hdf5").is_file():
                    found[name] = _dataset_entry(name, folder, root)
                if len(found) >= MAX_ENTRIES:
                    break
        self.entries = dict(sorted(found.items()))

    def get(self, entry_id: str, kind: str) -> Entry:
        entry = self.entries.get(entry_id)
        if entry is None or entry.kind != kind:
            raise JustAskError(f"no {kind} '{entry_id}' under the console's folders")
        return entry

    def listing(self, kind: str) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.entries.values() if e.kind == kind]


def _folders(root: Path) -> list[Path]:
    """Folders under ``root`` (itself included), links not followed, depth and count bounded."""
    out: list[Path] = []
    base = len(root.parts)
    for here, dirs, _files in os.walk(root, followlinks=False):
        path = Path(here)
        depth = len(path.parts) - base
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not (path / d).is_symlink())
        if depth >= MAX_DEPTH:
            dirs[:] = []
        out.append(path)
        if len(out) >= 20 * MAX_ENTRIES:
            break
    return out


def _run_entry(name: str, folder: Path, root: Path) -> Entry | None:
    """A run folder's summary from its config (the weights are checked when it is opened);
    None for a run of another kind (a learned reward, a task posterior): nothing to ask."""
    try:
        config = read_json(folder / CONFIG_FILE, f"run {name}")
        kind = config.get("run_kind")
        if isinstance(kind, str) and kind != "policy":
            return None
        if kind != "policy":
            raise JustAskError(f"run {name}: {CONFIG_FILE} does not say what the run holds (no run_kind)")
        model, io, train = (config.get(k) or {} for k in ("model", "io", "train"))
        if not isinstance(model, dict) or not isinstance(io, dict) or not isinstance(train, dict):
            raise JustAskError(f"run {name}: {CONFIG_FILE} has sections that are not JSON objects")
        spec = io.get("condition") or None
        summary: dict[str, Any] = {
            "model": str(model.get("kind", "?")),
            "env": str(config.get("env_id") or "?"),
            "condition": _condition_summary(spec),
            "trained": {
                "steps": train.get("steps"),
                "batch_size": train.get("batch_size"),
                "dataset": str(config.get("dataset") or ""),
            },
            "report": _report_of(folder),
            "recipe_report": _recipe_report(folder, root),
        }
        return Entry(name, "run", folder, root, summary)
    except JustAskError as exc:
        return Entry(name, "run", folder, root, {}, error=str(exc))


def _condition_summary(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict):
        return {"kind": "none", "keyword": None, "name": "none (behaviour cloning)"}
    out = {k: spec.get(k) for k in ("name", "kind", "keyword", "dim", "fields", "defaults", "best")}
    quantiles = spec.get("quantiles")
    if isinstance(quantiles, list) and len(quantiles) == 101:
        out["range"] = [quantiles[0], quantiles[100]]
        out["quartiles"] = [quantiles[25], quantiles[50], quantiles[75]]
    out["predicts"] = spec.get("outcomes") is not None
    out["text"] = bool(spec.get("encoder"))
    return out


def _report_of(folder: Path) -> dict[str, Any] | None:
    """The run's own evaluation report (``eval/report.json``), its agents and sweep."""
    path = folder / "eval" / "report.json"
    if not path.is_file() or path.stat().st_size > 5_000_000:
        return None
    try:
        report = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return None
    if not isinstance(report, dict):
        return None
    agents = [
        {k: a.get(k) for k in ("name", "mean", "ci95", "episodes")}
        for a in report.get("agents", [])
        if isinstance(a, dict)
    ]
    sweep = report.get("sweep") if isinstance(report.get("sweep"), dict) else None
    return {"agents": agents, "sweep": sweep.get("points") if sweep else None}


def recipe_report_path(folder: Path, root: Path) -> Path | None:
    """The report of the recipe that made a run: the nearest ``report.md`` above the run folder,
    inside ``root``."""
    here = folder.parent
    while here != root.parent and (here == root or root in here.parents):
        if (here / "report.md").is_file():
            return here / "report.md"
        here = here.parent
    return None


def _recipe_report(folder: Path, root: Path) -> str | None:
    path = recipe_report_path(folder, root)
    return None if path is None else path.relative_to(root).as_posix()


def _dataset_entry(name: str, folder: Path, root: Path) -> Entry:
    try:
        meta = read_json(folder / "data" / "metadata.json", f"dataset {name}")
        summary = {
            "env": _env_of(meta),
            "episodes": meta.get("total_episodes"),
            "steps": meta.get("total_steps"),
            "dataset_id": meta.get("dataset_id"),
        }
        return Entry(name, "dataset", folder, root, summary)
    except JustAskError as exc:
        return Entry(name, "dataset", folder, root, {}, error=str(exc))


def _env_of(meta: dict[str, Any]) -> str:
    spec = meta.get("env_spec")
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError:
            return "?"
    return str(spec.get("id")) if isinstance(spec, dict) and spec.get("id") else "?"
