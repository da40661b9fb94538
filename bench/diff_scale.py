"""Benchmark: the keyed diff at 100M rows, peak RSS with DuckDB spilling (issue 17).

    python bench/diff_scale.py [--rows 100000000] [--chunk-rows 10000000] [--work DIR]
        [--out bench/results/diff_100m.json] [--repeat 1] [--scenarios full confined]

``bench/diff.py`` builds its data as whole Arrow tables in memory, which at 100M rows x 10 columns
would take about 10 GB per side. This script builds the same tables (the same ``GEN_SQL`` rows, the
same ``full`` and ``confined`` changes, 1% of rows each) in chunks of ``--chunk-rows``, one Iceberg
append per chunk, writes ``bench/diff.py``'s data marker into ``--work`` and then runs
``bench/diff.py --skip-peers`` on it: the in-process keyed diff with and without profiles and the
``engine_limit`` query, each in its own process whose peak RSS (VmHWM) is recorded. The peers are
left out: their DuckDB copies would need the whole tables in memory again. The diff runs with
``DIFF_MEMORY_LIMIT`` and a spill folder, so the figures to read are ``peak_rss_mb`` against the
2 GB target and that no run failed (a failed run is kept with its error).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from diff import GEN_SQL  # noqa: E402  (bench/diff.py, the same rows)


def chunks(rows: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, rows)) for lo in range(0, rows, size)]


def build(work: Path, rows: int, files: int, chunk_rows: int) -> dict[str, Any]:
    import duckdb
    from pyiceberg.expressions import AlwaysTrue, And, GreaterThanOrEqual, LessThan

    from branchops.config import Settings
    from branchops.lakehouse import Lakehouse

    lh = Lakehouse(Settings(root=work))
    con = duckdb.connect()
    parts = chunks(rows, chunk_rows)

    def gen(lo: int, hi: int, change: str = "") -> Any:
        sql = GEN_SQL.format(n=f"{lo}, {hi}")
        if change:
            sql = f"SELECT * REPLACE ({change}) FROM ({sql})"
        return con.execute(sql).to_arrow_table()

    first = gen(*parts[0])
    target = max(1, first.nbytes * len(parts) // files)
    with lh.writing("main", "bench data") as w:
        w.iceberg.create_table("bench.t", schema=first.schema,
                               properties={"write.target-file-size-bytes": str(target)})
    schema = first.schema
    for i, (lo, hi) in enumerate(parts):
        table = first if i == 0 else gen(lo, hi)
        with lh.writing("main", f"bench data {lo}..{hi}") as w:
            w.iceberg.load_table("bench.t").append(table.cast(schema))
        print(f"main: {hi:,} of {rows:,} rows", flush=True)
    del first
    n_files = len(lh.catalog.load_table("main", "bench.t").inspect.files())
    step = 100  # 1% of rows, as bench/diff.py
    lh.catalog.create_branch("full", "main")
    with lh.writing("full", "rewrite: drop every file") as w:
        w.iceberg.load_table("bench.t").delete(AlwaysTrue())
    for lo, hi in parts:
        table = gen(lo, hi, f"CASE WHEN id % {step} = 0 THEN b + 1 ELSE b END AS b, "
                            f"CASE WHEN id % {step} = 0 THEN z * 2 ELSE z END AS z")
        with lh.writing("full", f"rewrite {lo}..{hi}") as w:
            w.iceberg.load_table("bench.t").append(table.cast(schema))
        print(f"full: {hi:,} of {rows:,} rows", flush=True)
    bounds = sorted(int(r["readable_metrics"]["id"]["upper_bound"])
                    for r in lh.catalog.load_table("main", "bench.t").inspect.files().to_pylist())
    k = max(1, n_files // 100)
    top = bounds[k - 1] + 1
    lh.catalog.create_branch("confined", "main")
    changed = gen(0, top, "b + 1 AS b, z * 2 AS z")
    with lh.writing("confined", "change one percent of the files") as w:
        t = w.iceberg.load_table("bench.t")
        t.delete(And(GreaterThanOrEqual("id", 0), LessThan("id", top)))
        w.iceberg.load_table("bench.t").append(changed.cast(schema))
    lh.catalog.create_branch("same", "main")
    lh.close()
    return {"data_files": n_files, "confined_rows_changed": top, "db": None,
            "full_rows_changed": (rows + step - 1) // step}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--chunk-rows", type=int, default=10_000_000)
    ap.add_argument("--work", required=True, help="a folder for the data (about 6 GB at 100M rows); reused")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "diff_100m.json"))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--scenarios", nargs="+", default=["full", "confined"])
    ap.add_argument("--baseline-root", help="passed to bench/diff.py: another checkout's diff in the same rounds")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    marker = work / "bench-data.json"
    if not (marker.exists() and json.loads(marker.read_text())["rows"] == args.rows):
        t0 = time.perf_counter()
        data = build(work, args.rows, args.files, args.chunk_rows)
        data.update(rows=args.rows, setup_seconds=round(time.perf_counter() - t0, 1))
        marker.write_text(json.dumps(data))
    cmd = [sys.executable, str(ROOT / "bench" / "diff.py"), "--rows", str(args.rows), "--work", str(work),
           "--skip-peers", "--repeat", str(args.repeat), "--repeat-other", str(args.repeat),
           "--out", args.out, "--scenarios", *args.scenarios]
    cmd += ["--baseline-root", args.baseline_root] if args.baseline_root else []
    sys.exit(subprocess.call(cmd))


if __name__ == "__main__":
    main()
