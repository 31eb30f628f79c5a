"""The fast training paths compute what the eager step computes.

Tolerances: the compiled loss on CPU and a micro-batched step within 1e-5 relative of the eager
whole-batch step (inductor fuses and reorders float32 sums; chunks sum the gradient in another
order); the CUDA-graph steps in float32 within 1e-4 relative per step's loss and 1e-4 absolute on
the weights after the steps (same kernels, replayed; the capturable AdamW keeps its step count on
the device). The CUDA tests run where a GPU is present (on the device machine, with
``pytest tests/test_fast_paths.py``; benchmarks/results/gpu_fast_path_tests.txt)."""

import shutil

import pytest
import torch

from justask.configs import TrainConfig
from justask.models import ModelConfig
from justask.relabel import return_to_go
from justask.sampler import SegmentSampler
from justask.training import make_optimizer, update

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
# torch.compile on a CPU builds C++ kernels
cpp_compiler = pytest.mark.skipif(
    not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")), reason="needs a C++ compiler"
)


def _setup(episodes, device, capturable=False):
    from justask.models import PolicyModel

    ep = return_to_go(episodes)
    config = ModelConfig(kind="dt", context_len=8, d_model=32, n_layer=2, n_head=2, action_tokens=True)
    torch.manual_seed(0)
    model = PolicyModel.for_episodes(ep, config, "return_to_go")
    model.set_observation_stats(ep.step_observations())
    model.to(device).train()
    cfg = TrainConfig(batch_size=16, learning_rate=3e-3)
    optimizer = make_optimizer(model, cfg, torch.device(device), capturable=capturable)
    sampler = SegmentSampler(ep, model.io, config.context_len, device)
    generator = torch.Generator(device=device)
    generator.manual_seed(1)
    return model, optimizer, sampler, generator, cfg


@cpp_compiler
def test_compiled_loss_equals_the_eager_loss(lunar_episodes):
    model, _, sampler, generator, _ = _setup(lunar_episodes, "cpu")
    batch = sampler.sample(16, generator)
    eager = model.loss(batch)
    compiled = torch.compile(model.loss)(batch)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)


@cuda
def test_cuda_graph_steps_equal_eager_steps(lunar_episodes):
    from justask.graphed_step import GraphedTrainStep

    eager_model, eager_opt, sampler, eager_gen, cfg = _setup(lunar_episodes, "cuda")
    graph_model, graph_opt, _, graph_gen, _ = _setup(lunar_episodes, "cuda", capturable=True)
    step = GraphedTrainStep(graph_model, graph_opt, sampler, 16, bf16=False, grad_clip=cfg.grad_clip)
    no_autocast = torch.autocast("cuda", enabled=False)
    for i in range(6):
        lr = cfg.learning_rate * (i + 1) / 6
        for group in eager_opt.param_groups:
            group["lr"] = lr
        expected = update(eager_model, eager_opt, eager_model.loss, sampler.sample(16, eager_gen), no_autocast, 1.0)
        got = step(graph_gen, lr)
        torch.testing.assert_close(got["loss"], expected["loss"], rtol=1e-4, atol=1e-5)
    for a, b in zip(graph_model.parameters(), eager_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-4)


@cuda
def test_training_with_the_cuda_graph_resumes_to_the_same_weights(lunar_episodes, tmp_path):
    from justask.training import train

    ep = return_to_go(lunar_episodes)
    config = ModelConfig(kind="dt", context_len=8, d_model=32, n_layer=2)
    cfg = TrainConfig(steps=40, batch_size=16, device="cuda", checkpoint_every=20, log_every=10, progress=False)
    whole = train(ep, config, cfg, tmp_path / "whole", condition="return_to_go")
    train(ep, config, cfg, tmp_path / "cut", condition="return_to_go", stop_at=20)
    resumed = train(ep, config, cfg, tmp_path / "cut", condition="return_to_go", resume=True)
    for a, b in zip(whole.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_micro_batched_step_equals_the_whole_batch_step(lunar_episodes):
    whole_model, whole_opt, sampler, generator, cfg = _setup(lunar_episodes, "cpu")
    micro_model, micro_opt, _, _, _ = _setup(lunar_episodes, "cpu")
    batch = sampler.sample(16, generator)
    off = torch.autocast("cuda", enabled=False)
    whole = update(whole_model, whole_opt, whole_model.loss, batch, off, cfg.grad_clip)
    chunked = update(micro_model, micro_opt, micro_model.loss, batch, off, cfg.grad_clip, micro_batch=5)
    torch.testing.assert_close(chunked["loss"], whole["loss"], rtol=1e-5, atol=1e-6)
    # the (clipped) gradients the step used; the weights after AdamW's first step amplify float
    # noise in near-zero gradients (its update is about lr * sign(g))
    for a, b in zip(micro_model.parameters(), whole_model.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7)


@cuda
def test_host_kept_columns_reach_the_gpu_as_device_kept_ones_do(lunar_episodes, tmp_path):
    """data_placement=host on CUDA: batches cut from memory-mapped host columns and copied
    through pinned memory equal the device-kept ones; a host-placed run resumes exactly."""
    from justask.column_store import open_store, step_columns, write_store
    from justask.training import train

    ep = return_to_go(lunar_episodes)
    from justask.models import PolicyIO

    config = ModelConfig(kind="dt", context_len=8, d_model=32, n_layer=2)
    io = PolicyIO.from_episodes(ep, "return_to_go")
    write_store(step_columns(ep, io), tmp_path / "store")
    host = SegmentSampler(None, io, 8, "cuda", storage="cpu", columns=open_store(tmp_path / "store"))
    device = SegmentSampler(ep, io, 8, "cuda")
    ends = torch.randint(0, ep.num_steps, (32,), generator=torch.Generator().manual_seed(0))
    a, b = host.segment(ends), device.segment(ends.cuda())
    assert all(a[k].device.type == "cuda" and torch.equal(a[k], b[k]) for k in b)
    cfg = TrainConfig(
        steps=40, batch_size=16, device="cuda", checkpoint_every=20, log_every=10, progress=False, data_placement="host"
    )
    whole = train(ep, config, cfg, tmp_path / "whole", condition="return_to_go")
    train(ep, config, cfg, tmp_path / "cut", condition="return_to_go", stop_at=20)
    resumed = train(ep, config, cfg, tmp_path / "cut", condition="return_to_go", resume=True)
    for x, y in zip(whole.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-5)
    assert not (tmp_path / "cut" / "columns").exists()
