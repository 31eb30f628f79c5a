"""Where a text-conditioned BabyAI model fails: its own missions, one episode at a time, with what
happened in each failed one — looping (few distinct agent states), picking up a wrong object, never
picking anything up — split by whether the mission names its object by location.

    .venv/bin/python benchmarks/language_failures.py --level PickupLoc --action-rule sample \
        --model hindsight=runs/benchmarks/language_pickuploc/seed0/hindsight

(the models of ``python benchmarks/run.py language --preset pickuploc``).

Writes ``benchmarks/results/language_failures_<level>.{json,md}``.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

LOCATIONS = ("in front of you", "on your left", "on your right", "behind you")
LOOP_STATES = 12  # a failed episode visiting fewer distinct (position, direction) states loops


def diagnose(run: str, level: str, episodes: int, action_rule: str, seed: int) -> dict[str, Any]:
    from justask.asking import ask
    from justask.models import load_model
    from justask.recipes.language import EVAL_SEED
    from justask.suites import babyai as ba

    model = load_model(run)
    env = ba.BabyAIEnv(level)
    counts: Counter = Counter()
    for k in range(episodes):
        obs, info = env.reset(seed=EVAL_SEED + k)
        mission = info["mission"]
        agent = ask(model, text=mission, action_rule=action_rule, seed=seed + k)
        agent.reset(np.array([0]), np.array([EVAL_SEED + k]))
        level_env = env.level_env
        states, first_pick, reward, done = set(), None, 0.0, False
        while not done:
            action = int(agent.act(obs[None], np.array([0]))[0])
            states.add((tuple(level_env.agent_pos), level_env.agent_dir))
            held = level_env.carrying
            obs, reward, terminated, truncated, _ = env.step(action)
            if held is None and level_env.carrying is not None and first_pick is None:
                first_pick = (level_env.carrying.color, level_env.carrying.type)
            done = terminated or truncated
        group = "location" if any(loc in mission for loc in LOCATIONS) else "plain"
        counts[f"{group} episodes"] += 1
        if reward > 0:
            counts[f"{group} successes"] += 1
            continue
        counts[f"{group} failures"] += 1
        if len(states) < LOOP_STATES:
            counts[f"{group} failures looping (< {LOOP_STATES} states)"] += 1
        counts[f"{group} failures " + ("after a wrong pickup" if first_pick else "without a pickup")] += 1
    env.close()
    return dict(sorted(counts.items()))


def markdown(rows: list[dict[str, Any]], level: str, episodes: int) -> str:
    from justask.recipes.language import EVAL_SEED

    keys = sorted({k for r in rows for k in r if k not in ("model", "run", "action_rule")})
    lines = [
        f"# Where the text-conditioned models fail on BabyAI {level}",
        "",
        f"The level's own missions, seeds {EVAL_SEED}..{EVAL_SEED + episodes - 1} (the benchmark's own-mission set); "
        f"a failure 'loops' when the agent visited fewer than {LOOP_STATES} distinct (position, direction) states; "
        "'location' missions name the object by where it is ('the key on your left').",
        "",
        "| model | rule | " + " | ".join(keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['action_rule']} | " + " | ".join(str(r.get(k, 0)) for k in keys) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="PickupLoc")
    parser.add_argument("--model", action="append", required=True, help="NAME=RUN_DIR (repeatable)")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--action-rule", action="append", default=None, help="argmax and/or sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "results"))
    parser.add_argument("--runs", default="runs/benchmarks", help="the report is written here first (with provenance)")
    args = parser.parse_args()
    from justask.report import write_report

    rules = args.action_rule or ["sample"]
    rows = []
    for spec in args.model:
        name, run = spec.split("=", 1)
        for rule in rules:
            rows.append(
                {
                    "model": name,
                    "run": run,
                    "action_rule": rule,
                    **diagnose(run, args.level, args.episodes, rule, args.seed),
                }
            )
    command = "python benchmarks/language_failures.py " + shlex.join(sys.argv[1:])
    result = f"language_failures_{args.level.lower()}"
    run_dir = Path(args.runs) / result
    run_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(rows, args.level, args.episodes)
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "runs")}
    write_report(run_dir, {"command": command, "rows": rows}, text, config=settings, seeds=[args.seed], command=command)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for suffix in ("json", "md"):
        shutil.copyfile(run_dir / f"report.{suffix}", out / f"{result}.{suffix}")
    print((out / f"{result}.md").read_text())


if __name__ == "__main__":
    main()
