"""The `greenknobs` command line: one module per command, each a thin layer over the library."""

from greenknobs.search.cli._main import build_parser, main, _quiet_libraries as quiet_libraries

__all__ = [
    "build_parser", "main", "quiet_libraries",
]
