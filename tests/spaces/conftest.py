"""A CPU-only machine and tiny-bert's task, spelled out, so that space tests do not depend on the test machine."""

from __future__ import annotations

import pytest

from greenknobs.spaces import Hardware, Space, TaskInfo

NO_GPU = "needs a CUDA GPU; torch sees none on this machine"
NO_NVML = "needs an NVIDIA GPU visible through NVML; none here"
BNB_ON_CPU = "bitsandbytes' int8/NF4 layers run on this CPU, slowly"


def cpu_hardware() -> Hardware:
    """What `detect()` reports on a 2-core machine without a GPU (this project's CI machine), bitsandbytes installed."""
    return Hardware(device="cpu", cpu_cores=2, missing={
        "cuda": NO_GPU, "fp16": NO_GPU, "pin-memory": NO_GPU, "power-limit": NO_NVML,
    }, costly={"bnb-layers": BNB_ON_CPU})


def tiny_task() -> TaskInfo:
    return TaskInfo(models=("tiny-bert",), min_layers=4, max_positions=512, layers={"tiny-bert": 4})


@pytest.fixture
def cpu():
    return cpu_hardware()


@pytest.fixture
def task():
    return tiny_task()


@pytest.fixture
def space(cpu, task):
    return Space(cpu, task)
