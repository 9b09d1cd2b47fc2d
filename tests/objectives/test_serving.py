"""What serves is what the knobs say, read back from the served model — with the real bitsandbytes, whose int8 and
NF4 layers run on this CPU: QLoRA's 4-bit base never leaks into serving, a bitsandbytes reload keeps the attention
kernel and every trained weight, and a quantization that replaced nothing is refused."""

from __future__ import annotations

import copy

import pytest
import torch

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import _build, _infer, _models, _tokens, _train
from greenknobs.spaces import Hardware, Space, TaskInfo
from tests.objectives._spies import counting_sdpa

pytest.importorskip("bitsandbytes")
pytestmark = pytest.mark.filterwarnings("ignore")

NO_GPU = "needs a CUDA GPU"
# This machine as detect() sees it: no GPU, bitsandbytes' layers on the CPU at a study's cost.
CPU = Hardware(device="cpu", cpu_cores=2, missing={"cuda": NO_GPU, "fp16": NO_GPU, "pin-memory": NO_GPU,
                                                  "power-limit": "no NVML"},
               costly={"bnb-layers": "bitsandbytes on the CPU"})
TASK = TaskInfo(models=("tiny-bert",), min_layers=4, max_positions=512, layers={"tiny-bert": 4})
LINEARS = 4 * 6 + 1  # the encoder blocks' and the pooler's; the classifier head stays in full precision


def config(**values):
    return Space(CPU, TASK).complete({"epochs": 1, "batch_size": 8, **values})


@pytest.fixture(scope="module")
def data(tiny_pipeline):
    tokenizer = _models.load_tokenizer("tiny-bert", "rust")
    split = tiny_pipeline.splits.train
    return _tokens.encode(tokenizer, split["text"][:16], split["label"][:16], 32, "fixed"), tokenizer.pad_token_id


@pytest.fixture(scope="module")
def trained(data):
    """Fine-tuned tiny-berts, one per adaptation / attention, trained once; tests serve deep copies."""
    cache = {}

    def get(**values):
        key = tuple(sorted(values.items()))
        if key not in cache:
            cfg = config(**values)
            torch.manual_seed(0)
            built = _build.build_model(cfg, "tiny-bert", 5, "cpu")
            _train.train(built.model, data[0], cfg, "cpu", data[1], seed=0)
            built.model.eval()
            cache[key] = built.model
        return copy.deepcopy(cache[key])

    return get


def logits(model, data) -> torch.Tensor:
    batch = _tokens.Collate(data[1])([data[0][i] for i in range(8)])
    batch.pop("labels")
    with torch.inference_mode():
        return model(**batch).logits.float()


# -- 1. QLoRA serves what `quantization` and `infer_precision` say -------------------------------------------


def test_qlora_trains_on_a_4bit_base_and_serves_full_precision(trained, data):
    model = trained(adaptation="qlora")
    assert _infer.quantized_layers(model) == {"bnb-nf4": LINEARS}  # trained on NF4
    as_trained = logits(model, data)
    served, info = _infer.prepare(model, config(adaptation="qlora"), "cpu")
    assert not _infer.quantized_layers(served)
    assert {p.dtype for p in served.parameters()} == {torch.float32}
    assert not any(hasattr(m, "lora_A") for m in served.modules())  # merged
    assert info["quantized_linear_layers"] == 0 and info["served"] == "fp32 weights; attention eager"
    # The model that trained (adapters over the dequantized NF4 base, bf16 compute), now in fp32: no second rounding.
    assert torch.allclose(logits(served, data), as_trained, atol=0.05)


def test_qlora_with_bf16_inference_serves_bf16(trained):
    served, info = _infer.prepare(trained(adaptation="qlora"), config(adaptation="qlora", infer_precision="bf16"), "cpu")
    assert {p.dtype for p in served.parameters()} == {torch.bfloat16} and not _infer.quantized_layers(served)
    assert info["served"].startswith("bf16 weights")


# -- 2. a bitsandbytes reload keeps the attention kernel ------------------------------------------------------


@pytest.mark.parametrize("quantization", ["bnb-int8", "bnb-nf4"])
def test_a_bnb_reload_keeps_the_attention_kernel(trained, data, quantization):
    counts = {}
    for attention in ("eager", "sdpa"):
        served, info = _infer.prepare(trained(attention=attention), config(attention=attention, quantization=quantization), "cpu")
        assert served.config._attn_implementation == attention and info["served"].endswith(f"attention {attention}")
        with counting_sdpa() as calls:
            _infer.predict(served, data[0], 8, "cpu", data[1])
        counts[attention] = len(calls)
    assert counts["eager"] == 0 and counts["sdpa"] == 4 * 2  # 4 blocks, 2 batches


