"""`greenknobs dashboard` seen in a real browser: headless Chromium (Debian's package, installed by .ci/run) opens
the study page the command serves and reads what it drew: greenknobs' figures, optuna-dashboard's Best Trials card
and Pareto-front chart, the objective names. The study is a copy of the finished smoke study with one trial added
that is infeasible and non-dominated (the fewest joules, a collapsed F1), so that a dashboard which ignores the
constraints would list it in Best Trials, whatever the smoke run happened to find, and one user attribute of the
study's own (what a user may set), which the Study User Attributes table must show."""

from __future__ import annotations

import importlib.util
import shutil
import warnings

import optuna
import plotly.io
import pytest
from optuna.trial import TrialState

from greenknobs.search import records as rec
from greenknobs.search.records import metric_names, satisfies_constraints, set_constraints
from tests import _browser as shot  # the screenshot tool's client: the test drives the same code

CHROMIUM = shot.find_chromium()
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium to drive: .ci/run installs Debian's `chromium` (apt-get "
                                                "install chromium), or set GREENKNOBS_CHROMIUM to a Chrome binary"),
    pytest.mark.skipif(importlib.util.find_spec("websocket") is None,
                       reason="websocket-client is not installed: pip install -e '.[test]'"),
]


A_USER_ATTR = ("owner", "set by the test")  # a user's own study attribute: the table shows it as it is


def _complete(study) -> list:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _add_infeasible_front_trial(study) -> int:
    """A trial that costs less energy than any other (so nothing dominates it) and keeps a fraction of the F1:
    stored as greenknobs stores a degenerate trial, constraints through `set_constraints`."""
    done = _complete(study)
    template = done[-1]  # trial 0 is the baseline; copy a searched one
    energy = min(t.values[0] for t in done) / 10
    f1 = min(t.values[1] for t in done) / 2
    trial = study.ask()
    for key, value in template.user_attrs.items():
        trial.set_user_attr(key, value)
    for key, value in {"energy_j": energy, "f1": f1, "degenerate": True, "degenerate_reason": "added by the test",
                       rec.ROLE: "search"}.items():
        trial.set_user_attr(key, value)
    set_constraints(trial, {"f1_retention": 0.5, "degenerate": 1.0})
    study.tell(trial, [energy, f1])
    return trial.number


@pytest.fixture(scope="module")
def browsed(smoke_study, tmp_path_factory):
    """The copy served by `greenknobs dashboard` and drawn in Chromium: (study, injected trial, API detail,
    page snapshot, screenshot path, dashboard log)."""
    from greenknobs.search.study import load_study

    folder = tmp_path_factory.mktemp("dashboard-browser")
    journal = folder / "copy.journal"
    shutil.copy(smoke_study.storage.removeprefix("journal:"), journal)
    storage = f"journal:{journal}"
    study = load_study("smoke", storage)
    injected = _add_infeasible_front_trial(study)
    study.set_user_attr(*A_USER_ATTR)
    base_attrs = study.trials[0].user_attrs  # the baseline: trial 0
    with warnings.catch_warnings():  # set_metric_names is "experimental" in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(metric_names(base_attrs["energy_source"], base_attrs["f1_kind"], "validation"))

    png, log = folder / "dashboard.png", folder / "dashboard.log"
    with shot.dashboard(smoke_study.study_file, storage=storage, log=log) as base:
        study_id, _ = shot.study_page(base, "smoke")
        detail = shot.get_json(f"{base}/api/studies/{study_id}")
        snapshot = shot.capture(base, "smoke", png, binary=CHROMIUM, timeout=120)
    return load_study("smoke", storage), injected, detail, snapshot, png, log


def test_page_draws_greenknobs_figures(browsed):
    _, _, detail, snapshot, _, log = browsed
    assert "pushed 3 figures" in log.read_text()
    pushed = {g["id"]: plotly.io.from_json(g["graph_object"]) for g in detail["plotly_graph_objects"]}
    for gid in shot.FIGURE_IDS:
        drawn = snapshot["figures"][gid]
        assert drawn["drawn"], f"{gid} not drawn"
        assert drawn["title"] == pushed[gid].layout.title.text  # the pushed figure, as greenknobs made it
        assert drawn["traces"] == len(pushed[gid].data) > 0


