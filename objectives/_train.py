"""The training phase: a plain PyTorch loop, so that every knob maps to one visible line and a NaN stops it at once.

(transformers' Trainer would hide the loop behind callbacks and switch things on by itself — fused optimizers,
pin_memory, its own mixed precision — which is what "one knob = one change" forbids.)"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from greenknobs.objectives._tokens import Collate, Encoded


class TrialFailed(Exception):
    """The configuration ran but could not produce a model (NaN or diverging loss, out of memory)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Progress = Callable[..., None]
Monitor = Callable[[int, int], None]  # (optimizer steps done, steps in all): may raise to stop the trial
REPORTS = 3  # intermediate reports per trial, at even shares of its optimizer steps (25%, 50%, 75%)


def report_steps(total_steps: int, reports: int = REPORTS) -> list[int]:
    """The optimizer steps after which a monitored trial reports, the last step excluded (the full score follows)."""
    return sorted({math.ceil(total_steps * k / (reports + 1)) for k in range(1, reports + 1)} - {0, total_steps})
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def make_optimizer(name: str, params: list, lr: float) -> torch.optim.Optimizer:
    if name == "adamw-8bit":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=lr, weight_decay=0.01)
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01)


def train(model: Any, data: Encoded, config: Mapping[str, Any], device: str, pad_token_id: int, seed: int,
          progress: Progress | None = None, monitor: Monitor | None = None) -> dict[str, Any]:
    """`monitor(step, total)` runs after the optimizer steps of `report_steps` (early stopping scores a slice there);
    it must leave the model in training mode and the global RNG as it found it, so a monitored run trains exactly
    as an unmonitored one."""
    from transformers import get_linear_schedule_with_warmup

    loader = training_loader(data, config, seed, pad_token_id)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(config["optimizer"], params, config["learning_rate"])
    accum = config["grad_accum"]
    steps_per_epoch = math.ceil(len(loader) / accum)
    total_steps = steps_per_epoch * config["epochs"]
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * total_steps), total_steps)
    dtype = _DTYPES[config["train_precision"]]
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    scaler = torch.amp.GradScaler(device_type) if config["train_precision"] == "fp16" else None
    step_model = torch.compile(model) if config["compile"] else model
    reports = set(report_steps(total_steps)) if monitor is not None else set()
    model.train()
    losses: list[float] = []
    step = 0
    tokens = padded = 0
    for epoch in range(1, config["epochs"] + 1):
        epoch_loss, batches = 0.0, 0
        for i, batch in enumerate(loader):
            tokens, padded = tokens + batch["input_ids"].numel(), padded + padded_tokens(batch)
            batch = {k: v.to(device, non_blocking=config["pin_memory"]) for k, v in batch.items()}
            with torch.autocast(device_type=device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = step_model(**batch).loss / accum
            value = float(loss.detach()) * accum
            if not math.isfinite(value):
                raise TrialFailed(f"loss became {value} at epoch {epoch}, batch {i + 1}: training diverged")
            if value > 1e3:
                raise TrialFailed(f"loss reached {value:.3g} at epoch {epoch}, batch {i + 1}: training diverged")
            (scaler.scale(loss) if scaler else loss).backward()
            epoch_loss += value
            batches += 1
            if (i + 1) % accum == 0 or i + 1 == len(loader):
                if scaler:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                if progress:
                    progress("step", epoch=epoch, epochs=config["epochs"], step=step, steps=total_steps, loss=value)
                if step in reports:
                    monitor(step, total_steps)
        losses.append(epoch_loss / max(1, batches))
        if progress:
            progress("epoch", epoch=epoch, epochs=config["epochs"], loss=losses[-1])
    # Persistent loader workers would otherwise exit whenever the loader is collected: inside a later metered window.
    iterator = getattr(loader, "_iterator", None)
    if iterator is not None and hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()
    return {"epoch_losses": losses, "optimizer_steps": step, "tokens": tokens, "padded_tokens": padded}


def training_loader(data: Encoded, config: Mapping[str, Any], seed: int, pad_token_id: int) -> torch.utils.data.DataLoader:
    """The training batches, in an order decided by `seed` alone. `batching = "length-grouped"` orders the texts by
    transformers' own LengthGroupedSampler (what Trainer's `group_by_length` uses, sized as Trainer sizes it: micro
    batch × grad_accum): a seeded permutation cut into mega-batches of up to 50 batches, each sorted by length, so a
    batch holds texts of similar length and the mega-batches come in random order. Lengths are the texts' own token
    counts (the attention mask), so the knob groups the same texts under fixed padding as under dynamic padding;
    only dynamic padding turns the grouping into fewer padded tokens."""
    generator = torch.Generator().manual_seed(seed)
    order: dict[str, Any] = {"shuffle": True}
    if config["batching"] == "length-grouped":
        from transformers.trainer_pt_utils import LengthGroupedSampler

        order = {"sampler": LengthGroupedSampler(config["batch_size"] * config["grad_accum"], lengths=text_lengths(data),
                                                 generator=generator)}
    return torch.utils.data.DataLoader(
        data, batch_size=config["batch_size"], generator=generator, collate_fn=Collate(pad_token_id),
        num_workers=config["loader_workers"], pin_memory=config["pin_memory"],
        persistent_workers=config["loader_workers"] > 0, **order,
    )


def text_lengths(data: Encoded) -> list[int]:
    """Each example's own tokens, padding left out."""
    masks = data.features.get("attention_mask")
    return [sum(m) for m in masks] if masks is not None else [len(ids) for ids in data.features["input_ids"]]


def padded_tokens(batch: Mapping[str, torch.Tensor]) -> int:
    """Pad positions in a collated batch: what the model computes on and throws away."""
    mask = batch.get("attention_mask")
    return int(mask.numel() - mask.sum()) if mask is not None else 0


def padding_per_epoch(data: Encoded, config: Mapping[str, Any], seed: int, pad_token_id: int) -> list[tuple[int, int]]:
    """(tokens, padded tokens) of each epoch's training batches, as `train` meets them at this seed, without training:
    the loader's order depends on its seeded generator alone (exact for loader_workers = 0: persistent workers draw
    their base seed from the generator once, not every epoch)."""
    loader = training_loader(data, {**config, "loader_workers": 0, "pin_memory": False}, seed, pad_token_id)
    out = []
    for _ in range(config["epochs"]):
        batches = list(loader)
        out.append((sum(b["input_ids"].numel() for b in batches), sum(padded_tokens(b) for b in batches)))
    return out
