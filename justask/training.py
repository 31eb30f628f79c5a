"""The one training loop, for every learner: a policy, a task posterior, a reward ranker, ...

A *learner* says what is learned and from what: it builds the module (which has ``loss(batch)``)
and a sampler whose ``draw`` makes a batch's random numbers (fixed shapes, the same on every rank)
and whose ``gather`` turns them into the batch. ``fit`` does the rest, the same for all of them,
top to bottom like nanoGPT's loop: batch -> forward/loss -> backward -> clip -> step, with
TensorBoard scalars, a progress bar and atomic checkpoints at intervals; ``resume=True`` continues
a killed run and reaches the same weights. Switches on that one loop: bf16 autocast and the whole
step as one CUDA graph on CUDA (``graphed_step``), ``torch.compile``, micro-batches on a CPU, and
DistributedDataParallel under torchrun (``justask.distributed``).

``train(episodes, ModelConfig(...), TrainConfig(...), run_dir, condition=...)`` is the policy
learner's entry point.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from justask import __version__, cpu_math, distributed
from justask.checkpoint import (
    CONFIG_FILE,
    MODEL_FILE,
    TRAIN_STATE_FILE,
    load_state_checked,
    load_tensors,
    read_json,
    save_tensors,
    write_json,
)
from justask.column_store import check_condition, open_store, step_columns, write_store
from justask.configs import TrainConfig
from justask.episodes import Episodes
from justask.errors import JustAskError
from justask.graphed_step import GraphedTrainStep
from justask.models.config import ModelConfig, PolicyIO
from justask.models.policy import PolicyModel
from justask.models.saved import RUN_KIND
from justask.prompt_sampler import PROMPT_KEYS, PromptSampler
from justask.sampler import SegmentSampler, column_bytes, shard_of

COLUMNS_DIR = "columns"  # host-placed data, memory-mapped during training (removed at the end)
Batch = dict[str, torch.Tensor]


class Sampler(Protocol):
    device: torch.device  # where ``draw`` runs (the generator's device)

    def draw(self, batch_size: int, generator: torch.Generator) -> Batch:
        """A batch's random numbers, fixed shapes ``(batch_size, ...)``."""
        ...

    def gather(self, draws: Batch) -> Batch:
        """The batch those numbers pick (any slice of them: a rank's share), on the training device."""
        ...


@dataclasses.dataclass
class Placement:
    """Where a learner's sampler may keep its data."""

    device: torch.device  # the training device
    dist: distributed.Distributed | None  # under torchrun
    run_dir: Path
    choice: str  # TrainConfig.data_placement


class Learner(Protocol):
    run_kind: str  # what config.json's run_kind says

    def describe(self) -> dict[str, Any]:
        """The config.json sections that say what is learned (a resume must match them)."""
        ...

    def build(self) -> torch.nn.Module:
        """The module to train (it has ``loss(batch) -> loss`` or ``(loss, {metric: value})``)."""
        ...

    def sampler(self, placement: Placement) -> Sampler: ...

    def weight(self, batch: Batch) -> torch.Tensor:
        """How much of the loss a batch carries (rows, or real steps): splitting a batch into
        chunks (micro-batches, ranks) weights each chunk's mean loss by its share."""
        ...


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise JustAskError(f"device '{device}' asked for, but CUDA is not available")
    return dev


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.learning_rate
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


