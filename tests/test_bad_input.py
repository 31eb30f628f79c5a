"""Bad input, as a new user gives it: every case ends in one ``justask: error:`` line naming the
problem, exit 2, and nothing left behind."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from justask.cli import main


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A tiny dataset and a tiny MLP run, made once: {"data": path, "run": path, "file": a regular file}."""
    root = tmp_path_factory.mktemp("bad")
    data, run = root / "data", root / "run"
    assert main(["collect", "--population", "random", "--episodes", "6", "--out", str(data), "--num-envs", "3"]) == 0
    common = ["--model.kind", "mlp", "--train.steps", "5", "--train.batch-size", "8", "--train.no-progress"]
    assert main(["train", "--dataset", str(data), "--run", str(run), *common]) == 0
    (root / "afile").write_text("not a folder")
    return {"data": data, "run": run, "file": root / "afile", "root": root}


def one_line(capsys, args, match):
    code = main([str(a) for a in args])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2, (args, err)
    assert len(err) == 1 and err[0].startswith("justask: error:") and match in err[0], (args, err)


def train_args(made, *more):
    base = ["train", "--dataset", made["data"], "--run", "runs/new", "--model.kind", "mlp", "--train.no-progress"]
    return [*base, "--train.steps", "5", "--train.batch-size", "8", *more]


TRAIN_NUMBERS = [
    (("--train.batch-size", "-4"), "batch_size"),
    (("--train.batch-size", "1000000000"), "batch_size must be a whole number in [1, 1048576]"),
    (("--train.batch-size", "0"), "batch_size"),
    (("--train.log-every", "0"), "log_every"),
    (("--train.checkpoint-every", "0"), "checkpoint_every"),
    (("--train.steps", "0"), "steps"),
    (("--train.steps", "-5"), "steps"),
    (("--train.learning-rate", "nan"), "learning_rate"),
    (("--train.learning-rate", "-1"), "learning_rate"),
    (("--train.grad-clip", "-1"), "grad_clip"),
    (("--train.weight-decay", "-1"), "weight_decay"),
    (("--train.device", "bogus"), "device"),
    (("--return-scale", "0"), "return scale"),
    (("--model.kind", "dt", "--model.n-head", "0"), "n_head"),
    (("--model.kind", "dt", "--model.d-model", "0"), "d_model"),
    (("--model.kind", "dt", "--model.context-len", "0"), "context_len"),
    (("--model.kind", "dt", "--model.n-layer", "-1"), "n_layer"),
    (("--condition", "bogus"), "unknown condition 'bogus'"),
    (("--condition", "expected_return", "--behaviours", "bogus"), "--behaviours bogus"),
    (("--condition", "expected_return", "--behaviours", "none"), "needs --behaviours"),
]


@pytest.mark.parametrize("flags,match", TRAIN_NUMBERS, ids=[" ".join(f) for f, _ in TRAIN_NUMBERS])
def test_train_refuses_bad_settings_and_leaves_no_run(made, capsys, flags, match):
    one_line(capsys, train_args(made, *flags), match)
    assert not Path("runs/new").exists()


def other_commands(made):
    run, data, afile = made["run"], made["data"], made["file"]
    return [
        (["collect", "--seed", "-1", "--out", "data/y"], "--seed"),
        (["collect", "--episodes", "1000000000", "--out", "data/y"], "--episodes"),
        (["collect", "--episodes", "2", "--population", "random", "--out", afile / "sub"], "is a file, not a folder"),
        (["collect", "--env", "os:Nope-v0", "--out", "data/y"], "names a Python module"),
        (["collect", "--env", "Blackjack-v1", "--population", "random", "--out", "data/y"], "Tuple(Discrete(32)"),
        (train_args(made)[:4] + [str(afile / "run")] + train_args(made)[5:], "is a file, not a folder"),
        (["train", "--dataset", "data/none", "--run", "runs/new"], "no Minari dataset"),
        (["ask", run, "--seed", "-1"], "--seed"),
        (["ask", run, "--gif", afile / "x.gif"], "is a file, not a folder"),
        (["ask", run, "--env", "CartPole-v1"], "observations of shape"),
        (["ask", run, "--env", "Nope-v9"], "unknown env id"),
        (["ask", run, "--env", "os:Nope-v0"], "names a Python module"),
        (["ask", run, "1e308"], "out of range"),
        (["ask", run, "nan"], "not finite"),
        (["ask", run, "lots"], "is not a request"),
        (["ask", run, "--quantile", "2"], "quantile"),
        (["ask", run, "50", "--quantile", "0.5"], "not both"),
        (["ask", made["root"] / "none"], "does not exist"),
        (["ask", data], "config.json"),
        (["eval", run, "--sweep", "-1"], "--sweep"),
        (["eval", run, "--episodes", "0"], "--episodes"),
        (["eval", run, "--quantile", "nan", "--out", "e1"], "quantile"),
        (["eval", run, "--out", afile / "e"], "is a file, not a folder"),
        (["demo", "--out", afile / "demo"], "is a file, not a folder"),
        (["demo", "lunarlander", "--eval-episodes", "0", "--out", "runs/d"], "eval_episodes"),
        (["demo", "asking", "--quantiles", "0.9", "0.1", "--out", "runs/d"], "quantiles"),
        (["demo", "nosuch"], "unknown recipe"),
    ]


