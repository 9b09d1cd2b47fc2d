"""The warm-up pays the first-use cost of everything the study's space can reach — 8-bit AdamW, bf16, bitsandbytes'
int8 / NF4, QLoRA, compile — so that no metered trial (above all the cascade's single-knob screening trial) pays
`import bitsandbytes` or a cold kernel cache for the configuration it measures."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from greenknobs.objectives import Pipeline, _pipeline, get_task
from greenknobs.objectives._warmup import FIRST_USE
from greenknobs.objectives.energy import make_meter
from greenknobs.spaces import Hardware

NO_GPU = "needs a CUDA GPU"
CPU = Hardware(device="cpu", cpu_cores=2, missing={"cuda": NO_GPU, "fp16": NO_GPU, "pin-memory": NO_GPU,
                                                  "power-limit": "no NVML"},
               costly={"bnb-layers": "bitsandbytes on the CPU"})
START = {"tokenizer": "rust", "max_length": 32, "epochs": 1, "train_fraction": 0.2}


def _pipeline_on(search, ranges=None):
    pipeline = Pipeline(get_task("fortunes-tiny"), meter=make_meter("estimate"), hardware=CPU)
    pipeline.warm_space = pipeline.space(search=search, ranges=ranges or {}, fixed={"tokenizer": "rust"})
    return pipeline


def _warmed(pipeline, monkeypatch, first: dict | None = None) -> list[dict]:
    """The configurations the warm-up ran through the pipeline's phases (the phases replaced by recorders), given
    the first trial's configuration (default: the warm space's START)."""
    seen: list[dict] = []
    model = SimpleNamespace(model=None)
    monkeypatch.setattr(_pipeline._build, "build_model", lambda config, *a, **k: seen.append(dict(config)) or model)
    monkeypatch.setattr(_pipeline._train, "train", lambda *a, **k: {})
    monkeypatch.setattr(_pipeline._infer, "prepare", lambda model, config, device: (model, {}))
    monkeypatch.setattr(_pipeline._infer, "predict", lambda *a, **k: [])
    pipeline.warm_up(first if first is not None else pipeline.warm_space.complete(START))
    return seen


def _first_uses(config: dict) -> set[tuple[str, object]]:
    return {(k, v) for k, values in FIRST_USE.items() for v in values if config.get(k) == v}


def test_the_warm_up_reaches_every_first_use_value_of_the_space(monkeypatch):
    pipeline = _pipeline_on(["optimizer", "train_precision", "adaptation", "compile", "quantization"],
                            ranges={"quantization": {"choices": ["none", "bnb-int8", "dynamic-int8"]},
                                    "adaptation": {"choices": ["full", "qlora"]}})
    seen = _warmed(pipeline, monkeypatch)
    assert _first_uses(seen[0]) == set()  # the baseline, quiet
    warmed = [_first_uses(c) for c in seen[1:]]
    assert all(len(w) == 1 for w in warmed)  # one first-use value per tiny run, nothing else switched on
    assert set().union(*warmed) == {("optimizer", "adamw-8bit"), ("train_precision", "bf16"), ("compile", True),
                                    ("adaptation", "qlora"), ("quantization", "bnb-int8"),
                                    ("quantization", "dynamic-int8")}
    assert pipeline.warmup_reading is not None and pipeline.warmup_reading.phase == "warm-up"


def test_what_the_space_cannot_reach_is_not_warmed(monkeypatch):
    pipeline = _pipeline_on(["max_length", "batch_size"])  # no first-use knob searched
    assert [_first_uses(c) for c in _warmed(pipeline, monkeypatch)] == [set()]


def test_without_a_study_space_the_first_configuration_is_what_is_warmed(monkeypatch):
    pipeline = Pipeline(get_task("fortunes-tiny"), meter=make_meter("estimate"), hardware=CPU)
    seen = _warmed(pipeline, monkeypatch, pipeline.space().complete({**START, "optimizer": "adamw-8bit"}))
    assert [_first_uses(c) for c in seen] == [set(), {("optimizer", "adamw-8bit")}]


def test_the_warm_up_runs_bitsandbytes_for_real(caplog):
    """The tiny runs use the real libraries: none of them fails on this CPU (a failure would only be logged)."""
    pytest.importorskip("bitsandbytes")
    pipeline = _pipeline_on(["adaptation", "quantization"],
                            ranges={"quantization": {"choices": ["none", "bnb-nf4"]},
                                    "adaptation": {"choices": ["full", "qlora"]}})
    with caplog.at_level(logging.INFO, logger=_pipeline.__name__):
        pipeline.warm_up(pipeline.warm_space.complete(START))
    assert not [r.getMessage() for r in caplog.records if "warm-up of" in r.getMessage()]
    assert pipeline.warmup_reading.energy_j > 0
