from __future__ import annotations


def add_parser(sub) -> None:
    from greenknobs.search.cli._run import add_common

    p = sub.add_parser("dashboard", help="push the Pareto, hypervolume and phase-energy figures and serve optuna-dashboard")
    add_common(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    p.add_argument("--no-push", action="store_true", help="serve without (re)saving greenknobs' figures into the study")
    p.set_defaults(handler=run)


def run(args) -> int:
    from greenknobs.search.cli._status import open_existing
    from greenknobs.search.analysis import check_port, serve

    check_port(args.port)
    study = open_existing(args)
    serve(study, host=args.host, port=args.port, push=not args.no_push)
    return 0
