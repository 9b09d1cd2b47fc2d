"""Trained-model reuse in the study: a configuration that differs from a measured one only in how it serves is
measured at every seed whose trained model is kept, takes no training run of the budget, is labelled as reused
(trial record, dashboard note, status, export), and the study's spend counts each training once. On the simulated
pipeline, so each rule can be pushed to both sides."""

from __future__ import annotations

import math
import re

import pytest
from optuna.trial import TrialState

from greenknobs.search import records as rec
from tests.search._simulated import Task, level, run_simulated

SERVE = level(infer_batch_size=64)  # inference only: serves the baseline's kept models
TRAIN = level(max_length=64)  # acts before inference: trains


def by_changes(ctx, task):
    return {task.changes(t.user_attrs[rec.CONFIG]): t for t in ctx.study.get_trials(states=(TrialState.COMPLETE,))
            if rec.role_of(t) == "search"}


def test_a_serving_variant_is_measured_at_every_kept_seed_and_takes_no_training_run(tmp_path):
    task = Task(effects={SERVE: (0.9, 0.0), TRAIN: (0.6, 0.0)})
    ctx = run_simulated(tmp_path, task, n_trials=4, enqueue=[dict(SERVE), dict(TRAIN)])
    trials = by_changes(ctx, task)
    served, trained = trials[SERVE], trials[TRAIN]
    runs = rec.runs_of(served)
    assert [r.seed for r in runs] == [0, 1, 2] and all(r.reused for r in runs)  # paired for free at every floor seed
    assert rec.budget_runs(served) == 0 and served.user_attrs[rec.TRAINING_RUNS] == 0
    assert rec.budget_runs(trained) == 1 and not any(r.reused for r in rec.runs_of(trained))
    assert [r.get("reused_training") for r in served.user_attrs[rec.RUNS]] == [
        f"trial 0 at seed {s}" for s in (0, 1, 2)]
    # Its joules carry the baseline's recorded model and training phases (83% of a simulated run); the search paid
    # only its data and inference.
    base = {r.seed: r.energy_j for r in rec.runs_of(rec.baseline_trial(ctx.study))}
    assert rec.spent_j(served) == pytest.approx(sum(r.energy_j - 0.83 * base[r.seed] for r in runs))
    assert rec.spent_j(served) < 0.25 * sum(r.energy_j for r in runs)


def test_without_reuse_every_run_trains(tmp_path):
    task = Task(effects={SERVE: (0.9, 0.0)})
    ctx = run_simulated(tmp_path, task, n_trials=4, enqueue=[dict(SERVE)], reuse_training=False)
    served = by_changes(ctx, task)[SERVE]
    assert rec.budget_runs(served) == len(rec.runs_of(served)) >= 1
    assert not any(r.reused for r in rec.runs_of(served))
    assert rec.spent_j(served) == pytest.approx(sum(r.energy_j for r in rec.runs_of(served)))


def test_the_labels_appear_in_the_note_status_progress_and_export(tmp_path, capsys):
    from optuna_dashboard import get_note

    from greenknobs.search.analysis import Notes, export_pareto, status_text
    from greenknobs.search.study import confirm_pareto

    task = Task(effects={SERVE: (0.5, 0.0)})
    ctx = run_simulated(tmp_path, task, n_trials=4, enqueue=[dict(SERVE)], show_progress=True, notes=Notes())
    progress = capsys.readouterr().err
    served = by_changes(ctx, task)[SERVE]
    note = get_note(rec.as_trial(ctx.study, served))
    assert "**Trained model reused** in 3 of 3 runs" in note and "served the model of trial 0 at seed 1" in note
    assert "configuration runs measured" in progress
    confirm_pareto(ctx)
    status = status_text(ctx.study)
    assert "3 of them served a trained model kept from another run" in status
    assert re.search(r"by confirmation, apart: [\d,.]+ J \(simulated\) \((\d+) runs, (\d+) of them training\)", status)
    files, _ = export_pareto(ctx.study, tmp_path / "out")
    index = (tmp_path / "out" / "index.md").read_text()
    assert "**A training run paid once.**" in index
    assert "trained model reused in 3 of its 3 search runs" in index


