"""Every verdict carries its uncertainty: the noise floor at k seeds, savings and feasibility judged against it,
re-measurement near the floor, paired confirmation on the test split, and an export that recommends only what
cleared both intervals. Run on a simulated task, so each rule can be pushed to either side of its line."""

from __future__ import annotations

import statistics
import tomllib

import pytest
from optuna.trial import TrialState

from greenknobs.search import records as rec
from tests.search._simulated import Task, level, open_simulated, run_simulated

HALF = level(max_length=64)  # saves half the joules, F1 unchanged: clearly recommended
NEAR = level(padding="dynamic")  # saves 40%, F1 right at the 95% floor: within noise
WORSE = level(attention="sdpa")  # costs 20% more
TINY = level(infer_batch_size=64)  # 0.3% less energy: within the meter's noise


def changes_of(task: Task, trial) -> frozenset:
    return task.changes(trial.user_attrs[rec.CONFIG])


def test_the_baseline_runs_at_k_different_seeds_and_is_the_noise_floor(tmp_path):
    task = Task(energy_sd=0.02, f1_sd=0.01)
    ctx = run_simulated(tmp_path, task, n_trials=4, enqueue=[dict(HALF)])
    base = rec.baseline_trial(ctx.study)
    runs = rec.runs_of(base)
    assert [r.seed for r in runs] == [0, 1, 2]  # different seeds: the F1 spread, not only the meter's
    assert sorted(seed for key, seed, split in task.calls if key == frozenset()) == [0, 1, 2]
    floor = rec.noise_floor(ctx.study)
    assert floor.n == 3 and floor.energy_j[1] > 0 and floor.f1[1] > 0
    assert base.values[0] == pytest.approx(floor.energy_j[0]) and base.values[1] == pytest.approx(floor.f1[0])
    assert rec.budget_runs(base) == 3  # the floor's runs count in the budget


def test_a_saving_within_the_energy_noise_is_no_measurable_saving(tmp_path):
    task = Task(effects={TINY: (0.997, 0.0), WORSE: (1.2, 0.0), HALF: (0.5, 0.0)}, energy_sd=0.02)
    # Trained apart (no reuse): the 0.3% is judged against the noise of whole runs, training included.
    ctx = run_simulated(tmp_path, task, n_trials=6, enqueue=[dict(TINY), dict(WORSE), dict(HALF)],
                        reuse_training=False)
    by = {changes_of(task, t): t for t in ctx.study.get_trials(states=(TrialState.COMPLETE,))}
    assert "no measurable saving" in by[TINY].user_attrs[rec.VERDICT]["reason"]
    assert not rec.is_feasible(by[TINY]) and by[TINY].constraints["saving_j"] > 0
    assert "no saving" in by[WORSE].user_attrs[rec.VERDICT]["reason"] and not rec.is_feasible(by[WORSE])
    assert [t.number for t in rec.pareto_trials(ctx.study)] == [by[HALF].number]


def test_the_rule_against_noise_is_what_excludes_it(tmp_path):
    """Without the noise floor the same 0.3% would pass: the margin is what decides."""
    floor = rec.floor_of([rec.RunMeasure(s, e, 0.7) for s, e in enumerate((99.0, 100.0, 101.0))], 0.95)
    assert floor.judge([rec.RunMeasure(0, 99.7, 0.70)]).reason.startswith("no measurable saving")
    # sd 1 J from 3 runs: the 95% t bound (2 dof) of a one-run difference is 4.30 × 1 × √(4/3) = 4.97 J
    assert floor.saving_margin_j(1) == pytest.approx(4.3027 * (4 / 3) ** 0.5, rel=1e-3)
    assert not floor.judge([rec.RunMeasure(0, 96.0, 0.70)]).feasible  # 4 J: two sd, yet within that bound
    assert floor.judge([rec.RunMeasure(0, 94.0, 0.70)]).feasible


