"""Inference-phase knobs: how the fine-tuned model serves predictions."""

from greenknobs.spaces._knob import Condition, Knob

KNOBS = (
    Knob("infer_batch_size", "inference", "categorical", 16, choices=(8, 16, 32, 64, 128), unit="examples",
         help="Examples per inference batch.", moves=frozenset({"inference"}), cheaper="high"),
    Knob(
        "quantization", "inference", "categorical", "none", choices=("none", "dynamic-int8", "bnb-int8", "bnb-nf4"),
        help="Post-training weight quantization: torch dynamic int8 (CPU), bitsandbytes int8 or NF4 (CUDA; on a CPU at "
             "your cost). The classifier head stays in full precision.",
        value_needs={
            "dynamic-int8": frozenset({"cpu-inference"}),
            "bnb-int8": frozenset({"bnb-layers"}),
            "bnb-nf4": frozenset({"bnb-layers", "bf16"}),  # computes in bf16
        },
        moves=frozenset({"inference"}), cheaper=("dynamic-int8", "bnb-int8", "bnb-nf4"),
    ),
    Knob(
        "infer_precision", "inference", "categorical", "fp32", choices=("fp32", "bf16", "fp16"),
        help="Precision the model is cast to for inference.",
        value_needs={"fp16": frozenset({"fp16"}), "bf16": frozenset({"bf16"})},
        # Quantized weights set their own precision: declared as a condition, a study never samples the
        # impossible pairs (dynamic int8 needs fp32; bitsandbytes picks its compute dtype).
        condition=Condition("quantization", values=("none",), text="quantization = none"),
        moves=frozenset({"inference"}), cheaper=("bf16", "fp16"),
    ),
    Knob("infer_compile", "inference", "bool", False, needs=frozenset({"compile"}),
         help="torch.compile the model for inference.", moves=frozenset({"inference"}), cheaper=(True,)),
)
