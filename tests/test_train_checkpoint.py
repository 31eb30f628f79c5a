import json

import pytest
import torch
from safetensors.torch import load_file

from justask.checkpoint import load_model
from justask.configs import TrainConfig
from justask.errors import JustAskError
from justask.relabel import return_to_go
from justask.training import model_config_for, train


def tiny(ep, kind="dt"):
    arch = (
        {"context_len": 4, "d_model": 16, "n_layer": 1, "action_tokens": True}
        if kind == "dt"
        else {"hidden_sizes": [32]}
    )
    return model_config_for(ep, kind, "return_to_go", **arch)


def cfg(**kw):
    base = dict(steps=20, batch_size=8, warmup_steps=5, checkpoint_every=10, log_every=5, progress=False, seed=3)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("kind", ["dt", "mlp"])
def test_kill_and_resume_reaches_the_same_weights(lunar_episodes, tmp_path, kind):
    ep = return_to_go(lunar_episodes)
    straight = train(ep, tiny(ep, kind), cfg(), tmp_path / "straight")
    # "killed" after step 13: the last checkpoint is step 10, steps 11-13 are lost
    train(ep, tiny(ep, kind), cfg(), tmp_path / "killed", stop_at=13)
    assert json.loads((tmp_path / "killed" / "config.json").read_text())["run_kind"] == "policy"
    resumed = train(ep, tiny(ep, kind), cfg(), tmp_path / "killed", resume=True)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{name} differs after resume")
    loaded = load_model(tmp_path / "killed")
    for name, value in straight.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value, rtol=0, atol=0)


def test_training_lowers_the_loss_and_writes_the_run_folder(lunar_episodes, tmp_path):
    ep = return_to_go(lunar_episodes)
    config = tiny(ep, "mlp")
    model = train(ep, config, cfg(steps=150, learning_rate=3e-3, checkpoint_every=1000), tmp_path / "run")
    from justask.sampler import SegmentSampler

    batch = SegmentSampler(ep, config, "cpu").segment(torch.arange(ep.num_steps))
    from justask.models import PolicyModel

    untrained = PolicyModel(config)
    untrained.set_observation_stats(ep.step_observations())
    with torch.no_grad():
        assert model.loss(batch) < 0.9 * untrained.loss(batch)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.json", "model.safetensors", "train_state.safetensors", "tb", "train_summary.json"} <= names
    assert not [n for n in names if n.startswith(".")], "temporary files left behind"
    assert list((tmp_path / "run" / "tb").iterdir()), "no TensorBoard events"


def test_resume_with_a_different_model_config_is_refused(lunar_episodes, tmp_path):
    ep = return_to_go(lunar_episodes)
    train(ep, tiny(ep), cfg(), tmp_path / "run", stop_at=10)
    other = model_config_for(ep, "dt", "return_to_go", context_len=4, d_model=32, n_layer=1)
    with pytest.raises(JustAskError, match="different model config"):
        train(ep, other, cfg(), tmp_path / "run", resume=True)
    with pytest.raises(JustAskError, match="already holds a run"):
        train(ep, tiny(ep), cfg(), tmp_path / "run")


def test_checkpoint_errors_are_one_line_and_name_the_problem(lunar_episodes, tmp_path):
    ep = return_to_go(lunar_episodes)
    train(ep, tiny(ep), cfg(steps=10), tmp_path / "run")
    with pytest.raises(JustAskError, match="run folder .*nope does not exist"):
        load_model(tmp_path / "nope")
    (tmp_path / "run" / "model.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(JustAskError, match="corrupt or not a safetensors file"):
        load_model(tmp_path / "run")
    (tmp_path / "run" / "model.safetensors").unlink()
    with pytest.raises(JustAskError, match="model.safetensors not found"):
        load_model(tmp_path / "run")
    # weights of one config under another config's name
    train(ep, tiny(ep, "mlp"), cfg(steps=10), tmp_path / "mlp")
    (tmp_path / "run" / "model.safetensors").write_bytes((tmp_path / "mlp" / "model.safetensors").read_bytes())
    with pytest.raises(JustAskError, match="does not match the model config: tensor '.*' is missing"):
        load_model(tmp_path / "run")
    tensors = load_file(tmp_path / "mlp" / "model.safetensors")
    assert tensors, "sanity: the mlp checkpoint has tensors"


def test_asking_with_the_wrong_kind_of_condition(lunar_episodes, tmp_path):
    ep = return_to_go(lunar_episodes)
    model = train(ep, tiny(ep, "mlp"), cfg(steps=5), tmp_path / "run")
    with pytest.raises(
        JustAskError, match="conditioned on 'return_to_go' \\(return\\); ask with return_to_go=..., got text"
    ):
        model.ask(text="land softly")
    with pytest.raises(JustAskError, match="takes 1 number"):
        model.ask(return_to_go=[1.0, 2.0])
    bc = train(ep, model_config_for(ep, "mlp", None, hidden_sizes=[8]), cfg(steps=5), tmp_path / "bc")
    with pytest.raises(JustAskError, match="not conditioned on anything"):
        bc.ask(return_to_go=100.0)
