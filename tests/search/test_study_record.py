"""What a study records about how it meters, and what it refuses before any trial runs."""

from __future__ import annotations

import pytest

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import SimulatedPipeline
from tests.search._simulated import CPU, Task, make_spec


class _Meter:
    source = "measured-gpu"
    description = "measured: NVML"
    readings: list = []

    def __init__(self, cpu_energy: str) -> None:
        self.hardware = {"gpu": "NVIDIA H100", "gpu_count": 1, "cpu": "AMD EPYC", "cpu_energy": cpu_energy}


def _pipeline(spec, cpu_energy: str) -> SimulatedPipeline:
    pipeline = SimulatedPipeline(spec.task, Task(), hardware=CPU)
    pipeline.meter = _Meter(cpu_energy)
    return pipeline


def test_a_worker_metering_the_cpu_packages_otherwise_is_refused(tmp_path):
    """One worker meters the shared CPU packages, another leaves them out (it holds some of the host's GPUs): their
    joules would not add up to the same thing."""
    from greenknobs.search.study import open_study

    spec = make_spec(tmp_path)
    open_study(spec, pipeline=_pipeline(spec, "rapl"))
    with pytest.raises(GreenknobsError, match="meters the CPU packages as 'rapl'.*'excluded'"):
        open_study(make_spec(tmp_path), pipeline=_pipeline(spec, "excluded"))
    open_study(make_spec(tmp_path), pipeline=_pipeline(spec, "rapl"))  # the same metering joins


def test_a_range_that_leaves_out_the_baseline_is_one_line_before_any_trial(tmp_path):
    from greenknobs.search.study import open_study

    spec = make_spec(tmp_path)
    spec.ranges = {"max_length": {"choices": [32, 64]}}  # the baseline is 128
    with pytest.raises(GreenknobsError, match=r"the baseline's max_length = 128 is outside the searched range"):
        open_study(spec, pipeline=SimulatedPipeline(spec.task, Task(), hardware=CPU))
    assert not (tmp_path / "sim.journal").exists()
    spec.baseline = {"max_length": 64}  # the fix the message names
    open_study(spec, pipeline=SimulatedPipeline(spec.task, Task(), hardware=CPU))
