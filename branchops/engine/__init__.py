"""Query engines, found by the ``engine`` setting; each loader imports its engine lazily."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from branchops.errors import ConfigError

if TYPE_CHECKING:
    from branchops.catalog.base import VersionedCatalog
    from branchops.config import Settings
    from branchops.engine.base import Engine


def _load_duckdb(settings: Settings, catalog: VersionedCatalog) -> Engine:
    from branchops.engine.duckdb import DuckDBEngine

    return DuckDBEngine(catalog, threads=settings.threads)


def _load_trino(settings: Settings, catalog: VersionedCatalog) -> Engine:
    try:
        import trino  # noqa: F401 - the extra must be installed

        from branchops.engine.trino import TrinoEngine
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ConfigError(
            f"the trino engine needs extra packages ({e.name} is missing)", hint="pip install 'branchops[trino]'"
        ) from e
    return TrinoEngine(catalog, settings)


LOADERS: dict[str, Callable[[Settings, VersionedCatalog], Engine]] = {"duckdb": _load_duckdb, "trino": _load_trino}


def engine_class(name: str) -> type[Engine]:
    """The class of engine ``name``, for its capability flags, without connecting to anything.

    Raises:
        ConfigError: an unknown engine.
    """
    if name == "duckdb":
        from branchops.engine.duckdb import DuckDBEngine

        return DuckDBEngine
    if name == "trino":
        from branchops.engine.trino import TrinoEngine

        return TrinoEngine
    raise ConfigError(f"unknown engine {name!r}", hint=f"set engine to one of {', '.join(sorted(LOADERS))}")


def load_engine(settings: Settings, catalog: VersionedCatalog) -> Engine:
    """The engine ``settings.engine`` names, over ``catalog``.

    Raises:
        ConfigError: an unknown engine, a missing extra, or settings the engine cannot use.
    """
    try:
        loader = LOADERS[settings.engine]
    except KeyError:
        raise ConfigError(
            f"unknown engine {settings.engine!r}", hint=f"set engine to one of {', '.join(sorted(LOADERS))}"
        ) from None
    return loader(settings, catalog)
