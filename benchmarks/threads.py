"""How many threads each phase should use on a small machine: acting (evaluation), training and
env stepping, each alone and beside another busy process (a user's machine doing other work).

    python benchmarks/threads.py [--root runs/demo/seed0] [--episodes 200] [--repeats 2]

Uses the quick demo's run folders under --root (``rvs``: the MLP, ``dt``: the Decision
Transformer, ``dataset``). Acting: ``evaluate`` of each model asked its best, for every torch
thread count and env process count; training: steps per second of each model's training step;
the load is a second process spinning on one core. Every configuration is timed --repeats times
(the best kept: the others lost time to the machine) and its episodes' mean return is recorded
(a thread count must not change what the model does). Writes
``benchmarks/results/threads.{json,md,png}``; run it alone (the FIELD_NOTES: machine load).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))


class Busy:
    """A second process keeping one core busy while the block runs."""

    def __enter__(self) -> Busy:
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.proc.kill()
        self.proc.wait()


def act_once(run: Path, episodes: int, threads: int, processes: int) -> tuple[float, float]:
    import torch

    from justask.asking import ask
    from justask.models import load_model

    torch.set_num_threads(threads)
    from justask.evaluation import evaluate

    model = load_model(run)
    start = time.perf_counter()
    result = evaluate(
        "LunarLander-v3", ask(model), episodes=episodes, num_envs=100, processes=processes, progress=False
    )
    return time.perf_counter() - start, result.mean


def overlap_rows(root: Path, episodes: int, envs: int) -> list[dict[str, Any]]:
    """Acting with the envs stepped in turn (this process) or in two worker processes while the
    model acts for the other chunk, at 1 and 2 torch threads, for the demo's MLP and DT."""
    import torch

    from justask.asking import ask
    from justask.evaluation import evaluate
    from justask.models import load_model

    rows = []
    for model_name in ("mlp", "dt"):
        model = load_model(root / ("rvs" if model_name == "mlp" else "dt"))
        for threads, overlap in itertools.product((1, 2), (False, True)):
            torch.set_num_threads(threads)
            start = time.perf_counter()
            result = evaluate(
                "LunarLander-v3", ask(model), episodes=episodes, num_envs=envs, progress=False, overlap=overlap
            )
            seconds = time.perf_counter() - start
            row = {"model": model_name, "threads": threads, "overlap": overlap, "seconds": round(seconds, 2)}
            row.update(episodes_per_s=round(episodes / seconds, 2), mean=round(result.mean, 3))
            rows.append(row)
            print(row, flush=True)
    return rows


def train_once(dataset: Path, kind: str, steps: int, threads: int) -> float:
    import tempfile

    from justask.configs import TrainConfig
    from justask.minari_io import load_minari
    from justask.models import ModelConfig
    from justask.relabel import return_to_go
    from justask.training import train

    episodes = return_to_go(load_minari(str(dataset)), scale=100)
    batch = 256 if kind == "mlp" else 64
    model = ModelConfig("mlp") if kind == "mlp" else ModelConfig("dt", action_tokens=False, condition_token=False)
    with tempfile.TemporaryDirectory() as out:
        fit = TrainConfig(steps=steps, batch_size=batch, threads=threads, progress=False, checkpoint_every=10**9)
        start = time.perf_counter()
        train(episodes, model, fit, Path(out) / "run", condition="return_to_go")
        return steps / (time.perf_counter() - start)


def best_of(repeats: int, measure: Any) -> tuple[float, Any]:
    runs = [measure() for _ in range(repeats)]
    return min(runs, key=lambda r: r[0] if isinstance(r, tuple) else -r)


