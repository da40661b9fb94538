"""Diff two refs: the catalog says which tables moved, the engine says how (see ``queries``).

Cost follows the change: an equal pointer or snapshot is answered from metadata; when the two
snapshots share data files (and neither has delete files) only the files they do not share are
read, because rows in shared files cancel out of a multiset difference; counts then come from
snapshot summaries and column profiles from manifest statistics. A full scan reads the data files
directly when neither side has delete files (the engine's Iceberg reader is not even loaded), else
through the Iceberg table. The row diff itself is in ``rows``; with a key, a scan's column profiles
come from the passes that find and fetch the differing rows (DuckDB: base is read once, head once
for the key and hash and once for the rows of the differing keys).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from branchops import progress
from branchops.diff.key_sources import load_ref_manifest, resolve_keys
from branchops.diff.model import DiffOptions, DiffResult, Method, RefSide, TableDiff, TableStatus
from branchops.errors import UsageError

if TYPE_CHECKING:
    from branchops.catalog.base import VersionedCatalog
    from branchops.engine.base import Engine
    from branchops.lakehouse import Lakehouse


#: DuckDB's memory for a diff (its default is 80% of RAM): bigger aggregations spill to a temporary
#: directory, which keeps the peak RSS of a diff of 10M-row tables under the 2 GB of issue 5
DIFF_MEMORY_LIMIT = "1GB"


def _duckdb(catalog: VersionedCatalog, threads: int | None) -> Engine:
    import os
    import tempfile

    from branchops.engine.duckdb import DuckDBEngine
    from branchops.sql_text import sql_string

    engine = DuckDBEngine(catalog, threads=threads, lazy_extensions=True)
    spill = os.path.join(tempfile.gettempdir(), f"branchops-diff-{os.getpid()}")
    engine.con.execute(f"SET memory_limit = {sql_string(DIFF_MEMORY_LIMIT)}")
    engine.con.execute(f"SET temp_directory = {sql_string(spill)}")
    return engine


def diff_in_engine(
    lakehouse: Lakehouse | VersionedCatalog, base: str, head: str, opts: DiffOptions, engine: Engine | None = None
) -> DiffResult:
    """What changed from ``base`` to ``head`` (refs, ``ref@hash`` or ``@hash``), table by table,
    in ``engine``, or without one in a DuckDB of its own (opened only when a table has to be
    scanned). The public :func:`branchops.diff.diff_refs` (diff/run.py) picks the engine of the
    settings and calls this; this module does not import that one (no import cycle).

    Raises RefNotFound (unknown ref) and UsageError (a key naming a missing table or column, a
    bad pattern).
    """
    from branchops.catalog.base import VersionedCatalog

    if isinstance(lakehouse, VersionedCatalog):
        catalog, threads = lakehouse, None
    else:
        catalog, threads = lakehouse.catalog, lakehouse.settings.threads
    lazy = _LazyEngine(engine, catalog, threads)
    try:
        return _diff(catalog, lazy, base, head, opts)
    finally:
        lazy.close_own()


class _LazyEngine:
    """Opens the engine on first use: a diff answered from the catalog alone never starts one."""

    def __init__(self, engine: Engine | None, catalog: VersionedCatalog, threads: int | None) -> None:
        self._engine, self._own = engine, engine is None
        self._catalog, self._threads = catalog, threads

    def get(self) -> Engine:
        if self._engine is None:
            self._engine = _duckdb(self._catalog, self._threads)
        return self._engine

    def close_own(self) -> None:
        if self._own and self._engine is not None:
            self._engine.close()


def _selected(names: Iterable[str], patterns: Sequence[str]) -> list[str]:
    if not patterns:
        return sorted(names)
    return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns))


def _diff(catalog: VersionedCatalog, engine: _LazyEngine, base: str, head: str, opts: DiffOptions) -> DiffResult:
    sides = RefSide(base, catalog.resolve(base)), RefSide(head, catalog.resolve(head))
    before, after = catalog.tables(base), catalog.tables(head)
    for table in opts.keys:
        if table not in before and table not in after:
            raise UsageError(f"--key names {table}, which is on neither {base} nor {head}",
                             unchanged="nothing was diffed", hint=f"`branchops branch show {head}` lists the tables")
    names = _selected(set(before) | set(after), opts.tables)
    moved = [n for n in names if before.get(n) != after.get(n)]
    keys = resolve_keys(moved, opts.keys, _manifests(catalog, (head, base), opts.builds) if opts.manifest_keys and any(
        n not in opts.keys for n in moved) else ())
    out: list[TableDiff] = []
    done = 0  # of the moved tables, for progress
    for name in names:
        b, a = before.get(name), after.get(name)
        if b == a:
            if opts.include_unchanged:
                out.append(TableDiff(name, TableStatus.UNCHANGED, Method.SAME_METADATA))
            continue
        done += 1
        progress.step(done, len(moved), f"diff: {name}")
        key = keys.get(name)
        # per table: pyiceberg's manifest reader and sqlglot load only when a table moved
        from branchops.diff.table import TableDiffer, added_or_removed

        if b is None or a is None:
            out.append(added_or_removed(catalog, base if a is None else head, name, a is None, key))
            continue
        diff = TableDiffer(engine.get(), catalog, base, head, name, key, opts).run()
        if diff.status is TableStatus.UNCHANGED and not opts.include_unchanged:
            continue
        out.append(diff)
    return DiffResult(sides[0], sides[1], tuple(out))


def _manifests(catalog: VersionedCatalog, refs: Sequence[str], builds: Mapping[str, Any]
               ) -> list[dict[str, Any] | None]:
    return [load_ref_manifest(catalog, r, builds) for r in refs]
