"""Where greenknobs' text-classification data comes from: one spec in, train/validation/test splits out.

Sources (``DatasetSpec.source``):

- ``"fortunes"``: the built-in offline genre dataset (see ``_fortunes``), split 70/15/15 stratified.
- a local csv/json/jsonl/parquet file: split 70/15/15 stratified.
- a local folder with ``train.*``, ``validation.*`` (or ``valid``/``dev``/``val``) and ``test.*`` files: used as
  given; a missing validation or test file is carved (15%, stratified) from train; train alone is split 70/15/15.
- anything else that does not look like a path: a Hugging Face hub dataset id, loaded with its own splits
  (a missing validation/test split is carved from train as above).

``classes`` keeps only the rows of the named classes (label values, or a ClassLabel's names), before any split is
made: a study of a sub-task, e.g. two of the five fortune genres.

``splits`` maps greenknobs' split names to the source's; given, it replaces detection: ``train`` defaults to
``"train"`` and a split left out is carved from train. Every split ends up with exactly the columns ``text``
(str, never empty) and ``label`` (int64 in ``0..num_labels-1``). All randomness is seeded by ``spec.seed``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import datasets

from greenknobs._errors import GreenknobsError
from greenknobs.objectives import _fortunes

SPLITS = ("train", "validation", "test")
HOLDOUT = 0.15  # the share of the data that validation and test each get when greenknobs makes the splits
MIN_ROWS_PER_CLASS = 7  # with fewer, 30% of a class can round to a single row, which cannot be split again
_ALIASES = {"train": ("train",), "validation": ("validation", "valid", "dev", "val"), "test": ("test",)}
_BUILDERS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
_DATA_SUFFIXES = {*_BUILDERS, ".tsv", ".txt", ".gz", ".zip", ".arrow", ".xlsx", ".xls"}
# Bumped when cleaning or splitting changes, so caches keyed by the fingerprint are not reused across versions.
_LOADER_VERSION = 1


@dataclass(frozen=True)
class DatasetSpec:
    source: str = _fortunes.SOURCE
    text_column: str = "text"
    label_column: str = "label"
    splits: dict[str, str] | None = None
    config_name: str | None = None
    max_rows: dict[str, int] | None = None
    seed: int = 0
    classes: tuple[str, ...] | None = None
    # The built-in fortunes only: entries kept per class before splitting (None: every entry; the grab-bag general
    # class is still sampled down to the largest genre class). The default task takes them all: its baseline's F1
    # must be stable across training seeds, which needs a validation and test split of ~480 texts (benchmarks/README).
    per_class: int | None = _fortunes.DEFAULT_CAP


@dataclass
class TextSplits:
    train: datasets.Dataset
    validation: datasets.Dataset
    test: datasets.Dataset
    label_names: list[str]
    fingerprint: str

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def class_counts(self) -> list[int]:
        """Training rows per label id: the prior a label-blind predictor draws from."""
        counts = Counter(self.train["label"])
        return [counts.get(c, 0) for c in range(self.num_labels)]

    @property
    def majority_label(self) -> int:
        counts = Counter(self.train["label"])
        return min(counts, key=lambda label: (-counts[label], label))


def load_splits(spec: DatasetSpec) -> TextSplits:
    """Load, clean, label-encode and split ``spec.source``; every failure is a one-line GreenknobsError."""
    _check_spec(spec)
    raw, where, identity = _load_source(spec)
    rows = {name: _rows(ds, spec, desc) for name, (ds, desc) in raw.items()}
    if spec.classes is not None:
        rows = _keep_classes(rows, spec.classes, where)
    label_names, encoded = _encode_labels(rows, spec.label_column, where)
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=label_names)})
    parts = {
        name: datasets.Dataset.from_dict({"text": rows[name][0], "label": ids}, features=features)
        for name, ids in encoded.items()
    }
    parts = _carve(parts, spec.seed, where, label_names)
    for name, cap in (spec.max_rows or {}).items():
        parts[name] = _subsample(parts[name], cap, spec.seed)
    # Rebuilt rather than cast: casting runs a (noisy) map, and a fresh table also drops the split's index mapping.
    plain = datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("int64")})
    final = {n: datasets.Dataset.from_dict(parts[n].to_dict(), features=plain) for n in SPLITS}
    return TextSplits(**final, label_names=label_names, fingerprint=_fingerprint(identity, spec))


def _check_spec(spec: DatasetSpec) -> None:
    if not isinstance(spec.source, str) or not spec.source.strip():
        raise GreenknobsError(
            f"dataset source is {spec.source!r}: set it to 'fortunes', a local file or folder, or a hub dataset id"
        )
    if spec.classes is not None and (not isinstance(spec.classes, tuple) or not all(isinstance(c, str) and c
                                                                                      for c in spec.classes)):
        raise GreenknobsError(f"classes is {spec.classes!r}: give a list of class names, e.g. [\"limerick\", \"zippy\"]")
    for field, value in (("splits", spec.splits), ("max_rows", spec.max_rows)):
        unknown = sorted(set(value or {}) - set(SPLITS))
        if unknown:
            raise GreenknobsError(f"{field} has unknown split names {unknown}: use only {', '.join(SPLITS)}")
    for name, cap in (spec.max_rows or {}).items():
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise GreenknobsError(f"max_rows['{name}'] is {cap!r}: use a positive whole number of rows")
    if spec.text_column == spec.label_column:
        raise GreenknobsError(
            f"text_column and label_column are both '{spec.text_column}': set them to two different columns"
        )


# --- sources: each returns {greenknobs split: (Dataset, description)}, a description, and an identity ---


def _load_source(spec: DatasetSpec) -> tuple[dict[str, tuple[datasets.Dataset, str]], str, dict]:
    if spec.source == _fortunes.SOURCE:
        return _fortunes_source(spec)
    path = Path(spec.source).expanduser()
    if path.exists():
        return _folder_source(spec, path) if path.is_dir() else _file_source(spec, path)
    if _looks_like_path(spec.source):
        relative = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
        raise GreenknobsError(f"dataset path {spec.source} does not exist{relative}: fix source, or use 'fortunes'")
    return _hub_source(spec)


def _looks_like_path(source: str) -> bool:
    # Hub ids are "name" or "owner/name"; anything deeper, rooted, or with a data-file suffix is a path.
    return (
        source.startswith((".", "/", "~", "\\"))
        or "\\" in source
        or source.count("/") > 1
        or Path(source).suffix.lower() in _DATA_SUFFIXES
    )


def _fortunes_source(spec: DatasetSpec):
    texts, labels = _fortunes.load_examples(cap=spec.per_class, seed=spec.seed)
    # Named after the spec's columns so that the column handling shared with user files applies unchanged.
    ds = datasets.Dataset.from_dict({spec.text_column: texts, spec.label_column: labels})
    picked = _pick_splits(["train"], spec.splits, "the built-in fortunes dataset")
    identity = {"fortunes": _fortunes.version(), "cap": spec.per_class, "files": _fortunes.CLASS_FILES}
    return {n: (ds, "the built-in fortunes dataset") for n in picked}, "the built-in fortunes dataset", identity


def _file_source(spec: DatasetSpec, path: Path):
    where = f"dataset file {spec.source}"
    picked = _pick_splits(["train"], spec.splits, where)
    ds = _read_file(path, spec.source)
    return {n: (ds, where) for n in picked}, where, {"files": [_file_identity(path)]}


def _folder_source(spec: DatasetSpec, folder: Path):
    where = f"dataset folder {spec.source}"
    found: dict[str, Path] = {}
    for file in sorted(folder.iterdir()):
        if not (file.is_file() and file.suffix.lower() in _BUILDERS):
            continue
        if file.stem in found:
            raise GreenknobsError(f"{where} holds both {found[file.stem].name} and {file.name}: keep only one of them")
        found[file.stem] = file
    if not found:
        raise GreenknobsError(
            f"{where} holds no {'/'.join(s[1:] for s in _BUILDERS)} files: add train/validation/test files in one "
            "of those formats, or point source at a single file"
        )
    picked = _pick_splits(sorted(found), spec.splits, where)
    files = {name: found[stem] for name, stem in picked.items()}
    loaded = {name: (_read_file(f, str(Path(spec.source) / f.name)), f"dataset file {Path(spec.source) / f.name}")
              for name, f in files.items()}
    return loaded, where, {"files": [_file_identity(f) for f in files.values()]}


def _hub_source(spec: DatasetSpec):
    where = f"hub dataset '{spec.source}'" + (f" (config '{spec.config_name}')" if spec.config_name else "")
    try:
        loaded = datasets.load_dataset(spec.source, spec.config_name)
    except Exception as error:  # the hub client raises many unrelated types; the user needs only the gist
        raise GreenknobsError(
            f"could not load dataset '{spec.source}' from the Hugging Face hub ({_gist(error)}): check the id "
            "and your network, or point source at local files"
        ) from None
    picked = _pick_splits(list(loaded), spec.splits, where)
    identity = {"hub": spec.source, "config": spec.config_name}
    return {n: (loaded[s], f"split '{s}' of {where}") for n, s in picked.items()}, where, identity


def _pick_splits(available: list[str], requested: dict[str, str] | None, where: str) -> dict[str, str]:
    """{greenknobs split: source split} for the splits the source provides; the rest are carved later."""
    if requested:
        wanted = {"train": "train", **requested}
        shared = sorted(name for name, n in Counter(wanted.values()).items() if n > 1)
        if shared:  # one source split in two roles would leak training rows into evaluation
            raise GreenknobsError(
                f"splits uses source split '{shared[0]}' for more than one of train/validation/test "
                f"({wanted}): map each to a different split, or leave validation/test out to carve them from train"
            )
        for name, source_name in wanted.items():
            if source_name not in available:
                raise GreenknobsError(
                    f"{where} has no split '{source_name}' (splits: {', '.join(available)}): "
                    f"set splits['{name}'] to one of them"
                )
        return wanted
    picked = {}
    for name, aliases in _ALIASES.items():
        match = next((a for a in aliases if a in available), None)
        if match is not None:
            picked[name] = match
    if "train" not in picked:
        raise GreenknobsError(
            f"{where} has no 'train' split (found: {', '.join(available)}): add one, or name the training split "
            f"in splits, e.g. splits={{'train': '{available[0]}'}}"
        )
    return picked


def _read_file(path: Path, shown: str) -> datasets.Dataset:
    builder = _BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise GreenknobsError(
            f"dataset file {shown} has an unsupported extension '{path.suffix}': use one of "
            f"{', '.join(_BUILDERS)}"
        )
    try:
        return datasets.load_dataset(builder, data_files=str(path.resolve()), split="train")
    except Exception as error:  # pyarrow/pandas parse errors come in many types
        while error.__cause__ is not None:  # datasets wraps the parser's own, more telling, error
            error = error.__cause__
        raise GreenknobsError(
            f"could not read dataset file {shown} as {path.suffix[1:]} ({_gist(error)}): fix the file or its extension"
        ) from None


def _file_identity(path: Path) -> list:
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def _gist(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:160]}" if text else type(error).__name__


# --- columns, labels, splits ---


def _rows(ds: datasets.Dataset, spec: DatasetSpec, where: str) -> tuple[list[str], list, list[str] | None]:
    """The non-empty texts of one split, their raw labels, and the class names a ClassLabel column carries."""
    for column in (spec.text_column, spec.label_column):
        if column not in ds.column_names:
            role = "text_column" if column == spec.text_column else "label_column"
            raise GreenknobsError(
                f"{where} has no column '{column}' (columns: {', '.join(ds.column_names)}): "
                f"set {role} to one of them"
            )
    text_type = ds.features[spec.text_column]
    if not (isinstance(text_type, datasets.Value) and text_type.dtype in ("string", "large_string")):
        raise GreenknobsError(
            f"{where} column '{spec.text_column}' holds {text_type}, not text: set text_column to the column with "
            f"the text (columns: {', '.join(ds.column_names)})"
        )
    table = ds.select_columns([spec.text_column, spec.label_column]).to_dict()
    texts, labels = table[spec.text_column], table[spec.label_column]
    label_type = ds.features[spec.label_column]
    class_names = label_type.names if isinstance(label_type, datasets.ClassLabel) else None
    # Hub benchmarks (GLUE and kin) ship test splits whose ClassLabel is -1 everywhere: they cannot score a model.
    if class_names and any(v is not None and v < 0 for v in labels):
        raise GreenknobsError(
            f"{where} has unlabelled rows (label -1): map 'test' to a labelled split, e.g. "
            "splits={'train': 'train', 'test': 'validation'}"
        )
    keep = [i for i, text in enumerate(texts) if text is not None and text.strip()]
    if not keep:
        raise GreenknobsError(
            f"{where} has no rows with text in column '{spec.text_column}': set text_column to the column with the text"
        )
    return [texts[i] for i in keep], [labels[i] for i in keep], class_names


def _keep_classes(rows: dict[str, tuple[list[str], list, list[str] | None]], classes: tuple[str, ...],
                  where: str) -> dict[str, tuple[list[str], list, list[str] | None]]:
    def name(value, names):
        return names[value] if names and isinstance(value, int) and 0 <= value < len(names) else str(value)

    present = sorted({name(v, names) for _, labels, names in rows.values() for v in labels})
    unknown = [c for c in classes if c not in present]
    if unknown or len(set(classes)) < 2:
        raise GreenknobsError(f"classes {list(classes)} of {where}: " + (f"{', '.join(unknown)} not among its classes "
                              f"({', '.join(present)})" if unknown else "name at least two different classes")
                              + ": fix `classes` in [task]")
    out = {}
    for split, (texts, labels, names) in rows.items():
        keep = [i for i, v in enumerate(labels) if name(v, names) in classes]
        out[split] = ([texts[i] for i in keep], [labels[i] for i in keep], names)
    return out


def _encode_labels(
    rows: dict[str, tuple[list[str], list, list[str] | None]], column: str, where: str
) -> tuple[list[str], dict[str, list[int]]]:
    """Class names and per-split label ids 0..K-1: numbers keep numeric order, strings are sorted."""
    values = [v for _, labels, _ in rows.values() for v in labels]
    missing = sum(v is None for v in values)
    if missing:
        raise GreenknobsError(
            f"label column '{column}' of {where} has {missing} empty values: fill them in or drop those rows"
        )
    if all(isinstance(v, str) for v in values):
        key = str
    elif all(isinstance(v, (bool, int, float)) for v in values):
        bad = next((v for v in values if isinstance(v, float) and not (math.isfinite(v) and v.is_integer())), None)
        if bad is not None:
            raise GreenknobsError(
                f"label column '{column}' holds non-integer values (e.g. {bad}): use integer or string class labels"
            )
        key = int
    else:
        kinds = sorted({type(v).__name__ for v in values})
        raise GreenknobsError(
            f"label column '{column}' of {where} holds {' and '.join(kinds)} values: use one integer or string "
            "class label per row"
        )
    order = sorted({key(v) for v in values})
    # A hub ClassLabel names its ids; keep its names (and its order) rather than showing bare numbers.
    class_names = next((names for _, _, names in rows.values() if names), None)
    label_names = [class_names[k] if class_names and key is int else str(k) for k in order]
    if len(label_names) < 2:
        raise GreenknobsError(
            f"label column '{column}' of {where} has {len(label_names)} class(es) ({', '.join(label_names)}): a "
            "classifier needs at least 2; check label_column"
        )
    index = {k: i for i, k in enumerate(order)}
    encoded = {name: [index[key(v)] for v in labels] for name, (_, labels, _) in rows.items()}
    seen = set(encoded["train"])
    for name, ids in encoded.items():
        unseen = sorted({label_names[i] for i in ids if i not in seen})
        if unseen:
            raise GreenknobsError(
                f"the {name} split of {where} has labels that train lacks ({', '.join(unseen[:5])}): add training "
                f"rows for them or drop those {name} rows"
            )
    return label_names, encoded


def _carve(parts: dict[str, datasets.Dataset], seed: int, where: str, names: list[str]) -> dict[str, datasets.Dataset]:
    """Stratified 70/15/15 (or 85/15 when only one split is missing) out of train, via datasets' own splitter."""
    missing = [n for n in SPLITS if n not in parts]
    if not missing:
        return parts
    train = parts["train"]
    try:
        if len(missing) == 2:
            parts["train"], holdout = _split(train, 2 * HOLDOUT, seed)
            parts["validation"], parts["test"] = _split(holdout, 0.5, seed)
        else:
            parts["train"], parts[missing[0]] = _split(train, HOLDOUT, seed)
    except ValueError:  # datasets refuses classes too small to land in every part
        counts = Counter(train["label"])
        smallest = min(range(len(names)), key=lambda i: counts.get(i, 0))
        raise GreenknobsError(
            f"cannot carve stratified {'/'.join(missing)} splits out of {where} (smallest class '{names[smallest]}' "
            f"has {counts.get(smallest, 0)} training rows): give every class at least {MIN_ROWS_PER_CLASS} rows, "
            "or provide separate train/validation/test files"
        ) from None
    return parts


def _split(ds: datasets.Dataset, test_size: float, seed: int) -> tuple[datasets.Dataset, datasets.Dataset]:
    out = ds.train_test_split(test_size=test_size, stratify_by_column="label", seed=seed)
    return out["train"], out["test"]


def _subsample(ds: datasets.Dataset, cap: int, seed: int) -> datasets.Dataset:
    if len(ds) <= cap:
        return ds
    try:
        return ds.train_test_split(train_size=cap, stratify_by_column="label", seed=seed)["train"]
    except ValueError:  # a class too small to stratify, or cap below the number of classes: plain seeded sample
        return ds.shuffle(seed=seed).select(range(cap))


def _fingerprint(identity: dict, spec: DatasetSpec) -> str:
    fields = asdict(spec)
    fields.pop("source")  # the identity names the source more exactly (resolved paths, sizes, mtimes)
    # The split layout depends on datasets' stratified splitter, so its version is part of the key too.
    payload = {"loader": _LOADER_VERSION, "datasets": datasets.__version__, "source": identity, "spec": fields}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
