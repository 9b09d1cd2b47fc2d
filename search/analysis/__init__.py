"""What a study found, for people: status, export, report, figures, the dashboard, the knob listing."""

from greenknobs.search.analysis._dashboard import push_figures, serve
from greenknobs.search.analysis._export import export_pareto
from greenknobs.search.analysis._knobs import knob_rows
from greenknobs.search.analysis._report import build_report
from greenknobs.search.analysis._status import status_text, study_status

__all__ = ["build_report", "export_pareto", "knob_rows", "push_figures", "serve", "status_text", "study_status"]
