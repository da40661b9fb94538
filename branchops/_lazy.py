"""Lazy package exports (PEP 562): ``import branchops`` costs nothing until a name is used.

A package's ``__init__`` names where each public name lives; the first access imports that module
and caches the value in the package's namespace, so later lookups are plain attribute reads.
Importing dbt, pyarrow, pyiceberg or duckdb takes 0.1-1 s each; a command that needs none of them
(``--help``, ``branch list``) should not pay for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``exports[name]`` (a module path) on first use."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)
        return value

    return __getattr__
