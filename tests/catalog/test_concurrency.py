"""Concurrent writers: optimistic commits never lose anything; same-table writes conflict cleanly."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pytest
from catalog_writers import commit_writer, create_writer, ingest_writer, pointer, table_of

from branchops.catalog import load_catalog
from branchops.catalog.base import INTERNAL_PREFIX, VersionedCatalog
from branchops.config import Settings
from branchops.errors import MergeConflict
from branchops.lakehouse import Lakehouse, WriteSession

WRITERS, COMMITS = 8, 50
TIMEOUT = 150.0


def run_processes(target: Callable[..., None], arg_sets: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Run ``target(*args, barrier, queue)`` in one new process per arg set; their results."""
    # Not fork: it would copy open connections (and warns when threads run). A fork server that
    # has imported the writers once starts each writer in milliseconds instead of a second.
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["catalog_writers"])
    barrier = ctx.Barrier(len(arg_sets))
    results: mp.Queue[dict[str, Any]] = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, results)) for args in arg_sets]
    for p in procs:
        p.start()
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(out) < len(procs):
            try:
                out.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"only {len(out)} of {len(procs)} writers finished within {TIMEOUT:.0f}s")
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join()
        results.close()
    errors = [r["error"] for r in out if "error" in r]
    assert not errors, "\n".join(errors)
    return sorted(out, key=lambda r: int(r["writer"]))


@pytest.mark.slow
def test_many_processes_commit_to_one_branch_and_nothing_is_lost(backend_settings: Settings) -> None:
    """8 processes open a new catalog at the same moment, then each makes 50 commits to main."""
    results = run_processes(commit_writer, [(backend_settings, "main", w, COMMITS) for w in range(WRITERS)])
    assert [r["writer"] for r in results] == list(range(WRITERS))
    cat = load_catalog(backend_settings)
    try:
        assert [r.name for r in cat.list_refs(include_internal=True)] == ["main"]
        log = cat.log("main")
        assert len(log) == WRITERS * COMMITS
        assert len({c.hash for c in log}) == WRITERS * COMMITS
        for w in range(WRITERS):
            mine = [int(c.properties["n"]) for c in reversed(log) if c.properties["writer"] == str(w)]
            assert mine == list(range(COMMITS)), f"writer {w}'s commits are missing or out of order"
        assert cat.tables("main") == {table_of(w): pointer(w, COMMITS - 1) for w in range(WRITERS)}
        # Each commit records exactly the one pointer it moved, relative to its parent.
        assert all(len(c.changes) == 1 and c.changes[0].table == table_of(int(c.properties["writer"])) for c in log)
    finally:
        cat.close()


def test_processes_creating_the_same_branch_at_once(backend_settings: Settings) -> None:
    """Exactly one wins; every other gets RefAlreadyExists (never a raw database error)."""
    load_catalog(backend_settings).close()
    results = run_processes(create_writer, [(backend_settings, "same", w) for w in range(6)])
    assert sorted(r["created"] for r in results) == [False] * 5 + [True]
    cat = load_catalog(backend_settings)
    try:
        assert [r.name for r in cat.list_refs()] == ["main", "same"]
    finally:
        cat.close()


# -- write-audit-publish writers (Lakehouse.writing / ingest) ----------------------------------
def rows(writer: int, n: int = 3) -> pa.Table:
    return pa.table({"writer": pa.array([writer] * n, pa.int64()), "i": pa.array(range(n), pa.int64())})


def open_session(lh: Lakehouse, message: str) -> tuple[Any, WriteSession]:
    ctx = lh.writing("main", message)
    return ctx, ctx.__enter__()


def append(session: WriteSession, table: str, data: pa.Table) -> None:
    cat = session.iceberg
    if table in session.catalog.tables(session.branch):
        cat.load_table(table).append(data)
    else:
        cat.create_table(table, schema=data.schema).append(data)


def internal_refs(cat: VersionedCatalog) -> list[str]:
    return [r.name for r in cat.list_refs(include_internal=True) if r.name.startswith(INTERNAL_PREFIX)]


