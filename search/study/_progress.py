"""Progress lines on stderr: which trial, which phase, which epoch — long work shows it is alive."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class ProgressPrinter:
    def __init__(self, stream: TextIO | None = None, prefix: str = "") -> None:
        self.stream = stream or sys.stderr
        self.prefix = prefix
        self.phase = ""
        self._phase_started = time.perf_counter()
        self._last_step_print = 0.0

    def __call__(self, event: str, **info: Any) -> None:
        now = time.perf_counter()
        if event == "phase":
            self.phase = info["phase"]
            self._phase_started = now
            self._print(f"{info['phase']} …")
        elif event == "epoch":
            self._print(f"training epoch {info['epoch']}/{info['epochs']} done · mean loss {info['loss']:.4f} "
                        f"· {now - self._phase_started:.0f} s")
        elif event == "step" and now - self._last_step_print > 15:
            self._last_step_print = now
            self._print(f"training step {info['step']}/{info['steps']} · loss {info['loss']:.4f}")

    def _print(self, text: str) -> None:
        print(f"{self.prefix}{text}", file=self.stream, flush=True)
