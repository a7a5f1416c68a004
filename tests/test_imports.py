"""The package's import graph: dependencies point one way, so no module of dermsynth imports,
directly or through others, itself.

Imports are read from the source with `ast`, not executed, so that checking imports nothing
torch-heavy; every import counts, also one inside a function or under TYPE_CHECKING, since
hiding a cycle there leaves the two modules as tangled as before.
"""

from __future__ import annotations

import ast
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import dermsynth

SOURCE = Path(dermsynth.__file__).parent


def walk_modules(folder: Path, package: str) -> Iterator[tuple[str, Path, bool]]:
    """(name, file, is_package) of the package in `folder` and every module under it.

    As pkgutil.walk_packages does, but without importing each package to find its path.
    """
    yield package, folder / "__init__.py", True
    for info in pkgutil.iter_modules([str(folder)]):
        name = f"{package}.{info.name}"
        if info.ispkg:
            yield from walk_modules(folder / info.name, name)
        else:
            yield name, folder / f"{info.name}.py", False


def imported_modules(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The modules of `modules` that the code `tree` of `module` imports, wherever it does.

    `from a import b` is an import of module a.b where that is one, else of a (which defines b).
    """
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # a package's own __init__ is level 1's base; a module's is its package
                parts = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in modules else base)
    return {name for name in found if name in modules and name != module}


def import_graph(folder: Path, package: str) -> dict[str, set[str]]:
    """Each module of the package in `folder` -> the package's modules it imports."""
    walked = list(walk_modules(folder, package))
    modules = {name for name, _, _ in walked}
    return {
        name: imported_modules(ast.parse(path.read_text(), str(path)), name, is_pkg, modules)
        for name, path, is_pkg in walked
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles (each with its first module repeated at the end), by depth-first search: at least
    one through every group of modules that import each other."""
    found: list[list[str]] = []
    done: set[str] = set()
    in_a_cycle: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(graph[node]):
            if target in path and target not in in_a_cycle:
                cycle = path[path.index(target) :] + [target]
                in_a_cycle.update(cycle)
                found.append(cycle)
            elif target not in done and target not in path:
                visit(target, path + [target])
        done.add(node)

    for node in sorted(graph):
        if node not in done:
            visit(node, [node])
    return found


def test_every_source_file_is_a_module_of_the_walk():
    # a folder without __init__.py would hide its modules from the walk, and from this check
    walked = {path for _, path, _ in walk_modules(SOURCE, "dermsynth")}
    assert set(SOURCE.rglob("*.py")) == walked


def test_the_module_import_graph_of_dermsynth_has_no_cycle():
    found = cycles(import_graph(SOURCE, "dermsynth"))
    assert not found, "import cycles: " + "; ".join(" -> ".join(c) for c in found)


# --- the check itself, on a package small enough to see ------------------------------------


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "demo" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "demo"


@pytest.mark.parametrize(
    "files",
    [
        {"a.py": "import demo.b\n", "b.py": "from demo import a\n"},
        {"a.py": "from .b import f\n", "b.py": "def g():\n    from demo.a import h\n"},
        {"sub/x.py": "from ..a import f\n", "a.py": "from demo.sub import x\n"},
        {"sub/x.py": "from . import y\n", "sub/y.py": "from demo.sub.x import f\n"},
        {
            "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import demo.b\n",
            "b.py": "from demo.a import f\n",
        },
    ],
    ids=["absolute", "relative-and-inside-a-function", "parent-package", "sibling", "typing"],
)
def test_a_cycle_is_found_and_named_in_any_import_form(tmp_path, files):
    files = {"__init__.py": "", "sub/__init__.py": "", **files}
    found = cycles(import_graph(write_package(tmp_path, files), "demo"))
    assert len(found) == 1
    assert found[0][0] == found[0][-1] and len(found[0]) == 3


def test_imports_that_point_one_way_are_no_cycle(tmp_path):
    files = {
        "__init__.py": "from demo.a import f\n",  # a package may re-export its modules
        "a.py": "import os\nfrom demo.b import g\nfrom .sub.x import h\n",
        "b.py": "import numpy\n",
        "sub/__init__.py": "",
        "sub/x.py": "from .. import b\nfrom demo.b import g\n",
    }
    graph = import_graph(write_package(tmp_path, files), "demo")
    assert graph["demo.a"] == {"demo.b", "demo.sub.x"}
    assert graph["demo.sub.x"] == {"demo.b"}
    assert cycles(graph) == []
