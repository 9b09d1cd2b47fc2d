from __future__ import annotations

import time

import psutil
import pytest

from greenknobs._errors import GreenknobsError
from greenknobs.objectives.energy import SOURCES, make_meter


def _burn_cpu(seconds: float) -> None:
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        pass


def _cpu_s() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def test_estimate_is_idle_power_over_wall_time_plus_busy_cpu_seconds(monkeypatch):
    monkeypatch.delenv("GREENKNOBS_WATTS_PER_CORE", raising=False)
    monkeypatch.delenv("GREENKNOBS_IDLE_WATTS_PER_CORE", raising=False)
    meter = make_meter("estimate")
    before = _cpu_s()
    with meter.window("train") as readings:
        _burn_cpu(0.2)
    used_s = _cpu_s() - before

    (reading,) = readings
    assert reading.source == "estimated" == meter.source
    assert reading.source in SOURCES
    assert reading.phase == "train"
    # psutil's CPU times tick in 10 ms steps: allow a tick or two (0.07 J each at 10 - 3 W/core).
    expected = reading.time_s * meter.cores * 3.0 + used_s * (10.0 - 3.0)
    assert reading.energy_j == pytest.approx(expected, abs=0.25)
    assert reading.energy_j > 1.5
    assert reading.energy_j == pytest.approx(reading.cpu_energy_j)
    assert reading.gpu_energy_j == 0.0 and reading.dram_energy_j == 0.0
    assert reading.time_s > 0
    assert "estimated" in meter.description and "10 W per core busy" in meter.description
    assert "3 W per core idle" in meter.description
    assert meter.hardware["meter"] == "estimated" and meter.hardware["cpu_cores"] >= 1
    assert meter.readings == [reading]


def test_a_window_shorter_than_a_clock_tick_charges_no_more_than_its_cores_busy(monkeypatch):
    """CPU time comes in 10 ms ticks: a 50 µs window can read a whole tick. It is charged as its cores fully busy
    at most, not 0.07 J for a window 200 times shorter than the tick."""
    monkeypatch.delenv("GREENKNOBS_WATTS_PER_CORE", raising=False)
    monkeypatch.delenv("GREENKNOBS_IDLE_WATTS_PER_CORE", raising=False)
    meter = make_meter("estimate")
    ticks = iter([5.00, 5.01])  # the tick lands inside the window
    monkeypatch.setattr(meter, "_cpu_s", lambda: next(ticks))
    with meter.window("idle") as readings:
        pass
    (reading,) = readings
    assert 0 < reading.time_s < 0.001
    assert reading.energy_j == pytest.approx(reading.time_s * meter.cores * 10.0)


def test_env_var_sets_watts_per_core(monkeypatch):
    monkeypatch.setenv("GREENKNOBS_WATTS_PER_CORE", "25")
    meter = make_meter("estimate")
    assert meter.watts_per_core == 25.0 and "25 W per core" in meter.description
    monkeypatch.setenv("GREENKNOBS_IDLE_WATTS_PER_CORE", "0")
    meter = make_meter("estimate")
    with meter.window("eval") as readings:
        _burn_cpu(0.05)
    assert readings[0].energy_j == pytest.approx(0.05 * 25.0, abs=0.6)


def test_idle_cores_cost_power_while_the_process_waits(monkeypatch):
    """A slower run costs more than its CPU seconds: sleeping 0.3 s on the allotted cores is not free."""
    monkeypatch.delenv("GREENKNOBS_WATTS_PER_CORE", raising=False)
    monkeypatch.setenv("GREENKNOBS_IDLE_WATTS_PER_CORE", "4")
    meter = make_meter("estimate")
    with meter.window("wait") as readings:
        time.sleep(0.3)
    assert readings[0].energy_j == pytest.approx(readings[0].time_s * meter.cores * 4.0, abs=0.2)
    assert readings[0].energy_j >= 0.3 * meter.cores * 4.0 * 0.9


@pytest.mark.parametrize("raw", ["abc", "-1", "10", "12", "nan"])
def test_bad_idle_watts_are_refused_with_the_fix(monkeypatch, raw):
    monkeypatch.delenv("GREENKNOBS_WATTS_PER_CORE", raising=False)
    monkeypatch.setenv("GREENKNOBS_IDLE_WATTS_PER_CORE", raw)
    with pytest.raises(GreenknobsError, match="GREENKNOBS_IDLE_WATTS_PER_CORE"):
        make_meter("estimate")


def test_argument_beats_env_var(monkeypatch):
    monkeypatch.setenv("GREENKNOBS_WATTS_PER_CORE", "25")
    assert make_meter("estimate", watts_per_core=4.5).watts_per_core == 4.5


@pytest.mark.parametrize("raw", ["abc", "0", "-3", "nan", "inf"])
def test_bad_env_var_names_variable_and_fix(monkeypatch, raw):
    monkeypatch.setenv("GREENKNOBS_WATTS_PER_CORE", raw)
    with pytest.raises(GreenknobsError, match=r"GREENKNOBS_WATTS_PER_CORE=.*positive number.*unset it"):
        make_meter("estimate")


def test_bad_argument_is_refused():
    with pytest.raises(GreenknobsError, match="watts_per_core"):
        make_meter("estimate", watts_per_core=0)
