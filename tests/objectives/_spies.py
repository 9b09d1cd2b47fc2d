"""Shared by the GPU-path tests (imported as `tests.objectives._spies`): a counter of the sdpa kernel, and the fake
NVML of tests/objectives/energy/conftest.py for tests outside that folder."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from unittest import mock

import torch


@contextlib.contextmanager
def counting_sdpa() -> Iterator[list[int]]:
    """Counts calls of torch's scaled_dot_product_attention: the sdpa kernel calls it, eager attention never does."""
    calls: list[int] = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    with mock.patch.object(torch.nn.functional, "scaled_dot_product_attention", spy):
        yield calls


def energy_fakes() -> ModuleType:
    """tests/objectives/energy/conftest.py as a module: FakeGPU, FakeNVML, FakeHardware and the `no_hardware`
    fixture, for tests in other folders."""
    if "energy_fakes" not in sys.modules:
        spec = importlib.util.spec_from_file_location("energy_fakes", Path(__file__).parent / "energy" / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["energy_fakes"] = module
        spec.loader.exec_module(module)
    return sys.modules["energy_fakes"]
