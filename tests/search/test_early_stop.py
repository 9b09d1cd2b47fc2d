"""Multi-objective early stopping: each rule stops what cannot pay off, and none stops what recovers. On a
simulated task whose runs report chosen curves; one real run checks that monitoring changes nothing it measures."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from greenknobs.search.records import _early_stop as es
from greenknobs.search import records as rec
from greenknobs.search.records import saving_text
from tests.search._simulated import Task, level, run_simulated

# The baseline rises from 0.55 on the slice at 25% of training to about 0.70 at the end: a rise of 0.15.
BASE = ((0.25, 0.55, False), (0.5, 0.62, False), (0.75, 0.67, False))
BAD = level(batch_size=32)  # collapses: 0.20 on the slice at 25%, ends at 0.25
SLOW = level(padding="dynamic")  # starts lower than the baseline (0.52) but rises as it did: NOT to be stopped
CHEAP = level(max_length=64)  # half the joules, a little more F1
DEAR = level(attention="sdpa")  # costs 3× the baseline, F1 a little lower: dominated by CHEAP early
ONE = level(infer_batch_size=64)  # one class on the slice at 25%, and stays degenerate


def task(**kw) -> Task:
    t = Task(effects={BAD: (0.9, -0.45), SLOW: (0.6, 0.0), CHEAP: (0.5, 0.03), DEAR: (3.0, -0.01), ONE: (0.8, -0.5)},
             curves={frozenset(): BASE, BAD: ((0.25, 0.20, False), (0.5, 0.22, False), (0.75, 0.24, False)),
                     SLOW: ((0.25, 0.52, False), (0.5, 0.60, False), (0.75, 0.66, False)),
                     # DEAR learns a little slower: at 50%, 0.55 + the baseline's rise from 25% (0.15) < CHEAP's F1
                     CHEAP: BASE, DEAR: ((0.25, 0.50, False), (0.5, 0.55, False), (0.75, 0.60, False)),
                     # one class on the slice (a binary task's "all positive" scores 0.6 there), not hopeless
                     ONE: ((0.25, 0.60, True), (0.5, 0.66, False), (0.75, 0.68, False))},
             degenerate={ONE}, f1_sd=0.005, **kw)
    return t


def by_changes(t: Task, ctx) -> dict:
    return {t.changes(x.user_attrs[rec.CONFIG]): x for x in ctx.study.get_trials() if rec.CONFIG in x.user_attrs}


def test_a_hopeless_run_is_stopped_with_its_rule_curve_and_joules(tmp_path, capsys):
    t = task()
    ctx = run_simulated(tmp_path, t, n_trials=4, enqueue=[dict(BAD)], show_progress=True, early_stop="safe")
    bad = by_changes(t, ctx)[BAD]
    # The progress line says why and where it stopped, and what it spent
    assert f"trial {bad.number} stopped early at 50% of its training (hopeless-f1): " in capsys.readouterr().err
    assert bad.state == TrialState.PRUNED
    stopped = bad.user_attrs[es.STOPPED]
    # at its second report: safe never judges F1 at the first (a run may learn a report behind the baseline)
    assert stopped["rule"] == "hopeless-f1" and stopped["at"] == 0.5
    assert "a report earlier" in stopped["reason"]
    assert [p["at"] for p in bad.user_attrs[es.CURVE]] == [0.25, 0.5]
    assert bad.user_attrs["energy_j_burned"] > 0 and rec.spent_j(bad) == bad.user_attrs["energy_j_burned"]
    # stopped at 50% of training: it burned its data and model phases and half of training, not the rest
    assert bad.user_attrs["energy_j_burned"] < 0.5 * 90
    assert rec.budget_runs(bad) == 1 and rec.pareto_trials(ctx.study) == []
    assert any(v > 0 for v in bad.constraints.values())  # infeasible: TPE ranks it with the bad ones


def test_by_default_nothing_is_stopped_or_scored(tmp_path):
    """Off is the default: on the default study the stops saved less than scoring the slices cost."""
    t = task()
    ctx = run_simulated(tmp_path, t, n_trials=4, enqueue=[dict(BAD)])
    assert ctx.spec.early_stop == "off"
    bad = by_changes(t, ctx)[BAD]
    assert bad.state == TrialState.COMPLETE and es.STOPPED not in bad.user_attrs and not es.curve_of(bad)


def test_a_run_that_recovers_is_not_stopped(tmp_path):
    t = task()
    ctx = run_simulated(tmp_path, t, n_trials=4, enqueue=[dict(SLOW)], early_stop="safe")
    slow = by_changes(t, ctx)[SLOW]
    assert slow.state == TrialState.COMPLETE and es.STOPPED not in slow.user_attrs
    # 0.52 + the baseline's largest rise (about 0.15) reaches the floor: not hopeless
    assert len(rec.runs_of(slow)) >= 1 and [p.at for p in es.curve_of(slow)] == [0.25, 0.5, 0.75]


def test_the_largest_completed_rise_is_what_protects_it():
    """Remove the learned rise and the same slow run is stopped: the margin is what decides."""
    floor = rec.floor_of([rec.RunMeasure(s, 100.0 + s, 0.70 + 0.005 * s) for s in range(3)], 0.95)
    history = [es.Completed(tuple(es.Point(a, f, o, 50.0) for a, f, o in BASE), 0.70, False)] * 3
    slow = es.Point(0.5, 0.52, False, 30.0)  # 0.52 + the rise from 25% (0.15) reaches the floor (about 0.67)
    assert es.decide(slow, False, history, floor, [], "safe") is None
    flat = [es.Completed(tuple(es.Point(a, 0.69, False, 50.0) for a, _, _ in BASE), 0.70, False)] * 3
    assert es.decide(slow, False, flat, floor, [], "safe").rule == "hopeless-f1"
    assert es.decide(slow, False, flat[:2], floor, [], "safe") is None  # too little evidence in safe mode
    assert es.decide(slow, False, flat, floor, [], "monitor") is None


def test_safe_never_judges_f1_at_a_first_report_aggressive_does():
    floor = rec.floor_of([rec.RunMeasure(s, 100.0 + s, 0.70 + 0.005 * s) for s in range(3)], 0.95)
    flat = [es.Completed(tuple(es.Point(a, 0.69, False, 50.0) for a, _, _ in BASE), 0.70, False)] * 3
    start = es.Point(0.25, 0.10, False, 30.0)
    assert es.decide(start, True, flat, floor, [], "safe") is None
    assert es.decide(start, True, flat, floor, [], "aggressive").rule == "hopeless-f1"


# Measured on the default study (benchmarks/results/default-study, seed 0): the baseline's five runs (slice F1 at
# 25%, 50%, 75% of training; final validation F1) and trial 1, a 32-token window, which the same-report rule
# stopped at 50% although the same configuration, run to the end (early_stop = "off"), reached 0.605: feasible.
MEASURED_BASELINE = [((0.334, 0.549, 0.607), 0.6243), ((0.270, 0.544, 0.572), 0.5939), ((0.281, 0.555, 0.560), 0.6134),
                     ((0.321, 0.583, 0.536), 0.6177), ((0.345, 0.512, 0.556), 0.6042)]
MEASURED_SLOW = ((0.25, 0.307), (0.5, 0.446))  # trial 1's reports before it was stopped


def test_the_measured_slow_learner_that_ended_feasible_is_not_stopped_by_safe():
    runs = [rec.RunMeasure(s, 1200.0, f1) for s, (_, f1) in enumerate(MEASURED_BASELINE)]
    floor = rec.floor_of(runs, 0.95)
    history = [es.Completed(tuple(es.Point(a, f, False, 500.0) for a, f in zip((0.25, 0.5, 0.75), curve)), f1, False)
               for curve, f1 in MEASURED_BASELINE]
    points = [es.Point(a, f, False, 90.0 * a) for a, f in MEASURED_SLOW]
    assert [es.decide(p, i == 0, history, floor, [], "safe") for i, p in enumerate(points)] == [None, None]
    # the same-report bound (what safe was, and what aggressive still is) stops it at 50%: a false stop
    assert es.decide(points[1], False, history, floor, [], "aggressive").rule == "hopeless-f1"


def test_a_run_that_cannot_beat_a_cheaper_feasible_trial_is_stopped(tmp_path):
    t = task()
    ctx = run_simulated(tmp_path, t, n_trials=5, enqueue=[dict(CHEAP), dict(DEAR)], early_stop="safe")
    trials = by_changes(t, ctx)
    assert trials[CHEAP].state == TrialState.COMPLETE and rec.is_feasible(trials[CHEAP])
    dear = trials[DEAR]
    assert dear.state == TrialState.PRUNED and dear.user_attrs[es.STOPPED]["rule"] == "dominated"


def test_one_class_early_is_stopped_only_with_evidence(tmp_path):
    t = task()
    twin = level(infer_batch_size=64, quantization="dynamic-int8")
    t.curves[twin], t.degenerate = t.curves[ONE], {ONE, twin}
    t.effects[twin] = t.effects[ONE]
    # Trained apart (no reuse): the twin differs only in serving, and a served run trains nothing to stop.
    ctx = run_simulated(tmp_path, t, n_trials=5, enqueue=[dict(ONE), dict(twin)], early_stop="safe",
                        reuse_training=False)
    first, second = sorted((x for x in ctx.study.get_trials() if rec.role_of(x) == "search"), key=lambda x: x.number)
    # The first one-class run has no completed run to learn from: in safe mode it runs to the end (evidence)...
    assert first.state == TrialState.COMPLETE and first.user_attrs["degenerate"]
    # ...and the second, one class at its first report too, is stopped by that evidence
    assert second.state == TrialState.PRUNED and second.user_attrs[es.STOPPED]["rule"] == "degenerate-early"


def test_a_completed_run_that_recovered_from_one_class_protects_the_next():
    floor = rec.floor_of([rec.RunMeasure(s, 100.0, 0.70 + 0.005 * s) for s in range(3)], 0.95)
    recovered = es.Completed((es.Point(0.25, 0.2, True, 30.0),), 0.71, False)
    point = es.Point(0.25, 0.2, True, 30.0)
    assert es.decide(point, True, [recovered], floor, [], "safe") is None
    assert es.decide(point, True, [], floor, [], "safe") is None  # no evidence: safe goes on
    assert es.decide(point, True, [], floor, [], "aggressive").rule == "degenerate-early"


def test_monitor_mode_records_curves_and_never_stops(tmp_path):
    t = task()
    ctx = run_simulated(tmp_path, t, n_trials=5, enqueue=[dict(BAD), dict(ONE)], early_stop="monitor")
    trials = by_changes(t, ctx)
    assert all(trials[k].state == TrialState.COMPLETE for k in (BAD, ONE))
    base = rec.baseline_trial(ctx.study)
    assert [len(r["curve"]) for r in base.user_attrs[rec.RUNS]] == [3, 3, 3]  # evidence from the start


def test_off_reports_nothing(tmp_path):
    t = task()
    ctx = run_simulated(tmp_path, t, n_trials=4, enqueue=[dict(BAD)], early_stop="off")
    assert by_changes(t, ctx)[BAD].state == TrialState.COMPLETE
    assert all("curve" not in r for r in rec.baseline_trial(ctx.study).user_attrs[rec.RUNS])


def test_replay_counts_what_the_rules_would_have_stopped_and_false_stops(tmp_path):
    t = task()
    ctx = run_simulated(tmp_path, t, n_trials=11, enqueue=[dict(BAD), dict(SLOW), dict(CHEAP), dict(DEAR)],
                        early_stop="monitor")  # room for a near-floor trial's re-measurement before DEAR
    trials = ctx.study.get_trials()
    floor = rec.noise_floor(ctx.study)
    safe = {r.trial: r for r in es.replay(trials, floor, "safe")}
    by = {k: v.number for k, v in by_changes(t, ctx).items()}
    assert safe[by[BAD]].stop.rule == "hopeless-f1" and not safe[by[BAD]].false_stop
    assert safe[by[SLOW]].stop is None
    assert safe[by[DEAR]].stop.rule == "dominated"
    assert sum(r.false_stop for r in safe.values()) == 0
    assert safe[by[BAD]].spent_j < safe[by[BAD]].energy_j  # what stopping would have saved


def test_a_run_the_replay_stops_is_no_evidence_for_later_runs(tmp_path):
    """As in a live study: a stopped run never completes, so its rise cannot protect a later run. LATE learns
    slowly and stays hopeless (0.05 at 25%, 0.10 at 50%, ends at 0.45: a rise of 0.40); stopped at 50%, it must not
    lend that rise to NEXT, which at 0.30 on the slice at 50% the baseline's rise (0.15) cannot carry to the floor."""
    late, nxt = BAD, level(quantization="dynamic-int8")
    t = Task(effects={late: (0.9, -0.25), nxt: (0.9, -0.24)},
             curves={frozenset(): BASE, late: ((0.25, 0.05, False), (0.5, 0.10, False), (0.75, 0.15, False)),
                     nxt: ((0.25, 0.28, False), (0.5, 0.30, False), (0.75, 0.35, False))}, f1_sd=0.005)
    ctx = run_simulated(tmp_path, t, n_trials=5, enqueue=[dict(late), dict(nxt)], early_stop="monitor",
                        reuse_training=False)  # NEXT differs only in serving: trained apart, it reports as it trains
    by = {k: v.number for k, v in by_changes(t, ctx).items()}
    safe = {r.trial: r for r in es.replay(ctx.study.get_trials(), rec.noise_floor(ctx.study), "safe")}
    assert safe[by[late]].stop.rule == "hopeless-f1" and safe[by[late]].at == 0.5
    assert safe[by[nxt]].stop is not None and safe[by[nxt]].at == 0.5
    assert safe[by[late]].monitor_spent_j is not None