# ---- the policy learner ------------------------------------------------------------------------
@dataclasses.dataclass
class PolicyLearner:
    """p(action | history, condition) fitted to ``episodes`` by maximum likelihood."""

    episodes: Episodes
    model: ModelConfig
    io: PolicyIO
    dataset: str | None = None  # where the episodes came from (recorded)
    run_kind: str = RUN_KIND

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model.to_json(),
            "io": self.io.to_json(),
            "dataset": self.dataset,
            "env_id": self.episodes.env_id,
        }

    def build(self) -> PolicyModel:
        model = PolicyModel(self.model, self.io)
        model.set_observation_stats(self.episodes.step_observations())
        return model

    def sampler(self, placement: Placement) -> SegmentSampler | PromptSampler:
        if self.io.condition is not None and self.io.condition.is_prompt:
            if placement.dist is not None:
                raise JustAskError("a model told prompts trains in one process (not under torchrun yet)")
            if self.model.condition_dropout:
                raise JustAskError(
                    "a model told prompts learns the policy asked nothing from its empty prompts: "
                    "train it without condition dropout"
                )
            return PromptSampler(self.episodes, self.io, self.model.window, placement.device)
        where = data_placement(placement.choice, self.episodes, placement.device, placement.dist)
        context = self.model.window
        dist = placement.dist
        dropout = self.model.condition_dropout if self.io.condition is not None else 0.0
        if where == "host":  # memory-mapped from the run folder: one copy per node, whatever the ranks
            columns = _mapped_columns(self.episodes, self.io, placement.run_dir / COLUMNS_DIR, dist)
            return SegmentSampler(
                None, self.io, context, placement.device, storage="cpu", columns=columns, condition_dropout=dropout
            )
        if where == "shard":
            own = shard_of(self.episodes, dist.rank, dist.world_size)
            return SegmentSampler(own, self.io, context, placement.device, own_share=True, condition_dropout=dropout)
        # validates the columns
        return SegmentSampler(self.episodes, self.io, context, placement.device, condition_dropout=dropout)

    def weight(self, batch: Batch) -> torch.Tensor:
        return batch["mask"].sum()


def train(
    episodes: Episodes,
    model: ModelConfig | str,
    train_config: TrainConfig,
    run_dir: str | Path,
    *,
    condition: str | None = None,
    target: str | None = None,
    resume: bool = False,
    dataset: str | None = None,
    stop_at: int | None = None,
) -> PolicyModel:
    """Fit a policy model to ``episodes``, conditioned on column ``condition`` (None: behaviour
    cloning), learning the actions in column ``target`` instead of the executed ones when given.
    ``model``: a ``ModelConfig`` or just its kind (``"dt"``, ``"mlp"``). See ``fit``."""
    config = ModelConfig(kind=model) if isinstance(model, str) else model
    io = PolicyIO.from_episodes(episodes, condition, target, config.max_timestep)
    return fit(PolicyLearner(episodes, config, io, dataset), train_config, run_dir, resume=resume, stop_at=stop_at)


# ---- the loop -----------------------------------------------------------------------------------
def fit(
    learner: Learner,
    train_config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    stop_at: int | None = None,
) -> Any:
    """Train ``learner``'s module; the run folder gets config, weights, TensorBoard logs and a
    resumable train state. ``resume=True`` continues from ``train_state.safetensors`` and reaches
    the same weights as an uninterrupted run. ``stop_at`` ends the loop after that step as if the
    run were killed there (tests, time-sliced training). Launched by ``torchrun``, each process
    trains a DistributedDataParallel replica on its share of every global batch; rank 0 alone
    writes the run folder."""
    run_dir = Path(run_dir)
    dist = distributed.join(train_config.device, train_config.dist_timeout_s)
    try:
        return _fit(learner, train_config, run_dir, resume, stop_at, dist)
    finally:
        if dist is not None:
            distributed.leave()


