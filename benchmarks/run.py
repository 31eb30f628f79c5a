"""Run a recipe as a benchmark and keep its report in ``benchmarks/results``.

    python benchmarks/run.py lunarlander --preset benchmark            # 3 seeds, larger budgets
    python benchmarks/run.py maze --preset large --seeds 0 1
    python benchmarks/run.py maze --preset large --merge a.json b.json  # one table from runs side by side

A preset is a ``Config`` of the recipe (``PRESETS`` in its module); any setting overrides it
(``--seeds 0 1 2``, ``--dt-train.steps 8000``, ``--config FILE``). The run goes to
``runs/benchmarks/<result>``; its report.json/.md go to ``benchmarks/results/<result>.json/.md``
and its pictures to ``<result>_<picture>.png`` (``--result`` names it; default
``<recipe>_<preset>``).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))


def presets_of(name: str) -> dict:
    import importlib

    from justask.recipes import RECIPES

    return getattr(importlib.import_module(RECIPES[name][0]), "PRESETS", {})


def keep(run_dir: Path, result: str, results: Path, pictures: tuple[str, ...]) -> list[Path]:
    """Copy a run's report and pictures into the results folder under ``result``."""
    results.mkdir(parents=True, exist_ok=True)
    kept = []
    for suffix in ("json", "md"):
        target = results / f"{result}.{suffix}"
        shutil.copyfile(run_dir / f"report.{suffix}", target)
        kept.append(target)
    for picture in pictures:
        source = run_dir / picture
        if source.is_file():
            target = results / f"{result}_{Path(picture).name}"
            shutil.copyfile(source, target)
            kept.append(target)
    return kept


def main(argv: list[str] | None = None) -> int:
    from justask.cli_parse import parse
    from justask.errors import JustAskError
    from justask.recipes import RECIPES, recipe, run_recipe

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args[0] not in RECIPES:
        print(__doc__)
        print("recipes:", ", ".join(RECIPES))
        return 0 if args and args[0] in ("-h", "--help") else 2
    name, rest = args[0], args[1:]
    preset, result, merge, results = "", "", [], ROOT / "results"
    kept: list[str] = []
    i = 0
    while i < len(rest):  # the runner's own flags; the rest are the recipe's settings
        if rest[i] == "--preset":
            preset, i = rest[i + 1], i + 2
        elif rest[i] == "--result":
            result, i = rest[i + 1], i + 2
        elif rest[i] == "--results":
            results, i = Path(rest[i + 1]), i + 2
        elif rest[i] == "--merge":
            i += 1
            while i < len(rest) and not rest[i].startswith("--"):
                merge.append(rest[i])
                i += 1
        else:
            kept.append(rest[i])
            i += 1
    try:
        chosen = recipe(name)
        presets = presets_of(name)
        if preset and preset not in presets:
            raise JustAskError(f"recipe {name} has no preset '{preset}' (presets: {', '.join(presets) or 'none'})")
        result = result or (f"{name}_{preset}" if preset else f"{name}_quick")
        if merge:
            if chosen.merge is None:
                raise JustAskError(f"recipe {name} cannot merge runs")
            merged_dir = Path("runs/benchmarks") / result
            merged_dir.mkdir(parents=True, exist_ok=True)
            chosen.merge([json.loads(Path(p).read_text()) for p in merge], merged_dir)
            for path in keep(merged_dir, result, results, chosen.pictures):
                print(f"wrote {path}")
            return 0
        default = presets.get(preset) if preset else chosen.config()
        base = dataclasses.replace(default, out=str(Path("runs/benchmarks") / result), overwrite=True)
        # the preset is the default that the settings (or --config) override
        cfg = parse(chosen.config, kept, f"benchmarks/run.py {name}", chosen.summary, default=base)
        run_recipe(chosen, cfg)
        for path in keep(Path(cfg.out), result, results, chosen.pictures):
            print(f"wrote {path}")
    except JustAskError as exc:
        print(f"justask: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
