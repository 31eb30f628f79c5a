"""Where does a D-REX run's learned reward put its highest values? Writes JSON + Markdown.

    .venv/bin/python benchmarks/drex_probe.py runs/benchmarks/drex_benchmark --seed 0
    .venv/bin/python benchmarks/drex_probe.py runs/benchmarks/drex_benchmark/seed0   # the same

RUN is a D-REX recipe run (``benchmarks/run.py drex --preset benchmark``, ``justask demo drex``)
or one of its seed folders; the results are ``benchmarks/results/drex_probe_<env>-seed<N>.{json,md}``.

Scores 100,000 LunarLander states drawn uniformly from a box (x, y, speeds, angle, angular speed,
leg contacts) with the run's saved reward, and compares the 1,000 highest-scored ones with calm
flight (upright, slow, over the pad): r̂ and the ensemble's spread (mean minus pessimistic value).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from justask.rewards import LearnedReward  # noqa: E402

NAMES = ["x", "y", "vx", "vy", "angle", "angular_speed", "left_leg", "right_leg"]
LOW = np.array([-1, -0.1, -2, -2, -3, -5, 0, 0])
HIGH = np.array([1, 2, 2, 1, 3, 5, 1, 1])


def seed_folder(path: Path, seed: int | None) -> tuple[Path, str, int]:
    """The seed folder of a D-REX run (its reward is ``reward/``), the run's env and the seed."""
    from justask.checkpoint import read_run_config
    from justask.errors import JustAskError

    if (path / "reward").is_dir() and path.name.startswith("seed"):
        run, seed = path.parent, int(path.name.removeprefix("seed"))
    else:
        run, seed = path, 0 if seed is None else seed
    config = read_run_config(run, "recipe", "a D-REX recipe run")
    if config.get("recipe") != "drex":
        raise JustAskError(f"{run} is a '{config.get('recipe')}' recipe run, not a D-REX run")
    folder = run / f"seed{seed}"
    if not (folder / "reward").is_dir():
        raise JustAskError(f"{run} has no learned reward for seed {seed} ({folder / 'reward'} not found)")
    return folder, config["config"]["env_id"], seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a D-REX recipe run folder, or one of its seed<N> folders")
    parser.add_argument("--seed", type=int, default=None, help="which seed of the run (default 0)")
    parser.add_argument("--results", default=str(ROOT / "results"), help="folder for the JSON and Markdown")
    args = parser.parse_args()
    folder, env_id, seed = seed_folder(Path(args.run), args.seed)
    reward = LearnedReward.load(folder / "reward")
    rng = np.random.default_rng(0)
    states = rng.uniform(LOW, HIGH, (100_000, 8)).astype(np.float32)
    states[:, 6:] = np.round(states[:, 6:])
    mean, cautious = reward.predict(states), reward.predict(states, pessimism=1.0)
    top = np.argsort(-mean)[:1000]
    calm = np.zeros((8, 8), dtype=np.float32)
    calm[:, 1], calm[:, 3] = np.linspace(0, 1.4, 8), -0.1
    calm_mean, calm_cautious = reward.predict(calm), reward.predict(calm, pessimism=1.0)
    # what episodes end in: the expert's landings and a random policy's crashes (20 each)
    from justask.collection import collect
    from justask.policies import RandomPolicy
    from justask.suites.lunar_lander import LunarLanderExpert

    continuous = "Continuous" in env_id
    import gymnasium as gym

    space = gym.spaces.Box(-1, 1, (2,), np.float32) if continuous else gym.spaces.Discrete(4)
    endings = {}
    for name, policy in (
        ("expert landings", LunarLanderExpert(continuous=continuous)),
        ("random crashes", RandomPolicy(space)),
    ):
        ep = collect(env_id, [(policy, 20)], num_envs=20, seed=7, progress=False)
        ended = ep.terminations[ep.episode_starts + ep.lengths - 1].astype(bool)
        finals = ep.observations[ep.observation_starts + ep.lengths][ended]
        endings[name] = {"episodes": int(ended.sum()), "r_hat_of_final_state": float(reward.predict(finals).mean())}
    report = {
        "command": "python benchmarks/drex_probe.py " + " ".join(sys.argv[1:]),
        "top_1000": {
            "r_hat": float(mean[top].mean()),
            "r_hat_pessimistic": float(cautious[top].mean()),
            "ensemble_spread": float((mean - cautious)[top].mean()),
            "mean_abs_state": {n: float(np.abs(states[top, i]).mean()) for i, n in enumerate(NAMES)},
        },
        "all_states": {
            "ensemble_spread": float((mean - cautious).mean()),
            "mean_abs_state": {n: float(np.abs(states[:, i]).mean()) for i, n in enumerate(NAMES)},
        },
        "calm_flight": {
            "r_hat": float(calm_mean.mean()),
            "r_hat_pessimistic": float(calm_cautious.mean()),
            "ensemble_spread": float((calm_mean - calm_cautious).mean()),
        },
        "endings": endings,
        "landed_at_rest": float(reward.predict(np.array([[0, 0, 0, 0, 0, 0, 1, 1]], dtype=np.float32))[0]),
    }
    out = Path(args.results) / f"drex_probe_{env_id}-seed{seed}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    t, a, c = report["top_1000"], report["all_states"], report["calm_flight"]
    lines = [
        f"# Where the learned reward of `{folder}` is highest",
        "",
        f"Command: `{report['command']}`",
        "",
        "| states | r̂ | r̂ - 1 spread (what PPO gets) | ensemble spread |",
        "|---|---:|---:|---:|",
        f"| 1,000 highest-scored of 100,000 drawn uniformly | {t['r_hat']:.3f} | {t['r_hat_pessimistic']:.3f} | {t['ensemble_spread']:.3f} |",
        f"| calm flight over the pad (y 0-1.4, falling at 0.1) | {c['r_hat']:.3f} | {c['r_hat_pessimistic']:.3f} | {c['ensemble_spread']:.3f} |",
        f"| all 100,000 drawn | | | {a['ensemble_spread']:.3f} |",
        "",
        f"Landed at rest on the pad: r̂ {report['landed_at_rest']:.3f}. r̂ of the state episodes end in (held as "
        "the absorbing state until the time limit): "
        + ", ".join(f"{k} {v['r_hat_of_final_state']:.3f} ({v['episodes']} episodes)" for k, v in endings.items())
        + ".",
        "",
        "Mean |value| per state dimension, highest-scored vs all drawn: "
        + ", ".join(f"{n} {t['mean_abs_state'][n]:.2f} vs {a['mean_abs_state'][n]:.2f}" for n in NAMES),
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    from justask.errors import JustAskError

    try:
        main()
    except JustAskError as exc:
        print(f"justask: error: {exc}", file=sys.stderr)
        sys.exit(2)