def test_confirmation_candidates_that_serve_alike_share_a_training_at_each_seed(tmp_path):
    from greenknobs.search.study import confirm_pareto, confirm_study

    task = Task(effects={SERVE: (0.5, 0.0)})
    ctx = run_simulated(tmp_path, task, n_trials=4, enqueue=[dict(SERVE)])
    served = by_changes(ctx, task)[SERVE]
    confirm_pareto(ctx)
    twin = confirm_study(ctx.study, create=False)
    base = rec.baseline_trial(ctx.study).number
    by_seed: dict[int, dict[int, int]] = {}
    for t in twin.get_trials(states=(TrialState.COMPLETE,)):
        if "confirm_of" not in t.user_attrs:
            continue  # a search model served for the spread alone
        by_seed.setdefault(t.user_attrs["confirm_seed"], {})[t.user_attrs["confirm_of"]] = t.user_attrs[rec.TRAINING_RUNS]
    pairs = {s: d for s, d in by_seed.items() if base in d and served.number in d}
    assert len(pairs) >= 3
    assert all(d[base] + d[served.number] == 1 for d in pairs.values())  # one training per seed, not two


def test_the_cascade_screens_inference_knobs_first_under_reuse(tmp_path):
    def screens(**study):
        task = Task()
        folder = tmp_path / str(len(study))
        folder.mkdir()
        ctx = run_simulated(folder, task, n_trials=6, sampler="cascade", **study)
        trials = sorted((t for t in ctx.study.get_trials(states=(TrialState.COMPLETE,))
                         if rec.role_of(t) == "search"), key=lambda t: t.number)
        return [(sorted(k for k, _ in task.changes(t.user_attrs[rec.CONFIG])), rec.budget_runs(t)) for t in trials]

    reused = screens()
    serving = {"infer_batch_size", "quantization"}
    first_training = next(i for i, (knobs, _) in enumerate(reused) if not set(knobs) <= serving)
    assert first_training >= 2 and all(set(k) <= serving and runs == 0 for k, runs in reused[:first_training])
    trained = screens(reuse_training=False)
    assert not set(trained[0][0]) <= serving  # without reuse, inference knobs hold too few joules to come first


def test_pairs_that_share_a_training_never_lend_their_small_spread_to_pairs_trained_apart():
    """A variant differs from its trainer in serving alone; pooled with configurations trained apart, its near-zero
    residuals would shrink their spread and make their tests liberal. The pools keep them apart."""
    import random

    rng = random.Random(0)
    seeds = range(6)
    base = [rec.RunMeasure(s, 100 * math.exp(rng.gauss(0, 0.05)), 0.7 + rng.gauss(0, 0.02), training=f"b{s}")
            for s in seeds]
    apart = [rec.RunMeasure(s, 60 * math.exp(rng.gauss(0, 0.05)), 0.7 + rng.gauss(0, 0.02), training=f"a{s}")
             for s in seeds]
    variant = [rec.RunMeasure(s, b.energy_j * 0.98, b.f1 + rng.gauss(0, 0.001), training=b.training, reused=True)
               for s, b in zip(seeds, base)]
    runs = {"base": base, "apart": apart, "variant": variant}
    pools = rec.pooled_spreads(runs)
    mixed = rec.two_way(rec.cells_of(runs))
    alone = rec.two_way(rec.cells_of({"base": base, "apart": apart}))
    assert pools.trained.f1_sd == pytest.approx(alone.f1_sd)  # the variant's runs are not in the trained pool
    assert mixed.dof > alone.dof and mixed.f1_sd < 0.9 * alone.f1_sd  # what mixing them would have lent
    by_seed = {r.seed: r for r in base}
    assert pools.between(apart, by_seed) is pools.trained
    assert pools.between(variant, by_seed) is pools.shared and pools.shared.f1_sd < 0.1 * alone.f1_sd
    # In confirmation, the same rule: the candidate trained apart is tested on the trained pool.
    verdicts = rec.decide_verdicts({1: {r.seed: r for r in apart}, 2: {r.seed: r for r in variant}}, by_seed, 0.95,
                                   list(seeds))
    assert verdicts[1].dof == pools.trained.dof and verdicts[2].dof == pools.shared.dof



