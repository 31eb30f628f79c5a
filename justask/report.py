"""Reports a person and a program can read: JSON, Markdown, PNG plots and a rollout GIF."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from justask.checkpoint import atomic_write, write_json
from justask.evaluation import EvalResult
from justask.policies import Policy


def results_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of evaluated agents (``EvalResult.to_json`` rows)."""
    lines = [
        "| agent | asked | action rule | episodes | mean return | 95% CI |",
        "|---|---|---|---:|---:|---|",
    ]
    for r in rows:
        asked = (
            "—"
            if r.get("condition") is None
            else f"{r['condition']:.0f}"
            if isinstance(r["condition"], float)
            else str(r["condition"])
        )
        lo, hi = r["ci95"]
        lines.append(
            f"| {r['name']} | {asked} | {r.get('action_rule') or '—'} | {r['episodes']} | {r['mean']:.1f} | [{lo:.1f}, {hi:.1f}] |"
        )
    return "\n".join(lines)


def sweep_table(points: Sequence[dict[str, Any]]) -> str:
    support = all("data_episodes_at_or_above" in p for p in points)
    lines = [
        "| asked return | achieved mean | 95% CI |" + (" data episodes at or above the ask |" if support else ""),
        "|---:|---:|---|" + ("---:|" if support else ""),
    ]
    for p in points:
        row = f"| {p['asked']:.0f} | {p['mean']:.1f} | [{p['ci95'][0]:.1f}, {p['ci95'][1]:.1f}] |"
        lines.append(row + (f" {p['data_episodes_at_or_above']} |" if support else ""))
    return "\n".join(lines)


def write_text(path: Path, text: str) -> None:
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text))


def write_report(run_dir: Path, report: dict[str, Any], markdown: str) -> None:
    write_json(Path(run_dir) / "report.json", report)
    write_text(Path(run_dir) / "report.md", markdown)


def plot_sweep(
    path: Path,
    sweeps: dict[str, Sequence[dict[str, Any]]],
    *,
    data_returns: np.ndarray | None = None,
    reference: dict[str, tuple[float, float, float]] | None = None,
    title: str = "Asked vs achieved return",
) -> None:
    """Achieved return (mean, 95% CI) against asked return, one line per model; the data's
    episode-return range shaded; horizontal reference lines (e.g. BC) as (mean, lo, hi)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    all_asked = [p["asked"] for pts in sweeps.values() for p in pts]
    lo_x, hi_x = min(all_asked), max(all_asked)
    ax.plot([lo_x, hi_x], [lo_x, hi_x], color="grey", ls=":", lw=1, label="achieved = asked")
    if data_returns is not None and len(data_returns):
        q95, top = np.percentile(data_returns, 95), data_returns.max()
        ax.axvline(q95, color="tab:green", ls="--", lw=1, label=f"data 95th pct ({q95:.0f})")
        ax.axvline(top, color="tab:red", ls="--", lw=1, label=f"data best episode ({top:.0f})")
    for name, (mean, lo, hi) in (reference or {}).items():
        line = ax.axhline(
            mean, lw=1, ls="-.", label=f"{name} ({mean:.0f})", color="tab:purple" if "BC" in name else None
        )
        ax.axhspan(lo, hi, alpha=0.08, color=line.get_color())
    for name, pts in sweeps.items():
        asked = np.array([p["asked"] for p in pts])
        mean = np.array([p["mean"] for p in pts])
        err = np.array([[p["mean"] - p["ci95"][0], p["ci95"][1] - p["mean"]] for p in pts]).T
        ax.errorbar(asked, mean, yerr=err, marker="o", capsize=3, label=name)
    ax.set_xlabel("asked return")
    ax.set_ylabel("achieved return (mean, 95% CI)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def plot_agents(path: Path, rows: Sequence[dict[str, Any]], title: str = "Mean return per agent") -> None:
    """Horizontal bars of mean return with 95% CIs, one per evaluated agent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["name"] for r in rows]
    means = np.array([r["mean"] for r in rows])
    err = np.array([[r["mean"] - r["ci95"][0], r["ci95"][1] - r["mean"]] for r in rows]).T
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2), dpi=110)
    y = np.arange(len(rows))[::-1]
    colors = ["tab:blue" if r.get("action_rule") else "tab:gray" for r in rows]
    ax.barh(y, means, xerr=err, color=colors, capsize=2, alpha=0.85)
    ax.set_yticks(y, labels, fontsize=7)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("mean return (bootstrap 95% CI); grey: the dataset's own episodes")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def rollout_gif(
    path: Path,
    env_id: str,
    policy: Policy,
    *,
    seed: int,
    caption: str = "",
    every: int = 2,
    scale: float = 0.5,
    env_kwargs: dict[str, Any] | None = None,
    reset_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Render one episode of ``policy`` to a GIF (every ``every``-th frame, resized by ``scale``)
    with the step and return so far written on it; returns the episode's return and length.
    ``reset_options`` go to the env's reset (e.g. a maze's ``goal``)."""
    import gymnasium as gym
    from PIL import Image, ImageDraw

    env = gym.make(env_id, render_mode="rgb_array", **(env_kwargs or {}))
    frames: list[Image.Image] = []
    slot = np.array([0])
    obs, _ = env.reset(seed=seed, options=reset_options)
    if hasattr(policy, "reset"):
        policy.reset(slot, np.array([seed]))
    total, t, done = 0.0, 0, False

    def grab() -> None:
        image = Image.fromarray(env.render())
        image = image.resize((int(image.width * scale), int(image.height * scale)))
        bright = np.asarray(image)[:16, :200].mean() > 128  # dark text on a light scene (CartPole)
        ink = (0, 0, 0) if bright else (255, 255, 255)
        ImageDraw.Draw(image).text((4, 4), f"{caption}  t={t}  return={total:.0f}", fill=ink)
        frames.append(image)

    grab()
    while not done:
        action = np.asarray(policy.act(np.asarray(obs)[None], slot))[0]
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        t += 1
        if hasattr(policy, "observe"):
            policy.observe(slot, np.array([reward]))
        done = terminated or truncated
        if t % every == 0 or done:
            grab()
    env.close()
    frames += [frames[-1]] * 15  # hold the last frame a moment
    atomic_write(
        Path(path),
        lambda tmp: frames[0].save(
            tmp, format="GIF", save_all=True, append_images=frames[1:], duration=40 * every, loop=0
        ),
    )
    return {"return": total, "length": t, "seed": seed}


def result_rows(results: Sequence[EvalResult]) -> list[dict[str, Any]]:
    return [r.to_json() for r in results]
