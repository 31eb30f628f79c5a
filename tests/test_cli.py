import json
import subprocess
import sys
from pathlib import Path

import pytest

from justask.cli import main


class Result:
    def __init__(self, code, out, err):
        self.exit_code, self.stdout, self.stderr = code, out, err
        self.output = out + err


@pytest.fixture
def run(capsys):
    def invoke(*args):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # --help
            code = exc.code
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


def one_line_error(result, match):
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("justask: error:") and match in lines[0], result.output
    return lines[0]


@pytest.fixture
def tiny_run(run):
    """collect -> train: a tiny LunarLander MLP run folder."""
    r = run("collect", "--population", "random", "--episodes", 6, "--out", "./data/tiny", "--num-envs", 3)
    assert r.exit_code == 0, r.output
    r = run(
        "train",
        "--dataset",
        "./data/tiny",
        "--run",
        "runs/tiny",
        "--model.kind",
        "mlp",
        "--train.steps",
        10,
        "--train.batch-size",
        8,
        "--train.no-progress",
    )
    assert r.exit_code == 0, r.output
    return Path("runs/tiny")


@pytest.mark.parametrize(
    "command", ["collect", "train", "ask", "eval", "serve", "demo", "demo lunarlander", "demo drex"]
)
def test_every_command_has_help(run, command):
    r = run(*command.split(), "--help")
    assert r.exit_code == 0 and "usage" in r.output.lower()


def test_demo_help_lists_its_settings_and_the_other_recipes(run):
    r = run("demo", "--help")
    assert "--eval-episodes" in r.stdout and "--dt-train.steps" in r.stdout
    assert "maze" in r.stdout and "language" in r.stdout


def test_help_keeps_square_brackets(run):
    r = run("collect", "--help")
    assert "pip install 'justask[ray]'" in " ".join(r.stdout.split())


def test_collect_train_eval_ask_end_to_end(run, tiny_run):
    cfg = json.loads((tiny_run / "config.json").read_text())
    assert cfg["model"]["kind"] == "mlp" and cfg["env_id"] == "LunarLander-v3"
    r = run("eval", tiny_run, "--episodes", 4, "--num-envs", 4, "--sweep", 2, "--sweep-episodes", 2)
    assert r.exit_code == 0, r.output
    report = json.loads((tiny_run / "eval" / "report.json").read_text())
    assert [a["action_rule"] for a in report["agents"]] == ["argmax", "sample"]
    assert all(a["episodes"] == 4 and len(a["ci95"]) == 2 for a in report["agents"])
    assert len(report["sweep"]["points"]) == 2 and (tiny_run / "eval" / "sweep.png").is_file()
    assert report["sweep"]["points"][0]["asked"] < report["sweep"]["points"][1]["asked"]
    assert {"asked", "shuffled", "gap_shuffled"} <= set(report["steering"])
    # a second eval into the same folder is refused, not silently overwritten
    one_line_error(run("eval", tiny_run, "--episodes", 2), "already holds a report")
    r = run("eval", tiny_run, "--episodes", 2, "--num-envs", 2, "--out", "runs/eval2", "--no-steering")
    assert r.exit_code == 0 and "steering" not in json.loads(Path("runs/eval2/report.json").read_text())
    r = run("ask", tiny_run, "120", "--gif", "ask.gif")
    assert r.exit_code == 0, r.output
    # 120 is above every one of the random policy's returns: mapped down to the best it can honour, with a warning
    assert "(argmax): return" in r.stdout and Path("ask.gif").stat().st_size > 1000
    assert "justask: warning: asked return_to_go=120" in r.stderr
    from PIL import Image

    assert Image.open("ask.gif").n_frames > 5
    r = run("ask", tiny_run)
    assert r.exit_code == 0 and "asked None" not in r.stdout and "e+" not in r.stdout


def test_eval_acts_with_the_kv_cache_on_a_dt_run(run):
    r = run("collect", "--population", "random", "--episodes", 4, "--out", "./data/tiny", "--num-envs", 4)
    assert r.exit_code == 0, r.output
    r = run("train", "--dataset", "./data/tiny", "--run", "runs/dt", "--train.steps", 5, "--train.no-progress")
    assert r.exit_code == 0, r.output
    assert json.loads(Path("runs/dt/config.json").read_text())["train"]["batch_size"] == 64  # the demo's DT budget
    r = run("eval", "runs/dt", "--episodes", 4, "--num-envs", 4, "--kv-cache", "--no-steering")
    assert r.exit_code == 0, r.output
    report = json.loads(Path("runs/dt/eval/report.json").read_text())
    assert [a["episodes"] for a in report["agents"]] == [4, 4]