def test_the_cascade_serves_each_trained_configuration_under_the_inference_levels_that_saved(tmp_path):
    from greenknobs.search.samplers import stage_of

    task = Task(effects={SERVE: (0.5, 0.0)})
    ctx = run_simulated(tmp_path, task, n_trials=6, sampler="cascade")
    trials = sorted(ctx.study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.number)
    serving = {"infer_batch_size", "quantization"}
    served = [t for t in trials if stage_of(t) == "serve"]
    assert served, [stage_of(t) for t in trials]
    for t in served:
        changes = dict(task.changes(t.user_attrs[rec.CONFIG]))
        trained = {k: v for k, v in changes.items() if k not in serving}
        assert trained and ("infer_batch_size", 64) in changes.items()  # a trained configuration + the saver
        source = [s for s in trials if s.number < t.number and dict(task.changes(s.user_attrs[rec.CONFIG])) == trained]
        assert source and rec.budget_runs(source[0]) >= 1  # ... which an earlier trial trained
        assert rec.budget_runs(t) == 0 and all(r.reused for r in rec.runs_of(t))


def test_a_serving_sibling_dominated_on_validation_is_still_confirmed(tmp_path):
    """The variant looks a little cheaper and better on validation and dominates the configuration it serves out of
    the Pareto set; both are confirmed (the sibling shares the training at every test seed), and both can be
    recommended. Without the rule, only the variant would be tested."""
    from greenknobs.search.analysis import export_pareto
    from greenknobs.search.study import confirm_pareto

    both = TRAIN | SERVE
    task = Task(effects={TRAIN: (0.6, 0.0), both: (0.5, 0.02)})
    ctx = run_simulated(tmp_path, task, n_trials=5, enqueue=[dict(TRAIN), dict(both)])
    trials = by_changes(ctx, task)
    assert [t.number for t in rec.pareto_trials(ctx.study)] == [trials[both].number]
    assert {t.number for t in rec.candidate_trials(ctx.study)} == {trials[TRAIN].number, trials[both].number}
    stats = confirm_pareto(ctx)
    assert set(stats) == {trials[TRAIN].number, trials[both].number} and stats[trials[TRAIN].number].recommended
    files, _ = export_pareto(ctx.study, tmp_path / "out")
    assert {f.name for f in files} >= {f"trial-{n}.toml" for n in stats if stats[n].recommended}
    assert {f"trial-{n}.toml" for n in stats} <= {f.name for f in files}


def test_without_reuse_a_sibling_is_not_confirmed(tmp_path):
    both = TRAIN | SERVE
    task = Task(effects={TRAIN: (0.6, 0.0), both: (0.5, 0.02)})
    ctx = run_simulated(tmp_path, task, n_trials=5, enqueue=[dict(TRAIN), dict(both)], reuse_training=False)
    assert [t.number for t in rec.candidate_trials(ctx.study)] == [t.number for t in rec.pareto_trials(ctx.study)]


def test_a_pareto_member_that_saves_less_than_min_saving_is_not_confirmed(tmp_path):
    """A serving variant of the baseline that saves 2% is on the Pareto set (it keeps the most F1 of the savers);
    with min_saving = 0.05 it is not a candidate, and the configuration that saves 40% still is. Without the rule
    (min_saving = 0) both are."""
    small = SERVE
    task = Task(effects={small: (0.98, 0.01), TRAIN: (0.6, 0.0)})
    for min_saving, expected in ((0.05, {TRAIN}), (0.0, {TRAIN, small})):
        where = tmp_path / f"m{min_saving}"
        where.mkdir()
        ctx = run_simulated(where, task, n_trials=5, enqueue=[dict(small), dict(TRAIN)], min_saving=min_saving)
        trials = by_changes(ctx, task)
        assert {t.number for t in rec.pareto_trials(ctx.study)} == {trials[small].number, trials[TRAIN].number}
        assert {t.number for t in rec.candidate_trials(ctx.study)} == {trials[c].number for c in expected}
