"""``justask demo worlds``: the domain-randomization comparison for one training seed, with its
report, plot and a rollout of the history model in a held-out world."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from justask.checkpoint import new_run_folder
from justask.configs import WorldsDemoConfig, command_line
from justask.errors import JustAskError

RUN_KIND = "demo-worlds"


def run_worlds_demo(cfg: WorldsDemoConfig) -> dict[str, Any]:
    from justask.checkpoint import load_model
    from justask.methods.worlds import WorldsConfig, agent_for, run_worlds, suites
    from justask.methods.worlds_report import markdown, plot
    from justask.report import rollout_gif

    out = Path(cfg.out)
    try:
        noise = tuple(float(x) for x in cfg.noise.split(",") if x.strip())
    except ValueError as exc:
        raise JustAskError(f"--noise takes comma-separated shares, got '{cfg.noise}'") from exc
    if not noise or any(not 0 <= x <= 1 for x in noise):
        raise JustAskError(f"--noise shares must lie in [0, 1], got '{cfg.noise}'")
    worlds_cfg = WorldsConfig.from_values({**dataclasses.asdict(cfg), "noise": noise})
    new_run_folder(out, RUN_KIND, "demo", dataclasses.asdict(cfg), cfg.overwrite)
    start = time.time()
    results = run_worlds(worlds_cfg, out, [cfg.seed], ppo_steps=cfg.ppo_steps)
    seconds = time.time() - start
    for row in results["rows"]:
        row.pop("returns", None)
    command = command_line("justask demo worlds", cfg)
    results["seconds"] = round(seconds, 1)
    (out / "report.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "report.md").write_text(markdown(results, command.strip(), seconds))
    plot(results, out / "returns.png")
    (out / "worlds_partial.json").unlink(missing_ok=True)
    if cfg.gif:
        suite = suites()[worlds_cfg.family]
        # a rewired world from a held-out box: the model has to find out how its actions act
        box = list(suite.family.held_out)[0]
        hidden = suite.family.hidden[0]
        seed = next(s for s in range(10_000, 20_000) if suite.family.sample(s, box)[hidden] < 0)
        trained = "history" if not cfg.dagger_rounds else f"history-dagger{cfg.dagger_rounds}"
        model = load_model(out / f"seed{cfg.seed}" / trained)
        world = suite.family.sample(seed, box)
        caption = f"history DT, {box}, {hidden} {world[hidden]:+.0f}"
        results["gif"] = rollout_gif(
            out / "rollout.gif",
            suite.env_id,
            agent_for("history", model, suite, box),
            seed=seed,
            caption=caption,
            env_kwargs={"box": box},
            every=4,
        )
    return results
