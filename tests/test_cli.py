import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from justask.cli import app

runner = CliRunner()


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def one_line_error(result, match):
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("justask: error:")]
    assert len(errors) == 1 and match in errors[0], result.output
    return errors[0]


@pytest.fixture
def tiny_run(tmp_path):
    """collect -> train: a tiny LunarLander MLP run folder."""
    r = run("collect", "--population", "random", "--episodes", 6, "--out", "./data/tiny", "--num-envs", 3)
    assert r.exit_code == 0, r.output
    r = run(
        "train",
        "--dataset",
        "./data/tiny",
        "--run",
        "runs/tiny",
        "--model",
        "mlp",
        "--steps",
        10,
        "--batch-size",
        8,
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    return Path("runs/tiny")


@pytest.mark.parametrize(
    "command", ["collect", "train", "ask", "eval", "drex", "demo", "demo lunarlander", "demo drex"]
)
def test_every_command_has_help(command):
    r = run(*command.split(), "--help")
    assert r.exit_code == 0 and "Usage" in r.output


def test_collect_train_eval_ask_end_to_end(tiny_run):
    cfg = json.loads((tiny_run / "config.json").read_text())
    assert cfg["model"]["kind"] == "mlp" and cfg["env_id"] == "LunarLander-v3"
    r = run("eval", tiny_run, "--episodes", 4, "--num-envs", 4, "--sweep", 2, "--sweep-episodes", 2)
    assert r.exit_code == 0, r.output
    report = json.loads((tiny_run / "report.json").read_text())
    assert [a["action_rule"] for a in report["agents"]] == ["argmax", "sample"]
    assert all(a["episodes"] == 4 and len(a["ci95"]) == 2 for a in report["agents"])
    assert len(report["sweep"]["points"]) == 2 and (tiny_run / "sweep.png").is_file()
    r = run("ask", tiny_run, "--return-to-go", "120", "--gif", "ask.gif")
    assert r.exit_code == 0, r.output
    assert "asked 120" in r.output and Path("ask.gif").stat().st_size > 1000
    from PIL import Image

    assert Image.open("ask.gif").n_frames > 5


def test_eval_acts_with_the_kv_cache_on_a_dt_run():
    r = run("collect", "--population", "random", "--episodes", 4, "--out", "./data/tiny", "--num-envs", 4)
    assert r.exit_code == 0, r.output
    r = run("train", "--dataset", "./data/tiny", "--run", "runs/dt", "--model", "dt", "--steps", 5, "--no-progress")
    assert r.exit_code == 0, r.output
    r = run("eval", "runs/dt", "--episodes", 4, "--num-envs", 4, "--kv-cache")
    assert r.exit_code == 0, r.output
    report = json.loads(Path("runs/dt/report.json").read_text())
    assert [a["episodes"] for a in report["agents"]] == [4, 4]


def test_train_resume_continues_a_killed_run(tiny_run):
    r = run(
        "train",
        "--dataset",
        "./data/tiny",
        "--run",
        tiny_run,
        "--model",
        "mlp",
        "--steps",
        20,
        "--batch-size",
        8,
        "--no-progress",
        "--resume",
    )
    # resuming with a larger step budget extends the run; another model config is refused
    assert r.exit_code == 0, r.output
    r = run("train", "--dataset", "./data/tiny", "--run", tiny_run, "--model", "dt", "--steps", 20, "--resume")
    one_line_error(r, "different model config")


def test_unknown_env_id_leaves_nothing_behind():
    r = run("collect", "--env", "NoSuchEnv-v0", "--out", "./data/x")
    one_line_error(r, "unknown env id 'NoSuchEnv-v0'")
    assert not Path("data/x").exists()


def test_dataset_whose_spaces_do_not_match_the_env():
    assert (
        run(
            "collect", "--env", "CartPole-v1", "--population", "random", "--episodes", 3, "--out", "./data/cp"
        ).exit_code
        == 0
    )
    r = run("demo", "lunarlander", "--dataset", "./data/cp", "--out", "runs/demo-x")
    one_line_error(r, "dataset ./data/cp has observations of shape (4,), env LunarLander-v3 gives (8,)")
    assert not Path("runs/demo-x").exists()


def test_model_evaluated_on_the_wrong_env(tiny_run):
    one_line_error(
        run("eval", tiny_run, "--env", "CartPole-v1", "--episodes", 2),
        "observations of shape (8,), env CartPole-v1 gives (4,)",
    )


def test_missing_and_corrupt_checkpoints(tiny_run):
    one_line_error(run("ask", "runs/nothing"), "run folder runs/nothing does not exist")
    (tiny_run / "model.safetensors").write_bytes(b"not a checkpoint at all")
    one_line_error(run("ask", tiny_run), "is corrupt or not a safetensors file")
    (tiny_run / "model.safetensors").unlink()
    one_line_error(run("eval", tiny_run), "model.safetensors not found")


def test_run_folder_of_another_kind(tiny_run):
    Path("runs/demo").mkdir(parents=True)
    Path("runs/demo/config.json").write_text(json.dumps({"run_kind": "demo", "models": ["dt", "rvs"]}))
    one_line_error(run("ask", "runs/demo"), "runs/demo is a 'demo' run, not a trained policy model")


def test_condition_of_the_wrong_kind(tiny_run):
    one_line_error(run("ask", tiny_run, "--text", "land between the flags"), "ask with return_to_go=..., got text")
    one_line_error(run("ask", tiny_run, "--return-to-go", "lots"), "--return must be a number or 'best'")


def test_missing_dataset_for_training():
    r = run("train", "--dataset", "./data/none", "--run", "runs/r")
    one_line_error(r, "no Minari dataset")
    assert not Path("runs/r").exists()


def test_console_script_exits_non_zero_with_one_line(tmp_path):
    exe = Path(sys.executable).with_name("justask")
    proc = subprocess.run([str(exe), "ask", "runs/missing"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "justask: error: run folder runs/missing does not exist"
