"""What a study found, for people: status, export, report, figures, the dashboard and its notes, the knob listing."""

from greenknobs.search.analysis._break_even import break_even, study_spend_j
from greenknobs.search.analysis._dashboard import FIGURES, check_port, push_figures, serve
from greenknobs.search.analysis._export import MARKER, export_pareto
from greenknobs.search.analysis._front import hypervolume_2d, hypervolume_history
from greenknobs.search.analysis._knobs import knob_rows
from greenknobs.search.analysis._notes import ROLE_TEXT, Notes, confirm_text, note_markdown, study_note
from greenknobs.search.analysis._report import analyse, build_report, report_markdown
from greenknobs.search.analysis._status import status_text, study_status

__all__ = [
    "FIGURES", "MARKER", "Notes", "ROLE_TEXT", "analyse", "break_even", "build_report", "check_port", "confirm_text",
    "export_pareto", "hypervolume_2d", "hypervolume_history", "knob_rows", "note_markdown", "push_figures",
    "report_markdown", "serve", "status_text", "study_note", "study_spend_j", "study_status",
]
