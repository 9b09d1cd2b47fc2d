"""Each rule of the verdict, driven to both sides of its line (records/_noise.py): pairing at the seed, pooling across
the study, the prior until pooled noise exists, the capped and Bonferroni-split re-measurement, one-sided tests,
Holm across training families and a fixed sequence within one (the graphical procedure), the family as one row
of the pool, α spent over the looks, the staged confirmation, the interleaved order, the foreign-load
flag, and the library's `run` confirming as the CLI does."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from optuna.trial import TrialState

from greenknobs.search import records as rec
from tests.search._simulated import Task, level, open_simulated, run_simulated

RM = rec.RunMeasure
HALF = level(max_length=64)
DROP = level(batch_size=32)


def _floor(f1s: list[float], energy: float = 100.0) -> rec.NoiseFloor:
    return rec.floor_of([RM(s, energy * (1 + 0.01 * (-1) ** s), f1) for s, f1 in enumerate(f1s)], 0.95)


# -- the search's screen -------------------------------------------------------------------------------------------
SEEDED = [0.73, 0.67, 0.72, 0.68]  # the baseline's F1 at seeds 0-3: large seed effects every configuration shares


def test_pairing_at_the_seed_decides_on_one_run_where_the_floors_mean_cannot():
    floor = _floor(SEEDED)
    run = RM(0, 50.0, 0.98 * SEEDED[0])  # keeps 98% of the baseline's F1 *at its seed*: 0.7154
    pooled = rec.Spread(f1_sd=0.003, log_energy_sd=0.02, seed_sd=0.03, dof=6, configurations=3)
    paired = floor.judge([run], max_runs=3, spread=pooled)
    assert paired.paired and paired.feasible and not paired.needs_more_seeds
    assert paired.f1_over_floor == pytest.approx(run.f1 - 0.95 * SEEDED[0])  # F1_c(s) − r·F1_b(s)
    prior = floor.judge([run], max_runs=3, spread=None)  # the same run against the floor's mean: within its noise
    assert not prior.paired and prior.needs_more_seeds and not prior.feasible


def test_the_floors_prior_stands_until_the_study_has_enough_paired_degrees_of_freedom():
    floor = _floor(SEEDED)
    run = RM(0, 50.0, 0.98 * SEEDED[0])
    thin = rec.Spread(0.003, 0.02, 0.03, dof=rec.MIN_POOLED_DOF - 1, configurations=2)
    assert not floor.judge([run], 3, thin).paired
    assert "against the floor's mean" in floor.judge([run], 3, thin).reason
    enough = rec.Spread(0.003, 0.02, 0.03, dof=rec.MIN_POOLED_DOF, configurations=2)
    assert floor.judge([run], 3, enough).paired
    assert "the floor's own spread as a prior" in floor.text(spread=thin)


def test_re_measurement_is_capped_and_each_look_gets_its_bonferroni_share():
    floor = _floor([0.70, 0.69, 0.71, 0.70, 0.70])
    pooled = rec.Spread(0.01, 0.02, 0.0, dof=8, configurations=3)
    near = [RM(s, 50.0, 0.95 * floor.by_seed()[s].f1 + 0.002) for s in range(5)]  # right at the floor
    assert floor.judge(near[:1], max_runs=5, spread=pooled).needs_more_seeds
    assert floor.judge(near[:2], max_runs=5, spread=pooled).needs_more_seeds
    third = floor.judge(near[:3], max_runs=5, spread=pooled)  # the floor has 5 seeds; the cap is RE_MEASURE_RUNS
    assert rec.RE_MEASURE_RUNS == 3 and not third.needs_more_seeds and third.feasible  # mean above: confirmation decides
    se = pooled.f1_diff_sd(0.95) / math.sqrt(3)
    assert third.f1_margin == pytest.approx(rec.t_upper(8, rec.SCREEN_ALPHA / 3) * se)


def test_a_borderline_saving_is_re_measured_and_a_negligible_one_is_not():
    floor = _floor([0.70, 0.70, 0.70, 0.70])
    pooled = rec.Spread(0.002, 0.05, 0.0, dof=8, configurations=3)
    crit = rec.t_upper(8, rec.SCREEN_ALPHA / 3) * pooled.log_ratio_sd()
    borderline = RM(0, floor.by_seed()[0].energy_j * math.exp(-0.75 * crit), 0.72)
    negligible = RM(0, floor.by_seed()[0].energy_j * math.exp(-0.2 * crit), 0.72)
    assert floor.judge([borderline], 3, pooled).needs_more_seeds
    v = floor.judge([negligible], 3, pooled)
    assert not v.needs_more_seeds and not v.feasible and v.reason.startswith("no measurable saving")


def test_pooling_takes_degrees_of_freedom_from_every_configuration_that_shares_a_seed():
    runs = {"baseline": [RM(s, 100.0 + s, 0.70 + 0.01 * s) for s in range(5)],
            "a": [RM(s, 60.0 - s, 0.69 + 0.012 * s) for s in range(3)],
            "b": [RM(s, 80.0 + 2 * s, 0.71 + 0.008 * s) for s in (0, 2, 4)],
            "once": [RM(1, 70.0, 0.70)]}
    spread = rec.two_way(rec.cells_of(runs))
    assert spread.dof == (5 - 1) + (3 - 1) + (3 - 1) + 0 - (5 - 1)  # N − configs − seeds + 1 = 4
    assert spread.configurations == 3
    assert rec.two_way(rec.cells_of({"baseline": runs["baseline"], "once": runs["once"]})) is None


def test_pooled_noise_recovers_the_runs_own_spread():
    rng = random.Random(3)
    seed_fx = {s: rng.gauss(0, 0.03) for s in range(40)}
    runs = {c: [RM(s, 100.0 * math.exp(rng.gauss(0, 0.05)), 0.7 + 0.01 * c + seed_fx[s] + rng.gauss(0, 0.01))
                for s in range(40)] for c in range(4)}
    spread = rec.two_way(rec.cells_of(runs))
    assert spread.dof == 4 * 40 - 4 - 40 + 1
    assert spread.f1_sd == pytest.approx(0.01, rel=0.15) and spread.log_energy_sd == pytest.approx(0.05, rel=0.15)
    assert spread.seed_sd == pytest.approx(0.03, rel=0.3)  # shared by every configuration: pairing removes it


def test_a_second_near_floor_trial_is_judged_paired_on_noise_the_first_one_measured(tmp_path):
    near = level(padding="dynamic")
    other = level(attention="sdpa")
    task = Task(effects={near: (0.6, -0.035), other: (0.6, -0.035)}, f1_sd=0.01)
    ctx = run_simulated(tmp_path, task, n_trials=10, enqueue=[dict(near), dict(other)], baseline_repeats=4)
    first, second = (t for t in ctx.study.get_trials(states=(TrialState.COMPLETE,)) if rec.role_of(t) == "search")
    v1, v2 = first.user_attrs[rec.VERDICT], second.user_attrs[rec.VERDICT]
    assert first.user_attrs["runs"] == 3 and v1["paired"] and v1["dof"] == 3 - 1  # its own re-measurements only
    assert v2["paired"] and v2["dof"] > second.user_attrs["runs"] - 1  # more than its own: the first one's too
    assert rec.study_spread(ctx.study).dof == (3 - 1) + (second.user_attrs["runs"] - 1)


def test_the_confirmation_serves_the_searchs_kept_models_on_test_for_its_spread(tmp_path):
    from greenknobs.search.study import SPREAD_OF, confirm_pareto, confirm_study, measures, spread_measures

    near = level(padding="dynamic")
    task = Task(effects={near: (0.6, -0.01)}, f1_sd=0.01)
    ctx = run_simulated(tmp_path, task, n_trials=6, enqueue=[dict(near)], baseline_repeats=4)
    trial = next(t for t in ctx.study.get_trials(states=(TrialState.COMPLETE,)) if rec.role_of(t) == "search")
    assert trial.user_attrs["runs"] >= 2  # re-measured near the floor: a configuration at two or more seeds
    stats = confirm_pareto(ctx)
    twin = confirm_study(ctx.study, create=False)
    spread = spread_measures(twin)
    base = rec.baseline_trial(ctx.study).number
    assert sorted(spread[base]) == ctx.spec.baseline_seeds  # the floor's models, at their own seeds
    assert sorted(spread[trial.number]) == sorted(r.seed for r in rec.runs_of(trial))
    runs = [t for t in twin.get_trials() if SPREAD_OF in t.user_attrs]
    assert runs and all(t.user_attrs[rec.TRAINING_RUNS] == 0 and t.user_attrs["eval_split"] == "test" for t in runs)
    confirm = measures(twin)
    assert not {s for by in confirm.values() for s in by} & {s for by in spread.values() for s in by}
    # the verdict's degrees of freedom are the confirmation's own pairs and the spread runs' residuals
    seeds = sorted({s for by in confirm.values() for s in by})[:3]
    own = rec.pooled_spreads({n: [by[s] for s in seeds if s in by] for n, by in confirm.items()}).trained.dof
    v = stats[trial.number]
    b, t = len(spread[base]), len(spread[trial.number])
    assert v.dof == own + (b + t) - (2 + b - 1) > own  # the block: its runs less 2 configuration and b seed effects


# -- the confirmation ----------------------------------------------------------------------------------------------
def _world(truths: dict[int, tuple[float, float]], own_sd: float = 0.01, seed: int = 0):
    rng = random.Random(seed)
    fx: dict[int, tuple[float, float]] = {}
    cand: dict[int, dict[int, RM]] = {c: {} for c in truths}
    base: dict[int, RM] = {}

    def draw(c: int | None, s: int) -> RM:
        a, b = fx.setdefault(s, (rng.gauss(0, 0.028), rng.gauss(0, 0.03)))
        ret, sav = (1.0, 0.0) if c is None else truths[c]
        return RM(s, 1000 * (1 - sav) * math.exp(b + rng.gauss(0, 0.05)), 0.59 * ret + a + rng.gauss(0, own_sd))

    order: list[tuple[int | None, int]] = []

    def measure(s: int, targets: list[int | None]) -> None:
        for t in targets:
            runs = base if t is None else cand[t]
            if s not in runs:  # what the engine's queue does: a run already made is not made again
                order.append((t, s))
                runs[s] = draw(t, s)

    return measure, (lambda: (cand, base)), cand, base, order


def _with_retention(delta: float, k: int = 6, twins: int = 1) -> tuple[dict[int, dict[int, RM]], dict[int, RM]]:
    """Candidates keeping the baseline's F1 + delta at every seed, a fixed noise pattern; 40% less energy."""
    base = {s: RM(s, 1000.0 * (1 + 0.02 * (-1) ** s), 0.60 + 0.03 * math.sin(s)) for s in range(k)}
    wiggle = [0.012, -0.009, 0.004, -0.011, 0.008, -0.004, 0.006, -0.006][:k]
    cands = {c: {s: RM(s, 600.0 * (1 + 0.03 * math.cos(s + c)), base[s].f1 * 0.95 + delta + wiggle[s])
                 for s in range(k)} for c in range(twins)}
    return cands, base


