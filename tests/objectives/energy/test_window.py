from __future__ import annotations

import pytest

from greenknobs._errors import GreenknobsError
from greenknobs.objectives.energy import make_meter


def test_window_records_a_reading_when_the_block_raises():
    meter = make_meter("estimate")
    with pytest.raises(ValueError, match="bad batch"):
        with meter.window("train") as readings:
            raise ValueError("bad batch")
    assert len(readings) == 1 and readings[0].phase == "train"
    assert meter.readings == readings
    # The window is closed: the same phase can be measured again.
    with meter.window("train"):
        pass
    assert len(meter.readings) == 2


def test_begin_end_pairs_are_checked():
    meter = make_meter("estimate")
    meter.begin("eval")
    with pytest.raises(GreenknobsError, match="already open"):
        meter.begin("eval")
    assert meter.end("eval").phase == "eval"
    with pytest.raises(GreenknobsError, match="never begun"):
        meter.end("eval")
