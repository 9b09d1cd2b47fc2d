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
