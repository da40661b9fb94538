"""Creating a branchops project: config file plus an empty catalog with its main branch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from branchops.catalog import load_catalog
from branchops.config import CONFIG_NAME, catalog_exists, load_settings, write_default_config
from branchops.errors import ConfigError


def init_project(
    directory: Path,
    *,
    backend: str = "sql",
    catalog_uri: str | None = None,
    warehouse: str | None = None,
    nessie_uri: str | None = None,
    trino_uri: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Write ``branchops.toml`` in ``directory`` and create the catalog.

    Raises:
        ConfigError: ``directory`` already holds a branchops.toml (nothing is changed).
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / CONFIG_NAME
    if target.exists():
        raise ConfigError(
            f"{target} already exists: this folder is initialized",
            unchanged=f"{target} and its lakehouse are as they were",
            hint="use the existing project, or init another folder with --dir",
        )
    values: dict[str, Any] = {
        "backend": backend,
        "catalog_uri": catalog_uri,
        "warehouse": warehouse,
        "nessie_uri": nessie_uri,
        "trino_uri": trino_uri,
        **extra,
    }
    if backend == "nessie":
        values.setdefault("engine", "trino" if trino_uri else "duckdb")
        if not nessie_uri:
            raise ConfigError("--backend nessie needs --nessie-uri", unchanged="nothing was written")
    path = write_default_config(directory, **values)
    try:
        settings = load_settings(path)
        catalog = load_catalog(settings)
        catalog.close()
    except Exception:
        path.unlink()  # a failed init leaves nothing behind
        raise
    return {
        "config": str(path.resolve()),
        "backend": settings.backend,
        "main": settings.main_branch,
        "warehouse": settings.warehouse_location,
    }


def ensure_catalog(config: Path, **flags: str | None) -> dict[str, Any]:
    """Create the catalog ``config``'s settings name (environment included) unless it exists;
    ``flags`` (init's options) must agree with those settings. ``created`` says which it was.

    Raises:
        ConfigError: a flag disagrees with the settings (nothing is created).
    """
    settings = load_settings(config)
    clash = sorted(k for k, v in flags.items() if v is not None and str(getattr(settings, k)) != v)
    if clash:
        raise ConfigError(
            f"{config} exists and sets {', '.join(clash)} otherwise than the options given",
            unchanged="nothing was created or changed",
            hint="drop those options (the file and BRANCHOPS_* variables are used), or edit the file",
        )
    created = not catalog_exists(settings)
    if created:
        load_catalog(settings).close()
    return {
        "config": str(config.resolve()),
        "backend": settings.backend,
        "main": settings.main_branch,
        "warehouse": settings.warehouse_location,
        "created": created,
    }
