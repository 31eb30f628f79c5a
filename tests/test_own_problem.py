"""examples/own_problem.py: an env, a dataset and a condition the package has never seen."""

import importlib.util
import json
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "own_problem.py"


def test_the_own_problem_example_runs_and_the_cli_trains_on_its_column(capsys):
    spec = importlib.util.spec_from_file_location("own_problem", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    results = example.main(episodes_per_noise=3, steps=40, eval_episodes=4, out="runs/acrobot")
    assert set(results) == {-0.5, 1.2} and all(r.episodes == 4 for r in results.values())
    assert json.loads(Path("runs/acrobot/config.json").read_text())["io"]["condition"]["keyword"] == "height"
    from justask.cli import main

    args = ["--condition", "height", "--model.kind", "mlp", "--train.steps", "20", "--train.no-progress"]
    assert main(["train", "--dataset", "./data/acrobot-height", "--run", "runs/acrobot-cli", *args]) == 0
    assert main(["eval", "runs/acrobot-cli", "--request", "1.2", "--episodes", "4", "--num-envs", "4"]) == 0
    report = json.loads(Path("runs/acrobot-cli/eval/report.json").read_text())
    assert report["agents"][0]["condition"] == 1.2 and "steering" in report
    assert main(["ask", "runs/acrobot-cli", "1.2", "--gif", "a.gif"]) == 0
    assert "asked 1.2" in capsys.readouterr().out
