"""Does the hindsight sentence steer? Caption and training variants against instruction BC on
one BabyAI level, each measured by the steering control that names another object in the room.

    python benchmarks/language_steering.py [--level GoToLocal] [--seeds 0] [--episodes 200]

Each variant is the language recipe (``justask.recipes.language``) with a few options changed;
instruction BC is trained beside some, on as many env steps as that variant's play (and with its
'done' step where the variant has one).
Every model is asked its own mission, the same verb about another object in its room, another
episode's mission and an irrelevant sentence on the same episodes; the steering gap is own minus
other (paired bootstrap CI). Writes ``benchmarks/results/language_steering.{json,md,png}`` and
``benchmarks/results/language_summary.json`` (``[{level, variant, set, model, success, ci95,
steering_gap, steps_to_success, env_steps, source}]``, rebuilt from every recorded
``language_steering*.json``: a (level, variant, set) measured again keeps its newest row;
``--summary-only`` rebuilds it alone); the runs go to ``--run``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

# name -> (what it changes, the recipe options); "peer": instruction BC trained beside it.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "plain": ("segments from the last change to the world (the recipe's default until now)", {"peer": True}),
    "goto_from_event": ("'go to' segments start after the previous event", {"goto_from_event": True}),
    "direct": ("'go to'/'pick up' segments start where the approach became direct", {"direct_segments": True}),
    "goto_from_event_done": (
        "'go to' from the previous event; every segment and every BC demo ends with 'done' in its final state "
        "(the recipe's default now)",
        {"goto_from_event": True, "done_step": True, "peer": True},
    ),
    "goto_from_event_5x": (
        "'go to' from the previous event, 5x the play",
        {"goto_from_event": True, "play_episodes": 1000, "peer": True},
    ),
    "goto_from_event_done_5x": (
        "'go to' from the previous event and the 'done' step, 5x the play",
        {"goto_from_event": True, "done_step": True, "play_episodes": 1000, "peer": True},
    ),
    "goto_from_event_5x_guided": (
        "'go to' from the previous event, 5x the play, condition dropout 0.2, guidance 1/2/3 chosen on validation",
        {"goto_from_event": True, "play_episodes": 1000, "dropout": 0.2, "guidance": (1.0, 2.0, 3.0)},
    ),
    "clean_play": (
        "'go to' from the previous event and the 'done' step, play from the noiseless bot only (no noisy bot, no random walks)",
        {"goto_from_event": True, "done_step": True, "noisy_share": 0.0, "random_share": 0.0, "peer": True},
    ),
    "dt_goto_from_event_done": (
        "the text DT (context 8), 'go to' from the previous event and the 'done' step; BC is a DT too",
        {"goto_from_event": True, "done_step": True, "kind": "dt", "peer": True},
    ),
    "wandering_clause": (
        "'go to' from the previous event and the 'done' step; segments not direct all the way end in 'after "
        "wandering', direct ones keep the plain caption",
        {"goto_from_event": True, "done_step": True, "wandering_clause": True, "peer": True},
    ),
    "film": (
        "'go to' from the previous event and the 'done' step; the MLP (hindsight and BC alike) conditions every "
        "hidden layer on the sentence (FiLM)",
        {"goto_from_event": True, "done_step": True, "film": True, "peer": True},
    ),
    "dt_no_timestep": (
        "the text DT without its timestep embedding ('go to' from the previous event, the 'done' step): "
        "segments restart the step count, so late steps of an episode are ones it never saw",
        {"goto_from_event": True, "done_step": True, "kind": "dt", "timestep": False, "peer": True},
    ),
    "direct_done": (
        "'go to' from the previous event, cut to where the approach became direct, and the 'done' step "
        "(instruction BC as in goto_from_event_done)",
        {"goto_from_event": True, "done_step": True, "direct_segments": True},
    ),
    "optimal": (
        "'go to' / 'pick up' / 'open' segments keep only their shortest way to the object (every action left on a "
        "shortest path), the 'done' step (instruction BC as in goto_from_event_done)",
        {"goto_from_event": True, "done_step": True, "optimal_segments": True},
    ),
    "dt_optimal": (
        "the text DT without its timestep embedding, segments kept to their shortest way to the object, the "
        "'done' step (instruction BC as in dt_no_timestep)",
        {"goto_from_event": True, "done_step": True, "optimal_segments": True, "kind": "dt", "timestep": False},
    ),
    "location": (
        "half the 'pick up' captions name the object by where it was when the segment began ('pick up the key "
        "on your left', as BabyAI's missions do), 'go to' from the previous event, the 'done' step",
        {"goto_from_event": True, "done_step": True, "location_share": 0.5},
    ),
    "rare_x4": (
        "every 'pick up' / 'put next to' / 'open' segment four times over (the rare events as common as the "
        "'go to' ones), 'go to' from the previous event, the 'done' step",
        {"goto_from_event": True, "done_step": True, "rare_repeat": 4},
    ),
    "wide_condition": (
        "the MLP's sentence embedding projected to 256 numbers, not 32 (hindsight and BC alike; the recipe's "
        "default since): sentences that differ in one colour word are close in the encoder's space",
        {"goto_from_event": True, "done_step": True, "condition_embed": 256, "peer": True},
    ),
    "plain_done_wide": (
        "segments from the last change to the world (long approaches, every later object's 'go to' caption) with "
        "the 'done' step and the 256-number sentence embedding",
        {"goto_from_event": False, "done_step": True, "condition_embed": 256},
    ),
    "dt_direct": (
        "the text DT without its timestep embedding, segments cut to where the approach became direct, "
        "the 'done' step (instruction BC as in dt_no_timestep)",
        {"goto_from_event": True, "done_step": True, "direct_segments": True, "kind": "dt", "timestep": False},
    ),
}


def config_for(name: str, args: argparse.Namespace) -> Any:
    import dataclasses

    from justask.recipes import language as lg

    options = dict(VARIANTS[name][1])
    dropout = options.pop("dropout", 0.0)
    film = options.pop("film", False)
    timestep = options.pop("timestep", True)
    embed = options.pop("condition_embed", 32)  # the MLP's width when these variants were recorded
    base = lg.Config()
    return lg.Config(
        out=str(Path(args.run) / name),
        level=args.level,
        seeds=tuple(args.seeds),
        eval_episodes=args.episodes,
        gif=False,
        overwrite=True,
        mlp=dataclasses.replace(
            base.mlp,
            condition_dropout=dropout,
            condition_film=film,
            condition_embed=embed,
        ),
        dt=dataclasses.replace(base.dt, timestep_embedding=timestep),
        **{"peer": False, "goto_from_event": False, "done_step": False, **options},
    )


def rows_of(name: str, report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (model, set) of a variant's report: success, controls, gap, steps, first."""
    out = []
    chosen = {m: r["chosen"] for per_seed in report["rules"].values() for m, r in per_seed.items()}
    for r in report["steering"]:
        model = r["model"] if r["model"].startswith("instruction BC") else f"hindsight: {name}"
        env_steps = report["data"]["play_steps"]
        out.append(
            {
                "variant": name if not model.startswith("instruction BC") else f"instruction BC ({name})",
                "model": model,
                "set": r["set"],
                "episodes": r["episodes"],
                "seeds": r["seeds"],
                "action_rule": chosen.get(r["model"]),
                "own": r["asked"],
                "other": r.get("other"),
                "shuffled": r.get("shuffled"),
                "irrelevant": r.get("irrelevant"),
                "steering_gap": r.get("gap_other"),
                "env_steps": env_steps,
            }
        )
    return out


