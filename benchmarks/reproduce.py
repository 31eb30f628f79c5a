"""Rerun every recorded quick variant and compare it with its record in ``benchmarks/results``.

    python benchmarks/reproduce.py                 # all of them (about 30 minutes on 2 CPU cores)
    python benchmarks/reproduce.py lunarlander maze
    python benchmarks/reproduce.py --record        # (re)write the records from fresh runs

A quick variant is a recipe on its defaults (``justask demo NAME``), some with a setting or two.
Seeds fix everything and CPU arithmetic is pinned (``justask.cpu_math``), so every number a
report holds must come out the same: the comparison is exact, except for what says how long
something took, where files are and who ran it (``IGNORED``). Exit status 1 when any differs,
with the first differences listed.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

# record name -> (recipe, settings): each one is `justask demo RECIPE SETTINGS...`
QUICK: dict[str, tuple[str, list[str]]] = {
    "lunarlander_quick": ("lunarlander", []),
    "asking_quick": ("asking", []),
    "drex_quick": ("drex", []),
    "drex_quick_continuous": ("drex", ["--env-id", "LunarLanderContinuous-v3"]),
    "maze_quick": ("maze", []),
    "gcsl_quick": ("gcsl", []),
    "worlds_quick": ("worlds", []),
    "language_quick": ("language", []),
    "improve_quick": ("improve", []),
    "behave_quick": ("behave", []),
}
# keys whose values say how long, where or who — not what was measured
IGNORED = {
    "provenance",
    "timings_s",
    "seconds",
    "total_s",
    "source",
    "models",
    "path",
    "paths",
    "run_dir",
    "out",
    "command",
    "machine",
    "per_task_file",
}


def differences(recorded: Any, fresh: Any, path: str = "", tolerance: float = 0.0) -> list[str]:
    """Where two reports disagree: every number (relative ``tolerance``), string, list length and
    key, except under ``IGNORED`` keys and keys that hold seconds (``*_s``, ``*seconds*``)."""
    out: list[str] = []
    if isinstance(recorded, dict) and isinstance(fresh, dict):
        for key in sorted(set(recorded) | set(fresh), key=str):
            if key in IGNORED or str(key).endswith("_s") or "seconds" in str(key):
                continue
            where = f"{path}.{key}" if path else str(key)
            if key not in recorded or key not in fresh:
                out.append(f"{where}: only in the {'fresh run' if key in fresh else 'record'}")
                continue
            out += differences(recorded[key], fresh[key], where, tolerance)
        return out
    if isinstance(recorded, list) and isinstance(fresh, list):
        if len(recorded) != len(fresh):
            return [f"{path}: {len(recorded)} items recorded, {len(fresh)} now"]
        for i, (a, b) in enumerate(zip(recorded, fresh, strict=True)):
            out += differences(a, b, f"{path}[{i}]", tolerance)
        return out
    numbers = (int, float)
    if isinstance(recorded, numbers) and isinstance(fresh, numbers) and not isinstance(recorded, bool):
        same = (math.isnan(recorded) and math.isnan(fresh)) or math.isclose(
            recorded, fresh, rel_tol=tolerance, abs_tol=tolerance * 1e-3
        )
        return [] if same else [f"{path}: recorded {recorded}, now {fresh}"]
    return [] if recorded == fresh else [f"{path}: recorded {recorded!r}, now {fresh!r}"]


def run_variant(name: str, runs: Path) -> tuple[Path, float]:
    from justask.cli import main

    recipe, settings = QUICK[name]
    out = runs / name
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    code = main(["demo", recipe, *settings, "--out", str(out)])
    if code != 0:
        raise SystemExit(f"justask demo {recipe} {' '.join(settings)} failed (exit {code})")
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    record = "--record" in args
    tolerance = 0.0
    if "--tolerance" in args:
        tolerance = float(args[args.index("--tolerance") + 1])
        args = [a for i, a in enumerate(args) if a != "--tolerance" and (i == 0 or args[i - 1] != "--tolerance")]
    names = [a for a in args if not a.startswith("--")] or list(QUICK)
    unknown = [
        n for n in names if n not in QUICK and not any(q.startswith(n + "_") or q == n + "_quick" for q in QUICK)
    ]
    if unknown:
        print(f"unknown quick variant(s) {unknown} (known: {', '.join(QUICK)})", file=sys.stderr)
        return 2
    chosen = [q for q in QUICK if q in names or QUICK[q][0] in names]
    results, runs, failed = ROOT / "results", Path("runs/reproduce"), []
    for name in chosen:
        out, seconds = run_variant(name, runs)
        fresh = json.loads((out / "report.json").read_text())
        target = results / f"{name}.json"
        if record:
            from justask.recipes import recipe

            shutil.copyfile(out / "report.json", target)
            shutil.copyfile(out / "report.md", results / f"{name}.md")
            for picture in recipe(QUICK[name][0]).pictures:
                if (out / picture).is_file():
                    shutil.copyfile(out / picture, results / f"{name}_{Path(picture).name}")
            print(f"{name}: recorded in {target} ({seconds:.0f} s)")
            continue
        if not target.is_file():
            print(f"{name}: no record at {target} (run with --record)")
            failed.append(name)
            continue
        found = differences(json.loads(target.read_text()), fresh, tolerance=tolerance)
        if found:
            failed.append(name)
            print(f"{name}: DIFFERS from its record in {len(found)} place(s) ({seconds:.0f} s):")
            for line in found[:15]:
                print(f"    {line}")
        else:
            print(f"{name}: reproduces its record exactly ({seconds:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