def test_an_f1_within_noise_of_the_floor_is_re_measured_at_the_baselines_seeds(tmp_path):
    task = Task(effects={NEAR: (0.6, -0.035)}, f1_sd=0.01)  # 0.665 = exactly 95% of 0.70
    ctx = run_simulated(tmp_path, task, n_trials=6, enqueue=[dict(NEAR)])
    trial = next(t for t in ctx.study.get_trials() if changes_of(task, t) == NEAR)
    assert [r.seed for r in rec.runs_of(trial)] == [0, 1, 2]  # paired with the baseline's seeds
    assert trial.user_attrs["runs"] == 3 and rec.budget_runs(trial) == 3  # counted in the budget
    assert [s for key, s, _ in task.calls if key == NEAR] == [0, 1, 2]
    verdict = trial.user_attrs[rec.VERDICT]
    assert verdict["runs"] == 3 and not verdict["needs_more_seeds"]
    assert trial.values[1] == pytest.approx(sum(r.f1 for r in rec.runs_of(trial)) / 3)  # the mean is what Optuna sees


def test_taking_turns_one_trial_at_a_time_still_re_measures_within_the_budget(tmp_path):
    """run_study(max_trials=1) starts one trial per call against the study's whole budget (how the benchmark takes
    turns between studies); a near-floor trial is still re-measured. Passing n_trials = finished + 1 instead would
    leave it one run, undecided and off the Pareto set (the benchmark's first real campaign did that)."""
    from greenknobs.search.study import finished_count, run_study

    task = Task(effects={NEAR: (0.6, -0.035)}, f1_sd=0.01)
    ctx = open_simulated(tmp_path, task, n_trials=6, enqueue=[dict(NEAR)])
    run_study(ctx, n_trials=6, max_trials=1, show_progress=False)
    assert finished_count(ctx.study) == 3  # the baseline's 3 runs: one trial
    run_study(ctx, n_trials=6, max_trials=1, show_progress=False)
    trial = next(t for t in ctx.study.get_trials() if changes_of(task, t) == NEAR)
    assert trial.user_attrs["runs"] == 3 and finished_count(ctx.study) == 6


def test_no_budget_left_leaves_it_undecided_and_off_the_pareto_set(tmp_path):
    task = Task(effects={NEAR: (0.6, -0.035)}, f1_sd=0.01)
    ctx = run_simulated(tmp_path, task, n_trials=4, enqueue=[dict(NEAR)])
    trial = next(t for t in ctx.study.get_trials() if changes_of(task, t) == NEAR)
    assert trial.user_attrs["runs"] == 1
    assert trial.constraints["undecided"] == 1.0 and not rec.is_feasible(trial)
    assert "undecided" in trial.user_attrs[rec.VERDICT]["reason"]
    assert rec.pareto_trials(ctx.study) == []


def test_clearly_above_the_floor_is_judged_on_one_run(tmp_path):
    task = Task(effects={HALF: (0.5, 0.0)}, f1_sd=0.005)
    ctx = run_simulated(tmp_path, task, n_trials=4, enqueue=[dict(HALF)])
    trial = next(t for t in ctx.study.get_trials() if changes_of(task, t) == HALF)
    assert trial.user_attrs["runs"] == 1 and rec.is_feasible(trial)


