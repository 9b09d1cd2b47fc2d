"""The rooms of greenknobs.search and the one direction their imports may run."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEARCH = ROOT / "search"
# Each room may import itself and the rooms to its right, never one to its left.
ORDER = ("cli", "analysis", "study", "samplers", "records")


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, at module level or inside functions, as (line, dotted name)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def _room(dotted: str) -> str | None:
    m = re.match(r"greenknobs\.search\.(\w+)", dotted)
    return m.group(1) if m and m.group(1) in ORDER else None


def test_search_has_no_module_outside_its_rooms():
    assert sorted(p.name for p in SEARCH.glob("*.py")) == ["__init__.py"]
    assert sorted(p.name for p in SEARCH.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(ORDER)
    for room in ORDER:
        doc = ast.get_docstring(ast.parse((SEARCH / room / "__init__.py").read_text()))
        assert doc, f"search/{room}/__init__.py must say in its docstring what the room holds"


@pytest.mark.parametrize("room", ORDER)
def test_imports_run_one_way(room):
    allowed = set(ORDER[ORDER.index(room):])
    upward = []
    for path in sorted((SEARCH / room).rglob("*.py")):
        for line, name in _imports(path):
            target = _room(name)
            if target is not None and target not in allowed:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {name} ({room} -> {target})")
    assert not upward, "imports that run back up:\n" + "\n".join(upward)


def test_spaces_and_objectives_never_import_the_search():
    offenders = [f"{p.relative_to(ROOT)}:{line} imports {name}"
                 for folder in ("spaces", "objectives") for p in sorted((ROOT / folder).rglob("*.py"))
                 for line, name in _imports(p) if name.startswith("greenknobs.search")]
    assert not offenders, "\n".join(offenders)


# Every room's door is its __init__: from another room, only the names it exports. A room's own tests (tests/objectives,
# tests/spaces) may open its modules; the rest open them only where listed here, each with the reason.
ROOMS = {f"greenknobs.search.{r}": SEARCH / r for r in ORDER} | {
    "greenknobs.objectives.energy": ROOT / "objectives" / "energy", "greenknobs.objectives": ROOT / "objectives",
    "greenknobs.spaces": ROOT / "spaces"}
OWN_TESTS = {ROOT / "tests" / "objectives" / "energy": "greenknobs.objectives.energy",
             ROOT / "tests" / "objectives": "greenknobs.objectives", ROOT / "tests" / "spaces": "greenknobs.spaces"}
BEHIND_THE_DOOR = {  # (file, module it opens): why
    ("tests/search/test_failures.py", "greenknobs.objectives._build"): "breaks a phase mid-run by patching it",
    ("tests/search/test_failures.py", "greenknobs.objectives._train"): "breaks a phase mid-run by patching it",
    ("tests/search/test_failures.py", "greenknobs.objectives._infer"): "breaks a phase mid-run by patching it",
    ("tests/search/test_cli_trial.py", "greenknobs.objectives._pipeline"): "patches the hardware the pipeline sees",
    ("tests/spaces/test_knob_listing.py", "greenknobs.objectives._pipeline"): "patches the hardware the pipeline sees",
    ("tests/search/test_duplicates.py", "greenknobs.search.samplers._cascade"): "slows the planner by patching it",
    ("tests/search/test_duplicates.py", "greenknobs.search.study._workers"): "holds a worker slot the way a process does",
    ("tests/search/test_worker_cores.py", "greenknobs.search.study._workers"): "patches the GPUs a machine shows",
    ("tests/search/test_workers.py", "greenknobs.search.study._workers"): "patches the GPUs a machine shows",
    ("tests/search/test_dashboard_constraints.py", "greenknobs.search.analysis._dashboard"): "the dashboard's patches",
    ("tests/search/test_early_stop.py", "greenknobs.search.records._early_stop"): "matching of reports, tested alone",
}


def _private_reach(dotted: str) -> str | None:
    """The room's private module (or name) a dotted import reaches behind its door, or None."""
    room = next((r for r in sorted(ROOMS, key=len, reverse=True) if dotted == r or dotted.startswith(r + ".")), None)
    if room is None or dotted == room:
        return None
    first = dotted[len(room) + 1:].split(".")[0]
    return f"{room}.{first}" if first.startswith("_") else None


