"""Training under torchrun (2 CPU processes, gloo) against one process on the same global batch.

Tolerance: weights within 1e-4 absolute. The two runs train on the same segments (every rank
draws the global batch and cuts its share) and average the same gradient; what differs is the
order of float sums (per-rank means combined by all-reduce), which AdamW can amplify for
near-zero gradients by up to about the learning rate per step, hence not bit-equality.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from justask.checkpoint import load_tensors

SCRIPT = """
import sys
from justask.configs import TrainConfig
from justask.minari_io import load_minari
from justask.relabel import return_to_go
from justask.models import ModelConfig
from justask.training import train

data, run, stop, resume = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
placement = sys.argv[5] if len(sys.argv) > 5 else "auto"
episodes = return_to_go(load_minari(data))
config = ModelConfig(kind="dt", context_len=4, d_model=16, n_layer=1)
cfg = TrainConfig(steps=6, batch_size=8, learning_rate=1e-3, device="cpu", checkpoint_every=3,
                  log_every=3, progress=False, threads=1, data_placement=placement)
train(episodes, config, cfg, run, condition="return_to_go", resume=resume, stop_at=stop or None)
"""


def _launch(processes: int, *args: str, module: bool = False) -> subprocess.CompletedProcess:
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    target = ["-m", "justask"] if module else ["train_script.py"]
    return subprocess.run(
        [*launcher, *target, *args], capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1", **_env()}
    )


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}


def _weights(run: str) -> dict:
    return load_tensors(Path(run) / "model.safetensors", run)


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-4, msg=key)


@pytest.fixture
def dataset(lunar_episodes):
    from justask.minari_io import save_minari

    Path("train_script.py").write_text(SCRIPT)
    save_minari(lunar_episodes, "./data/tiny")
    return "./data/tiny"


def test_two_processes_reach_the_weights_of_one(dataset):
    one = _launch(1, dataset, "runs/one", "0", "0")
    assert one.returncode == 0, one.stderr[-2000:]
    two = _launch(2, dataset, "runs/two", "0", "0")
    assert two.returncode == 0, two.stderr[-12000:]
    _assert_same(_weights("runs/two"), _weights("runs/one"))
    assert sorted(p.name for p in Path("runs/two").iterdir()) == sorted(p.name for p in Path("runs/one").iterdir())


def test_a_two_process_run_resumes_in_one_process(dataset):
    """Killed after step 3 of 6 under torchrun, resumed by a single process: the same run. Both
    keep the data on the host (columns memory-mapped from the run folder), which cuts the same
    batches as device-kept data: the weights match a plain 1-process run."""
    one = _launch(1, dataset, "runs/one", "0", "0")
    assert one.returncode == 0, one.stderr[-2000:]
    cut = _launch(2, dataset, "runs/cut", "3", "0", "host")
    assert cut.returncode == 0, cut.stderr[-2000:]
    assert (Path("runs/cut/columns") / "manifest.json").is_file()  # left by the killed run
    resumed = _launch(1, dataset, "runs/cut", "0", "1", "host")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_same(_weights("runs/cut"), _weights("runs/one"))
    assert not Path("runs/cut/columns").exists()  # removed when training ends


def test_a_batch_the_processes_cannot_split_is_a_one_line_error(dataset):
    r = _launch(
        2,
        "train",
        "--dataset",
        dataset,
        "--run-dir",  # torchrun's parser takes "--run" for its --run-path
        "runs/odd",
        "--model.kind",
        "dt",
        "--train.steps",
        "2",
        "--train.batch-size",
        "7",
        "--train.device",
        "cpu",
        "--train.no-progress",
        module=True,
    )
    assert r.returncode != 0
    assert "justask: error: batch size 7 is not divisible by the 2 processes" in r.stderr
    assert not Path("runs/odd").exists()


def test_episode_shards_train_and_resume_under_torchrun(dataset):
    """data_placement=shard: each rank keeps every 2nd episode and samples its half of the batch
    from them (a different run from the global-batch one, by design); it resumes exactly."""
    two = _launch(2, dataset, "runs/shard", "0", "0", "shard")
    assert two.returncode == 0, two.stderr[-12000:]
    weights = _weights("runs/shard")
    assert all(torch.isfinite(w).all() for w in weights.values())
    one = _launch(1, dataset, "runs/one", "0", "0")
    assert one.returncode == 0, one.stderr[-2000:]
    assert any(not torch.equal(weights[k], w) for k, w in _weights("runs/one").items())
    # killed half-way and resumed under torchrun: the same sharded run
    cut = _launch(2, dataset, "runs/shard-cut", "3", "0", "shard")
    assert cut.returncode == 0, cut.stderr[-2000:]
    resumed = _launch(2, dataset, "runs/shard-cut", "0", "1", "shard")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_same(_weights("runs/shard-cut"), weights)


STALLED = """
import os, sys, time
from justask import distributed
from justask.configs import TrainConfig
from justask.minari_io import load_minari
from justask.relabel import return_to_go
from justask.models import ModelConfig
from justask.training import train

dist = distributed.join("cpu", 5)
if dist.rank == 1:
    time.sleep(120)  # a rank that hangs (not dies): only the group's timeout ends the others
episodes = return_to_go(load_minari(sys.argv[1]))
config = ModelConfig(kind="dt", context_len=4, d_model=16, n_layer=1)
cfg = TrainConfig(steps=6, batch_size=8, device="cpu", progress=False, threads=1, dist_timeout_s=5)
try:
    train(episodes, config, cfg, sys.argv[2], condition="return_to_go")
except Exception as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(1)
"""


def test_a_hung_rank_ends_the_others_at_the_group_timeout(dataset):
    import time

    Path("stalled.py").write_text(STALLED)
    start = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "stalled.py"]
        + [dataset, "runs/stalled"],
        capture_output=True,
        text=True,
        timeout=110,
        env={"OMP_NUM_THREADS": "1", **_env()},
    )
    assert r.returncode != 0
    assert time.monotonic() - start < 90
    assert "error: rank 0: the other processes did not all arrive within the process group's timeout" in r.stderr
