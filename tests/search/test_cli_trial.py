"""`greenknobs trial`: one JSON/summary result for a good configuration; for bad input, exit status 2 and one
`greenknobs: error:` line naming the problem and the fix — no traceback, nothing on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from greenknobs.objectives import PIPELINE_PHASES
from greenknobs.search.cli import main
from greenknobs.spaces import Hardware

SMALL = '[knobs]\nmax_length = 32\ntrain_fraction = 0.2\nepochs = 1\ntokenizer = "rust"\n'
CPU = Hardware(device="cpu", cpu_cores=2, missing={"cuda": "needs a CUDA GPU", "fp16": "needs a CUDA GPU",
                                                  "pin-memory": "needs a CUDA GPU", "bnb-cuda": "needs a CUDA GPU",
                                                  "power-limit": "needs an NVIDIA GPU"})


def _write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


def _csv(folder: Path, name: str, header: str, label) -> str:
    rows = [header] + [f"fortune number {i} about {'cats' if i % 2 else 'dogs'},{label(i)}" for i in range(40)]
    return _write(folder, name, "\n".join(rows) + "\n")


def _task_config(folder: Path, dataset: str) -> str:
    return _write(folder, "task.toml", f'[task]\nmodels = ["tiny-bert"]\ndataset = "{dataset}"\n\n{SMALL}')


def _refused(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("greenknobs: error: ") and sum("greenknobs:" in line for line in lines) == 1
    return lines[-1]


CONFIG_ERRORS = [
    ("unknown-knob", '[knobs]\nmax_lenght = 64\n', "unknown knob 'max_lenght' in config file", "did you mean 'max_length'?"),
    ("outside-domain", '[knobs]\nmax_length = 33\n', "value 33 for knob 'max_length' is outside its domain", "choose a value"),
    ("wrong-type", '[knobs]\nepochs = "two"\n', "value two for knob 'epochs' is outside its domain [", "choose"),
    ("top-level-key", 'learning_rate = 0.001\n[knobs]\n', "unknown key(s) learning_rate", "knob values go under [knobs]"),
    ("malformed", '[knobs\nepochs = 1\n', "is not valid TOML", "fix the syntax"),
    ("measured", 'measured = 3\n[knobs]\n', "`measured` must be a table", "or left out"),
    ("inactive", '[knobs]\nlora_rank = 16\n', "sets 'lora_rank', which only applies when adaptation in {lora, qlora}",
     "remove it or set adaptation"),
    ("head-checkpointing", '[knobs]\nadaptation = "head"\ngradient_checkpointing = true\n',
     "sets 'gradient_checkpointing', which only applies when adaptation in {full, lora, qlora}", "remove it"),
    ("drop-all-layers", '[knobs]\ndrop_layers = 4\n', "value 4 for knob 'drop_layers' is outside its domain [0, 3]",
     "choose"),
    ("task-table-key", '[task]\nname = "fortunes-tiny"\nmodel = "tiny-bert"\n', "[task] has unknown key(s) model",
     "allowed are"),
    ("lora-targets", '[task]\nname = "fortunes-tiny"\nlora_targets = ["nonexistent"]\n\n' + SMALL + 'adaptation = "lora"\n',
     "LoRA target modules ('nonexistent',) match nothing in the encoder", "set lora_targets to"),
    ("task-twice", 'task = "fortunes-tiny"\n[knobs]\n', "both --task and the config file's task", "keep one"),
]


@pytest.mark.parametrize("name,text,problem,fix", CONFIG_ERRORS, ids=[c[0] for c in CONFIG_ERRORS])
def test_a_bad_config_file_is_refused(tmp_path, capsys, name, text, problem, fix):
    task = [] if text.startswith("[task]") else ["--task", "fortunes-tiny"]
    line = _refused(capsys, ["trial", *task, "--config", _write(tmp_path, "c.toml", text)])
    assert problem in line and fix in line


def test_unknown_task_suggests_the_nearest(capsys):
    line = _refused(capsys, ["trial", "--task", "fortunes-tny"])
    assert "unknown task 'fortunes-tny': did you mean 'fortunes-tiny'?" in line


def test_missing_config_file(tmp_path, capsys):
    line = _refused(capsys, ["trial", "--task", "fortunes-tiny", "--config", str(tmp_path / "absent.toml")])
    assert "absent.toml does not exist: check the path" in line


def test_a_knob_this_machine_cannot_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("greenknobs.objectives._pipeline.detect_hardware", lambda: CPU)
    line = _refused(capsys, ["trial", "--task", "fortunes-tiny",
                             "--config", _write(tmp_path, "c.toml", "[knobs]\npin_memory = true\n")])
    assert "pin_memory = true cannot run on this machine (needs a CUDA GPU): remove it or use false" in line


@pytest.mark.parametrize("case", ["no-label-column", "non-integer-labels", "missing-file"])
def test_a_bad_dataset_is_refused(tmp_path, capsys, case):
    if case == "no-label-column":
        dataset, expected = _csv(tmp_path, "d.csv", "text,category", lambda i: i % 2), "has no column 'label'"
    elif case == "non-integer-labels":
        dataset, expected = _csv(tmp_path, "d.csv", "text,label", lambda i: i % 2 + 0.5), "holds non-integer values"
    else:
        dataset, expected = str(tmp_path / "absent.csv"), "absent.csv does not exist"
    line = _refused(capsys, ["trial", "--config", _task_config(tmp_path, dataset), "--energy", "estimate"])
    assert expected in line


def test_a_bad_option_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["trial", "--seed", "one"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("greenknobs: error: argument --seed: invalid int value") and err.count("\n") == 1


@pytest.mark.parametrize("text,fragment", [
    ('[knobs]\nlearning_rte = 0.001\n', "did you mean 'learning_rate'?"),
    ('[knobs]\nepochs = \n', "is not valid TOML"),
])
def test_the_console_script_exits_2_without_a_traceback(tmp_path, text, fragment):
    script = Path(sys.executable).with_name("greenknobs")
    proc = subprocess.run([str(script), "trial", "--task", "fortunes-tiny", "--config", _write(tmp_path, "c.toml", text)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("greenknobs: error: ") and fragment in lines[-1]
    assert sum("greenknobs:" in line for line in lines) == 1


# -- a good trial --------------------------------------------------------------------------------------------


def test_json_result_of_a_trial(tmp_path, capsys):
    config = _write(tmp_path, "small.toml", SMALL)
    assert main(["trial", "--task", "fortunes-tiny", "--config", config, "--energy", "estimate", "--json"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["energy_j"] > 0 and result["energy_source"] == "estimated"
    assert set(result["phase_energy_j"]) == set(PIPELINE_PHASES)
    assert sum(result["phase_energy_j"].values()) == pytest.approx(result["energy_j"])
    for key in ("f1", "weighted_f1", "accuracy", "majority_f1"):
        assert 0 <= result[key] <= 1
    assert result["f1_kind"] == "macro"
    assert isinstance(result["degenerate"], bool) and result["degenerate"] == bool(result["degenerate_reason"])
    assert result["trainable_params"] == result["total_params"] > 0
    assert (result["task"], result["n_train"], result["config"]["max_length"]) == ("fortunes-tiny", 60, 32)
    assert "trial: training" in err  # progress goes to stderr, so stdout stays parseable


def test_summary_says_the_energy_is_estimated(tmp_path, capsys):
    config = _write(tmp_path, "small.toml", SMALL + 'adaptation = "head"\n')
    assert main(["trial", "--task", "fortunes-tiny", "--config", config, "--energy", "estimate", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "energy (estimated):" in out and "source: estimated: process CPU time" in out
    assert "trainable parameters 325 of " in out and "degenerate: " in out
    assert "task fortunes-tiny · model tiny-bert · 60 train / 100 validation examples" in out
