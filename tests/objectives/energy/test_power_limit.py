from __future__ import annotations

import pytest

from greenknobs._errors import GreenknobsError
from greenknobs.objectives.energy import power_limit, power_limit_range_w


def test_sets_reads_back_and_restores(fake_hw):
    (gpu,) = fake_hw.install()
    assert power_limit_range_w(0) == (100.0, 700.0)
    with power_limit(250.0) as applied_w:
        assert applied_w == 250.0
        assert gpu.limit_mw == 250_000
    assert gpu.limit_mw == 700_000


def test_restores_when_the_block_raises(fake_hw):
    (gpu,) = fake_hw.install()
    with pytest.raises(RuntimeError, match="training blew up"):
        with power_limit(300.0):
            assert gpu.limit_mw == 300_000
            raise RuntimeError("training blew up")
    assert gpu.limit_mw == 700_000


def test_out_of_range_is_refused_and_nothing_is_set(fake_hw):
    (gpu,) = fake_hw.install()
    with pytest.raises(GreenknobsError, match="power limit 50 W is outside this GPU's range 100–700 W: choose"):
        with power_limit(50.0):
            pytest.fail("the block must not run")
    assert gpu.set_calls == [] and gpu.limit_mw == 700_000


def test_a_cap_that_does_not_take_effect_is_refused(fake_hw):
    (gpu,) = fake_hw.install(gpus=[fake_hw.GPU(ignores_set=True)])
    with pytest.raises(GreenknobsError, match="reads 700 W after setting 250 W.*not in effect"):
        with power_limit(250.0):
            pytest.fail("the block must not run")
    assert gpu.limit_mw == 700_000


