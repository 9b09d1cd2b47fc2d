"""The search space: knob declarations resolved for one machine and one task, narrowed by a study."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from greenknobs._errors import GreenknobsError
from greenknobs.spaces._hardware import Hardware
from greenknobs.spaces._knob import Knob, _fmt
from greenknobs.spaces._registry import KNOBS, get_knob


@dataclass(frozen=True)
class TaskInfo:
    """What the space needs to know about a task's models."""

    models: tuple[str, ...]
    min_layers: int
    max_positions: int
    layers: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class KnobStatus:
    knob: Knob  # resolved for this machine and task, all declared values
    applicable_values: tuple[Any, ...]  # categorical/bool values searched here by default ((), for numeric knobs)
    reason: str | None  # why the knob cannot be searched here (None if it can)
    value_reasons: Mapping[Any, str] = field(default_factory=dict)  # values left out, and why
    # Values that run here only at a study's cost (bitsandbytes on a CPU): valid where a study names them
    # ([search.ranges], [fixed], a config file), never searched by default.
    value_costs: Mapping[Any, str] = field(default_factory=dict)


def knob_status(knob: Knob, hardware: Hardware, task: TaskInfo) -> KnobStatus:
    knob = knob.resolved(hardware, task)
    reason = hardware.why_not(knob.needs)
    value_reasons: dict[Any, str] = {}
    value_costs: dict[Any, str] = {}
    values: tuple[Any, ...] = ()
    if knob.kind in ("categorical", "bool"):
        kept = []
        for value in knob.values:
            needs = knob.value_needs.get(value, frozenset())
            why = hardware.why_not(needs)
            cost = hardware.cost_of(needs)
            if why is not None:
                value_reasons[value] = why
            elif cost is not None:
                value_costs[value] = cost
            else:
                kept.append(value)
        values = tuple(kept)
        if reason is None and len(values) < 2:
            reason = "; ".join(sorted(set(value_reasons.values()))) or "only one value applies to this task"
    elif knob.kind == "int" and knob.low == knob.high:
        reason = "only one value applies to this task"
    return KnobStatus(knob, values, reason, value_reasons, value_costs)


def cost_note(status: KnobStatus, applies: str, why: str) -> tuple[str, str]:
    """`greenknobs knobs`' (applies, why) for a knob, adding the values searched here only at a study's cost."""
    if not status.value_costs:
        return applies, why
    notes = []
    for reason in dict.fromkeys(status.value_costs.values()):
        values = [_fmt(v) for v, r in status.value_costs.items() if r == reason]
        them = "them" if len(values) > 1 else "it"
        notes.append(f"{', '.join(values)} searched on CPU at your cost ({reason}): name {them} in [search.ranges] "
                     "or [fixed]")
    return ("partly" if applies == "yes" else applies), "; ".join(([why] if why else []) + notes)