def _delta_with_p(lo: float, hi: float, twins: int) -> float:
    for i in range(400):
        delta = 0.0005 * i
        cands, base = _with_retention(delta, twins=twins)
        ps = [p.p_f1 for p in rec.decide_verdicts(cands, base, 0.95, list(range(6)), [6], 6).values()]
        if all(lo < p < hi for p in ps):
            return delta
    raise AssertionError("no retention gives that p-value")


def test_the_retention_test_is_one_sided():
    """A p-value between 0.025 and the look's level: recommended one-sided; a two-sided 95% test would refuse it."""
    level_6 = rec.look_alphas([6], 6)[0]
    delta = _delta_with_p(0.025, level_6, twins=1)
    cands, base = _with_retention(delta)
    (p,) = rec.decide_verdicts(cands, base, 0.95, list(range(6)), [6], 6).values()
    assert p.recommended and 0.025 < p.p_f1 < level_6 and p.p_energy < 1e-4
    assert p.retention.low < 0.95  # its two-sided 95% interval reaches below the floor: the old rule refused this


def test_holm_holds_the_family_of_candidates_to_the_study_rate():
    """Two candidates, each with a p-value below the look's level but above half of it: each alone would pass; as
    a family of two, Holm's first step needs α/2, so neither is recommended."""
    level_6 = rec.look_alphas([6], 6)[0]
    delta = _delta_with_p(level_6 / 2, level_6, twins=2)
    cands, base = _with_retention(delta, twins=2)
    both = rec.decide_verdicts(cands, base, 0.95, list(range(6)), [6], 6)
    assert all(level_6 / 2 < p.p_value < level_6 for p in both.values())
    assert not any(p.recommended for p in both.values())
    assert min(p.level for p in both.values()) == pytest.approx(level_6 / 2)  # Holm's first step
    assert rec.holm({1: 0.01, 2: 0.02, 3: 0.04}, 0.045) == {1, 2, 3}  # Holm's step-down, not Bonferroni
    assert rec.holm({1: 0.01, 2: 0.03, 3: 0.04}, 0.045) == {1}


