"""Config files: the unit of exchange. What `export` writes is what `trial --config` reads and a study enqueues."""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from greenknobs._errors import GreenknobsError

_TOP_LEVEL = {"task", "knobs", "seed", "measured"}


@dataclass(frozen=True)
class ConfigFile:
    knobs: dict[str, Any]
    task: str | dict[str, Any] | None = None  # a built-in task name, or a task table
    seed: int | None = None
    measured: dict[str, Any] = field(default_factory=dict)  # informational: what export saw; never read back as input


def read_toml(path: str | os.PathLike, what: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise GreenknobsError(f"{what} {path} does not exist: check the path")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise GreenknobsError(f"{what} {path} is not valid TOML ({err}): fix the syntax") from None
    except UnicodeDecodeError:
        raise GreenknobsError(f"{what} {path} is not UTF-8 text: save it as UTF-8 TOML") from None


def load_config_file(path: str | os.PathLike) -> ConfigFile:
    data = read_toml(path, "config file")
    unknown = set(data) - _TOP_LEVEL
    if unknown:
        raise GreenknobsError(
            f"config file {path} has unknown key(s) {', '.join(sorted(unknown))}: "
            f"allowed are {', '.join(sorted(_TOP_LEVEL))} (knob values go under [knobs])"
        )
    knobs = data.get("knobs", {})
    if not isinstance(knobs, dict):
        raise GreenknobsError(f"config file {path}: `knobs` must be a table ([knobs]), not {type(knobs).__name__}")
    task = data.get("task")
    if task is not None and not isinstance(task, (str, dict)):
        raise GreenknobsError(f"config file {path}: `task` must be a task name or a [task] table")
    seed = data.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise GreenknobsError(f"config file {path}: `seed` must be an integer, not {seed!r}")
    measured = data.get("measured", {})
    if not isinstance(measured, dict):
        raise GreenknobsError(f"config file {path}: `measured` must be a table ([measured]) or left out, not {measured!r}")
    return ConfigFile(knobs=dict(knobs), task=task, seed=seed, measured=dict(measured))


def write_config_file(path: str | os.PathLike, config: ConfigFile, header: str = "") -> None:
    """Written atomically: a reader never sees half a file, a crash never leaves one."""
    data: dict[str, Any] = {}
    if config.task is not None:
        data["task"] = _tomlable(config.task)
    if config.seed is not None:
        data["seed"] = config.seed
    data["knobs"] = _tomlable(config.knobs)
    if config.measured:
        data["measured"] = _tomlable(config.measured)
    text = "".join(f"# {line}\n" for line in header.splitlines()) + tomli_w.dumps(data)
    atomic_write_text(Path(path), text)


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _tomlable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _tomlable(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_tomlable(v) for v in value]
    return value