def test_a_monitored_real_run_trains_exactly_as_an_unmonitored_one(tiny_pipeline):
    """The slice is scored in eval mode under inference_mode: no RNG draw, no gradient. Same seed, same F1; the
    monitor's joules are reported apart, not in the configuration's."""
    config = tiny_pipeline.space().complete({"epochs": 1, "max_length": 32, "train_fraction": 0.2, "tokenizer": "rust"})
    plain = tiny_pipeline.run(config, seed=3)
    reports = []
    watched = tiny_pipeline.run(config, seed=3, monitor=reports.append)
    assert watched.f1 == plain.f1 and watched.predicted_counts == plain.predicted_counts
    assert [round(r.at, 2) for r in reports] == [r["at"] for r in watched.curve] and 1 <= len(reports) <= 3
    assert watched.monitor_energy_j > 0 and plain.monitor_energy_j == 0.0 and plain.curve == []
    assert all(0 < r.energy_j < watched.energy_j + watched.monitor_energy_j for r in reports)


def test_reports_due_at_the_same_share_match_though_whole_steps_shift_them():
    """A 1-epoch run of 38 steps reports at 26.3%, 52.6%, 78.9%; the baseline's 75-step runs at 25.3%, 50.7%, 76%:
    the same reports. Matched only within 0.02, a shorter run would have had no evidence after its first report."""
    base = tuple(es.Point(a, f, False, 50.0) for a, f in ((0.253, 0.33), (0.507, 0.55), (0.76, 0.60)))
    short = [es.Point(a, 0.3, False, 20.0) for a in (0.263, 0.526, 0.789)]
    assert [es._index(p, base) for p in short] == [0, 1, 2]
    history = [es.Completed(base, 0.62, False)] * 3
    assert es.rises(short[1], history, earlier=1) == pytest.approx([0.62 - 0.33] * 3)
    assert es.rises(short[0], history, earlier=1) == []  # nothing before a first report


