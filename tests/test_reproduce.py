"""benchmarks/reproduce.py compares a fresh report with its record: every number, nothing else."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "reproduce", Path(__file__).resolve().parent.parent / "benchmarks" / "reproduce.py"
)
reproduce = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reproduce)


def test_identical_reports_have_no_differences_and_timings_do_not_count():
    a = {"agents": [{"mean": 1.5}], "seconds": 10, "seconds_per_seed": 3.0, "provenance": {"git_commit": "a"}}
    b = {"agents": [{"mean": 1.5}], "seconds": 99, "seconds_per_seed": 4.0, "provenance": {"git_commit": "b"}}
    assert reproduce.differences(a, b) == []


def test_a_changed_number_a_missing_key_and_a_shorter_list_are_found():
    a = {"agents": [{"mean": 1.5, "ci95": [1.0, 2.0]}], "sweep": {"rvs": [1, 2]}, "train_s": 3}
    b = {"agents": [{"mean": 1.6, "ci95": [1.0, 2.0]}], "sweep": {"rvs": [1]}, "extra": 1, "train_s": 4}
    found = reproduce.differences(a, b)
    assert "agents[0].mean: recorded 1.5, now 1.6" in found
    assert "sweep.rvs: 2 items recorded, 1 now" in found
    assert "extra: only in the fresh run" in found
    assert not any("train_s" in line for line in found)
    assert reproduce.differences({"m": 1.0}, {"m": 1.0 + 1e-9}, tolerance=1e-6) == []
