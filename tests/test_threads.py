"""Thread counts chosen per phase (benchmarks/results/threads.md): acting takes 1, training the
cores other work leaves free, and a count the user set is kept."""

import os

import pytest
import torch

from justask import cpu_math
from justask.errors import JustAskError
from justask.runs import ACTING_THREADS, set_acting_threads


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_training_takes_the_cores_the_load_leaves_free(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.0, 0.0))
    assert cpu_math.training_threads() == 2
    monkeypatch.setattr(os, "getloadavg", lambda: (1.1, 0.0, 0.0))  # another process busy on one core
    assert cpu_math.training_threads() == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (7.0, 0.0, 0.0))
    assert cpu_math.training_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the user's (or torchrun's) choice stands
    assert cpu_math.training_threads() is None


def test_acting_threads_default_to_the_measured_choice_and_are_checked():
    assert set_acting_threads(0) == ACTING_THREADS == 1 and torch.get_num_threads() == 1
    assert set_acting_threads(2) == 2 and torch.get_num_threads() == 2
    with pytest.raises(JustAskError, match="--threads must be a whole number"):
        set_acting_threads(-1)
