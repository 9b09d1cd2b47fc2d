"""The model phase's guards: LoRA that adapts nothing in the encoder is refused, not trained as a head-only model
(the original study's silent failure); parameter counts are what they claim."""

from __future__ import annotations

import pytest
import torch

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import _build, task_from
from greenknobs.spaces import Hardware, Space, TaskInfo

CPU = Hardware(device="cpu", cpu_cores=2, missing={"cuda": "no GPU", "fp16": "no GPU", "pin-memory": "no GPU",
                                                  "bnb-cuda": "no GPU", "power-limit": "no GPU"})
TASK = TaskInfo(models=("tiny-bert",), min_layers=4, max_positions=512, layers={"tiny-bert": 4})


def _config(**values):
    return Space(CPU, TASK).complete(values)


def _build_lora(targets, **values):
    return _build.build_model(_config(adaptation="lora", **values), "tiny-bert", 5, "cpu", targets)


@pytest.mark.parametrize("targets,fragment", [
    (("nonexistent",), "match nothing in the encoder"),
    (("classifier",), "match nothing in the encoder"),  # peft keeps the head out of LoRA for classification
    (("pooler.dense",), "match no layer inside the encoder blocks (only the head would train)"),
])
def test_lora_targets_that_adapt_no_encoder_layer_are_refused(targets, fragment):
    with pytest.raises(GreenknobsError) as err:
        _build_lora(targets)
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert "set lora_targets to" in str(err.value)


def test_a_task_table_with_bad_lora_targets_is_refused_when_the_model_is_built(tiny_pipeline):
    task = task_from({"name": "fortunes-tiny", "lora_targets": ["nonexistent"]})
    assert task.lora_targets == ("nonexistent",) and task.dataset == tiny_pipeline.task.dataset
    with pytest.raises(GreenknobsError, match="LoRA target modules"):
        _build_lora(task.lora_targets)
    for bad in ([], "query", [1]):
        with pytest.raises(GreenknobsError, match="`lora_targets` must be"):
            task_from({"name": "fortunes-tiny", "lora_targets": bad})


def test_named_targets_adapt_exactly_those_layers_in_every_block():
    built = _build_lora(("query", "value"))
    adapted = [n for n, m in built.model.named_modules() if hasattr(m, "lora_A")]
    assert built.lora_modules == len(adapted) == 2 * 4
    assert all(".encoder.layer." in n and n.endswith(("query", "value")) for n in adapted)
    # Only the adapters and the classifier head train: r x (64 + 64) per adapter, plus 64 x 5 + 5.
    assert built.trainable_params == 8 * 8 * (64 + 64) + 64 * 5 + 5


def test_a_generic_name_that_also_matches_the_pooler_still_counts_only_encoder_adapters():
    built = _build_lora(("dense",))  # attention.output.dense, intermediate.dense, output.dense, pooler.dense
    in_blocks = [n for n, m in built.model.named_modules() if hasattr(m, "lora_A") and ".encoder." in n]
    assert built.lora_modules == len(in_blocks) == 3 * 4


def test_lora_survives_pruning_and_counts_the_kept_blocks():
    built = _build_lora("all-linear", drop_layers=3, drop_from="bottom")
    assert built.layers == 1 and built.lora_modules == 6


def test_full_fine_tuning_trains_every_parameter():
    built = _build.build_model(_config(), "tiny-bert", 5, "cpu")
    assert built.trainable_params == built.total_params == sum(p.numel() for p in built.model.parameters())
    assert built.layers == 4 and built.lora_modules == 0


def test_encoder_layers_are_found_by_shape_and_missing_ones_are_refused():
    built = _build.build_model(_config(), "tiny-bert", 5, "cpu")
    parent, attr, layers = _build.encoder_layers(built.model)
    assert parent is built.model.bert.encoder and attr == "layer" and len(layers) == 4

    class NoBlocks(torch.nn.Module):
        config = built.model.config

    with pytest.raises(GreenknobsError, match="cannot find the encoder layers of NoBlocks"):
        _build.encoder_layers(NoBlocks())


@pytest.mark.parametrize("stored", [torch.bfloat16, torch.float16])
def test_a_checkpoint_stored_in_half_precision_trains_in_fp32(tmp_path, stored):
    """Precision is the train_precision knob's alone: transformers' default dtype ("auto") would build a model
    stored in bf16 or fp16 (hub checkpoints often are; the GPU run carries MiniLM in fp16) in that precision."""
    from transformers import AutoModelForSequenceClassification

    from greenknobs.objectives._models import model_path

    AutoModelForSequenceClassification.from_pretrained(model_path("tiny-bert"), num_labels=5, dtype=stored
                                                       ).save_pretrained(tmp_path)
    task = TaskInfo(models=(str(tmp_path),), min_layers=4, max_positions=512, layers={str(tmp_path): 4})
    for adaptation in ("full", "lora"):
        config = Space(CPU, task).complete({"adaptation": adaptation})
        built = _build.build_model(config, str(tmp_path), 5, "cpu")
        assert {p.dtype for p in built.model.parameters()} == {torch.float32}