def test_the_graphical_procedure_is_holms_with_equal_weights_and_a_fixed_sequence_on_a_chain():
    rng = random.Random(3)
    for _ in range(60):  # statsmodels' Holm collects garbage on each call: 60 draws, not thousands
        m = rng.randint(1, 6)
        ps = {i: rng.random() ** 3 for i in range(m)}
        weights = {i: 1 / m for i in range(m)}
        complete = {i: {j: 1 / (m - 1) for j in range(m) if j != i} for i in range(m)}
        alpha = rng.choice([0.05, 0.0225, 0.01])
        assert rec.graph_test(ps, weights, complete, alpha)[0] == rec.holm(ps, alpha)  # statsmodels' Holm
    chain = {"a": {"b": 1.0}, "b": {"c": 1.0}}
    assert rec.graph_test({"a": 0.01, "b": 0.04, "c": 0.001}, {"a": 1.0}, chain, 0.045)[0] == {"a", "b", "c"}
    rejected, level = rec.graph_test({"a": 0.01, "b": 0.06, "c": 0.001}, {"a": 1.0}, chain, 0.045)
    assert rejected == {"a"} and level["c"] == 0.0  # a fixed sequence: c waits behind b, however small its p


def _siblings(delta: float, head_drop: float = 0.0) -> tuple[dict[int, dict[int, RM]], dict[int, RM]]:
    """Candidate 0 and its serving sibling 1 (one trained model at every seed, 1 served from it: 2% more energy,
    its F1 within 0.0005), against a baseline trained apart; `head_drop` takes F1 from candidate 0 alone."""
    cands, base = _with_retention(delta)
    base = {s: RM(s, b.energy_j, b.f1, training=f"b{s}") for s, b in base.items()}
    head = {s: RM(s, r.energy_j, r.f1 - head_drop, training=f"t{s}") for s, r in cands[0].items()}
    sib = {s: RM(s, r.energy_j * 1.02, r.f1 + 0.0005 * (-1) ** s, training=f"t{s}", reused=True)
           for s, r in cands[0].items()}
    return {0: head, 1: sib}, base


