"""Save ``Episodes`` as Minari datasets and load Minari datasets (ours or anyone's) as ``Episodes``.

A dataset is addressed either by a Minari id (``namespace/name-v0``, stored under
``$MINARI_DATASETS_PATH``, default ``~/.minari/datasets``) or by a filesystem path. A target is a
path when it starts with ``/``, ``./``, ``../`` or ``~``, or is an existing directory; anything
else is an id. Nothing here touches the network.

justask's extras ride along in places Minari already has: per-episode metadata as a JSON string
attribute ``justask`` on each episode, condition columns in each episode's ``infos`` under
``justask_conditions``, and condition descriptions in the dataset metadata.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from justask.episodes import Episodes
from justask.errors import JustAskError

_CHECKSUMS_KEY = "justask_checksums"  # column name -> SHA-256, recorded by save_minari
_CONDITIONS_KEY = "justask_conditions"
_METADATA_ATTR = "justask"


def is_path(target: str | os.PathLike) -> bool:
    s = str(target)
    return s.startswith(("/", "./", "../", "~")) or Path(s).is_dir()


def dataset_dir(target: str | os.PathLike) -> Path:
    """Directory that holds (or will hold) the dataset ``target`` (its ``data/`` lies inside)."""
    if is_path(target):
        return Path(os.path.expanduser(str(target))).resolve()
    from minari.storage import get_dataset_path

    return Path(get_dataset_path(str(target)))


@contextlib.contextmanager
def _datasets_root(root: Path) -> Iterator[None]:
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def save_minari(
    episodes: Episodes,
    target: str | os.PathLike,
    *,
    overwrite: bool = False,
    algorithm_name: str = "justask",
    description: str | None = None,
) -> Path:
    """Write ``episodes`` as a Minari dataset (HDF5); return its directory.

    The dataset is built in a temporary directory beside the target and moved into place at the
    end, so an interrupted save leaves no half-written dataset behind.
    """
    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    if isinstance(episodes.observation_space, (gym.spaces.Dict, gym.spaces.Tuple)):
        raise JustAskError("saving episodes with dict/tuple observations is not supported yet")
    episodes.validate("episodes to save")
    final = dataset_dir(target)
    if final.exists() and not overwrite:
        raise JustAskError(f"dataset {target} already exists at {final} (pass overwrite=True / --overwrite)")
    if is_path(target):
        stem = re.sub(r"[^A-Za-z0-9_]+", "_", final.name) or "dataset"
        dataset_id = f"{stem}-v0"
    else:
        dataset_id = str(target)
        if not re.search(r"-v\d+$", dataset_id):
            raise JustAskError(f"dataset id '{dataset_id}' needs a version suffix, e.g. '{dataset_id}-v0'")

    buffers = []
    for i in range(episodes.num_episodes):
        e = episodes.episode(i)
        infos = {_CONDITIONS_KEY: dict(e["conditions"])} if e["conditions"] else None
        seed = e["metadata"].get("seed")
        buffers.append(
            EpisodeBuffer(
                id=i,
                seed=int(seed) if isinstance(seed, (int, np.integer)) else None,
                observations=np.asarray(e["observations"]),
                actions=np.asarray(e["actions"]),
                rewards=list(np.asarray(e["rewards"], dtype=np.float64)),
                terminations=list(np.asarray(e["terminations"], dtype=bool)),
                truncations=list(np.asarray(e["truncations"], dtype=bool)),
                infos=infos,
            )
        )

    final.parent.mkdir(parents=True, exist_ok=True)
    tmp_root = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    try:
        with _datasets_root(tmp_root), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Minari warns that eval_env defaults to env
            env_spec = gym.spec(episodes.env_id) if episodes.env_id else None
            ds = minari.create_dataset_from_buffers(
                dataset_id=dataset_id,
                buffer=buffers,
                env=env_spec,
                observation_space=episodes.observation_space,
                action_space=episodes.action_space,
                algorithm_name=algorithm_name,
                description=description,
            )
            ds.storage.update_episode_metadata(
                [{_METADATA_ATTR: json.dumps(m, default=_json_default)} for m in episodes.metadata]
            )
            if episodes.condition_info:
                ds.storage.update_metadata({"justask_condition_info": episodes.condition_info})
            # what a reader will load, column by column: verified on every load (load_minari)
            sums = load_minari(tmp_root / dataset_id).checksums()
            ds.storage.update_metadata({_CHECKSUMS_KEY: sums})
        built = tmp_root / dataset_id
        if final.exists():
            shutil.rmtree(final)
        os.replace(built, final)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    if not is_path(target):
        _ensure_namespace(dataset_id)
    return final


def _ensure_namespace(dataset_id: str) -> None:
    from minari.dataset.minari_dataset import parse_dataset_id
    from minari.namespace import create_namespace, list_local_namespaces

    namespace = parse_dataset_id(dataset_id)[0]
    if namespace is not None and namespace not in list_local_namespaces():
        with contextlib.suppress(ValueError):
            create_namespace(namespace)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"metadata value of type {type(obj).__name__} cannot be saved as JSON")


def local_dataset_ids() -> list[str]:
    """The ids of the Minari datasets under $MINARI_DATASETS_PATH (read from disk; never the network)."""
    root = Path(os.environ.get("MINARI_DATASETS_PATH", Path.home() / ".minari" / "datasets"))
    if not root.is_dir():
        return []
    found = []
    for metadata in sorted(root.glob("**/data/metadata.json")):
        found.append(str(metadata.parent.parent.relative_to(root)))
    return found


def load_minari(source: str | os.PathLike) -> Episodes:
    """Load a Minari dataset (by id or path) as validated ``Episodes``.

    Works for datasets written by ``save_minari`` and by Minari's own ``DataCollector``. Raises
    ``JustAskError`` naming the episode and field when the data is malformed.
    """
    from minari import MinariDataset

    root = dataset_dir(source)
    data_path = root / "data" if (root / "data").is_dir() else root
    if not (data_path / "metadata.json").is_file():
        where = f"under $MINARI_DATASETS_PATH ({root.parent})" if not is_path(source) else f"at {root}"
        known = local_dataset_ids() if not is_path(source) else []
        listed = f" (local datasets: {', '.join(known[:20])})" if known else " (no local datasets)"
        raise JustAskError(
            f"no Minari dataset '{source}' {where}: metadata.json not found{'' if is_path(source) else listed}"
        )
    try:
        ds = MinariDataset(data_path)
    except Exception as exc:  # Minari raises assorted errors for a broken dataset
        raise JustAskError(f"dataset {source}: cannot be read by Minari ({type(exc).__name__}: {exc})") from exc
    obs_space, act_space = ds.observation_space, ds.action_space
    if isinstance(obs_space, (gym.spaces.Dict, gym.spaces.Tuple)):
        raise JustAskError(
            f"dataset {source}: dict/tuple observation spaces are not supported yet "
            "(record it with gymnasium.wrappers.FlattenObservation)"
        )
    env_id = ds.env_spec.id if ds.env_spec is not None else None
    storage = ds.storage
    total = storage.total_episodes
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 0:
        raise JustAskError(f"dataset {source}: total_episodes in its metadata is {total!r}, not a count")
    indices = list(range(int(total)))
    if not indices:
        raise JustAskError(f"dataset {source}: holds no episodes")
    try:
        raw_metadata = list(storage.get_episode_metadata(indices))
        raw_episodes = list(storage.get_episodes(indices))
    except KeyError as exc:
        raise JustAskError(f"dataset {source}: a field is missing ({exc})") from exc
    except Exception as exc:
        raise JustAskError(f"dataset {source}: cannot be read ({type(exc).__name__}: {exc})") from exc

    episodes: list[dict[str, Any]] = []
    condition_columns: dict[str, list[np.ndarray]] = {}
    for i, (raw, meta) in enumerate(zip(raw_episodes, raw_metadata, strict=True)):
        for field in ("observations", "actions", "rewards", "terminations", "truncations"):
            if raw.get(field) is None:
                raise JustAskError(f"dataset {source}: episode {i}: field '{field}' is missing")
        obs = np.asarray(raw["observations"])
        n = len(raw["rewards"])
        if n == 0:
            raise JustAskError(f"dataset {source}: episode {i} is empty (0 steps)")
        if len(obs) != n + 1:
            raise JustAskError(
                f"dataset {source}: episode {i}: {len(obs)} observations for {n} steps (expected {n + 1})"
            )
        for field in ("actions", "terminations", "truncations"):
            if len(raw[field]) != n:
                raise JustAskError(
                    f"dataset {source}: episode {i}: field '{field}' has {len(raw[field])} rows, expected {n}"
                )
        if obs.dtype.kind == "f" and np.dtype(obs_space.dtype).kind in "iub":
            raise JustAskError(
                f"dataset {source}: episode {i}: observations are {obs.dtype} but the dataset's observation space "
                f"declares {obs_space.dtype} (they would be truncated)"
            )
        expected_actions = act_space.shape or ()
        if np.asarray(raw["actions"]).shape[1:] != expected_actions:
            raise JustAskError(
                f"dataset {source}: episode {i}: actions have shape {np.asarray(raw['actions']).shape[1:]}, "
                f"the dataset's action space expects {expected_actions}"
            )
        if obs_space.shape is not None and obs.shape[1:] != obs_space.shape:
            raise JustAskError(
                f"dataset {source}: episode {i}: observations have shape {obs.shape[1:]}, "
                f"the dataset's observation space expects {obs_space.shape}"
            )
        metadata = _decode_metadata(meta, f"dataset {source}: episode {i}")
        episodes.append({**raw, "metadata": metadata})
        infos = raw.get("infos") or {}
        for name, col in (infos.get(_CONDITIONS_KEY) or {}).items():
            col = np.asarray(col)
            if col.dtype.kind in "SO":
                col = col.astype(str)
            condition_columns.setdefault(name, []).append(col)

    result = Episodes.from_episode_list(episodes, obs_space, act_space, env_id=env_id)
    info = storage.metadata.get("justask_condition_info") or {}
    for name, parts in condition_columns.items():
        if len(parts) != len(episodes):
            raise JustAskError(f"dataset {source}: condition '{name}' is missing in some episodes")
        result = result.with_condition(name, np.concatenate(parts), **info.get(name, {}))
    result.validate(f"dataset {source}")
    total_steps = storage.metadata.get("total_steps")
    if total_steps is not None and total_steps != result.num_steps:
        raise JustAskError(
            f"dataset {source}: its metadata counts {total_steps!r} steps, its {result.num_episodes} episodes hold "
            f"{result.num_steps} (total_episodes or total_steps was changed)"
        )
    recorded = storage.metadata.get(_CHECKSUMS_KEY)
    if recorded is not None:
        if not isinstance(recorded, dict):
            raise JustAskError(f"dataset {source}: its recorded checksums are damaged")
        now = result.checksums()
        for name in sorted(set(recorded) | set(now)):
            if recorded.get(name) != now.get(name):
                raise JustAskError(
                    f"dataset {source}: column '{name}' does not match the checksum justask recorded when it wrote "
                    "the dataset (the file was changed or damaged since)"
                )
    return result


def _decode_metadata(meta: dict[str, Any], where: str = "an episode") -> dict[str, Any]:
    if _METADATA_ATTR in meta:
        try:
            decoded = json.loads(meta[_METADATA_ATTR])
        except (json.JSONDecodeError, TypeError):
            decoded = None
        if decoded is not None:
            if not isinstance(decoded, dict):
                raise JustAskError(f"{where}: its metadata is JSON but not an object ({type(decoded).__name__})")
            return decoded
    out: dict[str, Any] = {}
    for key in ("seed", "options"):
        if meta.get(key) is not None:
            value = meta[key]
            out[key] = value.item() if isinstance(value, np.generic) else value
    return out