def plot_overlap(path: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    labels = [f"{r['model']} t{r['threads']} {'overlap' if r['overlap'] else 'in turn'}" for r in rows]
    ax.bar(range(len(rows)), [r["episodes_per_s"] for r in rows], color=["C2" if r["overlap"] else "C0" for r in rows])
    ax.set_xticks(range(len(rows)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("episodes per second")
    ax.set_title("Acting while the envs step (green) vs in turn (blue), 2 cores", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot(path: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [2, 1]})
    panels = [
        (
            "acting",
            "episodes_per_s",
            "episodes per second",
            "Acting: LunarLander evaluation (t: torch threads, p: env processes)",
        ),
        (
            "training",
            "steps_per_s",
            "training steps per second",
            "Training (blue: alone, orange: beside a busy process)",
        ),
    ]
    for ax, (phase, key, unit, title) in zip(axes, panels, strict=True):
        chosen = [r for r in rows if r["phase"] == phase]
        labels = [
            f"{r['model']} t{r['threads']}"
            + (f" p{r['processes']}" if "processes" in r else "")
            + f"\n{'loaded' if r['loaded'] else 'alone'}"
            for r in chosen
        ]
        ax.bar(range(len(chosen)), [r[key] for r in chosen], color=["C1" if r["loaded"] else "C0" for r in chosen])
        ax.set_xticks(
            range(len(chosen)), [label.replace("\n", " ") for label in labels], fontsize=7, rotation=60, ha="right"
        )
        ax.set_ylabel(unit)
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="runs/demo/seed0")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--train-steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "results" / "threads"))
    parser.add_argument("--plot-only", action="store_true", help="redraw the PNG from the JSON")
    parser.add_argument(
        "--part",
        choices=("threads", "overlap"),
        default="threads",
        help="overlap: acting while the envs step (writes threads_overlap.*)",
    )
    parser.add_argument("--envs", type=int, default=250, help="--part overlap: envs stepped together")
    args = parser.parse_args()
    if args.part == "overlap":
        from justask.report import provenance, provenance_markdown, write_json, write_text

        rows = overlap_rows(Path(args.root), args.episodes, args.envs)
        out = Path(args.out + "_overlap")
        prov = provenance(vars(args))
        write_json(out.with_suffix(".json"), {"rows": rows, "provenance": prov})
        lines = [
            "# Acting while the envs step: overlapped vs in turn",
            "",
            f"{args.episodes} LunarLander episodes, {args.envs} envs, the quick demo's models asked their best "
            "(the DT with its full context). 'overlap': the envs step in 2 worker processes while the model "
            "acts for the other half (`evaluate(overlap=True)`, `justask eval`'s default).",
            "",
            "| model | torch threads | envs | seconds | episodes/s | mean return |",
            "|---|---|---|---|---|---|",
        ]
        for r in rows:
            where = "overlapped (2 workers)" if r["overlap"] else "in turn (this process)"
            lines.append(
                f"| {r['model']} | {r['threads']} | {where} | {r['seconds']:.1f} | {r['episodes_per_s']:.1f} | {r['mean']:.2f} |"
            )
        plot_overlap(out.with_suffix(".png"), rows)
        write_text(
            out.with_suffix(".md"),
            "\n".join([*lines, "", f"![overlap]({out.name}.png)", "", provenance_markdown(prov)]),
        )
        print("\n".join(lines))
        return
    if args.plot_only:
        import json

        out = Path(args.out)
        plot(out.with_suffix(".png"), json.loads(out.with_suffix(".json").read_text())["rows"])
        return

    from justask.report import provenance, provenance_markdown, write_json, write_text

    root = Path(args.root)
    rows: list[dict[str, Any]] = []
    for model, loaded in itertools.product(("mlp", "dt"), (False, True)):
        run = root / ("rvs" if model == "mlp" else "dt")
        for threads, processes in itertools.product((1, 2), (1, 2)):
            with Busy() if loaded else contextlib.nullcontext():
                seconds, mean = best_of(args.repeats, lambda: act_once(run, args.episodes, threads, processes))  # noqa: B023
            row = {"phase": "acting", "model": model, "threads": threads, "processes": processes, "loaded": loaded}
            row.update(seconds=round(seconds, 2), episodes_per_s=round(args.episodes / seconds, 2), mean=round(mean, 3))
            rows.append(row)
            print(row, flush=True)
    for model, loaded, threads in itertools.product(("mlp", "dt"), (False, True), (1, 2)):
        with Busy() if loaded else contextlib.nullcontext():
            rate = max(train_once(root / "dataset", model, args.train_steps, threads) for _ in range(args.repeats))
        row = {"phase": "training", "model": model, "threads": threads, "loaded": loaded, "steps_per_s": round(rate, 2)}
        rows.append(row)
        print(row, flush=True)

    out = Path(args.out)
    prov = provenance(vars(args))
    write_json(out.with_suffix(".json"), {"rows": rows, "cpu_count": os.cpu_count(), "provenance": prov})
    plot(out.with_suffix(".png"), rows)
    lines = [
        "# Threads per phase on this machine",
        "",
        f"{os.cpu_count()} CPUs. Acting: {args.episodes} LunarLander episodes, 100 envs, each model asked its best; "
        f"training: {args.train_steps} steps (MLP batch 256, DT batch 64); best of {args.repeats}; "
        "'loaded': beside a process spinning on one core.",
        "",
        "## Acting",
        "",
        "| model | torch threads | env processes | machine | seconds | episodes/s | mean return |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in (r for r in rows if r["phase"] == "acting"):
        lines.append(
            f"| {r['model']} | {r['threads']} | {r['processes']} | {'loaded' if r['loaded'] else 'alone'} | "
            f"{r['seconds']:.1f} | {r['episodes_per_s']:.1f} | {r['mean']:.1f} |"
        )
    lines += ["", "## Training", "", "| model | torch threads | machine | steps/s |", "|---|---|---|---|"]
    for r in (r for r in rows if r["phase"] == "training"):
        lines.append(
            f"| {r['model']} | {r['threads']} | {'loaded' if r['loaded'] else 'alone'} | {r['steps_per_s']:.1f} |"
        )
    lines += ["", "![threads](threads.png)", "", provenance_markdown(prov)]
    write_text(out.with_suffix(".md"), "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