def test_a_configuration_equal_to_the_baselines_is_never_a_saving(tmp_path):
    """A search trial of the baseline's own configuration whose meter happens to read low stays out."""
    reads = iter([1.0, 1.0, 1.0, 0.80])  # the fourth run of the baseline configuration reads 20% low

    class Flaky(Task):
        def __call__(self, config, seed, split):
            r = super().__call__(config, seed, split)
            if self.changes(config) == frozenset() and split == "validation":
                k = next(reads, 1.0)
                return type(r)({p: j * k for p, j in r.phase_energy_j.items()}, r.f1)
            return r

    task = Flaky(energy_sd=0.001, f1_sd=0.001)
    ctx = run_simulated(tmp_path, task, n_trials=4, enqueue=[{}])
    again = next(t for t in ctx.study.get_trials() if t.number == 1)
    assert rec.is_feasible(again)  # on Optuna's terms it looks like a 20% saving...
    assert rec.pareto_trials(ctx.study) == []  # ...but it is the baseline's configuration: never a candidate


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory):
    """HALF keeps its F1 on the test split; DROP looks fine on validation but loses F1 on the test split."""
    from greenknobs.search.study import confirm_pareto

    drop = level(batch_size=32)

    class Shift(Task):
        def __call__(self, config, seed, split):
            r = super().__call__(config, seed, split)
            if split == "test" and self.changes(config) == drop:
                return type(r)(r.phase_energy_j, r.f1 - 0.08)
            if split == "test" and self.changes(config) == HALF:  # its validation edge was luck: none on test
                return type(r)(r.phase_energy_j, r.f1 - 0.02)
            return r

    task = Shift(effects={HALF: (0.5, 0.02), drop: (0.3, 0.0)}, f1_sd=0.005)  # both on the front
    tmp = tmp_path_factory.mktemp("confirmed")
    ctx = run_simulated(tmp, task, n_trials=5, enqueue=[dict(HALF), dict(drop)])
    stats = confirm_pareto(ctx)
    return ctx, task, stats, drop, tmp


def test_confirmation_reruns_candidates_and_the_baseline_on_the_test_split_at_the_same_seeds(confirmed):
    ctx, task, stats, drop, _ = confirmed
    test_calls = [(key, seed) for key, seed, split in task.calls if split == "test"]
    for key in (frozenset(), HALF, drop):
        assert sorted(s for k, s in test_calls if k == key and s >= 3) == [3, 4, 5]  # fresh seeds, the same for all
    # at the search's seeds the test split scores only kept models served again for the spread: nothing trains
    from greenknobs.search.study import confirm_study, spread_measures

    spread = spread_measures(confirm_study(ctx.study, create=False))
    served = sorted((seed, key) for key, seed in test_calls if seed < 3)
    assert served and len(served) == sum(len(by) for by in spread.values())
    assert all(r.reused for by in spread.values() for r in by.values())
    from greenknobs.search.analysis import confirm_text

    assert f"also over {len(served)} runs of the search's kept models" in confirm_text(ctx.study, stats)
    from greenknobs.search.study import CONFIRMED_ATTR

    stored = rec.study_system_attrs(ctx.study)[CONFIRMED_ATTR]  # the verdicts are stored with the study,
    assert CONFIRMED_ATTR not in ctx.study.user_attrs  # out of the dashboard's table of its user attributes
    assert set(stored["trials"]) == {str(n) for n in stats} and stored["seeds"][:3] == [3, 4, 5]


def test_a_confirmation_without_the_searchs_models_says_its_spread_is_its_own(tmp_path):
    """Trained apart (no reuse), no model of the search is kept: nothing is served for the spread, and the
    confirmation's text says its F1 spread rests on its own pairs, not on served models it never had."""
    from greenknobs.search.analysis import confirm_text
    from greenknobs.search.study import confirm_pareto, confirm_study, spread_measures

    task = Task(effects={HALF: (0.5, 0.0)}, f1_sd=0.005)
    ctx = run_simulated(tmp_path, task, n_trials=5, enqueue=[dict(HALF)], reuse_training=False)
    stats = confirm_pareto(ctx)
    assert stats and spread_measures(confirm_study(ctx.study, create=False)) == {}
    text = confirm_text(ctx.study, stats)
    assert "own pairs alone" in text and "runs of the search's kept models" not in text


def test_the_studys_records_are_kept_out_of_its_user_attributes(confirmed):
    """optuna-dashboard shows a study's user attributes as a table: its spec, meter and confirmation are system
    attributes, and what people read is in the study's note."""
    from greenknobs.search.study import CONFIRMED_ATTR

    study = confirmed[0].study
    internal = {rec.SPEC_ATTR, rec.METER_ATTR, CONFIRMED_ATTR}
    assert internal <= set(rec.study_system_attrs(study))
    assert not {k: v for k, v in study.user_attrs.items()
                if k in internal or k.startswith("greenknobs.") or isinstance(v, (dict, list))}


