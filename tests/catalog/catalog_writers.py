"""Writers that run in their own OS process (spawned, so they import this module by name).

Each opens the lakehouse from plain ``Settings`` the way a second ``branchops`` process would,
waits at a barrier so all writers start together, and puts one result dict on a queue.
"""

from __future__ import annotations

import random
import time
import traceback
from typing import Any, Protocol

import pyarrow as pa

from branchops.catalog import load_catalog
from branchops.config import Settings
from branchops.errors import MergeConflict, RefAlreadyExists, ReferenceConflict
from branchops.lakehouse import Lakehouse


class Waitable(Protocol):
    def wait(self, timeout: float | None = None) -> Any: ...

    def abort(self) -> None: ...


class Putter(Protocol):
    def put(self, obj: Any) -> None: ...


def pointer(writer: int, n: int) -> str:
    return f"file:///warehouse/w{writer}/metadata/{n:05d}.metadata.json"


def table_of(writer: int) -> str:
    return f"w{writer}.t"


def commit_writer(settings: Settings, ref: str, writer: int, commits: int, start: Waitable, out: Putter) -> None:
    """``commits`` commits of this writer's own table, each with the head it read as expected hash.

    All writers open the catalog at the same moment (it may be new: its tables get created).
    On ReferenceConflict it does what a real writer does: re-reads the ref, checks that the
    table it touches is still as it left it (then the retry is safe) and commits again.
    """
    try:
        start.wait(120)
        cat = load_catalog(settings)
        table, retries, mine = table_of(writer), 0, None
        for n in range(commits):
            attempt = 0
            while True:
                head = cat.resolve(ref)
                try:
                    cat.commit(ref, {table: pointer(writer, n)}, f"writer {writer} commit {n}",
                               properties={"writer": str(writer), "n": str(n)}, expected_hash=head)
                except ReferenceConflict:
                    retries += 1
                    if cat.tables(ref).get(table) != mine:
                        raise AssertionError(f"someone else changed {table}") from None
                    time.sleep(random.uniform(0, 0.001 * 2 ** min(attempt, 6)))  # backoff, as real writers do
                    attempt += 1
                    continue
                mine = pointer(writer, n)
                break
        cat.close()
        out.put({"writer": writer, "retries": retries})
    except BaseException:
        start.abort()  # the others stop waiting for this writer
        out.put({"writer": writer, "error": traceback.format_exc()})


def ingest_writer(settings: Settings, table: str, writer: int, rows: int, start: Waitable, out: Putter) -> None:
    """Append ``rows`` rows tagged with this writer's id to ``table`` on main (write-audit-publish)."""
    try:
        data = pa.table({"writer": pa.array([writer] * rows, pa.int64()), "i": pa.array(range(rows), pa.int64())})
        with Lakehouse(settings) as lh:
            start.wait(120)
            try:
                result = lh.ingest(table, data)
            except MergeConflict as e:
                out.put({"writer": writer, "conflict": e.conflicts})
                return
        out.put({"writer": writer, "hash": result.hash})
    except BaseException:
        start.abort()  # the others stop waiting for this writer
        out.put({"writer": writer, "error": traceback.format_exc()})


def create_writer(settings: Settings, name: str, writer: int, start: Waitable, out: Putter) -> None:
    """Create branch ``name`` at the same moment as the others: created, or RefAlreadyExists."""
    try:
        cat = load_catalog(settings)
        start.wait(120)
        try:
            cat.create_branch(name)
            out.put({"writer": writer, "created": True})
        except RefAlreadyExists:
            out.put({"writer": writer, "created": False})
        finally:
            cat.close()
    except BaseException:
        start.abort()
        out.put({"writer": writer, "error": traceback.format_exc()})
