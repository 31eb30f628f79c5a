"""Run folders for the console's tests, and a small client for its API (urllib only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np


def make_runs(root: Path) -> dict[str, str]:
    """Under ``root``: tiny LunarLander return, PointMaze goal and BabyAI text models (the first
    two with their datasets) and a broken run folder. Returns their ids."""
    from justask.cli import main
    from justask.collection import collect
    from justask.configs import TrainConfig
    from justask.models import ModelConfig
    from justask.suites import babyai as ba
    from justask.training import train

    data = root / "lunar" / "dataset"
    assert main(["collect", "--population", "random", "--episodes", "4", "--out", str(data), "--num-envs", "4"]) == 0
    args = ["train", "--dataset", str(data), "--run", str(root / "lunar" / "mlp"), "--model.kind", "mlp"]
    assert main([*args, "--train.steps", "10", "--train.batch-size", "8", "--train.no-progress"]) == 0

    maze = root / "maze" / "dataset"
    args = ["collect", "--env", "justask/PointMazeGoal-Medium-v0", "--population", "explorer", "--episodes", "2"]
    assert main([*args, "--num-envs", "2", "--out", str(maze)]) == 0
    args = ["train", "--dataset", str(maze), "--run", str(root / "maze" / "goal"), "--model.kind", "mlp"]
    assert (
        main([*args, "--condition", "goal", "--train.steps", "5", "--train.batch-size", "8", "--train.no-progress"])
        == 0
    )

    from justask import captions as cp

    play = collect(
        ba.env_id("GoToLocal"),
        [(ba.PlayBot("GoToLocal", 0.0), 4)],
        num_envs=4,
        seed=3,
        progress=False,
        env_kwargs={"task": "play"},
    )
    segmented = cp.with_captions(cp.segments(play, cp.caption_episodes(play), goto_from_event=True))
    from justask.minari_io import save_minari

    save_minari(segmented, str(root / "babyai" / "captioned"))
    fit = TrainConfig(steps=10, batch_size=8, progress=False, threads=1)
    train(segmented, ModelConfig("mlp"), fit, root / "babyai" / "text", condition="caption")

    broken = root / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{ not json")
    (broken / "model.safetensors").write_bytes(b"")
    return {
        "lunar": "lunar/mlp",
        "goal": "maze/goal",
        "text": "babyai/text",
        "dataset": "lunar/dataset",
        "broken": "broken",
    }


def get(base: str, path: str) -> tuple[int, dict[str, Any]]:
    return _call(urllib.request.Request(base + path.lstrip("/")))


def post(base: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        base + path.lstrip("/"), data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    return _call(request)


def _call(request: urllib.request.Request) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def events(base: str, job: str, timeout: float = 180) -> list[dict[str, Any]]:
    """Every event of a job, read from its server-sent event stream until it ends."""
    out = []
    with urllib.request.urlopen(f"{base}api/jobs/{job}/events", timeout=timeout) as stream:
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: end"):
                break
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
    return out


def of_type(evs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in evs if e.get("type") == kind]


def mean_of(values: list[float]) -> float:
    return float(np.mean(values))
