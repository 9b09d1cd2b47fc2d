"""Data-phase knobs: what the model reads and how it is tokenized."""

from greenknobs.spaces._knob import Knob

# Up to 2048 for long-context encoders (ModernBERT: the original study's 2048 -> 512); trimmed to what the model takes.
_LENGTHS = (32, 64, 96, 128, 192, 256, 384, 512, 1024, 2048)

KNOBS = (
    Knob(
        "max_length", "data", "categorical", 128, choices=_LENGTHS, unit="tokens",
        help="Truncate every text to this many tokens (baseline 128, as in transformers' run_glue; the study cut 2048 to 512).",
        resolve=lambda hw, task: {"choices": tuple(v for v in _LENGTHS if v <= task.max_positions)},
        moves=frozenset({"data", "training", "inference"}), cheaper="low",
    ),
    Knob(
        "tokenizer", "data", "categorical", "python", choices=("python", "rust"),
        help="Tokenizer backend: pure-Python (slow) or the Rust `tokenizers` library (fast).",
        moves=frozenset({"data"}), cheaper=("rust",),
    ),
    Knob(
        "train_fraction", "data", "float", 1.0, low=0.2, high=1.0, step=0.1,
        help="Share of the training split used, a stratified subsample.",
        moves=frozenset({"data", "training"}), cheaper="low",
    ),
    Knob(
        "padding", "data", "categorical", "fixed", choices=("fixed", "dynamic"),
        help="Pad every batch to max_length (fixed) or to its longest text (dynamic).",
        moves=frozenset({"training", "inference"}), cheaper=("dynamic",),
    ),
)
