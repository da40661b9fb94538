"""Fixtures shared by every test folder. Keep this small and generic; add with targeted edits."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pgserver
import pytest

if TYPE_CHECKING:
    from integration.nessie_server import NessieServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pgserver.PostgresServer]:
    """A real PostgreSQL server for the whole session (started on first use, stopped at the end).

    Skips when PostgreSQL cannot be had, unless BRANCHOPS_REQUIRE_POSTGRES=1 (CI): then it fails.
    """
    try:
        server = pgserver.start_server()
    except pgserver.PostgresUnavailable as e:
        if pgserver.postgres_required():
            pytest.fail(f"{pgserver.REQUIRE_ENV}=1 but {e}", pytrace=False)
        pytest.skip(f"{e} (set {pgserver.REQUIRE_ENV}=1 to fail instead)")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_database(postgres_server: pgserver.PostgresServer) -> str:
    """The URL of one database the session's tests share (each test takes its own schema)."""
    return postgres_server.create_database("branchops_tests")


@pytest.fixture
def postgres_url(postgres_server: pgserver.PostgresServer, postgres_database: str) -> Iterator[str]:
    """The SQLAlchemy URL of a fresh, empty schema (its ``search_path``); dropped afterwards."""
    url = postgres_server.create_schema(postgres_database)
    yield url
    postgres_server.drop_schema(url)


@pytest.fixture(scope="session")
def nessie_server(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[NessieServer]:
    """A real Nessie server for the whole session (``-m integration`` only; never skipped); a cold
    fetch shows its progress past pytest's output capture."""
    from integration.nessie_server import start_nessie

    server = start_nessie(tmp_path_factory.mktemp("nessie"), config=pytestconfig)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """With ``BRANCHOPS_TEST_GC=1``, collect garbage when each test ends, so that an object left
    unclosed (a socket, a file) warns in the test that leaked it, not in whichever later test
    the collector happens to run in. Off by default: it adds about 0.5 s a test."""
    yield
    if os.environ.get("BRANCHOPS_TEST_GC") == "1":
        import gc

        gc.collect()
