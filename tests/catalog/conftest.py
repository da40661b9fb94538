"""The backends the catalog contract suite runs against.

Every test in ``tests/catalog`` that asks for ``backend_settings``, ``catalog`` or ``lakehouse``
runs once per entry of :data:`BACKENDS`. A backend is a function that returns the
:class:`~branchops.config.Settings` of a fresh, empty lakehouse (its catalog with only ``main``);
it may pull other fixtures through ``request.getfixturevalue`` so servers start only when used.

Adding a backend is one entry, e.g. for Nessie::

    def nessie_settings(request: pytest.FixtureRequest, root: Path) -> Settings:
        server = request.getfixturevalue("nessie_server")
        return Settings(root=root, backend="nessie", nessie_uri=server.fresh_repo(), warehouse=...)

    BACKENDS["nessie"] = Backend(nessie_settings, marks=(pytest.mark.integration,))

Settings are plain data, so the multi-process tests hand them to worker processes, which open
the same lakehouse with ``load_catalog(settings)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from branchops.catalog import load_catalog
from branchops.catalog.base import VersionedCatalog
from branchops.config import Settings
from branchops.lakehouse import Lakehouse


@dataclass(frozen=True)
class Backend:
    settings: Callable[[pytest.FixtureRequest, Path], Settings]
    marks: tuple[pytest.MarkDecorator, ...] = ()


def sqlite_settings(request: pytest.FixtureRequest, root: Path) -> Settings:
    return Settings(root=root, catalog_uri=f"sqlite:///{root / 'catalog.db'}")


def postgres_settings(request: pytest.FixtureRequest, root: Path) -> Settings:
    return Settings(root=root, catalog_uri=request.getfixturevalue("postgres_url"))


def nessie_settings(request: pytest.FixtureRequest, root: Path) -> Settings:
    server = request.getfixturevalue("nessie_server")
    return Settings(root=root, backend="nessie", nessie_uri=server.fresh_repo())


BACKENDS: dict[str, Backend] = {
    "sqlite": Backend(sqlite_settings),
    "postgres": Backend(postgres_settings),
    "nessie": Backend(nessie_settings, marks=(pytest.mark.integration,)),
}


@pytest.fixture(params=[pytest.param(name, marks=b.marks, id=name) for name, b in BACKENDS.items()])
def backend(request: pytest.FixtureRequest) -> Backend:
    return BACKENDS[request.param]


@pytest.fixture
def backend_settings(request: pytest.FixtureRequest, backend: Backend, tmp_path: Path) -> Settings:
    """Settings of a fresh lakehouse on the backend under test (warehouse under ``tmp_path``)."""
    return backend.settings(request, tmp_path)


@pytest.fixture
def catalog(backend_settings: Settings) -> Iterator[VersionedCatalog]:
    cat = load_catalog(backend_settings)
    yield cat
    cat.close()


@pytest.fixture
def lakehouse(backend_settings: Settings) -> Iterator[Lakehouse]:
    with Lakehouse(backend_settings) as lh:
        yield lh

