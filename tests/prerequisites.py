"""What a test needs from outside the repository: a fixture file, a tool, an optional package.

Where it is absent, CI (env CI set, any non-empty value) fails the test naming what is missing,
since CI claims to run it; elsewhere the test skips with that reason. Not for GPU-only tests: CI
has no GPU, so those skip everywhere without one.

In a test, a fixture or at a module's top level call `require(present, what)`, `missing(what)`
or `require_import(module)`; on a test or a module's `pytestmark` put
`pytest.mark.requires(present, what)`, which conftest.py checks before the test's fixtures are
set up (so that on CI a parameter list left empty by a missing fixture fails too).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest


def on_ci() -> bool:
    return bool(os.environ.get("CI"))


def missing(what: str) -> NoReturn:
    """Fail on CI, skip elsewhere, saying that `what` is missing; in a test, a fixture, or at a
    module's top level (which skips, or on CI fails, the whole module)."""
    if on_ci():
        pytest.fail(f"missing {what} (CI is set, so this test must run)", pytrace=False)
    pytest.skip(f"missing {what}", allow_module_level=True)


def require(present: object, what: str) -> None:
    """`missing(what)` unless `present` is true (a condition, or a list that must not be empty)."""
    if not present:
        missing(what)


def require_import(module: str) -> ModuleType:
    """The imported module; `missing` naming it and the import error when it does not import."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing(f"the import {module} ({type(error).__name__}: {error})")