def test_a_study_that_keeps_its_records_in_its_user_attributes_still_reads(confirmed):
    import optuna

    from greenknobs.search.study import CONFIRMED_ATTR, confirmed as confirmed_of

    ctx, study = confirmed[0], confirmed[0].study
    older = optuna.create_study(directions=["minimize", "maximize"])  # as greenknobs wrote a study before
    for key in (rec.SPEC_ATTR, rec.METER_ATTR, CONFIRMED_ATTR):
        older.set_user_attr(key, rec.study_record(study, key))
    assert rec.min_f1_retention(older) == ctx.spec.min_f1_retention
    meter = rec.study_record(study, rec.METER_ATTR)
    assert meter and rec.study_record(older, rec.METER_ATTR) == meter
    assert confirmed_of(older) == confirmed_of(study) and confirmed_of(older)


def test_only_what_clears_both_intervals_is_recommended(confirmed):
    ctx, task, stats, drop, _ = confirmed
    by = {changes_of(task, t): t.number for t in rec.pareto_trials(ctx.study)}
    half, lost = stats[by[HALF]], stats[by[drop]]
    assert half.recommended and half.saving.low > 0 and half.retention.low >= 0.95
    assert half.seeds == (3, 4, 5) and half.n == 3
    assert not lost.recommended and lost.retention.high < 0.95
    assert "below the floor" in lost.reason


def test_the_test_split_never_reaches_the_search_study(confirmed):
    ctx, *_ = confirmed
    from greenknobs.search.study import confirm_study

    searched = [rec.result_of(t) for t in ctx.study.get_trials(states=(TrialState.COMPLETE,))]
    assert searched and all(r.eval_split == "validation" for r in searched)  # every search run scored validation
    twin = confirm_study(ctx.study, create=False)
    tested = twin.get_trials(states=(TrialState.COMPLETE,))
    assert len(tested) >= 9 and all(rec.result_of(t).eval_split == "test" for t in tested)


def test_export_writes_recommended_and_candidates_apart_with_intervals(confirmed):
    from greenknobs.search.analysis import export_pareto

    ctx, task, stats, drop, tmp = confirmed
    by = {changes_of(task, t): t.number for t in rec.pareto_trials(ctx.study)}
    files, _ = export_pareto(ctx.study, tmp / "out")
    names = sorted(str(f.relative_to(tmp / "out")) for f in files)
    assert names == sorted(["index.md", "index.csv", f"trial-{by[HALF]}.toml", f"candidates/trial-{by[drop]}.toml"])
    index = (tmp / "out" / "index.md").read_text()
    assert "noise floor (validation, baseline at 3 seeds 0, 1, 2)" in index
    assert "95% CI" in index and "3, 4, 5" in index
    rec_file = tomllib.loads((tmp / "out" / f"trial-{by[HALF]}.toml").read_text())
    conf = rec_file["measured"]["confirmation"]
    assert conf["paired_seeds"] == [3, 4, 5] and conf["energy_saved_pct"]["low"] > 0
    assert conf["f1_retention_pct"]["low"] >= 95
    cand = (tmp / "out" / "candidates" / f"trial-{by[drop]}.toml").read_text()
    assert "CANDIDATE, NOT RECOMMENDED" in cand


def test_export_without_confirmation_recommends_nothing(tmp_path):
    from greenknobs.search.analysis import export_pareto

    task = Task(effects={HALF: (0.5, 0.0)})
    ctx = run_simulated(tmp_path, task, n_trials=4, enqueue=[dict(HALF)])
    files, _ = export_pareto(ctx.study, tmp_path / "out")
    assert [f.name for f in files if f.suffix == ".toml"] == ["trial-1.toml"]
    assert all(f.parent.name == "candidates" for f in files if f.suffix == ".toml")
    assert "not confirmed on the test split" in (tmp_path / "out" / "index.md").read_text()


