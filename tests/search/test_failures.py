"""A configuration that cannot train fails its own trial — with the reason and the joules it burned — and the study
goes on to the next one."""

from __future__ import annotations


import torch
from optuna.trial import TrialState
from optuna_dashboard._note import get_note_from_system_attrs

from greenknobs.objectives import _build, _infer, _train
from greenknobs.search import records as rec
from greenknobs.search.analysis import Notes
from greenknobs.search.study import load_spec, finished_count, open_study, run_study
from tests.search._durable import states, write_study


def test_nan_loss_out_of_memory_and_library_errors_each_fail_one_trial(tmp_path, tiny_pipeline, monkeypatch):
    """Trial 1 trains a model whose classifier weights are NaN — what an fp16 overflow or a corrupt checkpoint leaves —
    so its very first loss is a real NaN out of a real forward pass (no learning rate inside the knob domain makes
    tiny-bert diverge within one short epoch, so the weights are poisoned instead). Trial 2's training raises CUDA's
    out-of-memory error, trial 3's inference a library RuntimeError; trials 0 and 4 run untouched."""
    runs: list[dict] = []  # one config per pipeline run: the baseline's 3 seeds first, then one run per trial
    forwards: list[int] = []
    real_run, real_build, real_train, real_predict = tiny_pipeline.run, _build.build_model, _train.train, _infer.predict

    def trial() -> int:
        return max(0, len(runs) - 3)

    def run(config, seed=None, monitor=None, **kw):
        runs.append(config)
        return real_run(config, seed=seed, monitor=monitor, **kw)

    def build(*args, **kwargs):
        built = real_build(*args, **kwargs)
        if trial() == 1:
            with torch.no_grad():
                built.model.classifier.weight.fill_(float("nan"))
            built.model.register_forward_hook(lambda *_: forwards.append(1))
        return built

    def train(*args, **kwargs):
        if trial() == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.10 GiB total)")
        return real_train(*args, **kwargs)

    def predict(*args, **kwargs):
        if trial() == 3:
            raise RuntimeError("CUDA error: an illegal memory access was encountered\nCompile with TORCH_USE_CUDA_DSA")
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(tiny_pipeline, "run", run)
    monkeypatch.setattr(_build, "build_model", build)
    monkeypatch.setattr(_train, "train", train)
    monkeypatch.setattr(_infer, "predict", predict)

    spec = load_spec(write_study(tmp_path, "failures", n_trials=7))  # runs: the baseline's 3 seeds + 4 trials
    spec.reuse_training = False  # every trial trains, so each fault lands in the trial it is meant for
    ctx = open_study(spec, pipeline=tiny_pipeline, notes=Notes())  # the FAILED notes are read below
    outcome = run_study(ctx, show_progress=False)

    study = ctx.study
    assert states(study) == [(0, "COMPLETE"), (1, "FAIL"), (2, "FAIL"), (3, "FAIL"), (4, "COMPLETE")]
    assert outcome == {"finished": 7, "budget": 7} and finished_count(study) == 7
    trials = study.get_trials(deepcopy=False)
    reasons = {t.number: t.user_attrs[rec.FAIL_REASON] for t in trials if t.state == TrialState.FAIL}
    # NaN: stopped at the first batch of the first epoch — one forward pass, no optimizer step on NaN.
    assert reasons[1] == "loss became nan at epoch 1, batch 1: training diverged"
    assert len(forwards) == 1
    assert reasons[2].startswith("out of memory: CUDA out of memory. Tried to allocate 20.00 GiB")
    assert reasons[3] == "RuntimeError: CUDA error: an illegal memory access was encountered"  # one line, not the trace
    system = rec.study_system_attrs(study)  # where optuna-dashboard keeps notes
    for t in trials:
        if t.state != TrialState.FAIL:
            continue
        # The joules burned before the failure are part of what the search cost: data + model at least.
        assert t.user_attrs["energy_j_burned"] > 0, t.number
        assert t.values is None and rec.RESULT not in t.user_attrs
        note = get_note_from_system_attrs(system, rec.trial_id(t))["body"]
        assert f"Trial {t.number} — FAILED" in note and reasons[t.number] in note and "J" in note
    # The study went on: the last trial is compared with the baseline's noise floor as usual.
    last = trials[4]
    assert last.user_attrs["energy_reduction_pct"] == round(100 * (1 - last.values[0] / trials[0].values[0]), 3)
    assert rec.VERDICT in last.user_attrs