def test_best_trials_card_lists_only_feasible_trials(browsed):
    study, injected, detail, snapshot, _, _ = browsed
    front = sorted(t.number for t in study.best_trials)  # Optuna's answer: the feasible front
    assert injected not in snapshot["best_trials"], f"infeasible trial {injected} shown in Best Trials"
    assert sorted(snapshot["best_trials"]) == front
    assert all(satisfies_constraints(study.trials[n]) for n in snapshot["best_trials"])
    assert sorted(t["number"] for t in detail["best_trials"]) == front  # the API the page read agrees


def test_pareto_front_chart_greys_out_the_infeasible_trials(browsed):
    study, injected, _, snapshot, _, _ = browsed
    greyed = shot.infeasible_points(snapshot)
    infeasible = [t for t in _complete(study) if not satisfies_constraints(t)]
    assert tuple(study.trials[injected].values) in greyed
    assert sorted(greyed) == sorted(tuple(t.values) for t in infeasible)
    best = [(x, y) for t in snapshot["pareto_chart"] if "Best Trial" in (t["hovertemplate"] or "")
            for x, y in zip(t["x"], t["y"])]
    assert best and tuple(study.trials[injected].values) not in best


def test_history_chart_best_line_follows_feasible_trials_only(browsed):
    study, _, _, snapshot, _, _ = browsed
    line = next(t for t in snapshot["history_chart"] if (t["name"] or "").startswith("Best Value"))
    feasible = [t.values[0] for t in _complete(study) if satisfies_constraints(t)]
    assert min(line["y"]) == pytest.approx(min(feasible))  # energy: the cheapest feasible trial, not the injected one


def test_objective_names_carry_unit_and_source(browsed):
    study, _, detail, snapshot, _, _ = browsed
    names = study.metric_names
    assert names[0].startswith("energy (J, ") and names[1].endswith("(validation)")
    assert detail["objective_names"] == names
    shown = snapshot["text"] + "\n" + snapshot["svg_text"]
    assert all(name in shown for name in names), f"{names} not on the page"


def test_study_user_attributes_table_holds_no_internal_record(browsed):
    """optuna-dashboard draws a study's user attributes as a table of raw values: greenknobs' own records (spec,
    meter, confirmation, GPU power caps) are system attributes, and what people read is in the study's note."""
    from greenknobs.search.study import CONFIRMED_ATTR

    _, _, detail, snapshot, _, _ = browsed
    table = snapshot["study_user_attrs"]
    assert table is not None, "no Study User Attributes card on the page"
    served = {a["key"]: a["value"] for a in detail["user_attrs"]}  # what the page's table is drawn from
    shown = dict(table["rows"])
    assert shown == served and A_USER_ATTR in shown.items()  # every row on the first page, the test's own read back
    internal = {rec.SPEC_ATTR, rec.METER_ATTR, CONFIRMED_ATTR}
    raw = {k: v for k, v in shown.items() if k in internal or k.startswith(("greenknobs.", "power_cap:"))
           or v.lstrip().startswith(("{", "["))}
    assert not raw, f"internal records in the Study User Attributes table: {sorted(raw)}"


def test_screenshot_is_a_non_blank_png(browsed):
    import numpy as np
    from PIL import Image

    png = browsed[4]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as img:
        pixels = np.asarray(img.convert("RGB"))
    height, width, _ = pixels.shape
    assert width >= 1000 and height >= 1000
    rgb = pixels.astype(np.uint32)
    colours = len(np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]))
    non_white = (pixels.min(axis=2) < 240).mean()
    # The app bar alone on a white page would be ~3% non-white; the drawn study page is ~8%.
    assert colours > 50 and non_white > 0.04, f"{colours} colours, {non_white:.1%} non-white"
