"""The study's progress line: training runs done of those planned (and configuration runs measured, where trained
models were served again), time left (an estimate, from the pace so far) and the joules
spent so far, labelled as the meter measures them. On the simulated pipeline."""

from __future__ import annotations

import re

from greenknobs.search import records as rec
from tests.search._simulated import Task, level, run_simulated

LINE = re.compile(r"^\[(\d+)/(\d+) training runs(?: \((\d+) configuration runs measured\))? · (.+?) · ([\d,]+) J "
                  r"spent so far \((\w+)\)\] trial (\d+) (.*)$")


def test_each_trial_line_says_runs_time_left_and_joules_so_far(tmp_path, capsys):
    half = level(max_length=64)
    serve = level(infer_batch_size=64)  # serves the baseline's kept models: measured, not trained
    ctx = run_simulated(tmp_path, Task(effects={half: (0.5, 0.0), serve: (0.9, 0.0)}, energy_sd=0.02), n_trials=6,
                        enqueue=[dict(half), dict(serve)], show_progress=True)
    lines = [m for m in map(LINE.match, capsys.readouterr().err.splitlines()) if m]
    started = [m for m in lines if m.group(8).endswith("started")]
    finished = [m for m in lines if not m.group(8).endswith("started")]
    assert started and finished and all(m.group(2) == "6" and m.group(6) == "simulated" for m in lines)
    first = lines[0]  # nothing ran yet: no pace to estimate from, nothing spent
    assert (first.group(1), first.group(4), first.group(5)) == ("0", "time left: estimated after the first run", "0")
    middle = [m for m in finished if 0 < int(m.group(1)) < 6]
    assert middle and all(re.fullmatch(r"about \d+ (s|min|h) left \(estimated: \d+ (s|min|h) a run so far\)",
                                       m.group(4)) for m in middle)
    spent = [int(m.group(5).replace(",", "")) for m in finished]
    assert spent == sorted(spent) and spent[0] > 0  # joules only grow
    last = finished[-1]
    assert last.group(1) == "6" and last.group(4) == "no runs left"
    # The serving variant's 3 runs are measured and counted apart from the training runs.
    measured = sum(rec.measured_runs(t) for t in ctx.study.get_trials())
    assert last.group(3) is not None and int(last.group(3)) == measured >= 6 + 3
    total = sum(rec.spent_j(t) for t in ctx.study.get_trials())
    assert int(last.group(5).replace(",", "")) == round(total)
