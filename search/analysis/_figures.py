"""Every figure of a study, in one place: plotly figures (the front, hypervolume over trials, joules per phase,
single knobs, predicted vs observed cascades) and their matplotlib PNG twins for the report.

The plotly figures are shared by `dashboard` (pushed into the study) and the report. Figures hold data only; whoever
writes HTML inlines plotly.js (`figure_html`, `write_html`), never a CDN. PNGs are drawn with matplotlib (no browser
needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import plotly.graph_objects as go

from greenknobs.objectives import PIPELINE_PHASES
from greenknobs.search.analysis._front import hypervolume_history, hypervolume_reference, pareto_rows, phase_energy_rows
from greenknobs.search.records import energy_label, is_estimated, min_f1_retention, saving_text

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


# -- the report's figures: PNGs (matplotlib) and one offline HTML page -------------------------------------------
_VERDICT_COLORS = {"compounds": "#2ca02c", "synergy": "#1f77b4", "overlap": "#ff7f0e", "conflict": "#d62728",
                   "unknown": "#999999"}
DPI = 130


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server, and no GUI backend import cost
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout(rect=getattr(fig, "_greenknobs_rect", None))
    fig.savefig(path, dpi=DPI)
    _pyplot().close(fig)


def write_pngs(study: optuna.Study, a: dict[str, Any], out: Path) -> list[Path]:
    paths = [out / "pareto.png", out / "phase_energy.png", out / "single_knobs.png", out / "cascade.png"]
    _save(pareto_png(study, a), paths[0])
    _save(phase_png(study), paths[1])
    _save(singles_png(a), paths[2])
    _save(cascade_png(a), paths[3])
    return paths


def pareto_png(study: optuna.Study, a: dict[str, Any]):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.2))
    rows = [r for r in pareto_rows(study) if r["role"] != "confirm"]
    plain = [r for r in rows if r["changed"] or r["pareto"]]  # baseline and its repeats are drawn below
    groups = (("infeasible", lambda r: not r["feasible"], dict(marker="x", color="#aaaaaa", s=40)),
              ("feasible, dominated", lambda r: r["feasible"] and not r["pareto"], dict(marker="o", color="#6baed6", s=40)))
    for label, keep, style in groups:
        chosen = [r for r in plain if keep(r)]
        if chosen:
            ax.scatter([r["energy_j"] for r in chosen], [r["f1"] for r in chosen], label=label, zorder=2, **style)
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["energy_j"])
    if front:
        ax.step([r["energy_j"] for r in front], [r["f1"] for r in front], where="post", color="#d62728", lw=1,
                ls=":", zorder=2)
        ax.scatter([r["energy_j"] for r in front], [r["f1"] for r in front], marker="D", color="#d62728", s=60,
                   edgecolor="black", label="Pareto set", zorder=3)
        confirmed = {p["trial"]: p["confirmed"] for p in a["pareto"] if p["confirmed"]}
        for r in front:
            s = confirmed.get(r["trial"])
            # The confirmation ran on the test split: its verdict labels the point; its F1s are not drawn on this
            # validation axis (another split), and its saving is paired with the baseline's runs at the same seeds.
            label = str(r["trial"])
            if s:
                word = "recommended" if s["recommended"] else "not recommended"
                label += f": {word} ({saving_text(s['saving']['mean'])} on the test split, {len(s['seeds'])} seeds)"
            ax.annotate(label, (r["energy_j"], r["f1"]), xytext=(7, 0), textcoords="offset points", fontsize=8,
                        va="center", color="#d62728" if s and s["recommended"] else "black")
    repeats = [r for r in rows if not r["changed"] and not r["baseline"]]
    if repeats:  # the same configuration as the baseline: how far apart they land is the meter's noise
        ax.scatter([r["energy_j"] for r in repeats], [r["f1"] for r in repeats], marker="*", s=160, facecolor="none",
                   edgecolor="black", label="baseline repeat", zorder=4)
    base = next((r for r in rows if r["baseline"]), None)
    if base is not None:
        ax.scatter([base["energy_j"]], [base["f1"]], marker="*", s=220, color="black", edgecolor="gold",
                   label="baseline (trial 0)", zorder=4)
        floor = a["min_f1_retention"]
        if floor:
            ax.axhline(base["f1"] * floor, color="#999999", ls="--", lw=1, zorder=1)
            ax.annotate(f"F1 floor ({100 * floor:.0f}% of baseline)", (1.0, base["f1"] * floor),
                        xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=8, color="#666666")
    ax.set_xlabel(energy_label(study))
    ax.set_ylabel(f"{a['f1_kind']} F1 (higher is better)")
    title = f"{a['study']}: energy vs F1 on the validation split"
    if any(p["confirmed"] for p in a["pareto"]):
        title += " (labels: the candidates' paired confirmation)"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return fig


def phase_png(study: optuna.Study):
    plt = _pyplot()
    rows = phase_energy_rows(study)
    # The baseline's repeats beside it: where two runs of one configuration differ is where the noise sits.
    repeats = [{**r, "label": f"trial {r['trial']} (baseline repeat)"} for r in pareto_rows(study)
               if not r["changed"] and not r["baseline"] and r["role"] != "confirm"]
    rows = rows[:1] + repeats + rows[1:] if rows and rows[0]["baseline"] else repeats + rows
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.55 * max(1, len(rows))))
    labels = [r["label"] for r in rows]
    left = [0.0] * len(rows)
    for phase in PIPELINE_PHASES:
        values = [r["phase_energy_j"][phase] for r in rows]
        ax.barh(labels, values, left=left, color=_PHASE_COLORS[phase], label=phase)
        left = [x + v for x, v in zip(left, values)]
    for y, r in enumerate(rows):
        ax.annotate(f" {r['energy_j']:,.1f} J · F1 {r['f1']:.3f}", (left[y], y), va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(left, default=1) * 1.35 or 1)
    ax.set_xlabel(energy_label(study))
    ax.set_title("Energy by pipeline phase: baseline runs and Pareto set")
    ax.legend(fontsize=8, ncols=len(PIPELINE_PHASES), loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return fig


def singles_png(a: dict[str, Any]):
    plt = _pyplot()
    singles = a["singles"]
    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.42 * max(1, len(singles))))
    if not singles:
        ax.text(0.5, 0.5, "no trial changes exactly one knob", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    labels = [f"{s['knob']}={s['value']}  (n={s['n']})" for s in singles]
    values = [100 * s["saving"] for s in singles]
    errors = [100 * s["saving_std"] if s["saving_std"] is not None else 0.0 for s in singles]
    colors = ["#2ca02c" if s["feasible"] else "#bbbbbb" for s in singles]
    ax.barh(labels, values, xerr=errors, color=colors, capsize=3)
    tol = 100 * singles[0]["tolerance"]
    ax.axvspan(-tol, tol, color="#999999", alpha=0.15, label=f"within noise (±{tol:.1f} pts)")
    ax.axvline(0, color="black", lw=0.8)
    for y, s in enumerate(singles):
        ax.annotate(f" ΔF1 {s['f1_change']:+.3f}" + ("" if s["feasible"] else " infeasible"),
                    (max(values[y], 0) + errors[y], y), va="center", fontsize=8)
    ax.invert_yaxis()
    lo, hi = min(values + [0]) - 5, max(values + [0]) + 30
    ax.set_xlim(lo, hi)
    ax.set_xlabel("energy saved vs the baseline's mean, % (estimated)" if a["estimated"] else "energy saved, %")
    ax.set_title("Single-knob effects (green: feasible; bars: std over repeats)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return fig


def cascade_png(a: dict[str, Any]):
    plt = _pyplot()
    judged_n = sum(1 for c in a["cascades"] if c["predicted"] is not None)
    fig, ax = plt.subplots(figsize=(7, 6.2 + 0.2 * judged_n))
    judged = [c for c in a["cascades"] if c["predicted"] is not None]
    if not judged:
        ax.text(0.5, 0.5, "no combination whose knobs were\nall measured alone", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    xs = [100 * c["predicted"] for c in judged]
    ys = [100 * c["observed"] for c in judged]
    lo = min(xs + ys + [0]) - 5
    hi = max(xs + ys + [0]) + 5
    ax.plot([lo, hi], [lo, hi], color="black", lw=1, label="observed = predicted (orthogonal)")
    tol = 100 * max(c["tolerance"] for c in judged)
    ax.fill_between([lo, hi], [lo - tol, hi - tol], [lo + tol, hi + tol], color="#999999", alpha=0.15,
                    label=f"within noise (±{tol:.1f} pts, widest)")
    for verdict, color in _VERDICT_COLORS.items():
        chosen = [c for c in judged if c["verdict"] == verdict]
        if chosen:
            ax.scatter([100 * c["predicted"] for c in chosen], [100 * c["observed"] for c in chosen], color=color,
                       s=50, edgecolor="black", label=verdict, zorder=3)
    for c, x, y in zip(judged, xs, ys):
        ax.annotate(str(c["runs"][0]), (x, y), xytext=(6, 0), textcoords="offset points", fontsize=8, va="center")
    # Knob sets are long: listed under the plot by trial number rather than written over the points.
    key = [f"{c['runs'][0]}: " + " + ".join(f"{k}={v}" for k, v in c["changed"].items())
           + (f"  (orthogonality {c['score']:.2f})" if c["score"] is not None else "") for c in judged]
    fig.text(0.02, 0.01, "\n".join(key), fontsize=7.5, va="bottom", ha="left", family="monospace")
    fig._greenknobs_rect = (0, min(0.45, 0.03 + 0.03 * len(key)), 1, 1)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("predicted saving 1 − Π(1 − sᵢ), %")
    ax.set_ylabel("observed saving, %" + (" (estimated energy)" if a["estimated"] else ""))
    ax.set_title("Cascades: predicted vs observed")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return fig


# -- HTML -------------------------------------------------------------------------------------------------------
def write_html(study: optuna.Study, a: dict[str, Any], out: Path) -> Path:
    from plotly.offline import get_plotlyjs


    figures = [pareto_figure(study), hypervolume_figure(study), phase_energy_figure(study), singles_figure(a),
               cascade_figure(a)]
    (out / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
    body = "\n".join(f.to_html(full_html=False, include_plotlyjs=False) for f in figures)
    note = "Energy is estimated from CPU and wall time, not measured." if a["estimated"] else "Energy measured."
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>greenknobs report: {a['study']}</title>"
            "<script src='plotly.min.js'></script></head><body style='font-family:sans-serif'>"
            f"<h1>greenknobs report: {a['study']}</h1><p>{note} The summary is in report.md.</p>{body}</body></html>")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def singles_figure(a: dict[str, Any]):
    s = a["singles"]
    fig = go.Figure(go.Bar(
        x=[100 * r["saving"] for r in s], y=[f"{r['knob']}={r['value']}" for r in s], orientation="h",
        error_x=dict(type="data", array=[100 * (r["saving_std"] or 0) for r in s]),
        marker_color=["#2ca02c" if r["feasible"] else "#bbbbbb" for r in s],
        customdata=[[r["n"], r["f1_change"], r["verdict"]] for r in s],
        hovertemplate="%{y}: %{x:.1f}% saved<br>runs %{customdata[0]} · ΔF1 %{customdata[1]:+.4f}"
                      "<br>%{customdata[2]}<extra></extra>"))
    fig.update_layout(title="Single-knob effects (green: feasible)", template="plotly_white",
                      xaxis_title="energy saved vs the baseline's mean, %" + (" (estimated)" if a["estimated"] else ""),
                      yaxis=dict(autorange="reversed"))
    return fig


def cascade_figure(a: dict[str, Any]):
    judged = [c for c in a["cascades"] if c["predicted"] is not None]
    fig = go.Figure()
    values = [100 * v for c in judged for v in (c["predicted"], c["observed"])] + [0.0]
    lo, hi = min(values) - 5, max(values) + 5
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="observed = predicted",
                             line=dict(color="black")))
    for verdict, color in _VERDICT_COLORS.items():
        chosen = [c for c in judged if c["verdict"] == verdict]
        if chosen:
            fig.add_trace(go.Scatter(
                x=[100 * c["predicted"] for c in chosen], y=[100 * c["observed"] for c in chosen], mode="markers",
                name=verdict, marker=dict(color=color, size=11, line=dict(width=1, color="black")),
                text=[", ".join(f"{k}={v}" for k, v in c["changed"].items()) + f" (trials {c['runs']})" for c in chosen],
                hovertemplate="%{text}<br>predicted %{x:.1f}% · observed %{y:.1f}%<extra></extra>"))
    fig.update_layout(title="Cascades: predicted 1 − Π(1 − sᵢ) vs observed saving", template="plotly_white",
                      xaxis_title="predicted saving, %", yaxis_title="observed saving, %",
                      yaxis=dict(scaleanchor="x"))
    return fig
