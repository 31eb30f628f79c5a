"""Hindsight language on BabyAI: a text-conditioned policy trained on captioned play, against
instruction BC on the bot's demos with their true missions, at equal env steps.

    .venv/bin/python benchmarks/language.py --level GoToLocal --seeds 0 1 2

Writes ``benchmarks/results/language_<level>.{json,md,png}``: success (BabyAI's verifier, Wilson
95% CIs pooled over the training seeds) on the level's own missions, on held-out colour-object
compositions no training caption or mission named, and on paraphrases the captioner never
writes. Seeds can run as separate processes and be merged with ``--merge``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))


def write(results: dict[str, Any], out: Path, name: str) -> None:
    from justask.methods.language import markdown, plot_success
    from justask.stats import pooled_success

    view = {**results, "rows": pooled_success(results["rows"], ("model", "set"))}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps({**results, "pooled": view["rows"]}, indent=2) + "\n")
    text = markdown(view, results["command"])
    text += "\nPer seed (success): " + "; ".join(
        f"{r['model']} / {r['set']}: {', '.join(map(str, r['per_seed']))}" for r in view["rows"]
    )
    text += f"\n\n{results['seconds'] / 60:.1f} min on {results['machine']}; picture: `{name}.png`.\n"
    (out / f"{name}.md").write_text(text)
    plot_success(view, out / f"{name}.png")


def main() -> None:
    from justask.methods.language import LanguageConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    for field in dataclasses.fields(LanguageConfig):
        if field.name == "held_out":
            continue
        flag = f"--{field.name.replace('_', '-')}"
        if isinstance(field.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default)
        else:
            parser.add_argument(flag, type=type(field.default), default=field.default)
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--name", default="")
    parser.add_argument("--out", default=str(ROOT / "results"))
    parser.add_argument("--runs", default="runs/benchmarks/language")
    parser.add_argument("--merge", nargs="+", help="JSON files of runs over other seeds: one table")
    args = parser.parse_args()
    name = args.name or f"language_{args.level.lower()}"
    if args.merge:
        parts = [json.loads(Path(p).read_text()) for p in args.merge]
        results = {**parts[0], "rows": [r for p in parts for r in p["rows"]]}
        results["seeds"] = [seed for p in parts for seed in p["seeds"]]
        results["rules"] = {k: v for p in parts for k, v in p.get("rules", {}).items()}
        results["command"] = " ; ".join(p["command"] for p in parts)
        results["seconds"] = max(p["seconds"] for p in parts)
        results["machine"] = parts[0]["machine"] + (" (the runs side by side)" if len(parts) > 1 else "")
        write(results, Path(args.out), name)
        print((Path(args.out) / f"{name}.md").read_text())
        return
    from justask.methods.language import run_language

    cfg = LanguageConfig(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(LanguageConfig) if f.name != "held_out"}
    )
    start = time.time()
    results: dict[str, Any] = {
        "command": "python benchmarks/language.py " + " ".join(sys.argv[1:]),
        "machine": f"{os.cpu_count()} CPU cores",
        "rows": [],
        "seeds": [],
    }
    for seed in args.seeds:
        run = run_language(cfg, Path(args.runs) / name / f"seed{seed}", seed, peer=not args.no_peer, progress=True)
        results.update({k: run[k] for k in ("config", "examples")})
        results.setdefault("rules", {}).update(run["rules"])
        results.setdefault("data", run["data"])
        results["rows"] += run["rows"]
        results["seeds"].append(seed)
        results.setdefault("timings", []).append(run["timings"])
        results["seconds"] = round(time.time() - start, 1)
        write(results, Path(args.out), name)
    print((Path(args.out) / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
