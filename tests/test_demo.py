import json
from pathlib import Path

import pytest

from justask.configs import DemoConfig
from justask.methods.lunarlander_demo import run_demo

TINY = dict(
    episodes_per_policy=3,
    dt_steps=20,
    mlp_steps=20,
    cql_steps=20,
    dt_context=3,
    dt_dim=16,
    dt_layers=1,
    mlp_batch=32,
    eval_episodes=4,
    sweep_points=2,
    sweep_episodes=2,
    num_envs=4,
)


def test_tiny_demo_writes_the_whole_report():
    report = run_demo(DemoConfig(out="runs/tiny-demo", **TINY))
    out = Path("runs/tiny-demo")
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["agents"] == report["agents"]
    rows = report["agents"]
    for row in rows:
        assert set(row) >= {"name", "condition", "action_rule", "episodes", "mean", "ci95"}
        assert row["ci95"][0] <= row["mean"] <= row["ci95"][1]
    evaluated = [r for r in rows if r["action_rule"]]
    assert {r["action_rule"] for r in evaluated} == {"argmax", "sample"}
    assert all(r["episodes"] == 4 for r in evaluated)
    assert len([r for r in rows if r["name"].startswith("data: ")]) == 7
    names = {r["name"].split("/")[0] for r in evaluated}
    assert names == {
        "BC",
        "filtered BC (top 10%)",
        "d3rlpy DiscreteCQL",
        "DT asked high",
        "DT asked best",
        "RvS asked best",
    }
    for model in ("dt", "rvs"):
        points = report["sweep"][model]["points"]
        assert len(points) == 4 and all(set(p) >= {"asked", "mean", "ci95"} for p in points)
        support = [p["data_episodes_at_or_above"] for p in points]
        assert support == sorted(support, reverse=True) and support[-1] == 0  # asked above the data's best
    assert 0 <= report["dataset"]["bc_argmax_expert_disagreement"] <= 1
    for name in ("report.md", "sweep.png", "agents.png", "rollout.gif", "dataset", "dt", "rvs", "bc", "filtered_bc"):
        assert (out / name).exists(), name
    assert "| agent |" in (out / "report.md").read_text()
    # the demo folder is a 'demo' run: asking it directly says which model folders it holds
    from justask.checkpoint import load_model
    from justask.errors import JustAskError

    with pytest.raises(JustAskError, match="holds several models"):
        load_model(out)


@pytest.mark.slow
def test_default_demo_end_to_end():
    """The README's first command on its defaults (about 10 minutes on 2 cores)."""
    report = run_demo(DemoConfig(out="runs/demo"))
    best = max((r for r in report["agents"] if r["name"].startswith("RvS asked best/")), key=lambda r: r["mean"])
    bc = max((r for r in report["agents"] if r["name"].startswith("BC/")), key=lambda r: r["mean"])
    assert best["ci95"][0] > bc["ci95"][1]


def test_top_of_data_names_the_policies_behind_the_highest_returns():
    from conftest import hand_made_episodes

    from justask.methods.lunarlander_demo import top_of_data, top_of_data_finding

    episodes = hand_made_episodes(lengths=(3, 1, 4))  # returns 6, 1, 10 from policies p0, p1, p0
    top = top_of_data(episodes, 10.0)
    assert top["episodes"] == 1
    assert top["by_policy"] == {"p0": {"episodes": 1, "policy_mean_return": 8.0, "policy_share_at_or_above": 0.5}}
    assert top_of_data(episodes, 1.0)["by_policy"]["p1"]["episodes"] == 1
    assert "p0: 1 (50% of its episodes; its mean return 8)" in top_of_data_finding(top, 10.0)
