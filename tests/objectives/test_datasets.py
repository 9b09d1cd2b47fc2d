from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import datasets
import pandas as pd
import pytest

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import _datasets
from greenknobs.objectives._datasets import DatasetSpec, TextSplits, load_splits

VULN = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "vuln"
SPLITS = ("train", "validation", "test")


def _frame(labels=(0, 1), per_class=20, text="text", label="label", **extra) -> pd.DataFrame:
    rows = [{text: f"sample {i} of class {c}", label: c, **extra} for c in labels for i in range(per_class)]
    return pd.DataFrame(rows)


def _sizes(splits: TextSplits) -> tuple[int, int, int]:
    return tuple(len(getattr(splits, name)) for name in SPLITS)


def _check_shape(splits: TextSplits) -> None:
    for name in SPLITS:
        ds = getattr(splits, name)
        assert ds.column_names == ["text", "label"]
        assert ds.features["label"] == datasets.Value("int64")
        assert ds.features["text"] == datasets.Value("string")
        assert set(ds["label"]) <= set(range(splits.num_labels))
    texts = [t for name in SPLITS for t in getattr(splits, name)["text"]]
    assert len(texts) == len(set(texts)), "splits overlap"


def _raises(match: str, spec: DatasetSpec) -> str:
    with pytest.raises(GreenknobsError, match=match) as caught:
        load_splits(spec)
    message = str(caught.value)
    assert "\n" not in message and ": " in message  # one line: problem, then the fix
    return message


# --- local files ---


@pytest.mark.parametrize("suffix", ["csv", "json", "jsonl", "parquet"])
def test_single_file_gets_stratified_70_15_15(tmp_path, suffix):
    frame = _frame()
    path = tmp_path / f"data.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "json":
        path.write_text(json.dumps(frame.to_dict(orient="records")))
    elif suffix == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    splits = load_splits(DatasetSpec(str(path)))
    _check_shape(splits)
    assert _sizes(splits) == (28, 6, 6)
    assert splits.label_names == ["0", "1"]
    for name in SPLITS:
        assert Counter(getattr(splits, name)["label"])[0] == len(getattr(splits, name)) // 2


def test_folder_without_validation_carves_it_from_train(tmp_path):
    _frame(per_class=50).to_csv(tmp_path / "train.csv", index=False)
    _frame(per_class=10).assign(text=lambda f: "held out " + f["text"]).to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "README.md").write_text("not data")
    splits = load_splits(DatasetSpec(str(tmp_path)))
    _check_shape(splits)
    assert _sizes(splits) == (85, 15, 20)
    assert all(t.startswith("held out") for t in splits.test["text"])
    assert set(splits.validation["label"]) == {0, 1}


def test_folder_with_dev_file_and_custom_split_names(tmp_path):
    for stem, n in (("train", 30), ("dev", 5), ("test", 6)):
        _frame(per_class=n).assign(text=lambda f, s=stem: s + " " + f["text"]).to_json(
            tmp_path / f"{stem}.jsonl", orient="records", lines=True
        )
    assert _sizes(load_splits(DatasetSpec(str(tmp_path)))) == (60, 10, 12)
    swapped = load_splits(DatasetSpec(str(tmp_path), splits={"train": "train", "validation": "test", "test": "dev"}))
    assert _sizes(swapped) == (60, 12, 10)


def test_string_labels_map_sorted_and_consistently(tmp_path):
    frame = _frame(labels=("pos", "neg", "neutral"), per_class=20)
    frame.to_csv(tmp_path / "data.csv", index=False)
    splits = load_splits(DatasetSpec(str(tmp_path / "data.csv")))
    assert splits.label_names == ["neg", "neutral", "pos"]
    truth = dict(zip(frame["text"], frame["label"]))
    for name in SPLITS:
        ds = getattr(splits, name)
        assert all(splits.label_names[y] == truth[t] for t, y in zip(ds["text"], ds["label"]))


def test_integer_labels_remapped_in_numeric_order(tmp_path):
    frame = _frame(labels=(10, 3, 7), per_class=10)
    frame.to_parquet(tmp_path / "data.parquet")
    splits = load_splits(DatasetSpec(str(tmp_path / "data.parquet")))
    assert splits.label_names == ["3", "7", "10"]
    truth = dict(zip(frame["text"], frame["label"]))
    assert all(splits.label_names[y] == str(truth[t]) for t, y in zip(splits.train["text"], splits.train["label"]))


def test_whole_float_labels_are_accepted(tmp_path):
    _frame(labels=(0.0, 1.0)).to_json(tmp_path / "data.jsonl", orient="records", lines=True)
    assert load_splits(DatasetSpec(str(tmp_path / "data.jsonl"))).label_names == ["0", "1"]


def test_custom_columns_and_empty_texts(tmp_path):
    frame = _frame(text="sentence", label="y", extra="ignored")
    frame.loc[0, "sentence"] = "   "
    frame.loc[1, "sentence"] = None
    frame.to_csv(tmp_path / "data.csv", index=False)
    splits = load_splits(DatasetSpec(str(tmp_path / "data.csv"), text_column="sentence", label_column="y"))
    _check_shape(splits)
    assert sum(_sizes(splits)) == 38


def test_max_rows_and_majority_label(tmp_path):
    frame = pd.concat([_frame(labels=(0,), per_class=60), _frame(labels=(1,), per_class=20)])
    frame.to_csv(tmp_path / "data.csv", index=False)
    splits = load_splits(DatasetSpec(str(tmp_path / "data.csv"), max_rows={"train": 20}))
    assert len(splits.train) == 20
    assert Counter(splits.train["label"]) == {0: 15, 1: 5}
    assert splits.majority_label == 0