def _fit(
    learner: Learner,
    cfg: TrainConfig,
    run_dir: Path,
    resume: bool,
    stop_at: int | None,
    dist: distributed.Distributed | None,
) -> Any:
    main = dist is None or dist.is_main
    device = dist.device(cfg.device) if dist else resolve_device(cfg.device)
    shard = dist.shard(cfg.batch_size) if dist else None
    threads = cfg.threads if cfg.threads > 0 else (cpu_math.training_threads() if device.type == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
    described = learner.describe()
    run_config = {
        "run_kind": learner.run_kind,
        "justask_version": __version__,
        **described,
        "train": dataclasses.asdict(cfg),
        "cpu_math": cpu_math.state(),
    }
    state_path = run_dir / TRAIN_STATE_FILE
    if (run_dir / CONFIG_FILE).exists():
        if not resume:
            raise JustAskError(
                f"run folder {run_dir} already holds a run (pass --resume to continue it, or a new --run)"
            )
        _check_resumable(run_dir, learner.run_kind, described, cfg)
        if not state_path.exists():
            raise JustAskError(
                f"cannot resume {run_dir}: its {TRAIN_STATE_FILE} is missing (the run never checkpointed)"
            )
    elif resume:
        raise JustAskError(f"nothing to resume: {run_dir / CONFIG_FILE} not found")
    sampler = learner.sampler(Placement(device, dist, run_dir, cfg.data_placement))
    if dist:
        dist.barrier()  # every rank has checked the folder before rank 0 writes to it
    if main:
        write_json(run_dir / CONFIG_FILE, run_config)

    torch.manual_seed(cfg.seed)
    model = learner.build().to(device)
    # DDP's all-reduce stays outside a graph; so do samplers that cut batches on the host
    use_graph = uses_cuda_graph(cfg, device) and dist is None and sampler.device == device
    optimizer = make_optimizer(model, cfg, device, capturable=use_graph)
    generator = torch.Generator(device=sampler.device)
    generator.manual_seed(cfg.seed + 1)
    start = 0
    if resume:
        start = load_train_state(state_path, model, optimizer, generator, f"run {run_dir}")
    step_fn: Callable[[Batch], Any] = torch.compile(model.loss) if cfg.compile else model.loss
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.bf16 and device.type == "cuda")
    micro_batch = micro_batch_for(cfg, device, getattr(learner, "model", None))
    if dist:
        step_fn = _replicated_loss(model, learner.weight, dist, device, cfg.compile)
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
        desc=f"train {getattr(getattr(learner, 'model', None), 'kind', learner.run_kind)}",
        unit="step",
        disable=not (cfg.progress and main),
        mininterval=0.5,
    )
    model.train()
    sums: dict[str, torch.Tensor] = {}
    sample_s = update_s = 0.0
    window_start = time.perf_counter()
    last_logged = start
    logged: dict[str, float] = {}
    for step in range(start, end):
        t0 = time.perf_counter()
        if graphed is not None:  # batch, forward, backward and AdamW in one replay
            t1 = t0
            values = graphed(generator, lr_at(step, cfg))
        else:
            draws = sampler.draw(cfg.batch_size, generator)
            if shard is not None:  # every rank drew the global batch; it cuts its own share
                draws = {key: value[shard] for key, value in draws.items()}
            batch = sampler.gather(draws)
            t1 = time.perf_counter()
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, cfg)
            values = update(model, optimizer, step_fn, batch, autocast, cfg.grad_clip, micro_batch, learner.weight)
        for key, value in values.items():
            sums[key] = sums[key] + value.detach() if key in sums else value.detach().clone()
        sample_s += t1 - t0
        update_s += time.perf_counter() - t1
        done = step + 1
        if done % cfg.log_every == 0 or done == end:
            n, last_logged = done - last_logged, done
            if dist:  # each rank's loss is weighted by its share: their sum / world is the batch's
                sums = {key: dist.sum(value) / dist.world_size for key, value in sums.items()}
            logged = {key: float(value) / n for key, value in sums.items()}  # the one sync per interval
            elapsed = time.perf_counter() - window_start
            if writer is not None:
                for key, value in logged.items():
                    writer.add_scalar(f"train/{key}", value, done)
                writer.add_scalar("train/lr", lr_at(step, cfg), done)
                writer.add_scalar("speed/steps_per_s", n / max(elapsed, 1e-9), done)
                writer.add_scalar("speed/sample_fraction", sample_s / max(sample_s + update_s, 1e-9), done)
            bar.set_postfix(loss=f"{logged['loss']:.4f}", refresh=False)
            bar.update(n)
            sums = {}
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
        write_json(
            run_dir / "train_summary.json",
            {"steps": cfg.steps, "final_loss": logged.get("loss"), "final": logged or None},
        )
    if end == cfg.steps and (run_dir / COLUMNS_DIR).exists():
        if dist:
            dist.barrier()  # every rank is done reading the mapped columns
        if dist is None or dist.local_rank == 0:
            shutil.rmtree(run_dir / COLUMNS_DIR, ignore_errors=True)
    return model.eval()


