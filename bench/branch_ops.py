"""Benchmark of the versioned catalog's branch operations; writes JSON, never fails a build.

    python bench/branch_ops.py                 # full run -> bench/results/branch_ops.json
    python bench/branch_ops.py --quick         # small run (seconds)
    python bench/branch_ops.py --data-gb 0.1 --catalog-uri postgresql+psycopg2://...
    python bench/branch_ops.py --postgres --out bench/results/branch_ops_postgres.json  # starts a server

Measures, on the embedded backend (or ``--catalog-uri``):
- branch create p50/p95 with 10, 100, 1,000 and 10,000 tables on main, from ``main`` and from
  ``main@hash`` (what each write-audit-publish write does);
- branch create with ~1 MB vs ~1 GB of real Parquet data (same table count): zero-copy, so flat;
- a three-way merge of 100 changed tables (p50/p95), main holding 1,000 tables;
- sequential commits per second (one pointer each, with an expected hash);
- history at depth: ``branch show REF@HASH``, reset, merge base and ``log -n 10`` at a commit
  ``--depth`` (50,000) commits deep against the same at a commit 10 deep, in one history of
  ``--history-tables`` tables (built through the public API; it takes a few minutes).

Ratios are against a baseline measured in the same run (create at 10 tables; history at depth
10), so figures from a busy machine still compare. Targets (issues 3 and 17): create p50 <= 15 ms
at the largest size and <= 2x the p50 at 10 tables, flat in data size; merge of 100 tables p50
<= 100 ms; every history operation at depth within 2x of the same at depth 10.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from branchops.catalog import load_catalog
from branchops.catalog.base import VersionedCatalog
from branchops.catalog.sql.backend import SqlVersionedCatalog
from branchops.catalog.sql.states import position, tables_at
from branchops.config import Settings
from branchops.lakehouse import Lakehouse

DEFAULT_OUT = Path(__file__).parent / "results" / "branch_ops.json"
MB = 1 << 20
TARGET_CREATE_MS = 15.0
TARGET_MERGE_MS = 100.0
FLAT_RATIO = 1.5  # "flat in data size": 1 GB may cost at most this times 1 MB
CONSTANT_RATIO = 2.0  # "constant time": the largest case may cost at most this times the smallest
SHALLOW = 10  # the depth history operations are compared against
BATCH = 2000  # history commits per transaction while building


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[idx]


def summary(ms: Sequence[float]) -> dict[str, float | int]:
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "min_ms": round(min(ms), 3),
        "n": len(ms),
    }


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def pointer(table: str, version: int) -> str:
    return f"file:///bench/{table.replace('.', '/')}/metadata/{version:05d}.metadata.json"


def fill(cat: VersionedCatalog, tables: int) -> list[str]:
    names = [f"bench.t{i:05d}" for i in range(tables)]
    cat.commit("main", {t: pointer(t, 0) for t in names}, f"{tables} tables")
    return names


def bench_creates(cases: dict[str, tuple[VersionedCatalog, str]], repeats: int) -> dict[str, dict[str, float | int]]:
    """Create (and drop, untimed) a branch in every case, round-robin, ``repeats`` times.

    Interleaving gives every case the same share of a busy machine's noise, so the ratios
    between cases hold even when the absolute figures wobble.
    """
    times: dict[str, list[float]] = {case: [] for case in cases}
    for i in range(repeats + 2):
        for case, (cat, source) in cases.items():
            name = f"bench-{i}"
            ms = timed(lambda cat=cat, name=name, source=source: cat.create_branch(name, source))  # type: ignore[misc]
            cat.drop_branch(name)
            if i >= 2:  # warm-up
                times[case].append(ms)
    return {case: summary(ms) for case, ms in times.items()}


def bench_merge(cat: VersionedCatalog, names: list[str], changed: int, repeats: int) -> dict[str, float | int]:
    """Three-way merges: ``changed`` tables changed on a branch while main moved elsewhere."""
    times = []
    for r in range(repeats + 1):
        branch = f"merge-{r}"
        cat.create_branch(branch)
        cat.commit(branch, {t: pointer(t, r + 1) for t in names[:changed]}, "change")
        cat.commit("main", {names[-1]: pointer(names[-1], r + 1)}, "main moves")
        ms = timed(lambda branch=branch: cat.merge(branch, "main"))  # type: ignore[misc]
        cat.drop_branch(branch)
        if r >= 1:
            times.append(ms)
    return summary(times)


def bench_commits(cat: VersionedCatalog, commits: int) -> dict[str, float | int]:
    """One writer, sequential commits of one pointer each, each checking the head it read."""
    cat.create_branch("commits")
    start = time.perf_counter()
    for n in range(commits):
        head = cat.resolve("commits")
        cat.commit("commits", {f"bench.c{n % 10}": pointer(f"bench.c{n % 10}", n)}, "c", expected_hash=head)
    seconds = time.perf_counter() - start
    return {"commits": commits, "seconds": round(seconds, 3), "per_second": round(commits / seconds, 1),
            "tables_on_branch": len(cat.tables("commits"))}


def build_history(cat: VersionedCatalog, tables: int, depth: int) -> dict[int, str]:
    """Main with ``depth`` + 3 commits, each moving 1-3 of ``tables`` tables (the first creates them
    all); returns the hash at every depth a case needs (1 = the first commit).

    On the SQL backend the commits go through its own commit writer, ``BATCH`` per transaction
    (50,000 separate transactions take too long on a busy 2-core machine); the same rows result.
    """
    names = [f"hist.t{i:04d}" for i in range(tables)]
    wanted = {SHALLOW, SHALLOW + 2, depth, depth + 2}
    hashes = {1: cat.commit("main", {t: pointer(t, 0) for t in names}, "create").hash}
    start = time.perf_counter()
    n = 1
    while n < depth + 2:
        batch = range(n + 1, min(depth + 2, n + BATCH) + 1)
        if isinstance(cat, SqlVersionedCatalog):
            with cat.db.transaction() as conn:  # writes: commits, BATCH per transaction
                head: str = conn.scalar("SELECT hash FROM branchops_refs WHERE name = 'main'")
                for n in batch:
                    moved: dict[str, str | None] = {t: pointer(t, n) for t in history_tables(names, n)}
                    pos = position(conn, head)
                    current = tables_at(conn, head, only=moved, pos=pos)
                    head = cat._write_commit(conn, "main", head, current, moved, f"c{n}", None, None,
                                             parent_pos=pos).hash
                    if n in wanted:
                        hashes[n] = head
        else:
            for n in batch:
                c = cat.commit("main", {t: pointer(t, n) for t in history_tables(names, n)}, f"c{n}")
                if n in wanted:
                    hashes[n] = c.hash
        print(f"  history: {n} commits, {n / (time.perf_counter() - start):.0f}/s", flush=True)
    return {n: h for n, h in hashes.items() if n in wanted}


def history_tables(names: list[str], n: int) -> set[str]:
    return {names[(n * k * 7919) % len(names)] for k in range(1, 2 + n % 3)}


def bench_history(cat: VersionedCatalog, at: dict[int, str], depth: int, repeats: int) -> dict[str, Any]:
    """show / reset / merge base / log at depth ``SHALLOW`` and ``depth``, interleaved."""
    ops: dict[str, Callable[[int], object]] = {}
    for d in (SHALLOW, depth):
        cat.create_branch(f"side-{d}", f"main@{at[d]}")  # forked at depth d, one commit of its own
        cat.commit(f"side-{d}", {"hist.side": pointer("hist.side", d)}, "side")
        cat.create_branch(f"reset-{d}", "main")
    ops["show"] = lambda d: cat.tables(f"main@{at[d]}")
    ops["reset"] = lambda d: cat.reset(f"reset-{d}", at[d])
    ops["merge_base"] = lambda d: cat.merge_base(f"side-{d}", f"main@{at[d + 2]}")
    ops["log_10"] = lambda d: cat.log(f"main@{at[d]}", 10)
    times: dict[str, dict[int, list[float]]] = {op: {SHALLOW: [], depth: []} for op in ops}
    for i in range(repeats + 2):
        for op, fn in ops.items():
            for d in (SHALLOW, depth):
                ms = timed(lambda fn=fn, d=d: fn(d))  # type: ignore[misc]
                if i >= 2:
                    times[op][d].append(ms)
    out: dict[str, Any] = {}
    for op, by_depth in times.items():
        shallow, deep = summary(by_depth[SHALLOW]), summary(by_depth[depth])
        out[op] = {f"depth_{SHALLOW}": shallow, f"depth_{depth}": deep,
                   "ratio_p50": round(float(deep["p50_ms"]) / float(shallow["p50_ms"]), 2)}
    return out


def arrow_chunk(target_bytes: int, seed: int) -> pa.Table:
    """Random numbers (Parquet cannot shrink them much): ~``target_bytes`` of file data."""
    rows = max(1, int(target_bytes) // 24)

    def ints(offset: int) -> pa.Array:
        return pc.cast(pc.multiply(pc.random(rows, initializer=seed + offset), 2.0**62), pa.int64())

    return pa.table({"id": ints(1), "x": pc.random(rows, initializer=seed), "y": ints(2)})


def warehouse_bytes(settings: Settings) -> int:
    root = Path(settings.warehouse_location)
    return sum(p.stat().st_size for p in root.rglob("*.parquet"))


def build_data_lakehouse(settings: Settings, total_bytes: int, tables: int, chunk_bytes: int) -> int:
    """``tables`` tables holding ~``total_bytes`` of Parquet between them; returns the bytes on disk.

    One chunk is generated and appended again and again: the files are real, the data repeats.
    """
    per_table = max(1, total_bytes // tables)
    appends = math.ceil(per_table / chunk_bytes)
    chunk = arrow_chunk(per_table // appends, seed=1)
    with Lakehouse(settings) as lh:
        for t in range(tables):
            for _ in range(appends):
                lh.ingest(f"data.t{t:03d}", chunk)
    return warehouse_bytes(settings)


def safe_uri(uri: str) -> str:
    return make_url(uri).render_as_string(hide_password=True)


def section_uri(base: str | None, work: Path, name: str) -> str:
    """An empty catalog per section: a SQLite file, or a new schema in the PostgreSQL database."""
    if base is None:
        return f"sqlite:///{work / name}.db"
    url = make_url(base)
    if url.get_backend_name() != "postgresql":
        raise SystemExit("--catalog-uri must be a PostgreSQL database URL (SQLite is the default)")
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="branchops-bench-"))

    def uri_for(name: str) -> str:
        return section_uri(args.catalog_uri, work, name)

    out: dict[str, Any] = {
        "meta": {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
            "backend": "sqlite (embedded default)" if args.catalog_uri is None else safe_uri(args.catalog_uri),
            "quick": args.quick,
            "repeats": args.repeats,
        }
    }

    catalogs: dict[str, VersionedCatalog] = {}
    table_names: dict[int, list[str]] = {}
    cases: dict[str, tuple[VersionedCatalog, str]] = {}
    try:
        for size in args.sizes:
            cat = catalogs[f"t{size}"] = load_catalog(Settings(root=work / f"t{size}", catalog_uri=uri_for(f"t{size}")))
            table_names[size] = fill(cat, size)
            cases[f"tables:{size}"] = (cat, "main")
            # What every write-audit-publish write does: fork main at the hash it just read.
            cases[f"tables_at_hash:{size}"] = (cat, f"main@{cat.resolve('main')}")
        data: dict[str, dict[str, Any]] = {}
        for label, total in (("small", int(args.small_mb * MB)), ("large", int(args.data_gb * 1024 * MB))):
            settings = Settings(root=work / f"data-{label}", catalog_uri=uri_for(f"data-{label}"))
            start = time.perf_counter()
            on_disk = build_data_lakehouse(settings, total, args.data_tables, args.chunk_mb * MB)
            data[label] = {"data_bytes": on_disk, "data_mb": round(on_disk / MB, 2), "tables": args.data_tables,
                           "build_seconds": round(time.perf_counter() - start, 1)}
            print(f"built {label} data set: {data[label]}")
            cat = catalogs[f"data-{label}"] = load_catalog(settings)
            cases[f"data:{label}"] = (cat, "main")

        results = bench_creates(cases, args.repeats)
        creates = {str(n): results[f"tables:{n}"] for n in args.sizes}
        creates_at_hash = {str(n): results[f"tables_at_hash:{n}"] for n in args.sizes}
        by_data = {label: {**results[f"data:{label}"], **facts} for label, facts in data.items()}
        for case, r in results.items():
            print(f"create {case:<22} {r}")

        top_size = args.merge_size if args.merge_size in args.sizes else max(args.sizes)
        merge_tables = min(args.merge_tables, top_size)
        merge: dict[str, Any] = bench_merge(catalogs[f"t{top_size}"], table_names[top_size], merge_tables,
                                            args.merge_repeats)
        merge.update({"changed_tables": merge_tables, "tables_on_main": top_size})
        print(f"merge of {merge_tables} tables: {merge}")
        commits = bench_commits(catalogs[f"t{top_size}"], args.commits)
        print(f"commits: {commits}")
        hist_cat = catalogs["history"] = load_catalog(Settings(root=work / "history", catalog_uri=uri_for("history")))
        start = time.perf_counter()
        at = build_history(hist_cat, args.history_tables, args.depth)
        history: dict[str, Any] = {"depth": args.depth, "tables": args.history_tables,
                                   "build_seconds": round(time.perf_counter() - start, 1)}
        history.update(bench_history(hist_cat, at, args.depth, args.repeats))
        print(f"history: {json.dumps(history)}")
    finally:
        for cat in catalogs.values():
            cat.close()
        shutil.rmtree(work, ignore_errors=True)
    out["branch_create_by_tables"] = creates
    out["branch_create_from_hash_by_tables"] = creates_at_hash
    out["branch_create_by_data"] = by_data
    out["merge"] = merge
    out["commits"] = commits
    out["history"] = history

    base_size = str(min(args.sizes))
    baseline = float(creates[base_size]["p50_ms"])
    top = str(max(args.sizes))
    out["baseline"] = {"name": f"branch create p50 at {base_size} tables", "p50_ms": baseline}
    ratios: dict[str, float] = {f"create_{s}_tables_vs_baseline": round(float(c["p50_ms"]) / baseline, 2)
                                for s, c in creates.items()}
    data_ratio = float(by_data["large"]["p50_ms"]) / float(by_data["small"]["p50_ms"])
    ratios["create_large_data_vs_small_data"] = round(data_ratio, 2)
    ratios["merge_vs_baseline"] = round(float(merge["p50_ms"]) / baseline, 2)
    out["ratios"] = ratios
    create_ratio = float(creates[top]["p50_ms"]) / baseline
    out["targets"] = {
        f"create_p50_at_{top}_tables_ms <= {TARGET_CREATE_MS}": {
            "value": creates[top]["p50_ms"], "met": float(creates[top]["p50_ms"]) <= TARGET_CREATE_MS,
        },
        f"create_p50_at_{top}_tables <= {CONSTANT_RATIO}x p50 at {base_size}": {
            "value": round(create_ratio, 2), "met": create_ratio <= CONSTANT_RATIO,
        },
        **{
            f"history_{op}_p50_at_depth_{args.depth} <= {CONSTANT_RATIO}x depth {SHALLOW}": {
                "value": history[op]["ratio_p50"], "met": history[op]["ratio_p50"] <= CONSTANT_RATIO,
            }
            for op in ("show", "reset", "merge_base", "log_10")
        },
        f"create_flat_in_data_size (large/small p50 <= {FLAT_RATIO})": {
            "value": round(data_ratio, 2), "met": data_ratio <= FLAT_RATIO,
        },
        f"merge_{merge_tables}_tables_p50_ms <= {TARGET_MERGE_MS}": {
            "value": merge["p50_ms"], "met": float(merge["p50_ms"]) <= TARGET_MERGE_MS,
        },
    }
    out["meta"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small run: fewer repeats, 50 MB instead of 1 GB")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    p.add_argument("--catalog-uri", default=None,
                   help="a PostgreSQL database URL; each section gets a new schema in it (default: SQLite files)")
    p.add_argument("--postgres", action="store_true",
                   help="start a throwaway PostgreSQL server (tests/pgserver.py) and use a new database on it")
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000],
                   help="table counts for branch create")
    p.add_argument("--repeats", type=int, default=None, help="timed creates per size (default 100, quick 20)")
    p.add_argument("--merge-tables", type=int, default=100)
    p.add_argument("--merge-size", type=int, default=1000, help="tables on main for the merge and commits")
    p.add_argument("--merge-repeats", type=int, default=None, help="timed merges (default 30, quick 8)")
    p.add_argument("--commits", type=int, default=None, help="sequential commits (default 500, quick 100)")
    p.add_argument("--data-gb", type=float, default=None, help="the large data set in GB (default 1, quick 0.05)")
    p.add_argument("--small-mb", type=float, default=1.0, help="the small data set in MB")
    p.add_argument("--data-tables", type=int, default=10, help="tables holding the data sets")
    p.add_argument("--chunk-mb", type=int, default=64, help="size of the generated Arrow chunk")
    p.add_argument("--depth", type=int, default=None, help="history depth (default 50,000, quick 1,000)")
    p.add_argument("--history-tables", type=int, default=100, help="tables in the history section")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (20 if args.quick else 100)
    args.merge_repeats = args.merge_repeats or (8 if args.quick else 30)
    args.commits = args.commits or (100 if args.quick else 500)
    args.depth = args.depth or (1000 if args.quick else 50_000)
    args.data_gb = args.data_gb if args.data_gb is not None else (0.05 if args.quick else 1.0)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    server = None
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from pgserver import start_server

        server = start_server()
        args.catalog_uri = server.create_database("bench")
    try:
        result = run(args)
    finally:
        if server is not None:
            server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    for name, target in result["targets"].items():
        print(f"{'met ' if target['met'] else 'MISS'} {name}: {target['value']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
