"""What a study found, for people: status, export, report, figures, the dashboard, the knob listing."""

from greenknobs.search.analysis._break_even import break_even, study_spend_j
from greenknobs.search.analysis._dashboard import FIGURES, check_port, push_figures, serve
from greenknobs.search.analysis._export import MARKER, export_pareto
from greenknobs.search.analysis._front import hypervolume_2d, hypervolume_history
from greenknobs.search.analysis._knobs import knob_rows
from greenknobs.search.analysis._report import analyse, build_report, report_markdown
from greenknobs.search.analysis._status import status_text, study_status

__all__ = [
    "FIGURES", "MARKER", "analyse", "break_even", "build_report", "check_port", "export_pareto", "hypervolume_2d",
    "hypervolume_history", "knob_rows", "push_figures", "report_markdown", "serve", "status_text", "study_spend_j",
    "study_status",
]