def _check_resumable(run_dir: Path, run_kind: str, described: dict[str, Any], cfg: TrainConfig) -> None:
    """A resume continues the same run: same kind, same learner, same training settings (a new
    ``steps`` to train further is allowed, and so are settings that change how, not what, it
    computes: device, threads, logging, progress)."""
    saved = read_json(run_dir / CONFIG_FILE, f"run {run_dir}")
    if saved.get("run_kind") != run_kind:
        raise JustAskError(f"{run_dir} is a '{saved.get('run_kind')}' run, not a '{run_kind}' run")
    for section, value in described.items():
        if section in ("dataset",):
            continue
        if saved.get(section) != json.loads(json.dumps(value)):
            raise JustAskError(f"cannot resume {run_dir}: its checkpoint is from a different {section} config")
    how = {
        "device",
        "threads",
        "log_every",
        "checkpoint_every",
        "progress",
        "steps",
        "dist_timeout_s",
        "data_placement",
    }
    old = saved.get("train") or {}
    new = dataclasses.asdict(cfg)
    changed = sorted(k for k in new if k not in how and k in old and old[k] != new[k])
    if changed:
        k = changed[0]
        raise JustAskError(
            f"cannot resume {run_dir} with another {k} ({old[k]!r} -> {new[k]!r}): a resume continues "
            "the same run; start a new run folder to train differently"
        )


def data_placement(choice: str, episodes: Episodes, device: torch.device, dist: distributed.Distributed | None) -> str:
    """``TrainConfig.data_placement`` resolved to device, host or shard."""
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
    episodes: Episodes, io: PolicyIO, directory: Path, dist: distributed.Distributed | None
) -> dict[str, np.ndarray]:
    """The sampler's columns written to ``directory`` by one process per node (each node's local
    rank 0) and memory-mapped by every process. Rewritten at every start, so a resumed run maps
    the data it was given."""
    check_condition(episodes, io)  # on every rank, before any waits for the writer
    if dist is None or dist.local_rank == 0:
        write_store(step_columns(episodes, io), directory)
    if dist:
        dist.barrier()
    return open_store(directory)


def _replicated_loss(
    model: torch.nn.Module,
    weight: Callable[[Batch], torch.Tensor],
    dist: distributed.Distributed,
    device: torch.device,
    compile: bool = False,
) -> Callable[[Batch], Any]:
    """The loss through DistributedDataParallel, weighted by this rank's share of the global
    batch (DDP averages gradients over ranks). ``compile``: the wrapped module goes through
    ``torch.compile``, which splits its graph at DDP's gradient buckets so the all-reduces still
    overlap the backward pass."""
    from torch.nn.parallel import DistributedDataParallel

    ddp = DistributedDataParallel(
        distributed.LossModule(model), device_ids=[device.index] if device.type == "cuda" else None
    )
    module = torch.compile(ddp) if compile else ddp

    def loss_fn(batch: Batch) -> Any:
        count = weight(batch).float()
        total = dist.sum(count.detach().clone())
        return module(batch, count * dist.world_size / total.clamp(min=1))

    return loss_fn


