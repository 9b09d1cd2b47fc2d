"""The inference phase: the fine-tuned model, quantized / cast / compiled as the knobs say, predicts the eval split."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from typing import Any

import torch

from greenknobs._errors import GreenknobsError
from greenknobs.objectives._tokens import Collate, Encoded

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def deployable(model: Any) -> Any:
    """LoRA adapters are merged before serving, as they are in deployment."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return model


def prepare(model: Any, config: Mapping[str, Any], device: str) -> tuple[Any, dict[str, Any]]:
    model = deployable(model)
    model.eval()
    info: dict[str, Any] = {}
    quant = config["quantization"]
    if quant == "dynamic-int8":
        from torch.ao.quantization import quantize_dynamic

        model = quantize_dynamic(model.to("cpu"), {torch.nn.Linear}, dtype=torch.qint8)
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

        info["quantized_linear_layers"] = sum(1 for m in model.modules() if isinstance(m, DynamicLinear))
        if info["quantized_linear_layers"] == 0:
            raise GreenknobsError("dynamic int8 quantization replaced no Linear layer: set quantization = 'none'")
    elif quant in ("bnb-int8", "bnb-nf4"):
        model = _bnb_reload(model, quant)
        info["quantized_linear_layers"] = sum(1 for m in model.modules() if type(m).__name__ in ("Linear8bitLt", "Linear4bit"))
    elif config.get("infer_precision", "fp32") != "fp32":  # absent under quantization, which sets its own
        model = model.to(_DTYPES[config["infer_precision"]])
    if config["infer_compile"]:
        model = torch.compile(model)
    return model, info


def _bnb_reload(model: Any, quant: str) -> Any:
    """bitsandbytes quantizes at load time: round-trip the fine-tuned weights through a checkpoint."""
    from transformers import AutoModelForSequenceClassification, BitsAndBytesConfig

    qconfig = (BitsAndBytesConfig(load_in_8bit=True) if quant == "bnb-int8" else
               BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16))
    with tempfile.TemporaryDirectory(prefix="greenknobs-bnb-") as tmp:
        model.save_pretrained(tmp)
        return AutoModelForSequenceClassification.from_pretrained(tmp, quantization_config=qconfig, device_map={"": 0})


@torch.inference_mode()
def predict(model: Any, data: Encoded, batch_size: int, device: str, pad_token_id: int) -> list[int]:
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=Collate(pad_token_id))
    target = "cpu" if _on_cpu(model) else device
    preds: list[int] = []
    for batch in loader:
        batch.pop("labels")
        logits = model(**{k: v.to(target) for k, v in batch.items()}).logits
        preds.extend(int(i) for i in logits.float().argmax(dim=-1).cpu())
    return preds


def _on_cpu(model: Any) -> bool:
    try:
        return next(model.parameters()).device.type == "cpu"
    except StopIteration:  # dynamic int8 modules keep packed weights, not parameters
        return True
