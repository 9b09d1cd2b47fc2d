"""The data phase: subsample, tokenize, pad. Tokenized splits are cached with the energy it took to make them."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Encoded(torch.utils.data.Dataset):
    features: dict[str, list[list[int]]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = {k: v[i] for k, v in self.features.items()}
        item["labels"] = self.labels[i]
        return item

    @property
    def width(self) -> int:
        """Longest tokenized example: equal to max_length under fixed padding."""
        return max((len(ids) for ids in self.features["input_ids"]), default=0)


class Collate:
    """Pads a batch to its longest member (a no-op for fixed-padding data). A class, so worker processes can pickle it."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, batch: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(b["input_ids"]) for b in batch)
        out: dict[str, torch.Tensor] = {}
        for key in batch[0]:
            if key == "labels":
                out[key] = torch.tensor([b[key] for b in batch], dtype=torch.long)
                continue
            fill = self.pad_token_id if key == "input_ids" else 0
            out[key] = torch.tensor([list(b[key]) + [fill] * (width - len(b[key])) for b in batch], dtype=torch.long)
        return out


def subsample(labels: Sequence[int], fraction: float, seed: int) -> list[int]:
    """Stratified, seeded indices of a fraction of the training split."""
    if fraction >= 1.0:
        return list(range(len(labels)))
    from sklearn.model_selection import train_test_split

    counts = {}
    for y in labels:
        counts[y] = counts.get(y, 0) + 1
    stratify = labels if min(counts.values()) >= 2 and int(len(labels) * fraction) >= len(counts) else None
    keep, _ = train_test_split(list(range(len(labels))), train_size=fraction, random_state=seed, stratify=stratify)
    return sorted(keep)


def encode(tokenizer: Any, texts: Sequence[str], labels: Sequence[int], max_length: int, padding: str) -> Encoded:
    enc = tokenizer(
        list(texts), truncation=True, max_length=max_length,
        padding="max_length" if padding == "fixed" else False,
    )
    keep = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    return Encoded({k: enc[k] for k in keep}, list(labels))


class TokenCache:
    """Tokenized splits per (dataset, model, tokenizer, length, padding, fraction, seed), with what making them cost.

    A hit is charged the measured cost of the original tokenization, so a trial's joules never depend on which
    trial happened to run before it; the study's real spend is kept apart (`reused` on the reading)."""

    def __init__(self, max_entries: int = 8) -> None:
        self._entries: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> tuple[Any, Any] | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
        return entry

    def put(self, key: tuple, value: Any, reading: Any) -> None:
        self._entries[key] = (value, reading)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
