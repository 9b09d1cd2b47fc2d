from __future__ import annotations

import codecs
from collections import Counter

import pytest

from greenknobs.objectives import _fortunes
from greenknobs.objectives._datasets import DatasetSpec, load_splits

CLASSES = ["fortunes", "limerick", "murphy", "startrek", "zippy"]
SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def splits():
    return load_splits(DatasetSpec("fortunes"))


def _texts(splits):
    return [t for name in SPLITS for t in getattr(splits, name)["text"]]


def test_five_genre_classes_sorted(splits):
    assert splits.label_names == CLASSES
    assert splits.num_labels == 5
    for name in SPLITS:
        ds = getattr(splits, name)
        assert ds.column_names == ["text", "label"]
        assert str(ds.features["label"].dtype) == "int64"


def test_attributions_are_stripped(splits):
    for text in _texts(splits):
        assert not text.startswith("--")
        assert "\n" not in text and "  " not in text and text == text.strip() and text
        # Star Trek attributions wrap onto a second line with the stardate; that line must go too.
        assert "stardate" not in text.lower()


def test_clean_entry_drops_attribution_and_its_continuation():
    raw = '\t"Beauty is transitory."\n\t"Beauty survives."\n\t\t-- Spock and Kirk,\n\t\t   "That Which Survives"\n'
    assert _fortunes.clean_entry(raw) == '"Beauty is transitory." "Beauty survives."'
    assert _fortunes.clean_entry("%% $FreeBSD$\n\t-- Anonymous\n") == ""


def test_offensive_files_are_never_read(monkeypatch):
    opened = []
    real = _fortunes.read_entries
    monkeypatch.setattr(_fortunes, "read_entries", lambda path: opened.append(path.name) or real(path))
    texts, _ = _fortunes.load_examples(cap=None)
    assert opened and not [name for name in opened if name.endswith("-o")]
    # The first fortunes-o entry (rot13 in the file) is a rejection letter from a magazine's centerfold panel.
    raw = (_fortunes.fortune_dir() / "fortunes-o").read_text(encoding="utf-8", errors="replace")
    assert "use your body in our centerfold" in codecs.decode(raw, "rot13").replace("\n", " ")
    assert not [t for t in texts if "centerfold" in t.lower()]


def test_deterministic_across_loads(splits):
    again = load_splits(DatasetSpec("fortunes"))
    for name in SPLITS:
        assert getattr(again, name)["text"][:] == getattr(splits, name)["text"][:]
        assert getattr(again, name)["label"][:] == getattr(splits, name)["label"][:]
    assert again.fingerprint == splits.fingerprint
    assert load_splits(DatasetSpec("fortunes", seed=1)).fingerprint != splits.fingerprint


def test_splits_are_disjoint_and_deduplicated(splits):
    texts = _texts(splits)
    assert len(texts) == len(set(texts))


def test_every_class_in_every_split_in_roughly_70_15_15(splits):
    total = Counter(label for name in SPLITS for label in getattr(splits, name)["label"])
    for name, share in zip(SPLITS, (0.70, 0.15, 0.15)):
        counts = Counter(getattr(splits, name)["label"])
        assert set(counts) == set(range(5))
        for label, n in counts.items():
            assert abs(n / total[label] - share) < 0.02


def test_cap_respected(splits):
    total = Counter(label for name in SPLITS for label in getattr(splits, name)["label"])
    assert max(total.values()) == _fortunes.DEFAULT_CAP
    assert all(n <= _fortunes.DEFAULT_CAP for n in total.values())
    capped = load_splits(DatasetSpec("fortunes", max_rows={"train": 100, "test": 50}))
    assert len(capped.train) == 100 and len(capped.test) == 50
    assert set(capped.train["label"]) == set(range(5))


def test_general_class_sampled_to_largest_genre_when_uncapped():
    _, labels = _fortunes.load_examples(cap=None)
    counts = Counter(labels)
    assert counts["fortunes"] == max(n for name, n in counts.items() if name != "fortunes")
    assert counts["startrek"] > 150


def test_the_per_class_cap_is_the_specs_and_the_default_task_takes_every_fortune():
    """The default task's baseline needs ~480-text validation and test splits to be stable across training seeds
    (benchmarks/README.md): it reads every fortune; a spec's `per_class` caps each class, and is part of the
    fingerprint, so a cache of one is never read for the other."""
    from greenknobs.objectives import get_task

    small = load_splits(DatasetSpec("fortunes", per_class=40))
    total = Counter(label for name in SPLITS for label in getattr(small, name)["label"])
    assert max(total.values()) == 40 and set(total) == set(range(5))
    default = get_task("fortunes").dataset
    assert default.per_class is None
    full = load_splits(default)
    assert (len(full.train), len(full.validation), len(full.test)) == (600, 484, 484)
    assert full.fingerprint != load_splits(DatasetSpec("fortunes", max_rows=default.max_rows)).fingerprint
