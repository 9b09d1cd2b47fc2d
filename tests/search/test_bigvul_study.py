"""studies/bigvul-modernbert.toml is for GPU users with network: checked here without running it."""

from __future__ import annotations

from pathlib import Path

from greenknobs.search.study import load_spec
from greenknobs.spaces import Hardware, Space, TaskInfo

STUDY = Path(__file__).resolve().parents[2] / "studies" / "bigvul-modernbert.toml"


def test_parses_and_describes_the_original_study():
    spec = load_spec(STUDY)
    assert spec.name == "bigvul-modernbert"
    assert spec.task.models == ("answerdotai/ModernBERT-base",)
    assert (spec.task.dataset.source, spec.task.dataset.text_column, spec.task.dataset.label_column) == (
        "bstee615/bigvul", "func_before", "vul")
    assert spec.fixed["tokenizer"] == "rust"
    assert spec.energy == "zeus"


def test_its_space_builds_on_a_gpu_machine():
    """The ranges and fixed values are valid knob values for ModernBERT-base (22 layers, 8192 positions) on an
    H100-like machine: a study that would only fail there, after the download, is caught here."""
    spec = load_spec(STUDY)
    gpu = Hardware(device="cuda", cpu_cores=16, gpu_name="NVIDIA H100 80GB HBM3", power_limit_range_w=(200.0, 700.0),
                   power_limit_default_w=700.0, missing={"cpu-inference": "runs on a CUDA GPU"})
    task = TaskInfo(models=spec.task.models, min_layers=22, max_positions=8192, layers={spec.task.models[0]: 22})
    space = Space(gpu, task, search=spec.search, ranges=spec.ranges, fixed=spec.fixed, baseline=spec.baseline)
    assert set(space.searched) == set(spec.search)
    assert space.searched["max_length"].choices == (256, 512, 1024, 2048)
    assert (space.searched["drop_layers"].low, space.searched["drop_layers"].high, space.searched["drop_layers"].step) == (0, 20, 4)
    assert set(space.searched["adaptation"].choices) == {"full", "lora", "qlora"}
    assert set(space.searched["train_precision"].choices) == {"fp32", "bf16", "fp16"}
    assert len(space.searched["power_limit_w"].choices) > 2
    assert space.baseline()["tokenizer"] == "rust"
    # The original study's reference: 2048 tokens, searched down to 256.
    assert (space.baseline()["max_length"], space.baseline()["learning_rate"], space.baseline()["batch_size"]) == (2048, 3e-5, 8)
