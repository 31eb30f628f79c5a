"""Collection and evaluation on a local Ray instance give what the local path gives."""

import sys

import numpy as np
import pytest

from justask.collection import collect
from justask.errors import JustAskError

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_collection_matches_local_collection(local_ray):
    from justask.suites.lunar_lander import demo_population

    local = collect("LunarLander-v3", demo_population(2), num_envs=4, seed=7, progress=False)
    on_ray = collect("LunarLander-v3", demo_population(2), num_envs=4, seed=7, progress=False, ray_workers=2)
    assert on_ray.num_episodes == local.num_episodes == 14
    assert on_ray.metadata == local.metadata
    assert [m["seed"] for m in on_ray.metadata] == list(range(7, 21))
    # the demo's policies draw their noise from each episode's seed: the same episodes
    np.testing.assert_array_equal(on_ray.actions, local.actions)
    np.testing.assert_array_equal(on_ray.observations, local.observations)


def test_ray_evaluation_gives_the_local_report_for_a_deterministic_policy(local_ray, lunar_episodes):
    import torch

    from justask.asking import ask
    from justask.evaluation import evaluate
    from justask.models import ModelConfig, PolicyModel
    from justask.relabel import return_to_go

    ep = return_to_go(lunar_episodes)
    torch.manual_seed(0)
    config = ModelConfig(kind="dt", context_len=4, d_model=16, n_layer=1)
    model = PolicyModel.for_episodes(ep, config, "return_to_go")
    model.set_observation_stats(ep.step_observations())
    local = evaluate("LunarLander-v3", ask(model, return_to_go=100.0), episodes=4, num_envs=2, progress=False)
    on_ray = evaluate(
        "LunarLander-v3", ask(model, return_to_go=100.0), episodes=4, num_envs=2, progress=False, ray_workers=2
    )
    assert on_ray.to_json() == local.to_json()


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    from justask.ray_backend import ray_module

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(JustAskError, match=r"pip install 'justask\[ray\]'"):
        ray_module()


def test_an_unreachable_ray_address_is_a_one_line_error(capsys):
    from justask.cli import main

    code = main(
        ["collect", "--population", "random", "--episodes", "2", "--out", "./d", "--ray-address", "127.0.0.1:1"]
    )
    assert code == 2
    assert "could not reach the Ray cluster at 127.0.0.1:1" in capsys.readouterr().err


def test_a_worker_killed_mid_collection_is_replaced_and_the_dataset_is_the_same(local_ray, tmp_path):
    import os

    from justask.suites.lunar_lander import LunarLanderExpert

    marker = tmp_path / "kill-one-worker"

    class DiesOnce:  # defined here, so Ray ships it by value
        name = "expert that kills its worker once"

        def __init__(self):
            self.expert, self.calls = LunarLanderExpert(), 0

        def act(self, observations, slots=None):
            self.calls += 1
            if self.calls == 20:
                try:
                    os.remove(marker)  # the first worker to get here dies; a fresh one runs its share again
                    os._exit(1)
                except FileNotFoundError:
                    pass
            return self.expert.act(observations)

    undisturbed = collect("LunarLander-v3", [(DiesOnce(), 6)], num_envs=3, seed=3, progress=False, ray_workers=2)
    marker.write_text("")
    disturbed = collect("LunarLander-v3", [(DiesOnce(), 6)], num_envs=3, seed=3, progress=False, ray_workers=2)
    assert not marker.exists()  # a worker did die
    assert disturbed.metadata == undisturbed.metadata
    np.testing.assert_array_equal(disturbed.observations, undisturbed.observations)
    np.testing.assert_array_equal(disturbed.actions, undisturbed.actions)


def test_a_worker_that_keeps_dying_is_a_one_line_error(local_ray, monkeypatch):
    import os

    import justask.ray_backend as backend

    class AlwaysDies:
        name = "dies"

        def act(self, observations, slots=None):
            os._exit(1)

    monkeypatch.setattr(backend, "MAX_RETRIES", 0)  # one death is enough to show the message
    with pytest.raises(JustAskError, match=r"a Ray worker died on each of 1 attempts to run episodes 0\.\.1"):
        collect("LunarLander-v3", [(AlwaysDies(), 2)], num_envs=2, seed=0, progress=False, ray_workers=1)
