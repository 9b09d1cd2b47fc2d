"""A knob never switches another on — shown for every value of every knob, GPU-only ones included, on what the
pipeline actually built, not on the config dict.

Each case runs the trial's phases (tokenize, `_system`, build, train, serve, predict) on 40 fortunes and tiny-bert,
once at a small baseline and once with one knob changed, and reads every knob back from the objects built:
token widths, the tokenizer class, the model's layers, adapters and 4-bit layers, the attention kernel that ran,
the optimizer and its learning rate, the autocast dtype the head saw, the DataLoader, the compiled graphs, the
threads, the GPU power limit, the served layers and weights. The changed knob must read back as its new value
and every other knob as before (a knob it enables may appear, at its baseline).

What this CPU cannot do is made to run here without changing what is read back: the GPU-only capabilities are
declared present (fp16 autocast and fp16 weights run on the CPU; pin_memory is read from the DataLoader that was
asked to pin), NVML is the fake from tests/objectives/energy/conftest.py, bitsandbytes is the real one, and
torch.compile records what it was given and returns it (what was compiled is the readback; that compiling works
is test_knob_effects' part).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import pytest
import torch
from transformers.trainer_pt_utils import LengthGroupedSampler

from greenknobs.objectives import _build, _infer, _models, _tokens, _train
from greenknobs.spaces import KNOBS, KNOBS_BY_NAME, Hardware, Space, TaskInfo
from tests.objectives._spies import energy_fakes

pytestmark = pytest.mark.filterwarnings("ignore")

fakes = energy_fakes()
no_hardware = fakes.no_hardware  # the fixture, under its name here

# Every capability present: GPU-only values run through the CPU, the fakes and the real bitsandbytes.
EVERYTHING = Hardware(device="cpu", cpu_cores=2, gpu_name="NVIDIA H100 80GB HBM3", power_limit_range_w=(100.0, 700.0),
                      power_limit_default_w=700.0)
TASK = TaskInfo(models=("tiny-bert", "minilm-l6"), min_layers=4, max_positions=512, layers={"tiny-bert": 4, "minilm-l6": 6})
SMALL = {"max_length": 32, "tokenizer": "rust", "epochs": 1, "batch_size": 8}
N_TRAIN, N_EVAL = 32, 16  # 4 batches of 8: enough to tell grad_accum = 4 from the end of an epoch
# torch threads outside the trial: one (two spin-wait on a shared 2-core CPU, ten times slower), two where
# cpu_threads = 1 must read back as a change.
THREADS = {"cpu_threads": 2}


def knob_values(space: Space, name: str) -> list[Any]:
    """Every declared value of a categorical or bool knob; a numeric knob's ends and every step of a short range."""
    knob = space.status[name].knob
    if knob.kind in ("categorical", "bool"):
        return list(knob.values)
    if knob.kind == "int" and knob.high - knob.low <= 4:
        return list(range(int(knob.low), int(knob.high) + 1))
    return [knob.low, knob.high]


def enabling(name: str) -> dict[str, Any]:
    """The parent setting under which a conditional knob means something."""
    return {"drop_from": {"drop_layers": 1}}.get(name) or (
        {"adaptation": "lora"} if name in ("lora_rank", "lora_alpha", "lora_dropout") else {})


def cases() -> list[tuple[str, Any]]:
    space = Space(EVERYTHING, TASK)
    out = []
    for knob in KNOBS:
        base = space.complete({**SMALL, **enabling(knob.name)})
        out += [(knob.name, v) for v in knob_values(space, knob.name) if v != base[knob.name]]
    return out


# -- the readback ---------------------------------------------------------------------------------------------


@contextmanager
def spying() -> Iterator[dict[str, Any]]:
    """Spies on what training and serving do: the optimizer, the DataLoaders, the sdpa kernel, compiled graphs."""
    seen: dict[str, Any] = {"loaders": [], "sdpa": 0, "optimizers": [], "micro": 0, "compiled": []}
    real_sdpa = torch.nn.functional.scaled_dot_product_attention
    real_make_optimizer = _train.make_optimizer

    def sdpa(*args, **kwargs):
        seen["sdpa"] += 1
        return real_sdpa(*args, **kwargs)

    class Loader(torch.utils.data.DataLoader):
        """Records the loader the pipeline asked for. Pinning itself needs CUDA; on the CPU torch's pinning thread
        only adds seconds of shutdown, so the loader that runs does not pin (`asked_to_pin` is the readback)."""

        def __init__(self, *args, pin_memory: bool = False, **kwargs):
            super().__init__(*args, **kwargs)
            self.asked_to_pin = pin_memory
            seen["loaders"].append(self)

    def compiling(module, *args, **kwargs):  # what was compiled is the readback; it then runs as it is
        seen["compiled"].append(module)
        return module

    def make_optimizer(*args, **kwargs):
        optimizer = real_make_optimizer(*args, **kwargs)
        optimizer.register_step_pre_hook(lambda *a: seen.setdefault("micro_batches_at_first_step", seen["micro"]) and None)
        seen["optimizers"].append(optimizer)
        return optimizer

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(torch.nn.functional, "scaled_dot_product_attention", sdpa))
        stack.enter_context(mock.patch.object(torch.utils.data, "DataLoader", Loader))
        stack.enter_context(mock.patch.object(_train, "make_optimizer", make_optimizer))
        stack.enter_context(mock.patch.object(torch, "compile", compiling))
        try:
            yield seen
        finally:  # persistent loader workers would otherwise stop whenever the loader is collected, in a later case
            for loader in seen["loaders"]:
                if getattr(loader, "_iterator", None) is not None and hasattr(loader._iterator, "_shutdown_workers"):
                    loader._iterator._shutdown_workers()


