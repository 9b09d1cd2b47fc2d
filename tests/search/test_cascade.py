"""The cascade sampler: single knobs first, then combinations of the feasible savers, then TPE; resumable."""

from __future__ import annotations

import statistics

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from greenknobs.search import records as rec
from greenknobs.search.samplers import PLAN_ATTR, next_plan, screening_levels, stage_of
from tests.search._cascade_study import BUDGET, build_simulated

SEARCHED = ["padding", "drop_layers", "batch_size", "infer_batch_size"]


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    return build_simulated(tmp_path_factory.getbasetemp())


def cascade_space(cascade):
    from greenknobs.objectives import SimulatedPipeline
    from greenknobs.search.study import load_spec
    from tests.search._simulated import CPU

    spec = load_spec(cascade.study_file)
    return SimulatedPipeline(spec.task, None, hardware=CPU).space(search=spec.search, ranges=spec.ranges,
                                                                    fixed=spec.fixed, baseline=spec.baseline)


def _changes(trial, base_params):
    # The test study searches no conditional knob, so params differ from the baseline's exactly where knobs changed.
    return {k: v for k, v in trial.params.items() if base_params[k] != v}


def test_screens_each_knob_alone_then_combines_the_feasible_savers(cascade):
    study = cascade.load()
    trials = study.get_trials(deepcopy=False)
    assert sum(rec.budget_runs(t) for t in trials if t.state.is_finished()) == BUDGET
    assert rec.role_of(trials[0]) == "baseline" and stage_of(trials[0]) is None
    base = trials[0].params
    stages = [stage_of(t) for t in trials]
    changes = [_changes(t, base) for t in trials]

    screen = [i for i, s in enumerate(stages) if s == "screen"]
    # Every searched knob alone at its most promising level first; knobs reaching the larger share of the
    # baseline's joules first: drop_layers moves model+training+inference, padding training+inference, batch_size
    # training alone, infer_batch_size inference alone (training outweighs inference in the baseline).
    base = rec.result_of(trials[0])
    assert base.phase_energy_j["training"] > base.phase_energy_j["inference"]
    assert [changes[i] for i in screen[:4]] == [{"drop_layers": 2}, {"padding": "dynamic"}, {"batch_size": 32},
                                                {"infer_batch_size": 64}]
    assert all(len(changes[i]) == 1 for i in screen)
    # The noise floor is the baseline's own 3 runs: the cascade plans no repeat of it, and screens at most half of
    # what the floor leaves to the search.
    assert "repeat" not in stages and not any(c == {} for c in changes[1:])
    assert sum(rec.budget_runs(trials[i]) for i in screen) <= max(2, (BUDGET - 3) // 2)

    combine = [i for i, s in enumerate(stages) if s == "combine"]
    assert combine, f"no combination was planned: stages {stages}"
    assert min(combine) > max(screen)
    # The first combination joins the two best single savers that kept F1 (recomputed here from the stored joules).
    ref = statistics.fmean(t.values[0] for t, c in zip(trials, changes) if not c and t.state == TrialState.COMPLETE)
    savers = {next(iter(changes[i].items())): 1 - trials[i].values[0] / ref for i in screen
              if rec.is_feasible(trials[i]) and trials[i].values[0] < ref}
    top_two = sorted(savers, key=lambda lv: -savers[lv])[:2]
    assert set(changes[combine[0]].items()) == set(top_two)
    for i in combine:
        assert len(changes[i]) >= 2 and set(changes[i].items()) <= set(savers)
    # After the plan, TPE samples (no plan attr) — the study still ran to its budget.
    assert stages[-1] is None and rec.role_of(trials[-1]) == "search"


def test_resume_with_a_bigger_budget_continues_without_rescreening(cascade, tmp_path):
    """A new process (a new sampler object) resumes the study with a bigger budget."""
    from greenknobs.objectives import SimulatedPipeline
    from greenknobs.search.study import load_spec, finished_count, load_study, open_study, run_study
    from tests.search._cascade_study import simulated_task
    from tests.search._simulated import CPU

    storage = cascade.copy(tmp_path)
    first = load_study(cascade.name, storage).get_trials()
    before = [(t.number, t.params, t.values) for t in first]
    space = cascade_space(cascade)
    expected = next_plan(first, space, BUDGET + 3)  # what the stored trials say comes next
    spec = load_spec(cascade.study_file)
    spec.storage = storage
    spec.n_trials = BUDGET + 3  # as `run --n-trials` sets it: the budget the cascade plans for
    task = simulated_task()
    ctx = open_study(spec, pipeline=SimulatedPipeline(spec.task, task, hardware=CPU))
    task.baseline = ctx.space.baseline()
    run_study(ctx, n_trials=BUDGET + 3, show_progress=False)
    study = load_study(cascade.name, storage)
    trials = study.get_trials()
    assert finished_count(study) == BUDGET + 3
    assert [(t.number, t.params, t.values) for t in trials[:len(before)]] == before
    base = trials[0].params
    screened = [tuple(_changes(t, base).items()) for t in trials if stage_of(t) == "screen"]
    assert len(screened) == len(set(screened)), f"a level was screened twice: {screened}"
    # The plan is recomputed from the stored trials, not this process's memory: the resumed run starts where the
    # study was.
    new = trials[len(before)]
    if expected is None:
        assert stage_of(new) is None
    else:
        assert stage_of(new) == expected[0] and _changes(new, base) == expected[1]


def test_a_running_trial_is_not_planned_twice(tiny_pipeline):
    """Parallel workers: a level another worker is running right now is skipped, not duplicated."""
    space = tiny_pipeline.space(search=SEARCHED, fixed={"max_length": 32, "epochs": 1})
    base = space.params_of(space.baseline())
    study = optuna.create_study(directions=["minimize", "maximize"])
    study.add_trial(create_trial(state=TrialState.WAITING, system_attrs={"fixed_params": base},
                                 user_attrs={rec.ROLE: "baseline"}))
    assert next_plan(study.get_trials(), space, budget=20) == ("screen", {"padding": "dynamic"})
    running = {**base, "padding": "dynamic"}
    study.add_trial(create_trial(state=TrialState.RUNNING, system_attrs={PLAN_ATTR: {"stage": "screen", "params": running}}))
    assert next_plan(study.get_trials(), space, budget=20) == ("screen", {"drop_layers": 2})
    # Deliberate repeats never count as screening.
    study.add_trial(create_trial(state=TrialState.WAITING, system_attrs={"fixed_params": {**base, "drop_layers": 2}},
                                 user_attrs={rec.ROLE: "repeat"}))
    assert next_plan(study.get_trials(), space, budget=20) == ("screen", {"drop_layers": 2})


def test_screening_takes_at_most_half_of_what_the_noise_floor_leaves(tiny_pipeline):
    space = tiny_pipeline.space(search=SEARCHED, fixed={"max_length": 32, "epochs": 1})
    base = space.params_of(space.baseline())
    study = optuna.create_study(directions=["minimize", "maximize"])
    study.add_trial(create_trial(state=TrialState.WAITING, system_attrs={"fixed_params": base},
                                 user_attrs={rec.ROLE: "baseline"}))
    plans = []
    for _ in range(2):  # budget 9 runs: the baseline's 3 leave 6 to the search, so screening may use 3
        plan = next_plan(study.get_trials(), space, budget=9)
        plans.append(plan)
        params = space.params_of(space.complete(plan[1]))
        study.add_trial(create_trial(state=TrialState.RUNNING, system_attrs={PLAN_ATTR: {"stage": plan[0], "params": params}}))
    assert plans == [("screen", {"padding": "dynamic"}), ("screen", {"drop_layers": 2})]
    assert next_plan(study.get_trials(), space, budget=9) == ("screen", {"batch_size": 32})
    params = space.params_of(space.complete({"batch_size": 32}))
    study.add_trial(create_trial(state=TrialState.RUNNING, system_attrs={PLAN_ATTR: {"stage": "screen", "params": params}}))
    assert next_plan(study.get_trials(), space, budget=9) is None  # nothing measured yet to combine: TPE's turn


def test_screening_levels_put_the_likely_saving_first(tiny_pipeline):
    space = tiny_pipeline.space()
    # The middle of the saving side first, then the extreme, then the levels that cost more.
    assert screening_levels(space.searched["max_length"])[:3] == [64, 32, 96]
    assert screening_levels(space.searched["train_fraction"]) == [0.6, 0.2]
    assert screening_levels(space.searched["batch_size"]) == [32, 64, 8]
    assert screening_levels(space.searched["adaptation"])[0] == "head"
    assert screening_levels(space.searched["gradient_checkpointing"]) == [True]
