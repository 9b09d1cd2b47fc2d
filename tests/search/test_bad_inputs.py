"""Bad input, everywhere: each gets ONE line naming the problem and the fix, exit status 2, no traceback, and the
study untouched — an existing study's storage keeps its exact bytes, and no new storage file appears.

Table-driven through the CLI entry point in-process (fast); three cases again as real processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from greenknobs import GreenknobsError
from greenknobs.search.cli import main
from greenknobs.search.study import load_spec, open_study
from tests.search._durable import REPO, STUDY, env, greenknobs, write_study


@dataclass
class Case:
    id: str
    argv: list[str]  # {study} = the case's study file, {existing} = the existing study's file, {dir} = tmp folder
    expect: list[str]  # substrings of the one error line: what is wrong, and the fix
    toml: str | None = None  # the case's study file; None: a valid tiny study
    files: dict[str, str] = field(default_factory=dict)  # extra files in {dir}


def _study(**replace: str) -> str:
    text = STUDY.format(name="bad", n_trials=5, knobs='["batch_size", "drop_layers"]')
    for old, new in replace.items():
        text = text.replace(old.replace("_EQ_", " = "), new)
    return text


def _custom_task(dataset: str, extra: str = "") -> str:
    return _study(**{'[task]\nname = "fortunes-tiny"\n': f'[task]\nname = "custom"\nmodels = ["tiny-bert"]\n'
                                                          f'dataset = "{dataset}"\n{extra}'})


CSV_ROWS = "\n".join(f"fortune number {i} for the test,{i % 2}" for i in range(40))
FLOAT_ROWS = "\n".join(f"fortune number {i} for the test,{(i % 3) / 2}" for i in range(40))

CASES = [
    # --- the study file
    Case("malformed-toml", ["run", "{study}"], ["is not valid TOML", "fix the syntax"], toml='[study\nname = "bad"\n'),
    Case("missing-study-file", ["run", "{dir}/nosuch.toml"], ["does not exist", "check the path"]),
    Case("unknown-top-level-table", ["run", "{study}"], ["unknown table(s) studdy", "allowed are"],
         toml=_study() + "\n[studdy]\nx = 1\n"),
    Case("unknown-study-key", ["run", "{study}"], ["unknown key(s) n_trial in [study]", "allowed are"],
         toml=_study(n_trials_EQ_5="n_trial = 5")),
    Case("n-trials-zero", ["run", "{study}"], ["n_trials must be at least 1", "not 0"], toml=_study(n_trials_EQ_5="n_trials = 0")),
    Case("n-trials-not-a-number", ["run", "{study}"], ["n_trials must be int", "'five'"],
         toml=_study(n_trials_EQ_5='n_trials = "five"')),
    Case("negative-timeout", ["run", "{study}"], ["timeout_s must be positive", "-5"],
         toml=_study(n_trials_EQ_5="n_trials = 5\ntimeout_s = -5")),
    Case("retention-above-one", ["run", "{study}"], ["min_f1_retention is a share of the baseline F1 in (0, 1]", "1.5"],
         toml=_study(n_trials_EQ_5="n_trials = 5\nmin_f1_retention = 1.5")),
    Case("min-saving-a-percentage", ["run", "{study}"], ["min_saving is a share of the baseline's joules in [0, 1)",
                                                        "not 5"], toml=_study(n_trials_EQ_5="n_trials = 5\nmin_saving = 5")),
    Case("baseline-repeats-two", ["run", "{study}"], ["baseline_repeats = 2 cannot measure a noise floor", "3 or more"],
         toml=_study(n_trials_EQ_5="n_trials = 5\nbaseline_repeats = 2")),
    Case("confirm-repeats-one", ["run", "{study}"], ["confirm_repeats = 1 gives no interval", "2 or more"],
         toml=_study(n_trials_EQ_5="n_trials = 5\nconfirm_repeats = 1")),
    Case("budget-below-the-noise-floor", ["run", "{study}"], ["n_trials = 3 leaves no run for the search",
                                                             "at least 4"], toml=_study(n_trials_EQ_5="n_trials = 3")),
    Case("confirm-not-a-bool", ["run", "{study}"], ["confirm must be bool", "'yes'"],
         toml=_study(n_trials_EQ_5='n_trials = 5\nconfirm = "yes"')),
    Case("unknown-sampler", ["run", "{study}"], ["unknown sampler 'tpee'", "did you mean 'tpe'?"],
         toml=_study(sampler_EQ_="sampler = ").replace('"random"', '"tpee"')),
    Case("unknown-energy-meter", ["run", "{study}"], ["energy 'joulemeter' is not a meter", "auto, zeus or estimate"],
         toml=_study(**{'energy = "estimate"': 'energy = "joulemeter"'})),
    Case("bad-study-name", ["run", "{study}"], ["study name 'my study!'", "rename it"],
         toml=_study(**{'name = "bad"': 'name = "my study!"'})),
    # --- knobs and ranges
    Case("misspelled-fixed-knob", ["run", "{study}"], ["learning_rte", "learning_rate"],
         toml=_study() + "learning_rte = 1e-4\n"),
    Case("misspelled-search-knob", ["run", "{study}"], ["batchsize", "batch_size"],
         toml=_study(**{'"batch_size", "drop_layers"': '"batchsize", "drop_layers"'})),
    Case("misspelled-range-knob", ["run", "{study}"], ["max_lenght", "max_length"],
         toml=_study() + "\n[search.ranges]\nmax_lenght = { choices = [32, 64] }\n"),
    Case("range-low-above-high", ["run", "{study}"], ["learning_rate", "low"],
         toml=_study(**{'"batch_size", "drop_layers"': '"batch_size", "learning_rate"'})
         + "\n[search.ranges]\nlearning_rate = { low = 1e-3, high = 1e-5 }\n"),
    Case("range-outside-domain", ["run", "{study}"], ["range for 'learning_rate' goes outside its domain"],
         toml=_study(**{'"batch_size", "drop_layers"': '"batch_size", "learning_rate"'})
         + "\n[search.ranges]\nlearning_rate = { low = 1e-7, high = 1e-3 }\n"),
    Case("range-leaves-out-the-baseline", ["run", "{study}"], ["the baseline's batch_size = 16 is outside the searched "
                                                                "range", "[baseline] batch_size"],
         toml=_study() + "\n[search.ranges]\nbatch_size = { choices = [32, 64] }\n"),
    Case("empty-choices", ["run", "{study}"], ["batch_size"],
         toml=_study() + "\n[search.ranges]\nbatch_size = { choices = [] }\n"),
    Case("fixed-value-outside-domain", ["run", "{study}"], ["max_length", "33"],
         toml=_study(**{"max_length = 32": "max_length = 33"})),
    # --- the task and its data
    Case("unknown-task", ["run", "{study}"], ["unknown task 'fortunes-tinny'", "did you mean 'fortunes-tiny'?"],
         toml=_study(**{'name = "fortunes-tiny"': 'name = "fortunes-tinny"'})),
    Case("missing-dataset-file", ["run", "{study}"], ["{dir}/nope.csv does not exist"],
         toml=_custom_task("{dir}/nope.csv")),
    Case("missing-text-column", ["run", "{study}"], ["sentence"],
         toml=_custom_task("{dir}/data.csv", 'text_column = "sentence"\n'), files={"data.csv": "text,label\n" + CSV_ROWS}),
    Case("non-integer-labels", ["run", "{study}"], ["label"],
         toml=_custom_task("{dir}/floats.csv"), files={"floats.csv": "text,label\n" + FLOAT_ROWS}),
    # --- storage
    Case("unknown-storage-scheme", ["run", "{study}", "--storage", "foo://x"], ["storage URL 'foo://x'", "journal:PATH"]),
    Case("unreachable-postgresql", ["run", "{study}", "--storage", "postgresql://u:p@127.0.0.1:1/db"],
         ["cannot open storage postgresql://***@127.0.0.1:1/db", "that the server runs"]),
    Case("storage-is-a-folder", ["run", "{study}", "--storage", "journal:{dir}"], ["is a folder", "give a file path"]),
    Case("several-workers-on-sqlite", ["run", "{study}", "--workers", "3", "--storage", "sqlite:///{dir}/s.db"],
         ["--workers 3 on a SQLite file", "PostgreSQL"]),
    Case("worker-on-sqlite", ["worker", "{study}", "--storage", "sqlite:///{dir}/s.db"], ["SQLite", "journal file"]),
    # --- command-line values
    Case("n-trials-flag-zero", ["run", "{existing}", "--n-trials", "0"], ["--n-trials must be at least 1"]),
    Case("n-trials-flag-not-a-number", ["run", "{existing}", "--n-trials", "ten"], ["invalid int value: 'ten'", "--help"]),
    Case("negative-timeout-flag", ["run", "{existing}", "--timeout", "-1"], ["--timeout must be a positive number"]),
    Case("zero-workers", ["run", "{existing}", "--workers", "0"], ["--workers must be at least 1"]),
    Case("unknown-sampler-flag", ["run", "{existing}", "--sampler", "rnd"], ["unknown sampler 'rnd'", "random"]),
    Case("unknown-command", ["optimise", "{existing}"], ["invalid choice: 'optimise'"]),
    Case("n-trials-flag-below-the-noise-floor", ["run", "{existing}", "--n-trials", "2"],
         ["n_trials = 2 leaves no run for the search", "at least 4"]),
    Case("confirm-one-repeat", ["confirm", "{existing}", "--repeats", "1"], ["--repeats 1 gives no interval"]),
    Case("confirm-without-a-finished-baseline", ["confirm", "{existing}"], ["has no finished baseline",
                                                                           "run `greenknobs run` first"]),
    # --- an existing study
    Case("resume-with-other-fixed-knobs", ["run", "{study}", "--storage", "{existing_storage}", "--study-name", "existing"],
         ["exists with a different fixed", "choose a new --study-name"], toml=_study(**{"epochs = 1": "epochs = 2"})),
    Case("status-of-a-missing-study", ["status", "{existing}", "--storage", "{existing_storage}", "--study-name", "nosuch"],
         ["no study named 'nosuch'", "studies there: existing"]),
    Case("status-without-storage", ["status", "{study}"], ["no study storage at", "run `greenknobs run` first"]),
]
# The commands that read a study: the same error for a study that does not exist.
for command, extra in (("export", ["--out", "{dir}/out"]), ("dashboard", []), ("report", ["--out", "{dir}/out"])):
    CASES.append(Case(f"{command}-of-a-missing-study",
                      [command, "{existing}", "--storage", "{existing_storage}", "--study-name", "nosuch", *extra],
                      ["no study named 'nosuch'", "studies there: existing"]))


@pytest.fixture(scope="module")
def existing(tmp_path_factory, tiny_pipeline) -> Path:
    """A study that exists (created, baseline queued); bad input must leave its storage byte for byte."""
    folder = tmp_path_factory.mktemp("existing")
    study_file = write_study(folder, "existing")
    open_study(load_spec(study_file), pipeline=tiny_pipeline)
    return study_file


def _fill(text: str, folder: Path, existing: Path) -> str:
    storage = f"journal:{existing.parent / 'existing.journal'}"
    return (text.replace("{study}", str(folder / "bad.toml")).replace("{dir}", str(folder))
            .replace("{existing_storage}", storage).replace("{existing}", str(existing)))


def _prepare(case: Case, folder: Path) -> None:
    for name, content in case.files.items():
        (folder / name).write_text(content)
    if case.id != "missing-study-file":
        (folder / "bad.toml").write_text(_fill(case.toml if case.toml is not None else _study(), folder, Path()))


def _files(*folders: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_one_line(err: str, expect: list[str]) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert lines[0].startswith("greenknobs: error: ") and "Traceback" not in err
    for part in expect:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"
    return lines[0]


def test_there_are_at_least_25_distinct_bad_inputs():
    assert len({c.id for c in CASES}) == len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_the_study_untouched(case, tmp_path, existing, capsys):
    _prepare(case, tmp_path)
    before = _files(tmp_path, existing.parent)
    argv = [_fill(a, tmp_path, existing) for a in case.argv]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse exits by itself
        code = exit_.code
    captured = capsys.readouterr()
    assert code == 2, captured.err
    _assert_one_line(captured.err, [_fill(e, tmp_path, existing) for e in case.expect])
    assert _files(tmp_path, existing.parent) == before, "bad input wrote a file or changed a study"


@pytest.mark.parametrize("case_id", ["malformed-toml", "unreachable-postgresql", "several-workers-on-sqlite"])
def test_bad_input_in_a_real_process(case_id, tmp_path, existing):
    import subprocess

    case = next(c for c in CASES if c.id == case_id)
    _prepare(case, tmp_path)
    before = _files(tmp_path)
    done = subprocess.run(greenknobs(*[_fill(a, tmp_path, existing) for a in case.argv]), cwd=REPO, env=env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    _assert_one_line(done.stderr, [_fill(e, tmp_path, existing) for e in case.expect])
    assert _files(tmp_path) == before


def test_an_unknown_sampler_name_is_refused_with_the_choices():
    """The library's factory too (not only the study file's check): the benchmarks' control strategies are not its."""
    from greenknobs.search.samplers import make_sampler

    with pytest.raises(GreenknobsError, match=r"^unknown sampler 'tpe-warm': choose one of tpe, nsga2, gp, random, "
                                              r"cascade$"):
        make_sampler("tpe-warm", 0)
