"""Plotly figures of a study: the front, hypervolume over trials, joules per phase. Shared by `dashboard` (pushed into
the study) and the report. Figures hold data only; whoever writes HTML inlines plotly.js (`figure_html`), never a CDN."""

from __future__ import annotations

import optuna
import plotly.graph_objects as go

from greenknobs.objectives import PIPELINE_PHASES
from greenknobs.search._front import (
    energy_label, hypervolume_history, hypervolume_reference, is_estimated, min_f1_retention, pareto_rows,
    phase_energy_rows,
)

__all__ = ["figure_html", "hypervolume_figure", "hypervolume_history", "pareto_figure", "pareto_rows",
           "phase_energy_figure", "phase_energy_rows"]

_STYLE = {  # category -> (legend name, marker)
    "infeasible": ("infeasible (F1 below the floor, or degenerate)", dict(color="#bbbbbb", symbol="x", size=8)),
    "feasible": ("feasible, dominated", dict(color="#6baed6", symbol="circle", size=9)),
    "pareto": ("Pareto set", dict(color="#d62728", symbol="diamond", size=12, line=dict(width=1, color="black"))),
    "confirm": ("confirm repeat", dict(color="#9467bd", symbol="circle-open", size=10)),
    "baseline": ("baseline (trial 0)", dict(color="black", symbol="star", size=16, line=dict(width=1, color="gold"))),
}
_PHASE_COLORS = {"data": "#8c564b", "model": "#7f7f7f", "training": "#ff7f0e", "inference": "#2ca02c"}


def _category(row: dict) -> str:
    if row["baseline"]:
        return "baseline"
    if row["role"] == "confirm":
        return "confirm"
    if row["pareto"]:
        return "pareto"
    return "feasible" if row["feasible"] else "infeasible"


def _hover(row: dict) -> str:
    changed = ", ".join(f"{k}={v}" for k, v in row["changed"].items()) or "all knobs at baseline"
    parts = [f"trial {row['trial']} ({row['role']})", f"{row['energy_j']:,.1f} J ({row['energy_source']})",
             f"F1 {row['f1']:.4f}"]
    if row["energy_reduction_pct"] is not None:
        parts.append(f"{row['energy_reduction_pct']:+.1f}% energy saved, {row['f1_retention_pct']:.1f}% F1 kept")
    if row["degenerate"]:
        parts.append("degenerate")
    parts.append(changed)
    return "<br>".join(parts)


def _empty(fig: go.Figure, text: str) -> go.Figure:
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


def pareto_figure(study: optuna.Study) -> go.Figure:
    """Every complete trial in (joules, F1): baseline, Pareto set, feasible and infeasible marked apart."""
    rows = pareto_rows(study)
    fig = go.Figure()
    title = f"{study.study_name}: energy vs F1" + (" — energy estimated from CPU and wall time" if is_estimated(study) else "")
    fig.update_layout(title=title, xaxis_title=energy_label(study), yaxis_title="F1 (higher is better)",
                      legend_title_text="trial", template="plotly_white")
    if not rows:
        return _empty(fig, "no complete trial yet")
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["energy_j"])
    if len(front) > 1:  # the attainment line: what the front guarantees between its points
        fig.add_trace(go.Scatter(x=[r["energy_j"] for r in front], y=[r["f1"] for r in front], mode="lines",
                                 line=dict(shape="hv", color=_STYLE["pareto"][1]["color"], dash="dot"),
                                 name="Pareto front", hoverinfo="skip"))
    for cat in ("infeasible", "feasible", "confirm", "pareto", "baseline"):
        chosen = [r for r in rows if _category(r) == cat]
        if not chosen:
            continue
        name, marker = _STYLE[cat]
        fig.add_trace(go.Scatter(
            x=[r["energy_j"] for r in chosen], y=[r["f1"] for r in chosen], mode="markers", name=name, marker=marker,
            text=[_hover(r) for r in chosen], hovertemplate="%{text}<extra></extra>",
            customdata=[r["trial"] for r in chosen],
        ))
    base = next((r for r in rows if r["baseline"]), None)
    retention = min_f1_retention(study)
    if base is not None and retention:
        fig.add_hline(y=base["f1"] * retention, line_dash="dash", line_color="#999999",
                      annotation_text=f"F1 floor: {100 * retention:.0f}% of the baseline", annotation_position="bottom right")
    return fig


def hypervolume_figure(study: optuna.Study) -> go.Figure:
    """Hypervolume of the feasible set after each finished trial, reference (baseline joules, F1 = 0)."""
    history = hypervolume_history(study)
    ref = hypervolume_reference(study)
    unit = "J·F1, estimated joules" if is_estimated(study) else "J·F1"
    fig = go.Figure()
    fig.update_layout(
        title=f"{study.study_name}: hypervolume of the feasible set"
              + (f" (reference: baseline {ref[0]:,.1f} J, F1 0)" if ref else ""),
        xaxis_title="trial number", yaxis_title=f"hypervolume ({unit})", template="plotly_white", showlegend=False,
    )
    if not history:
        return _empty(fig, "no baseline yet: the reference point is the baseline's joules")
    fig.add_trace(go.Scatter(
        x=[h["trial"] for h in history], y=[h["hypervolume"] for h in history], mode="lines+markers",
        line=dict(shape="hv"), customdata=[100 * h["share"] for h in history],
        hovertemplate="after trial %{x}: %{y:,.2f}<br>%{customdata:.1f}% of the box under the baseline<extra></extra>",
    ))
    return fig


def phase_energy_figure(study: optuna.Study) -> go.Figure:
    """Stacked joules per pipeline phase for the baseline and each Pareto trial: where the savings come from."""
    rows = phase_energy_rows(study)
    fig = go.Figure()
    fig.update_layout(title=f"{study.study_name}: energy by phase, baseline and Pareto set", barmode="stack",
                      xaxis_title="trial", yaxis_title=energy_label(study), template="plotly_white",
                      legend_title_text="phase")
    if not rows:
        return _empty(fig, "no baseline or Pareto trial yet")
    labels = [r["label"] for r in rows]
    for phase in PIPELINE_PHASES:
        fig.add_trace(go.Bar(x=labels, y=[r["phase_energy_j"][phase] for r in rows], name=phase,
                             marker_color=_PHASE_COLORS.get(phase),
                             hovertemplate=f"{phase}: %{{y:,.1f}} J<extra>%{{x}}</extra>"))
    fig.add_trace(go.Scatter(x=labels, y=[r["energy_j"] for r in rows], mode="text", showlegend=False,
                             text=[f"F1 {r['f1']:.3f}" for r in rows], textposition="top center", hoverinfo="skip"))
    return fig


def figure_html(fig: go.Figure) -> str:
    """A self-contained HTML fragment: plotly.js inlined, so the file opens offline."""
    return fig.to_html(full_html=False, include_plotlyjs=True)
