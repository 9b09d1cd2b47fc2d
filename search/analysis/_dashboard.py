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


def make_dashboard_server(storage: Any, host: str, port: int) -> WSGIServer:
    """Bind first, so a taken or unbindable address is a one-line error before anything is served."""
    from optuna_dashboard import wsgi

    check_port(port)
    try:
        server_class = _Server6 if ":" in host else WSGIServer
        return make_server(host, port, wsgi(storage), server_class=server_class, handler_class=_QuietHandler)
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
    server = make_dashboard_server(study._storage, host, port)
    try:
        if push:
            ids = push_figures(study)
            print(f"pushed {len(ids)} figures into study '{study.study_name}' (a snapshot: run `greenknobs dashboard` "
                  "again to refresh them)", file=stream, flush=True)
        shown = f"[{host}]" if ":" in host else host
        print(f"optuna-dashboard on http://{shown}:{server.server_port}/dashboard — Ctrl-C to stop", file=stream, flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("dashboard stopped", file=stream, flush=True)
    finally:
        server.server_close()
