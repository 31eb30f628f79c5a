import json

import pytest
import torch
from safetensors.torch import load_file

from justask.asking import ask
from justask.configs import TrainConfig
from justask.errors import JustAskError
from justask.models import ModelConfig, load_model
from justask.relabel import return_to_go
from justask.training import train


def tiny(kind="dt"):
    arch = (
        {"context_len": 4, "d_model": 16, "n_layer": 1, "action_tokens": True}
        if kind == "dt"
        else {"hidden_sizes": [32]}
    )
    return ModelConfig(kind=kind, **arch)


def fit(ep, config, train_config, run_dir, **kw):
    return train(ep, config, train_config, run_dir, condition="return_to_go", **kw)


def cfg(**kw):
    base = dict(steps=20, batch_size=8, warmup_steps=5, checkpoint_every=10, log_every=5, progress=False, seed=3)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("kind", ["dt", "mlp"])
def test_kill_and_resume_reaches_the_same_weights(lunar_episodes, tmp_path, kind):
    ep = return_to_go(lunar_episodes)
    straight = fit(ep, tiny(kind), cfg(), tmp_path / "straight")
    # "killed" after step 13: the last checkpoint is step 10, steps 11-13 are lost
    fit(ep, tiny(kind), cfg(), tmp_path / "killed", stop_at=13)
    assert json.loads((tmp_path / "killed" / "config.json").read_text())["run_kind"] == "policy"
    resumed = fit(ep, tiny(kind), cfg(), tmp_path / "killed", resume=True)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{name} differs after resume")
    loaded = load_model(tmp_path / "killed")
    for name, value in straight.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value, rtol=0, atol=0)


def test_training_lowers_the_loss_and_writes_the_run_folder(lunar_episodes, tmp_path):
    ep = return_to_go(lunar_episodes)
    config = tiny("mlp")
    model = fit(ep, config, cfg(steps=150, learning_rate=3e-3, checkpoint_every=1000), tmp_path / "run")
    from justask.sampler import SegmentSampler

    batch = SegmentSampler(ep, model.io, 1, "cpu").segment(torch.arange(ep.num_steps))
    from justask.models import PolicyModel

    untrained = PolicyModel(config, model.io)
    untrained.set_observation_stats(ep.step_observations())
    with torch.no_grad():
        assert model.loss(batch) < 0.9 * untrained.loss(batch)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.json", "model.safetensors", "train_state.safetensors", "tb", "train_summary.json"} <= names
    assert not [n for n in names if n.startswith(".")], "temporary files left behind"
    assert list((tmp_path / "run" / "tb").iterdir()), "no TensorBoard events"


def test_resume_with_a_different_model_config_is_refused(lunar_episodes, tmp_path):
    ep = return_to_go(lunar_episodes)
    fit(ep, tiny(), cfg(), tmp_path / "run", stop_at=10)
    other = ModelConfig(kind="dt", context_len=4, d_model=32, n_layer=1)
    with pytest.raises(JustAskError, match="different model config"):
        fit(ep, other, cfg(), tmp_path / "run", resume=True)
    with pytest.raises(JustAskError, match="already holds a run"):
        fit(ep, tiny(), cfg(), tmp_path / "run")
    with pytest.raises(JustAskError, match="another batch_size"):
        fit(ep, tiny(), cfg(batch_size=16), tmp_path / "run", resume=True)
    with pytest.raises(JustAskError, match="nothing to resume"):
        fit(ep, tiny(), cfg(), tmp_path / "fresh", resume=True)


def test_checkpoint_errors_are_one_line_and_name_the_problem(lunar_episodes, tmp_path):
    ep = return_to_go(lunar_episodes)
    fit(ep, tiny(), cfg(steps=10), tmp_path / "run")
    with pytest.raises(JustAskError, match="run folder .*nope does not exist"):
        load_model(tmp_path / "nope")
    (tmp_path / "run" / "model.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(JustAskError, match="corrupt or not a safetensors file"):
        load_model(tmp_path / "run")
    (tmp_path / "run" / "model.safetensors").unlink()
    with pytest.raises(JustAskError, match="model.safetensors not found"):
        load_model(tmp_path / "run")
    # weights of one config under another config's name
    fit(ep, tiny("mlp"), cfg(steps=10), tmp_path / "mlp")
    (tmp_path / "run" / "model.safetensors").write_bytes((tmp_path / "mlp" / "model.safetensors").read_bytes())
    with pytest.raises(JustAskError, match="does not match the model config: tensor '.*' is missing"):
        load_model(tmp_path / "run")
    tensors = load_file(tmp_path / "mlp" / "model.safetensors")
    assert tensors, "sanity: the mlp checkpoint has tensors"


def test_asking_with_the_wrong_kind_of_condition(lunar_episodes, tmp_path):
    ep = return_to_go(lunar_episodes)
    model = fit(ep, tiny("mlp"), cfg(steps=5), tmp_path / "run")
    with pytest.raises(
        JustAskError, match="asked for 'return_to_go' \\(return condition 'return_to_go'\\), not 'text'"
    ):
        ask(model, text="land softly")
    with pytest.raises(JustAskError, match="takes 1 number"):
        ask(model, return_to_go=[1.0, 2.0])
    with pytest.raises(JustAskError, match="not the text 'land softly'"):
        ask(model, "land softly")
    bc = train(ep, ModelConfig(kind="mlp", hidden_sizes=[8]), cfg(steps=5), tmp_path / "bc")
    with pytest.raises(JustAskError, match="not conditioned on anything"):
        ask(bc, return_to_go=100.0)