class Space:
    """The knobs a study searches, those it fixes, and the baseline every trial is compared with."""

    def __init__(
        self,
        hardware: Hardware,
        task: TaskInfo,
        search: Iterable[str] | None = None,
        ranges: Mapping[str, Mapping[str, Any]] | None = None,
        fixed: Mapping[str, Any] | None = None,
        baseline: Mapping[str, Any] | None = None,
    ) -> None:
        self.hardware = hardware
        self.task = task
        self.status = {k.name: knob_status(k, hardware, task) for k in KNOBS}
        fixed = dict(fixed or {})
        # A study may name its own unoptimized reference (the original study's 2048 tokens) and still search
        # below it; a knob it fixes has no separate baseline.
        for name, value in (baseline or {}).items():
            get_knob(name, "baseline")
            if name in fixed:
                raise GreenknobsError(f"knob '{name}' is both fixed and given a baseline: a fixed knob is its own baseline, keep one")
            value = self._checked(name, value, "baseline")
            self.status[name] = replace(self.status[name], knob=replace(self.status[name].knob, baseline=value))
        self.knobs = {name: st.knob for name, st in self.status.items()}
        for name in fixed:
            get_knob(name, "fixed")
        self.fixed = {name: self._checked(name, value, "fixed") for name, value in fixed.items()}
        if search is None:
            names = [n for n, st in self.status.items() if st.reason is None and n not in self.fixed]
        else:
            names = list(search)
            for name in names:
                get_knob(name, "search")
                if self.status[name].reason is not None:
                    raise GreenknobsError(
                        f"knob '{name}' cannot be searched on this machine ({self.status[name].reason}): "
                        "remove it from search"
                    )
                if name in self.fixed:
                    raise GreenknobsError(f"knob '{name}' is both searched and fixed: keep it in one of the two")
        self.searched: dict[str, Knob] = {}
        for name in names:
            knob = self.status[name].knob
            if knob.kind in ("categorical", "bool"):
                knob = replace(knob, kind="categorical", choices=self.status[name].applicable_values)
            self.searched[name] = knob
        for name, bounds in (ranges or {}).items():
            self.searched[name] = self._narrow(name, bounds)
        self._drop_never_active(explicit=set(names) if search is not None else set(ranges or {}))
        self._check_fixed_children()

    def check_baseline_inside(self) -> None:
        """For a study: the baseline is its trial 0 and the reference of every verdict, so a narrowed range that
        leaves out its value would fail the first trial (Optuna refuses a fixed value outside a distribution)."""
        base = self.baseline()
        for name, knob in self.searched.items():
            if name in base and not knob.contains(base[name]):
                raise GreenknobsError(
                    f"the baseline's {name} = {base[name]!r} is outside the searched range {knob.domain_text()}: the "
                    f"baseline is the reference every trial is compared with, so add it to [search.ranges] {name}, "
                    f"or set [baseline] {name} to a value inside the range")

    def _drop_never_active(self, explicit: set[str]) -> None:
        """A conditional knob whose parent can never enable it would be a search dimension that changes nothing:
        refused where the study names it, left out where it came with the default (search everything)."""
        for name, knob in list(self.searched.items()):
            cond = knob.condition
            if cond is None:
                continue
            if any(cond.holds(v) for v in self._possible(cond.parent)):
                continue
            if name in explicit:
                raise GreenknobsError(
                    f"knob '{name}' is searched but only applies when {cond.describe()}, which no configuration of "
                    f"this study allows: search or fix {cond.parent} accordingly, or stop searching {name}"
                )
            del self.searched[name]

    def _possible(self, name: str) -> tuple[Any, ...]:
        """The values a knob can take in this study (a numeric range by its ends: conditions test a threshold)."""
        knob = self.searched.get(name)
        if knob is None:
            return (self.fixed.get(name, self.status[name].knob.baseline),)
        return knob.choices if knob.kind == "categorical" else (knob.low, knob.high)

    def _check_fixed_children(self) -> None:
        """A fixed conditional knob holds wherever its parent enables it (a fixed drop_from under a searched
        drop_layers); one that no configuration enables would be a silent no-op, and is refused."""
        for name in self.fixed:
            cond = self.status[name].knob.condition
            if cond is None:
                continue
            if not any(cond.holds(v) for v in self._possible(cond.parent)):
                raise GreenknobsError(
                    f"fixed sets '{name}', which only applies when {cond.describe()}, and no configuration of this "
                    f"study has that: remove it from fixed, or search or fix {cond.parent} accordingly"
                )

    # -- values ---------------------------------------------------------------------------------------------
    def _checked(self, name: str, value: Any, where: str) -> Any:
        st = self.status[name]
        knob = st.knob
        value = knob.coerce(value)
        # The machine's reason comes first: a GPU-only knob resolves to a bare domain here ({0} for the power
        # limit), and "outside its domain" would hide why.
        why = self.hardware.why_not(knob.needs) if value != knob.baseline else None
        if why is None and not knob.contains(value):
            raise GreenknobsError(
                f"{where} value {_fmt(value)!s} for knob '{name}' is outside its domain {knob.domain_text()}: "
                "choose a value inside it"
            )
        if why is None and value != knob.baseline:
            why = self.hardware.why_not(knob.value_needs.get(value, frozenset()))
        if why is not None:
            raise GreenknobsError(
                f"{where}: {name} = {_fmt(value)} cannot run on this machine ({why}): "
                f"remove it or use {_fmt(knob.baseline)}"
            )
        return value

    def _narrow(self, name: str, bounds: Mapping[str, Any]) -> Knob:
        if name not in self.searched:
            get_knob(name, "ranges")
            raise GreenknobsError(f"ranges narrow knob '{name}', which is not searched: add it to search or drop the range")
        knob = self.searched[name]
        unknown = set(bounds) - {"choices", "low", "high", "log", "step"}
        if unknown:
            raise GreenknobsError(
                f"range for '{name}' has unknown field(s) {', '.join(sorted(unknown))}: use choices, or low/high/step/log"
            )
        if knob.kind == "categorical":
            if set(bounds) != {"choices"} or not isinstance(bounds["choices"], list) or not bounds["choices"]:
                raise GreenknobsError(f"range for categorical knob '{name}' needs a non-empty list `choices`: e.g. choices = {list(knob.choices[:2])}")
            choices = tuple(self._checked(name, v, f"ranges.{name}") for v in bounds["choices"])
            return replace(knob, choices=choices)
        low = knob.coerce(bounds.get("low", knob.low))
        high = knob.coerce(bounds.get("high", knob.high))
        for v in (low, high):
            if not knob.contains(v):
                raise GreenknobsError(
                    f"range for '{name}' goes outside its domain {knob.domain_text()}: keep low and high inside it"
                )
        if low > high:
            raise GreenknobsError(f"range for '{name}' has low {_fmt(low)} above high {_fmt(high)}: swap them")
        return replace(knob, low=low, high=high, step=bounds.get("step", knob.step), log=bounds.get("log", knob.log))

    def baseline(self) -> dict[str, Any]:
        """Every knob at its baseline, the fixed knobs excepted (a study's fixed knobs hold in its baseline too)."""
        return self.complete({})

    def complete(self, values: Mapping[str, Any], where: str = "config") -> dict[str, Any]:
        """Validate a partial configuration and fill the rest from fixed values and baselines.

        Knobs conditioned on a parent that does not enable them are left out: setting one is an error, since
        it would be a silent no-op."""
        for name in values:
            get_knob(name, where)
        merged = {**self.fixed, **values}
        config: dict[str, Any] = {}
        for name, st in self.status.items():
            knob = st.knob
            cond = knob.condition
            active = cond is None or cond.holds(config.get(cond.parent))
            # A fixed child holds only where its parent enables it (checked once, in __init__); set here by the
            # caller, an inactive knob would be a silent no-op and is refused.
            if name in merged and (active or name in values):
                if not active:
                    raise GreenknobsError(
                        f"{where} sets '{name}', which only applies when {cond.describe()}: remove it or set {cond.parent}"
                    )
                config[name] = self._checked(name, merged[name], where)
            elif active:
                config[name] = knob.baseline
        check_combination(config, self.task)
        return config

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Sample one configuration with Optuna; conditional knobs are suggested only where they mean something."""
        values: dict[str, Any] = {}
        for name, st in self.status.items():
            knob = self.searched.get(name)
            if knob is None:
                continue
            cond = knob.condition
            if cond is not None:
                parent = values.get(cond.parent, self.fixed.get(cond.parent, self.status[cond.parent].knob.baseline))
                if not cond.holds(parent):
                    continue
            values[name] = suggest_value(trial, knob)
        return self.complete(values, "suggested configuration")

    def params_of(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The searched part of a configuration: what Optuna stores as the trial's params."""
        return {k: v for k, v in config.items() if k in self.searched}

    def differences(self, config: Mapping[str, Any]) -> dict[str, Any]:
        base = self.baseline()
        return {k: v for k, v in config.items() if base.get(k, _MISSING) != v}