def test_a_degenerate_run_stops_a_recommendation(tmp_path):
    from greenknobs.search.study import confirm_pareto

    class Collapses(Task):
        def __call__(self, config, seed, split):
            r = super().__call__(config, seed, split)
            return type(r)(r.phase_energy_j, r.f1, degenerate=split == "test" and seed == 4 and bool(self.changes(config)))

    task = Collapses(effects={HALF: (0.5, 0.0)})
    ctx = run_simulated(tmp_path, task, n_trials=4, enqueue=[dict(HALF)])
    (stat,) = confirm_pareto(ctx).values()
    assert not stat.recommended and "degenerate in 1 of 3" in stat.reason


def test_a_single_candidates_tests_are_one_sided_student_t_on_the_paired_differences():
    """One candidate: the two-way residual variance is half the variance of its paired differences, K - 1 degrees
    of freedom; the p-values are scipy's one-sided Student-t tails of the mean paired difference."""
    import math

    from scipy import stats

    base = {s: rec.RunMeasure(s, 100.0 + 3 * (s % 2), 0.70 + 0.02 * (s - 4)) for s in (3, 4, 5, 6)}
    cand = {s: rec.RunMeasure(s, 60.0 + s, base[s].f1 + 0.004 * (s - 4.5) ** 2) for s in (3, 4, 5, 6)}
    p = rec.paired(cand, base, 0.95, [3, 4, 5, 6])
    seeds = [3, 4, 5, 6]
    raw = [cand[s].f1 - base[s].f1 for s in seeds]
    own_var = statistics.variance(raw) / 2
    log_var = statistics.variance([math.log(cand[s].energy_j) - math.log(base[s].energy_j) for s in seeds]) / 2
    d_f = statistics.fmean(cand[s].f1 - 0.95 * base[s].f1 for s in seeds)
    d_e = statistics.fmean(math.log(cand[s].energy_j / base[s].energy_j) for s in seeds)
    spread = rec.two_way(rec.cells_of({"b": base.values(), "c": cand.values()}))
    assert spread.dof == 3 and spread.f1_sd ** 2 == pytest.approx(own_var) and spread.log_energy_sd ** 2 == pytest.approx(log_var)
    se_f = spread.f1_diff_sd(0.95) / 2
    assert p.p_f1 == pytest.approx(stats.t.sf(d_f / se_f, 3))
    assert p.p_energy == pytest.approx(stats.t.cdf(d_e / (math.sqrt(2 * log_var) / 2), 3))
    assert p.saving.mean == pytest.approx(1 - math.exp(d_e)) and p.dof == 3
    assert rec.paired({3: cand[3]}, base, 0.95, [3]).decided == "undecided"  # one seed: no degrees of freedom


def test_savings_are_worded_without_a_bare_sign():
    assert rec.saving_text(0.526) == "52.6% less energy"
    assert rec.saving_text(-0.083) == "8.3% more energy"
    assert rec.saving_text(0.0) == "no change in energy"


def test_open_simulated_queues_in_order(tmp_path):
    task = Task()
    ctx = open_simulated(tmp_path, task, enqueue=[dict(HALF), dict(NEAR)])
    waiting = ctx.study.get_trials(states=(TrialState.WAITING,))
    assert [rec.role_of(t) for t in waiting] == ["baseline", "search", "search"]


# -- pick under your own floor (`export --min-f1-retention` / `--max-energy-j`) ----------------------------------

def _export(confirmed, tmp_path, *flags):
    from greenknobs.search.cli import main

    ctx, *_ = confirmed
    out = tmp_path / "picked"
    try:
        code = main(["export", str(ctx.spec.path), "--storage", ctx.spec.storage, "--out", str(out), *flags])
    except SystemExit as exit:  # argparse's own refusals (a flag's value that is not a number)
        code = exit.code
    return code, out


