"""A training run paid once: a configuration that differs from a run already made only in its inference knobs
serves that run's trained model (objectives/_trained.py). Real runs of tiny-bert on the CPU in fp32."""

from __future__ import annotations

from unittest import mock

import pytest

from greenknobs.objectives import Pipeline, get_task
from greenknobs.objectives import _pipeline as pipeline_module
from greenknobs.objectives._trained import Trained, TrainedModels, inference_knobs, training_identity
from greenknobs.objectives.energy import make_meter
from greenknobs.spaces import KNOBS

SMALL = {"max_length": 32, "train_fraction": 0.2, "epochs": 1, "tokenizer": "rust", "batch_size": 16}
SEED = 3


def fresh_pipeline() -> Pipeline:
    return Pipeline(get_task("fortunes-tiny"), meter=make_meter("estimate"), seed=0)


@pytest.fixture
def counting_training():
    """Counts training loops and model builds: a run that serves a kept model does neither."""
    calls = {"train": 0, "build": 0}
    real_train, real_build = pipeline_module._train.train, pipeline_module._build.build_model

    def train(*args, **kwargs):
        calls["train"] += 1
        return real_train(*args, **kwargs)

    def build(*args, **kwargs):
        calls["build"] += 1
        return real_build(*args, **kwargs)

    with mock.patch.object(pipeline_module._train, "train", train), \
            mock.patch.object(pipeline_module._build, "build_model", build):
        yield calls


@pytest.fixture(scope="module")
def served_and_fresh():
    """Config A trains at SEED (reuse on); B and C differ from A in inference knobs only and serve A's model; the
    same B and C run on a pipeline without reuse, trained from scratch."""
    reuse = fresh_pipeline()
    space = reuse.space()
    a = space.complete({**SMALL, "infer_batch_size": 32})
    b = space.complete({**SMALL, "infer_batch_size": 8})
    c = space.complete({**SMALL, "infer_batch_size": 8, "quantization": "dynamic-int8"})
    trained = reuse.run(a, seed=SEED, reuse="study", label="trial 1 at seed 3")
    served_b = reuse.run(b, seed=SEED, reuse="study")
    served_c = reuse.run(c, seed=SEED, reuse="study")
    inference_reading = reuse.meter.readings[-1]
    plain = fresh_pipeline()
    return trained, served_b, served_c, plain.run(b, seed=SEED), plain.run(c, seed=SEED), inference_reading


def test_serving_a_kept_model_gives_exactly_the_f1_of_an_unreused_run(served_and_fresh):
    _, served_b, served_c, fresh_b, fresh_c, _ = served_and_fresh
    for served, fresh in ((served_b, fresh_b), (served_c, fresh_c)):
        assert served.f1 == fresh.f1 and served.predicted_counts == fresh.predicted_counts
        assert served.accuracy == fresh.accuracy and served.epoch_losses == fresh.epoch_losses
        assert served.served == fresh.served and served.trainable_params == fresh.trainable_params
    assert served_c.quantized_linear_layers > 0  # quantizing the served copy left the kept model as it was:
    assert served_b.quantized_linear_layers == 0  # b, served before c from the same kept model, was not quantized


def test_a_reused_runs_joules_are_the_recorded_training_plus_its_measured_inference(served_and_fresh):
    trained, served_b, served_c, fresh_b, _, last_inference = served_and_fresh
    for served in (served_b, served_c):
        assert served.reused_phases == ["data", "model", "training"] and not served.trained
        assert served.reused_training == "trial 1 at seed 3" and served.training_id == trained.training_id
        assert served.phase_energy_j["model"] == trained.phase_energy_j["model"]
        assert served.phase_energy_j["training"] == trained.phase_energy_j["training"]
        assert served.energy_j == pytest.approx(sum(served.phase_energy_j.values()))
        # What the run burned: its own inference only (tokenized data and the training were paid once).
        assert served.spent_j == pytest.approx(served.phase_energy_j["inference"])
    assert served_c.phase_energy_j["inference"] == last_inference.energy_j and last_inference.phase == "inference"
    assert trained.trained and trained.spent_j == pytest.approx(trained.energy_j)
    assert fresh_b.trained and fresh_b.reused_training == "" and fresh_b.training_id == ""  # no scope: no reuse


INFERENCE_CHANGES = [{"infer_batch_size": 8}, {"quantization": "dynamic-int8"}, {"infer_batch_size": 64}]


@pytest.mark.parametrize("change", INFERENCE_CHANGES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_a_change_of_an_inference_only_knob_never_trains(change, counting_training):
    pipeline = fresh_pipeline()
    space = pipeline.space()
    pipeline.run(space.complete(SMALL), seed=SEED, reuse="s")
    trained = dict(counting_training)  # the first run's training (and the process's warm-up)
    result = pipeline.run(space.complete({**SMALL, **change}), seed=SEED, reuse="s")
    assert counting_training == trained and not result.trained


@pytest.mark.parametrize("change", [{"epochs": 2}, {"max_length": 64}, {"learning_rate": 1e-4}],
                         ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_a_change_of_another_knob_a_seed_or_a_scope_always_trains(change, counting_training):
    pipeline = fresh_pipeline()
    space = pipeline.space()
    base = space.complete(SMALL)
    pipeline.run(base, seed=SEED, reuse="s")
    before = counting_training["train"]
    assert pipeline.run(space.complete({**SMALL, **change}), seed=SEED, reuse="s").trained
    assert pipeline.run(base, seed=SEED + 1, reuse="s").trained  # another seed
    assert pipeline.run(base, seed=SEED, reuse="another study").trained  # another scope
    assert counting_training["train"] == before + 3


def test_the_training_identity_holds_every_knob_but_the_inference_phases():
    """Every declared knob, one at a time: an inference knob leaves the identity as it is; any other knob changes it."""
    task = get_task("fortunes-tiny")
    base = {k.name: k.baseline for k in KNOBS}
    ident = training_identity("s", task, "data", base, 0)
    serving = inference_knobs()
    assert serving == {"quantization", "infer_precision", "infer_batch_size", "infer_compile"}
    for knob in KNOBS:  # any value other than the baseline's: the identity reads values, it does not validate them
        changed = training_identity("s", task, "data", {**base, knob.name: f"not {knob.baseline!r}"}, 0)
        assert (changed == ident) == (knob.name in serving), knob.name
    assert training_identity("s", task, "data", base, 1) != ident
    assert training_identity("t", task, "data", base, 0) != ident
    assert training_identity("s", task, "other data", base, 0) != ident
    test_split = type(task)(**{**task.__dict__, "eval_split": "test"})
    assert training_identity("s", test_split, "data", base, 0) == ident  # the split it is scored on is serving


def test_kept_models_are_capped_by_count_and_bytes_least_recent_out():
    kept = TrainedModels(max_models=2, max_bytes=100)
    for name, size in (("a", 10), ("b", 10), ("c", 10)):
        kept.put(Trained(name, None, {}, nbytes=size))
    assert "a" not in kept and "b" in kept and "c" in kept
    kept.get("b")  # used: now the most recent
    kept.put(Trained("d", None, {}, nbytes=10))
    assert "b" in kept and "c" not in kept
    kept.put(Trained("big", None, {}, nbytes=95))  # the bytes cap drops the oldest until it fits
    assert len(kept) == 1 and "big" in kept
    kept.put(Trained("huge", None, {}, nbytes=101))  # larger than the cap: never kept
    assert "huge" not in kept