def test_serving_siblings_are_tested_in_sequence_on_one_share_of_alpha():
    """Two configurations served from one trained model are one training family: the first holds the family's
    share of α and passes it on when shown. Holm over the two (each its own family) would need α/2 first."""
    level_6 = rec.look_alphas([6], 6)[0]
    for i in range(400):
        cands, base = _siblings(0.0005 * i)
        both = rec.decide_verdicts(cands, base, 0.95, list(range(6)), [6], 6)
        if all(level_6 / 2 < p.p_value < level_6 for p in both.values()):
            break
    else:
        raise AssertionError("no retention gives those p-values")
    assert all(p.recommended for p in both.values())
    assert [both[c].level for c in (0, 1)] == pytest.approx([level_6, level_6])
    assert not rec.holm({c: p.p_value for c, p in both.items()}, level_6)  # what Holm over the two would say
    assert rec.training_families({"base": list(base.values()), **{c: list(v.values()) for c, v in cands.items()}}
                                 ) == {"base": "base", 0: 0, 1: 0}


def test_a_sibling_behind_a_member_not_shown_is_not_tested():
    """The first of the family keeps too little F1 (its serving costs F1): its sibling, however good, is not tested
    (its share never came), and is closed with it rather than measured on."""
    cands, base = _siblings(0.02, head_drop=0.05)
    v = rec.decide_verdicts(cands, base, 0.95, list(range(6)), [6], 6)
    assert v[0].decided == "futile" and v[1].p_value < rec.look_alphas([6], 6)[0] / 2 and not v[1].recommended
    assert v[1].decided == "not recommended" and v[1].level == 0.0 and "not tested: trial 0" in v[1].reason
    assert 1 not in rec.open_candidates(v)  # closed: no more seeds are measured for it


