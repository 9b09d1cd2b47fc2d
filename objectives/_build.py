"""The model phase: a classifier with pruning, attention kernel, adapters and checkpointing applied — and verified."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from greenknobs._errors import GreenknobsError
from greenknobs.objectives._models import model_path


@dataclass
class BuiltModel:
    model: Any
    trainable_params: int
    total_params: int
    layers: int
    lora_modules: int


def encoder_layers(model: Any) -> tuple[Any, str, torch.nn.ModuleList]:
    """The ModuleList holding the encoder blocks, found by shape rather than by architecture-specific names."""
    expected = model.config.num_hidden_layers
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == expected and expected > 0:
            parent_name, _, attr = name.rpartition(".")
            return model.get_submodule(parent_name) if parent_name else model, attr, module
    raise GreenknobsError(f"cannot find the encoder layers of {type(model).__name__}: layer pruning needs them; set drop_layers = 0")


def drop_layers(model: Any, count: int, side: str) -> int:
    if count <= 0:
        return model.config.num_hidden_layers
    parent, attr, layers = encoder_layers(model)
    kept = list(layers)[: len(layers) - count] if side == "top" else list(layers)[count:]
    setattr(parent, attr, torch.nn.ModuleList(kept))
    model.config.num_hidden_layers = len(kept)
    if hasattr(model.config, "layer_types") and model.config.layer_types:
        types = list(model.config.layer_types)
        model.config.layer_types = types[: len(kept)] if side == "top" else types[count:]
    return len(kept)


def head_linears(model: Any) -> list[str]:
    """Names of the Linear layers outside the encoder (the task head: classifier, ModernBERT's head.dense), which
    bitsandbytes leaves in full precision."""
    base = model.base_model
    inside = {id(m) for m in base.modules()}
    return [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and id(m) not in inside]


def _skeleton(model_name: str, num_labels: int) -> Any:
    """The classifier's modules without weights (meta tensors): its layer names, for the quantization config."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(model_path(model_name), num_labels=num_labels)
    with torch.device("meta"):
        return AutoModelForSequenceClassification.from_config(config)


def bnb_config(quantization: str, skip: list[str]) -> Any:
    """bitsandbytes' quantization config for `quantization` ("bnb-int8" or "bnb-nf4", compute in bf16), leaving the
    modules `skip` names in full precision."""
    from transformers import BitsAndBytesConfig

    if quantization == "bnb-int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
                              llm_int8_skip_modules=skip)


def device_map(device: str) -> dict[str, Any]:
    """Where a bitsandbytes load puts the whole model: the trial's GPU, or the CPU."""
    if device.startswith("cuda"):
        return {"": torch.device(device).index or 0}
    return {"": "cpu"}


def count_params(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


def build_model(config: Mapping[str, Any], model_name: str, num_labels: int, device: str,
                lora_targets: tuple[str, ...] | str = "all-linear") -> BuiltModel:
    from transformers import AutoModelForSequenceClassification

    # fp32 whatever dtype the checkpoint is stored in (transformers' default, "auto", would train a bf16 or fp16
    # checkpoint in that precision): precision is the train_precision knob's alone.
    kwargs: dict[str, Any] = {"num_labels": num_labels, "attn_implementation": config["attention"],
                              "dtype": torch.float32}
    adaptation = config["adaptation"]
    if adaptation == "qlora":
        # The classifier head stays a full-precision Linear: it is trained in full (peft's modules_to_save), and
        # transformers' own skip list misses it (it skips the module of the last parameter, a bias).
        kwargs["quantization_config"] = bnb_config("bnb-nf4", head_linears(_skeleton(model_name, num_labels)))
        kwargs["device_map"] = device_map(device)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(model_path(model_name), **kwargs)
    except (ValueError, ImportError) as err:
        raise GreenknobsError(f"cannot build {model_name} with attention = '{config['attention']}' ({str(err).splitlines()[0][:160]}): choose another attention or model") from None
    got = getattr(model.config, "_attn_implementation", None)
    if got != config["attention"]:
        raise GreenknobsError(f"attention = '{config['attention']}' was asked for but {model_name} loaded '{got}': choose another attention")
    if adaptation == "qlora" and not any(type(m).__name__ == "Linear4bit" for m in model.modules()):
        raise GreenknobsError(f"QLoRA's 4-bit load quantized no Linear layer of {model_name}: set adaptation = 'lora'")
    layers = drop_layers(model, config["drop_layers"], config.get("drop_from", "top"))
    lora_modules = 0
    if adaptation == "head":
        for p in model.base_model.parameters():
            p.requires_grad_(False)
    elif adaptation in ("lora", "qlora"):
        model, lora_modules = _add_lora(model, config, adaptation, lora_targets)
    if config.get("gradient_checkpointing", False):  # absent where it cannot apply (adaptation = head)
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if not getattr(model, "is_gradient_checkpointing", False):
            raise GreenknobsError(f"{model_name} does not support gradient checkpointing: set gradient_checkpointing = false")
    if adaptation != "qlora":
        model.to(device)
    trainable, total = count_params(model)
    return BuiltModel(model, trainable, total, layers, lora_modules)


def _add_lora(model: Any, config: Mapping[str, Any], adaptation: str, targets: Any) -> tuple[Any, int]:
    from peft import LoraConfig, TaskType, get_peft_model

    if adaptation == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS, r=config["lora_rank"], lora_alpha=config["lora_alpha"],
        lora_dropout=config["lora_dropout"], target_modules=list(targets) if not isinstance(targets, str) else targets,
    )
    try:
        model = get_peft_model(model, lora)
    except ValueError as err:
        raise GreenknobsError(
            f"LoRA target modules {targets!r} match nothing in the encoder ({str(err).splitlines()[0][:120]}): "
            "set lora_targets to names of its Linear layers (e.g. query, key, value) or to \"all-linear\""
        ) from None
    # The original study's LoRA matched no encoder module and silently trained the head alone: count adapters
    # inside the encoder blocks, not anywhere in the model.
    _, _, layers = encoder_layers(model.base_model.model)
    in_encoder = sum(1 for layer in layers for m in layer.modules() if hasattr(m, "lora_A"))
    if in_encoder == 0:
        raise GreenknobsError(
            f"LoRA target modules {targets!r} match no layer inside the encoder blocks (only the head would train): "
            "set lora_targets to names of the encoder's Linear layers or to \"all-linear\""
        )
    return model, in_encoder
