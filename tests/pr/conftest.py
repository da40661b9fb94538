"""Fixtures of the PR lifecycle tests: a fresh lakehouse, and a local GitHub replaying payloads."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from github_server import FakeGitHub, serve
from helpers import (
    TOKEN,
    rows,
)

from branchops.config import Settings
from branchops.lakehouse import Lakehouse
from branchops.pr import Reporter


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """A local GitHub, with GITHUB_* set as in an Actions job (the token is a fake secret)."""
    fake = FakeGitHub(token=TOKEN)
    server, thread = serve(fake)
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    monkeypatch.setenv("GITHUB_REPOSITORY", fake.repo)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def lakehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lakehouse]:
    """A fresh embedded lakehouse whose main holds raw.orders (10 rows) and raw.customers (5 rows)."""
    for var in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings(root=tmp_path, catalog_uri=f"sqlite:///{tmp_path / 'catalog.db'}",
                        warehouse=str(tmp_path / "warehouse"), gc_retention="0s")
    with Lakehouse(settings) as lh:
        lh.ingest("raw.orders", rows(10))
        lh.ingest("raw.customers", rows(5))
        yield lh


@pytest.fixture
def printed() -> list[str]:
    return []


@pytest.fixture
def reporter(printed: list[str]) -> Reporter:
    return Reporter(None, echo=printed.append, env={})