def test_a_family_whose_members_take_turns_to_train_pools_as_one_row():
    """Candidates 1 and 2 share one training family; 1 trains at seeds 0 and 2, 2 at seed 1 (the other serves).
    As one row, the family is measured at all 3 seeds against the baseline: (2 − 1)(3 − 1) = 2 degrees of freedom;
    labelled by candidate, each turn would be a row of its own and give 1."""
    rng = random.Random(1)
    base = [RM(s, 100 * math.exp(rng.gauss(0, 0.05)), 0.7 + rng.gauss(0, 0.02), training=f"b{s}") for s in range(3)]
    trained = {s: RM(s, 60.0 + s, 0.7 + rng.gauss(0, 0.02), training=f"f{s}") for s in range(3)}
    one = [trained[0], trained[2], RM(1, 59.0, trained[1].f1 + 0.001, training="f1", reused=True)]
    two = [trained[1], RM(0, 61.0, trained[0].f1 - 0.001, training="f0", reused=True),
           RM(2, 62.0, trained[2].f1, training="f2", reused=True)]
    pools = rec.pooled_spreads({"base": base, 1: one, 2: two})
    assert pools.trained.dof == 2
    by_candidate = rec.two_way(rec.cells_of({"base": base, 1: [r for r in one if not r.reused],
                                             2: [r for r in two if not r.reused]}))
    assert by_candidate.dof == 1


def _spread_world(seed: int = 3, sd: float = 0.012):
    """The baseline and one candidate at 3 confirmation seeds (10-12), and the search's models of both served on the
    test split at search seeds 0-3 (the candidate at 3 of them): the same noise model, a seed effect every
    configuration shares."""
    rng = random.Random(seed)

    def run(ret: float, sav: float, s: int, a: float, tag: str, reused: bool = False) -> rec.RunMeasure:
        return RM(s, 100 * (1 - sav) * math.exp(rng.gauss(0, 0.05)), 0.6 * ret + a + rng.gauss(0, sd),
                  training=f"{tag}{s}", reused=reused)

    fx = {s: rng.gauss(0, 0.02) for s in range(20)}
    base = {s: run(1.0, 0.0, s, fx[s], "b") for s in (10, 11, 12)}
    cand = {s: run(1.0, 0.4, s, fx[s], "c") for s in (10, 11, 12)}
    spread = {"b": {s: run(1.0, 0.0, s, fx[s], "sb", True) for s in range(4)},
              1: {s: run(1.0, 0.4, s, fx[s], "sc", True) for s in range(3)}}
    return base, cand, spread


def test_the_searchs_models_served_on_test_add_their_residuals_to_the_trained_pool():
    base, cand, spread = _spread_world()
    runs = {"base": list(base.values()), 1: list(cand.values())}
    alone = rec.pooled_spreads(runs).trained
    pooled = rec.pooled_spreads(runs, {k: list(v.values()) for k, v in spread.items()}).trained
    assert alone.dof == 2  # (2 − 1)(3 − 1): the confirmation's own pairs
    assert pooled.dof == 2 + 2  # + 7 runs − (2 configurations + 4 seeds − 1): their own block, own effects
    # for the F1 alone: the energy spread stays the confirmation's own (the screen selects savings on their t)
    assert pooled.e_dof == 2 and pooled.log_energy_sd == alone.log_energy_sd and pooled.f1_sd != alone.f1_sd
    # a second model of one family at a seed, or a run at a confirmation seed, adds nothing
    twice = {**{k: list(v.values()) for k, v in spread.items()}, "again": [RM(0, 60.0, 0.61, training="sc0")],
             "late": [RM(10, 60.0, 0.61, training="sc10")]}
    assert rec.pooled_spreads(runs, twice).trained.dof == 4
    # their means do not count: moving a whole configuration's spread runs leaves the pool as it was
    shifted = {"b": list(spread["b"].values()), 1: [replace(r, f1=r.f1 + 0.2) for r in spread[1].values()]}
    assert rec.pooled_spreads(runs, shifted).trained.f1_sd == pytest.approx(pooled.f1_sd)