# -- 3. qlora + bnb-int8 serves int8; a label that does not hold is refused -----------------------------------


@pytest.mark.parametrize("quantization", ["bnb-int8", "bnb-nf4"])
def test_qlora_then_bnb_serves_the_labelled_quantization(trained, quantization):
    served, info = _infer.prepare(trained(adaptation="qlora"), config(adaptation="qlora", quantization=quantization), "cpu")
    assert _infer.quantized_layers(served) == {quantization: LINEARS}
    assert info["quantized_linear_layers"] == LINEARS and info["served"].startswith(f"{LINEARS} {quantization} Linear")
    assert type(served.classifier) is torch.nn.Linear  # the head in full precision


def test_a_model_that_is_not_what_its_label_says_is_refused(trained):
    nf4, _ = _infer.prepare(trained(), config(quantization="bnb-nf4"), "cpu")
    with pytest.raises(GreenknobsError, match=f"quantization = 'bnb-int8' but the model would serve {LINEARS} bnb-nf4"):
        _infer.served(nf4, config(quantization="bnb-int8"))
    with pytest.raises(GreenknobsError, match=f"quantization = 'none' but the model would serve {LINEARS} bnb-nf4"):
        _infer.served(nf4, config())
    with pytest.raises(GreenknobsError, match="infer_precision = 'bf16' but the model holds fp32 weights"):
        _infer.served(trained(), config(infer_precision="bf16"))


# -- 4. a bitsandbytes quantization that replaced nothing is refused ------------------------------------------


@pytest.mark.parametrize("quantization,label", [("bnb-int8", "bitsandbytes int8"), ("bnb-nf4", "bitsandbytes NF4")])
def test_a_bnb_quantization_that_replaced_nothing_is_refused(trained, monkeypatch, quantization, label):
    # A model whose every Linear bitsandbytes leaves alone (here: all of them named as the head).
    every_linear = lambda model: [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]  # noqa: E731
    monkeypatch.setattr(_infer, "head_linears", every_linear)
    with pytest.raises(GreenknobsError) as err:
        _infer.prepare(trained(), config(quantization=quantization), "cpu")
    assert str(err.value) == f"{label} quantization replaced no Linear layer of the model: set quantization = 'none'"


# -- 5. a reload after drop_from = bottom keeps the moved block's trained norm (ModernBERT) --------------------


@pytest.fixture(scope="module")
def modernbert(tmp_path_factory) -> str:
    """A 3-block ModernBERT with random weights: its first block has no attention norm, the others do."""
    from transformers import ModernBertConfig, ModernBertForSequenceClassification

    cfg = ModernBertConfig(vocab_size=128, hidden_size=64, intermediate_size=64, num_hidden_layers=3,
                           num_attention_heads=2, max_position_embeddings=64, num_labels=5, pad_token_id=0,
                           bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2, initializer_range=0.3)
    torch.manual_seed(0)
    model = ModernBertForSequenceClassification(cfg)
    for layer in model.model.layers[1:]:  # as if trained: norms that are not the identity
        torch.nn.init.normal_(layer.attn_norm.weight, 1.0, 0.5)
    folder = tmp_path_factory.mktemp("modernbert")
    model.save_pretrained(folder)
    return str(folder)


def test_a_bnb_reload_after_dropping_bottom_layers_keeps_the_trained_norms(modernbert):
    task = TaskInfo(models=(modernbert,), min_layers=3, max_positions=64, layers={modernbert: 3})
    ids = torch.randint(3, 128, (4, 16), generator=torch.Generator().manual_seed(0))
    errors = {}
    for side in ("top", "bottom"):
        cfg = Space(CPU, task).complete({"drop_layers": 1, "drop_from": side, "quantization": "bnb-int8"})
        built = _build.build_model(cfg, modernbert, 5, "cpu")
        built.model.eval()
        moved_norm = built.model.model.layers[0].attn_norm
        with torch.inference_mode():
            before = built.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        served, info = _infer.prepare(built.model, cfg, "cpu")
        assert info["quantized_linear_layers"] == 2 * 4  # Wqkv, Wo, mlp.Wi, mlp.Wo in each kept block
        with torch.inference_mode():
            after = served(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        errors[side] = float((after - before).abs().max() / before.abs().max())
        if side == "bottom":  # the block moved to the front keeps the norm it was trained with
            kept = served.model.layers[0].attn_norm
            assert isinstance(kept, torch.nn.LayerNorm) and torch.equal(kept.weight.cpu(), moved_norm.weight)
    # Within int8's error, as when the top block goes (no block moves); losing the norm costs ~80% of the logits.
    assert errors["bottom"] < 0.15 and errors["top"] < 0.15, errors