@pytest.fixture
def seeded(lakehouse: Lakehouse) -> Iterator[Lakehouse]:
    lakehouse.ingest("raw.shared", rows(0))
    yield lakehouse


def test_overlapping_writers_on_disjoint_tables_both_land(seeded: Lakehouse) -> None:
    lh = seeded
    ctx_a, a = open_session(lh, "writer a")
    ctx_b, b = open_session(lh, "writer b")
    assert a.fork_hash == b.fork_hash
    append(a, "raw.a", rows(1))
    append(b, "raw.b", rows(2))
    append(b, "raw.shared", rows(2))
    ctx_a.__exit__(None, None, None)
    ctx_b.__exit__(None, None, None)
    assert a.result is not None and b.result is not None
    assert (a.result.merged_tables, b.result.merged_tables) == (("raw.a",), ("raw.b", "raw.shared"))
    assert lh.read("raw.a").column("writer").to_pylist() == [1, 1, 1]
    assert lh.read("raw.b").column("writer").to_pylist() == [2, 2, 2]
    assert sorted(lh.read("raw.shared").column("writer").to_pylist()) == [0, 0, 0, 2, 2, 2]
    assert [c.hash for c in lh.catalog.log("main")[:2]] == [b.result.hash, a.result.hash]
    assert internal_refs(lh.catalog) == []


def test_overlapping_writers_on_the_same_table_one_conflicts(seeded: Lakehouse) -> None:
    lh = seeded
    ctx_a, a = open_session(lh, "writer a")
    ctx_b, b = open_session(lh, "writer b")
    append(a, "raw.shared", rows(1))
    append(b, "raw.shared", rows(2))
    append(b, "raw.other", rows(2))
    ctx_a.__exit__(None, None, None)
    landed = (lh.catalog.get_ref("main").hash, lh.catalog.tables("main"))
    with pytest.raises(MergeConflict) as err:
        ctx_b.__exit__(None, None, None)
    assert err.value.conflicts == ["raw.shared"]
    # b left nothing: not its other table, not half of the shared one, not its private branch.
    assert (lh.catalog.get_ref("main").hash, lh.catalog.tables("main")) == landed
    assert sorted(lh.read("raw.shared").column("writer").to_pylist()) == [0, 0, 0, 1, 1, 1]
    assert "raw.other" not in lh.catalog.tables("main")
    assert internal_refs(lh.catalog) == []


@pytest.mark.slow
def test_concurrent_ingest_processes(backend_settings: Settings) -> None:
    """Real processes at once: own tables all land; on one table every append either lands
    whole or fails with MergeConflict, and the table holds exactly the rows of those that landed."""
    with Lakehouse(backend_settings) as lh:
        lh.ingest("raw.shared", rows(0))
    writers = 2
    args = [(backend_settings, f"raw.own{w}", w, 5) for w in range(1, writers + 1)]
    args += [(backend_settings, "raw.shared", w, 5) for w in range(writers + 1, 2 * writers + 1)]
    results = run_processes(ingest_writer, args)
    own, shared = results[:writers], results[writers:]
    assert all("hash" in r for r in own), own
    assert all(("hash" in r) != ("conflict" in r) for r in shared)
    assert all(r["conflict"] == ["raw.shared"] for r in shared if "conflict" in r)
    landed = [r["writer"] for r in shared if "hash" in r]
    assert landed, "no writer of the shared table landed"
    with Lakehouse(backend_settings) as lh:
        for r in own:
            assert lh.read(f"raw.own{r['writer']}").column("writer").to_pylist() == [r["writer"]] * 5
        got = lh.read("raw.shared").column("writer").to_pylist()
        assert sorted(got) == sorted([0] * 3 + [w for w in landed for _ in range(5)])
        merged = {c.hash for c in lh.catalog.log("main")}
        assert {r["hash"] for r in results if "hash" in r} <= merged
        assert len(lh.catalog.log("main")) == 1 + writers + len(landed)
        assert internal_refs(lh.catalog) == []
