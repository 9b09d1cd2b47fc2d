"""The early-stopping benchmark's accounting (`python -m benchmarks.early_stop monitored`), on a simulated monitored
study whose every run is known: "safe" is the study less what each run the rules stop would still have spent, the
oracle stops every run that ended infeasible at its first report, and a false stop is counted where the replay makes
one."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pytest

from benchmarks import early_stop as bench
from greenknobs.search import records as rec
from tests.search._simulated import run_simulated
from tests.search.test_early_stop import BAD, CHEAP, SLOW, by_changes, task


def test_monitored_counts_what_safe_would_save_the_oracle_bound_and_false_stops(tmp_path):
    t = task()
    ctx = run_simulated(tmp_path, t, n_trials=6, enqueue=[dict(BAD), dict(SLOW), dict(CHEAP)], early_stop="monitor")
    journal = Path(ctx.spec.storage.removeprefix("journal:"))
    bench.monitored(argparse.Namespace(journals=[journal], out=tmp_path / "out", suffix=""))
    with (tmp_path / "out" / "early_stop_monitored.csv").open() as fh:
        (row,) = list(csv.DictReader(fh))
    trials = {k: v for k, v in by_changes(t, ctx).items()}
    bad = trials[BAD]
    # What safe replays: BAD stopped (hopeless at 50%), SLOW and CHEAP run on.
    (stop,) = [r for r in rec.replay(ctx.study.get_trials(), rec.noise_floor(ctx.study), "safe") if r.stop]
    assert stop.trial == bad.number and int(row["safe_stops"]) == 1 and int(row["safe_false_stops"]) == 0
    total = sum(rec.spent_j(x) for x in ctx.study.get_trials())
    saved = sum(r.energy_j for r in rec.runs_of(bad)) - stop.spent_j
    assert float(row["safe_total_j"]) == pytest.approx(total - saved, abs=0.1)
    # The oracle stops every infeasible search run at its first report: BAD only here, and earlier than safe did.
    oracle = sum(r.energy_j for r in rec.runs_of(bad)) - rec.curve_of(bad)[0].energy_j
    assert float(row["oracle_cut_vs_off"]) == pytest.approx(oracle / float(row["off_total_j"]), abs=1e-4)
    assert float(row["oracle_cut_vs_off"]) > float(row["safe_cut_vs_off"]) > 0
