"""The inference phase: the fine-tuned model, quantized / cast / compiled as the knobs say, predicts the eval split.

What serves follows the `quantization` and `infer_precision` knobs alone, whatever training did (a QLoRA model's
4-bit base is dequantized before its adapters are merged), and is read back from the served model before it
predicts: the layer kinds, the weights' precision and the attention kernel. A mismatch is an error, never a
result under a label that was not in effect; `served` records what was read back.
"""

from __future__ import annotations

import copy
import tempfile
from collections import Counter
from collections.abc import Mapping
from typing import Any

import torch

from greenknobs._errors import GreenknobsError
from greenknobs.objectives._build import bnb_config, device_map, head_linears
from greenknobs.objectives._tokens import Collate, Encoded

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_DTYPE_NAMES = {v: k for k, v in _DTYPES.items()}


def quantized_layers(model: Any) -> Counter:
    """The model's quantized Linear layers by kind: dynamic-int8, bnb-int8, bnb-nf4 (or bnb-fp4)."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    kinds: Counter = Counter()
    for m in model.modules():
        # bitsandbytes' own classes, not peft's LoRA wrappers of the same names
        name = type(m).__name__ if type(m).__module__.startswith("bitsandbytes") else ""
        if isinstance(m, DynamicLinear):
            kinds["dynamic-int8"] += 1
        elif name == "Linear8bitLt":
            kinds["bnb-int8"] += 1
        elif name == "Linear4bit":
            kinds[f"bnb-{getattr(m.weight, 'quant_type', 'nf4')}"] += 1
    return kinds


def deployable(model: Any) -> Any:
    """LoRA adapters are merged before serving, as they are in deployment.

    A QLoRA model's base is 4-bit: peft would merge into it and re-quantize the result to NF4, so the model would
    serve NF4 whatever the quantization knob says. Its base is dequantized first (transformers' `dequantize`),
    the trained adapters are put back (peft's own state dict) and merged in full precision: the model that
    trained, with no second rounding, in fp32."""
    if not hasattr(model, "merge_and_unload"):
        return model
    if quantized_layers(model):
        from peft import get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

        adapter = get_peft_model_state_dict(model)
        lora = copy.deepcopy(model.peft_config[model.active_adapter])
        base = model.unload()  # the adapters out, the trained head (modules_to_save) in place
        base = base.dequantize(dtype=torch.float32).float()  # bnb's forward left the frozen biases in bf16
        model = get_peft_model(base, lora)
        loaded = set_peft_model_state_dict(model, adapter)
        if loaded.unexpected_keys:
            raise GreenknobsError(f"the QLoRA adapters did not fit the dequantized model ({loaded.unexpected_keys[:3]}):"
                                  " set adaptation = 'lora'")
    return model.merge_and_unload()


def prepare(model: Any, config: Mapping[str, Any], device: str) -> tuple[Any, dict[str, Any]]:
    model = deployable(model)
    model.eval()
    quant = config["quantization"]
    if quant == "dynamic-int8":
        from torch.ao.quantization import quantize_dynamic

        model = quantize_dynamic(model.to("cpu"), {torch.nn.Linear}, dtype=torch.qint8)
    elif quant in ("bnb-int8", "bnb-nf4"):
        model = _bnb_reload(model, quant, config["attention"], device)
    elif config.get("infer_precision", "fp32") != "fp32":  # absent under quantization, which sets its own
        model = model.to(_DTYPES[config["infer_precision"]])
    info = served(model, config)
    if config["infer_compile"]:
        model = torch.compile(model)
    return model, info


def served(model: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """Read back what will serve — quantized layer kinds, weight precision, attention kernel — and refuse a model
    that is not what `config` says."""
    quant = config["quantization"]
    kinds = quantized_layers(model)
    count = sum(kinds.values())
    label = {"none": "no", "dynamic-int8": "dynamic int8", "bnb-int8": "bitsandbytes int8",
             "bnb-nf4": "bitsandbytes NF4"}[quant]
    other = {k: n for k, n in kinds.items() if k != quant}
    if other:
        found = ", ".join(f"{n} {k}" for k, n in sorted(other.items()))
        raise GreenknobsError(f"quantization = '{quant}' but the model would serve {found} layers: refusing to "
                              "label it as what it is not; report this with the configuration")
    if quant != "none" and kinds.get(quant, 0) == 0:
        raise GreenknobsError(f"{label} quantization replaced no Linear layer of the model: set quantization = 'none'")
    floats = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if quant == "none":
        want = _DTYPES[config.get("infer_precision", "fp32")]
        if floats != {want}:
            got = ", ".join(sorted(_DTYPE_NAMES.get(d, str(d)) for d in floats))
            raise GreenknobsError(f"infer_precision = '{config.get('infer_precision', 'fp32')}' but the model holds "
                                  f"{got} weights: report this with the configuration")
    attention = getattr(getattr(model, "config", None), "_attn_implementation", config["attention"])
    if attention != config["attention"]:
        raise GreenknobsError(f"attention = '{config['attention']}' but the model to serve runs '{attention}': "
                              "choose another attention")
    precision = "+".join(sorted(_DTYPE_NAMES.get(d, str(d)) for d in floats)) or "none"
    what = f"{count} {quant} Linear layers, other weights {precision}" if count else f"{precision} weights"
    return {"quantized_linear_layers": count, "served": f"{what}; attention {attention}"}


def _bnb_reload(model: Any, quant: str, attention: str, device: str) -> Any:
    """bitsandbytes quantizes at load time: round-trip the fine-tuned weights through a checkpoint, with the
    trial's attention kernel and the task head in full precision. A reload builds the architecture from its config
    anew; a module that the rebuilt model lays out differently (ModernBERT's first block has no attention norm, so
    a block moved there by drop_from = bottom would lose its trained one) is taken over from the fine-tuned model,
    and trained weights the reload cannot place are an error."""
    from transformers import AutoModelForSequenceClassification

    with tempfile.TemporaryDirectory(prefix="greenknobs-bnb-") as tmp:
        model.save_pretrained(tmp)
        try:
            reloaded, loading = AutoModelForSequenceClassification.from_pretrained(
                tmp, quantization_config=bnb_config(quant, head_linears(model)), device_map=device_map(device),
                attn_implementation=attention, dtype=torch.float32, output_loading_info=True)
        except (ValueError, ImportError) as err:
            raise GreenknobsError(f"bitsandbytes cannot load the fine-tuned model as {quant} "
                                  f"({str(err).splitlines()[0][:160]}): set quantization = 'none'") from None
    _take_over_dropped(model, reloaded, loading, quant)
    return reloaded


def _take_over_dropped(source: Any, reloaded: Any, loading: Mapping[str, Any], quant: str) -> None:
    lost = list(loading.get("missing_keys", [])) + [str(k) for k in loading.get("mismatched_keys", [])]
    for name in sorted({key.rpartition(".")[0] for key in loading.get("unexpected_keys", [])}):
        try:
            here = reloaded.get_submodule(name)
            trained = source.get_submodule(name)
        except AttributeError:
            lost.append(name)
            continue
        if any(True for _ in here.parameters()) or any(type(m).__name__.startswith("Linear") for m in trained.modules()):
            lost.append(name)  # not a parameter-free stand-in for a norm: taking it over would skip quantization
            continue
        device = next(reloaded.parameters()).device
        reloaded.set_submodule(name, copy.deepcopy(trained).to(device))
    if lost:
        raise GreenknobsError(f"reloading the fine-tuned model as {quant} would lose trained weights "
                              f"({', '.join(lost[:3])}): set quantization = 'none'")


@torch.inference_mode()
def predict(model: Any, data: Encoded, batch_size: int, device: str, pad_token_id: int) -> list[int]:
    # A generator of its own: a DataLoader's iterator draws its base seed from the global RNG otherwise, and early
    # stopping's monitor predicts mid-training: that draw would change every later dropout mask, so a monitored run
    # would train differently from the same configuration run unmonitored (and its export would not reproduce it).
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=Collate(pad_token_id),
                                         generator=torch.Generator())
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
