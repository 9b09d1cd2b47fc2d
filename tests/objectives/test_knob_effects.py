"""Every knob changes what it claims to change — one table, one row per knob value, on tiny-bert.

Each row runs the phase that the knob belongs to twice, through the pipeline's own functions: once with a small
baseline configuration and once with only that knob changed, and checks the difference it claims. Phases run
alone where that suffices (the model phase is `build_model`, not a whole trial); results are cached per
configuration, so a baseline is paid for once."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import torch
from transformers.modeling_outputs import SequenceClassifierOutput

from greenknobs.objectives import _build, _infer, _models, _tokens, _train
from greenknobs.spaces import KNOBS_BY_NAME, Hardware, Space, TaskInfo
from tests.objectives._spies import counting_sdpa

# torch deprecates the quantized tensor type that dynamic int8 still builds on; the CLI silences it too.
pytestmark = pytest.mark.filterwarnings("ignore:.*quantize_per_tensor")

# Every capability: values declared for GPUs run here where the CPU can run them (fp16 autocast and weights,
# bitsandbytes' int8 / NF4 / QLoRA), or through a spy where it cannot (pin_memory).
CPU = Hardware(device="cpu", cpu_cores=2, gpu_name="NVIDIA H100 80GB HBM3", power_limit_range_w=(100.0, 700.0),
               power_limit_default_w=700.0)
# tiny-bert first (the baseline); MiniLM as a second candidate, so that `model` can change too.
TASK = TaskInfo(models=("tiny-bert", "minilm-l6"), min_layers=4, max_positions=512, layers={"tiny-bert": 4, "minilm-l6": 6})
SMALL = {"max_length": 32, "train_fraction": 0.2, "epochs": 1, "batch_size": 16}  # every row starts from here
N_TRAIN = 48  # examples in the fixed training set of the training, inference and compile phases
# Checked through the fake NVML in tests/objectives/energy and tests/objectives/test_one_knob_one_change.py.
CANNOT_RUN_HERE = {"power_limit_w"}


# -- what each phase run shows -------------------------------------------------------------------------------


def run_data(config, pipeline, data):
    # The pipeline's own data phase (it takes the seed that picks the subsample where the pipeline passes one).
    seeded = "seed" in inspect.signature(pipeline._tokenize).parameters
    train, evaluation, tokenizer = pipeline._tokenize(config, *([pipeline.seed] if seeded else []))
    return SimpleNamespace(train=train, eval=evaluation, tokenizer=tokenizer)


def run_model(config, pipeline, data):
    torch.manual_seed(0)
    return _build.build_model(config, config["model"], pipeline.splits.num_labels, "cpu", pipeline.task.lora_targets)


def run_attention(config, pipeline, data):
    """The model phase, then one forward pass on the built model, counting the sdpa kernel's calls."""
    encoded, pad = data
    built = run_model(config, pipeline, data)
    batch = _tokens.Collate(pad)([encoded[i] for i in range(8)])
    with counting_sdpa() as calls, torch.inference_mode():
        built.model.eval()(**batch)
    return SimpleNamespace(built=built, sdpa_calls=len(calls))


_ITERATORS: list[tuple[int, str]] = []


