"""Model-phase knobs: which network, how much of it, how attention is computed."""

from greenknobs.spaces._knob import Condition, Knob

KNOBS = (
    Knob(
        "model", "model", "categorical", None, choices=(),
        help="Which of the task's candidate models to fine-tune.",
        resolve=lambda hw, task: {"choices": tuple(task.models), "baseline": task.models[0]},
        moves=frozenset({"model", "training", "inference"}),
    ),
    Knob(
        "drop_layers", "model", "int", 0, low=0, high=1, unit="layers",
        help="Remove this many encoder layers before fine-tuning (the study dropped 4-20 of 22).",
        resolve=lambda hw, task: {"high": max(0, task.min_layers - 1)},
        moves=frozenset({"model", "training", "inference"}), cheaper="high",
    ),
    Knob(
        "drop_from", "model", "categorical", "top", choices=("top", "bottom"),
        help="Drop layers nearest the output (top) or nearest the embeddings (bottom).",
        condition=Condition("drop_layers", predicate=lambda v: v > 0, text="drop_layers > 0"),
    ),
    Knob(
        "attention", "model", "categorical", "eager", choices=("eager", "sdpa"),
        help="Attention kernel: eager matmuls or torch's scaled_dot_product_attention.",
        moves=frozenset({"training", "inference"}), cheaper=("sdpa",),
    ),
)
