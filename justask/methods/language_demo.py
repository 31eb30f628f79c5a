"""``justask demo language``: hindsight language on BabyAI for one training seed, with the
report, the success plot and a GIF of the model asked for a held-out composition."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from justask.checkpoint import new_run_folder
from justask.configs import LanguageDemoConfig, command_line

RUN_KIND = "demo-language"


def run_language_demo(cfg: LanguageDemoConfig) -> dict[str, Any]:
    from justask.methods.language import LanguageConfig, asked_sets, markdown, plot_success, run_language
    from justask.report import rollout_gif
    from justask.suites import babyai as ba

    out = Path(cfg.out)
    new_run_folder(out, RUN_KIND, "demo", dataclasses.asdict(cfg), cfg.overwrite)
    start = time.time()
    lcfg = LanguageConfig(
        level=cfg.level,
        play_episodes=cfg.play_episodes,
        kind=cfg.kind,
        steps=cfg.steps,
        eval_episodes=cfg.eval_episodes,
        action_rule=cfg.action_rule,
        valid_episodes=cfg.eval_episodes,  # each model's action rule chosen on as many episodes apart
        threads=cfg.threads,
    )
    results = run_language(lcfg, out, cfg.seed, peer=cfg.peer, progress=True)
    plot_success(results, out / "success.png")
    if cfg.gif:
        from justask.checkpoint import load_model

        held = asked_sets(cfg.level, 1, lcfg.held_out)["held-out compositions"]
        text, seed = held["asked"][0], held["seeds"][0]
        model = load_model(out / "hindsight")
        rule = next(r["chosen"] for name, r in results["rules"][str(cfg.seed)].items() if name.startswith("hindsight"))
        results["gif"] = rollout_gif(
            out / "rollout.gif",
            ba.env_id(cfg.level),
            model.ask(text=text, action_rule=rule, seed=cfg.seed),
            seed=seed,
            caption=f"asked: {text} ({rule})",
            reset_options={"instruction": text},
            every=1,
            scale=1.0,
        )
    results["seconds"] = round(time.time() - start, 1)
    command = command_line("justask demo language", cfg)
    (out / "report.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = markdown(results, command.strip())
    text += "\nPictures: `success.png`" + (
        ", `rollout.gif` (asked for a held-out composition).\n" if cfg.gif else ".\n"
    )
    text += f"\nTime: {results['seconds'] / 60:.1f} min ({', '.join(f'{k} {v:.0f}' for k, v in results['timings'].items())}).\n"
    (out / "report.md").write_text(text)
    return results