class SpyLoader(torch.utils.data.DataLoader):
    """Records how each epoch's batches were produced, without keeping the loader (and its workers) alive; and
    whether it was asked to pin (pinning itself needs CUDA: here the batches it yields record their copies)."""

    def __init__(self, *args, pin_memory: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked_to_pin = pin_memory

    def __iter__(self):
        iterator = super().__iter__()
        _ITERATORS.append((self.num_workers, type(iterator).__name__))
        for batch in iterator:
            yield {k: v.as_subclass(CopySpy) for k, v in batch.items()}


_COPIES: list[bool] = []


class CopySpy(torch.Tensor):
    """A batch tensor that records whether its host-to-device copy was asked to be non-blocking."""

    def to(self, *args, **kwargs):
        _COPIES.append(bool(kwargs.get("non_blocking", False)))
        return torch.Tensor.to(self.as_subclass(torch.Tensor), *args, **kwargs)


def run_training(config, pipeline, data):
    encoded, pad = data
    built = run_model(config, pipeline, data)
    model = built.model
    layer0_calls, head_dtypes, optimizers = [], set(), []
    # A Linear inside the first block: transformers checkpoints the block's `forward`, so hooks on the block
    # itself run once, while those inside run again when the backward pass recomputes it.
    first_block = _build.encoder_layers(model)[2][0]
    next(m for m in first_block.modules() if isinstance(m, torch.nn.Linear)).register_forward_hook(
        lambda m, i, o: layer0_calls.append(1))
    model.classifier.register_forward_hook(lambda m, i, o: head_dtypes.add(o.dtype))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    def spy_optimizer(*args, **kwargs):
        optimizers.append(real_make_optimizer(*args, **kwargs))
        return optimizers[-1]

    real_make_optimizer = _train.make_optimizer
    _ITERATORS.clear()
    _COPIES.clear()
    loaders: list[SpyLoader] = []

    def spy_loader(*args, **kwargs):
        loaders.append(SpyLoader(*args, **kwargs))
        return loaders[-1]

    with mock.patch.object(_train, "make_optimizer", spy_optimizer), mock.patch.object(torch.utils.data, "DataLoader", spy_loader):
        torch.manual_seed(0)
        result = _train.train(model, encoded, config, "cpu", pad, seed=0)
    moved = math.sqrt(sum(float(((p.detach() - before[n]) ** 2).sum()) for n, p in model.named_parameters()))
    return SimpleNamespace(built=built, result=result, layer0_calls=len(layer0_calls), head_dtypes=head_dtypes,
                           optimizer=optimizers[0], iterators=list(_ITERATORS), moved=moved,
                           param_dtypes={p.dtype for p in model.parameters()}, asked_to_pin=loaders[0].asked_to_pin,
                           copies=list(_COPIES))


N_GROUPED = 192  # fortunes: 24 batches of 8, in mega-batches of 6 (LengthGroupedSampler's size for this many)


class BatchSpy(torch.utils.data.DataLoader):
    """Records every batch the training loop meets, per epoch: each row's own tokens (padding cut off)."""

    epochs: list[list[list[tuple[int, ...]]]] = []

    def __iter__(self):
        rows: list[list[tuple[int, ...]]] = []
        BatchSpy.epochs.append(rows)
        for batch in super().__iter__():
            lengths = batch["attention_mask"].sum(1).tolist()
            rows.append([tuple(ids[:n].tolist()) for ids, n in zip(batch["input_ids"], lengths)])
            yield batch


def run_batches(config, pipeline, data):
    """The training phase on 192 fortunes tokenized as the configuration says (the table's fixed 32-token data
    cannot show padding), recording the batches the loop met."""
    tokenizer = _models.load_tokenizer(config["model"], config["tokenizer"])
    split = pipeline.splits.train
    encoded = _tokens.encode(tokenizer, split["text"][:N_GROUPED], split["label"][:N_GROUPED], config["max_length"],
                             config["padding"])
    model = run_model(config, pipeline, data).model
    BatchSpy.epochs = []
    with mock.patch.object(torch.utils.data, "DataLoader", BatchSpy):
        torch.manual_seed(0)
        result = _train.train(model, encoded, config, "cpu", tokenizer.pad_token_id, seed=0)
    texts = sorted(tuple(ids) for ids in encoded.features["input_ids"])
    return SimpleNamespace(result=result, epochs=BatchSpy.epochs, texts=texts)


def run_inference(config, pipeline, data):
    encoded, pad = data
    built = run_model(config, pipeline, data)
    served, info = _infer.prepare(built.model, config, "cpu")
    batches: list[int] = []
    served.register_forward_pre_hook(lambda m, args, kwargs: batches.append(len(kwargs["input_ids"])), with_kwargs=True)
    preds = _infer.predict(served, encoded, config["infer_batch_size"], "cpu", pad)
    return SimpleNamespace(served=served, info=info, preds=preds, batches=batches)


class TinyClassifier(torch.nn.Module):
    """Compiling tiny-bert costs a minute on a shared 2-core CPU; the same training and inference functions
    compile this in a second."""

    def __init__(self, vocab: int = 30522, labels: int = 5) -> None:
        super().__init__()
        self.embed = torch.nn.EmbeddingBag(vocab, 8)
        self.head = torch.nn.Linear(8, labels)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        logits = self.head(self.embed(input_ids))
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def run_compiled(config, pipeline, data):
    """torch.compile with dynamo's eager backend: dynamo captures and runs the graph exactly as with inductor,
    without inductor's C++ code generation (the knob's claim is "compiled", not a backend)."""
    from torch._dynamo.utils import counters

    encoded, pad = data
    compile_eager = functools.partial(torch.compile, backend="eager")
    torch._dynamo.reset()
    counters.clear()
    with mock.patch.object(torch, "compile", compile_eager):
        torch.manual_seed(0)
        trained = _train.train(TinyClassifier(), encoded, config, "cpu", pad, seed=0)
        train_graphs = counters["stats"]["unique_graphs"]
        served, _ = _infer.prepare(TinyClassifier(), config, "cpu")
        preds = _infer.predict(served, encoded, config["infer_batch_size"], "cpu", pad)
    return SimpleNamespace(trained=trained, train_graphs=train_graphs, preds=preds, served=served,
                           infer_graphs=counters["stats"]["unique_graphs"] - train_graphs)


def run_trial(config, pipeline, data):
    threads_during: set[int] = set()
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # a default that differs from cpu_threads = 1, on any machine
    pipeline.progress = lambda event, **info: threads_during.add(torch.get_num_threads()) if event == "step" else None
    try:
        result = pipeline.run(config)
        threads_after = torch.get_num_threads()
    finally:
        pipeline.progress = None
        torch.set_num_threads(before)
    return SimpleNamespace(result=result, threads_during=threads_during, threads_after=threads_after)


def run_compiled_tiny_bert(config, pipeline, data):
    """The real tiny model through torch.compile, trained and served (served compiled when trained compiled, so one
    row covers both knobs' paths): dynamo captures the HF model and AOTAutograd traces its forward and backward
    graphs ("aot_eager"; inductor's C++ code generation, a minute here, is left to the GPU run in benchmarks/gpu/).
    One batch of eight: what is checked is that the real model compiles and computes what it did uncompiled."""
    from torch._dynamo.utils import counters

    encoded, pad = data
    encoded = _tokens.Encoded({k: v[:8] for k, v in encoded.features.items()}, encoded.labels[:8])
    compile_aot = functools.partial(torch.compile, backend="aot_eager")
    torch._dynamo.reset()
    counters.clear()
    built = run_model(config, pipeline, data)
    with mock.patch.object(torch, "compile", compile_aot):
        torch.manual_seed(0)
        trained = _train.train(built.model, encoded, config, "cpu", pad, seed=0)
        train_graphs = counters["stats"]["unique_graphs"]
        served, _ = _infer.prepare(built.model, {**config, "infer_compile": config["compile"]}, "cpu")
        preds = _infer.predict(served, encoded, config["infer_batch_size"], "cpu", pad)
    return SimpleNamespace(trained=trained, train_graphs=train_graphs, preds=preds, served=served,
                           infer_graphs=counters["stats"]["unique_graphs"] - train_graphs,
                           breaks=sum(counters["graph_break"].values()))


RUNNERS: dict[str, Callable] = {"data": run_data, "model": run_model, "attention": run_attention,
                                "training": run_training, "batches": run_batches, "inference": run_inference, "compiled": run_compiled,
                                "compiled-tiny-bert": run_compiled_tiny_bert, "trial": run_trial}


# -- the checks: (baseline run, run with the knob changed) ---------------------------------------------------


def _layer_weights(model) -> list[torch.Tensor]:
    return [layer.attention.self.query.weight.detach() for layer in _build.encoder_layers(model)[2]]


def _lora_layers(model) -> list:
    return [m for m in model.modules() if hasattr(m, "lora_A")]


def check_max_length(base, new):
    assert {len(ids) for ids in base.train.features["input_ids"]} == {32}
    assert {len(ids) for ids in new.train.features["input_ids"]} == {64} == {new.train.width, new.eval.width}


def check_padding(base, new):
    assert {len(ids) for ids in base.train.features["input_ids"]} == {128}
    lengths = [len(ids) for ids in new.train.features["input_ids"]]
    assert len(set(lengths)) > 5 and max(lengths) <= 128
    collate = _tokens.Collate(new.tokenizer.pad_token_id)
    widths = [collate([new.train[j] for j in range(i, i + 16)])["input_ids"].shape[1] for i in range(0, 48, 16)]
    assert len(set(widths)) > 1 or widths[0] < 128  # each batch padded to its own longest text


def check_tokenizer(base, new):
    assert base.tokenizer.is_fast and not new.tokenizer.is_fast
    assert type(new.tokenizer).__name__.endswith("Legacy")
    for key in ("input_ids", "attention_mask"):  # the same tokens, only produced by other code
        assert new.train.features[key] == base.train.features[key] and new.eval.features[key] == base.eval.features[key]
    for encoded in (base.train, new.train):  # the Python class leaves out the all-zero segment ids BERT defaults to
        assert all(set(row) == {0} for row in encoded.features.get("token_type_ids", []))


def check_train_fraction(base, new):
    assert (len(base.train), len(new.train)) == (60, 120)  # of 300 training fortunes
    assert len(base.eval) == len(new.eval) == 100
    doubled = _counts(new.train.labels)
    for c, n in _counts(base.train.labels).items():  # stratified: each class keeps its share in both
        assert abs(n - doubled[c] / 2) <= 1


def _counts(labels):
    out: dict[int, int] = {}
    for y in labels:
        out[y] = out.get(y, 0) + 1
    return out


def check_model(base, new):
    assert (base.layers, new.layers) == (4, 6)
    assert (base.model.config.hidden_size, new.model.config.hidden_size) == (64, 384)


def check_drop_layers(base, new):
    assert (base.layers, new.layers) == (4, 2) and new.model.config.num_hidden_layers == 2
    assert new.total_params < base.total_params
    kept, full = _layer_weights(new.model), _layer_weights(base.model)
    assert all(torch.equal(a, b) for a, b in zip(kept, full[:2]))  # top: the layers nearest the output go


def check_drop_from(base, new):
    full = _layer_weights(_build.build_model({**_base_config(), "drop_layers": 0}, "tiny-bert", 5, "cpu").model)
    assert all(torch.equal(a, b) for a, b in zip(_layer_weights(base.model), full[:2]))
    assert all(torch.equal(a, b) for a, b in zip(_layer_weights(new.model), full[2:]))
    assert not torch.equal(_layer_weights(base.model)[0], _layer_weights(new.model)[0])


def _base_config():
    return Space(CPU, TASK).complete(SMALL)


def check_attention(base, new):
    assert (base.built.model.config._attn_implementation, new.built.model.config._attn_implementation) == ("eager", "sdpa")
    assert (base.sdpa_calls, new.sdpa_calls) == (0, 4)  # the kernel ran, once per block


def check_lora(base, new):
    assert base.trainable_params == base.total_params and base.lora_modules == 0
    assert 0 < new.trainable_params < base.total_params / 20
    layers = _build.encoder_layers(new.model.base_model.model)[2]
    in_encoder = [m for layer in layers for m in layer.modules() if hasattr(m, "lora_A")]
    assert new.lora_modules == len(in_encoder) == 4 * 6  # every Linear of the 4 blocks
    outside = {n for n, m in new.model.named_modules() if hasattr(m, "lora_A") and ".encoder." not in n}
    assert outside == {"base_model.model.bert.pooler.dense"}  # "all-linear" takes the pooler too, not the classifier
    trainable = {n for n, p in new.model.named_parameters() if p.requires_grad}
    assert all("lora_" in n or ".classifier." in n for n in trainable)


def check_qlora(base, new):
    four_bit = [n for n, m in new.model.named_modules()
                if type(m).__module__.startswith("bitsandbytes") and type(m).__name__ == "Linear4bit"]
    assert len(four_bit) == 4 * 6 + 1 and all(getattr(m.weight, "quant_type", "") == "nf4"
                                              for n, m in new.model.named_modules() if n in four_bit)
    assert new.lora_modules == 4 * 6 and 0 < new.trainable_params < base.trainable_params / 20
    head = new.model.base_model.model.classifier  # trained in full precision (modules_to_save)
    assert all(p.dtype == torch.float32 and p.requires_grad for p in head.modules_to_save["default"].parameters())


def check_head(base, new):
    trainable = {n: p.numel() for n, p in new.model.named_parameters() if p.requires_grad}
    assert set(trainable) == {"classifier.weight", "classifier.bias"}
    assert new.trainable_params == sum(trainable.values()) == 64 * 5 + 5


def check_lora_rank(base, new):
    assert {m.r["default"] for m in _lora_layers(base.model)} == {8}
    assert {m.r["default"] for m in _lora_layers(new.model)} == {16}
    assert {m.lora_A["default"].weight.shape[0] for m in _lora_layers(new.model)} == {16}
    classifier = 64 * 5 + 5
    assert new.trainable_params - classifier == 2 * (base.trainable_params - classifier)  # adapters double


def check_lora_alpha(base, new):
    assert {m.scaling["default"] for m in _lora_layers(base.model)} == {16 / 8}
    assert {m.scaling["default"] for m in _lora_layers(new.model)} == {32 / 8}
    assert new.trainable_params == base.trainable_params


def check_lora_dropout(base, new):
    assert {m.lora_dropout["default"].p for m in _lora_layers(base.model)} == {0.1}
    assert {m.lora_dropout["default"].p for m in _lora_layers(new.model)} == {0.3}


def check_gradient_checkpointing(base, new):
    assert new.built.model.is_gradient_checkpointing and not base.built.model.is_gradient_checkpointing
    batches = math.ceil(N_TRAIN / 16)
    assert (base.layer0_calls, new.layer0_calls) == (batches, 2 * batches)  # each block recomputed in backward
    assert new.result["optimizer_steps"] == base.result["optimizer_steps"]
    assert new.result["epoch_losses"] == pytest.approx(base.result["epoch_losses"], rel=1e-5)


def check_optimizer(base, new):
    import bitsandbytes as bnb

    assert type(base.optimizer) is torch.optim.AdamW
    assert isinstance(new.optimizer, bnb.optim.AdamW8bit)
    base_state = {t.dtype for s in base.optimizer.state.values() for t in s.values() if torch.is_tensor(t) and t.numel() > 1}
    new_state = {t.dtype for s in new.optimizer.state.values() for t in s.values() if torch.is_tensor(t) and t.numel() > 1}
    assert base_state == {torch.float32} and torch.uint8 in new_state
    assert new.moved > 0


def check_train_precision(base, new):
    assert (base.head_dtypes, new.head_dtypes) == ({torch.float32}, {torch.bfloat16})
    assert new.param_dtypes == {torch.float32}  # autocast: the weights stay fp32
    assert new.moved > 0


def check_train_precision_fp16(base, new):
    assert (base.head_dtypes, new.head_dtypes) == ({torch.float32}, {torch.float16})
    assert new.param_dtypes == {torch.float32} and new.moved > 0


def check_pin_memory(base, new):
    assert (base.asked_to_pin, new.asked_to_pin) == (False, True)
    assert set(base.copies) == {False} and set(new.copies) == {True}  # pinned batches copy without blocking
    assert new.result["epoch_losses"] == pytest.approx(base.result["epoch_losses"], rel=1e-6)


def check_batch_size(base, new):
    assert (base.result["optimizer_steps"], new.result["optimizer_steps"]) == (math.ceil(N_TRAIN / 16), N_TRAIN // 8)
    assert (base.layer0_calls, new.layer0_calls) == (N_TRAIN // 16, N_TRAIN // 8)


def check_grad_accum(base, new):
    assert (base.result["optimizer_steps"], new.result["optimizer_steps"]) == (3, 2)  # 3 micro-batches
    assert base.layer0_calls == new.layer0_calls == 3


def check_learning_rate(base, new):
    assert new.result["optimizer_steps"] == base.result["optimizer_steps"]
    assert 0 < new.moved < base.moved / 4  # 1e-5 instead of the baseline's 1e-4 or more


def check_epochs(base, new):
    assert (len(base.result["epoch_losses"]), len(new.result["epoch_losses"])) == (1, 2)
    assert new.result["optimizer_steps"] == 2 * base.result["optimizer_steps"]
    assert (base.layer0_calls, new.layer0_calls) == (3, 6)


def _spread(epoch):
    """Mean gap between the longest and the shortest text of a batch."""
    return sum(max(map(len, b)) - min(map(len, b)) for b in epoch) / len(epoch)


def check_batching(base, new):
    # The same texts, each once per epoch, in as many batches and optimizer steps: only who shares a batch changed.
    for run in (base, new):
        assert [sorted(r for b in epoch for r in b) for epoch in run.epochs] == [run.texts] * len(run.epochs)
    assert new.result["optimizer_steps"] == base.result["optimizer_steps"] == N_GROUPED // 8
    assert new.result["tokens"] - new.result["padded_tokens"] == base.result["tokens"] - base.result["padded_tokens"]
    # Texts of similar length share a batch, so dynamic padding pads far less.
    assert _spread(new.epochs[0]) < _spread(base.epochs[0]) / 3
    assert new.result["padded_tokens"] < base.result["padded_tokens"] / 3
    # The groups still come in random order, not longest to shortest.
    widths = [max(map(len, b)) for b in new.epochs[0]]
    assert widths != sorted(widths, reverse=True) and widths != sorted(widths)


def check_loader_workers(base, new):
    assert base.iterators == [(0, "_SingleProcessDataLoaderIter")]
    assert new.iterators == [(1, "_MultiProcessingDataLoaderIter")]
    # Same batches in the same order, only fetched by a worker process.
    assert new.result["epoch_losses"] == pytest.approx(base.result["epoch_losses"], rel=1e-5)


def check_compile(base, new):
    assert base.train_graphs == 0 and new.train_graphs >= 1
    assert new.infer_graphs == 0 and new.trained["optimizer_steps"] == base.trained["optimizer_steps"]


def check_infer_compile(base, new):
    assert base.infer_graphs == 0 and new.infer_graphs >= 1 and new.train_graphs == 0
    assert type(new.served).__name__ == "OptimizedModule" and type(base.served) is TinyClassifier
    assert new.preds == base.preds


def check_compile_tiny_bert(base, new):
    assert base.train_graphs == base.infer_graphs == 0
    assert new.train_graphs >= 1 and new.infer_graphs >= 1 and new.breaks <= 2
    assert type(new.served).__name__ == "OptimizedModule"
    assert new.trained["epoch_losses"] == pytest.approx(base.trained["epoch_losses"], rel=1e-4)
    assert len(new.preds) == 8
    assert new.preds == base.preds


def check_cpu_threads(base, new):
    assert (base.threads_during, new.threads_during) == ({2}, {1})
    assert base.threads_after == new.threads_after == 2  # restored after the trial


def check_infer_precision(base, new):
    assert {p.dtype for p in base.served.parameters()} == {torch.float32}
    assert {p.dtype for p in new.served.parameters()} == {torch.bfloat16}
    assert len(new.preds) == N_TRAIN


def check_infer_precision_fp16(base, new):
    assert {p.dtype for p in base.served.parameters()} == {torch.float32}
    assert {p.dtype for p in new.served.parameters()} == {torch.float16}
    assert len(new.preds) == N_TRAIN and new.info["served"] == "fp16 weights; attention eager"


def check_infer_batch_size(base, new):
    assert (base.batches, new.batches) == ([16] * 3, [8] * 6)


def check_quantization(base, new):
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    linears = sum(isinstance(m, torch.nn.Linear) for m in base.served.modules())
    assert linears == 4 * 6 + 2  # encoder blocks, pooler, classifier
    assert sum(isinstance(m, DynamicLinear) for m in new.served.modules()) == linears == new.info["quantized_linear_layers"]
    assert not any(type(m) is torch.nn.Linear for m in new.served.modules())
    assert len(new.preds) == N_TRAIN


def _check_bnb(quantization, base, new):
    kind = {"bnb-int8": "Linear8bitLt", "bnb-nf4": "Linear4bit"}[quantization]
    layers = [m for m in new.served.modules() if type(m).__module__.startswith("bitsandbytes")]
    assert {type(m).__name__ for m in layers} == {kind} and len(layers) == 4 * 6 + 1 == new.info["quantized_linear_layers"]
    assert type(new.served.classifier) is torch.nn.Linear  # the head stays in full precision
    assert not [m for m in base.served.modules() if type(m).__module__.startswith("bitsandbytes")]
    assert len(new.preds) == N_TRAIN


def check_bnb_int8(base, new):
    _check_bnb("bnb-int8", base, new)
    agree = sum(a == b for a, b in zip(base.preds, new.preds)) / N_TRAIN
    assert agree >= 0.8, agree  # the same model at 8 bits (NF4's 4 bits move a barely trained tiny-bert further)


def check_bnb_nf4(base, new):
    _check_bnb("bnb-nf4", base, new)
    assert {m.weight.quant_type for m in new.served.modules() if type(m).__name__ == "Linear4bit"} == {"nf4"}


# -- the table -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    knob: str
    value: Any
    phase: str
    check: Callable[[Any, Any], None]
    setup: dict = field(default_factory=dict)  # set in both runs (the parent a conditional knob needs)

    def __str__(self) -> str:
        return f"{self.knob}={self.value}"


CASES = [
    # data
    Case("max_length", 64, "data", check_max_length),
    Case("padding", "dynamic", "data", check_padding, {"max_length": 128}),
    Case("tokenizer", "python", "data", check_tokenizer, {"tokenizer": "rust"}),
    Case("train_fraction", 0.4, "data", check_train_fraction),
    # model
    Case("model", "minilm-l6", "model", check_model),
    Case("drop_layers", 2, "model", check_drop_layers),
    Case("drop_from", "bottom", "model", check_drop_from, {"drop_layers": 2}),
    Case("attention", "sdpa", "attention", check_attention),
    # training: what is trained
    Case("adaptation", "lora", "model", check_lora),
    Case("adaptation", "head", "model", check_head),
    Case("adaptation", "qlora", "model", check_qlora),
    Case("lora_rank", 16, "model", check_lora_rank, {"adaptation": "lora"}),
    Case("lora_alpha", 32, "model", check_lora_alpha, {"adaptation": "lora"}),
    Case("lora_dropout", 0.3, "model", check_lora_dropout, {"adaptation": "lora"}),
    # training: how
    Case("gradient_checkpointing", True, "training", check_gradient_checkpointing),
    Case("optimizer", "adamw-8bit", "training", check_optimizer),
    Case("train_precision", "bf16", "training", check_train_precision),
    Case("train_precision", "fp16", "training", check_train_precision_fp16),
    Case("batch_size", 8, "training", check_batch_size),
    Case("grad_accum", 2, "training", check_grad_accum),
    Case("batching", "length-grouped", "batches", check_batching, {"padding": "dynamic", "max_length": 128, "batch_size": 8}),
    Case("learning_rate", 1e-5, "training", check_learning_rate),
    Case("epochs", 2, "training", check_epochs),
    # system
    Case("compile", True, "compiled", check_compile),
    Case("compile", True, "compiled-tiny-bert", check_compile_tiny_bert),
    Case("pin_memory", True, "training", check_pin_memory),
    Case("loader_workers", 1, "training", check_loader_workers),
    Case("cpu_threads", 1, "trial", check_cpu_threads, {"tokenizer": "rust"}),
    # inference
    Case("infer_precision", "bf16", "inference", check_infer_precision),
    Case("infer_precision", "fp16", "inference", check_infer_precision_fp16),
    Case("infer_batch_size", 8, "inference", check_infer_batch_size),
    Case("quantization", "dynamic-int8", "inference", check_quantization),
    Case("quantization", "bnb-int8", "inference", check_bnb_int8),
    Case("quantization", "bnb-nf4", "inference", check_bnb_nf4),
    Case("infer_compile", True, "compiled", check_infer_compile),
]


def test_every_knob_is_in_the_table_or_cannot_run_here():
    assert {c.knob for c in CASES} | CANNOT_RUN_HERE == set(KNOBS_BY_NAME)
    space = Space(CPU, TASK)
    for case in CASES:  # a row changes one knob, to a value it may really take, away from the row's baseline
        base = space.complete({**SMALL, **case.setup})
        new = space.complete({**SMALL, **case.setup, case.knob: case.value})
        changed = {k for k in base.keys() | new.keys() if base.get(k) != new.get(k)}
        assert base[case.knob] != case.value and case.knob in changed
        assert all(KNOBS_BY_NAME[k].condition.parent == case.knob for k in changed - {case.knob})  # its children
        assert case.phase in RUNNERS


@pytest.fixture(scope="module")
def observe(tiny_pipeline):
    space = Space(CPU, TASK)
    tokenizer = _models.load_tokenizer("tiny-bert", "rust")
    split = tiny_pipeline.splits.train
    data = (_tokens.encode(tokenizer, split["text"][:N_TRAIN], split["label"][:N_TRAIN], 32, "fixed"),
            tokenizer.pad_token_id)
    cache: dict[tuple, Any] = {}

    def observe(phase: str, values: dict) -> Any:
        key = (phase, tuple(sorted(values.items())))
        if key not in cache:
            cache[key] = RUNNERS[phase](space.complete(values), tiny_pipeline, data)
        return cache[key]

    return observe


@pytest.mark.parametrize("case", CASES, ids=str)
def test_knob_changes_what_it_claims(case, observe):
    if case.knob == "optimizer" or "bnb" in str(case.value) or case.value == "qlora":
        pytest.importorskip("bitsandbytes")
    base = {**SMALL, **case.setup}
    case.check(observe(case.phase, base), observe(case.phase, {**base, case.knob: case.value}))