def _home(path: Path) -> str | None:
    for room, folder in sorted(ROOMS.items(), key=lambda kv: -len(kv[0])):
        if folder in path.parents:
            return room
    return next((room for folder, room in OWN_TESTS.items() if folder in path.parents), None)


def _references(path: Path) -> list[tuple[int, str]]:
    """Imports, and strings naming a module (what importlib and monkeypatch reach by), as (line, dotted name)."""
    strings = [(n.lineno, n.value) for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
               if isinstance(n, ast.Constant) and isinstance(n.value, str) and re.fullmatch(r"greenknobs(\.\w+)+", n.value)]
    return _imports(path) + strings


def _behind_doors(files: list[Path]) -> list[str]:
    found = []
    for path in files:
        home, rel = _home(path), path.relative_to(ROOT).as_posix()
        for line, name in _references(path):
            module = _private_reach(name)
            if module and not module.startswith(f"{home}.") and (rel, module) not in BEHIND_THE_DOOR:
                found.append(f"{rel}:{line} reaches {name} behind {module.rsplit('.', 1)[0]}'s door (its __init__)")
    return found


def _code() -> list[Path]:
    return [p for folder in ("search", "objectives", "spaces", "tests", "benchmarks") for p in sorted((ROOT / folder).rglob("*.py"))
            if p.resolve() != Path(__file__).resolve()]


def test_rooms_are_entered_by_their_doors():
    found = _behind_doors(_code())
    assert not found, "imports into another room's private module; import the name from the room instead:\n" + "\n".join(found)


def test_every_exemption_is_still_used():
    used = {(p.relative_to(ROOT).as_posix(), m) for p in _code() for _, n in _references(p) if (m := _private_reach(n))}
    assert set(BEHIND_THE_DOOR) <= used, f"exemptions no longer needed: {sorted(set(BEHIND_THE_DOOR) - used)}"


@pytest.mark.parametrize("text", [
    "from greenknobs.search.records import _records as rec\n",
    "from greenknobs.search.records._noise import paired\n",
    "def f():\n    import greenknobs.objectives._pipeline\n",
    "import importlib\nm = importlib.import_module('greenknobs.search.study._study')\n",
])
def test_a_private_import_across_rooms_fails_naming_file_and_line(tmp_path, monkeypatch, text):
    for where in ("search/analysis", "search/cli", "tests/search", "benchmarks"):
        f = ROOT / where / "_layout_probe.py"
        monkeypatch.setattr(sys.modules[__name__], "ROOT", ROOT)
        try:
            f.write_text(text)
            found = _behind_doors([f])
        finally:
            f.unlink()
        assert found and found[0].startswith(f"{where}/_layout_probe.py:{text.count(chr(10))}"), (where, found)


def test_a_room_may_open_its_own_modules():
    assert not _behind_doors([SEARCH / "records" / "_noise.py", SEARCH / "study" / "_study.py"])


def test_the_walker_sees_function_level_imports(tmp_path):
    """The rule must not be dodged by importing inside a function."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from greenknobs.search.cli._run import load\n")
    assert (2, "greenknobs.search.cli._run") in _imports(f)


def test_readme_layout_names_every_room():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("```")[1]
    shown = re.findall(r"^  (\w+)/ ", layout, flags=re.MULTILINE)  # the rooms, indented under search/
    assert shown == list(ORDER), f"README's Layout section shows search/ rooms {shown}, the tree has {list(ORDER)}"


def test_the_public_api_imports():
    import greenknobs.search as search

    for name in search.__all__:
        assert callable(getattr(search, name)), name
