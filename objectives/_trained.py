"""Trained models kept for serving: a training run is paid once.

A trained model is identified by everything that acts before inference: the scope it may be shared in (a study),
the task and its data, every data, model, training and system knob, and the training seed — every knob but the
inference phase's (`quantization`, `infer_precision`, `infer_batch_size`, `infer_compile`). A configuration whose
identity matches a model kept here serves that model under its own inference knobs instead of training again; its
model and training phases carry the joules their run recorded, labelled as reused, as tokenized data already does
(TokenCache). Its inference phase is measured.

Where they live: in the process's memory, least recently used first out, capped by count and by bytes. A model is
kept on the CPU (a copy, taken outside every energy window), so keeping models never takes a GPU's memory from the
next trial; a model that cannot leave its device (a bitsandbytes 4-bit base) stays where it is, counted against
the same caps. Memory and not disk: a MiniLM is copied in a tenth of a second, while writing and reading it back
would cost a second each, and what a strategy asks to serve again is what it trained moments before (the
baseline's seeds, the run just made). A worker in another process or on another host has none of them: it trains
the configuration, and the run is labelled and counted as a training run.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_MODELS = 16  # the baseline's seeds and the search's runs: what the strategies and the confirmation serve again
MAX_BYTES = 4 * 2**30
REUSED_PHASES = ("model", "training")  # carried at their recorded cost by a run that serves a kept model


def inference_knobs() -> frozenset[str]:
    """The knobs that act only once the model is trained (declared with phase "inference")."""
    from greenknobs.spaces import KNOBS

    return frozenset(k.name for k in KNOBS if k.phase == "inference")


def training_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a configuration that decides the trained model: every knob but the inference phase's, sorted."""
    serving = inference_knobs()
    return {k: v for k, v in sorted(config.items()) if k not in serving}


def training_identity(scope: str, task: Any, fingerprint: str, config: Mapping[str, Any], seed: int) -> str:
    """A short digest of everything that decides the trained model; the eval split and inference knobs left out."""
    table = {k: v for k, v in task.to_table().items() if k != "eval_split"}
    payload = {"scope": scope, "task": table, "name": task.name, "data": fingerprint,
               "lora_targets": task.lora_targets, "seed": int(seed),
               "config": training_config(config)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Trained:
    """One trained model and what training it measured."""

    identity: str
    model: Any  # the trained model before serving (None for the simulated pipeline, which trains nothing)
    readings: dict[str, Any]  # the model and training phases' energy readings, as measured
    facts: dict[str, Any] = field(default_factory=dict)  # parameter counts, layers, losses: what the run recorded
    label: str = ""  # which run trained it, as its caller named it ("trial 3 at seed 1")
    nbytes: int = 0

    def serving_copy(self, device: str) -> Any:
        """A copy to serve: serving quantizes, casts or merges the model it is given, and this one serves again."""
        model = copy.deepcopy(self.model)
        return model.to(device) if _movable(model) else model


def keep(identity: str, model: Any, readings: Mapping[str, Any], facts: Mapping[str, Any], label: str) -> Trained | None:
    """A kept copy of a just-trained model (on the CPU where it can move), or None when it cannot be copied."""
    if model is None:
        return Trained(identity, None, dict(readings), dict(facts), label, 0)
    try:
        kept = copy.deepcopy(model)
        if _movable(kept):
            kept = kept.to("cpu")
    except Exception:  # a model that cannot be copied is trained again when asked for: never a wrong result
        return None
    size = sum(p.numel() * p.element_size() for p in kept.parameters()) + sum(
        b.numel() * b.element_size() for b in kept.buffers())
    return Trained(identity, kept, dict(readings), dict(facts), label, int(size))


def _movable(model: Any) -> bool:
    from greenknobs.objectives._infer import quantized_layers

    return not quantized_layers(model)


class TrainedModels:
    """The kept models by training identity, least recently used out first, at most `max_models` and `max_bytes`."""

    def __init__(self, max_models: int = MAX_MODELS, max_bytes: int = MAX_BYTES) -> None:
        self._kept: OrderedDict[str, Trained] = OrderedDict()
        self.max_models, self.max_bytes = max_models, max_bytes

    def __contains__(self, identity: object) -> bool:
        return identity in self._kept

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, identity: str) -> Trained | None:
        kept = self._kept.get(identity)
        if kept is not None:
            self._kept.move_to_end(identity)
        return kept

    def put(self, trained: Trained | None) -> None:
        if trained is None or trained.nbytes > self.max_bytes or self.max_models < 1:
            return
        self._kept[trained.identity] = trained
        self._kept.move_to_end(trained.identity)
        while len(self._kept) > self.max_models or sum(t.nbytes for t in self._kept.values()) > self.max_bytes:
            self._kept.popitem(last=False)
