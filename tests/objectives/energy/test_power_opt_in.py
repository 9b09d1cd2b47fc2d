"""Without GREENKNOBS_SET_POWER_LIMITS=1 no code path changes a GPU's power limit: the fake NVML records every set
(FakeGPU.set_calls), and every path that reads, caps or restores a limit is driven here with the opt-in absent, as on
a lent machine whose rules forbid changing the card."""

from __future__ import annotations

import io

import optuna
import pytest

from greenknobs._errors import GreenknobsError
from greenknobs.objectives.energy import _gpu, power_limit
from greenknobs.search.records import set_study_record, study_record

OPT_IN_ERROR = ("setting the GPU power limit is off, so the card runs as it is found: set "
                "GREENKNOBS_SET_POWER_LIMITS=1 to let greenknobs cap it (and restore it afterwards), or drop the "
                "power_limit_w knob")


@pytest.fixture
def found_capped(fake_hw):
    """One GPU found at 150 W of its 700 W default, the opt-in absent."""
    (gpu,) = fake_hw.install(gpus=[fake_hw.GPU(limit_mw=150_000)], set_limits=False)
    return gpu


def test_a_cap_is_refused_before_nvml_is_touched(found_capped):
    with pytest.raises(GreenknobsError) as err:
        with power_limit(250.0):
            pytest.fail("the block must not run")
    assert str(err.value) == OPT_IN_ERROR
    with pytest.raises(GreenknobsError, match="^setting the GPU power limit is off"):
        _gpu.set_power_limit_w(700.0)
    assert found_capped.set_calls == [] and found_capped.limit_mw == 150_000


def test_the_opt_in_is_exactly_1(found_capped, monkeypatch):
    for value in ("", "0", "yes", "true"):
        monkeypatch.setenv("GREENKNOBS_SET_POWER_LIMITS", value)
        with pytest.raises(GreenknobsError, match="is off"):
            _gpu.set_power_limit_w(300.0)
    monkeypatch.setenv("GREENKNOBS_SET_POWER_LIMITS", "1")
    assert _gpu.set_power_limit_w(300.0) == 300.0 and found_capped.set_calls == [300_000]


def test_the_limits_are_read_and_the_knob_says_how_to_opt_in(found_capped, detect_hw):
    hw = detect_hw()
    assert (hw.power_limit_range_w, hw.power_limit_default_w) == ((100.0, 700.0), 700.0)
    assert not hw.has("power-limit") and hw.missing["power-limit"] == OPT_IN_ERROR.rsplit(", or ", 1)[0]
    assert _gpu.limit_in_force_w() == (150.0, "found at 150 W, not its default 700 W: ran under the limit in force")
    assert found_capped.set_calls == []


def test_a_study_on_a_card_found_capped_records_it_runs_under_it_and_sets_nothing(found_capped, tiny_pipeline,
                                                                                 monkeypatch, detect_hw):
    """open_study's guard, then a whole trial: the limit on record, each trial labelled, no set anywhere."""
    import types

    from greenknobs.search.study import guard, record_key

    monkeypatch.setattr(tiny_pipeline, "hardware", detect_hw())
    monkeypatch.setattr(tiny_pipeline, "power_journal", None)
    study = optuna.create_study(directions=["minimize", "maximize"])
    guard(types.SimpleNamespace(pipeline=tiny_pipeline, study=study))
    assert tiny_pipeline.power_journal is None  # no journal: nothing may be capped
    record = study_record(study, record_key(0))
    assert (record["state"], record["found_w"], record["default_w"]) == ("found", 150.0, 700.0)
    config = tiny_pipeline.space().complete({"max_length": 32, "train_fraction": 0.2, "epochs": 1,
                                             "tokenizer": "rust"})
    result = tiny_pipeline.run(config)
    assert result.power_limit_w == 150.0
    assert result.hardware["power_limit"] == "found at 150 W, not its default 700 W: ran under the limit in force"
    assert found_capped.set_calls == [] and found_capped.limit_mw == 150_000


def test_a_cap_a_killed_opted_in_worker_left_is_not_restored_without_the_opt_in(fake_hw, monkeypatch):
    from greenknobs.search.study import StudyPowerJournal, record_key, restore_left_caps

    (gpu,) = fake_hw.install()  # opted in: the worker that set the cap
    study = optuna.create_study(directions=["minimize", "maximize"])
    cap = power_limit(250.0, journal=StudyPowerJournal(study))
    cap.__enter__()  # killed inside: never left
    key = record_key(0)
    set_study_record(study, key, {**study_record(study, key), "pid": 2**22 + 12345, "pid_started": 0.0})
    monkeypatch.delenv("GREENKNOBS_SET_POWER_LIMITS")
    sets = len(gpu.set_calls)
    with pytest.raises(GreenknobsError) as err:
        restore_left_caps(study, stream=io.StringIO())
    assert "cannot be restored from here (GREENKNOBS_SET_POWER_LIMITS is not 1); restore the 700 W it had with " \
           "`sudo nvidia-smi -i 0 -pl 700` and start again" in str(err.value)
    assert len(gpu.set_calls) == sets and gpu.limit_mw == 250_000
