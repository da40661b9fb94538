"""Benchmark: branchops diff vs reladiff and data-diff (key-based, same data as native DuckDB tables).

    /work/venv/bin/python bench/diff.py [--rows 10000000] [--files 200] [--peers-python /work/peers-venv/bin/python]

Scenarios (1% of rows changed): ``full`` (changes spread over every data file: a rewrite),
``confined`` (changes confined to 1% of the data files), ``identical`` (a fresh branch).
Every tool runs in its own subprocess; peak RSS is that process's ``ru_maxrss``; the time is the
diff call alone (measured inside the process) and the whole process. Writes bench/results/diff.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["id", "a", "b", "c", "d", "x", "y", "z", "s", "t"]

GEN_SQL = """
SELECT i AS id, (i * 7) % 1000 AS a, (i * 13) % 100000 AS b, i % 17 AS c, (i * 31) % 5000 AS d,
       (i % 1000) / 7.0 AS x, (i % 777) * 1.5 AS y, sqrt(i) AS z,
       'cust_' || (i % 50000) AS s, CASE WHEN i % 11 = 0 THEN NULL ELSE 'st' || (i % 5) END AS t
FROM range({n}) r(i)
"""


# -- child processes ----------------------------------------------------------------------------
def child_ours(root: str, base: str, head: str, table: str) -> dict[str, Any]:
    from branchops.config import Settings
    from branchops.diff import diff_refs
    from branchops.lakehouse import Lakehouse

    lh = Lakehouse(Settings(root=Path(root)))
    t0 = time.perf_counter()
    res = diff_refs(lh, base, head, keys={table: ("id",)}, sample=5)
    secs = time.perf_counter() - t0
    t = res.tables[0] if res.tables else None
    return {"seconds": secs, "method": t.method.value if t else "no_table_moved",
            "rows": t.rows.to_dict() if t and t.rows else None, "tables": len(res.tables)}


def child_peer(tool: str, db: str, base: str, head: str) -> dict[str, Any]:
    mod = __import__("reladiff" if tool == "reladiff" else "data_diff")
    t0 = time.perf_counter()
    t1 = mod.connect_to_table(f"duckdb://{db}", base, "id")
    t2 = mod.connect_to_table(f"duckdb://{db}", head, "id")
    diff = mod.diff_tables(t1, t2, extra_columns=tuple(COLUMNS[1:]))
    plus = minus = 0
    for sign, _row in diff:
        plus += sign == "+"
        minus += sign == "-"
    secs = time.perf_counter() - t0
    return {"seconds": secs, "plus": plus, "minus": minus}


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return -1.0


def run_child(python: str, args: list[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([python, __file__, "--child", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": err.decode()[-2000:], "process_seconds": wall}
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    # ru_maxrss of a forked child starts at the parent's size; the child's own VmHWM (reset by exec)
    # is its peak RSS; ru_maxrss is kept as an upper bound
    result.update(process_seconds=round(wall, 3), ru_maxrss_mb=round(usage.ru_maxrss / 1024, 1))
    result["seconds"] = round(result["seconds"], 4)
    return result


# -- data -------------------------------------------------------------------------------------------
def build(work: Path, rows: int, files: int) -> dict[str, Any]:
    import duckdb
    import pyarrow as pa
    from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

    from branchops.config import Settings
    from branchops.lakehouse import Lakehouse

    lh = Lakehouse(Settings(root=work))
    con = duckdb.connect()
    base = con.execute(GEN_SQL.format(n=rows)).to_arrow_table()
    target = max(1, base.nbytes // files)
    with lh.writing("main", "bench data") as w:
        tbl = w.iceberg.create_table("bench.t", schema=base.schema,
                                     properties={"write.target-file-size-bytes": str(target)})
        tbl.append(base)
    n_files = len(lh.catalog.load_table("main", "bench.t").inspect.files())
    step = 100  # 1% of rows
    # full: every 100th row's `b` and `z` change: every file is rewritten
    full = con.execute(
        f"SELECT * REPLACE (CASE WHEN id % {step} = 0 THEN b + 1 ELSE b END AS b, "
        f"CASE WHEN id % {step} = 0 THEN z * 2 ELSE z END AS z) FROM base"
    ).to_arrow_table()
    lh.catalog.create_branch("full", "main")
    with lh.writing("full", "rewrite") as w:
        w.iceberg.load_table("bench.t").overwrite(full.cast(base.schema))
    # confined: the first 1% of ids (whole data files at the start of the table) change
    bounds = sorted(int(r["readable_metrics"]["id"]["upper_bound"])
                    for r in lh.catalog.load_table("main", "bench.t").inspect.files().to_pylist())
    k = max(1, n_files // 100)
    hi = bounds[k - 1] + 1
    lh.catalog.create_branch("confined", "main")
    changed = con.execute(f"SELECT * REPLACE (b + 1 AS b, z * 2 AS z) FROM base WHERE id < {hi}").to_arrow_table()
    with lh.writing("confined", "change one percent of the files") as w:
        t = w.iceberg.load_table("bench.t")
        t.delete(And(GreaterThanOrEqual("id", 0), LessThan("id", hi)))
        w.iceberg.load_table("bench.t").append(changed.cast(base.schema))
    lh.catalog.create_branch("same", "main")
    # the peers get the same data as native DuckDB tables
    db = str(work / "peers.duckdb")
    pcon = duckdb.connect(db)
    pcon.register("base_arrow", base)
    pcon.register("full_arrow", full)
    pcon.execute("CREATE TABLE base AS SELECT * FROM base_arrow")
    pcon.execute("CREATE TABLE head_full AS SELECT * FROM full_arrow")
    pcon.execute(f"CREATE TABLE head_confined AS SELECT * REPLACE (CASE WHEN id < {hi} THEN b + 1 ELSE b END AS b, "
                 f"CASE WHEN id < {hi} THEN z * 2 ELSE z END AS z) FROM base_arrow")
    pcon.execute("CREATE TABLE head_same AS SELECT * FROM base_arrow")
    pcon.close()
    lh.close()
    del pa
    return {"data_files": n_files, "confined_rows_changed": hi, "db": db,
            "full_rows_changed": (rows + step - 1) // step}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--peers-python", default="/work/peers-venv/bin/python")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "diff.json"))
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--child", nargs="+")
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        res = child_ours(*rest) if kind == "ours" else child_peer(kind, *rest)
        res["peak_rss_mb"] = vm_hwm_mb()
        print(json.dumps(res))
        return
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        data = build(work, args.rows, args.files)
        setup = time.perf_counter() - t0
        scenarios: dict[str, Any] = {}
        for name in ("identical", "confined", "full"):
            ref = {"identical": "same"}.get(name, name)
            ours = run_child(sys.executable, ["ours", str(work), "main", ref, "bench.t"])
            entry: dict[str, Any] = {"branchops": ours}
            if not args.skip_peers:
                for tool in ("reladiff", "data-diff"):
                    head = {"identical": "head_same"}.get(name, f"head_{name}")
                    entry[tool] = run_child(args.peers_python, [tool, data["db"], "base", head])
            peers = [v["seconds"] for k, v in entry.items() if k != "branchops" and "seconds" in v]
            if peers and "seconds" in entry["branchops"]:
                entry["speedup_vs_fastest_peer"] = round(min(peers) / max(entry["branchops"]["seconds"], 1e-9), 2)
            scenarios[name] = entry
            print(name, json.dumps(entry), flush=True)
    out = {"rows": args.rows, "columns": len(COLUMNS), "changed_fraction": 0.01, "setup_seconds": round(setup, 1),
           "data_files": data["data_files"], "confined_rows_changed": data["confined_rows_changed"],
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "scenarios": scenarios}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
