"""A trained policy model's run folder: ``config.json`` (architecture and interface),
``model.safetensors`` (weights and buffers) and, once measured, ``calibration.json`` (what the
model achieved per request: ``justask.calibration``). Nothing is unpickled or imported."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import torch

from justask.checkpoint import (
    CONFIG_FILE,
    MODEL_FILE,
    load_state_checked,
    load_tensors,
    read_json,
    read_run_config,
    tensors_digest,
    write_json,
)
from justask.errors import JustAskError, JustAskWarning
from justask.models.config import ModelConfig, PolicyIO
from justask.models.policy import PolicyModel

RUN_KIND = "policy"  # what config.json's "run_kind" says for a trained policy model
CALIBRATION_FILE = "calibration.json"


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
    calibration = run_dir / CALIBRATION_FILE
    if calibration.exists() and model.io.condition is not None:
        data = read_json(calibration, f"run {run_dir}")
        if data.get("weights") != tensors_digest(tensors):
            warnings.warn(
                f"run {run_dir}: {CALIBRATION_FILE} was measured on other weights (retrained since?): "
                "asking without it (run justask calibrate again)",
                JustAskWarning,
                stacklevel=2,
            )
        else:
            model.io.condition = dataclasses.replace(model.io.condition, calibration=data)
    return model.to(device).eval()


def save_calibration(run_dir: str | Path, calibration: dict[str, Any]) -> Path:
    """Write a run's ``calibration.json`` (in one rename), tied to the weights it was measured on."""
    run_dir = Path(run_dir)
    tensors = load_tensors(run_dir / MODEL_FILE, f"run {run_dir}")
    path = run_dir / CALIBRATION_FILE
    write_json(path, {**calibration, "weights": tensors_digest(tensors)})
    return path
