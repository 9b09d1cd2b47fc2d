"""Knobs from the five pipeline phases, declared once, and the search space built from them."""

from greenknobs.spaces._config import ConfigFile, atomic_write_text, load_config_file, read_toml, write_config_file
from greenknobs.spaces._hardware import Hardware, detect as detect_hardware
from greenknobs.spaces._knob import Condition, Knob, PHASES, _fmt as format_value
from greenknobs.spaces._registry import KNOBS, KNOBS_BY_NAME, get_knob
from greenknobs.spaces._space import KnobStatus, Space, TaskInfo, check_combination, cost_note, knob_status

__all__ = [
    "Condition", "ConfigFile", "Hardware", "KNOBS", "KNOBS_BY_NAME", "Knob", "KnobStatus", "PHASES", "Space",
    "TaskInfo", "atomic_write_text", "check_combination", "cost_note", "detect_hardware", "format_value", "get_knob",
    "knob_status", "load_config_file", "read_toml", "write_config_file",
]
