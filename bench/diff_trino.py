"""Benchmark: branchops diff in Trino on the production stack (Nessie + S3 + Trino 476).

    /work/venv/bin/python bench/diff_trino.py [--rows 200000] [--files 20] [--repeat 3] [--out FILE]

The same table and the same three scenarios as ``bench/diff.py`` (1% of rows changed):
``identical`` (a fresh branch: answered from the catalog, no query), ``confined`` (the changes
confined to 1% of the data files) and ``full`` (every data file rewritten), keyed by ``id``.
The data is written by branchops (pyiceberg) to a Nessie branch on S3, the diff runs in Trino
(one catalog per branch). ``confined`` reads only the data files the two snapshots do not share
(``"$path"`` predicates: method ``file_pruning``); keyed diffs with unique keys are one query plus
one for samples, with no scratch tables. The JSON records each scenario's method, the ratio
``confined / full`` of median times, and the machine's load average (the machine is shared).

It starts the servers the integration tests start (``tests/integration``: Nessie 0.95 test
server, moto S3, Trino 476 on Java 24+), on loopback, and stops them at the end. The first diff of
a scenario is reported apart (``cold``: catalogs created, Trino's JIT warming up) from the
repeats. Times are the ``diff_refs`` call, measured in this process; each run also lists the
queries Trino ran for it (``system.runtime.queries``: queued, analysis, planning and elapsed
milliseconds) and the time spent outside Trino (catalog, metadata, Python). Writes
bench/results/diff_trino.json.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "bench")]

from diff import GEN_SQL  # noqa: E402 - bench/diff.py: the same generated table

TABLE = "bench.t"
SCENARIOS = {"identical": "same", "confined": "confined", "full": "full"}


def build(lh: Any, rows: int, files: int) -> dict[str, Any]:
    """main with the table; branches ``same``, ``confined`` and ``full`` (as in bench/diff.py)."""
    import duckdb

    con = duckdb.connect()
    base = con.execute(GEN_SQL.format(n=rows)).to_arrow_table()
    with lh.writing("main", "bench data") as w:
        tbl = w.iceberg.create_table(TABLE, schema=base.schema,
                                     properties={"write.target-file-size-bytes": str(max(1, base.nbytes // files))})
        tbl.append(base)
    data_files = lh.catalog.load_table("main", TABLE).inspect.files().to_pylist()
    step = 100
    con.register("base", base)
    full = con.execute(f"SELECT * REPLACE (CASE WHEN id % {step} = 0 THEN b + 1 ELSE b END AS b, "
                       f"CASE WHEN id % {step} = 0 THEN z * 2 ELSE z END AS z) FROM base").to_arrow_table()
    lh.catalog.create_branch("full", "main")
    with lh.writing("full", "rewrite") as w:
        w.iceberg.load_table(TABLE).overwrite(full.cast(base.schema))
    bounds = sorted(int(r["readable_metrics"]["id"]["upper_bound"]) for r in data_files)
    hi = bounds[max(1, len(data_files) // 100) - 1] + 1
    changed = con.execute(f"SELECT * REPLACE (b + 1 AS b, z * 2 AS z) FROM base WHERE id < {hi}").to_arrow_table()
    lh.catalog.create_branch("confined", "main")
    with lh.writing("confined", "change one percent of the files") as w:
        w.iceberg.load_table(TABLE).delete(f"id < {hi}")
        w.iceberg.load_table(TABLE).append(changed.cast(base.schema))
    lh.catalog.create_branch("same", "main")
    con.close()
    return {"data_files": len(data_files), "confined_rows_changed": hi, "full_rows_changed": (rows + step - 1) // step}


def diff_once(lh: Any, head: str) -> dict[str, Any]:
    from branchops.diff import diff_refs
    from branchops.engine import load_engine

    with load_engine(lh.settings, lh.catalog) as engine:
        since = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        t0 = time.perf_counter()
        res = diff_refs(lh, "main", head, engine=engine, keys={TABLE: ("id",)}, sample=5)
        secs = time.perf_counter() - t0
        queries = trino_queries(engine, since)
    t = res.tables[0] if res.tables else None
    in_trino = sum(q["elapsed_ms"] or 0 for q in queries) / 1000
    return {"seconds": round(secs, 4), "method": t.method.value if t else "no_table_moved",
            "rows": t.rows.to_dict() if t and t.rows else None,
            "queries": len(queries), "seconds_in_trino": round(in_trino, 3),
            "seconds_outside_trino": round(secs - in_trino, 3), "per_query": queries}


def trino_queries(engine: Any, since: str) -> list[dict[str, Any]]:
    """The queries Trino ran since ``since`` (this diff's: the bench runs alone on its server),
    from ``system.runtime.queries``: where each one's time went (queued, analysis, planning, the rest
    is execution and fetching the result)."""
    sql = ("SELECT queued_time_ms, analysis_time_ms, planning_time_ms, date_diff('millisecond', created, \"end\"), "
           "substr(regexp_replace(query, '\\s+', ' '), 1, 140) FROM system.runtime.queries "
           f"WHERE created >= from_iso8601_timestamp('{since}') AND query NOT LIKE '%system.runtime.queries%' "
           "ORDER BY created")
    names = ("queued_ms", "analysis_ms", "planning_ms", "elapsed_ms", "query")
    return [dict(zip(names, row, strict=True)) for row in engine.query(sql)]


def scenario(lh: Any, head: str, repeat: int) -> dict[str, Any]:
    cold = diff_once(lh, head)
    runs = [diff_once(lh, head) for _ in range(repeat)]
    secs = [r["seconds"] for r in runs]
    return {"branch": head, "cold": cold, "runs": runs, "min_seconds": min(secs),
            "median_seconds": round(statistics.median(secs), 4), "method": runs[-1]["method"],
            "rows": runs[-1]["rows"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "diff_trino.json"))
    ap.add_argument("--note", default="", help="a remark stored in the JSON (e.g. which code was measured)")
    args = ap.parse_args()

    from nessie_server import start_nessie
    from s3_server import start_s3
    from trino_server import start_trino

    from branchops.config import Settings
    from branchops.lakehouse import Lakehouse

    load_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bench-diff-trino-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        s3 = start_s3(work / "s3")
        nessie = start_nessie(work / "nessie")
        trino = start_trino(work / "trino")
        servers_seconds = time.perf_counter() - started
        try:
            os.environ.update(s3.admin.env())
            settings = Settings(root=work, backend="nessie", nessie_uri=nessie.uri, warehouse=f"{s3.warehouse}/bench",
                                engine="trino", trino_uri=trino.uri, s3_endpoint=s3.endpoint, s3_region=s3.region)
            with Lakehouse(settings) as lh:
                t0 = time.perf_counter()
                data = build(lh, args.rows, args.files)
                setup = time.perf_counter() - t0
                results = {name: scenario(lh, head, args.repeat) for name, head in SCENARIOS.items()}
        finally:
            for server in (trino, nessie, s3):
                server.stop()
    medians = {name: r["median_seconds"] for name, r in results.items()}
    out = {
        "bench": "diff in Trino (Nessie + S3 + Trino 476, one catalog per branch)", "note": args.note,
        "confined_over_full": round(medians["confined"] / medians["full"], 3) if medians["full"] else None,
        "load_average_1_5_15": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]},
        "rows": args.rows, "requested_files": args.files, "repeat": args.repeat, **data,
        "setup_seconds": round(setup, 2), "servers_start_seconds": round(servers_seconds, 1),
        "trino_startup_seconds": round(trino.startup_seconds, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "scenarios": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    for name, r in results.items():
        print(f"{name:10s} {r['method']:16s} cold {r['cold']['seconds']:7.2f}s  "
              f"min {r['min_seconds']:7.2f}s  median {r['median_seconds']:7.2f}s  rows {r['rows']}")
    print(f"confined / full: {out['confined_over_full']}; load average {out['load_average_1_5_15']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