_MISSING = object()


def suggest_value(trial: Any, knob: Knob) -> Any:
    if knob.kind == "categorical":
        return trial.suggest_categorical(knob.name, list(knob.choices))
    if knob.kind == "int":
        return trial.suggest_int(knob.name, int(knob.low), int(knob.high), step=int(knob.step or 1), log=knob.log)
    return trial.suggest_float(knob.name, float(knob.low), float(knob.high), step=knob.step, log=knob.log)


def check_combination(config: Mapping[str, Any], task: TaskInfo) -> None:
    """Refuse, before any training, combinations that cannot work or would make a knob a silent no-op."""
    model = config.get("model")
    layers = task.layers.get(model, task.min_layers) if model else task.min_layers
    if config.get("drop_layers", 0) >= layers:
        raise GreenknobsError(
            f"drop_layers = {config['drop_layers']} would remove every layer of {model} ({layers} layers): "
            f"choose at most {layers - 1}"
        )
    # This and the precision checks below are conditions of the knobs too (so `complete` and a study's sampler
    # never get here with them); kept for configurations built by hand.
    if config.get("gradient_checkpointing") and config.get("adaptation") == "head":
        raise GreenknobsError(
            "gradient_checkpointing does nothing with adaptation = 'head' (no gradients flow through the encoder): "
            "turn one of them off"
        )
    if config.get("quantization") == "dynamic-int8" and config.get("infer_precision", "fp32") != "fp32":
        raise GreenknobsError(
            "quantization = 'dynamic-int8' needs an fp32 model but infer_precision is "
            f"'{config.get('infer_precision')}': set infer_precision = 'fp32'"
        )
    if str(config.get("quantization", "none")).startswith("bnb-") and config.get("infer_precision", "fp32") != "fp32":
        raise GreenknobsError(
            "bitsandbytes quantization sets its own compute precision: set infer_precision = 'fp32' with "
            f"quantization = '{config.get('quantization')}'"
        )
