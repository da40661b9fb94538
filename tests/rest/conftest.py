"""A lakehouse with two branches served by ``branchops serve`` (in a thread), on each backend:
the embedded SQLite catalog in the fast suite, a real Nessie server under ``-m integration``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rest_stack import FEAT_EXTRA, MAIN_ORDERS, Served

from branchops.config import Settings
from branchops.lakehouse import Lakehouse
from branchops.rest import RestServer


def _settings(request: pytest.FixtureRequest, root: Path) -> Settings:
    if request.param == "nessie":
        server = request.getfixturevalue("nessie_server")
        return Settings(root=root, backend="nessie", nessie_uri=server.fresh_repo())
    return Settings(root=root, catalog_uri=f"sqlite:///{root / 'catalog.db'}")


@pytest.fixture(params=["sqlite", pytest.param("nessie", marks=pytest.mark.integration)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """``main``: raw.orders with 3 rows; ``feat`` (forked from main): one more row."""
    with Lakehouse(_settings(request, tmp_path)) as lh:
        lh.ingest("raw.orders", MAIN_ORDERS, branch="main")
        lh.catalog.create_branch("feat")
        lh.ingest("raw.orders", FEAT_EXTRA, branch="feat")
        server = RestServer(lh.catalog).start()
        try:
            yield Served(lh, server)
        finally:
            server.stop()
