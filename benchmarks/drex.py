"""D-REX on LunarLander (discrete and continuous), several seeds; writes JSON + Markdown.

    .venv/bin/python benchmarks/drex.py --envs LunarLander-v3 --seeds 0 1 2
    .venv/bin/python benchmarks/drex.py --envs LunarLanderContinuous-v3 --seeds 0 1 2

Each finished run is merged into ``benchmarks/results/drex.json`` at once (so two processes, one
per env, can share the file), and ``drex.md`` is rendered from everything there: per env, every
agent's evaluation episodes pooled over seeds (bootstrap 95% CI), at its better action rule.
Run folders stay under runs/bench-drex/<env>-seed<N> (report, reward_extrapolation.png, agents.png).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from justask.configs import DrexConfig  # noqa: E402
from justask.stats import bootstrap_ci  # noqa: E402

LARGE = dict(
    demo_episodes=20,
    episodes_per_noise=40,
    reward_steps=5000,
    policy_steps=10000,
    ppo_steps=300_000,
    heldout_episodes=50,
    eval_episodes=200,
)
ROWS = ["BC", "D-REX-MLP asked best", "D-REX-MLP asked high", "PPO on learned reward", "PPO on true reward"]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--envs", nargs="+", default=["LunarLander-v3", "LunarLanderContinuous-v3"])
    parser.add_argument("--ppo-steps", type=int, default=LARGE["ppo_steps"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/bench-drex")
    parser.add_argument("--results", default=str(ROOT / "results"))
    parser.add_argument(
        "--rediagnose", action="store_true", help="recompute the reward diagnostics of the runs in drex.json, then stop"
    )
    args = parser.parse_args()
    if args.rediagnose:
        rediagnose(Path(args.results) / "drex.json")
        return

    from justask.methods.drex import run_drex

    overrides = {**LARGE, "ppo_steps": args.ppo_steps, "threads": args.threads}
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    store = results / "drex.json"
    command = ("python benchmarks/drex.py " + " ".join(sys.argv[1:])).strip()
    for env_id in args.envs:
        for seed in args.seeds:
            key = f"{env_id}-seed{seed}"
            cfg = DrexConfig(out=f"{args.out}/{key}", env_id=env_id, seed=seed, overwrite=True, **overrides)
            report = run_drex(cfg)
            run = {
                k: report[k]
                for k in ("demonstrations", "reward", "env_steps", "agents", "timings_s", "asked_learned_return")
            }
            run["command"] = command
            run["config"] = dataclasses.asdict(cfg)
            shutil.copyfile(
                Path(cfg.out) / "reward_extrapolation.png", results / f"drex_{env_id}_seed{seed}_reward.png"
            )
            with locked(store):
                summary = json.loads(store.read_text()) if store.is_file() else {"runs": {}}
                summary["runs"][key] = run
                summary["git_commit"] = subprocess.run(
                    ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
                ).stdout.strip()
                summary["machine"] = {"python": platform.python_version(), "platform": platform.platform()}
                store.write_text(json.dumps(summary, indent=1) + "\n")
                (results / "drex.md").write_text(render(summary))
    print((results / "drex.md").read_text())


def rediagnose(store: Path) -> None:
    """Re-check each stored run's saved reward on its held-out rollouts (deterministic in the
    seed) with the current diagnostics, and render again."""
    from justask.methods.drex import reward_diagnostics
    from justask.rewards import LearnedReward

    with locked(store):
        summary = json.loads(store.read_text())
        for key, run in summary["runs"].items():
            cfg = DrexConfig(**run["config"])
            demos = next(a for a in run["agents"] if a["name"] == "demonstrations (true return)")
            reward = LearnedReward.load(Path(cfg.out) / "reward")
            _, _, run["reward"]["diagnostics"] = reward_diagnostics(cfg, reward, np.asarray(demos["returns"]))
            print(key, run["reward"]["diagnostics"].get("spearman_without_random"))
        store.write_text(json.dumps(summary, indent=1) + "\n")
        (store.parent / "drex.md").write_text(render(summary))


def pooled(runs: list[dict], name: str) -> dict | None:
    """One agent's evaluation episodes over the seeds' runs, pooled."""
    rows = [a for run in runs for a in run["agents"] if a["name"] == name]
    if not rows:
        return None
    returns = np.concatenate([a["returns"] for a in rows])
    lo, hi = bootstrap_ci(returns)
    return {"name": name, "mean": float(returns.mean()), "ci95": (lo, hi), "episodes": len(returns)}


def render(summary: dict) -> str:
    lines = [
        "# D-REX on LunarLander",
        "",
        "True returns. Every agent's evaluation episodes are pooled over the seeds (bootstrap 95% CI); each "
        "learned agent at its better action rule (argmax or sample, chosen on the pooled mean). The learner "
        "never reads a reward: demonstrations without rewards -> BC -> BC with noise -> ranked by noise -> "
        "T-REX reward (absorbing final states) -> policies. 'vs best demo' compares with the best single "
        "demonstration of the same seed, averaged over seeds.",
        "",
    ]
    by_env: dict[str, list[tuple[str, dict]]] = {}
    for key, run in sorted(summary["runs"].items()):
        by_env.setdefault(key.rsplit("-seed", 1)[0], []).append((key, run))
    for env_id, keyed in by_env.items():
        runs = [run for _, run in keyed]
        seeds = [key.rsplit("-seed", 1)[1] for key, _ in keyed]
        demo_means = [r["demonstrations"]["mean_return"] for r in runs]
        demo_best = [r["demonstrations"]["best_return"] for r in runs]
        best_demo = float(np.mean(demo_best))
        spearman = [r["reward"]["diagnostics"]["spearman"] for r in runs]
        pearson = [r["reward"]["diagnostics"]["pearson"] for r in runs]
        without_random = [r["reward"]["diagnostics"].get("spearman_without_random") for r in runs]
        cfg = runs[0]["config"]
        lines += [
            f"## {env_id} (seeds {', '.join(seeds)})",
            "",
            f"Command: `{runs[0]['command']}`. Demonstrator `{cfg['demonstrator']}`, {cfg['demo_episodes']} demonstrations, "
            f"noise levels {cfg['noise_levels']} x {cfg['episodes_per_noise']} BC rollouts, demonstrations ranked: {cfg['demos_rank']}, "
            f"PPO {cfg['ppo_steps']:,} env steps, {cfg['eval_episodes']} evaluation episodes per agent, rule and seed.",
            "",
            f"- demonstrations: mean {np.mean(demo_means):.1f} (per seed {', '.join(f'{x:.1f}' for x in demo_means)}); "
            f"best {', '.join(f'{x:.1f}' for x in demo_best)}",
            f"- learned vs true return on held-out rollouts (the never-shown expert, the demonstrator, it with noise, random): "
            f"Spearman **{', '.join(f'{x:.2f}' for x in spearman)}**, Pearson {', '.join(f'{x:.2f}' for x in pearson)} "
            f"(`drex_{env_id}_seed<N>_reward.png`)"
            + (
                f"; without the random policy's rollouts: Spearman {', '.join(f'{x:.2f}' for x in without_random)}"
                if None not in without_random
                else ""
            ),
            f"- env steps per seed: {runs[0]['env_steps']}",
            "",
            "| agent | rule | mean true return | 95% CI | vs best demo |",
            "|---|---|---:|---|---|",
        ]
        demos = pooled(runs, "demonstrations (true return)")
        if demos:
            lines.append(
                f"| demonstrations | — | {demos['mean']:.1f} | [{demos['ci95'][0]:.1f}, {demos['ci95'][1]:.1f}] | best {best_demo:.1f} |"
            )
        for prefix in ROWS:
            candidates = [pooled(runs, f"{prefix}/{rule}") for rule in ("argmax", "sample")]
            candidates = [c for c in candidates if c]
            if not candidates:
                continue
            a = max(candidates, key=lambda c: c["mean"])
            lo, hi = a["ci95"]
            verdict = "above" if lo > best_demo else "below" if hi < best_demo else "CI covers it"
            rule = a["name"].rsplit("/", 1)[1]
            lines.append(f"| {prefix} | {rule} | {a['mean']:.1f} | [{lo:.1f}, {hi:.1f}] | {verdict} |")
        expert = pooled(runs, "held-out: expert (never shown)")
        if expert:
            lines.append(
                f"| expert (never shown; reference) | — | {expert['mean']:.1f} | [{expert['ci95'][0]:.1f}, {expert['ci95'][1]:.1f}] | — |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
