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
    """Markdown table of a sweep: asked, (where present) the request it was mapped to and the
    prediction made before acting, achieved, and the data episodes at or above the ask."""
    support = all("data_episodes_at_or_above" in p for p in points)
    predicted = any(p.get("predicted") for p in points)
    head = "| asked return |" + (" asked as | predicted [middle half] |" if predicted else "")
    head += " achieved mean | 95% CI |" + (" data episodes at or above the ask |" if support else "")
    lines = [head, "|---:|" + ("---:|---|" if predicted else "") + "---:|---|" + ("---:|" if support else "")]
    for p in points:
        row = f"| {p['asked']:.0f} |"
        if predicted:
            pred, mapped = p.get("predicted"), p.get("mapped_to")
            row += f" {'—' if mapped is None else f'{mapped:.0f}'} |"
            row += f" {'—' if not pred else f'{pred[1]:.0f} [{pred[0]:.0f}, {pred[2]:.0f}]'} |"
        row += f" {p['mean']:.1f} | [{p['ci95'][0]:.1f}, {p['ci95'][1]:.1f}] |"
        lines.append(row + (f" {p['data_episodes_at_or_above']} |" if support else ""))
    return "\n".join(lines)


def write_text(path: Path, text: str) -> None:
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text))


PACKAGES = (
    "justask",
    "torch",
    "numpy",
    "gymnasium",
    "minari",
    "d3rlpy",
    "stable-baselines3",
    "minigrid",
    "gymnasium-robotics",
    "sentence-transformers",
    # also in the numbers: a fresh install once moved the demo's and the text records with only
    # sentence-transformers differing among the packages listed above
    "box2d",
    "transformers",
    "scikit-learn",
    "scipy",
    "ogbench",
    "mujoco",
)


_COMMIT_AT_START: list[str | None] = []  # the commit when this process first asked (before any later commit)


def git_commit() -> str | None:
    """The commit of the checkout justask runs from, with ``-dirty`` when tracked files differ
    from it (None outside a git checkout), as it was when this process first asked: a long run
    records the code it started with, not a commit made while it ran. ``justask.report`` asks
    when it is imported."""
    if not _COMMIT_AT_START:
        _COMMIT_AT_START.append(_current_commit())
    return _COMMIT_AT_START[0]


def _current_commit() -> str | None:
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def command_line() -> str:
    """How this process was started, as a person would type it."""
    import shlex
    import sys

    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("justask", "__main__.py"):
        argv[0] = "justask"
    return " ".join(shlex.quote(a) for a in argv)


def provenance(config: Any = None, seeds: Sequence[int] | None = None, command: str | None = None) -> dict[str, Any]:
    """What produced a result: the command, the full config, the seeds, package versions, the
    git commit, the machine and how it computes on the CPU."""
    import dataclasses
    import datetime
    import os
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from justask import cpu_math

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "command": command or command_line(),
        "config": dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config,
        "seeds": list(seeds) if seeds is not None else None,
        "versions": versions,
        "git_commit": git_commit(),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            **cpu_math.state(),
        },
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def provenance_markdown(prov: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items() if v)
    machine = prov["machine"]
    return (
        "## Provenance\n\n"
        f"- command: `{prov['command']}`\n"
        f"- seeds: {prov['seeds']}\n"
        f"- git commit: {prov['git_commit']}\n"
        f"- machine: {machine['cpu_count']} CPUs, {machine['platform']}, Python {machine['python']}; "
        f"CPU math {machine['mkl_cbwr']} / {machine['aten_cpu_capability']}, {machine['torch_threads']} torch threads\n"
        f"- versions: {versions}\n"
        f"- finished: {prov['finished']}\n"
    )


