from __future__ import annotations

import pytest

from greenknobs._errors import GreenknobsError
from greenknobs.objectives.energy import gpu_count, make_meter
from greenknobs.objectives.energy._rapl import rapl_is_measurable


@pytest.mark.skipif(gpu_count() > 0 or rapl_is_measurable(), reason="this machine can measure energy")
def test_this_machine_falls_back_to_the_estimate():
    meter = make_meter("auto")
    assert meter.source == "estimated"
    assert "no GPU energy counters, no RAPL" in meter.description
    with pytest.raises(GreenknobsError, match='use meter kind "estimate"'):
        make_meter("zeus")


def test_no_hardware_auto_estimates_and_zeus_refuses(no_hardware):
    assert gpu_count() == 0
    assert make_meter().source == "estimated"
    with pytest.raises(GreenknobsError, match='nothing to measure.*"estimate"'):
        make_meter("zeus")


def test_rapl_present_but_reading_zero_is_not_a_measurement(fake_hw):
    fake_hw.install(gpus=[], rapl=fake_hw.RAPL(cpu_step_mj=0.0))
    assert not rapl_is_measurable()
    assert make_meter("auto").source == "estimated"
    with pytest.raises(GreenknobsError):
        make_meter("zeus")


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(GreenknobsError, match="auto, zeus, estimate"):
        make_meter("rapl")


# -- NVML failing on a CUDA machine is an error, never a CPU-only estimate ------------------------------------


@pytest.fixture
def cuda_visible_to_torch(monkeypatch):
    """torch sees one CUDA GPU (training would run there), whatever NVML says."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_nvml_failing_while_torch_trains_on_cuda_is_an_error(no_hardware, cuda_visible_to_torch):
    for kind in ("auto", "zeus"):
        with pytest.raises(GreenknobsError) as err:
            make_meter(kind)
        message = str(err.value)
        assert message.startswith("torch trains on 1 CUDA GPU(s) but NVML cannot read their energy (")
        assert "NVML and AMDSMI" in message or "Library" in message, message
        assert 'meter kind "estimate" (CPU only, labelled)' in message and "\n" not in message
    estimate = make_meter("estimate")  # asked for by name: allowed, and says what it leaves out
    assert estimate.source == "estimated"
    assert "CPU only: the 1 CUDA GPU(s) training runs on are not counted" in estimate.description


def test_a_cuda_machine_whose_nvml_works_measures_the_gpu(fake_hw, cuda_visible_to_torch):
    fake_hw.install()
    assert make_meter("auto").source == "measured-gpu"


# -- workers on one host: the CPU packages are metered by one process or by none -------------------------------


def test_a_worker_with_some_of_the_hosts_gpus_leaves_the_shared_cpu_packages_out(fake_hw, monkeypatch):
    gpus = fake_hw.install(gpus=[fake_hw.GPU(), fake_hw.GPU()], rapl=fake_hw.RAPL(cpu_step_mj=5_000.0, dram_step_mj=1_000.0))
    whole_host = make_meter("auto")
    assert whole_host.hardware["cpu_energy"] == "RAPL" and "CPU package + DRAM from RAPL" in whole_host.description
    readings = []
    for visible in ("0", "1"):  # what `run --workers 2` gives its two workers
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
        fake_hw.install(gpus=gpus, rapl=fake_hw.RAPL(cpu_step_mj=5_000.0, dram_step_mj=1_000.0))
        meter = make_meter("auto")
        assert meter.source == "measured-gpu" and meter.hardware["cpu_energy"] == "excluded: shared"
        assert ("CPU and DRAM not metered (CPU packages not metered: this worker meters 1 of the host's 2 GPUs and "
                "shares the CPU packages with the workers on the others)") in meter.description
        with meter.window("training") as got:
            gpus[int(visible)].work(10.0)
        readings.append(got[0])
    assert [r.gpu_energy_j for r in readings] == [pytest.approx(10.0)] * 2
    assert sum(r.cpu_energy_j + r.dram_energy_j for r in readings) == 0.0  # neither counts the packages