def test_every_other_command_refuses_bad_input_in_one_line(made, capsys):
    for args, match in other_commands(made):
        one_line(capsys, args, match)
    assert not Path("data/y").exists() and not Path("runs/d").exists() and not Path("e1/report.json").exists()


def edit(config, path, value):
    d = config
    for key in path[:-1]:
        d = d[key]
    d[path[-1]] = value


CONFIG_EDITS = [
    (("io", "obs_dim"), "8", "obs_dim"),
    (("io", "obs_dim"), 8.5, "obs_dim"),
    (("model", "hidden_sizes"), "abc", "hidden_sizes"),
    (("model", "hidden_sizes"), [-5, 3], "hidden_sizes"),
    (("model", "kind"), "banana", "unknown model kind"),
    (("model", "dropout"), 2.0, "dropout"),
    (("io", "action_kind"), "banana", "action_kind"),
    (("io", "action_dim"), 0, "action_dim"),
    (("io", "max_timestep"), -1, "max_timestep"),
    (("model",), [1, 2], "must be a JSON object"),
    (("io",), [1, 2], "must be a JSON object"),
    (("io", "condition", "best"), "high", "best"),
    (("io", "condition", "scale"), [0], "scale"),
    (("io", "condition", "quantiles"), "x", "quantiles"),
    (("io", "condition", "quantiles"), [1, 2], "quantiles"),
    (("io", "condition", "outcomes"), [[1, 2]], "outcomes"),
    (("io", "condition", "outcomes"), [[2, 0, 0, 0], [1, 0, 0, 0]], "outcome requests must rise"),
    (("io", "condition", "info"), [1], "info"),
    (("io", "condition", "info"), {"reward": "learned"}, "reward"),
    (("io", "condition", "dim"), 2, "condition 'return_to_go'"),
    (("io", "condition", "keyword"), "", "keyword"),
    (("env_id",), 5, "env id"),
]


@pytest.mark.parametrize("path,value,match", CONFIG_EDITS, ids=[f"{'.'.join(p)}={v!r}" for p, v, _ in CONFIG_EDITS])
def test_a_run_folder_with_a_damaged_config_is_refused(made, capsys, path, value, match):
    run = Path("runs/damaged")
    shutil.copytree(made["run"], run)
    config = json.loads((run / "config.json").read_text())
    edit(config, path, value)
    (run / "config.json").write_text(json.dumps(config))
    one_line(capsys, ["ask", run, "--gif", "x.gif"], match)
    assert not Path("x.gif").exists()


@pytest.mark.parametrize(
    "damage,match",
    [
        (lambda t: t.__setitem__("head.bias", torch.full_like(t["head.bias"], float("nan"))), "NaN or infinite"),
        (lambda t: t.__setitem__("head.bias", t["head.bias"].to(torch.int64)), "holds torch.int64"),
        (lambda t: t.__setitem__("head.bias", t["head.bias"][:1]), "has shape"),
        (lambda t: t.pop("head.bias"), "is missing"),
    ],
    ids=["nan", "int64", "shape", "missing"],
)
def test_damaged_weights_are_refused(made, capsys, damage, match):
    run = Path("runs/damaged")
    shutil.copytree(made["run"], run)
    tensors = load_file(str(run / "model.safetensors"))
    damage(tensors)
    save_file(tensors, str(run / "model.safetensors"))
    one_line(capsys, ["ask", run, "--gif", "x.gif"], match)


def test_a_policy_that_returns_float_actions_for_a_discrete_space_is_refused():
    import numpy as np

    from justask.collection import collect
    from justask.errors import JustAskError
    from justask.policies import Policy

    class Floaty(Policy):
        name = "floaty"

        def act(self, observations, slots=None):
            return np.full(len(observations), 1.7)

    class Outside(Floaty):
        def act(self, observations, slots=None):
            return np.full(len(observations), 9)

    with pytest.raises(JustAskError, match="float64 actions; the Discrete action space takes integers"):
        collect("CartPole-v1", [(Floaty(), 1)], num_envs=1, progress=False)
    with pytest.raises(JustAskError, match="action 9, outside"):
        collect("CartPole-v1", [(Outside(), 1)], num_envs=1, progress=False)


def test_a_killed_writer_leaves_no_temp_file_behind(tmp_path):
    from justask.checkpoint import write_json

    orphan = tmp_path / ".report.json.abcd1234"  # what a writer killed mid-write leaves
    orphan.write_text("half")
    other = tmp_path / ".other.json.abcd1234"
    other.write_text("someone else's")
    write_json(tmp_path / "report.json", {"a": 1})
    assert not orphan.exists() and other.exists()
    assert json.loads((tmp_path / "report.json").read_text()) == {"a": 1}
    assert (tmp_path / "report.json").stat().st_mode & 0o044  # readable by others, as ordinary results are


def test_weights_changed_after_justask_wrote_them_are_refused(made, capsys):
    run = Path("runs/flipped")
    shutil.copytree(made["run"], run)
    path = run / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # one bit of the last tensor: still a valid safetensors file
    path.write_bytes(bytes(data))
    one_line(capsys, ["ask", run, "--gif", "x.gif"], "does not match the checksum")
