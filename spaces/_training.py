"""Training-phase knobs: what is trained, with which optimizer, precision and schedule."""

from greenknobs.spaces._knob import Condition, Knob

_LORA = Condition("adaptation", values=("lora", "qlora"))

KNOBS = (
    Knob(
        "adaptation", "training", "categorical", "full", choices=("full", "lora", "qlora", "head"),
        help="Full fine-tune, LoRA adapters, QLoRA (4-bit NF4 base, bf16 compute, + LoRA; served as the quantization "
             "knob says), or the classifier head only.",
        value_needs={"qlora": frozenset({"bnb-layers", "bf16"})},
        moves=frozenset({"training"}), cheaper=("head", "lora", "qlora"),
    ),
    Knob("lora_rank", "training", "categorical", 8, choices=(4, 8, 16, 32), condition=_LORA,
         help="LoRA rank r."),
    Knob("lora_alpha", "training", "categorical", 16, choices=(8, 16, 32, 64), condition=_LORA,
         help="LoRA scaling alpha."),
    Knob("lora_dropout", "training", "float", 0.1, low=0.0, high=0.3, step=0.05, condition=_LORA,
         help="Dropout on the LoRA path."),
    Knob("gradient_checkpointing", "training", "bool", False,
         help="Recompute activations in the backward pass instead of storing them.",
         # With only the head trained no gradient flows through the encoder: nothing to recompute.
         condition=Condition("adaptation", values=("full", "lora", "qlora")), moves=frozenset({"training"}), cheaper=()),
    Knob(
        "optimizer", "training", "categorical", "adamw", choices=("adamw", "adamw-8bit"),
        help="torch AdamW, or bitsandbytes' 8-bit AdamW (quantized optimizer state).",
        value_needs={"adamw-8bit": frozenset({"bnb-optim"})},
        moves=frozenset({"training"}), cheaper=("adamw-8bit",),
    ),
    Knob(
        "train_precision", "training", "categorical", "fp32", choices=("fp32", "bf16", "fp16"),
        help="Autocast precision of the training forward/backward pass.",
        value_needs={"fp16": frozenset({"fp16"}), "bf16": frozenset({"bf16"})},
        moves=frozenset({"training"}), cheaper=("bf16", "fp16"),
    ),
    Knob("batch_size", "training", "categorical", 16, choices=(8, 16, 32, 64), unit="examples",
         help="Examples per optimizer micro-batch.", moves=frozenset({"training"}), cheaper="high"),
    Knob(
        "batching", "training", "categorical", "shuffled", choices=("shuffled", "length-grouped"),
        help="Training batches drawn at random (shuffled), or of texts of similar length (length-grouped: "
             "transformers' LengthGroupedSampler, as group_by_length); saves padded tokens only with dynamic padding.",
        moves=frozenset({"training"}), cheaper=("length-grouped",),
    ),
    Knob("grad_accum", "training", "categorical", 1, choices=(1, 2, 4), unit="steps",
         help="Micro-batches accumulated per optimizer step.", moves=frozenset({"training"}), cheaper="high"),
    Knob("learning_rate", "training", "float", 2e-4, low=1e-5, high=1e-2, log=True,
         help="Peak learning rate (linear decay, 10% warm-up)."),
    Knob("epochs", "training", "int", 2, low=1, high=4, unit="epochs", help="Passes over the training data.", moves=frozenset({"training"}), cheaper="low"),
)
