"""System-phase knobs: how the hardware is driven while training."""

from greenknobs.spaces._knob import Knob


def _power_choices(hw, task):
    if hw.power_limit_range_w is None:
        return {}
    low, high = hw.power_limit_range_w
    # Fractions of NVML's default limit, never of the limit in force now: a cap left behind would otherwise
    # shift every level down with it.
    default = hw.power_limit_default_w or high
    steps = sorted({int(round(max(low, default * f))) for f in (0.9, 0.75, 0.6, 0.45)} | {int(round(low))})
    return {"choices": (0, *steps)}


KNOBS = (
    Knob("compile", "system", "bool", False, needs=frozenset({"compile"}),
         help="torch.compile the model for training.", moves=frozenset({"training"}), cheaper=(True,)),
    Knob("loader_workers", "system", "categorical", 0, choices=(0, 1, 2, 4), unit="processes",
         help="DataLoader worker processes feeding training.", moves=frozenset({"training"}), cheaper="low"),
    Knob("pin_memory", "system", "bool", False, needs=frozenset({"pin-memory"}),
         help="Page-locked host memory for faster host-to-GPU copies.", moves=frozenset({"training"}), cheaper=(True,)),
    Knob(
        "power_limit_w", "system", "categorical", 0, choices=(0,), unit="W", needs=frozenset({"power-limit"}),
        help="GPU power cap set through Zeus/NVML, read back, restored after the trial (0 = the GPU's default limit, "
             "read back too); levels are 90/75/60/45% of NVML's default limit.",
        resolve=_power_choices,
        moves=frozenset({"data", "model", "training", "inference"}), cheaper="low",
    ),
    Knob(
        "cpu_threads", "system", "categorical", 0, choices=(0, 1), unit="threads",
        help="torch intra-op CPU threads (0 = torch's default: every core available to this worker).",
        needs=frozenset({"several-cores"}),
        # Every core is what 0 already means, so it is not offered twice.
        resolve=lambda hw, task: {"choices": (0, *sorted({1, max(1, hw.cpu_cores // 2)} - {hw.cpu_cores}))},
        moves=frozenset({"training", "inference"}),
    ),
)