def test_the_spread_runs_let_the_first_look_decide_what_its_own_pairs_cannot():
    base, cand, spread = _spread_world(10)  # a world where 2 degrees of freedom leave p = 0.033 > 0.0225
    seeds = [10, 11, 12]
    without = rec.decide_verdicts({1: cand}, base, 0.95, seeds, looks=[3], k_max=6)[1]
    with_spread = rec.decide_verdicts({1: cand}, base, 0.95, seeds, looks=[3], k_max=6, spread=spread)[1]
    assert without.dof == 2 and with_spread.dof == 4
    assert not without.recommended and without.decided == "undecided"
    assert with_spread.recommended


def test_alpha_is_spent_over_the_looks_and_never_exceeds_the_study_rate():
    # ρ = 1 (the default): the first of two looks at half the seeds spends half of α's main part (records/_noise.py)
    assert rec.look_alphas([3, 6], 6) == pytest.approx([0.9 * 0.05 / 2, 0.9 * 0.05 / 2])
    assert rec.look_alphas([2, 4, 6], 6) == pytest.approx([0.9 * 0.05 / 3] * 3)
    # ρ = 0.5 spends √½ of it at the first
    assert rec.look_alphas([3, 6], 6, rho=0.5) == pytest.approx([0.045 * 0.5 ** 0.5, 0.045 * (1 - 0.5 ** 0.5)])
    for looks in ([3, 6], [3, 4, 5, 6], [2, 6, 7, 8, 12, 20], [6], list(range(2, 40))):
        assert sum(rec.look_alphas(looks, 6)) <= rec.ALPHA + 1e-12
    assert rec.alpha_spent(7, 6) > rec.alpha_spent(6, 6)  # `confirm --repeats` past the plan: from the reserve


def test_the_confirmation_goes_on_only_for_what_the_first_look_left_open():
    # a world (seed 2) where the good candidate is still open after 3 seeds and the bad one is futile
    measure, runs, cand, base, order = _world({0: (0.80, 0.40), 1: (1.00, 0.30)}, own_sd=0.012, seed=2)
    stats, looks = rec.sequential(measure, runs, [0, 1], list(range(10, 16)), 3, 6, 0.95)
    assert looks == [3, 6]
    assert stats[0].decided == "futile" and sorted(cand[0]) == [10, 11, 12]  # stopped at the first look
    assert sorted(cand[1]) == list(range(10, 16)) and sorted(base) == list(range(10, 16))
    assert stats[1].recommended
    assert [s for _, s in order] == sorted(s for _, s in order)  # seed-major: every run of a seed before the next


def test_a_candidate_a_recommended_one_dominates_is_measured_no_further():
    # world 0: candidate 0 (keeps 102%, saves 45%) is shown at the first look; 1 (97%, 30%) is open there, and less
    # on both counts: no more seeds for it, so the baseline is not run again either
    measure, runs, cand, base, order = _world({0: (1.02, 0.45), 1: (0.97, 0.30)}, own_sd=0.012, seed=0)
    stats, looks = rec.sequential(measure, runs, [0, 1], list(range(10, 16)), 3, 6, 0.95)
    assert looks == [3] and sorted(cand[1]) == [10, 11, 12] and sorted(base) == [10, 11, 12]
    assert stats[0].recommended and rec.dominated_by(stats, 1) == 0
    assert stats[1].decided == "not recommended" and stats[1].reason.startswith("not measured further: trial 0")
    assert rec.open_candidates(stats) == []
    # the same world with the savings swapped: 1 saves more than the recommended one, so it goes on to 6 seeds
    measure, runs, cand, base, order = _world({0: (1.02, 0.30), 1: (0.97, 0.45)}, own_sd=0.012, seed=0)
    stats, looks = rec.sequential(measure, runs, [0, 1], list(range(10, 16)), 3, 6, 0.95)
    assert looks == [3, 6] and stats[0].n == 3 and sorted(cand[1]) == list(range(10, 16))


