"""The rooms of greenknobs.search and the one direction their imports may run."""

from __future__ import annotations

import ast
import re
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