def test_pick_writes_the_cheapest_configuration_meeting_your_floor(confirmed, tmp_path, capsys):
    ctx, task, stats, drop, _ = confirmed
    by = {changes_of(task, t): t.number for t in rec.pareto_trials(ctx.study)}
    capsys.readouterr()
    code, out = _export(confirmed, tmp_path, "--min-f1-retention", "0.95")
    text = capsys.readouterr().out
    assert code == 0
    best = tomllib.loads((out / "best.toml").read_text())
    assert best["measured"]["trial"] == by[HALF]  # DROP is cheaper but loses F1 on the test split
    assert f"best.toml: trial {by[HALF]}" in text and "keeps more than 95% of the baseline F1" in text
    assert "Your pick" in (out / "index.md").read_text()


def test_pick_under_an_energy_cap(confirmed, tmp_path, capsys):
    ctx, task, stats, drop, _ = confirmed
    by = {changes_of(task, t): t.number for t in rec.pareto_trials(ctx.study)}
    high = stats[by[HALF]].energy_j.high
    code, out = _export(confirmed, tmp_path, "--max-energy-j", f"{high + 1:.3f}")
    assert code == 0 and tomllib.loads((out / "best.toml").read_text())["measured"]["trial"] == by[HALF]


@pytest.mark.parametrize("flags,expect", [
    (["--min-f1-retention", "0.999"], "no configuration keeps 99.9% of the baseline F1"),
    (["--max-energy-j", "1"], "no configuration stays under 1.0 J"),
    (["--min-f1-retention", "1.5"], "--min-f1-retention 1.5 is not a share of the baseline F1"),
    (["--min-f1-retention", "0"], "--min-f1-retention 0 is not a share"),
    (["--max-energy-j", "-5"], "--max-energy-j -5 is not a positive number of joules"),
    (["--min-f1-retention", "high"], "invalid float value: 'high'"),
], ids=["floor-too-high", "cap-too-low", "retention-above-one", "retention-zero", "negative-joules", "not-a-number"])
def test_pick_refuses_with_one_line_and_writes_nothing(confirmed, tmp_path, capsys, flags, expect):
    capsys.readouterr()
    code, out = _export(confirmed, tmp_path, *flags)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and expect in err and "Traceback" not in err
    assert not out.exists()
    if flags[0] == "--min-f1-retention" and flags[1] == "0.999":
        assert "the best keeps" in err and "confirm --repeats" in err


def test_pick_applies_every_guard_of_a_recommendation_but_the_floor(tmp_path, capsys):
    """A baseline degenerate on the test split makes no share of its F1 mean anything: best.toml refuses as
    "recommended" does, whatever floor the user picks (before, the pick read only the intervals)."""
    from greenknobs.search.cli import main
    from greenknobs.search.study import confirm_pareto

    class BaseCollapses(Task):
        def __call__(self, config, seed, split):
            r = super().__call__(config, seed, split)
            return type(r)(r.phase_energy_j, r.f1,
                           degenerate=split == "test" and seed == 4 and not self.changes(config))

    task = BaseCollapses(effects={HALF: (0.5, 0.0)}, f1_sd=0.003)
    ctx = run_simulated(tmp_path, task, n_trials=4, enqueue=[dict(HALF)])
    (stat,) = confirm_pareto(ctx).values()
    assert stat.saving.low > 0 and stat.retention.low > 0.9  # its intervals alone would pass a 90% floor
    assert not stat.recommended and "baseline is degenerate" in stat.reason
    capsys.readouterr()
    out = tmp_path / "picked"
    code = main(["export", str(ctx.spec.path), "--storage", ctx.spec.storage, "--out", str(out),
                 "--min-f1-retention", "0.9"])
    err = capsys.readouterr().err
    assert code == 2 and "baseline is degenerate" in err and not out.exists()