def test_a_resumed_confirmation_repeats_no_look_and_more_seeds_are_one_more_look():
    measure, runs, cand, base, order = _world({0: (0.96, 0.30)}, own_sd=0.012, seed=0)
    stats, looks = rec.sequential(measure, runs, [0], list(range(10, 16)), 3, 6, 0.95)
    n = len(order)
    again, looks2 = rec.sequential(measure, runs, [0], list(range(10, 16)), 3, 6, 0.95, looks=looks)
    assert looks2 == looks and len(order) == n  # nothing measured twice, no look repeated
    assert {c: p.to_dict() for c, p in again.items()} == {c: p.to_dict() for c, p in stats.items()}
    assert stats[0].decided == "inconclusive"  # at the floor's edge: not shown at the study's rate after 6 seeds
    more, looks3 = rec.sequential(measure, runs, [0], list(range(10, 18)), 3, 8, 0.95, k_max=6, looks=looks)
    assert looks3 == [*looks, 8] and sorted(cand[0]) == list(range(10, 18))
    assert more[0].level <= rec.alpha_spent(8, 6) - rec.alpha_spent(6, 6) + 1e-12


def test_a_run_under_foreign_load_is_flagged():
    cands, base = _with_retention(0.03)
    base[2] = RM(2, base[2].energy_j, base[2].f1, foreign_load=0.4)
    (p,) = rec.decide_verdicts(cands, base, 0.95, list(range(6)), [6], 6).values()
    assert p.loaded_runs == 1
    cands, base = _with_retention(0.03)
    assert rec.decide_verdicts(cands, base, 0.95, list(range(6)), [6], 6)[0].loaded_runs == 0


# -- the engine -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """HALF keeps its F1 on the test split; DROP loses 10 points there: futile at the first look."""
    from greenknobs.search.study import confirm_pareto

    class Shift(Task):
        def __call__(self, config, seed, split):
            r = super().__call__(config, seed, split)
            if split == "test" and self.changes(config) == DROP:
                return type(r)(r.phase_energy_j, r.f1 - 0.10)
            return r

    task = Shift(effects={HALF: (0.5, 0.02), DROP: (0.3, 0.0)}, f1_sd=0.003, energy_sd=0.03)
    tmp = tmp_path_factory.mktemp("staged")
    ctx = run_simulated(tmp, task, n_trials=9, enqueue=[dict(HALF), dict(DROP)])
    stats = confirm_pareto(ctx)
    return ctx, task, stats


def test_confirmation_runs_are_seed_major_and_interleaved(staged):
    from greenknobs.search.study import CONFIRM_OF, CONFIRM_SEED, confirm_study

    ctx, task, stats = staged
    twin = confirm_study(ctx.study, create=False)
    order = [(t.user_attrs[CONFIRM_OF], t.user_attrs[CONFIRM_SEED]) for t in sorted(twin.get_trials(), key=lambda t: t.number)
             if CONFIRM_OF in t.user_attrs]
    base = rec.baseline_trial(ctx.study).number
    seeds = sorted({s for _, s in order})
    assert [s for _, s in order] == sorted(s for _, s in order)  # seed-major
    for i, seed in enumerate(seeds):
        at = [n for n, s in order if s == seed]
        assert at[0 if i % 2 == 0 else -1] == base  # the baseline first at even seeds, last at odd ones


def test_the_engine_stops_a_futile_candidate_and_goes_on_with_the_open_one(staged):
    ctx, task, stats = staged
    by = {task.changes(t.user_attrs[rec.CONFIG]): t.number for t in rec.pareto_trials(ctx.study)}
    assert stats[by[DROP]].decided == "futile" and stats[by[DROP]].n == 3
    assert stats[by[HALF]].recommended
    from greenknobs.search.study import CONFIRMED_ATTR

    stored = rec.study_record(ctx.study, CONFIRMED_ATTR)
    assert stored["looks"][0] == 3 and stored["k_max"] == 6 and stored["alpha"] == rec.ALPHA
    assert set(stored["trials"]) == {str(t.number) for t in rec.pareto_trials(ctx.study)} >= {str(by[HALF]), str(by[DROP])}


