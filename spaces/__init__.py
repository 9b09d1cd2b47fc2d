"""Knobs from the five pipeline phases, declared once, and the search space built from them."""

from greenknobs.spaces._config import ConfigFile, atomic_write_text, load_config_file, read_toml, write_config_file
from greenknobs.spaces._hardware import Hardware, detect as detect_hardware
from greenknobs.spaces._knob import PHASES, Condition, Knob
from greenknobs.spaces._registry import KNOBS, KNOBS_BY_NAME, get_knob
from greenknobs.spaces._space import KnobStatus, Space, TaskInfo, check_combination, knob_status

__all__ = [
    "KNOBS", "KNOBS_BY_NAME", "PHASES", "Condition", "ConfigFile", "Hardware", "Knob", "KnobStatus", "Space",
    "TaskInfo", "atomic_write_text", "check_combination", "detect_hardware", "get_knob", "knob_status",
    "load_config_file", "read_toml", "write_config_file",
]
