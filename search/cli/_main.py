"""greenknobs: find the energy-cheapest way to fine-tune a transformer classifier that is still good.

A thin command layer: each command lives in `cli/_<name>.py` as `add_parser` + `run`, over library functions that
work the same from Python."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from greenknobs._errors import GreenknobsError

COMMANDS = ("trial", "knobs", "run", "worker", "status", "export", "report", "confirm", "dashboard")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for every other bad input
        self.exit(2, f"greenknobs: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="greenknobs", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"greenknobs {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"greenknobs.search.cli._{name}")
        except ModuleNotFoundError as err:
            if err.name != f"greenknobs.search.cli._{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def _version() -> str:
    from greenknobs import __version__

    return __version__


def _quiet_libraries() -> None:
    """Our progress lines say what is happening; library banners, progress bars and deprecation chatter do not."""
    import logging
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
    warnings.filterwarnings("ignore", message=".*ExperimentalWarning.*")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    _quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except GreenknobsError as err:
        print(f"greenknobs: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("greenknobs: interrupted", file=sys.stderr)
        return 130
