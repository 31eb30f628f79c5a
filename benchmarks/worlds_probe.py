"""Saved history models of a world family, evaluated side by side with the self-delusion probe.

    .venv/bin/python benchmarks/worlds_probe.py --family LunarLanderWorlds \\
        --run "noisy data=runs/a/seed0/history" --run "noisy data + mistaken windows=runs/b/seed0/history"

The models come from runs of the worlds recipe (``benchmarks/run.py worlds --preset lunarlander_noisy``,
``--preset lunarlander_mistakes``): each ``RUN_DIR`` is one model's folder, ``<run>/seed<N>/history``.
For each model and world box: mean return (bootstrap 95% CI), success (Wilson 95% CI), the share
of steps on which it acts as the privileged expert, and the share on which it acts as the expert
of its world's *twin* (hidden parameters flipped) instead — a model sure it is in the other world.
Writes ``benchmarks/results/NAME.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="LunarLanderWorlds", choices=["CartPoleWorlds", "LunarLanderWorlds"])
    parser.add_argument("--run", action="append", required=True, help="LABEL=RUN_DIR of a saved history model")
    parser.add_argument("--eval-worlds", type=int, default=100)
    parser.add_argument("--name", default="worlds_delusion_probe")
    parser.add_argument("--out", default=str(ROOT / "results"))
    args = parser.parse_args()

    import torch

    from justask.models import load_model
    from justask.recipes.worlds import Config, agent_for, evaluate_in_box, suites
    from justask.report import provenance

    torch.set_num_threads(1)
    suite = suites()[args.family]
    cfg = Config(family=args.family, eval_worlds=args.eval_worlds)
    start = time.time()
    rows = []
    for spec in args.run:
        label, _, folder = spec.partition("=")
        if not folder:
            raise SystemExit(f"--run wants LABEL=RUN_DIR, got '{spec}'")
        model = load_model(folder)
        for box in suite.family.box_names:
            row, _ = evaluate_in_box(agent_for("history", model, suite, box), suite, box, cfg, label_agreement=True)
            row.pop("returns")
            rows.append({"model": label, "run": folder, "box": box, **row})
            print(label, box, round(row["mean"]), row["success"], round(row["twin_share"], 4), flush=True)
    command = "python benchmarks/worlds_probe.py " + " ".join(f"'{a}'" if " " in a else a for a in sys.argv[1:])
    result = {
        "command": command,
        "family": args.family,
        "seconds": round(time.time() - start, 1),
        "rows": rows,
        "provenance": provenance(vars(args), command=command),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# Self-delusion probe: {args.family}",
        "",
        f"Command: `{command}` ({result['seconds'] / 60:.1f} min). {args.eval_worlds} fresh worlds per box, argmax "
        "actions. Cells: mean return [bootstrap 95% CI] / success [Wilson 95% CI] / steps acting as the privileged "
        "expert / steps acting as the expert of the world's twin instead (self-delusion) / share of episodes with "
        "more than 20 such steps.",
        "",
        "| model | " + " | ".join(suite.family.box_names) + " |",
        "|---|" + "---|" * len(suite.family.box_names),
    ]
    for label in dict.fromkeys(r["model"] for r in rows):
        cells = []
        for box in suite.family.box_names:
            r = next(x for x in rows if x["model"] == label and x["box"] == box)
            cells.append(
                f"{r['mean']:.0f} [{r['ci95'][0]:.0f}, {r['ci95'][1]:.0f}] / {r['success']:.2f} "
                f"[{r['success_ci95'][0]:.2f}, {r['success_ci95'][1]:.2f}] / {r['agreement']:.1%} / {r['twin_share']:.2%}"
                f" / {r['twin_episodes']:.2f}"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
