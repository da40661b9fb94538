"""Benchmark of ``branchops serve``: what the Iceberg REST layer adds; writes JSON, never fails a build.

    python bench/rest_catalog.py              # -> bench/results/rest_catalog.json
    python bench/rest_catalog.py --quick      # a few seconds

On the embedded backend (SQLite, a local warehouse), a branch with one table, measures p50/p95 of
- loadTable: pyiceberg's ``RestCatalog.load_table`` through the endpoint (loopback HTTP, one
  keep-alive connection) next to the direct ``BranchIcebergCatalog.load_table`` on the same
  branch — both read the same metadata file and build the same ``Table``;
- commit: a ``set-properties`` table commit (requirements checked, a new metadata file written,
  one catalog commit) through the endpoint next to the same commit made directly.

The endpoint runs as its own process (``branchops serve``, as in production); the direct calls
run in the benchmark's process; both alternate in one run, so the difference is the REST layer
(HTTP, JSON both ways, routing, the client's parsing). ``http_floor_get_config`` is a request
that does no catalog work: what the transport and process scheduling alone cost on the machine
(on a loaded machine that floor, not the catalog, dominates). Target (issue 12): REST adds <= 5 ms p50 on loopback.

``attribution`` splits a REST call into its parts, all p50 in the same run: the server's own
phases (its ``Server-Timing`` header: body read + JSON parse, catalog work, response encoding),
the client's parsing of the response (pyiceberg's models), and the rest (HTTP on loopback, the
``requests`` library pyiceberg uses, waiting to be scheduled). ``connections_opened`` counts the
TCP connections pyiceberg's session opened over the whole run (keep-alive: 1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import requests
from pyiceberg.catalog.rest import RestCatalog, TableResponse
from pyiceberg.table import CommitTableResponse

from branchops.catalog.iceberg import BranchIcebergCatalog
from branchops.config import Settings
from branchops.lakehouse import Lakehouse

DEFAULT_OUT = Path(__file__).parent / "results" / "rest_catalog.json"
TARGET_ADDED_MS = 5.0


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3), "n": len(ordered)}


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _paired(direct: Callable[[int], Any], rest: Callable[[int], Any], n: int) -> dict[str, Any]:
    d: list[float] = []
    r: list[float] = []
    for i in range(n):  # alternate, so that load on the machine hits both sides alike
        for fn, out in ((direct, d), (rest, r)):
            t0 = time.perf_counter()
            fn(i)
            out.append(time.perf_counter() - t0)
    direct_s, rest_s = _ms(d), _ms(r)
    added = round(rest_s["p50_ms"] - direct_s["p50_ms"], 3)
    return {"direct": direct_s, "rest": rest_s, "added_p50_ms": added,
            "ratio_p50": round(rest_s["p50_ms"] / direct_s["p50_ms"], 3) if direct_s["p50_ms"] else None,
            "target_met": added <= TARGET_ADDED_MS}


def _server_timing(response: requests.Response) -> dict[str, float]:
    """``Server-Timing: body;dur=0.1, catalog;dur=0.9, encode;dur=0.0`` as ``{phase: seconds}``."""
    out = {}
    for part in response.headers.get("Server-Timing", "").split(","):
        name, _, dur = part.strip().partition(";dur=")
        if dur:
            out[name] = float(dur) / 1000
    return out


def _attribute(call: Callable[[int], requests.Response], parse: Callable[[str], Any], n: int) -> dict[str, Any]:
    """One REST call split into server phases, client parsing and the rest (transport, scheduling)."""
    wall: list[float] = []
    client_parse: list[float] = []
    phases: dict[str, list[float]] = {}
    for i in range(n):
        t0 = time.perf_counter()
        response = call(i)
        wall.append(time.perf_counter() - t0)
        response.raise_for_status()
        for name, seconds in _server_timing(response).items():
            phases.setdefault(name, []).append(seconds)
        text = response.text
        t0 = time.perf_counter()
        parse(text)
        client_parse.append(time.perf_counter() - t0)
    server = [sum(p[i] for p in phases.values()) for i in range(n)]
    out: dict[str, Any] = {"request_wall": _ms(wall), **{f"server_{k}": _ms(v) for k, v in phases.items()},
                           "server_total": _ms(server), "client_parse_response": _ms(client_parse)}
    out["transport_and_scheduling_p50_ms"] = round(out["request_wall"]["p50_ms"] - out["server_total"]["p50_ms"], 3)
    return out


def _serve(root: Path) -> subprocess.Popen[str]:
    """``branchops serve`` as its own process, as it runs in production (one process per side:
    no GIL shared between the client and the server)."""
    (root / "branchops.toml").write_text(f'catalog_uri = "sqlite:///{root / "catalog.db"}"\n')
    return subprocess.Popen([sys.executable, "-m", "branchops", "serve", "--port", "0"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _uri(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("BRANCHOPS_REST_URI="):
        raise RuntimeError(f"branchops serve did not start: {line!r}")
    return line.split("=", 1)[1]


def run(n_load: int, n_commit: int, columns: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as tmp:
        root = Path(tmp)
        with Lakehouse(Settings(root=root, catalog_uri=f"sqlite:///{root / 'catalog.db'}")) as lh:
            data = pa.table({f"c{i}": pa.array(range(1000), pa.int64()) for i in range(columns)})
            lh.ingest("raw.orders", data, branch="main")
            lh.catalog.create_branch("bench")
            server = _serve(root)
            try:
                direct_cat = BranchIcebergCatalog(lh.catalog, "bench")
                uri = _uri(server)
                rest_cat = RestCatalog("bench", uri=uri, warehouse="bench")
                # the floor: a request that does no catalog work (HTTP round trip and scheduling)
                with httpx.Client(base_url=uri) as http:
                    floor = _ms([_timed(lambda: http.get("/v1/config")) for _ in range(n_load)])
                load = _paired(lambda _: direct_cat.load_table("raw.orders"),
                               lambda _: rest_cat.load_table("raw.orders"), n_load)

                def commit_direct(i: int) -> None:
                    t = direct_cat.load_table("raw.orders")
                    t0 = time.perf_counter()
                    t.transaction().set_properties({"bench": f"d{i}"}).commit_transaction()
                    commit_times["direct"].append(time.perf_counter() - t0)

                def commit_rest(i: int) -> None:
                    t = rest_cat.load_table("raw.orders")
                    t0 = time.perf_counter()
                    t.transaction().set_properties({"bench": f"r{i}"}).commit_transaction()
                    commit_times["rest"].append(time.perf_counter() - t0)

                commit_times: dict[str, list[float]] = {"direct": [], "rest": []}
                _paired(commit_direct, commit_rest, n_commit)
                connections = sum(pool.num_connections for adapter in rest_cat._session.adapters.values()
                                  for pool in adapter.poolmanager.pools._container.values())
                attribution = _attribution(uri, rest_cat, n_load, n_commit)
                attribution["connections_opened"] = connections
                direct_s, rest_s = _ms(commit_times["direct"]), _ms(commit_times["rest"])
                added = round(rest_s["p50_ms"] - direct_s["p50_ms"], 3)
                commit = {"direct": direct_s, "rest": rest_s, "added_p50_ms": added,
                          "ratio_p50": round(rest_s["p50_ms"] / direct_s["p50_ms"], 3),
                          "target_met": added <= TARGET_ADDED_MS,
                          "catalog_commits": len(lh.catalog.log("bench")) - len(lh.catalog.log("main"))}
            finally:
                server.terminate()
                server.wait(timeout=30)
    return {"load_table": load, "commit": commit, "http_floor_get_config": floor, "attribution": attribution}


def _attribution(uri: str, rest_cat: RestCatalog, n_load: int, n_commit: int) -> dict[str, Any]:
    """The same load and commit requests pyiceberg sends, on a ``requests`` session like its own."""
    url = f"{uri}/v1/bench/namespaces/raw/tables/orders"
    table_uuid = str(rest_cat.load_table("raw.orders").metadata.table_uuid)
    with requests.Session() as session:
        load = _attribute(lambda _: session.get(url), TableResponse.model_validate_json, n_load)
        commit = _attribute(lambda i: session.post(url, json={
            "requirements": [{"type": "assert-table-uuid", "uuid": table_uuid}],
            "updates": [{"action": "set-properties", "updates": {"bench": f"a{i}"}}]}),
            CommitTableResponse.model_validate_json, n_commit)
    return {"load_table": load, "commit": commit}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--columns", type=int, default=20, help="columns of the table (metadata size)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    n_load, n_commit = (30, 15) if args.quick else (300, 100)
    started = time.perf_counter()
    results = run(n_load, n_commit, args.columns)
    out = {
        "benchmark": "rest_catalog", "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_1m": round(os.getloadavg()[0], 1)},
        "setup": {"backend": "sql (SQLite)", "warehouse": "local folder", "columns": args.columns,
                  "transport": "loopback HTTP/1.1 keep-alive, stdlib ThreadingHTTPServer in its own process",
                  "client": "pyiceberg RestCatalog"},
        "target": {"added_p50_ms_at_most": TARGET_ADDED_MS},
        "results": results, "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["results"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