def test_every_run_records_the_machines_foreign_load(staged):
    from greenknobs.search.study import confirm_study, measures

    ctx, *_ = staged
    search_runs = [r for t in ctx.study.get_trials(states=(TrialState.COMPLETE,)) for r in rec.runs_of(t)]
    test_runs = [r for by_seed in measures(confirm_study(ctx.study, create=False)).values() for r in by_seed.values()]
    assert search_runs and test_runs
    assert all(r.foreign_load is not None and 0.0 <= r.foreign_load <= 1.0 for r in search_runs + test_runs)


def test_the_library_runs_a_study_confirmation_included(tmp_path):
    """`greenknobs.search.run` is what `greenknobs run` calls: search, then the staged confirmation."""
    import greenknobs.search as gk

    task = Task(effects={HALF: (0.5, 0.02)}, f1_sd=0.005)
    queued = open_simulated(tmp_path, task, n_trials=5, enqueue=[dict(HALF)])  # a guaranteed candidate, queued
    said: list[str] = []
    out = gk.run(queued.spec, pipeline=queued.pipeline, show_progress=False, say=said.append)
    assert out.budget == 5 and out.finished == 5
    front = {t.number for t in rec.pareto_trials(out.ctx.study)}
    assert front and out.confirmation == "done" and set(out.confirmed) == front and out.recommended
    assert any("confirming" in line for line in said)
    assert gk.confirmed(out.ctx.study).keys() == front  # stored with the study, as the CLI's run stores it
    skipped = gk.run(queued.spec, pipeline=queued.pipeline, show_progress=False, confirm=False, say=said.append)
    assert skipped.confirmation == "skipped"


def test_the_cli_run_is_the_librarys_run(monkeypatch, tmp_path, capsys):
    from greenknobs.search import study
    from greenknobs.search.cli import main

    calls = []

    class Stop(Exception):
        pass

    def fake(spec, **kw):
        calls.append((spec.name, kw))
        raise Stop

    monkeypatch.setattr(study, "run", fake)  # the CLI takes it from the room's door
    with pytest.raises(Stop):
        main(["run", "studies/smoke.toml", "--storage", f"journal:{tmp_path / 'x.journal'}", "--no-confirm",
              "--n-trials", "4"])
    (name, kw), = calls
    assert name == "smoke" and kw["confirm"] is False and kw["n_trials"] == 4 and kw["workers"] == 1


def test_the_break_even_is_the_studys_spend_over_the_joules_saved_per_run(staged, tmp_path):
    from greenknobs.search.analysis import break_even, study_spend_j, export_pareto, status_text

    ctx, task, stats = staged
    lines = break_even(ctx.study)
    assert {b.trial for b in lines} == {n for n, p in stats.items() if p.recommended}
    half = next(t.number for t in rec.pareto_trials(ctx.study) if task.changes(t.user_attrs[rec.CONFIG]) == HALF)
    b = next(b for b in lines if b.trial == half)
    p = stats[b.trial]
    search, confirm = study_spend_j(ctx.study)
    assert search > 0 and confirm > 0 and b.study_j == pytest.approx(search + confirm)
    assert b.saved_j.mean == pytest.approx(p.baseline_energy_j.mean * p.saving.mean)
    assert b.runs == pytest.approx((search + confirm) / b.saved_j.mean)
    assert b.runs_low == pytest.approx(b.study_j / b.saved_j.high) and b.runs_high == pytest.approx(b.study_j / b.saved_j.low)
    line = f"paid back after {math.ceil(b.runs):,} runs"
    assert line in status_text(ctx.study)
    export_pareto(ctx.study, tmp_path / "out")
    assert line in (tmp_path / "out" / "index.md").read_text() and "**Break-even**" in (tmp_path / "out" / "index.md").read_text()
