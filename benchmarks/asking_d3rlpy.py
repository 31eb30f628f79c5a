"""d3rlpy's DiscreteDecisionTransformer on the asking benchmark's data, asked as its users ask it.

    python benchmarks/asking_d3rlpy.py [--run runs/benchmarks/asking] [--episodes 500]

For every task and seed of a finished (or running) ``benchmarks/run.py asking`` run, it waits for
that seed's Minari dataset, fits d3rlpy's DT (sized like justask's demo DT, the same steps and
batch), and asks it for the data's 95th-percentile return with both action rules, then for the
data's best episode (d3rlpy's usual ``eval_target_return``) with the better rule — on the same
episode seeds as the recipe's asks. Writes ``benchmarks/results/asking_d3rlpy_dt.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/benchmarks/asking", help="the asking benchmark's run folder")
    parser.add_argument("--episodes", type=int, default=500, help="episodes per ask")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=2500, help="d3rlpy DT gradient steps (batch 64)")
    parser.add_argument("--out", default=str(ROOT / "results" / "asking_d3rlpy_dt"))
    parser.add_argument(
        "--merge", nargs="+", default=[], help="JSON files of runs over other seeds: one table of all rows"
    )
    args = parser.parse_args(argv)
    if args.merge:
        return merge([Path(p) for p in args.merge], Path(args.out))

    import numpy as np
    import torch

    from justask.evaluation import evaluate
    from justask.minari_io import load_minari
    from justask.peers.d3rlpy_peer import DiscreteDTConfig, DTPolicy, train_discrete_dt
    from justask.recipes.asking import task_name
    from justask.report import provenance
    from justask.suites.lunar_lander import WINDY_ENV

    torch.set_num_threads(1)
    rows = []
    for env_id in ("LunarLander-v3", WINDY_ENV):
        for seed in args.seeds:
            dataset = Path(args.run) / task_name(env_id) / f"seed{seed}" / "dataset"
            while not (dataset / "data" / "metadata.json").is_file():
                time.sleep(20)  # the recipe writes it when it has collected this seed
            time.sleep(5)
            episodes = load_minari(dataset)
            returns = episodes.returns()
            t0 = time.perf_counter()
            dt = train_discrete_dt(episodes, DiscreteDTConfig(steps=args.steps, seed=seed), progress=False)
            train_s = time.perf_counter() - t0
            asks = {"0.95": float(np.percentile(returns, 95)), "1": float(returns.max())}
            results = {}
            for rule in ("argmax", "sample"):
                results[("0.95", rule)] = evaluate(
                    env_id, DTPolicy(dt, asks["0.95"], rule), episodes=args.episodes, num_envs=100, progress=False
                )
            rule = max(("argmax", "sample"), key=lambda r: results[("0.95", r)].mean)
            results[("1", rule)] = evaluate(
                env_id, DTPolicy(dt, asks["1"], rule), episodes=args.episodes, num_envs=100, progress=False
            )
            for (q, r), res in results.items():
                lo, hi = res.ci95
                row = {
                    "task": env_id,
                    "seed": seed,
                    "asked_quantile": float(q),
                    "asked_return": round(asks[q], 2),
                    "action_rule": r,
                    "episodes": res.episodes,
                    "mean": round(res.mean, 2),
                    "ci95": [round(lo, 2), round(hi, 2)],
                    "train_s": round(train_s, 1),
                }
                rows.append(row)
                print(
                    f"{env_id} seed {seed}: asked q{q} ({asks[q]:.0f}) {r}: {res.mean:.1f} [{lo:.1f}, {hi:.1f}]",
                    flush=True,
                )
    prov = provenance(vars(args), seeds=args.seeds)
    write(rows, prov, Path(args.out), args.steps, args.episodes)
    print(f"wrote {args.out}.json and .md")
    return 0


def merge(files: list[Path], out: Path) -> int:
    """One table from runs over other seeds, each run's provenance kept."""
    import json

    from justask.report import provenance

    runs = [json.loads(f.read_text()) for f in files]
    rows = sorted((r for run in runs for r in run["rows"]), key=lambda r: (r["task"], r["seed"]))
    prov = {**provenance({"merged": [str(f) for f in files]}), "runs": [run["provenance"] for run in runs]}
    config = runs[0]["provenance"]["config"]
    write(rows, prov, out, config["steps"], config["episodes"])
    print(f"wrote {out}.json and .md")
    return 0


def write(rows: list[dict], prov: dict, out: Path, steps: int, episodes: int) -> None:
    from justask.report import provenance_markdown, write_json, write_text

    write_json(Path(str(out) + ".json"), {"rows": rows, "provenance": prov})
    lines = [
        "# d3rlpy DiscreteDecisionTransformer on the asking benchmark's data",
        "",
        f"d3rlpy {prov['versions'].get('d3rlpy')}, 2 layers x 1 head, d 64, context 10, {steps} steps x 64; "
        f"{episodes} episodes per ask on the recipe's evaluation seeds. Asked the data's 95th percentile with "
        "both action rules, then its best episode with the better rule.",
        "",
        "| task | seed | asked quantile | asked return | rule | mean [95% CI] |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['seed']} | {r['asked_quantile']:g} | {r['asked_return']:.1f} | {r['action_rule']} | "
            f"{r['mean']:.1f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}] |"
        )
    write_text(Path(str(out) + ".md"), "\n".join(lines) + "\n\n" + provenance_markdown(prov))


if __name__ == "__main__":
    sys.exit(main())
