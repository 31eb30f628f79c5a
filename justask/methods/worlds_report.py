"""Tables and plots of a domain-randomization comparison (``justask.methods.worlds.run_worlds``)."""

from __future__ import annotations

from pathlib import Path


def _cell(e: dict | None) -> str:
    """``mean [CI] / success [CI]`` of one model in one box."""
    if e is None:
        return ""
    lo, hi = e["ci95"]
    slo, shi = e["success_ci95"]
    return f"{e['mean']:.0f} [{lo:.0f}, {hi:.0f}] / {e['success']:.2f} [{slo:.2f}, {shi:.2f}]"


def _table_head(results: dict, first: list[str]) -> list[str]:
    """What the cells mean, and the header of a table with columns ``first`` then one per box."""
    boxes = results["boxes"]
    return [
        f"Mean return [bootstrap 95% CI] / success (return >= {results.get('success_return', 475):g}) "
        "[Wilson 95% CI]; argmax actions.",
        "",
        "| " + " | ".join(first + boxes) + " |",
        "|" + "---|" * (len(first) + len(boxes)),
    ]


def markdown(results: dict, command: str, seconds: float) -> str:
    """The comparison as Markdown: one row per model, one column per world box."""
    summary = results["summary"]
    boxes = results["boxes"]
    cfg = results["config"]
    mistakes = (
        f" and, in one window of up to {cfg['mistakes']} steps per episode, acting for its world's twin"
        if cfg.get("mistakes")
        else ""
    )
    lines = [
        f"# Domain randomization: {cfg['family']}",
        "",
        f"Command: `{command}` ({seconds / 60:.1f} min on {results.get('machine') or 'this machine'}). "
        f"Training seeds {results['seeds']}; "
        f"{cfg['eval_worlds']} fresh worlds per box and seed (seeds from 1,000,000); data: "
        f"{cfg['episodes']} episodes of the privileged expert with random-action shares {cfg['noise']}"
        f"{mistakes}, "
        f"models learn the {cfg['labels']} actions; DT context {cfg['context_len']}, {cfg['dt_steps']} steps; "
        f"MLPs {cfg['mlp_steps']} steps; batch {cfg['batch_size']}; DAgger rounds {cfg['dagger_rounds']}; "
        f"test-time random-action share {cfg['test_noise']}.",
        "",
        *_table_head(results, ["model"]),
    ]
    for model, per_box in summary["models"].items():
        lines.append(f"| {model} | " + " | ".join(_cell(per_box.get(box)) for box in boxes) + " |")
    gap = summary.get("gap_closure") or {}
    if gap:
        lines += [
            "",
            "Gap closure (history - memoryless) / (oracle - memoryless): "
            + ", ".join(f"{b} {g:.2f}" if g is not None else f"{b} n/a" for b, g in gap.items()),
        ]
    for key, fmt, text in (
        (
            "steps_to_agree_median",
            "{:.0f}",
            "Median step from which the model acts as the privileged expert for 10 steps in a row",
        ),
        (
            "twin_share",
            "{:.1%}",
            "Steps on which the model acts as the expert of its world's twin (hidden parameters flipped) would, "
            "not as its own world's — self-delusion",
        ),
    ):
        per_model = [
            f"{m} " + " / ".join(fmt.format(per_box[b][key]) for b in boxes if b in per_box)
            for m, per_box in summary["models"].items()
            if all(key in e for e in per_box.values())
        ]
        if per_model:
            lines += ["", f"{text} (per box, {' / '.join(boxes)}): " + "; ".join(per_model)]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    """Bars of mean return (95% CI) per world box, one colour per model (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    summary = results["summary"]["models"]
    boxes = results["boxes"]
    models = list(summary)
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(boxes) + 2), 5))
    for i, model in enumerate(models):
        means = [summary[model].get(b, {}).get("mean", np.nan) for b in boxes]
        lo = [m - summary[model][b]["ci95"][0] if b in summary[model] else 0 for m, b in zip(means, boxes, strict=True)]
        hi = [summary[model][b]["ci95"][1] - m if b in summary[model] else 0 for m, b in zip(means, boxes, strict=True)]
        x = np.arange(len(boxes)) + (i - (len(models) - 1) / 2) * width
        ax.bar(x, means, width, yerr=[lo, hi], label=model, capsize=2)
    ax.set_xticks(np.arange(len(boxes)), boxes)
    ax.set_ylabel("mean return (95% CI)")
    ax.set_title(f"{results['config']['family']}: return per world box (training seeds {results['seeds']})")
    ncol = 4 if max(len(m) for m in models) < 30 else 2
    ax.legend(fontsize=7, ncol=ncol, loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def self_delusion_markdown(results: dict, command: str, seconds: float) -> str:
    """The self-delusion experiment: one row per (training regime, test-time noise)."""
    cfg = results["config"]
    boxes = results["boxes"]
    lines = [
        f"# Self-delusion of history models: {cfg['family']}",
        "",
        f"Command: `{command}` ({seconds / 60:.1f} min on {results.get('machine') or 'this machine'}). "
        f"Training seeds {results['seeds']}; "
        f"{cfg['eval_worlds']} fresh worlds per box, seed and row; {cfg['episodes']} training episodes; "
        f"DT context {cfg['context_len']}, {cfg['dt_steps']} steps (and as many again after each DAgger round, "
        f"{cfg['dagger_episodes']} episodes of the model per round). Test noise: the share of the model's "
        "actions replaced by uniformly random ones while it is evaluated — its own mistakes, forced.",
        "",
        "Regimes: "
        + "; ".join(
            f"**{name}**: random-action shares {r['noise']}, learns the {r['labels']} actions, "
            f"{r['dagger_rounds']} DAgger rounds"
            for name, r in results["regimes"].items()
        ),
        "",
        *_table_head(results, ["regime", "test noise"]),
    ]
    for model, per_box in results["summary"]["models"].items():
        regime, probe = model.split(" | test noise ")
        lines.append(f"| {regime} | {probe} | " + " | ".join(_cell(per_box.get(box)) for box in boxes) + " |")
    return "\n".join(lines) + "\n"
