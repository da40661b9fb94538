"""Nessie refuses a PR job's principal every write to ``main``; the merge principal may.

The test server cannot host Nessie's CEL rules (they live in its Quarkus server); it plugs a
checker into the same AccessChecker SPI (ci/services/nessie/NessieServer.java: ``--protected
main --protected-writers ci-merge``, bearer tokens from ``NESSIE_AUTH_TOKENS``). branchops' own
protection is switched off for the refused writes, so only Nessie stands in the way."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from nessie_server import NessieServer, start_nessie

from branchops.config import Settings
from branchops.errors import ConfigError, PermissionDenied
from branchops.lakehouse import Lakehouse

pytestmark = pytest.mark.integration

TOKENS = {"ci-pr": "tok-pr-0123456789", "ci-merge": "tok-merge-0123456789"}


@pytest.fixture(scope="module")
def guarded_nessie(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NessieServer]:
    env = {**os.environ, "NESSIE_AUTH_TOKENS": ",".join(f"{p}={t}" for p, t in TOKENS.items())}
    server = start_nessie(tmp_path_factory.mktemp("nessie-authz"), heap="256m", env=env,
                          args=["--protected", "main", "--protected-writers", "ci-merge"])
    try:
        yield server
    finally:
        server.stop()


def test_only_the_merge_principal_writes_main(guarded_nessie: NessieServer, tmp_path: Path) -> None:
    def settings(who: str, **kw: object) -> Settings:
        return Settings(root=tmp_path, backend="nessie", nessie_uri=guarded_nessie.uri,
                        warehouse=str(tmp_path / "wh"), nessie_token=TOKENS.get(who, who), **kw)  # type: ignore[arg-type]

    with Lakehouse(settings("ci-merge")) as merge:
        merge.ingest("raw.orders", pa.table({"id": [1, 2, 3]}))  # write-audit-publish into main
        head, tables = merge.catalog.get_ref("main").hash, merge.catalog.tables("main")

    with Lakehouse(settings("ci-pr")) as pr, Lakehouse(settings("ci-pr", protected=[])) as unguarded:
        pr.catalog.create_branch("pr-1")
        pr.ingest("raw.orders", pa.table({"id": [4]}), branch="pr-1")  # its own branch: allowed
        assert pr.read("raw.orders", "pr-1").num_rows == 4
        cat = unguarded.catalog
        attempts: dict[str, Callable[[], object]] = {
            "ingest into main": lambda: pr.ingest("raw.orders", pa.table({"id": [9]}), branch="main"),
            "commit to main": lambda: cat.commit("main", {"raw.orders": None}, "drop a table"),
            "merge a PR into main": lambda: cat.merge("pr-1", "main"),
            "reset main": lambda: cat.reset("main", f"@{cat.log('pr-1')[0].hash}"),
        }  # (dropping main: Nessie never deletes its default branch, for anyone)
        for what, attempt in attempts.items():
            with pytest.raises(PermissionDenied) as refused:
                attempt()
            assert refused.value.exit_code == 1, what
            assert "protected reference 'main'" in refused.value.permission, (what, refused.value.permission)
            assert "ci-pr" in refused.value.message and TOKENS["ci-pr"] not in str(refused.value), what
            assert cat.get_ref("main").hash == head and cat.tables("main") == tables, what
        assert {r.name for r in cat.list_refs()} == {"main", "pr-1"}  # no fork left behind

    # the same write with Nessie's HTTP API directly, not through branchops: refused too
    resp = httpx.post(f"{guarded_nessie.uri}/trees/main@{head}/history/commit",
                      headers={"Authorization": f"Bearer {TOKENS['ci-pr']}"},
                      json={"commitMeta": {"message": "direct"}, "operations": [
                          {"type": "DELETE", "key": {"elements": ["raw", "orders"]}}]})
    assert resp.status_code == 403, resp.text

    with pytest.raises(ConfigError), Lakehouse(settings("not-a-token")) as nobody:  # unknown token: 401
        nobody.catalog.get_ref("main")
    with Lakehouse(settings("ci-merge")) as merge:
        assert merge.catalog.get_ref("main").hash == head
        merge.catalog.merge("pr-1", "main")  # the merge principal may
        assert merge.read("raw.orders").num_rows == 4
