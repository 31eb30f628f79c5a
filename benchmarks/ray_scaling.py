"""Episodes/s of collection and evaluation: local, and on a local Ray instance with 1 and 2 workers.

    .venv/bin/python benchmarks/ray_scaling.py            # writes benchmarks/results/ray_scaling.{json,md}

Collection: the demo population (scripted landers, per-episode seeded noise). Evaluation: a DT
(the demo's architecture, trained briefly) asked for a return, argmax actions. The same episodes
and seeds in every configuration (checked); the wall time includes starting the Ray actors
(each imports torch and builds its envs), which is what a user waits for.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from justask import ModelConfig, TrainConfig, ask, collect, evaluate, return_to_go, train  # noqa: E402
from justask.suites.lunar_lander import demo_population  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes-per-policy", type=int, default=30, help="collection: 7 policies x this")
    parser.add_argument("--eval-episodes", type=int, default=200)
    parser.add_argument("--num-envs", type=int, default=16, help="envs per worker (and locally)")
    parser.add_argument("--out", default=str(ROOT / "results"))
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
    rows = []
    reference = None
    for workers in (None, 1, 2):
        t0 = time.perf_counter()
        data = collect(
            "LunarLander-v3",
            demo_population(args.episodes_per_policy),
            num_envs=args.num_envs,
            seed=0,
            progress=False,
            ray_workers=workers,
        )
        seconds = time.perf_counter() - t0
        reference = reference or data
        same = bool(np.array_equal(data.actions, reference.actions)) and data.metadata == reference.metadata
        rows.append(_row("collect", workers, data.num_episodes, data.num_steps, seconds, same))
        print(rows[-1], flush=True)
    episodes = return_to_go(reference, scale=100.0)
    config = ModelConfig(
        kind="dt",
        context_len=10,
        d_model=64,
        n_layer=2,
        condition_token=False,
        action_tokens=False,
    )
    model = train(
        episodes,
        config,
        TrainConfig(steps=300, progress=False, device="cpu"),
        "runs/ray-scaling-dt",
        condition="return_to_go",
    )
    first = None
    for workers in (None, 1, 2):
        t0 = time.perf_counter()
        result = evaluate(
            "LunarLander-v3",
            ask(model, return_to_go=150.0),
            episodes=args.eval_episodes,
            num_envs=args.num_envs,
            progress=False,
            ray_workers=workers,
        )
        seconds = time.perf_counter() - t0
        first = first or result
        same = bool(np.array_equal(result.returns, first.returns))
        rows.append(_row("evaluate", workers, result.episodes, int(result.lengths.sum()), seconds, same))
        print(rows[-1], flush=True)
    ray.shutdown()
    report = {
        "command": "python benchmarks/ray_scaling.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "num_envs_per_worker": args.num_envs,
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ray_scaling.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Collection and evaluation: local vs Ray",
        "",
        f"Command: `{report['command']}` on {report['machine']}; {args.num_envs} envs per worker (and locally).",
        "Ray times include starting the actors (each imports torch and builds its envs).",
        "",
        "| job | where | episodes | env steps | seconds | episodes/s | same episodes as local |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['job']} | {r['where']} | {r['episodes']} | {r['env_steps']:,} | {r['seconds']:.1f} | "
            f"{r['episodes_per_s']:.2f} | {'yes' if r['same_as_local'] else 'no'} |"
        )
    (out / "ray_scaling.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _row(job: str, workers: int | None, episodes: int, steps: int, seconds: float, same: bool) -> dict:
    return {
        "job": job,
        "where": "local" if workers is None else f"Ray, {workers} worker{'s' if workers > 1 else ''}",
        "episodes": episodes,
        "env_steps": steps,
        "seconds": round(seconds, 2),
        "episodes_per_s": episodes / seconds,
        "same_as_local": same,
    }


if __name__ == "__main__":
    main()
