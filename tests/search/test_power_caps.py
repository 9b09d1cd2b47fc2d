"""A GPU power cap cannot go stale: the limit a trial replaces is in the study's storage before the cap is set, and
the next `run` or `worker` on the host restores a cap a killed worker left on — or refuses to start, with the
command that restores it. NVML is faked at the pynvml seam (tests/objectives/energy/conftest.py)."""

from __future__ import annotations

import io
import subprocess
import sys

import optuna
import pytest

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import Pipeline, get_task
from greenknobs.objectives.energy import make_meter, power_limit
from greenknobs.search.records import set_study_record, study_record
from greenknobs.search.study import StudyPowerJournal, record_key, restore_left_caps
from greenknobs.spaces import Hardware
from tests.objectives._spies import energy_fakes

fakes = energy_fakes()
no_hardware = fakes.no_hardware  # the fixture, under its name here


@pytest.fixture
def fake_hw(monkeypatch, no_hardware):
    return fakes.FakeHardware(monkeypatch)


@pytest.fixture
def study():
    return optuna.create_study(directions=["minimize", "maximize"])


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def _killed_under_a_cap(study, cap_w: float = 250.0):
    """A worker that set a cap and died mid-trial (SIGKILL: no `finally` ran): the cap's context is entered and never
    left (the caller holds it: a collected generator would run its cleanup), and the process that wrote the record
    is gone."""
    cap = power_limit(cap_w, journal=StudyPowerJournal(study))
    cap.__enter__()
    key = record_key(0)
    set_study_record(study, key, {**study_record(study, key), "pid": _dead_pid()})
    return key, cap


def test_a_cap_is_on_record_in_the_storage_before_it_is_set(fake_hw, study):
    (gpu,) = fake_hw.install()
    key = record_key(0)
    seen = {}

    class Watching(StudyPowerJournal):
        def capping(self, *args):
            super().capping(*args)
            seen["limit_when_written_mw"] = gpu.limit_mw

    with power_limit(250.0, journal=Watching(study)):
        record = study_record(study, key)
        assert (record["state"], record["original_w"], record["default_w"], record["cap_w"]) == ("capped", 700.0, 700.0, 250.0)
        assert record["gpu_name"] == "NVIDIA H100 80GB HBM3" and record["nvml_index"] == 0
    assert seen == {"limit_when_written_mw": 700_000}
    assert study_record(study, key)["state"] == "restored" and study_record(study, key)["limit_w"] == 700.0
    assert study.user_attrs == {}  # a system attribute: out of the dashboard's table of the study's user attributes


def test_a_cap_left_in_the_user_attributes_of_an_older_study_is_restored(fake_hw, study):
    (gpu,) = fake_hw.install()
    key, _held = _killed_under_a_cap(study)
    older = optuna.create_study(directions=["minimize", "maximize"])
    older.set_user_attr(key, study_record(study, key))  # where greenknobs kept the record before
    assert gpu.limit_mw == 250_000
    restore_left_caps(older, stream=io.StringIO())
    assert gpu.limit_mw == 700_000 and study_record(older, key)["state"] == "restored"
    assert older.user_attrs[key]["state"] == "capped"  # the new record is a system attribute, and it wins


def test_the_next_start_restores_a_cap_a_killed_worker_left_on(fake_hw, study):
    (gpu,) = fake_hw.install()
    key, _held = _killed_under_a_cap(study)
    assert gpu.limit_mw == 250_000
    out = io.StringIO()
    restore_left_caps(study, stream=out)
    assert gpu.limit_mw == 700_000
    assert "GPU 0 (NVIDIA H100 80GB HBM3) restored to 700 W: worker pid" in out.getvalue()
    assert "left its 250 W cap on" in out.getvalue()
    assert study_record(study, key)["state"] == "restored"


