"""A project's dbt packages (``packages.yml`` / ``dependencies.yml``): installed before a run when missing.

A fresh CI checkout has no ``dbt_packages/`` (it is git-ignored), so the first ``pr sync`` of a
project that uses dbt_utils would fail to parse. Every branchops dbt invocation therefore runs
``dbt deps`` first when the project declares packages and their install folder is missing or
empty, and says so; when that fails (no network to the package hub, a bad spec), the error names
the exact command to run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from branchops.errors import UsageError

PACKAGE_FILES = ("packages.yml", "dependencies.yml")


def declared_packages(project_dir: Path) -> list[Any]:
    """The ``packages:`` entries of the project's packages.yml / dependencies.yml (``projects:``
    entries of dependencies.yml are cross-project refs, which need no install)."""
    found: list[Any] = []
    for name in PACKAGE_FILES:
        spec = project_dir / name
        if not spec.is_file():
            continue
        try:
            data = yaml.safe_load(spec.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise UsageError(f"{spec} is not valid YAML: {e}", unchanged="nothing was built or written",
                             hint="fix the file and retry") from None
        packages = data.get("packages") if isinstance(data, dict) else None
        found.extend(packages or [])
    return found


def install_path(project_dir: Path, project_spec: dict[str, Any]) -> Path:
    configured = project_spec.get("packages-install-path") or "dbt_packages"
    return (project_dir / str(configured)).resolve()


def missing_packages(project_dir: Path, project_spec: dict[str, Any]) -> bool:
    """Declared packages whose install folder is missing or empty (a fresh checkout)."""
    if not declared_packages(project_dir):
        return False
    folder = install_path(project_dir, project_spec)
    return not folder.is_dir() or not any(folder.iterdir())


def deps_command(project_dir: Path) -> str:
    return f"dbt deps --project-dir {project_dir}"
