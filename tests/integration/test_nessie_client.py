"""The Nessie REST v2 client and backend against a real Nessie server (``-m integration``).

The catalog contract suite (tests/catalog) already runs every ``VersionedCatalog`` rule on
Nessie; these tests cover what is Nessie-specific: the wire client, its error mapping, retries,
the bearer token, namespaces and content ids. Only failures a healthy local server cannot
produce (a 503, a dropped connection) use an injected httpx transport.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from branchops.catalog.base import NO_ANCESTOR
from branchops.catalog.nessie.backend import NessieVersionedCatalog
from branchops.catalog.nessie.client import ICEBERG_TABLE, NAMESPACE, NessieClient, Operation
from branchops.config import Settings
from branchops.errors import (
    BackendError,
    MergeConflict,
    RefAlreadyExists,
    ReferenceConflict,
    RefNotFound,
)
from branchops.lakehouse import Lakehouse

pytestmark = pytest.mark.integration
TOKEN = "s3cr3t-token-value"


@pytest.fixture
def uri(nessie_server) -> str:  # type: ignore[no-untyped-def]
    return str(nessie_server.fresh_repo())


@pytest.fixture
def api(uri: str) -> Iterator[NessieClient]:
    client = NessieClient(uri)
    yield client
    client.close()


def table(loc: str) -> dict[str, object]:
    return {"type": ICEBERG_TABLE, "metadataLocation": loc, "snapshotId": -1, "schemaId": 0, "specId": 0,
            "sortOrderId": 0}


def test_refs_round_trip(api: NessieClient) -> None:
    assert api.config()["defaultBranch"] == "main"
    main = api.get_reference("main")
    assert main.hash == NO_ANCESTOR
    feat = api.create_reference("feat", "BRANCH", None, main.hash)
    assert (feat.name, feat.type, feat.hash) == ("feat", "BRANCH", NO_ANCESTOR)
    with pytest.raises(RefAlreadyExists):
        api.create_reference("feat", "TAG", None, main.hash)
    with pytest.raises(RefNotFound):
        api.get_reference("nope")
    with pytest.raises(ReferenceConflict) as err:
        api.delete_reference("feat", "ab" * 32, "BRANCH")
    assert err.value.actual == NO_ANCESTOR
    api.delete_reference("feat", NO_ANCESTOR, "BRANCH")
    assert [r.name for r in api.list_references()] == ["main"]


def test_commit_needs_the_content_id_and_namespaces(api: NessieClient) -> None:
    ns = Operation("PUT", ("raw",), {"type": NAMESPACE, "elements": ["raw"]})
    h1 = api.commit("main", NO_ANCESTOR, [ns, Operation("PUT", ("raw", "a"), table("file:///a1"))],
                    message="one", author="ada", properties={"k": "v"})
    [entry] = [e for e in api.entries("main") if e.type == ICEBERG_TABLE]
    assert entry.content and entry.content["metadataLocation"] == "file:///a1"
    update = table("file:///a2") | {"id": entry.content_id}
    h2 = api.commit("main", h1, [Operation("PUT", ("raw", "a"), update)], message="two")
    log = list(api.log("main"))
    assert [e.hash for e in log] == [h2, h1]
    assert (log[1].message, log[1].author, log[1].properties, log[1].parents) == ("one", "ada", {"k": "v"},
                                                                                  (NO_ANCESTOR,))
    assert [d.key for d in api.diff(None, h1, None, h2)] == [("raw", "a")]
    with pytest.raises(ReferenceConflict):  # an assign is a strict compare-and-swap
        api.assign_reference("main", h1, "BRANCH", NO_ANCESTOR)


def test_backend_writes_namespaces_ids_and_reads_metadata(uri: str, tmp_path: Path) -> None:
    settings = Settings(root=tmp_path, backend="nessie", nessie_uri=uri)
    with Lakehouse(settings) as lh:
        lh.ingest("raw.orders", pa.table({"id": [1, 2, 3]}))
        lh.ingest("raw.orders", pa.table({"id": [4]}))
        assert sorted(lh.read("raw.orders").column("id").to_pylist()) == [1, 2, 3, 4]
        cat = lh.catalog
        assert isinstance(cat, NessieVersionedCatalog)
        location = cat.tables("main")["raw.orders"]
        cat.commit("main", {"copies.orders": location}, "namespaces are created on the way")
        entries = {e.key: e for e in cat.api.entries("main")}
        assert entries[("raw",)].type == entries[("copies",)].type == NAMESPACE
        md = cat.load_table("main", "raw.orders").metadata
        for key in (("raw", "orders"), ("copies", "orders")):
            content = entries[key].content
            assert content is not None and content["metadataLocation"] == location
            assert (content["snapshotId"], content["schemaId"]) == (md.current_snapshot_id, md.current_schema_id)
        assert entries[("raw", "orders")].content_id != entries[("copies", "orders")].content_id


def test_merge_conflict_names_tables_and_writes_nothing(uri: str, tmp_path: Path) -> None:
    cat = NessieVersionedCatalog(uri, warehouse=str(tmp_path))
    cat.commit("main", {"raw.a": "file:///a0", "raw.b": "file:///b0"}, "seed")
    cat.create_branch("feat")
    cat.commit("feat", {"raw.a": "file:///a1", "raw.b": "file:///b1"}, "feat")
    cat.commit("main", {"raw.a": "file:///a2"}, "main")
    before = cat.get_ref("main")
    with pytest.raises(MergeConflict) as err:
        cat.merge("feat", "main")
    assert err.value.conflicts == ["raw.a"]
    assert cat.get_ref("main") == before
    cat.close()


def test_bearer_token_is_sent(uri: str) -> None:
    seen: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda r: seen.append(r.headers.get("authorization", ""))]})
    client = NessieClient(uri, token=TOKEN, client=http)
    client.get_reference("main")
    assert seen == [f"Bearer {TOKEN}"]
    http.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_down_is_a_backend_error_without_the_token() -> None:
    client = NessieClient(f"http://user:pw@127.0.0.1:{_closed_port()}/api/v2", token=TOKEN, retries=2, backoff=0.01)
    with pytest.raises(BackendError) as err:
        client.list_references()
    text = str(err.value) + repr(err.value.to_dict())
    assert "unavailable" in text and "3 tries" in text
    assert TOKEN not in text and "pw" not in text
    assert err.value.exit_code == 1


def test_5xx_is_retried_then_reported(uri: str) -> None:
    calls: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) < 3:
            return httpx.Response(503, json={"status": 503, "message": "busy"})
        return httpx.Response(200, json={"reference": {"type": "BRANCH", "name": "main", "hash": NO_ANCESTOR}})

    client = NessieClient(uri, client=httpx.Client(transport=httpx.MockTransport(flaky)), backoff=0.01)
    assert client.get_reference("main").hash == NO_ANCESTOR
    assert calls == ["GET"] * 3
    always = NessieClient(uri, token=TOKEN, backoff=0.01, retries=1, client=httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(500, json={"message": f"oops {TOKEN}"}))))
    with pytest.raises(BackendError) as err:
        always.get_reference("main")
    assert TOKEN not in str(err.value)


def test_branch_create_is_two_round_trips_and_nessie_needs_both(uri: str, tmp_path: Path) -> None:
    """Create reads the source's head and posts the new ref at it; Nessie refuses a create without
    the target hash, so neither request can go (issue 13: create latency is these two trips)."""
    sent: list[str] = []

    def record(r: httpx.Request) -> None:
        sent.append(f"{r.method} {r.url.path.rsplit('/api/v2', 1)[-1]}")

    client = httpx.Client(event_hooks={"request": [record]})
    cat = NessieVersionedCatalog(uri, client=client, warehouse=str(tmp_path))
    head = cat.resolve("main")
    sent.clear()
    ref = cat.create_branch("two_trips", "main")
    assert ref.hash == head
    assert sent == ["GET /trees/main", "POST /trees"]
    no_hash = client.post(f"{uri}/trees", params={"name": "no_hash", "type": "BRANCH"},
                          json={"type": "BRANCH", "name": "main"})
    assert no_hash.status_code == 400 and "hash" in no_hash.json()["message"].lower()
    assert "no_hash" not in {r.name for r in cat.list_refs()}
    client.close()