def test_a_cap_that_cannot_be_restored_from_here_stops_the_start_with_the_fix(fake_hw, study):
    (gpu,) = fake_hw.install()
    _held = _killed_under_a_cap(study)
    gpu.set_error = 4  # NVML_ERROR_NO_PERMISSION: this worker runs without root or zeusd
    with pytest.raises(GreenknobsError) as err:
        restore_left_caps(study)
    message = str(err.value)
    assert message.startswith("GPU 0 (NVIDIA H100 80GB HBM3) still has the 250 W cap that worker pid ")
    assert message.endswith("restore the 700 W it had with `sudo nvidia-smi -i 0 -pl 700` and start again")
    assert "\n" not in message and err.value.__cause__ is None
    assert gpu.limit_mw == 250_000


def test_a_cap_held_by_a_live_worker_is_not_touched(fake_hw, study):
    (gpu,) = fake_hw.install()
    cap = power_limit(250.0, journal=StudyPowerJournal(study))
    cap.__enter__()
    key = record_key(0)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        import psutil

        set_study_record(study, key, {**study_record(study, key), "pid": other.pid,
                                      "pid_started": psutil.Process(other.pid).create_time()})
        with pytest.raises(GreenknobsError, match=f"capped at 250 W by worker pid {other.pid} on this host, which is "
                                                  "still running: run one worker per GPU"):
            restore_left_caps(study)
    finally:
        other.kill()
        other.wait()
    assert gpu.limit_mw == 250_000
    cap.__exit__(None, None, None)


def test_a_limit_no_trial_of_the_study_set_is_recorded_and_left_as_found(fake_hw, study):
    (gpu,) = fake_hw.install(gpus=[fake_hw.GPU(limit_mw=150_000)])
    out = io.StringIO()
    restore_left_caps(study, stream=out)
    assert gpu.set_calls == [] and gpu.limit_mw == 150_000
    assert out.getvalue() == ("greenknobs: GPU 0 (NVIDIA H100 80GB HBM3) is at 150 W, not its default 700 W; no trial "
                              "of this study set that limit, so trials run under it and record it\n")
    record = study_record(study, record_key(0))
    assert (record["state"], record["found_w"], record["default_w"], record["range_w"]) == ("found", 150.0, 700.0,
                                                                                            [100.0, 700.0])
    gpu.limit_mw = 700_000
    restore_left_caps(study)
    record = study_record(study, record_key(0))
    assert (record["state"], record["default_w"], record["gpu_name"]) == ("default", 700.0, gpu.name)


def test_open_study_restores_the_cap_and_the_baseline_runs_at_the_default_limit(fake_hw, tmp_path, capsys):
    """Through `open_study`, which `run` and `worker` both call: the killed worker's cap is restored before any
    trial, so the baseline that follows reads back the default limit."""
    from greenknobs.search.study import StudySpec, open_study

    (gpu,) = fake_hw.install()
    hw = Hardware(device="cpu", cpu_cores=2, gpu_name=gpu.name, power_limit_range_w=(100.0, 700.0),
                  power_limit_default_w=700.0)
    pipeline = Pipeline(get_task("fortunes-tiny"), meter=make_meter("estimate"), hardware=hw)
    spec = StudySpec(name="capped", task=get_task("fortunes-tiny"), search=["power_limit_w"], sampler="random",
                     n_trials=6, energy="estimate")
    url = f"journal:{tmp_path / 'capped.journal'}"
    ctx = open_study(spec, storage_url=url, pipeline=pipeline)
    _held = _killed_under_a_cap(ctx.study, 315.0)
    assert gpu.limit_mw == 315_000
    again = open_study(spec, storage_url=url, pipeline=pipeline)
    assert gpu.limit_mw == 700_000 and "restored to 700 W" in capsys.readouterr().err
    assert again.pipeline.power_journal.study is again.study and again.pipeline.warm_space is again.space
    with pipeline._system(again.space.baseline()) as limit_w:
        assert limit_w == 700.0
