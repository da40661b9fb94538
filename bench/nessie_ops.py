"""Branch create / commit / merge latency: the real Nessie server vs the embedded SQL catalog.

Both backends run in the same process and the same run, on the same machine, with the same
catalog shape (``--tables`` tables on main), so the ratios are comparable. Pointer-level only:
no data files are written (what is measured is the catalog, not Iceberg IO).

    python bench/nessie_ops.py [--nessie-uri http://127.0.0.1:19120/api/v2] [--rounds 30]

Without ``--nessie-uri`` it starts Nessie the way the integration tests do (ci/services/nessie.sh)
and stops it at the end. Writes bench/results/nessie_ops.json, with the machine's load average at
start and end (the machine may be shared: read the figures next to it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from branchops.catalog.base import VersionedCatalog  # noqa: E402
from branchops.catalog.nessie.backend import NessieVersionedCatalog  # noqa: E402
from branchops.catalog.sql.backend import SqlVersionedCatalog  # noqa: E402


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def measure(cat: VersionedCatalog, tables: int, rounds: int) -> dict[str, dict[str, float]]:
    loc = "file:///bench/{}/v{}.metadata.json".format
    cat.commit("main", {f"raw.t{i}": loc(i, 0) for i in range(tables)}, "seed")
    samples: dict[str, list[float]] = {"branch_create": [], "commit": [], "merge": [], "merge_fast_forward": [],
                                       "merge_all_tables": []}
    for r in range(rounds):
        samples["branch_create"].append(timed(lambda r=r: cat.create_branch(f"b{r}")))
        samples["commit"].append(timed(lambda r=r: cat.commit(f"b{r}", {f"raw.t{r % tables}": loc(r, 1)}, "work")))
        # A three-way merge: main moved on another table since the fork.
        cat.commit("main", {f"raw.t{(r + 1) % tables}": loc(r, 2)}, "main moves")
        samples["merge"].append(timed(lambda r=r: cat.merge(f"b{r}", "main", message="merge")))
        cat.create_branch(f"ff{r}")
        cat.commit(f"ff{r}", {f"raw.t{r % tables}": loc(r, 3)}, "ff work")
        samples["merge_fast_forward"].append(timed(lambda r=r: cat.merge(f"ff{r}", "main")))
        # A three-way merge of a branch that changed every table on main (``tables`` of them),
        # while main added a table since the fork.
        cat.create_branch(f"all{r}")
        cat.commit(f"all{r}", {f"raw.t{i}": loc(i, 10 + r) for i in range(tables)}, "all tables")
        cat.commit("main", {f"raw.extra{r}": loc(r, 4)}, "main adds a table")
        samples["merge_all_tables"].append(timed(lambda r=r: cat.merge(f"all{r}", "main", message="merge all")))
    return {op: {"p50_ms": p(v, 0.5), "p95_ms": p(v, 0.95), "mean_ms": round(statistics.mean(v), 3), "n": len(v)}
            for op, v in samples.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nessie-uri")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--tables", type=int, default=100)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "nessie_ops.json")
    ap.add_argument("--note", default="", help="a remark stored in the JSON (e.g. which code was measured)")
    ap.add_argument("--previous", type=Path, help="JSON of a run of other code just before, to compare")
    args = ap.parse_args()
    server = None
    load_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        uri = args.nessie_uri
        if uri is None:
            from integration.nessie_server import start_nessie

            server = start_nessie(Path(tmp))
            uri = server.fresh_repo()
        try:
            nessie = NessieVersionedCatalog(uri, warehouse=f"{tmp}/nessie")
            sql = SqlVersionedCatalog(f"sqlite:///{tmp}/catalog.db", warehouse=f"{tmp}/sql")
            results = {"sqlite": measure(sql, args.tables, args.rounds),
                       "nessie": measure(nessie, args.tables, args.rounds)}
            nessie.close()
            sql.close()
        finally:
            if server is not None:
                server.stop()
    ratios = {op: round(results["nessie"][op]["p50_ms"] / results["sqlite"][op]["p50_ms"], 2)
              for op in results["sqlite"]}
    out = {
        "benchmark": "nessie_ops",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1_5_15": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]}},
        "goals_p50_ms": {"branch_create": 30, "merge_all_tables": 150},
        "ops": {"merge": "three-way merge of a branch that changed 1 table",
                "merge_all_tables": "three-way merge of a branch that changed every table on main (--tables)"},
        "setup": {"tables_on_main": args.tables, "rounds": args.rounds,
                  "nessie": "0.95.0, in-memory version store, loopback, -Xmx512m" if server else uri,
                  "sqlite": "file database (WAL) in a temp folder"},
        "results": results,
        "nessie_over_sqlite_p50": ratios,
        "note": args.note,
    }
    if args.previous is not None:
        prev = json.loads(args.previous.read_text())
        out["previous_run"] = {k: prev.get(k) for k in ("note", "when", "machine", "results", "nessie_over_sqlite_p50")}
        out["nessie_p50_over_previous"] = {
            op: round(results["nessie"][op]["p50_ms"] / prev["results"]["nessie"][op]["p50_ms"], 2)
            for op in ratios if op in prev["results"]["nessie"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({"results": {b: {op: r["p50_ms"] for op, r in v.items()} for b, v in results.items()},
                      "nessie_over_sqlite_p50": ratios}, indent=2))


if __name__ == "__main__":
    main()