def write_report(
    run_dir: Path,
    report: dict[str, Any],
    markdown: str,
    *,
    config: Any = None,
    seeds: Sequence[int] | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """The one door for reports: ``report.json`` and ``report.md`` in ``run_dir``, each written
    atomically, with a provenance block (``provenance``). Returns the report as written."""
    prov = report.get("provenance") or provenance(config, seeds, command)
    report = {**report, "provenance": prov}
    write_json(Path(run_dir) / "report.json", report)
    write_text(Path(run_dir) / "report.md", markdown.rstrip() + "\n\n" + provenance_markdown(prov))
    return report


def plot_sweep(
    path: Path,
    sweeps: dict[str, Sequence[dict[str, Any]]],
    *,
    marks: dict[str, float] | None = None,
    reference: dict[str, tuple[float, float, float]] | None = None,
    title: str = "Asked vs achieved return",
) -> None:
    """Achieved return (mean, 95% CI) against asked return, one line per model (with, where the
    points carry ``predicted`` [lo, mid, hi], the prediction as a dashed line in a band); vertical
    ``marks`` (e.g. the data's 95th percentile) and horizontal reference lines (mean, lo, hi)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    all_asked = [p["asked"] for pts in sweeps.values() for p in pts]
    lo_x, hi_x = min(all_asked), max(all_asked)
    ax.plot([lo_x, hi_x], [lo_x, hi_x], color="grey", ls=":", lw=1, label="achieved = asked")
    for (label, x), color in zip(
        (marks or {}).items(), ("tab:olive", "tab:red", "tab:brown", "tab:pink"), strict=False
    ):
        ax.axvline(x, color=color, ls="--", lw=1, label=label)
    for name, (mean, lo, hi) in (reference or {}).items():
        line = ax.axhline(mean, lw=1, ls="-.", label=f"{name} ({mean:.0f})", color="tab:purple")
        ax.axhspan(lo, hi, alpha=0.08, color=line.get_color())
    for name, pts in sweeps.items():
        asked = np.array([p["asked"] for p in pts])
        mean = np.array([p["mean"] for p in pts])
        err = np.array([[p["mean"] - p["ci95"][0], p["ci95"][1] - p["mean"]] for p in pts]).T
        drawn = ax.errorbar(asked, mean, yerr=err, marker="o", capsize=3, label=name)
        if all(p.get("predicted") for p in pts):  # what asking was predicted to get: mean and middle half
            lo, mid, hi = np.array([p["predicted"] for p in pts]).T
            color = drawn.lines[0].get_color()
            ax.fill_between(asked, lo, hi, color=color, alpha=0.12, lw=0)
            ax.plot(asked, mid, color=color, ls="--", lw=1, label=f"{name}: predicted (mean, middle half)")
    ax.set_xlabel("asked return")
    ax.set_ylabel("achieved return (mean, 95% CI)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def plot_agents(path: Path, rows: Sequence[dict[str, Any]], title: str = "Mean return per agent") -> None:
    """Horizontal bars of mean return with 95% CIs, one per evaluated agent, coloured by agent
    (both action rules of one agent share a colour; the dataset's own episodes are grey)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['name']} (n={r['episodes']})" for r in rows]
    means = np.array([r["mean"] for r in rows])
    err = np.array([[r["mean"] - r["ci95"][0], r["ci95"][1] - r["mean"]] for r in rows]).T
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(rows) + 1.2), dpi=110)
    y = np.arange(len(rows))[::-1]
    families = list(dict.fromkeys(r["name"].split("/")[0] for r in rows if r.get("action_rule")))
    palette = plt.get_cmap("tab10")
    colors = [
        palette(families.index(r["name"].split("/")[0]) % 10) if r.get("action_rule") else "tab:gray" for r in rows
    ]
    ax.barh(y, means, xerr=err, color=colors, capsize=2, alpha=0.85)
    ax.set_yticks(y, labels, fontsize=7)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("mean return (bootstrap 95% CI); grey: the dataset's own episodes")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def caption_font(size: int = 11) -> Any:
    """DejaVu Sans (shipped with matplotlib): PIL's default bitmap font draws spaces so narrow
    that "DT asked 117" read as "DTasked 117"."""
    from pathlib import Path as _Path

    import matplotlib
    from PIL import ImageFont

    path = _Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return ImageFont.truetype(str(path), size) if path.is_file() else ImageFont.load_default()


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

    font = caption_font()

    def grab() -> None:
        image = Image.fromarray(env.render())
        image = image.resize((int(image.width * scale), int(image.height * scale)))
        bright = np.asarray(image)[:16, :200].mean() > 128  # dark text on a light scene (CartPole)
        ink = (0, 0, 0) if bright else (255, 255, 255)
        ImageDraw.Draw(image).text((4, 4), f"{caption}   t={t}   return={total:.0f}", fill=ink, font=font)
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


git_commit()  # now, at import: see git_commit
