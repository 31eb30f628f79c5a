"""The DDP wrapper's overhead on one device: the same training run plain and under torchrun.

    python benchmarks/ddp_overhead.py --mode graph --out OUT        # plain, whole-step CUDA graph
    python benchmarks/ddp_overhead.py --mode eager --out OUT        # plain, eager
    torchrun --standalone --nproc_per_node=1 benchmarks/ddp_overhead.py --mode ddp --out OUT
    python benchmarks/ddp_overhead.py --summarize OUT                # OUT/ddp_overhead.{json,md}

Each run trains the standard DT (context 20, 3 layers, 128 dims) at batch 256 on LunarLander
episodes from the demo population and reports the steps/s that ``train`` logs to TensorBoard
over its last logging window.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))


def run(mode: str, out: Path, steps: int) -> None:
    import torch
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from justask import TrainConfig, collect, model_config_for, return_to_go, train
    from justask.suites.lunar_lander import demo_population

    data = return_to_go(collect("LunarLander-v3", demo_population(20), num_envs=64, seed=0, progress=False), scale=100)
    config = model_config_for(
        data,
        "dt",
        "return_to_go",
        context_len=20,
        n_layer=3,
        d_model=128,
        n_head=1,
        action_tokens=True,
        condition_token=True,
    )
    cfg = TrainConfig(
        steps=steps,
        batch_size=256,
        log_every=steps // 4,
        checkpoint_every=steps,
        progress=False,
        cuda_graph=mode == "graph",
    )
    run_dir = out / f"run-{mode}"
    train(data, config, cfg, run_dir)
    import os

    if os.environ.get("RANK", "0") != "0":
        return
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    speed = events.Scalars("speed/steps_per_s")[-1].value
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    (out / f"ddp_overhead_{mode}.json").write_text(json.dumps({"mode": mode, "steps_per_s": speed, "device": device}))
    print(mode, speed, flush=True)


def summarize(out: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("ddp_overhead_*.json")) if p.stem != "ddp_overhead"]
    by_mode = {r["mode"]: r for r in rows}
    report = {"device": rows[0]["device"] if rows else None, "rows": rows}
    if "eager" in by_mode and "ddp" in by_mode:
        report["ddp_vs_eager"] = by_mode["ddp"]["steps_per_s"] / by_mode["eager"]["steps_per_s"]
    (out / "ddp_overhead.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# DDP overhead on one device ({report['device']})", "", "| path | steps/s |", "|---|---|"]
    names = {
        "graph": "plain, whole-step CUDA graph (default)",
        "eager": "plain, eager",
        "ddp": "torchrun, 1 process, DDP (eager)",
    }
    lines += [f"| {names.get(r['mode'], r['mode'])} | {r['steps_per_s']:.1f} |" for r in rows]
    if "ddp_vs_eager" in report:
        lines += ["", f"DDP / plain eager: {report['ddp_vs_eager']:.2f}"]
    (out / "ddp_overhead.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["graph", "eager", "ddp"])
    parser.add_argument("--out", default="runs/ddp-overhead")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--summarize", default="")
    args = parser.parse_args()
    if args.summarize:
        summarize(Path(args.summarize))
    else:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        run(args.mode, Path(args.out), args.steps)
