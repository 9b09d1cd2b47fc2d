"""The knob listing, read from the declarations (what `greenknobs knobs` prints)."""

from __future__ import annotations

from typing import Any

from greenknobs.objectives import Pipeline, task_from
from greenknobs.spaces import KNOBS, format_value, cost_note


def knob_rows(task: str | None = None) -> list[dict[str, Any]]:
    pipeline = Pipeline(task_from(task), meter=_NoMeter())
    space = pipeline.space()
    rows = []
    for knob in KNOBS:
        st = space.status[knob.name]
        k = st.knob
        if st.reason is not None:
            applies, why = "no", st.reason
        elif st.value_reasons:
            left = ", ".join(format_value(v) for v in st.value_reasons)
            applies, why = "partly", f"{left} left out: {'; '.join(sorted(set(st.value_reasons.values())))}"
        else:
            applies, why = "yes", ""
        applies, why = cost_note(st, applies, why)
        rows.append({
            "name": k.name, "phase": k.phase, "kind": k.kind, "domain": k.domain_text(), "baseline": format_value(k.baseline),
            "unit": k.unit, "applies": applies, "why": why, "help": k.help,
            "condition": k.condition.describe() if k.condition else "",
        })
    return rows


class _NoMeter:
    """Listing knobs measures nothing."""

    source = "none"
    readings: list = []
    description = "no measurement"
    hardware: dict = {}
