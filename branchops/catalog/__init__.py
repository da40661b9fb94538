"""Versioned catalog backends, found by name; each loader imports its backend lazily."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from branchops.errors import ConfigError

if TYPE_CHECKING:
    from branchops.catalog.base import VersionedCatalog
    from branchops.config import Settings


def _load_sql(settings: Settings) -> VersionedCatalog:
    from branchops.catalog.sql.backend import SqlVersionedCatalog
    from branchops.security.postgres_roles import install_error_translation

    catalog = SqlVersionedCatalog(settings.catalog_url, jdbc_refs=settings.jdbc_refs, **settings.catalog_kwargs())
    install_error_translation(catalog.db)  # a job role's refusals become PermissionDenied
    return catalog


def _load_nessie(settings: Settings) -> VersionedCatalog:
    try:
        from branchops.catalog.nessie.backend import NessieVersionedCatalog
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            f"the nessie backend needs extra packages ({e.name} is missing)",
            hint="pip install 'branchops[nessie]'",
        ) from e
    catalog: VersionedCatalog = NessieVersionedCatalog.from_settings(settings)
    return catalog


LOADERS: dict[str, Callable[[Settings], VersionedCatalog]] = {"sql": _load_sql, "nessie": _load_nessie}


def load_catalog(settings: Settings) -> VersionedCatalog:
    try:
        loader = LOADERS[settings.backend]
    except KeyError:
        raise ConfigError(
            f"unknown backend {settings.backend!r}", hint=f"set backend to one of {', '.join(sorted(LOADERS))}"
        ) from None
    return loader(settings)
