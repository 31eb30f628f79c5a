"""Domain randomization: history model vs memoryless BC vs oracle vs PPO, per held-out world box.

    .venv/bin/python benchmarks/worlds.py --seeds 0 1 2 --ppo-steps 100000            # the comparison
    .venv/bin/python benchmarks/worlds.py --self-delusion --seeds 0 1 2 --dt-steps 1500     # three data regimes, probed
    .venv/bin/python benchmarks/worlds.py --family LunarLanderWorlds --dt-steps 10000 --ppo-steps 1000000

Writes ``benchmarks/results/NAME.{json,md,png}`` (NAME defaults to ``worlds_<family>``, with
``_self_delusion``): per model and world box, mean return with a bootstrap 95% CI over every
evaluated episode of every training seed, success (CartPole: return >= 475; LunarLander: >= 200,
landed) with a Wilson 95% CI, gap closure, and for history models the median step from which
they act as the privileged expert would for 10 steps in a row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))


def write(results: dict, out: Path, name: str, keep_returns: bool) -> None:
    """``out/NAME.{json,md,png}``; per-episode returns only with ``keep_returns`` (for --merge)."""
    from justask.methods.worlds_report import markdown, plot, self_delusion_markdown

    out.mkdir(parents=True, exist_ok=True)
    if not keep_returns:
        for row in results["rows"]:
            row.pop("returns", None)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    report = self_delusion_markdown if "regimes" in results else markdown
    text = report(results, results["command"], results["seconds"])
    (out / f"{name}.md").write_text(text)
    plot(results, out / f"{name}.png")
    print(text)


def machine(device: str) -> str:
    """Where the run ran, for its report."""
    import os

    cores = f"{os.cpu_count()} CPU cores"
    if device.startswith("cuda"):
        import torch

        return f"{torch.cuda.get_device_name()} (training) and {cores} (collection, evaluation)"
    return cores


def merge(paths: list[str]) -> dict:
    """One comparison from runs of the same configuration over different seeds, or of other
    models on the same seeds (PPO peers run apart): a later file's row of the same model, box
    and seed replaces an earlier one."""
    from justask.methods.worlds import summarize

    parts = [json.loads(Path(p).read_text()) for p in paths]
    if any("returns" not in row for part in parts for row in part["rows"]):
        raise SystemExit("--merge needs runs written with --keep-returns")
    merged = dict(parts[0])
    rows = {(row["model"], row["box"], row["seed"]): row for part in parts for row in part["rows"]}
    order = {model: i for i, model in enumerate(dict.fromkeys(row["model"] for part in parts for row in part["rows"]))}
    order["privileged expert"] = len(order)  # the ceiling stays the last row
    merged["rows"] = sorted(rows.values(), key=lambda row: (order[row["model"]], row["seed"]))
    merged["seeds"] = sorted({seed for part in parts for seed in part["seeds"]})
    merged["seconds"] = max(part["seconds"] for part in parts)  # they ran side by side
    merged["command"] = " ; ".join(part["command"] for part in parts)
    machines = {part.get("machine", "") for part in parts}
    merged["machine"] = " / ".join(sorted(machines)) + (" (the runs side by side)" if len(parts) > 1 else "")
    merged["summary"] = summarize(merged)
    return merged


def main() -> None:
    from justask.methods.worlds import WorldsConfig, run_self_delusion, run_worlds

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="CartPoleWorlds", choices=["CartPoleWorlds", "LunarLanderWorlds"])
    parser.add_argument("--name", default="", help="results file name (default: worlds_<family>)")
    parser.add_argument("--context-len", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--ppo-steps", type=int, default=0)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3])
    parser.add_argument("--labels", default="expert", choices=["expert", "executed"])
    parser.add_argument("--dagger-rounds", type=int, default=0)
    parser.add_argument(
        "--mistakes", type=int, default=0, help="expert acts for the twin world up to N steps per episode"
    )
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--dt-steps", type=int, default=2500)
    parser.add_argument("--mlp-steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--eval-worlds", type=int, default=100)
    parser.add_argument("--test-noise", type=float, default=0.0)
    parser.add_argument("--models", nargs="*", default=["history", "memoryless", "oracle", "history+world"])
    parser.add_argument("--self-delusion", action="store_true", help="the history model trained three ways, probed")
    parser.add_argument("--device", default="cpu", help="where the models train (cpu, cuda)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep-returns", action="store_true", help="keep per-episode returns (for --merge)")
    parser.add_argument("--merge", nargs="+", default=[], help="JSON files of --keep-returns runs: one table")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--runs", default="runs/worlds-bench")
    args = parser.parse_args()
    args.name = args.name or "worlds_" + args.family.removesuffix("Worlds").lower() + (
        "_self_delusion" if args.self_delusion else ""
    )
    if args.merge:
        write(merge(args.merge), Path(args.out), args.name, keep_returns=False)
        return
    cfg = WorldsConfig.from_values(vars(args))
    runs = Path(args.runs) / args.name
    if runs.exists():
        import shutil

        shutil.rmtree(runs)
    runs.mkdir(parents=True)
    start = time.time()
    if args.self_delusion:
        results = run_self_delusion(cfg, runs, args.seeds)
    else:
        results = run_worlds(cfg, runs, args.seeds, ppo_steps=args.ppo_steps)
    results["command"] = "python benchmarks/worlds.py " + " ".join(sys.argv[1:])
    results["seconds"] = round(time.time() - start, 1)
    results["machine"] = machine(args.device)
    write(results, Path(args.out), args.name, args.keep_returns)


if __name__ == "__main__":
    main()