def test_fingerprint_is_stable_and_tracks_file_and_spec(tmp_path):
    path = tmp_path / "data.csv"
    _frame().to_csv(path, index=False)
    first = load_splits(DatasetSpec(str(path)))
    assert load_splits(DatasetSpec(str(path))).fingerprint == first.fingerprint
    assert load_splits(DatasetSpec(str(path), seed=3)).fingerprint != first.fingerprint
    _frame(per_class=21).to_csv(path, index=False)
    os.utime(path, ns=(1, 1))
    assert load_splits(DatasetSpec(str(path))).fingerprint != first.fingerprint


@pytest.mark.skipif(not VULN.is_dir(), reason=f"real dataset folder {VULN} is absent")
def test_vuln_folder_loads_as_given():
    splits = load_splits(DatasetSpec(str(VULN)))
    assert _sizes(splits) == (4000, 1000, 1000)
    assert splits.label_names == ["0", "1"]
    assert Counter(splits.train["label"]) == {0: 2184, 1: 1816}
    assert splits.majority_label == 0


# --- hub (never touches the network) ---


def test_hub_dataset_without_validation_carves_it_and_keeps_class_names(monkeypatch):
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})

    def part(n, prefix):
        return datasets.Dataset.from_dict(
            {"text": [f"{prefix} {i}" for i in range(n)], "label": [i % 2 for i in range(n)]}, features=features
        )

    calls = []
    fake = datasets.DatasetDict(train=part(100, "tr"), test=part(20, "te"))
    monkeypatch.setattr(_datasets.datasets, "load_dataset", lambda *a, **k: calls.append(a) or fake)
    splits = load_splits(DatasetSpec("someone/reviews", config_name="plain"))
    assert calls == [("someone/reviews", "plain")]
    assert splits.label_names == ["neg", "pos"]
    assert _sizes(splits) == (85, 15, 20)


def test_hub_without_network_is_a_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'x/y' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(_datasets.datasets, "load_dataset", offline)
    message = _raises(r"could not load dataset 'x/y' from the Hugging Face hub", DatasetSpec("x/y"))
    assert "ConnectionError" in message and "network" in message and "local files" in message


def test_hub_split_without_labels_is_an_error(monkeypatch):
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"])})
    fake = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"text": ["x", "y"] * 10, "label": [0, 1] * 10}, features=features),
        test=datasets.Dataset.from_dict({"text": ["z"], "label": [-1]}, features=features),
    )
    monkeypatch.setattr(_datasets.datasets, "load_dataset", lambda *a, **k: fake)
    _raises(r"unlabelled rows .* splits=", DatasetSpec("glue-like"))


# --- errors ---


def test_missing_file_and_folder(tmp_path):
    _raises(r"does not exist.*fix source", DatasetSpec(str(tmp_path / "nope.csv")))
    _raises(r"does not exist", DatasetSpec(str(tmp_path / "no" / "such" / "folder")))


def test_missing_label_column_lists_present_columns(tmp_path):
    _frame(label="y").to_csv(tmp_path / "data.csv", index=False)
    message = _raises(r"no column 'label'", DatasetSpec(str(tmp_path / "data.csv")))
    assert "(columns: text, y)" in message and "set label_column" in message


def test_missing_text_column(tmp_path):
    _frame(text="body").to_csv(tmp_path / "data.csv", index=False)
    _raises(r"no column 'text' \(columns: body, label\): set text_column", DatasetSpec(str(tmp_path / "data.csv")))


def test_non_integer_labels(tmp_path):
    _frame(labels=(0.0, 0.5)).to_csv(tmp_path / "data.csv", index=False)
    _raises(r"non-integer values \(e\.g\. 0\.5\): use integer or string", DatasetSpec(str(tmp_path / "data.csv")))


def test_single_class(tmp_path):
    _frame(labels=(1,)).to_csv(tmp_path / "data.csv", index=False)
    _raises(r"1 class.*at least 2", DatasetSpec(str(tmp_path / "data.csv")))


def test_unsupported_extension(tmp_path):
    path = tmp_path / "data.tsv"
    _frame().to_csv(path, index=False, sep="\t")
    message = _raises(r"unsupported extension '\.tsv'", DatasetSpec(str(path)))
    assert ".csv, .json, .jsonl, .parquet" in message


def test_test_label_unseen_in_train(tmp_path):
    _frame(labels=("a", "b")).to_csv(tmp_path / "train.csv", index=False)
    _frame(labels=("a", "c"), per_class=5).to_csv(tmp_path / "test.csv", index=False)
    _raises(r"test split .* labels that train lacks \(c\)", DatasetSpec(str(tmp_path)))


def test_folder_without_train_file(tmp_path):
    _frame().to_csv(tmp_path / "test.csv", index=False)
    _raises(r"no 'train' split .*splits=", DatasetSpec(str(tmp_path)))


def test_unknown_split_name_in_spec(tmp_path):
    _frame().to_csv(tmp_path / "train.csv", index=False)
    _raises(r"no split 'dev' .*set splits\['validation'\]", DatasetSpec(str(tmp_path), splits={"validation": "dev"}))


def test_one_source_split_in_two_roles(tmp_path):
    _frame().to_csv(tmp_path / "train.csv", index=False)
    _raises(r"more than one of train/validation/test", DatasetSpec(str(tmp_path), splits={"test": "train"}))


def test_too_few_rows_to_stratify(tmp_path):
    _frame(per_class=2).to_csv(tmp_path / "data.csv", index=False)
    spec = DatasetSpec(str(tmp_path / "data.csv"))
    _raises(r"cannot carve stratified validation/test splits .*has 2 training rows.*at least 7", spec)
