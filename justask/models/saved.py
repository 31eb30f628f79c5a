"""A trained policy model's run folder: ``config.json`` (architecture and interface) and
``model.safetensors`` (weights and buffers). Nothing is unpickled or imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from justask.checkpoint import CONFIG_FILE, MODEL_FILE, load_state_checked, load_tensors, read_run_config
from justask.errors import JustAskError
from justask.models.config import ModelConfig, PolicyIO
from justask.models.policy import PolicyModel

RUN_KIND = "policy"  # what config.json's "run_kind" says for a trained policy model


def policy_run_config(run_dir: str | Path) -> dict[str, Any]:
    """``config.json`` of a trained policy run, checked to be one."""
    config = read_run_config(Path(run_dir), RUN_KIND)
    for section in ("model", "io"):
        if section not in config:
            raise JustAskError(f"run {run_dir}: {CONFIG_FILE} has no '{section}' section (an older justask's run?)")
    return config


def load_model(run_dir: str | Path, device: str | torch.device = "cpu") -> PolicyModel:
    """The trained model of a run folder, with its weights checked against its config."""
    run_dir = Path(run_dir)
    config = policy_run_config(run_dir)
    model = PolicyModel(ModelConfig.from_json(config["model"]), PolicyIO.from_json(config["io"]))
    tensors = load_tensors(run_dir / MODEL_FILE, f"run {run_dir}")
    load_state_checked(model, tensors, f"run {run_dir}: {MODEL_FILE}")
    return model.to(device).eval()