def built_and_read_back(config: dict[str, Any], pipeline: Any, outside_threads: int = 1) -> dict[str, Any]:
    """Run the phases of one trial and read every knob back from what they built."""
    got: dict[str, Any] = {}
    split = pipeline.splits.train
    texts, labels = split["text"][:N_TRAIN], split["label"][:N_TRAIN]
    tokenizer = _models.load_tokenizer(config["model"], config["tokenizer"])
    keep = _tokens.subsample(labels, config["train_fraction"], 0)
    train = _tokens.encode(tokenizer, [texts[i] for i in keep], [labels[i] for i in keep], config["max_length"],
                           config["padding"])
    evaluation = _tokens.encode(tokenizer, pipeline.splits.validation["text"][:N_EVAL],
                                pipeline.splits.validation["label"][:N_EVAL], config["max_length"], config["padding"])
    widths = {len(ids) for ids in train.features["input_ids"]}
    got["max_length"] = train.width
    got["padding"] = "fixed" if len(widths) == 1 else "dynamic"
    got["tokenizer"] = "rust" if tokenizer.is_fast else "python"
    got["train_fraction"] = round(len(train) / N_TRAIN, 1)

    before = torch.get_num_threads()
    torch.set_num_threads(outside_threads)
    try:
        with pipeline._system(config) as power_w, spying() as seen:
            got["power_limit_w"] = 0 if power_w == 700.0 else power_w
            torch.manual_seed(0)
            built = _build.build_model(config, config["model"], 5, "cpu", pipeline.task.lora_targets)
            model = built.model
            _read_model(model, built, got)
            heads: list[torch.dtype] = []

            def on_head(module, inputs, output):
                heads.append(output.dtype)
                seen["micro"] += 1

            hook = _head(model).register_forward_hook(on_head)
            threads: set[int] = set()
            result = _train.train(model, train, config, "cpu", tokenizer.pad_token_id, seed=0,
                                  progress=lambda event, **_: threads.add(torch.get_num_threads()))
            optimizer = seen["optimizers"][0]
            got["optimizer"] = "adamw-8bit" if type(optimizer).__module__.startswith("bitsandbytes") else "adamw"
            got["learning_rate"] = optimizer.param_groups[0]["initial_lr"]
            got["train_precision"] = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[heads[0]]
            loader = seen["loaders"][0]
            got["batch_size"] = loader.batch_size
            got["batching"] = "length-grouped" if isinstance(loader.sampler, LengthGroupedSampler) else "shuffled"
            got["loader_workers"] = loader.num_workers
            got["pin_memory"] = loader.asked_to_pin
            got["epochs"] = len(result["epoch_losses"])
            got["grad_accum"] = seen["micro_batches_at_first_step"]
            hook.remove()
            got["compile"] = any(m is model for m in seen["compiled"])
            got["cpu_threads"] = 0 if threads == {outside_threads} else min(threads)
            sdpa_in_training = seen["sdpa"]

            compiled_before = len(seen["compiled"])
            served, _ = _infer.prepare(model, config, "cpu")
            seen["sdpa"] = 0
            _infer.predict(served, evaluation, config["infer_batch_size"], "cpu", tokenizer.pad_token_id)
            got["infer_compile"] = len(seen["compiled"]) > compiled_before
            got["infer_batch_size"] = seen["loaders"][-1].batch_size
            kinds = _infer.quantized_layers(served)
            got["quantization"] = next(iter(kinds)) if len(kinds) == 1 else ("none" if not kinds else "mixed")
            if got["quantization"] == "none":
                dtypes = {p.dtype for p in served.parameters()}
                got["infer_precision"] = {torch.float32: "fp32", torch.bfloat16: "bf16",
                                          torch.float16: "fp16"}[dtypes.pop()] if len(dtypes) == 1 else "mixed"
            kernels = {"sdpa" if n else "eager" for n in (sdpa_in_training, seen["sdpa"])}
            got["attention"] = kernels.pop() if len(kernels) == 1 else "mixed"
    finally:
        torch.set_num_threads(before)
    return got


