"""The `greenknobs` command line: one module per command, each a thin layer over the library."""

from greenknobs.search.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