def split_loss(output: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A module's ``loss`` output -> (loss, metrics)."""
    if isinstance(output, tuple):
        return output[0], dict(output[1])
    return output, {}


def update(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Batch], Any],
    batch: Batch,
    autocast: Any,
    grad_clip: float,
    micro_batch: int = 0,
    weight: Callable[[Batch], torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """One gradient step on ``batch``: forward under ``autocast``, backward, clip, AdamW. Returns
    the loss and the module's metrics (detached tensors).

    ``micro_batch`` > 0: forward and backward in chunks of that many rows, each chunk's mean loss
    weighted by its share of the batch (``weight``: real steps for a policy), so the gradient is
    the whole batch's (up to float summation order). On a CPU, chunks whose activations fit the
    caches run faster than one large batch."""
    optimizer.zero_grad(set_to_none=True)
    size = len(next(iter(batch.values())))
    if micro_batch <= 0 or micro_batch >= size:
        with autocast:
            loss, metrics = split_loss(loss_fn(batch))
        loss.backward()
        values = {"loss": loss.detach(), **{k: v.detach() for k, v in metrics.items()}}
    else:
        weigh = weight or default_weight
        total = weigh(batch).clamp(min=1)
        values = {}
        for start in range(0, size, micro_batch):
            # a prompt's rows are shared by the batch's segments: every chunk gets them whole
            chunk = {
                key: value if key in PROMPT_KEYS else value[start : start + micro_batch] for key, value in batch.items()
            }
            share = weigh(chunk) / total
            with autocast:
                part, metrics = split_loss(loss_fn(chunk))
            (part * share).backward()
            for key, value in {"loss": part, **metrics}.items():
                values[key] = values.get(key, 0.0) + value.detach() * share
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return values


def default_weight(batch: Batch) -> torch.Tensor:
    """A batch's real steps (its mask) or, without a mask, its rows."""
    if "mask" in batch:
        return batch["mask"].sum()
    return torch.tensor(float(len(next(iter(batch.values())))))


def micro_batch_for(cfg: TrainConfig, device: torch.device, model_config: ModelConfig | None) -> int:
    """``TrainConfig.micro_batch`` resolved: -1 is chunks of 64 segments for a DT on a CPU (its
    activations outgrow the caches at larger batches), else the whole batch (an MLP's segment is
    one step: chunking it only adds overhead)."""
    if cfg.micro_batch >= 0:
        return cfg.micro_batch
    kind = getattr(model_config, "kind", None)
    return 64 if device.type == "cpu" and kind == "dt" else 0


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
    """Restore a train state; a damaged one is a ``JustAskError`` naming what is wrong."""
    from safetensors import safe_open

    tensors = load_tensors(path, what)
    try:
        with safe_open(str(path), "pt") as f:
            raw_step = (f.metadata() or {}).get("step", "")
        step = int(raw_step)
    except (ValueError, TypeError):
        raise JustAskError(f"{what}: {path.name} records no valid step") from None
    if step < 0:
        raise JustAskError(f"{what}: {path.name} records a negative step")
    load_state_checked(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, f"{what}: {path.name}")
    state: dict[int, dict[str, torch.Tensor]] = {}
    try:
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        saved = optimizer.state_dict()
        saved["state"] = state
        _check_optimizer_state(optimizer, state)
        optimizer.load_state_dict(saved)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise JustAskError(f"{what}: the optimizer state does not match the model ({exc})") from exc
    for key, target in (("rng.sampler", generator), ("rng.torch", None)):
        if key not in tensors:
            raise JustAskError(f"{what}: {path.name} has no '{key}' random state")
        try:
            value = tensors[key].to(torch.uint8)
            if target is None:
                torch.set_rng_state(value)
            else:
                target.set_state(value)
        except (RuntimeError, ValueError) as exc:
            raise JustAskError(f"{what}: {path.name}'s '{key}' random state is damaged ({exc})") from exc
    return step


def _check_optimizer_state(optimizer: torch.optim.Optimizer, state: dict[int, dict[str, torch.Tensor]]) -> None:
    """Every saved moment has its parameter's shape (``load_state_dict`` would take it and fail
    later, in the middle of a step)."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, entries in state.items():
        if index >= len(params):
            raise ValueError(f"state for parameter {index}, the model has {len(params)}")
        for name, value in entries.items():
            if name in ("exp_avg", "exp_avg_sq") and tuple(value.shape) != tuple(params[index].shape):
                raise ValueError(
                    f"'{name}' of parameter {index} has shape {tuple(value.shape)}, expected {tuple(params[index].shape)}"
                )


def count_parameters(model: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))
