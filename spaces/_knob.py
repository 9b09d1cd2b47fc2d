"""The knob declaration: everything the space, the CLI listing, config validation, export and report read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

PHASES = ("data", "model", "training", "system", "inference")
KINDS = ("categorical", "bool", "int", "float")


@dataclass(frozen=True)
class Condition:
    """A knob that only means something for some values of another knob (LoRA rank only under LoRA)."""

    parent: str
    values: tuple[Any, ...] = ()
    predicate: Callable[[Any], bool] | None = None
    text: str = ""

    def holds(self, parent_value: Any) -> bool:
        if self.predicate is not None:
            return bool(self.predicate(parent_value))
        return parent_value in self.values

    def describe(self) -> str:
        if self.text:
            return self.text
        return f"{self.parent} in {{{', '.join(map(str, self.values))}}}"


@dataclass(frozen=True)
class Knob:
    """One efficiency knob. `needs` names hardware capabilities the knob needs for any non-baseline value;
    `value_needs` names those that single values need (fp16 needs CUDA, fp32 needs nothing)."""

    name: str
    phase: str
    kind: str
    baseline: Any
    help: str
    choices: tuple[Any, ...] = ()
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    unit: str = ""
    needs: frozenset[str] = frozenset()
    value_needs: Mapping[Any, frozenset[str]] = field(default_factory=dict)
    condition: Condition | None = None
    # Domain parts that depend on the machine or the task (the GPU's power range, the model's layer count).
    resolve: Callable[[Any, Any], dict[str, Any]] | None = None
    # Where the knob's joules go, for strategies that must choose what to measure first (the cascade's screening):
    # the pipeline phases whose energy it changes, and which values are expected to be cheaper — "low", "high",
    # or values most-saving first; () when no value is expected to save (gradient checkpointing trades compute
    # for memory). A guess only orders the screening; every value is still measured.
    moves: frozenset[str] = frozenset()
    cheaper: Any = None

    def __post_init__(self) -> None:
        assert self.phase in PHASES, self.phase
        assert self.kind in KINDS, self.kind

    def resolved(self, hardware: Any, task_info: Any) -> Knob:
        if self.resolve is None:
            return self
        return replace(self, resolve=None, **self.resolve(hardware, task_info))

    @property
    def values(self) -> tuple[Any, ...]:
        if self.kind == "bool":
            return (False, True)
        return self.choices

    def domain_text(self) -> str:
        if self.kind in ("categorical", "bool"):
            return "{" + ", ".join(_fmt(v) for v in self.values) + "}"
        text = f"[{_fmt(self.low)}, {_fmt(self.high)}]"
        if self.step is not None:
            text += f" step {_fmt(self.step)}"
        if self.log:
            text += " log"
        return text

    def contains(self, value: Any) -> bool:
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "categorical":
            return any(value == c and type(value) is type(c) or _same_number(value, c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not float(value).is_integer():
            return False
        return self.low <= value <= self.high

    def coerce(self, value: Any) -> Any:
        """TOML gives 1 for 1.0 and vice versa; normalise to the declared type before comparing."""
        if self.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if self.kind == "int" and isinstance(value, float) and value.is_integer():
            return int(value)
        if self.kind == "categorical":
            for c in self.choices:
                if _same_number(value, c):
                    return c
        return value


def _same_number(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