def test_a_model_trained_with_condition_dropout_is_asked_with_guidance(run, tiny_run):
    args = ["train", "--dataset", "./data/tiny", "--run", "runs/cfg", "--model.kind", "mlp", "--train.batch-size", 8]
    r = run(*args, "--train.steps", 10, "--train.no-progress", "--model.condition-dropout", 0.2)
    assert r.exit_code == 0, r.output
    r = run("eval", "runs/cfg", "--episodes", 3, "--num-envs", 3, "--guidance", 2, "--steering")
    assert r.exit_code == 0, r.output
    report = json.loads(Path("runs/cfg/eval/report.json").read_text())
    assert [a["episodes"] for a in report["agents"]] == [3, 3] and "gap_shuffled" in report["steering"]
    assert report["guidance"] == 2 and all(a["name"].endswith("guided 2") for a in report["agents"])
    assert run("ask", "runs/cfg", "--guidance", 3, "--gif", "runs/cfg/g.gif").exit_code == 0
    one_line_error(run("ask", tiny_run, "--guidance", 2), "condition dropout")
    one_line_error(run("ask", "runs/cfg", "--guidance", -1), "guidance must be")
    bad = ["train", "--dataset", "./data/tiny", "--run", "runs/bad", "--model.condition-dropout", 1.5]
    one_line_error(run(*bad), "condition_dropout")
    assert not Path("runs/bad").exists()


def test_train_resume_continues_a_killed_run(run, tiny_run):
    args = ["train", "--dataset", "./data/tiny", "--run", tiny_run, "--model.kind", "mlp", "--train.batch-size", 8]
    r = run(*args, "--train.steps", 20, "--train.no-progress", "--resume")
    # resuming with a larger step budget extends the run; another model config or batch is refused
    assert r.exit_code == 0, r.output
    one_line_error(run(*args[:-4], "--model.kind", "dt", "--train.steps", 20, "--resume"), "different model config")
    one_line_error(run(*args[:-2], "--train.batch-size", 16, "--resume"), "another batch_size")


def test_unknown_env_id_leaves_nothing_behind(run):
    one_line_error(run("collect", "--env", "NoSuchEnv-v0", "--out", "./data/x"), "unknown env id 'NoSuchEnv-v0'")
    assert not Path("data/x").exists()


def test_an_env_id_that_names_a_module_is_not_imported(run, tiny_run):
    cfg = json.loads((tiny_run / "config.json").read_text())
    cfg["env_id"] = "os:Whatever-v0"
    (tiny_run / "config.json").write_text(json.dumps(cfg))
    one_line_error(run("ask", tiny_run), "env id 'os:Whatever-v0' names a Python module to import")


def test_dataset_whose_spaces_do_not_match_the_env(run):
    r = run("collect", "--env", "CartPole-v1", "--population", "random", "--episodes", 3, "--out", "./data/cp")
    assert r.exit_code == 0
    r = run("demo", "lunarlander", "--dataset", "./data/cp", "--out", "runs/demo-x")
    one_line_error(r, "dataset ./data/cp has observations of shape (4,), env LunarLander-v3 gives (8,)")
    assert not Path("runs/demo-x").exists()


def test_model_evaluated_on_the_wrong_env(run, tiny_run):
    one_line_error(
        run("eval", tiny_run, "--env", "CartPole-v1", "--episodes", 2),
        "observations of shape (8,), env CartPole-v1 gives (4,)",
    )
    one_line_error(run("ask", tiny_run, "--env", "CartPole-v1"), "env CartPole-v1 gives (4,)")


def test_missing_and_corrupt_checkpoints(run, tiny_run):
    one_line_error(run("ask", "runs/nothing"), "run folder runs/nothing does not exist")
    (tiny_run / "model.safetensors").write_bytes(b"not a checkpoint at all")
    one_line_error(run("ask", tiny_run), "is corrupt or not a safetensors file")
    (tiny_run / "model.safetensors").unlink()
    one_line_error(run("eval", tiny_run), "model.safetensors not found")


def test_run_folder_of_another_kind(run):
    Path("runs/demo").mkdir(parents=True)
    Path("runs/demo/config.json").write_text(json.dumps({"run_kind": "recipe", "models": ["seed0/dt", "seed0/rvs"]}))
    one_line_error(run("ask", "runs/demo"), "holds several models, pass one of them: runs/demo/seed0/dt")


def test_a_request_the_condition_cannot_read(run, tiny_run):
    one_line_error(run("ask", tiny_run, "high"), "'high' is not a request for 'return_to_go'")
    one_line_error(run("ask", tiny_run, "1,2"), "takes 1 number(s), got 2")
    one_line_error(run("ask", tiny_run, "--seed", -1), "--seed must be >= 0")


