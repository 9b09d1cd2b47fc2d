"""`dashboard`: push greenknobs' figures into the study, then serve optuna-dashboard over its storage."""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import optuna
import plotly.graph_objects as go

from greenknobs._errors import GreenknobsError
from greenknobs.search.analysis._figures import hypervolume_figure, pareto_figure, phase_energy_figure
from greenknobs.search.records import constraint_values, satisfies_constraints, storage_of

# Stable ids: optuna-dashboard keys a pushed figure by id (study system attrs "dashboard:plot_data:<id>:<chunk>"),
# so pushing again overwrites these three instead of adding copies.
FIGURES: dict[str, Callable[[optuna.Study], go.Figure]] = {
    "greenknobs-pareto": pareto_figure,
    "greenknobs-hypervolume": hypervolume_figure,
    "greenknobs-phase-energy": phase_energy_figure,
}


def push_figures(study: optuna.Study) -> list[str]:
    """Save the three figures into the study (a snapshot: push again to refresh); returns their ids."""
    from optuna_dashboard import save_plotly_graph_object

    return [save_plotly_graph_object(study, build(study), graph_object_id=gid) for gid, build in FIGURES.items()]


def check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise GreenknobsError(f"--port {port} is out of range: use a port from 1 to 65535, e.g. 8080")


class _Server6(WSGIServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the dashboard polls; no line per request
        pass


# -- optuna-dashboard, made to respect the study's constraints ---------------------------------------------------
# optuna-dashboard 0.21 ignores Optuna 5's named constraints (`constraints:<name>` system attrs) in two places:
#   1. Best Trials: `_app.get_study_detail` takes a multi-objective study's best trials from
#      `_app.get_pareto_front_trials(trials=..., directions=...)`, a front over every COMPLETE trial, feasible or
#      not (optuna_dashboard/_app.py:273, function in _pareto_front.py). The page's Best Trials card and the
#      "Best Trial" marks in the trial list show that list as sent.
#   2. Greying: `_serializer.serialize_frozen_trial` sends each trial's `constraints` as the legacy list
#      `system_attrs.get("constraints", [])` (_serializer.py:245), empty for an Optuna 5 trial, so the page counts
#      every trial feasible: the Pareto-front chart marks infeasible trials as best, the History chart's best line
#      follows them.
# Both are module globals looked up at each request, so wrapping them fixes every storage at once (journal, SQLite,
# PostgreSQL) and studies stored before greenknobs knew of this. The wrappers read constraints with Optuna's own
# reader (`FrozenTrial.constraints`): the dashboard then agrees with `study.best_trials`. They change nothing for a
# study without constraints. tests/search/test_dashboard_constraints.py fails if these names move or stop being used.
_WRAPPED = "_greenknobs_feasibility_aware"


def _feasible_front(front: Callable[..., list]) -> Callable[..., list]:
    def feasible_pareto_front_trials(trials: Any, directions: Any) -> list:
        done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        if any(constraint_values(t) for t in done):  # a constrained study: the front of its feasible trials only
            done = [t for t in done if satisfies_constraints(t)]
        return front(trials=done, directions=directions)

    feasible_pareto_front_trials.__wrapped__ = front  # type: ignore[attr-defined]
    setattr(feasible_pareto_front_trials, _WRAPPED, True)
    return feasible_pareto_front_trials


def _with_constraint_list(serialize: Callable[..., dict]) -> Callable[..., dict]:
    def serialize_frozen_trial(study_id: int, trial: Any, study_system_attrs: dict[str, Any]) -> dict[str, Any]:
        serialized = serialize(study_id, trial, study_system_attrs)
        serialized["constraints"] = constraint_values(trial)
        return serialized

    serialize_frozen_trial.__wrapped__ = serialize  # type: ignore[attr-defined]
    setattr(serialize_frozen_trial, _WRAPPED, True)
    return serialize_frozen_trial


def make_dashboard_feasibility_aware() -> bool:
    """Wrap the two places above (once per process; idempotent). False when the installed optuna-dashboard no
    longer has them: it is then served as it is, and `serve` says that its own views may show infeasible trials."""
    from optuna_dashboard import _app, _serializer

    front = getattr(_app, "get_pareto_front_trials", None)
    serialize = getattr(_serializer, "serialize_frozen_trial", None)
    if not callable(front) or not callable(serialize):
        return False
    if not getattr(front, _WRAPPED, False):
        _app.get_pareto_front_trials = _feasible_front(front)
    if not getattr(serialize, _WRAPPED, False):
        _serializer.serialize_frozen_trial = _with_constraint_list(serialize)
    return True


def make_dashboard_server(storage: Any, host: str, port: int) -> WSGIServer:
    """Bind first, so a taken or unbindable address is a one-line error before anything is served.
    The server's `feasibility_aware` says whether optuna-dashboard's own views were made to respect constraints."""
    from optuna_dashboard import wsgi

    check_port(port)
    aware = make_dashboard_feasibility_aware()
    try:
        server_class = _Server6 if ":" in host else WSGIServer
        server = make_server(host, port, wsgi(storage), server_class=server_class, handler_class=_QuietHandler)
        server.feasibility_aware = aware  # type: ignore[attr-defined]
        return server
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise GreenknobsError(f"port {port} on {host} is already in use: pass another --port, e.g. {port + 1}") from None
        if isinstance(err, socket.gaierror) or err.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            raise GreenknobsError(f"cannot listen on {host}:{port} ({err.strerror or err}): "
                                  "use --host 127.0.0.1 or a port above 1024") from None
        raise GreenknobsError(f"cannot listen on {host}:{port} ({err}): pass another --host / --port") from None


def serve(study: optuna.Study, host: str = "127.0.0.1", port: int = 8080, push: bool = True,
          stream: Any = None) -> None:
    """Serve the dashboard for `study`'s storage until interrupted."""
    stream = stream or sys.stdout
    server = make_dashboard_server(storage_of(study), host, port)
    try:
        if push:
            ids = push_figures(study)
            print(f"pushed {len(ids)} figures into study '{study.study_name}' (a snapshot: run `greenknobs dashboard` "
                  "again to refresh them)", file=stream, flush=True)
        if not getattr(server, "feasibility_aware", True):
            import optuna_dashboard

            print(f"warning: optuna-dashboard {optuna_dashboard.__version__} is not the 0.21 greenknobs adapts, so its "
                  "own Best Trials and Pareto-front chart may show infeasible trials (greenknobs' figures are right); "
                  "pip install 'optuna-dashboard==0.21.0'", file=stream, flush=True)
        shown = f"[{host}]" if ":" in host else host
        print(f"optuna-dashboard on http://{shown}:{server.server_port}/dashboard — Ctrl-C to stop", file=stream, flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("dashboard stopped", file=stream, flush=True)
    finally:
        server.server_close()
