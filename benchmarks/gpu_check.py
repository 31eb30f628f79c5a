"""The foundation's CUDA path, checked end to end, with training speeds; writes JSON + Markdown.

    python benchmarks/gpu_check.py --out benchmarks/results          # on a machine with a GPU
    python benchmarks/gpu_check.py --out /tmp/gpu-check --smoke      # tiny sizes, any device

What it checks on the device it finds (cuda if present):
1. collect → return-to-go → train (device-resident batches, bf16 autocast, fused AdamW) →
   ask → evaluate, on CartPole-v1 (pure Python physics, so it runs where Box2D is not installed),
   for a DT and an RvS MLP, with BC beside them;
2. kill-and-resume on the device: a run stopped half-way and resumed against an uninterrupted one
   (largest weight difference; CUDA kernels may differ in the last bits, so it is reported);
3. the batched Agent on the device picks the same actions as one Agent per env;
4. gradient steps/s and samples/s of the training step (sample, forward, backward, AdamW) for the
   demo's DT, the standard DT config (context 20, 3 layers, 128 dims) at batch 64 and 2048, and a
   ~25M-parameter DT, with peak device memory.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from justask import Episodes, ModelConfig, ask, collect, evaluate, return_to_go, train  # noqa: E402
from justask.configs import TrainConfig  # noqa: E402
from justask.policies import RandomPolicy, noisy  # noqa: E402
from justask.sampler import SegmentSampler  # noqa: E402
from justask.training import make_optimizer, resolve_device, update  # noqa: E402


class CartPoleBalancer:
    """Push toward the side the pole falls to (angle + angular velocity): balances for 500 steps."""

    name = "balancer"
    info = {"gain": 1.0}

    def act(self, observations: np.ndarray, slots: np.ndarray) -> np.ndarray:
        return (observations[:, 2] + 0.5 * observations[:, 3] > 0).astype(np.int64)


def end_to_end(device: str, smoke: bool, workdir: Path) -> dict:
    n = 20 if smoke else 150
    import gymnasium as gym

    space = gym.spaces.Discrete(2)
    population = [
        (noisy(CartPoleBalancer(), 0.5, space, name="balancer-eps0.5"), n),
        (noisy(CartPoleBalancer(), 0.75, space, name="balancer-eps0.75"), n),
        (RandomPolicy(space), n),
    ]
    t0 = time.perf_counter()
    data = collect("CartPole-v1", population, num_envs=64, seed=0, progress=False)
    data = return_to_go(data, scale=100)
    collect_s = time.perf_counter() - t0
    returns = data.returns()
    out: dict = {
        "dataset": {
            "episodes": data.num_episodes,
            "steps": data.num_steps,
            "return_mean": float(returns.mean()),
            "return_max": float(returns.max()),
            "collect_s": round(collect_s, 1),
        },
        "agents": [],
    }
    steps = 200 if smoke else 3000
    eval_episodes = 20 if smoke else 300
    for kind, condition, arch in (
        (
            "dt",
            "return_to_go",
            {"context_len": 10, "n_layer": 2, "d_model": 64, "condition_token": False, "action_tokens": False},
        ),
        ("mlp", "return_to_go", {}),
        ("mlp", None, {}),
    ):
        name = f"{kind}-{condition or 'bc'}"
        cfg = TrainConfig(steps=steps, batch_size=64 if kind == "dt" else 256, device=device, progress=False)
        t0 = time.perf_counter()
        model = train(data, ModelConfig(kind=kind, **arch), cfg, workdir / name, condition=condition)
        train_s = time.perf_counter() - t0
        spec = model.io.condition
        asks = [None] if spec is None else [float(spec.best[0]), 100.0, 500.0]
        for asked in asks:
            agent = ask(model) if asked is None else ask(model, return_to_go=asked)
            t0 = time.perf_counter()
            result = evaluate("CartPole-v1", agent, episodes=eval_episodes, num_envs=eval_episodes, progress=False)
            out["agents"].append(
                {
                    "name": name,
                    "device": str(next(model.parameters()).device),
                    "asked": asked,
                    "train_steps": steps,
                    "train_s": round(train_s, 1),
                    "eval_episodes": eval_episodes,
                    "eval_s": round(time.perf_counter() - t0, 1),
                    "mean": result.mean,
                    "ci95": list(result.ci95),
                }
            )
    return out, data


def resume_check(data: Episodes, device: str, smoke: bool, workdir: Path) -> dict:
    steps = 100 if smoke else 400
    cfg = TrainConfig(steps=steps, batch_size=64, device=device, progress=False, checkpoint_every=steps // 2)
    arch = {"context_len": 10, "n_layer": 2, "d_model": 64, "condition_token": False, "action_tokens": False}
    mc = ModelConfig(kind="dt", **arch)
    whole = train(data, mc, cfg, workdir / "whole", condition="return_to_go")
    train(data, mc, cfg, workdir / "killed", condition="return_to_go", stop_at=steps // 2)
    resumed = train(data, mc, cfg, workdir / "killed", condition="return_to_go", resume=True)
    diffs = [
        float((a.float() - b.float()).abs().max())
        for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True)
    ]
    return {"steps": steps, "killed_at": steps // 2, "max_abs_weight_diff": max(diffs)}


def batched_agent_check(data: Episodes, device: str, workdir: Path) -> dict:
    from justask.models import load_model

    model = load_model(workdir / "dt-return_to_go", device=device)
    rng = np.random.default_rng(0)
    n, steps = 8, 30
    obs = rng.normal(size=(steps, n, 4)).astype(np.float32)
    rewards = np.ones(n, dtype=np.float32)
    batched = ask(model, return_to_go=300)
    singles = [ask(model, return_to_go=300) for _ in range(n)]
    all_slots = np.arange(n)
    batched.reset(all_slots)
    for s in singles:
        s.reset(np.arange(1))
    mismatches = 0
    for t in range(steps):
        a = batched.act(obs[t], all_slots)
        b = np.concatenate([s.act(obs[t, i : i + 1], np.arange(1)) for i, s in enumerate(singles)])
        mismatches += int((a != b).sum())
        batched.observe(all_slots, rewards)
        for s in singles:
            s.observe(np.arange(1), rewards[:1])
    return {"envs": n, "steps": steps, "action_mismatches": mismatches}


def synthetic_episodes(n_episodes: int, length: int) -> Episodes:
    """LunarLander-shaped random episodes (8-d observations, 4 actions) with return-to-go."""
    import gymnasium as gym

    rng = np.random.default_rng(0)
    obs = rng.normal(size=(n_episodes, length + 1, 8)).astype(np.float32)
    episodes = Episodes.from_episode_list(
        [
            {
                "observations": obs[i],
                "actions": rng.integers(0, 4, length),
                "rewards": rng.normal(size=length).astype(np.float32),
                "terminations": np.eye(length, dtype=bool)[-1],
                "truncations": np.zeros(length, dtype=bool),
            }
            for i in range(n_episodes)
        ],
        observation_space=gym.spaces.Box(-np.inf, np.inf, (8,), np.float32),
        action_space=gym.spaces.Discrete(4),
        env_id="synthetic-LunarLander-shaped",
    )
    return return_to_go(episodes, scale=100)


def throughput(device: str, smoke: bool) -> list[dict]:
    """Steps/s of the training step on synthetic LunarLander-shaped data (8-d obs, 4 actions)."""
    episodes = synthetic_episodes(*((50, 100) if smoke else (5000, 200)))  # 1M transitions
    configs = [
        (
            "demo DT (ctx 10, 2L, d64)",
            dict(context_len=10, n_layer=2, d_model=64, condition_token=False, action_tokens=False),
            64,
        ),
        ("standard DT (ctx 20, 3L, d128)", dict(context_len=20, n_layer=3, d_model=128), 64),
        ("standard DT (ctx 20, 3L, d128)", dict(context_len=20, n_layer=3, d_model=128), 2048),
        ("large DT (ctx 20, 8L, d512)", dict(context_len=20, n_layer=8, d_model=512, n_head=8), 512),
    ]
    if smoke:
        configs = [(n, a, min(b, 32)) for n, a, b in configs[:2]]
    dev = resolve_device(device)
    rows = []
    for name, arch, batch in configs:
        for bf16 in (True, False) if dev.type == "cuda" else (False,):
            mc = ModelConfig(kind="dt", **arch)
            cfg = TrainConfig(batch_size=batch, device=device, bf16=bf16)
            rows.append(_time_steps(episodes, mc, cfg, dev, name, 5 if smoke else 200))
    return rows


def _time_steps(
    episodes: Episodes, mc, cfg: TrainConfig, dev: torch.device, name: str, steps: int, compile_mode: str | None = None
) -> dict:
    from justask.models.policy import PolicyModel

    torch.manual_seed(0)
    model = PolicyModel.for_episodes(episodes, mc, "return_to_go").to(dev)
    loss_fn = model.loss if compile_mode is None else torch.compile(model.loss, mode=compile_mode)
    sampler = SegmentSampler(episodes, model.io, mc.context_len, dev)
    optimizer = make_optimizer(model, cfg, dev)
    generator = torch.Generator(device=dev)
    generator.manual_seed(1)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.bf16 and dev.type == "cuda")
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    def step() -> torch.Tensor:
        batch = sampler.sample(cfg.batch_size, generator)
        return update(model, optimizer, loss_fn, batch, autocast, cfg.grad_clip)

    t_warm = time.perf_counter()
    for _ in range(max(3, steps // 10)):
        step()
    _sync(dev)
    warmup_s = time.perf_counter() - t_warm
    t0 = time.perf_counter()
    for _ in range(steps):
        values = step()
    _sync(dev)
    elapsed = time.perf_counter() - t0
    return {
        "config": name,
        "compile": compile_mode or "eager",
        "warmup_s": round(warmup_s, 1),
        "batch": cfg.batch_size,
        "bf16": cfg.bf16 and dev.type == "cuda",
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps_per_s": round(steps / elapsed, 1),
        "samples_per_s": round(steps * cfg.batch_size / elapsed),
        "peak_memory_mib": round(torch.cuda.max_memory_allocated(dev) / 2**20) if dev.type == "cuda" else None,
        "final_loss": float(values["loss"]),
    }


def compile_probe(device: str, smoke: bool) -> list[dict]:
    """The standard DT config's training step, eager vs torch.compile modes (issue: fastest trainer)."""
    episodes = synthetic_episodes(*((20, 50) if smoke else (2000, 200)))
    dev = resolve_device(device)
    mc = ModelConfig(kind="dt", context_len=20, n_layer=3, d_model=128)
    modes = [None, "default"] if smoke else [None, "default", "reduce-overhead"]
    rows = []
    for batch in (64, 2048) if not smoke else (16,):
        for mode in modes:
            cfg = TrainConfig(batch_size=batch, device=device, bf16=dev.type == "cuda")
            try:
                rows.append(
                    _time_steps(episodes, mc, cfg, dev, "standard DT (ctx 20, 3L, d128)", 5 if smoke else 300, mode)
                )
            except Exception as err:  # a mode that fails to compile is a result too
                rows.append({"config": "standard DT", "compile": mode, "batch": batch, "error": repr(err)[:300]})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def render(summary: dict) -> str:
    lines = [
        "# CUDA check of the foundation",
        "",
        f"Command: `{summary['command']}` on {summary['device_name']} (torch {summary['torch']}).",
        "",
        "## End to end on CartPole-v1 (trained and acting on the device)",
        "",
        f"Data: {summary['end_to_end']['dataset']['episodes']} episodes "
        f"(mean return {summary['end_to_end']['dataset']['return_mean']:.0f}, "
        f"best {summary['end_to_end']['dataset']['return_max']:.0f}).",
        "",
        "The data are a balancer under heavy uniform noise plus random: BC with argmax actions recovers "
        "the balancer here (the trap the LunarLander demo's population avoids), so this table checks the "
        "device path and that the achieved return follows the asked one, not the method's value.",
        "",
        "| agent | device | asked | train steps | train s | episodes | mean return [95% CI] |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in summary["end_to_end"]["agents"]:
        asked = "—" if a["asked"] is None else f"{a['asked']:.0f}"
        lines.append(
            f"| {a['name']} | {a['device']} | {asked} | {a['train_steps']} | {a['train_s']} | {a['eval_episodes']} | "
            f"{a['mean']:.1f} [{a['ci95'][0]:.1f}, {a['ci95'][1]:.1f}] |"
        )
    r, b = summary["resume"], summary["batched_agent"]
    lines += [
        "",
        f"Kill at step {r['killed_at']} of {r['steps']} and resume: largest weight difference "
        f"{r['max_abs_weight_diff']:.2e} against the uninterrupted run.",
        f"Batched Agent vs one Agent per env ({b['envs']} envs × {b['steps']} steps): "
        f"{b['action_mismatches']} differing actions.",
        "",
        "## Training step speed (sample + forward + backward + AdamW; synthetic 8-d obs, 4 actions)",
        "",
        "| config | parameters | batch | bf16 | steps/s | samples/s | peak MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in summary["throughput"]:
        lines.append(
            f"| {t['config']} | {t['parameters']:,} | {t['batch']} | {t['bf16']} | {t['steps_per_s']} | "
            f"{t['samples_per_s']:,} | {t['peak_memory_mib']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "results"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script itself")
    parser.add_argument("--compile-probe", action="store_true", help="only time eager vs torch.compile modes")
    args = parser.parse_args()
    dev = resolve_device(args.device)
    device = str(dev)
    if args.compile_probe:
        rows = compile_probe(device, args.smoke)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        probe = {
            "command": "python benchmarks/gpu_check.py " + " ".join(sys.argv[1:]),
            "torch": torch.__version__,
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "rows": rows,
        }
        (out / "gpu_compile_probe.json").write_text(json.dumps(probe, indent=2) + "\n")
        return
    summary: dict = {
        "command": "python benchmarks/gpu_check.py " + " ".join(sys.argv[1:]),
        "torch": torch.__version__,
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
        "python": platform.python_version(),
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        summary["end_to_end"], data = end_to_end(device, args.smoke, work)
        print(json.dumps(summary["end_to_end"], indent=1), flush=True)
        summary["resume"] = resume_check(data, device, args.smoke, work)
        summary["batched_agent"] = batched_agent_check(data, device, work)
        print(json.dumps([summary["resume"], summary["batched_agent"]]), flush=True)
    summary["throughput"] = throughput(device, args.smoke)
    summary["total_s"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "gpu_check" if dev.type == "cuda" else "gpu_check_cpu"
    (out / f"{stem}.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / f"{stem}.md").write_text(render(summary))
    print(render(summary))


if __name__ == "__main__":
    main()
