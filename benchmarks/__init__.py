"""The benchmarks: scripts run from the repository root as `python -m benchmarks.NAME` (see benchmarks/README.md);
not part of the installed package."""