@pytest.mark.parametrize("scoring_j, paid", [(0.1, True), (5.0, False)])
def test_the_report_says_whether_early_stopping_paid(tmp_path, scoring_j, paid):
    """The stops save a run's rest; scoring is paid on every monitored run, the floor's included. The report nets
    the two against the same runs without early stopping, and says so when stopping cost more than it saved."""
    from greenknobs.search.analysis import analyse, report_markdown

    t = task(monitor_j=scoring_j)
    ctx = run_simulated(tmp_path, t, n_trials=4, enqueue=[dict(BAD)], early_stop="safe")
    bad = by_changes(t, ctx)[BAD]
    assert es.scoring_j(bad) == pytest.approx(2 * scoring_j)  # stopped at its second report
    a = analyse(ctx.study)
    e = a["early_stop"]
    assert e["monitor_j"] == pytest.approx((3 * 3 + 2) * scoring_j)  # the baseline's 3 runs × 3 reports, BAD's 2
    net = (e["saved_j"] - e["monitor_j"]) / (e["study_j"] + e["saved_j"] - e["monitor_j"])
    assert (net > 0) is paid
    text = report_markdown(a)
    assert f"**{saving_text(net)}** than the same runs without early stopping" in text
    assert ('`early_stop = "off"` spends less' in text) is not paid
