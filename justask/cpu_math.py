"""Reproducible CPU arithmetic: one seed gives the same weights on any x86-64 CPU with AVX2.

Why: MKL chooses its matrix-product kernels by CPU (AVX2, AVX-512, AMX) and thread count, and
ATen's vectorised kernels sum in chunks of the CPU's vector width; each choice adds floats in
another order. Training amplifies last-bit differences into different models. Measured on the quick
demo's RvS MLP, asked for the data's 95th-percentile return (same code, same seed, same data):
138.1 on the machine that recorded it, 78.6 on an AVX-512 machine, 92.7 there with MKL's AVX2 path
and 107.2 with one thread instead of two. MKL's conditional numerical reproducibility mode
(``MKL_CBWR=AVX2,STRICT``: one code path, results independent of the thread count) and ATen's AVX2
kernels remove both choices; the cost measured on 2 cores was within run-to-run noise for the
demo's MLP and DT. The remaining thread-dependent sum (LayerNorm's weight gradient) is handled in
``justask.models.dt``.

``pin`` runs when ``justask`` is imported, before torch does any arithmetic; both variables are
read lazily, so it takes effect even if torch was imported first, as long as no matrix product has
run yet. A variable the user set is left alone; ``JUSTASK_CPU_MATH=native`` turns the pin off (the
CPU's fastest kernels, results tied to the machine). Not x86-64, or no AVX2: nothing is pinned.
"""

from __future__ import annotations

import os
import platform
from typing import Any

PINNED = {"MKL_CBWR": "AVX2,STRICT", "ATEN_CPU_CAPABILITY": "avx2"}
OPT_OUT = "JUSTASK_CPU_MATH"


def _has_avx2() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return " avx2 " in f" {line.split(':', 1)[1].strip()} "
    except OSError:
        pass
    return False


def pin() -> dict[str, str]:
    """Set the reproducible-math variables that are not set yet; returns what it set."""
    if os.environ.get(OPT_OUT, "").lower() == "native":
        return {}
    if platform.machine().lower() not in ("x86_64", "amd64") or not _has_avx2():
        return {}
    changed = {}
    for name, value in PINNED.items():
        if name not in os.environ:
            os.environ[name] = value
            changed[name] = value
    return changed


def state() -> dict[str, Any]:
    """How this process computes on the CPU, for a run's provenance."""
    import torch

    return {
        "mkl_cbwr": os.environ.get("MKL_CBWR"),
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
    }


def _cpu_model() -> str | None:
    """The CPU's model name (Linux), so that a record says which chip made it."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        return None


def training_threads() -> int | None:
    """CPU threads for training when none is asked for (``TrainConfig.threads`` 0): the CPUs this
    process may use less the 1-minute load average (work already running), at least 1. None where
    ``OMP_NUM_THREADS`` is set (the user's choice, or torchrun's one per process): torch's default.

    Measured on 2 cores (``benchmarks/results/threads.md``): alone, 2 threads train the demo's
    MLP and DT 1.2-1.25x faster than 1; beside one busy process, 2 threads run 13x (MLP) and 23x
    (DT) slower than 1, as each thread waits for a peer the OS has put aside. Results do not depend
    on the count (``pin``)."""
    if "OMP_NUM_THREADS" in os.environ:
        return None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, min(cpus, int(cpus - load + 0.5)))
