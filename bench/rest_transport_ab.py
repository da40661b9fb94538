"""Benchmark: what the REST endpoint's socket handling is worth (A/B in one run; JSON, never fails).

    python bench/rest_transport_ab.py [--n 60]   # -> bench/results/rest_transport_ab.json

Two ``branchops serve`` processes over one SQLite lakehouse (one branch each), the same
pyiceberg ``RestCatalog`` calls alternating between them:

- ``before``: the endpoint as first shipped: Nagle's algorithm on and the response sent in two
  writes (headers, then body). The body waits for the client's ACK of the headers, which a
  client delays by up to 40 ms (delayed ACK): the classic small-write stall.
- ``now``: ``TCP_NODELAY`` and headers plus body in one write (``branchops/rest/server.py``).

Both keep connections alive (HTTP/1.1). The JSON has p50/p95 per side, the ratio before/now
and the load average (the machine is shared). bench/rest_catalog.py attributes the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.catalog.rest import RestCatalog

from branchops.config import Settings
from branchops.lakehouse import Lakehouse

DEFAULT_OUT = Path(__file__).parent / "results" / "rest_transport_ab.json"

# The server process; "before" puts back the first version's socket handling.
SERVER = r'''
import sys
from pathlib import Path
from branchops.config import Settings
from branchops.lakehouse import Lakehouse
from branchops.rest import server

if sys.argv[2] == "before":
    server._Handler.disable_nagle_algorithm = False

    def _answer(self, status, payload, timing):
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    server._Handler._answer = _answer
root = Path(sys.argv[1])
lh = Lakehouse(Settings(root=root, catalog_uri=f"sqlite:///{root / 'catalog.db'}"))
srv = server.RestServer(lh.catalog, port=0)
print(srv.uri, flush=True)
srv.serve_forever()
'''
SIDES = ("before", "now")


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3), "n": len(ordered)}


def run(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-rest-ab-") as tmp:
        root = Path(tmp)
        with Lakehouse(Settings(root=root, catalog_uri=f"sqlite:///{root / 'catalog.db'}")) as lh:
            data = pa.table({f"c{i}": pa.array(range(1000), pa.int64()) for i in range(20)})
            lh.ingest("raw.orders", data, branch="main")
            for side in SIDES:
                lh.catalog.create_branch(side)
        procs = {side: subprocess.Popen([sys.executable, "-c", SERVER, str(root), side],
                                        stdout=subprocess.PIPE, text=True) for side in SIDES}
        try:
            catalogs = {}
            for side, proc in procs.items():
                assert proc.stdout is not None
                catalogs[side] = RestCatalog(side, uri=proc.stdout.readline().strip(), warehouse=side)
            load: dict[str, list[float]] = {s: [] for s in SIDES}
            commit: dict[str, list[float]] = {s: [] for s in SIDES}
            for i in range(n):
                for side, catalog in catalogs.items():  # alternate: load on the machine hits both alike
                    t0 = time.perf_counter()
                    table = catalog.load_table("raw.orders")
                    load[side].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    table.transaction().set_properties({"bench": str(i)}).commit_transaction()
                    commit[side].append(time.perf_counter() - t0)
        finally:
            for proc in procs.values():
                proc.terminate()
                proc.wait(timeout=30)
    out: dict[str, Any] = {}
    for name, samples in (("load_table", load), ("commit", commit)):
        sides = {side: _stats(samples[side]) for side in SIDES}
        out[name] = {**sides, "ratio_before_over_now_p50": round(
            sides["before"]["p50_ms"] / sides["now"]["p50_ms"], 2)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="calls per side")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    load_before = round(os.getloadavg()[0], 1)
    results = run(args.n)
    out = {"benchmark": "rest_transport_ab", "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
           "machine": {"python": sys.version.split()[0], "cpus": os.cpu_count(),
                       "load_average_1m_before": load_before, "load_average_1m_after": round(os.getloadavg()[0], 1)},
           "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
