"""The warm-up: a process's one-off costs, paid before its first metered trial and metered apart.

Library imports, lazy kernel initialisation and first allocations otherwise land in whichever trial first uses them.
The baseline pays the common ones (seen: 45 J vs 17 J for two runs of the same tiny configuration); the first
8-bit-AdamW, bf16, int8, NF4, QLoRA or compiled trial pays `import bitsandbytes`, inductor's start-up or cold
kernel caches — and that trial is exactly the cascade's single-knob screening trial, whose saving decides what the
search does next. So the warm-up runs a tiny configuration for the baseline and once more for every value with a
first-use cost that the study's space can reach, each on eight training texts of the study's model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from greenknobs.spaces import KNOBS

# knob -> the values whose first use in a process costs imports, kernel start-up or cold caches.
FIRST_USE: dict[str, tuple[Any, ...]] = {
    "attention": ("sdpa",),
    "adaptation": ("lora", "qlora"),
    "gradient_checkpointing": (True,),
    "optimizer": ("adamw-8bit",),
    "train_precision": ("bf16", "fp16"),
    "compile": (True,),
    "pin_memory": (True,),
    "quantization": ("dynamic-int8", "bnb-int8", "bnb-nf4"),
    "infer_precision": ("bf16", "fp16"),
    "infer_compile": (True,),
}
_CHILD_BASELINES = {k.name: k.baseline for k in KNOBS if k.condition is not None}
# The tiny run: every knob at a value without a first-use cost, one epoch of two small batches.
_QUIET = {"epochs": 1, "batch_size": 4, "grad_accum": 1, "compile": False, "loader_workers": 0, "pin_memory": False,
          "optimizer": "adamw", "train_precision": "fp32", "adaptation": "full", "gradient_checkpointing": False,
          "drop_layers": 0, "attention": "eager", "infer_compile": False, "quantization": "none",
          "infer_precision": "fp32", "power_limit_w": 0, "cpu_threads": 0}


def reachable(space: Any, config: Mapping[str, Any]) -> dict[str, set[Any]]:
    """Per first-use knob, the values a trial of `space` can take (without a space: the values in `config`)."""
    out: dict[str, set[Any]] = {}
    for name in FIRST_USE:
        values: set[Any] = {config[name]} if name in config else set()
        if space is not None:
            knob = space.searched.get(name)
            if knob is not None:
                values |= set(knob.choices)
            else:
                values.add(space.fixed.get(name, space.status[name].knob.baseline))
        out[name] = values
    return out


def configs(space: Any, config: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what it warms, tiny configuration): the quiet baseline first, then one per reachable first-use value."""
    quiet = {**_CHILD_BASELINES, **config, **_QUIET}
    quiet.pop("drop_from", None)
    yield "baseline", quiet
    for name, values in reachable(space, config).items():
        for value in FIRST_USE[name]:
            if value not in values:
                continue
            variant = {**quiet, name: value}
            if name == "quantization":  # quantized weights set their own precision
                variant["infer_precision"] = "fp32"
            yield f"{name}={value}", variant
