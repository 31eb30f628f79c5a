import json
from pathlib import Path

import pytest

from justask.configs import TrainConfig
from justask.models import ModelConfig
from justask.recipes import recipe, run_recipe
from justask.recipes.lunarlander import SWEPT, Config

TINY = dict(
    episodes_per_policy=3,
    dt=ModelConfig(kind="dt", context_len=3, d_model=16, n_layer=1, action_tokens=False, condition_token=False),
    dt_train=TrainConfig(steps=20, batch_size=16, progress=False),
    mlp=ModelConfig(kind="mlp", hidden_sizes=(32,)),
    mlp_train=TrainConfig(steps=20, batch_size=32, progress=False),
    cql_steps=20,
    eval_episodes=4,
    sweep_points=2,
    sweep_episodes=2,
    num_envs=4,
)


def test_tiny_demo_writes_the_whole_report():
    report = run_recipe(recipe("lunarlander"), Config(out="runs/tiny-demo", **TINY))
    out = Path("runs/tiny-demo")
    on_disk = json.loads((out / "report.json").read_text())
    seed = report["per_seed"]["0"]
    assert on_disk["per_seed"]["0"]["agents"] == seed["agents"]
    assert on_disk["provenance"]["config"]["eval_episodes"] == 4 and on_disk["provenance"]["seeds"] == [0]
    rows = seed["agents"]
    for row in rows:
        assert set(row) >= {"name", "condition", "action_rule", "episodes", "mean", "ci95"}
        assert row["ci95"][0] <= row["mean"] <= row["ci95"][1]
    evaluated = [r for r in rows if r["action_rule"]]
    assert {r["action_rule"] for r in evaluated} == {"argmax", "sample"}
    assert all(r["episodes"] == 4 for r in evaluated)
    assert len([r for r in rows if r["name"].startswith("data: ")]) == 7
    names = {r["name"].split("/")[0] for r in evaluated}
    assert names == {"BC", "filtered BC (top 10%)", "d3rlpy DiscreteCQL", *SWEPT.values()}
    for model, label in SWEPT.items():
        points = seed["sweep"][model]["points"]
        assert len(points) == 4 and all(set(p) >= {"asked", "mean", "ci95", "predicted"} for p in points)
        support = [p["data_episodes_at_or_above"] for p in points]
        assert support == sorted(support, reverse=True) and support[-1] == 0  # asked above the data's best
        assert points[-1]["mapped_to"] is not None  # ... and mapped down to what the model can honour
        assert all(len(p["predicted"]) == 3 for p in points)
        control = seed["steering"][model]
        asked = next(r for r in rows if r["name"] == f"{label}/{control['action_rule']}")
        assert control["asked"]["mean"] == pytest.approx(asked["mean"], abs=0.01)  # the same episodes, not rerun
        assert "gap_shuffled" in control and len(control["gap_shuffled"]["ci95"]) == 2
    assert 0 <= seed["dataset"]["bc_argmax_expert_disagreement"] <= 1
    for name in ("report.md", "sweep.png", "agents.png"):
        assert (out / name).exists(), name
    for name in ("rollout.gif", "dataset", "dt", "rvs", "rvs_expected", "bc", "filtered_bc"):
        assert (out / "seed0" / name).exists(), name
    text = (out / "report.md").read_text()
    assert "| agent |" in text and "Does the request steer?" in text and "## Provenance" in text
    # the recipe folder holds several models: asking it directly is a one-line error
    from justask.errors import JustAskError
    from justask.models import load_model

    with pytest.raises(JustAskError, match="is a 'recipe' run, not a trained policy model"):
        load_model(out)
    # running the same recipe into its own folder again replaces it; another folder needs --overwrite
    run_recipe(recipe("lunarlander"), Config(out="runs/tiny-demo", **{**TINY, "gif": False, "sweep_models": ()}))
    Path("runs/other").mkdir()
    Path("runs/other/notes.txt").write_text("mine")
    with pytest.raises(JustAskError, match="already exists"):
        run_recipe(recipe("lunarlander"), Config(out="runs/other", **TINY))
    assert Path("runs/other/notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_default_demo_end_to_end():
    """The README's first command on its defaults (about 10 minutes on 2 cores)."""
    report = run_recipe(recipe("lunarlander"), Config(out="runs/demo"))
    rows = report["per_seed"]["0"]["agents"]
    best = max((r for r in rows if r["name"].startswith("RvS asked best/")), key=lambda r: r["mean"])
    bc = max((r for r in rows if r["name"].startswith("BC/")), key=lambda r: r["mean"])
    assert best["ci95"][0] > bc["ci95"][1]


def test_top_of_data_names_the_policies_behind_the_highest_returns():
    from conftest import hand_made_episodes

    from justask.recipes.lunarlander import top_of_data, top_of_data_finding

    episodes = hand_made_episodes(lengths=(3, 1, 4))  # returns 6, 1, 10 from policies p0, p1, p0
    top = top_of_data(episodes, 10.0)
    assert top["episodes"] == 1
    assert top["by_policy"] == {"p0": {"episodes": 1, "policy_mean_return": 8.0, "policy_share_at_or_above": 0.5}}
    assert top_of_data(episodes, 1.0)["by_policy"]["p1"]["episodes"] == 1
    assert "p0: 1 (50% of its episodes; its mean return 8)" in top_of_data_finding(top, 10.0)


def test_bad_recipe_settings_are_one_line_errors(capsys):
    from justask.cli import main

    assert main(["demo", "lunarlander", "--eval-episodes", "0", "--out", "runs/bad"]) == 2
    assert capsys.readouterr().err.strip() == "justask: error: eval_episodes must be a whole number >= 1, got 0"
    assert main(["demo", "lunarlander", "--dt-train.steps", "-5", "--out", "runs/bad"]) == 2
    assert "steps must be a whole number >= 1, got -5" in capsys.readouterr().err
    assert main(["demo", "nosuch"]) == 2
    assert "unknown recipe 'nosuch'" in capsys.readouterr().err
    assert not Path("runs/bad").exists()
