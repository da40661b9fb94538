"""The endpoint at the HTTP level: the Iceberg error model, requirement checks, auth, routing."""

from __future__ import annotations

import http.client
import json
from typing import Any

import httpx
from rest_stack import Served

from branchops.rest import RestServer


def _error(resp: httpx.Response, code: int, type_: str) -> str:
    assert resp.status_code == code, resp.text
    body = resp.json()["error"]
    assert body["code"] == code and body["type"] == type_
    return str(body["message"])


def test_config_hands_out_the_branch_as_prefix(served: Served) -> None:
    with httpx.Client(base_url=served.uri) as http:
        assert http.get("/v1/config", params={"warehouse": "team/x"}).status_code == 404
        served.lh.catalog.create_branch("team/x")
        cfg = http.get("/v1/config", params={"warehouse": "team/x"}).json()
        assert cfg["overrides"] == {"prefix": "team%2Fx"}
        assert "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}" in cfg["endpoints"]
        assert http.get("/v1/team%2Fx/namespaces/raw/tables").json()["identifiers"] == [
            {"namespace": ["raw"], "name": "orders"}]
        assert http.get("/v1/config").json()["overrides"] == {}


def test_malformed_requests_are_400_in_the_error_model(served: Served) -> None:
    with httpx.Client(base_url=served.uri) as http:
        url = "/v1/feat/namespaces/raw/tables/orders"
        _error(http.post(url, content=b"{not json", headers={"Content-Type": "application/json"}),
               400, "BadRequestException")
        msg = _error(http.post(url, json={"updates": [{"action": "no-such-action"}]}), 400, "BadRequestException")
        assert "CommitRequest" in msg
        _error(http.post("/v1/namespaces/raw/tables", json={"name": "x"}), 400, "BadRequestException")
        _error(http.get("/v1/namespaces/a%1Fb"), 400, "BadRequestException")
        _error(http.get("/v1/namespaces/raw@/tables"), 400, "BadRequestException")
        _error(http.get("/v1/nothing/here/at/all/really"), 404, "NotFoundException")
        _error(http.put("/v1/namespaces/raw/tables/orders"), 405, "MethodNotAllowedException")


def _commit(requirements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"requirements": requirements,
            "updates": [{"action": "set-properties", "updates": {"owner": "rest-test"}}]}


def test_a_commit_whose_requirements_fail_is_409_and_changes_nothing(served: Served) -> None:
    cat = served.lh.catalog
    before_hash, before = cat.get_ref("feat").hash, cat.tables("feat")
    table = cat.load_table("feat", "raw.orders")
    url = "/v1/feat/namespaces/raw/tables/orders"
    with httpx.Client(base_url=served.uri) as http:
        other_uuid = {"type": "assert-table-uuid", "uuid": "00000000-0000-4000-8000-000000000000"}
        msg = _error(http.post(url, json=_commit([other_uuid])), 409, "CommitFailedException")
        assert "nothing was written" in msg
        stale = {"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": 1}
        _error(http.post(url, json=_commit([stale])), 409, "CommitFailedException")
        _error(http.post(url, json=_commit([{"type": "assert-create"}])), 409, "CommitFailedException")
        # no such table (and no assert-create), no such branch: 404, nothing created
        missing = _error(http.post("/v1/feat/namespaces/raw/tables/nope", json=_commit([])), 404,
                         "NoSuchTableException")
        assert "raw.nope" in missing
        _error(http.post("/v1/ghost/namespaces/raw/tables/orders", json=_commit([])), 404, "NoSuchTableException")
        assert cat.get_ref("feat").hash == before_hash and cat.tables("feat") == before
        assert "ghost" not in {r.name for r in cat.list_refs()}
        # the same commit with requirements that hold lands, as exactly one commit
        ok = [{"type": "assert-table-uuid", "uuid": str(table.metadata.table_uuid)},
              {"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": table.metadata.current_snapshot_id}]
        resp = http.post(url, json=_commit(ok))
        assert resp.status_code == 200, resp.text
        assert resp.json()["metadata"]["properties"]["owner"] == "rest-test"
    assert cat.log("feat", limit=1)[0].parent == before_hash
    assert cat.load_table("feat", "raw.orders").properties["owner"] == "rest-test"


def test_bearer_token_when_configured(served: Served) -> None:
    server = RestServer(served.lh.catalog, token="s3cret-token").start()
    try:
        with httpx.Client(base_url=server.uri) as http:
            msg = _error(http.get("/v1/config"), 401, "NotAuthorizedException")
            assert "s3cret" not in msg
            _error(http.get("/v1/config", headers={"Authorization": "Bearer wrong"}), 401, "NotAuthorizedException")
            ok = http.get("/v1/namespaces", headers={"Authorization": "Bearer s3cret-token"})
            assert ok.json() == {"namespaces": [["raw"]]}
    finally:
        server.stop()


def test_head_answers_existence(served: Served) -> None:
    with httpx.Client(base_url=served.uri) as http:
        assert http.head("/v1/namespaces/raw@feat/tables/orders").status_code == 204
        assert http.head("/v1/namespaces/raw/tables/nope").status_code == 404
        assert http.head("/v1/namespaces/raw").status_code == 204
        assert http.head("/v1/namespaces/nope").status_code == 404


def test_one_connection_serves_many_requests_and_each_says_where_its_time_went(served: Served) -> None:
    """Keep-alive (HTTP/1.1: the client's connection is reused, no new TCP handshake per call) and
    a W3C Server-Timing header whose phases are what the request cost on the server."""
    host, port = served.server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port)
    try:
        conn.request("GET", "/v1/feat/namespaces/raw/tables/orders")
        first = conn.getresponse()
        loaded = json.loads(first.read())
        sock = conn.sock
        conn.request("POST", "/v1/feat/namespaces/raw/tables/orders", body=json.dumps(_commit(
            [{"type": "assert-table-uuid", "uuid": loaded["metadata"]["table-uuid"]}])),
            headers={"Content-Type": "application/json"})
        second = conn.getresponse()
        second.read()
        assert second.status == 200 and conn.sock is sock and sock is not None  # the same connection
        for response in (first, second):
            phases = dict(p.strip().split(";dur=") for p in (response.getheader("Server-Timing") or "").split(","))
            assert set(phases) == {"body", "catalog", "encode"}
            assert all(float(ms) >= 0 for ms in phases.values())
    finally:
        conn.close()
