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
