"""Training and evaluation throughput, justask against d3rlpy's Decision Transformer, in one run.

    .venv/bin/python benchmarks/throughput.py --out benchmarks/results            # CPU here
    python benchmarks/throughput.py --out $OUT --device cuda --large --big-data   # on a GPU

Same data (LunarLander-v3 episodes from the demo's population), same model config (context 20,
3 layers, 128 dims, 1 head, (return, state, action) tokens, timestep embedding, no dropout,
AdamW, grad-norm clip 1.0) for both libraries. Per batch size it times the training step as each
library's own fit loop runs it — d3rlpy: ``dataset.sample_trajectory_batch`` + ``algo.update``
(``compile_graph`` off, and on where CUDA is present); justask: device-resident sampling + the
update (eager; bf16 and the whole step as one CUDA graph on CUDA) — and reports gradient
steps/s, samples/s, peak device memory and ours/d3rlpy ratios computed within the run.

Evaluation: ``--eval-episodes`` LunarLander episodes with justask's batched ``Agent`` (full
context, with its KV cache, and each with the envs stepped in two worker processes while it acts)
against d3rlpy's stateful DT wrapper stepping one env at a time.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from justask import Episodes, collect, return_to_go  # noqa: E402
from justask.asking import ask as ask_model  # noqa: E402
from justask.configs import TrainConfig  # noqa: E402
from justask.graphed_step import GraphedTrainStep  # noqa: E402
from justask.models import ModelConfig, PolicyModel  # noqa: E402
from justask.peers.d3rlpy_peer import import_d3rlpy, to_mdp_dataset  # noqa: E402
from justask.sampler import SegmentSampler  # noqa: E402
from justask.training import (  # noqa: E402
    count_parameters,
    make_optimizer,
    micro_batch_for,
    resolve_device,
    update,
)

ENV_ID = "LunarLander-v3"
CONTEXT, LAYERS, DIM, HEADS = 20, 3, 128, 1
LEARNING_RATE, GRAD_CLIP, WEIGHT_DECAY = 1e-4, 1.0, 1e-4
RETURN_SCALE = 100.0
MAX_TIMESTEP = 1001


# ---- data ------------------------------------------------------------------------------------
def lunarlander_data(episodes_per_policy: int, seed: int = 0) -> Episodes:
    from justask.suites.lunar_lander import demo_population

    data = collect(ENV_ID, demo_population(episodes_per_policy), num_envs=64, seed=seed, progress=False)
    return return_to_go(data, scale=RETURN_SCALE)


def tiled(episodes: Episodes, steps: int) -> Episodes:
    """``episodes`` repeated until they hold at least ``steps`` transitions (for the memory test)."""
    copies = -(-steps // episodes.num_steps)
    return episodes.select(np.tile(np.arange(episodes.num_episodes), copies))


# ---- timing ----------------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], Any], device: torch.device, warmup: int, seconds: float, max_steps: int) -> dict:
    """Run ``warmup`` steps, then steps until ``seconds`` have passed (checked every few steps, at
    least 5 steps, at most ``max_steps``); steps/s over the timed steps."""
    started = time.perf_counter()
    for _ in range(warmup):
        step()
    sync(device)
    warmup_s = time.perf_counter() - started
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    done, t0 = 0, time.perf_counter()
    check = 5
    while done < max_steps:
        for _ in range(check):
            step()
        done += check
        sync(device)
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            break
        check = max(5, min(max_steps - done, int(done / elapsed * (seconds - elapsed)) + 1)) if elapsed > 0 else check
    elapsed = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {
        "steps": done,
        "seconds": round(elapsed, 3),
        "warmup_s": round(warmup_s, 2),
        "steps_per_s": done / elapsed,
        "peak_memory_mib": None if peak is None else round(peak),
    }


# ---- justask ---------------------------------------------------------------------------------
def justask_model(data: Episodes, device: torch.device, **arch: Any) -> PolicyModel:
    arch = {
        "context_len": CONTEXT,
        "n_layer": LAYERS,
        "d_model": DIM,
        "n_head": HEADS,
        "max_timestep": MAX_TIMESTEP,
        **arch,
    }
    config = ModelConfig(kind="dt", condition_token=True, action_tokens=True, **arch)
    torch.manual_seed(0)
    model = PolicyModel.for_episodes(data, config, "return_to_go")
    model.set_observation_stats(data.step_observations())
    return model.to(device)


def justask_step(
    data: Episodes,
    device: torch.device,
    batch: int,
    mode: str,
    bf16: bool,
    micro_batch: int | None = None,
    **arch: Any,
) -> tuple[Callable[[], Any], PolicyModel]:
    """The training step as ``justask.training.train`` runs it: ``mode`` eager, compile
    (torch.compile of the loss), graph (the whole step as one CUDA graph) or compile+graph;
    eager steps in chunks of ``micro_batch`` segments (None: train's default for the device)."""
    model = justask_model(data, device, **arch).train()
    cfg = TrainConfig(batch_size=batch, learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY, grad_clip=GRAD_CLIP)
    graph = "graph" in mode
    optimizer = make_optimizer(model, cfg, device, capturable=graph)
    sampler = SegmentSampler(data, model.io, model.config.window, device)
    generator = torch.Generator(device=device)
    generator.manual_seed(1)
    loss_fn = torch.compile(model.loss) if "compile" in mode else model.loss
    if graph:
        graphed = GraphedTrainStep(model, optimizer, sampler, batch, bf16=bf16, grad_clip=GRAD_CLIP, loss_fn=loss_fn)
        return (lambda: graphed(generator, LEARNING_RATE)), model
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda")
    micro = micro_batch if micro_batch is not None else micro_batch_for(cfg, device, model.config)
    return (
        lambda: update(model, optimizer, loss_fn, sampler.sample(batch, generator), autocast, GRAD_CLIP, micro)
    ), model


# ---- d3rlpy ----------------------------------------------------------------------------------
def d3rlpy_dt(batch: int, device: torch.device, compile_graph: bool) -> Any:
    d3rlpy = import_d3rlpy()
    return d3rlpy.algos.DiscreteDecisionTransformerConfig(
        batch_size=batch,
        context_size=CONTEXT,
        num_layers=LAYERS,
        num_heads=HEADS,
        max_timestep=MAX_TIMESTEP,
        learning_rate=LEARNING_RATE,
        attn_dropout=0.0,
        resid_dropout=0.0,
        embed_dropout=0.0,
        activation_type="gelu",
        position_encoding_type=d3rlpy.PositionEncodingType.SIMPLE,
        encoder_factory=d3rlpy.models.VectorEncoderFactory(hidden_units=[DIM]),
        optim_factory=d3rlpy.optimizers.AdamWFactory(
            weight_decay=WEIGHT_DECAY, betas=(0.9, 0.95), clip_grad_norm=GRAD_CLIP
        ),
        observation_scaler=d3rlpy.preprocessing.StandardObservationScaler(),
        reward_scaler=d3rlpy.preprocessing.MultiplyRewardScaler(1 / RETURN_SCALE),
        compile_graph=compile_graph,
    ).create(device=str(device) if device.type == "cuda" else False)


def d3rlpy_step(dataset: Any, device: torch.device, batch: int, compile_graph: bool) -> tuple[Callable[[], Any], Any]:
    """d3rlpy's fit loop body: build the batch in Python, then ``update`` (which syncs for the loss)."""
    import_d3rlpy().seed(0)
    algo = d3rlpy_dt(batch, device, compile_graph)
    from d3rlpy.algos.utility import build_scalers_with_trajectory_slicer

    build_scalers_with_trajectory_slicer(algo, dataset)  # what ``fit`` does before its loop
    algo.build_with_dataset(dataset)

    def step() -> Any:
        return algo.update(dataset.sample_trajectory_batch(batch, length=CONTEXT))

    return step, algo


# ---- training benchmark ----------------------------------------------------------------------
def training_rows(args: argparse.Namespace, data: Episodes, device: torch.device) -> list[dict]:
    dataset = to_mdp_dataset(data)
    cuda = device.type == "cuda"
    ours_modes = [("graph", True), ("eager", True), ("eager", False)] if cuda else [("eager", False)]
    if args.compile:
        ours_modes += [("compile+graph", True)] if cuda else [("compile", False)]
    theirs = [False, True] if cuda else [False]
    rows = []
    for batch in args.batches:
        for compile_graph in theirs:
            label = f"d3rlpy DT, compile_graph={'on' if compile_graph else 'off'}"
            rows.append(
                _measure(
                    args,
                    device,
                    "d3rlpy",
                    label,
                    batch,
                    lambda b=batch, c=compile_graph: d3rlpy_step(dataset, device, b, c),
                )
            )
        default_micro = 64 if device.type == "cpu" else 0  # micro_batch_for's default for a DT
        for mode, bf16 in ours_modes:
            # eager on a CPU: train's default chunking and, where it chunks, the whole batch at once
            micros = [None, 0] if "graph" not in mode and 0 < default_micro < batch else [None]
            for micro in micros:
                chunks = default_micro if micro is None else micro
                label = f"justask DT, {mode}{', bf16' if bf16 and cuda else ', fp32'}"
                if "graph" not in mode and 0 < chunks < batch:
                    label += f", micro-batch {chunks}"
                rows.append(
                    _measure(
                        args,
                        device,
                        "justask",
                        label,
                        batch,
                        lambda b=batch, m=mode, f=bf16, c=micro: justask_step(data, device, b, m, f, c),
                    )
                )
    for batch in args.batches:
        best_theirs = max(
            (r for r in rows if r["library"] == "d3rlpy" and r["batch"] == batch and r.get("steps_per_s")),
            key=lambda r: r["steps_per_s"],
            default=None,
        )
        for r in rows:
            if r["library"] == "justask" and r["batch"] == batch and best_theirs and r.get("steps_per_s"):
                r["ratio_to_d3rlpy_best"] = round(r["steps_per_s"] / best_theirs["steps_per_s"], 2)
    return rows


def _measure(
    args: argparse.Namespace, device: torch.device, library: str, label: str, batch: int, build: Callable
) -> dict:
    row: dict[str, Any] = {"library": library, "config": label, "batch": batch}
    print(f"[throughput] {label}, batch {batch} ...", flush=True)
    try:
        t0 = time.perf_counter()
        step, model = build()
        row["build_s"] = round(time.perf_counter() - t0, 2)
        module = model if isinstance(model, torch.nn.Module) else model.impl.modules.transformer
        row["parameters"] = count_parameters(module)
        row.update(time_steps(step, device, args.warmup, args.seconds, args.max_steps))
        row["samples_per_s"] = row["steps_per_s"] * batch
        print(f"    {row['steps_per_s']:.1f} steps/s, {row['samples_per_s']:,.0f} samples/s", flush=True)
    except Exception as exc:  # a failed configuration is reported, not fatal to the rest of the run
        row["error"] = f"{type(exc).__name__}: {exc}"[:500]
        print(f"    failed: {row['error']}", flush=True)
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return row


# ---- the large model and the large dataset (GPU) ----------------------------------------------
def matmul_tflops(device: torch.device, size: int = 8192, repeats: int = 10) -> float:
    """The device's measured bf16 matrix-product rate (the MFU denominator)."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - t0) / 1e12


def training_flops_per_sample(model: PolicyModel) -> float:
    """Forward + backward FLOPs of one segment, as this implementation executes them: every
    block over all tokens except the last, which computes queries, attention, projection and MLP
    only at the state tokens (attention counted over the full square, as masked kernels run)."""
    c = model.config
    n = model.trunk.tokens_per_step
    d, t = c.d_model, c.context_len
    length = n * t - (1 if c.action_tokens else 0)
    full_block = 2 * 12 * d * d * length + 4 * length * length * d
    last_block = 2 * 2 * d * d * length + 2 * 10 * d * d * t + 4 * t * length * d
    head = 2 * d * c.action_dim * t
    return 3.0 * ((c.n_layer - 1) * full_block + last_block + head)


def large_model_rows(args: argparse.Namespace, data: Episodes, device: torch.device) -> dict:
    peak = matmul_tflops(device)
    rows = []
    modes = ["graph", "compile+graph"] if args.compile else ["graph"]
    for batch, mode in ((b, m) for b in args.large_batches for m in modes):
        row = _measure(
            args,
            device,
            "justask",
            f"justask DT 8L x 512, {mode}, bf16",
            batch,
            lambda b=batch, m=mode: justask_step(data, device, b, m, True, n_layer=8, d_model=512, n_head=8),
        )
        if "error" not in row:
            model = justask_model(data, "cpu", n_layer=8, d_model=512, n_head=8)
            flops = training_flops_per_sample(model) * row["samples_per_s"]
            row["model_tflops"] = round(flops / 1e12, 1)
            row["mfu"] = round(flops / 1e12 / peak, 3)
        rows.append(row)
    return {"measured_bf16_matmul_tflops": round(peak, 1), "rows": rows}


def big_data_row(args: argparse.Namespace, data: Episodes, device: torch.device) -> dict:
    big = tiled(data, args.big_data)
    torch.cuda.reset_peak_memory_stats(device)
    row = _measure(
        args,
        device,
        "justask",
        f"justask DT, graph, bf16, {big.num_steps:,} transitions on the device",
        2048,
        lambda: justask_step(big, device, 2048, "graph", True),
    )
    row["transitions"] = big.num_steps
    row["peak_memory_includes_data"] = True
    return row


# ---- evaluation benchmark --------------------------------------------------------------------
def evaluation_rows(args: argparse.Namespace, data: Episodes, device: torch.device) -> dict:
    """Both libraries' DTs, trained ``--eval-train-steps`` steps on the data, act in LunarLander:
    ours batched over ``--eval-envs`` envs (full context, then with the KV cache) for
    ``--eval-episodes`` episodes; d3rlpy's stateful wrapper one env at a time, for the same
    number of episodes or until ``--d3rlpy-eval-seconds`` have passed (then its time for the whole
    count is projected from its mean time per episode, and the report says so)."""
    import gymnasium as gym

    from justask.evaluation import evaluate

    ask = args.eval_return
    step, model = justask_step(data, device, 64, "graph" if device.type == "cuda" else "eager", True)
    for _ in range(args.eval_train_steps):
        step()
    model.eval()
    rows = []
    for kv_cache, overlap in ((False, False), (True, False), (False, True), (True, True)):
        times = []
        for _ in range(args.eval_repeats):  # the machine's noise is ±15%: the median of the repeats is kept
            agent = ask_model(model, return_to_go=ask, kv_cache=kv_cache)
            t0 = time.perf_counter()
            result = evaluate(
                ENV_ID,
                agent,
                episodes=args.eval_episodes,
                num_envs=args.eval_envs,
                seed=10_000,
                progress=False,
                overlap=overlap,
            )
            times.append(time.perf_counter() - t0)
        seconds = float(np.median(times))
        env_steps = int(result.lengths.sum())
        extras = [x for x, on in (("KV cache", kv_cache), ("envs stepped in 2 workers while it acts", overlap)) if on]
        rows.append(
            _eval_row(
                f"justask Agent, {args.eval_envs} envs batched" + "".join(f", {x}" for x in extras),
                result.returns,
                env_steps,
                seconds,
                args.eval_episodes,
            )
        )
        rows[-1]["seconds_each_repeat"] = [round(x, 1) for x in times]
        print(f"[throughput] eval {rows[-1]['config']}: {seconds:.1f} s (median of {times})", flush=True)

    d3_step, algo = d3rlpy_step(to_mdp_dataset(data), device, 64, False)
    for _ in range(args.eval_train_steps):
        d3_step()
    wrapper = algo.as_stateful_wrapper(target_return=ask)
    env = gym.make(ENV_ID)
    returns, env_steps = [], 0
    t0 = time.perf_counter()
    for episode in range(args.eval_episodes):
        observation, _ = env.reset(seed=10_000 + episode)
        wrapper.reset()
        reward, total, done = 0.0, 0.0, False
        while not done:
            action = wrapper.predict(observation, reward)
            observation, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            env_steps += 1
            done = terminated or truncated
        returns.append(total)
        if time.perf_counter() - t0 > args.d3rlpy_eval_seconds:
            break
    seconds = time.perf_counter() - t0
    rows.append(
        _eval_row("d3rlpy stateful DT wrapper, one env", np.array(returns), env_steps, seconds, args.eval_episodes)
    )
    print(f"[throughput] eval d3rlpy: {len(returns)} episodes in {seconds:.1f} s", flush=True)
    theirs = rows[-1]
    for row in rows[:-1]:
        row["env_steps_per_s_ratio"] = round(row["env_steps_per_s"] / theirs["env_steps_per_s"], 1)
        row["episodes_per_s_ratio"] = round(row["episodes_per_s"] / theirs["episodes_per_s"], 1)
    return {"asked_return": ask, "train_steps": args.eval_train_steps, "rows": rows}


def _eval_row(label: str, returns: np.ndarray, env_steps: int, seconds: float, wanted: int) -> dict:
    episodes = len(returns)
    return {
        "config": label,
        "episodes": episodes,
        "env_steps": env_steps,
        "seconds": round(seconds, 1),
        "episodes_per_s": episodes / seconds,
        "env_steps_per_s": env_steps / seconds,
        "mean_episode_length": env_steps / max(1, episodes),
        "mean_return": float(np.mean(returns)),
        "seconds_for_requested_episodes": round(seconds * wanted / episodes, 1),
        "projected": episodes < wanted,
    }


# ---- report ----------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{max(digits, 2) if abs(value) < 1 else digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _training_table(rows: list[dict], with_mfu: bool = False) -> list[str]:
    head = "| config | batch | parameters | steps/s | samples/s | peak MiB | ours / d3rlpy best |"
    sep = "|---|---|---|---|---|---|---|"
    if with_mfu:
        head, sep = head.replace(" ours / d3rlpy best |", " model TFLOP/s | MFU |"), sep + "---|"
    lines = [head, sep]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['config']} | {r['batch']} | failed: {r['error'][:120]} |")
            continue
        last = (
            f" {_fmt(r.get('model_tflops'))} | {_fmt(r.get('mfu'), 3)} |"
            if with_mfu
            else f" {_fmt(r.get('ratio_to_d3rlpy_best'), 2)} |"
        )
        lines.append(
            f"| {r['config']} | {r['batch']} | {_fmt(r.get('parameters'))} | {_fmt(r['steps_per_s'])} | "
            f"{_fmt(r['samples_per_s'], 0)} | {_fmt(r.get('peak_memory_mib'))} |{last}"
        )
    return lines


def markdown(report: dict) -> str:
    lines = [
        f"# Throughput: justask vs d3rlpy {report['d3rlpy']} — {report['device_name']} ({report['device']})",
        "",
        f"Command: `{report['command']}` (torch {report['torch']}, {report['cpu_threads']} CPU threads; "
        f"{report['total_s']:.0f} s). Data: {report['data']['episodes']} {report['data']['env_id']} episodes, "
        f"{report['data']['steps']:,} steps, from the demo's population. Model for both: context "
        f"{report['config']['context']}, {report['config']['layers']} layers, {report['config']['d_model']} dims, "
        f"{report['config']['heads']} head, (return, state, action) tokens, no dropout, AdamW, clip "
        f"{report['config']['grad_clip']}.",
        "",
    ]
    if "training" in report:
        lines += ["## Training step (each library's own loop: batch + update)", ""]
        lines += _training_table(report["training"])
        lines += [""]
    if "large_model" in report:
        lm = report["large_model"]
        lines += [
            f"## ~25M-parameter DT (8 layers x 512, 8 heads, context 20); measured bf16 matmul peak {lm['measured_bf16_matmul_tflops']} TFLOP/s",
            "",
        ]
        lines += _training_table(lm["rows"], with_mfu=True) + [""]
    if "big_data" in report:
        r = report["big_data"]
        lines += ["## A large dataset kept on the device", ""]
        lines += _training_table([r]) + [""]
    if "evaluation" in report:
        ev = report["evaluation"]
        lines += [
            f"## Evaluation: LunarLander episodes, DTs trained {ev['train_steps']} steps, asked for {ev['asked_return']:g}",
            "",
            "| acting | episodes | env steps | seconds | env steps/s | mean length | mean return | s for all asked episodes | ratio to d3rlpy (env steps/s) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in ev["rows"]:
            projected = " (projected)" if r["projected"] else ""
            each = r.get("seconds_each_repeat") or []
            seconds = f"{r['seconds']} (median of {', '.join(map(str, each))})" if len(each) > 1 else f"{r['seconds']}"
            lines.append(
                f"| {r['config']} | {r['episodes']} | {r['env_steps']:,} | {seconds} | {r['env_steps_per_s']:,.0f} | "
                f"{r['mean_episode_length']:.0f} | {r['mean_return']:.1f} | {r['seconds_for_requested_episodes']}{projected} | "
                f"{_fmt(r.get('env_steps_per_s_ratio'))} |"
            )
        lines += [""]
    return "\n".join(lines) + "\n"


def plot_training(report: dict, path: Path) -> None:
    """Samples/s per configuration and batch size, d3rlpy's bars grey, ours blue."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.get("training", []) if r.get("samples_per_s")]
    if not rows:
        return
    batches = sorted({r["batch"] for r in rows})
    fig, axes = plt.subplots(1, len(batches), figsize=(6 * len(batches), 4.2), squeeze=False)
    for ax, batch in zip(axes[0], batches, strict=True):
        mine = [r for r in rows if r["batch"] == batch]
        colors = ["#999999" if r["library"] == "d3rlpy" else "#1f77b4" for r in mine]
        ax.barh([r["config"] for r in mine], [r["samples_per_s"] for r in mine], color=colors)
        ax.invert_yaxis()
        ax.set_xlabel("samples/s")
        ax.set_xlim(0, 1.18 * max(r["samples_per_s"] for r in mine))
        ax.set_title(f"batch {batch}")
        for y, r in enumerate(mine):
            ax.text(r["samples_per_s"], y, f" {r['samples_per_s']:,.0f}", va="center", fontsize=8)
    fig.suptitle(f"Training throughput, justask (blue) vs d3rlpy (grey) — {report['device_name']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_evaluation(report: dict, path: Path) -> None:
    """Env steps/s per way of acting, d3rlpy's bar grey, ours blue (an evaluation-only run's plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (report.get("evaluation") or {}).get("rows") or []
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(12, 0.6 * len(rows) + 1.6))
    colors = ["#999999" if r["config"].startswith("d3rlpy") else "#1f77b4" for r in rows]
    ax.barh([r["config"] for r in rows], [r["env_steps_per_s"] for r in rows], color=colors)
    ax.invert_yaxis()
    ax.set_xlabel("env steps/s")
    for y, r in enumerate(rows):
        ratio = f" ({r['env_steps_per_s_ratio']}x d3rlpy)" if r.get("env_steps_per_s_ratio") else ""
        ax.text(r["env_steps_per_s"], y, f" {r['env_steps_per_s']:,.0f}{ratio}", va="center", fontsize=8)
    ax.set_xlim(0, 1.6 * max(r["env_steps_per_s"] for r in rows))
    ax.set_title("Acting in LunarLander: justask (blue) vs d3rlpy (grey), in one run", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot(report: dict, path: Path) -> None:
    """The training plot, or for a run without training (``--skip-training``) the evaluation's."""
    if report.get("training"):
        plot_training(report, path)
    else:
        plot_evaluation(report, path)


def rewrite_markdown(json_path: Path) -> None:
    """Re-render a results JSON's Markdown and plot (after a change to the report's layout)."""
    report = json.loads(json_path.read_text())
    json_path.with_suffix(".md").write_text(markdown(report))
    plot(report, json_path.with_suffix(".png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "results"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 2048])
    parser.add_argument("--episodes-per-policy", type=int, default=30, help="data: episodes per demo policy")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per configuration")
    parser.add_argument("--max-steps", type=int, default=5000)
    parser.add_argument("--compile", action="store_true", help="also torch.compile our loss")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: its default)")
    parser.add_argument("--large", action="store_true", help="CUDA: also the ~25M-parameter DT, with MFU")
    parser.add_argument("--large-batches", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--big-data", type=int, default=0, help="CUDA: also train on this many transitions (tiled)")
    parser.add_argument("--eval-episodes", type=int, default=1000, help="evaluation episodes (0: skip)")
    parser.add_argument("--eval-envs", type=int, default=250, help="envs our batched Agent steps together")
    parser.add_argument(
        "--eval-repeats", type=int, default=1, help="time each of our ways of acting this often (median kept)"
    )
    parser.add_argument("--eval-train-steps", type=int, default=300, help="training steps before acting")
    parser.add_argument("--eval-return", type=float, default=200.0, help="asked return while acting")
    parser.add_argument("--d3rlpy-eval-seconds", type=float, default=180.0, help="time cap for d3rlpy's episode loop")
    parser.add_argument("--skip-training", action="store_true", help="only the evaluation benchmark")
    parser.add_argument("--name", default="", help="results file stem (default throughput_<device>)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    started = time.perf_counter()
    data = lunarlander_data(args.episodes_per_policy)
    report: dict[str, Any] = {
        "command": "python benchmarks/throughput.py " + " ".join(sys.argv[1:]),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "d3rlpy": import_d3rlpy().__version__,
        "data": {"env_id": ENV_ID, "episodes": data.num_episodes, "steps": data.num_steps},
        "config": {
            "context": CONTEXT,
            "layers": LAYERS,
            "d_model": DIM,
            "heads": HEADS,
            "learning_rate": LEARNING_RATE,
            "grad_clip": GRAD_CLIP,
        },
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.name or f"throughput_{device.type}"

    def save() -> None:  # after every section, so a run cut short keeps what it measured
        report["total_s"] = round(time.perf_counter() - started, 1)
        (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / f"{stem}.md").write_text(markdown(report))
        plot(report, out / f"{stem}.png")

    sections = [
        ("training", not args.skip_training, training_rows),
        ("large_model", args.large and device.type == "cuda", large_model_rows),
        ("big_data", bool(args.big_data) and device.type == "cuda", big_data_row),
        ("evaluation", bool(args.eval_episodes), evaluation_rows),
    ]
    for key, wanted, run in sections:
        if wanted:
            report[key] = run(args, data, device)
            save()
    print(markdown(report))


if __name__ == "__main__":
    main()
