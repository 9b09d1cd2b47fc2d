from __future__ import annotations

import time

import pytest

from greenknobs._errors import GreenknobsError
from greenknobs.objectives.energy import gpu_count, gpu_name, hardware_summary, make_meter


def test_auto_with_a_gpu_measures_gpu_plus_cpu_plus_dram(fake_hw):
    (gpu,) = fake_hw.install(rapl=fake_hw.RAPL(cpu_step_mj=5_000.0, dram_step_mj=1_500.0))
    meter = make_meter("auto")
    assert meter.source == "measured-gpu"
    assert "NVIDIA H100 80GB HBM3" in meter.description and "RAPL" in meter.description
    assert meter.hardware["gpu"] == "NVIDIA H100 80GB HBM3" and meter.hardware["gpu_count"] == 1

    with meter.window("train") as readings:
        gpu.work(123.456)
    (reading,) = readings
    assert reading.gpu_energy_j == pytest.approx(123.456)
    # One RAPL step lies between the window's two reads.
    assert reading.cpu_energy_j == pytest.approx(5.0)
    assert reading.dram_energy_j == pytest.approx(1.5)
    assert reading.energy_j == pytest.approx(123.456 + 5.0 + 1.5)
    assert reading.source == "measured-gpu"
    # sync_execution=True: Zeus synchronised the GPU at both ends of the window.
    assert fake_hw.sync_calls == [[0], [0]]


def test_gpu_without_readable_rapl_meters_gpu_only(fake_hw):
    (gpu,) = fake_hw.install(rapl=fake_hw.RAPL(cpu_step_mj=0.0))
    meter = make_meter("zeus")
    assert meter.source == "measured-gpu" and "not metered" in meter.description
    with meter.window("eval") as readings:
        gpu.work(7.0)
    assert readings[0].energy_j == pytest.approx(7.0)
    assert readings[0].cpu_energy_j == readings[0].dram_energy_j == 0.0


def test_rapl_only_is_measured_cpu(fake_hw):
    fake_hw.install(gpus=[], rapl=fake_hw.RAPL(cpu_step_mj=2_000.0, dram_step_mj=500.0))
    meter = make_meter("auto")
    assert meter.source == "measured-cpu"
    with meter.window("data") as readings:
        pass
    assert readings[0].energy_j == pytest.approx(2.5)
    assert readings[0].gpu_energy_j == 0.0


def test_gpu_indices_pick_gpus_and_reject_missing_ones(fake_hw):
    a, b = fake_hw.install(gpus=[fake_hw.GPU(), fake_hw.GPU(name="NVIDIA A100-SXM4-40GB")])
    assert gpu_count() == 2 and gpu_name(1) == "NVIDIA A100-SXM4-40GB"
    assert hardware_summary()["gpu"] == "NVIDIA H100 80GB HBM3, NVIDIA A100-SXM4-40GB"
    meter = make_meter(gpu_indices=[1])
    with meter.window("train") as readings:
        a.work(100.0)
        b.work(3.0)
    assert readings[0].gpu_energy_j == pytest.approx(3.0)
    with pytest.raises(GreenknobsError, match=r"gpu_indices \[5\] are not visible"):
        make_meter(gpu_indices=[5])


def test_counter_stuck_over_a_long_window_is_an_error(fake_hw):
    (gpu,) = fake_hw.install(gpus=[fake_hw.GPU(stuck=True)])
    meter = make_meter("auto")
    message = r"GPU energy counter reported 0 J for a \d\.\ds window on GPU 0 \(NVIDIA H100"
    with pytest.raises(GreenknobsError, match=message):
        with meter.window("train"):
            gpu.work(50.0)
            time.sleep(0.6)
    assert meter.readings == []


def test_short_window_with_no_counter_tick_uses_instant_power(fake_hw):
    (gpu,) = fake_hw.install(gpus=[fake_hw.GPU(stuck=True, instant_power_mw=200_000)])
    meter = make_meter("auto")
    with meter.window("step") as readings:
        time.sleep(0.02)
    (reading,) = readings
    # 200 W × the window's duration, Zeus's approximation for windows shorter than a counter tick.
    assert reading.gpu_energy_j == pytest.approx(200.0 * reading.time_s, rel=0.5)
    assert reading.gpu_energy_j > 0
