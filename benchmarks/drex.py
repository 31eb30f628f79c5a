"""D-REX on LunarLander (discrete and continuous) at a larger budget; writes JSON + Markdown.

    .venv/bin/python benchmarks/drex.py --seeds 0

Run folders stay under runs/bench-drex/<env>-seed<N> (report, reward_extrapolation.png, agents.png).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from justask.configs import DrexConfig  # noqa: E402

LARGE = dict(
    demo_episodes=20,
    episodes_per_noise=40,
    reward_steps=5000,
    policy_steps=10000,
    ppo_steps=1_000_000,
    heldout_episodes=50,
    eval_episodes=500,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--envs", nargs="+", default=["LunarLander-v3", "LunarLanderContinuous-v3"])
    parser.add_argument("--ppo-steps", type=int, default=LARGE["ppo_steps"])
    parser.add_argument("--out", default="runs/bench-drex")
    parser.add_argument("--results", default=str(ROOT / "results"))
    args = parser.parse_args()

    from justask.methods.drex import run_drex

    overrides = {**LARGE, "ppo_steps": args.ppo_steps}
    reports: dict[str, dict] = {}
    started = time.perf_counter()
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    for env_id in args.envs:
        for seed in args.seeds:
            key = f"{env_id}-seed{seed}"
            cfg = DrexConfig(out=f"{args.out}/{key}", env_id=env_id, seed=seed, overwrite=True, **overrides)
            report = run_drex(cfg)
            reports[key] = {
                k: report[k]
                for k in (
                    "demonstrations",
                    "reward",
                    "env_steps",
                    "agents",
                    "findings",
                    "timings_s",
                    "asked_learned_return",
                )
            }
            shutil.copyfile(
                Path(cfg.out) / "reward_extrapolation.png", results / f"drex_{env_id}_seed{seed}_reward.png"
            )
    summary = {
        "command": ("python benchmarks/drex.py " + " ".join(sys.argv[1:])).strip(),
        "config": dataclasses.asdict(DrexConfig(**overrides)),
        "git_commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "total_s": round(time.perf_counter() - started, 1),
        "runs": reports,
    }
    (results / "drex.json").write_text(json.dumps(summary, indent=2) + "\n")
    (results / "drex.md").write_text(render(summary))
    print(render(summary))


ROWS = ["BC", "D-REX-MLP asked best", "D-REX-MLP asked high", "PPO on learned reward", "PPO on true reward"]


def render(summary: dict) -> str:
    lines = [
        "# D-REX on LunarLander",
        "",
        f"Command: `{summary['command']}` (commit {summary['git_commit']}); total {summary['total_s'] / 60:.0f} min on 2 CPU cores.",
        "True returns, mean over 500 evaluation episodes (bootstrap 95% CI), each agent at its better action rule. "
        "The demonstrations' rewards are never read by the learner.",
        "",
    ]
    for key, run in summary["runs"].items():
        d, diag = run["demonstrations"], run["reward"]["diagnostics"]
        lines += [
            f"## {key}",
            "",
            f"- demonstrations: {d['episodes']} episodes, mean {d['mean_return']:.1f} [{d['ci95'][0]:.1f}, {d['ci95'][1]:.1f}], best {d['best_return']:.1f}",
            f"- learned vs true return on {diag['episodes']} held-out rollouts ({diag['episodes_better_than_best_demo']} better than the best demo): "
            f"Spearman **{diag['spearman']:.2f}**, Pearson {diag['pearson']:.2f} (`drex_{key.replace('-seed', '_seed')}_reward.png`)",
            f"- env steps: {run['env_steps']}",
            "",
            "| agent | rule | mean | 95% CI | vs best demo |",
            "|---|---|---:|---|---|",
        ]
        expert = next((a for a in run["agents"] if a["name"].startswith("held-out: expert")), None)
        for prefix in ROWS:
            mine = [a for a in run["agents"] if a["name"].startswith(prefix + "/")]
            if not mine:
                continue
            a = max(mine, key=lambda x: x["mean"])
            lo, hi = a["ci95"]
            verdict = "above" if lo > d["best_return"] else "below" if hi < d["best_return"] else "CI covers it"
            lines.append(f"| {prefix} | {a['action_rule']} | {a['mean']:.1f} | [{lo:.1f}, {hi:.1f}] | {verdict} |")
        if expert:
            lines.append(
                f"| expert (never shown; reference) | — | {expert['mean']:.1f} | [{expert['ci95'][0]:.1f}, {expert['ci95'][1]:.1f}] | — |"
            )
        lines += ["", *[f"- {f}" for f in run["findings"]], ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
