"""Session fixtures of ``pytest -m integration``: real Nessie, S3 (moto) and Trino servers.

Each server starts on first use, on loopback and a free port, and stops at the end of the
session. A server that cannot start fails the tests that need it, loudly, with its log: the
integration suite is never skipped. Server logs go under pytest's basetemp (``--basetemp`` to
keep them).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

import pytest
from nessie_server import NessieServer
from s3_server import S3Server, start_s3
from services import ServiceError
from trino_server import TrinoServer, start_trino

from branchops.config import Settings


class _Stoppable(Protocol):
    def stop(self) -> None: ...


_S = TypeVar("_S", bound=_Stoppable)


def _fail(name: str, e: ServiceError) -> None:
    pytest.fail(f"the {name} test server could not start: {e}", pytrace=False)


# -- S3 and Trino (the session's Nessie server is tests/conftest.py's `nessie_server`) -------


def _serve(name: str, start: Callable[[Path], _S], folder: Path) -> Iterator[_S]:
    try:
        server = start(folder)
    except ServiceError as e:
        _fail(name, e)
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    yield from _serve("S3 (moto)", start_s3, tmp_path_factory.mktemp("s3"))


@pytest.fixture(scope="session")
def trino_server(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[TrinoServer]:
    yield from _serve("Trino", lambda d: start_trino(d, config=pytestconfig), tmp_path_factory.mktemp("trino"))


@pytest.fixture
def s3_credentials(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lakehouse user's keys in the standard AWS environment variables, as in production."""
    for key, value in s3_server.admin.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def trino_settings(
    nessie_server: NessieServer, s3_server: S3Server, trino_server: TrinoServer, s3_credentials: None,
    tmp_path: Path,
) -> Settings:
    """Settings of a fresh production-stack lakehouse: empty Nessie repo, own S3 prefix, Trino."""
    return Settings(
        root=tmp_path,
        backend="nessie",
        nessie_uri=nessie_server.fresh_repo(),
        warehouse=f"{s3_server.warehouse}/{uuid.uuid4().hex[:12]}",
        engine="trino",
        trino_uri=trino_server.uri,
        s3_endpoint=s3_server.endpoint,
        s3_region=s3_server.region,
    )