def _head(model: Any) -> torch.nn.Module:
    inner = model.base_model.model if hasattr(model, "peft_config") else model
    return inner.classifier


def _read_model(model: Any, built: Any, got: dict[str, Any]) -> None:
    inner = model.base_model.model if hasattr(model, "peft_config") else model
    got["model"] = {64: "tiny-bert", 384: "minilm-l6"}[inner.config.hidden_size]
    full = {"tiny-bert": 4, "minilm-l6": 6}[got["model"]]
    got["drop_layers"] = full - built.layers
    if got["drop_layers"]:
        reference = _first_query_weights(got["model"])
        kept = _build.encoder_layers(inner)[2][0].attention.self.query
        weight = getattr(kept, "base_layer", kept).weight
        if type(weight).__name__ != "Params4bit":
            got["drop_from"] = "top" if torch.equal(weight, reference[0]) else \
                "bottom" if torch.equal(weight, reference[got["drop_layers"]]) else "neither"
    four_bit = any(type(m).__module__.startswith("bitsandbytes") and type(m).__name__ == "Linear4bit"
                   for m in model.modules())
    lora = [m for m in model.modules() if hasattr(m, "lora_A")]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    got["adaptation"] = ("qlora" if four_bit and lora else "lora" if lora else
                         "head" if all("classifier" in n for n in trainable) else "full")
    if lora:
        got["lora_rank"] = lora[0].r["default"]
        got["lora_alpha"] = round(lora[0].scaling["default"] * lora[0].r["default"])
        got["lora_dropout"] = round(lora[0].lora_dropout["default"].p, 2) if hasattr(lora[0].lora_dropout["default"], "p") else 0.0
    if got["adaptation"] != "head":
        got["gradient_checkpointing"] = bool(getattr(inner, "is_gradient_checkpointing", False))


@functools.lru_cache(maxsize=None)
def _first_query_weights(model_name: str) -> list[torch.Tensor]:
    from transformers import AutoModelForSequenceClassification

    full = AutoModelForSequenceClassification.from_pretrained(_models.model_path(model_name), num_labels=5)
    return [layer.attention.self.query.weight.detach() for layer in _build.encoder_layers(full)[2]]


# -- the test -------------------------------------------------------------------------------------------------


@pytest.fixture
def nvml(monkeypatch, no_hardware):
    fakes.FakeHardware(monkeypatch).install()


@pytest.fixture(scope="module")
def read_back(tiny_pipeline):
    pipeline = tiny_pipeline
    cache: dict[tuple, dict[str, Any]] = {}
    space = Space(EVERYTHING, TASK)

    def read(values: dict[str, Any], threads: int) -> tuple[dict[str, Any], dict[str, Any]]:
        config = space.complete(values)
        key = (threads, *sorted(config.items()))
        if key not in cache:
            with mock.patch.object(pipeline, "hardware", EVERYTHING):
                cache[key] = built_and_read_back(config, pipeline, threads)
        return config, cache[key]

    return read


@pytest.mark.parametrize("name,value", cases(), ids=lambda v: str(v))
def test_one_knob_one_change_in_what_was_built(name, value, read_back, nvml):
    pytest.importorskip("bitsandbytes")
    setup = {**SMALL, **enabling(name)}
    threads = THREADS.get(name, 1)
    base_config, base = read_back(setup, threads)
    config, new = read_back({**setup, name: value}, threads)
    assert new[name] == value, f"{name} = {value} read back as {new[name]}"
    for key in set(base) | set(new):
        if key == name:
            continue
        child = KNOBS_BY_NAME[key].condition is not None and KNOBS_BY_NAME[key].condition.parent == name
        if child and key not in base:  # enabled by this knob: at its baseline
            assert new[key] == base_config.get(key, KNOBS_BY_NAME[key].baseline) == config[key], key
        elif child and key not in new:  # disabled by this knob
            continue
        else:
            assert new.get(key) == base.get(key), f"{name} = {value} also changed {key}: {base.get(key)} -> {new.get(key)}"


def test_every_knob_is_read_back():
    """The readback covers every declared knob, so the test above leaves none out."""
    covered = {"max_length", "padding", "tokenizer", "train_fraction", "power_limit_w", "model", "drop_layers",
               "drop_from", "adaptation", "lora_rank", "lora_alpha", "lora_dropout", "gradient_checkpointing",
               "optimizer", "learning_rate", "train_precision", "batch_size", "loader_workers", "pin_memory", "epochs",
               "grad_accum", "batching", "compile", "cpu_threads", "infer_compile", "infer_batch_size", "quantization",
               "infer_precision", "attention"}
    assert covered == set(KNOBS_BY_NAME)
    assert {name for name, _ in cases()} == set(KNOBS_BY_NAME)