def plot(rows: list[dict[str, Any]], path: Path, level: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    own_rows = [r for r in rows if r["set"] == "own missions"]
    labels = [r["variant"].replace("_", " ") for r in own_rows]
    x = np.arange(len(own_rows))
    fig, ax = plt.subplots(figsize=(max(8.5, 1.3 * len(own_rows)), 4.5))
    for k, (key, colour, label) in enumerate(
        (
            ("own", "tab:blue", "told its mission"),
            ("other", "tab:orange", "told another object"),
            ("irrelevant", "tab:grey", "told an irrelevant sentence"),
        )
    ):
        means = [r[key]["mean"] for r in own_rows]
        lo = [r[key]["mean"] - r[key]["ci95"][0] for r in own_rows]
        hi = [r[key]["ci95"][1] - r[key]["mean"] for r in own_rows]
        ax.bar(x + (k - 1) * 0.27, means, 0.27, yerr=[lo, hi], color=colour, label=label, capsize=3)
    for i, r in enumerate(own_rows):
        g = r["steering_gap"]
        ax.text(i, 1.0, f"gap {g['mean']:+.2f}", ha="center", fontsize=8)
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.25)
    ax.set_ylabel("success (the env's mission)")
    ax.set_title(f"BabyAI {level}, own missions: does the sentence steer? (95% bootstrap CIs)", fontsize=10)
    ax.legend(fontsize=8, loc="upper right", ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    from justask.conditions import IRRELEVANT

    lines = [
        f"# Does the hindsight sentence steer? BabyAI {args.level}",
        "",
        f"Seeds {list(args.seeds)}, {args.episodes} episodes per set and per control, each model at its way of "
        "acting chosen on 100 validation episodes (argmax or sample; with guidance weights where trained with "
        "condition dropout). Controls on the same episodes, success judged by the env's mission throughout: "
        f"*other* = the same verb about another object in the room, *irrelevant* = '{IRRELEVANT}'. Steering gap = "
        "own − other, paired bootstrap 95% CI. Steps = mean steps of the successes; first = share whose first "
        "object faced / picked up is the asked one.",
        "",
        "Variants: " + "; ".join(f"**{n}**: {d}" for n, (d, _) in VARIANTS.items() if n in args.variants) + ".",
        "",
        "| variant | set | acting | env steps | own | other | irrelevant | steering gap | steps own / other | first own / other |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        g = r["steering_gap"]
        steps = " / ".join(f"{r[k].get('steps_to_success', float('nan')):.1f}" for k in ("own", "other"))
        first = " / ".join(f"{r[k].get('first_is_asked', float('nan')):.2f}" for k in ("own", "other"))
        lines.append(
            f"| {r['variant']} | {r['set']} | {r['action_rule']} | {r['env_steps']:,} | {r['own']['mean']:.2f} "
            f"| {r['other']['mean']:.2f} | {r['irrelevant']['mean']:.2f} "
            f"| {g['mean']:+.2f} [{g['ci95'][0]:+.2f}, {g['ci95'][1]:+.2f}] | {steps} | {first} |"
        )
    picture = Path(args.out).with_suffix(".png").name
    return "\n".join(lines) + f"\n\nPicture: `{picture}` (own missions).\n"


def summary_rows(record: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """One recorded steering run's rows in the summary's shape."""
    return [
        {
            "level": record["level"],
            "variant": r["variant"],
            "set": r["set"],
            "model": r["model"],
            "success": r["own"]["mean"],
            "ci95": r["own"]["ci95"],
            "steering_gap": r["steering_gap"],
            "steps_to_success": r["own"].get("steps_to_success"),
            "env_steps": r["env_steps"],
            "episodes": r["episodes"],
            "seeds": r["seeds"],
            "source": source,
        }
        for r in record["rows"]
    ]


def write_summary(results: Path) -> Path:
    """``language_summary.json`` rebuilt from every recorded ``language_steering*.json`` in
    ``results`` (oldest first; a (level, variant, set) row measured again keeps its newest)."""
    from justask.report import write_json

    def finished(path: Path) -> str:
        return json.loads(path.read_text())["provenance"].get("finished", "")

    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    sources = {}
    for path in sorted(results.glob("language_steering*.json"), key=finished):
        record = json.loads(path.read_text())
        for row in summary_rows(record, path.name):
            rows[(row["level"], row["variant"], row["set"])] = row
        sources[path.name] = record["provenance"]
    target = results / "language_summary.json"
    write_json(target, {"rows": list(rows.values()), "provenance_by_file": sources})
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", default="GoToLocal")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--run", default="runs/benchmarks/language_steering")
    parser.add_argument("--out", default=str(ROOT / "results" / "language_steering"))
    parser.add_argument("--summary-only", action="store_true", help="only rebuild language_summary.json")
    args = parser.parse_args(argv)
    if args.summary_only:
        print(f"wrote {write_summary(Path(args.out).parent)}", flush=True)
        return 0

    from justask.recipes import recipe, run_recipe
    from justask.report import provenance, provenance_markdown, write_json, write_text

    rows: list[dict[str, Any]] = []
    for name in args.variants:
        print(f"== {name}: {VARIANTS[name][0]}", flush=True)
        report = run_recipe(recipe("language"), config_for(name, args))
        rows += rows_of(name, report)
    prov = provenance(vars(args), seeds=args.seeds)
    out = Path(args.out)
    write_json(out.with_suffix(".json"), {"level": args.level, "rows": rows, "provenance": prov})
    write_text(out.with_suffix(".md"), markdown(rows, args) + "\n" + provenance_markdown(prov))
    plot(rows, out.with_suffix(".png"), args.level)
    write_summary(out.parent)
    print(f"wrote {out.with_suffix('.md')}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
