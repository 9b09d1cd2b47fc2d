"""One wording of a saving everywhere: "52.6% less energy" / "8.3% more energy". No command prints a percentage
with a bare sign for the reader to guess at (the old "+52.6% energy" read as 52.6% *more*)."""

from __future__ import annotations

import re

import pytest

from tests.search._cascade_study import build

SIGNED_PERCENT = re.compile(r"(?<![\w.])[+\-−]\s?\d+(?:[.,]\d+)?\s?%")


def ambiguous(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if SIGNED_PERCENT.search(line)]


def test_the_scanner_finds_a_bare_sign():
    assert ambiguous("trial 3 · +52.6% energy") and ambiguous("| -8.3% |")
    assert not ambiguous("52.6% less energy · F1 +0.0123 over the floor · 96.2% of the F1")


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    return build(tmp_path_factory.getbasetemp())


def test_no_command_prints_a_signed_percentage(smoke_study, cli, cascade, tmp_path):
    from optuna_dashboard import get_note

    texts = {}
    for i, done in enumerate(smoke_study.outputs):
        texts[f"run {i + 1}"] = done.stdout + done.stderr
    for command in (["status"], ["export", "--out", str(tmp_path / "out")]):
        done = cli(command[0], *smoke_study.args(), *command[1:], timeout=300)
        texts[" ".join(command[:1])] = done.stdout + done.stderr
    if (tmp_path / "out" / "index.md").exists():
        texts["index.md"] = (tmp_path / "out" / "index.md").read_text()
    done = cli("report", str(cascade.study_file), "--storage", cascade.storage, "--out", str(tmp_path / "rep"))
    assert done.returncode == 0, done.stderr[-2000:]
    texts["report.md"] = (tmp_path / "rep" / "report.md").read_text()
    study = smoke_study.load()
    from greenknobs.search.records import as_trial

    texts["notes"] = "\n".join(get_note(as_trial(study, t)) for t in study.get_trials()) + get_note(study)
    found = {name: ambiguous(text) for name, text in texts.items()}
    assert not any(found.values()), {k: v[:3] for k, v in found.items() if v}
    assert "less energy" in texts["report.md"] or "more energy" in texts["report.md"]
