"""Every knob, in phase order. Parents come before the knobs conditioned on them (the space relies on it)."""

from __future__ import annotations

import difflib

from greenknobs._errors import GreenknobsError
from greenknobs.spaces import _data, _inference, _model, _system, _training
from greenknobs.spaces._knob import Knob

KNOBS: tuple[Knob, ...] = (*_data.KNOBS, *_model.KNOBS, *_training.KNOBS, *_system.KNOBS, *_inference.KNOBS)
KNOBS_BY_NAME: dict[str, Knob] = {k.name: k for k in KNOBS}
assert len(KNOBS_BY_NAME) == len(KNOBS), "a knob name is declared twice"


def get_knob(name: str, where: str = "") -> Knob:
    try:
        return KNOBS_BY_NAME[name]
    except KeyError:
        raise GreenknobsError(unknown_knob_message(name, where)) from None


def unknown_knob_message(name: str, where: str = "") -> str:
    close = difflib.get_close_matches(name, KNOBS_BY_NAME, n=1)
    hint = f"did you mean '{close[0]}'?" if close else "run `greenknobs knobs` for the list"
    return f"unknown knob '{name}'{' in ' + where if where else ''}: {hint}"
