"""The supervised training loop: sample segments on the device, maximise the data's likelihood.

``train`` reads top to bottom like nanoGPT's loop: batch -> forward/loss -> backward -> clip ->
step, with logging and atomic checkpoints at intervals. bf16 autocast applies on CUDA only.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from justask import __version__, distributed
from justask.checkpoint import (
    CONFIG_FILE,
    MODEL_FILE,
    RUN_KIND,
    TRAIN_STATE_FILE,
    load_state_checked,
    load_tensors,
    read_json,
    save_tensors,
    write_json,
)
from justask.column_store import check_condition, open_store, step_columns, write_store
from justask.conditions import ConditionSpec
from justask.configs import TrainConfig
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.graphed_step import GraphedTrainStep
from justask.models.config import ModelConfig
from justask.models.policy import PolicyModel
from justask.sampler import SegmentSampler, column_bytes, shard_of

COLUMNS_DIR = "columns"  # host-placed data, memory-mapped during training (removed at the end)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise JustAskError(f"device '{device}' asked for, but CUDA is not available")
    return dev


def model_config_for(
    episodes: Episodes, kind: str = "dt", condition: str | None = None, **architecture: Any
) -> ModelConfig:
    """A ``ModelConfig`` sized for ``episodes``, conditioned on column ``condition`` (None: BC)."""
    spec = ConditionSpec.from_episodes(episodes, condition) if condition else None
    longest = int(episodes.lengths.max()) if episodes.num_episodes else 1
    architecture.setdefault("max_timestep", max(1024, longest + 1))
    return ModelConfig(kind=kind, condition=spec, **architecture).with_spaces(
        episodes.observation_space, episodes.action_space
    )


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def make_optimizer(
    model: torch.nn.Module, cfg: TrainConfig, device: torch.device, *, capturable: bool = False
) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices only; fused on CUDA. ``capturable``: its
    learning rate is a device tensor and its step can be captured in a CUDA graph."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = device.type == "cuda"
    if capturable:
        lr = torch.tensor(cfg.learning_rate, dtype=torch.float32, device=device)
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), fused=fused, capturable=True)
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(0.9, 0.95), fused=fused)


def uses_cuda_graph(cfg: TrainConfig, device: torch.device) -> bool:
    return cfg.cuda_graph and device.type == "cuda"


def train(
    episodes: Episodes,
    model_config: ModelConfig,
    train_config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    dataset: str | None = None,
    stop_at: int | None = None,
) -> PolicyModel:
    """Fit ``model_config`` to ``episodes``; the run folder gets config, weights, TensorBoard logs.

    ``resume=True`` continues from ``train_state.safetensors`` and reaches the same weights as an
    uninterrupted run. ``stop_at`` ends the loop after that step as if the run were killed there
    (for tests and time-sliced training). Launched by ``torchrun``, each process trains a
    DistributedDataParallel replica on its share of every global batch (``justask.distributed``);
    rank 0 alone writes the run folder.
    """
    cfg = train_config
    run_dir = Path(run_dir)
    dist = distributed.join(cfg.device, cfg.dist_timeout_s)
    try:
        return _train(episodes, model_config, cfg, run_dir, resume, dataset, stop_at, dist)
    finally:
        if dist is not None:
            distributed.leave()


def _train(
    episodes: Episodes,
    model_config: ModelConfig,
    cfg: TrainConfig,
    run_dir: Path,
    resume: bool,
    dataset: str | None,
    stop_at: int | None,
    dist: distributed.Distributed | None,
) -> PolicyModel:
    main = dist is None or dist.is_main
    device = dist.device(cfg.device) if dist else resolve_device(cfg.device)
    shard = dist.shard(cfg.batch_size) if dist else None
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    run_config = {
        "run_kind": RUN_KIND,
        "justask_version": __version__,
        "model": model_config.to_json(),
        "train": dataclasses.asdict(cfg),
        "dataset": dataset,
        "env_id": episodes.env_id,
    }
    state_path = run_dir / TRAIN_STATE_FILE
    if (run_dir / CONFIG_FILE).exists():
        if not resume:
            raise JustAskError(
                f"run folder {run_dir} already holds a run (pass --resume to continue it, or a new --run)"
            )
        saved = read_json(run_dir / CONFIG_FILE, f"run {run_dir}")
        if saved.get("run_kind") != RUN_KIND:
            raise JustAskError(f"{run_dir} is a '{saved.get('run_kind')}' run, not a trained policy model")
        if saved.get("model") != json.loads(json.dumps(run_config["model"])):
            raise JustAskError(f"cannot resume {run_dir}: its checkpoint is from a different model config")
    placement = data_placement(cfg, episodes, device, dist)
    local_episodes = shard_of(episodes, dist.rank, dist.world_size) if placement == "shard" else episodes
    if placement == "host":  # memory-mapped from the run folder: one copy per node, whatever the ranks
        columns = _mapped_columns(episodes, model_config, run_dir / COLUMNS_DIR, dist)
        sampler = SegmentSampler(None, model_config, device, storage="cpu", columns=columns)
    else:
        sampler = SegmentSampler(local_episodes, model_config, device)  # validates the condition column
    if dist:
        dist.barrier()  # every rank has checked the folder before rank 0 writes to it
    if main:
        write_json(run_dir / CONFIG_FILE, run_config)

    torch.manual_seed(cfg.seed)
    model = PolicyModel(model_config)
    model.set_observation_stats(episodes.step_observations())
    model.to(device)
    # DDP's all-reduce stays outside a graph; host-kept data is cut outside the device
    use_graph = uses_cuda_graph(cfg, device) and dist is None and placement == "device"
    optimizer = make_optimizer(model, cfg, device, capturable=use_graph)
    generator = torch.Generator(device=sampler.device)
    generator.manual_seed(cfg.seed + 1)
    start = 0
    if resume and state_path.exists():
        start = load_train_state(state_path, model, optimizer, generator, f"run {run_dir}")
    step_fn = torch.compile(model.loss) if cfg.compile else model.loss
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.bf16 and device.type == "cuda")
    micro_batch = micro_batch_for(cfg, device, model_config)
    if dist:
        step_fn = _replicated_loss(model, device, dist, cfg.compile)
        micro_batch = 0  # one all-reduce per step, not per chunk
    graphed = None
    if use_graph:
        graphed = GraphedTrainStep(
            model, optimizer, sampler, cfg.batch_size, bf16=cfg.bf16, grad_clip=cfg.grad_clip, loss_fn=step_fn
        )

    from torch.utils.tensorboard import SummaryWriter
    from tqdm.auto import tqdm

    writer = SummaryWriter(str(run_dir / "tb"), purge_step=start if start else None) if main else None
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    bar = tqdm(
        total=cfg.steps,
        initial=start,
        desc=f"train {model_config.kind}",
        unit="step",
        disable=not (cfg.progress and main),
        mininterval=0.5,
    )
    model.train()
    loss_sum = torch.zeros((), device=device)
    sample_s = update_s = 0.0
    window_start = time.perf_counter()
    last_logged = start
    losses: list[float] = []
    for step in range(start, end):
        t0 = time.perf_counter()
        if graphed is not None:  # batch, forward, backward and AdamW in one replay
            t1 = t0
            loss = graphed(generator, lr_at(step, cfg))
        else:
            if placement == "shard":  # its share of the batch, from its own episodes
                batch = sampler.sample_own_share(cfg.batch_size, generator, shard)
            else:
                batch = sampler.sample(cfg.batch_size, generator, shard)
            t1 = time.perf_counter()
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, cfg)
            loss = update(model, optimizer, step_fn, batch, autocast, cfg.grad_clip, micro_batch)
        loss_sum += loss.detach()
        sample_s += t1 - t0
        update_s += time.perf_counter() - t1
        done = step + 1
        if done % cfg.log_every == 0 or done == end:
            n, last_logged = done - last_logged, done
            if dist:  # each rank's loss is weighted by its share: their sum / world is the batch's
                loss_sum = dist.sum(loss_sum) / dist.world_size
            mean_loss = float(loss_sum) / n  # the one GPU sync per log interval
            losses.append(mean_loss)
            elapsed = time.perf_counter() - window_start
            if writer is not None:
                writer.add_scalar("train/loss", mean_loss, done)
                writer.add_scalar("train/lr", lr_at(step, cfg), done)
                writer.add_scalar("speed/steps_per_s", n / max(elapsed, 1e-9), done)
                writer.add_scalar("speed/sample_fraction", sample_s / max(sample_s + update_s, 1e-9), done)
            bar.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)
            bar.update(n)
            loss_sum.zero_()
            sample_s = update_s = 0.0
            window_start = time.perf_counter()
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            if main:
                save_train_state(state_path, model, optimizer, generator, done)
                save_tensors(run_dir / MODEL_FILE, model.state_dict(), {"step": str(done)})
            if dist:
                dist.barrier()
    bar.close()
    if writer is not None:
        writer.close()
    if end == cfg.steps and main:
        write_json(run_dir / "train_summary.json", {"steps": cfg.steps, "final_loss": losses[-1] if losses else None})
    if end == cfg.steps and placement == "host":
        if dist:
            dist.barrier()  # every rank is done reading the mapped columns
        if dist is None or dist.local_rank == 0:
            shutil.rmtree(run_dir / COLUMNS_DIR, ignore_errors=True)
    return model.eval()


def data_placement(
    cfg: TrainConfig, episodes: Episodes, device: torch.device, dist: distributed.Distributed | None
) -> str:
    """``TrainConfig.data_placement`` resolved to device, host or shard."""
    choice = cfg.data_placement
    if choice not in ("auto", "device", "host", "shard"):
        raise JustAskError(f"unknown data placement '{choice}' (auto, device, host, shard)")
    if choice == "shard" and dist is None:
        raise JustAskError("data placement 'shard' splits the episodes across torchrun's processes; run under torchrun")
    if choice != "auto":
        return choice
    if device.type != "cuda":
        return "device"
    free, _ = torch.cuda.mem_get_info(device)
    return "device" if column_bytes(episodes) < free / 2 else "host"


def _mapped_columns(
    episodes: Episodes, config: ModelConfig, directory: Path, dist: distributed.Distributed | None
) -> dict[str, np.ndarray]:
    """The sampler's columns written to ``directory`` by one process per node (each node's local
    rank 0) and memory-mapped by every process. Rewritten at every start, so a resumed run maps
    the data it was given."""
    check_condition(episodes, config)  # on every rank, before any waits for the writer
    if dist is None or dist.local_rank == 0:
        write_store(step_columns(episodes, config), directory)
    if dist:
        dist.barrier()
    return open_store(directory)


def _replicated_loss(
    model: PolicyModel, device: torch.device, dist: distributed.Distributed, compile: bool = False
) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
    """The loss through DistributedDataParallel, weighted by this rank's share of the global
    batch's real steps (DDP averages gradients over ranks). ``compile``: the wrapped module goes
    through ``torch.compile``, which splits its graph at DDP's gradient buckets so the
    all-reduces still overlap the backward pass."""
    from torch.nn.parallel import DistributedDataParallel

    ddp = DistributedDataParallel(
        distributed.LossModule(model), device_ids=[device.index] if device.type == "cuda" else None
    )
    module = torch.compile(ddp) if compile else ddp

    def loss_fn(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        count = batch["mask"].sum().float()
        total = dist.sum(count.detach().clone())
        return module(batch, count * dist.world_size / total.clamp(min=1))

    return loss_fn


def update(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Any,
    batch: dict[str, torch.Tensor],
    autocast: Any,
    grad_clip: float,
    micro_batch: int = 0,
) -> torch.Tensor:
    """One gradient step on ``batch``: forward under ``autocast``, backward, clip, AdamW.

    ``micro_batch`` > 0: forward and backward in chunks of that many segments, each chunk's mean
    loss weighted by its share of the batch's real steps, so the gradient is the whole batch's
    (up to float summation order). On a CPU, chunks whose activations fit the caches run faster
    than one large batch."""
    optimizer.zero_grad(set_to_none=True)
    size = len(batch["mask"])
    if micro_batch <= 0 or micro_batch >= size:
        with autocast:
            loss = loss_fn(batch)
        loss.backward()
    else:
        total = batch["mask"].sum().clamp(min=1)
        loss = torch.zeros((), device=total.device)
        for start in range(0, size, micro_batch):
            chunk = {key: value[start : start + micro_batch] for key, value in batch.items()}
            with autocast:
                part = loss_fn(chunk) * (chunk["mask"].sum() / total)
            part.backward()
            loss += part.detach()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss


def micro_batch_for(cfg: TrainConfig, device: torch.device, model_config: ModelConfig) -> int:
    """``TrainConfig.micro_batch`` resolved: -1 is chunks of 64 segments for a DT on a CPU (its
    activations outgrow the caches at larger batches), else the whole batch (an MLP's segment is
    one step: chunking it only adds overhead)."""
    if cfg.micro_batch >= 0:
        return cfg.micro_batch
    return 64 if device.type == "cpu" and model_config.kind == "dt" else 0


def save_train_state(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator, step: int
) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value)
    tensors["rng.sampler"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    save_tensors(path, tensors, {"step": str(step)})


def load_train_state(
    path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator, what: str
) -> int:
    from safetensors import safe_open

    tensors = load_tensors(path, what)
    with safe_open(str(path), "pt") as f:
        step = int((f.metadata() or {}).get("step", -1))
    if step < 0:
        raise JustAskError(f"{what}: {path} has no step recorded")
    load_state_checked(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, f"{what}: {path.name}")
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    saved = optimizer.state_dict()
    saved["state"] = state
    try:
        optimizer.load_state_dict(saved)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise JustAskError(f"{what}: optimizer state does not match the model ({exc})") from exc
    generator.set_state(tensors["rng.sampler"].to(torch.uint8))
    torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
    return step


def count_parameters(model: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))