def test_bad_numbers_and_unknown_flags_are_one_line_errors(run):
    one_line_error(run("collect", "--episodes", "many"), "--episodes takes a whole number, got 'many'")
    one_line_error(run("collect", "--episodes", 0), "--episodes must be in [1, 10000000]")
    one_line_error(run("collect", "--no-such-flag"), "unrecognized argument(s) --no-such-flag")
    one_line_error(run("train", "--train.grad-clip", -1), "grad_clip must be a positive finite number")
    one_line_error(run("train", "--train.learning-rate", "nan"), "learning_rate must be a positive finite number")
    one_line_error(run("train", "--model.n-head", 0), "n_head must be a whole number >= 1")
    one_line_error(run("train", "--train.device", "bogus"), "device must be auto, cpu, cuda or cuda:N")
    one_line_error(run("nosuch"), "unknown command 'nosuch'")


def test_missing_dataset_for_training(run):
    one_line_error(run("train", "--dataset", "./data/none", "--run", "runs/r"), "no Minari dataset")
    assert not Path("runs/r").exists()


def test_a_config_file_sets_defaults_that_flags_override(run, tmp_path):
    Path("demo.yaml").write_text("eval_episodes: 7\ndt_train:\n  steps: 11\n")
    from justask.cli_parse import parse
    from justask.recipes.lunarlander import Config

    cfg = parse(Config, ["--config", "demo.yaml", "--dt-train.batch-size", "8"], "justask demo lunarlander")
    assert (cfg.eval_episodes, cfg.dt_train.steps, cfg.dt_train.batch_size) == (7, 11, 8)
    Path("bad.yaml").write_text("eval_episode: 7\n")
    one_line_error(run("demo", "--config", "bad.yaml"), "unknown setting 'eval_episode'")


def test_console_script_exits_non_zero_with_one_line(tmp_path):
    exe = Path(sys.executable).with_name("justask")
    proc = subprocess.run([str(exe), "ask", "runs/missing"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "justask: error: run folder runs/missing does not exist"


def test_asking_in_the_data_quantiles_and_above_what_the_model_can_honour(run):
    r = run("collect", "--population", "demo", "--episodes", 14, "--out", "./data/two", "--num-envs", 7)
    assert r.exit_code == 0, r.output
    common = ("--model.kind", "mlp", "--train.steps", 10, "--train.batch-size", 8, "--train.no-progress")
    r = run("train", "--dataset", "./data/two", "--run", "runs/er", "--condition", "expected_return", *common)
    assert r.exit_code == 0 and "7 behaviours (by policy)" in r.output, r.output
    r = run("ask", "runs/er", "--quantile", 0.5, "--gif", "q.gif")
    assert r.exit_code == 0, r.output
    assert "quantile 0.5 of the data's requests: expected_return=" in r.stdout and "predicted to get" in r.stdout
    r = run("ask", "runs/er", "100000", "--gif", "high.gif")
    assert r.exit_code == 0, r.output
    warning = [line for line in r.stderr.splitlines() if line.startswith("justask: warning:")]
    assert len(warning) == 1 and "above the" in warning[0] and "can honour" in warning[0], r.output
    r = run("eval", "runs/er", "--request", "100000", "--episodes", 3, "--num-envs", 3, "--no-steering")
    assert r.exit_code == 0, r.output
    asked = json.loads(Path("runs/er/eval/report.json").read_text())["asked"]
    assert asked["requested"] == 100000 and asked["mapped_to"] == pytest.approx(asked["asked"], abs=1e-3)
    assert asked["asked"] < 100000
    assert asked["data_share_at_or_above"] > 0 and len(asked["predicted"]) == 3
    one_line_error(run("ask", "runs/er", "50", "--quantile", 0.5), "not both")
    one_line_error(run("ask", "runs/er", "--quantile", 1.5), "quantile")
    r = run("train", "--dataset", "./data/two", "--run", "runs/rtg", "--behaviours", "clusters", *common)
    assert r.exit_code == 0 and "clustered" in r.output, r.output


def test_eval_threads_processes_and_overlap_change_the_speed_not_the_episodes(run, tiny_run):
    import torch

    common = ("eval", tiny_run, "--episodes", 6, "--num-envs", 3, "--no-steering", "--overwrite")
    assert run(*common, "--out", "runs/e1").exit_code == 0
    assert torch.get_num_threads() == 1  # the measured choice for acting on a small machine
    r = run(*common, "--out", "runs/e2", "--threads", 2, "--env-processes", 2)
    assert r.exit_code == 0, r.output
    assert torch.get_num_threads() == 2
    one, two = (json.loads(Path(f"runs/{o}/report.json").read_text())["agents"] for o in ("e1", "e2"))
    assert [a["mean"] for a in one] == [a["mean"] for a in two]
    assert run(*common, "--out", "runs/e3", "--no-overlap").exit_code == 0  # envs stepped in turn
    in_turn = json.loads(Path("runs/e3/report.json").read_text())["agents"]
    assert in_turn[0]["action_rule"] == "argmax" and in_turn[0]["mean"] == one[0]["mean"]
    torch.set_num_threads(1)
    one_line_error(run(*common, "--threads", -1), "--threads must be a whole number in [0, 1024]")
    one_line_error(run(*common, "--env-processes", 0), "--env-processes must be in [1, 256]")
