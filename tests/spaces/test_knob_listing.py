"""`greenknobs knobs` lists every declared knob, and says why the ones that cannot run here do not apply."""

from __future__ import annotations

import json

import pytest

from greenknobs.search.cli import main
from greenknobs.spaces import KNOBS

from .conftest import BNB_ON_CPU, NO_GPU, NO_NVML, cpu_hardware


@pytest.fixture
def on_a_cpu_machine(monkeypatch):
    monkeypatch.setattr("greenknobs.objectives._pipeline.detect_hardware", cpu_hardware)


def test_every_knob_is_listed_with_what_applies_here(capsys, on_a_cpu_machine):
    assert main(["knobs", "--task", "fortunes-tiny", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows) == [k.name for k in KNOBS]
    for knob in KNOBS:
        row = rows[knob.name]
        assert (row["phase"], row["kind"], row["help"]) == (knob.phase, knob.kind, knob.help)
        assert row["condition"] == (knob.condition.describe() if knob.condition else "")
    assert (rows["pin_memory"]["applies"], rows["pin_memory"]["why"]) == ("no", NO_GPU)
    assert (rows["power_limit_w"]["applies"], rows["power_limit_w"]["why"]) == ("no", NO_NVML)
    assert rows["model"]["applies"] == "no" and "only one value" in rows["model"]["why"]
    for name, left_out in (("train_precision", "fp16"), ("infer_precision", "fp16")):
        assert rows[name]["applies"] == "partly"
        assert rows[name]["why"] == f"{left_out} left out: {NO_GPU}"
    # bitsandbytes runs here, slowly: offered, but searched only where a study names it.
    for name, values, them in (("adaptation", "qlora", "it"), ("quantization", "bnb-int8, bnb-nf4", "them")):
        assert rows[name]["applies"] == "partly"
        assert rows[name]["why"] == (f"{values} searched on CPU at your cost ({BNB_ON_CPU}): name {them} in "
                                     "[search.ranges] or [fixed]")
    runnable = {n for n, r in rows.items() if r["applies"] == "yes"}
    assert {"max_length", "tokenizer", "compile", "optimizer", "cpu_threads", "infer_compile"} <= runnable
    # The domains are resolved for the task: tiny-bert has 4 layers and 512 positions.
    assert rows["drop_layers"]["domain"] == "[0, 3]"
    lengths = [int(v) for v in rows["max_length"]["domain"].strip("{}").split(", ")]
    assert max(lengths) == 512 and 512 in KNOBS[0].choices and KNOBS[0].name == "max_length"


def test_the_table_names_every_knob_and_every_reason(capsys, on_a_cpu_machine):
    assert main(["knobs", "--task", "fortunes-tiny"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for knob in KNOBS:
        assert any(line.startswith(f"{knob.name} ") for line in lines), knob.name
    assert f"no: {NO_NVML}" in out and f"partly: fp16 left out: {NO_GPU}" in out
    assert "partly: bnb-int8, bnb-nf4 searched on CPU at your cost" in out
    # Columns line up: the baseline column starts at the same place on every knob's line.
    starts = {line.index(" fp32 ") for line in lines if line.startswith(("train_precision ", "infer_precision "))}
    assert len(starts) == 1
