"""Whole trials on tiny-bert: what a TrialResult records, that trials are repeatable, and what a failure keeps."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from greenknobs.objectives import PIPELINE_PHASES, RunAborted, TrialFailed, TrialResult

SMALL = {"max_length": 32, "train_fraction": 0.2, "epochs": 1, "tokenizer": "rust", "batch_size": 16}


@pytest.fixture(scope="module")
def runs(tiny_pipeline):
    space = tiny_pipeline.space()
    full = space.complete(SMALL)
    lora = space.complete({**SMALL, "adaptation": "lora"})
    reports = []
    monitored = tiny_pipeline.run(full, monitor=reports.append)
    return tiny_pipeline.run(full), tiny_pipeline.run(full), tiny_pipeline.run(lora), (monitored, reports)


def test_a_trial_records_energy_per_phase_and_its_scores(runs, tiny_pipeline):
    result = runs[0]
    assert tuple(result.phase_energy_j) == PIPELINE_PHASES == tuple(result.phase_time_s)
    assert result.energy_j == pytest.approx(sum(result.phase_energy_j.values())) and result.energy_j > 0
    assert all(result.phase_time_s[p] > 0 for p in PIPELINE_PHASES)
    assert result.energy_source == "estimated" and result.estimated and "estimated" in result.energy_description
    assert (result.task, result.model, result.seed) == ("fortunes-tiny", "tiny-bert", 0)
    assert (result.n_train, result.n_eval, result.eval_split, result.token_width) == (60, 100, "validation", 32)
    assert result.f1_kind == "macro" and 0 <= result.f1 <= 1 and 0 <= result.weighted_f1 <= 1
    assert sum(result.predicted_counts.values()) == result.n_eval
    assert result.degenerate == bool(result.degenerate_reason)
    assert result.degenerate == (len(result.predicted_counts) == 1 or result.f1 <= result.majority_f1)
    assert result.trainable_params == result.total_params > 0 and result.layers == 4
    assert len(result.epoch_losses) == 1 and result.config == tiny_pipeline.space().complete(SMALL)


def test_trainable_parameters_are_recorded_for_every_trial(runs):
    full, _, lora, _ = runs
    assert lora.lora_modules == 24 and 0 < lora.trainable_params < full.trainable_params / 20
    assert lora.total_params > full.total_params  # the adapters are extra parameters


def test_the_same_configuration_and_seed_give_the_same_model(runs):
    first, again, _, _ = runs
    assert again.epoch_losses == first.epoch_losses
    assert (again.f1, again.predicted_counts) == (first.f1, first.predicted_counts)
    # Tokenized data is reused and charged at its recorded cost, so the joules do not depend on trial order.
    assert again.reused_phases == ["data"]
    assert again.phase_energy_j["data"] == first.phase_energy_j["data"]


def test_a_monitored_run_trains_exactly_as_an_unmonitored_one(runs):
    """Early stopping scores a slice mid-training; that must not touch the training's random state (dropout masks,
    shuffling), or a monitored search trial would not be what its exported configuration reproduces."""
    first, _, _, (monitored, reports) = runs
    assert len(reports) == 3 and [r.at for r in reports] == sorted(r.at for r in reports)
    assert monitored.epoch_losses == first.epoch_losses
    assert (monitored.f1, monitored.predicted_counts) == (first.f1, first.predicted_counts)
    assert monitored.monitor_energy_j > 0 and first.monitor_energy_j == 0


def test_a_result_survives_its_dict_form(runs):
    result = runs[2]
    assert TrialResult.from_dict(result.to_dict()) == result
    stored = {**result.to_dict(), "predicted_counts": {str(k): v for k, v in result.predicted_counts.items()}}
    assert TrialResult.from_dict({**stored, "added_later": 1}) == result  # JSON keys are strings; unknown keys ignored


def test_the_summary_labels_estimated_energy(runs):
    text = runs[0].summary()
    assert "energy (estimated)" in text and "source: estimated" in text
    assert all(phase in text for phase in PIPELINE_PHASES)
    assert "degenerate: " in text and "trainable parameters" in text
    measured = replace(runs[0], energy_source="measured-gpu", power_limit_w=250.0, degenerate=True,
                       degenerate_reason="predicts one class (2) for every input").summary()
    assert "energy (measured, measured-gpu):" in measured and "estimated" not in measured.split("\n")[1]
    assert "GPU power limit read back: 250 W" in measured
    assert "degenerate: YES — predicts one class (2) for every input" in measured


def test_a_failed_trial_keeps_the_joules_it_burned_and_restores_threads(tiny_pipeline):
    def stop(event, **info):
        if event == "step":
            raise TrialFailed("stopped by the test")

    config = tiny_pipeline.space().complete({**SMALL, "cpu_threads": 1})
    threads = torch.get_num_threads()
    first = len(tiny_pipeline.meter.readings)
    tiny_pipeline.progress = stop
    try:
        with pytest.raises(RunAborted) as err:
            tiny_pipeline.run(config)
    finally:
        tiny_pipeline.progress = None
    assert torch.get_num_threads() == threads
    assert isinstance(err.value.cause, TrialFailed) and err.value.__cause__ is err.value.cause
    burned = err.value.phase_energy_j
    assert list(burned) == ["data", "model", "training"]  # the training window closed on the way out
    assert [r.phase for r in tiny_pipeline.meter.readings[first:]] == ["data", "model", "training"]


def test_the_first_trial_of_a_process_pays_the_warm_up_apart():
    """One-off start-up work is metered apart: the first trial records it, no trial's joules include it."""
    from greenknobs.objectives import Pipeline, get_task
    from greenknobs.objectives.energy import make_meter

    pipeline = Pipeline(get_task("fortunes-tiny"), meter=make_meter("estimate"), seed=0)
    config = pipeline.space().complete({"tokenizer": "rust", "max_length": 32, "epochs": 1, "train_fraction": 0.3})
    first, second = pipeline.run(config), pipeline.run(config)
    assert first.warmup_energy_j > 0 and first.warmup_time_s > 0
    assert second.warmup_energy_j == 0.0 and second.warmup_time_s == 0.0
    assert first.energy_j == pytest.approx(sum(first.phase_energy_j.values()))
    assert [r.phase for r in pipeline.meter.readings][0] == "warm-up"
