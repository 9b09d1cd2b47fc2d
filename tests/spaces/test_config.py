"""Config files: what `export` writes is what `trial --config` reads back, value for value and type for type."""

from __future__ import annotations

import pytest

from greenknobs._errors import GreenknobsError
from greenknobs.spaces import ConfigFile, load_config_file, write_config_file


def test_a_completed_configuration_survives_the_round_trip(tmp_path, space):
    config = space.complete({"adaptation": "lora", "lora_dropout": 0.05, "learning_rate": 3e-4, "compile": True,
                             "drop_layers": 2, "drop_from": "bottom", "train_fraction": 0.5})
    task = {"models": ["tiny-bert"], "dataset": "/data/x.csv", "max_rows": {"train": 100}, "lora_targets": ["query"]}
    written = ConfigFile(knobs=config, task=task, seed=7, measured={"energy_j": 12.5, "f1": 0.61, "note": None})
    path = tmp_path / "sub" / "best.toml"
    write_config_file(path, written, header="exported by a test\nsecond line")

    text = path.read_text()
    assert text.startswith("# exported by a test\n# second line\n")
    back = load_config_file(path)
    assert back.knobs == config
    assert {k: type(v) for k, v in back.knobs.items()} == {k: type(v) for k, v in config.items()}
    assert (back.task, back.seed) == (task, 7)
    assert back.measured == {"energy_j": 12.5, "f1": 0.61}  # None has no TOML form: left out
    assert space.complete(back.knobs) == config
    assert [p.name for p in path.parent.iterdir()] == ["best.toml"]  # no temporary file left behind


def test_rewriting_replaces_the_file_whole(tmp_path, space):
    path = tmp_path / "c.toml"
    write_config_file(path, ConfigFile(knobs=space.complete({"epochs": 1}), task="fortunes-tiny"))
    write_config_file(path, ConfigFile(knobs={"epochs": 3}))
    back = load_config_file(path)
    assert (back.knobs, back.task, back.seed, back.measured) == ({"epochs": 3}, None, None, {})


@pytest.mark.parametrize("text,fragment", [
    ("foo = 1\n[knobs]\n", "unknown key(s) foo: allowed are knobs, measured, seed, task"),
    ("[knobs\nepochs = 1\n", "is not valid TOML"),
    ("knobs = 3\n", "`knobs` must be a table"),
    ("task = 3\n[knobs]\n", "`task` must be a task name or a [task] table"),
    ("seed = true\n[knobs]\n", "`seed` must be an integer"),
    ("measured = 5\n[knobs]\n", "`measured` must be a table"),
])
def test_malformed_config_files_are_refused_in_one_line(tmp_path, text, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(GreenknobsError) as err:
        load_config_file(path)
    assert fragment in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_and_binary_files_are_refused(tmp_path):
    with pytest.raises(GreenknobsError, match="does not exist: check the path"):
        load_config_file(tmp_path / "absent.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe[knobs]\n")
    with pytest.raises(GreenknobsError, match="is not UTF-8 text"):
        load_config_file(tmp_path / "bin.toml")
