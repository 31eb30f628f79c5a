"""The same seed gives the same weights: twice in one process, and with 1 or 2 torch threads.

The quick demo's RvS once scored 138 on the machine that recorded it and 79 on another (same code,
same seed) because float sums ran in another order; ``justask.cpu_math`` and the DT's LayerNorm
fix that. These tests fail without either."""

import platform

import pytest
import torch

from justask import cpu_math
from justask.configs import TrainConfig
from justask.models import ModelConfig
from justask.relabel import return_to_go
from justask.training import train

ARCH = {
    "dt": {"context_len": 8, "d_model": 32, "n_layer": 2, "action_tokens": True},
    "mlp": {"hidden_sizes": [64, 64]},
}


def fit(episodes, kind, run_dir, threads):
    config = ModelConfig(kind=kind, **ARCH[kind])
    train_config = TrainConfig(steps=25, batch_size=32, warmup_steps=5, seed=4, threads=threads, progress=False)
    try:
        return train(episodes, config, train_config, run_dir, condition="return_to_go").state_dict()
    finally:
        torch.set_num_threads(1)


def assert_identical(a, b, what):
    for name in a:
        assert torch.equal(a[name], b[name]), f"{what}: tensor {name} differs"


@pytest.mark.parametrize("kind", ["dt", "mlp"])
def test_the_same_seed_gives_identical_weights_twice_in_one_process(lunar_episodes, tmp_path, kind):
    ep = return_to_go(lunar_episodes)
    assert_identical(fit(ep, kind, tmp_path / "a", 1), fit(ep, kind, tmp_path / "b", 1), "second run")


@pytest.mark.parametrize("kind", ["dt", "mlp"])
def test_the_thread_count_does_not_change_the_weights(lunar_episodes, tmp_path, kind):
    ep = return_to_go(lunar_episodes)
    assert_identical(fit(ep, kind, tmp_path / "one", 1), fit(ep, kind, tmp_path / "two", 2), "2 threads vs 1")


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or not cpu_math._has_avx2(), reason="the pin is for x86-64 with AVX2"
)
def test_importing_justask_pins_reproducible_cpu_math():
    state = cpu_math.state()
    assert state["mkl_cbwr"] == "AVX2,STRICT"
    assert state["aten_cpu_capability"] == "AVX2"