def test_no_permission_is_translated_without_a_vendor_traceback(fake_hw):
    fake_hw.install(gpus=[fake_hw.GPU(set_error=4)])  # NVML_ERROR_NO_PERMISSION
    with pytest.raises(GreenknobsError) as caught:
        with power_limit(250.0):
            pytest.fail("the block must not run")
    assert str(caught.value) == (
        "setting the GPU power limit needs root or the Zeus daemon (ZEUSD_SOCK_PATH): "
        "run as root or start zeusd, or drop the power_limit_w knob"
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_not_supported_and_other_vendor_errors_are_translated(fake_hw):
    fake_hw.install(gpus=[fake_hw.GPU(set_error=3), fake_hw.GPU(set_error=999)])  # NOT_SUPPORTED, UNKNOWN
    with pytest.raises(GreenknobsError, match="does not support power limits"):
        with power_limit(250.0, index=0):
            pass
    with pytest.raises(GreenknobsError, match=r"GPU driver error \(Unknown Error\)"):
        with power_limit(250.0, index=1):
            pass


def test_missing_gpu_is_refused(fake_hw):
    fake_hw.install(gpus=[])
    with pytest.raises(GreenknobsError, match="GPU index 0 does not exist"):
        with power_limit(250.0):
            pass


# -- a cap that cannot go stale -------------------------------------------------------------------------------


class Journal:
    """Records what the pipeline writes down, and what the GPU's limit was at that moment."""

    def __init__(self, gpu):
        self.gpu = gpu
        self.events: list[tuple] = []

    def capping(self, gpu, nvml_index, original_w, default_w, cap_w):
        self.events.append(("capping", nvml_index, original_w, default_w, cap_w, self.gpu.limit_mw, len(self.gpu.set_calls)))

    def restored(self, gpu, nvml_index, limit_w):
        self.events.append(("restored", nvml_index, limit_w, self.gpu.limit_mw))


def test_the_original_limit_is_written_down_before_the_cap_is_set(fake_hw):
    (gpu,) = fake_hw.install()
    journal = Journal(gpu)
    with power_limit(250.0, journal=journal):
        assert journal.events == [("capping", 0, 700.0, 700.0, 250.0, 700_000, 0)]  # nothing set yet when written
    assert journal.events[1:] == [("restored", 0, 700.0, 700_000)]


def test_a_cap_reset_by_another_tool_during_the_trial_fails_it(fake_hw):
    (gpu,) = fake_hw.install()
    with pytest.raises(GreenknobsError, match="changed from 250 W to 700 W during the trial"):
        with power_limit(250.0):
            gpu.limit_mw = 700_000  # e.g. a node health check resetting limits
    assert gpu.limit_mw == 700_000


def test_a_failed_restore_keeps_the_cap_on_record(fake_hw):
    (gpu,) = fake_hw.install()
    journal = Journal(gpu)
    with pytest.raises(RuntimeError, match="killed") as err:
        with power_limit(250.0, journal=journal):
            gpu.set_error = 4  # the permission went away mid-trial (zeusd stopped)
            raise RuntimeError("killed")
    assert [e[0] for e in journal.events] == ["capping"]  # never marked restored: the next start deals with it
    assert "also: restoring the GPU power limit needs root" in "\n".join(err.value.__notes__)
    assert "sudo nvidia-smi -i 0 -pl 700" in "\n".join(err.value.__notes__)


def test_levels_are_fractions_of_nvmls_default_limit_not_of_a_cap_in_force(fake_hw, detect_hw):
    from greenknobs.spaces import Space, TaskInfo

    fake_hw.install(gpus=[fake_hw.GPU(limit_mw=350_000)])  # a cap some earlier run left on
    hw = detect_hw()
    assert hw.power_limit_default_w == 700.0 and hw.power_limit_range_w == (100.0, 700.0) and hw.has("power-limit")
    task = TaskInfo(models=("tiny-bert",), min_layers=4, max_positions=512, layers={"tiny-bert": 4})
    assert Space(hw, task).status["power_limit_w"].knob.choices == (0, 100, 315, 420, 525, 630)


def test_power_limit_0_reads_back_the_limit_in_force_and_labels_a_cap_it_found(fake_hw, tiny_pipeline, monkeypatch):
    from greenknobs.spaces import Hardware

    (gpu,) = fake_hw.install()
    hw = Hardware(device="cpu", cpu_cores=2, gpu_name=gpu.name, power_limit_range_w=(100.0, 700.0),
                  power_limit_default_w=700.0)
    monkeypatch.setattr(tiny_pipeline, "hardware", hw)
    notes: dict = {}
    with tiny_pipeline._system({"power_limit_w": 0}, notes) as limit_w:
        assert limit_w == 700.0 and notes == {}
    with tiny_pipeline._system({"power_limit_w": 300}) as limit_w:
        assert limit_w == 300.0 and gpu.limit_mw == 300_000
    assert gpu.limit_mw == 700_000
    gpu.limit_mw = 150_000  # found so: another tool, or the machine's owner
    calls = len(gpu.set_calls)
    with tiny_pipeline._system({"power_limit_w": 0}, notes) as limit_w:
        assert limit_w == 150.0
    assert notes == {"power_limit_note": "found at 150 W, not its default 700 W: ran under the limit in force"}
    assert len(gpu.set_calls) == calls and gpu.limit_mw == 150_000  # run as found, never reset


def test_every_trial_on_a_gpu_records_the_limit_it_ran_under(fake_hw, tiny_pipeline, monkeypatch):
    from greenknobs.spaces import Hardware

    (gpu,) = fake_hw.install()
    hw = Hardware(device="cpu", cpu_cores=2, gpu_name=gpu.name, power_limit_range_w=(100.0, 700.0),
                  power_limit_default_w=700.0)
    monkeypatch.setattr(tiny_pipeline, "hardware", hw)
    config = tiny_pipeline.space().complete({"max_length": 32, "train_fraction": 0.2, "epochs": 1, "tokenizer": "rust"})
    result = tiny_pipeline.run(config)
    assert result.power_limit_w == 700.0 and "GPU power limit read back: 700 W" in result.summary()
