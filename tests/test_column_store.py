"""Column stores: the sampler's columns on disk, memory-mapped; bad stores are named errors."""

import json

import numpy as np
import pytest
import torch

from justask.column_store import open_store, step_columns, write_store
from justask.errors import JustAskError
from justask.models import PolicyIO
from justask.relabel import return_to_go
from justask.sampler import SegmentSampler


@pytest.fixture
def data(lunar_episodes):
    episodes = return_to_go(lunar_episodes)
    return episodes, PolicyIO.from_episodes(episodes, "return_to_go")


def test_a_mapped_store_cuts_the_batches_in_memory_columns_cut(data, tmp_path):
    episodes, config = data
    write_store(step_columns(episodes, config), tmp_path / "store")
    columns = open_store(tmp_path / "store")
    assert isinstance(columns["observations"], np.memmap)
    assert set(columns) == {"observations", "actions", "conditions", "timesteps", "episode_start"}
    in_memory = SegmentSampler(episodes, config, 4, "cpu")
    mapped = SegmentSampler(None, config, 4, "cpu", storage="cpu", columns=columns)
    a = in_memory.sample(16, torch.Generator().manual_seed(5))
    b = mapped.sample(16, torch.Generator().manual_seed(5))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    before = np.load(tmp_path / "store" / "observations.npy").copy()
    mapped.observations.mul_(0)  # copy-on-write: the file is never changed by a reader
    assert np.array_equal(np.load(tmp_path / "store" / "observations.npy"), before)


def test_broken_stores_are_named_errors(data, tmp_path):
    episodes, config = data
    store = tmp_path / "store"
    with pytest.raises(JustAskError, match="no manifest.json"):
        open_store(store)
    write_store(step_columns(episodes, config), store)
    np.save(store / "actions.npy", np.zeros(3, dtype=np.int64))
    with pytest.raises(JustAskError, match=r"actions.npy holds <i8 \[3\], the manifest says"):
        open_store(store)
    (store / "actions.npy").write_bytes(b"not an array")
    with pytest.raises(JustAskError, match="cannot map actions.npy"):
        open_store(store)
    (store / "manifest.json").write_text(json.dumps({"format": 99, "columns": {}}))
    with pytest.raises(JustAskError, match="format 99"):
        open_store(store)
    with pytest.raises(JustAskError, match="no condition column 'missing'"):
        config.condition.name = "missing"
        write_store(step_columns(episodes, config), tmp_path / "other")
