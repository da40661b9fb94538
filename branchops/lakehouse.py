"""The library the CLI is a thin layer over: ``branchops.connect()`` -> :class:`Lakehouse`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from branchops.catalog import load_catalog
from branchops.catalog.base import MergeResult, RefType, VersionedCatalog, validate_table_id
from branchops.config import Settings, load_settings
from branchops.errors import MergeConflict, RefNotFound, UsageError

if TYPE_CHECKING:  # pyarrow and pyiceberg load when data is read or written, not for ref commands
    import pyarrow as pa

    from branchops.catalog.iceberg import BranchIcebergCatalog


@dataclass
class WriteSession:
    """Writes in progress on a private branch; published to ``target`` in one commit on success."""

    catalog: VersionedCatalog
    branch: str
    target: str
    fork_hash: str
    properties: dict[str, str] = field(default_factory=dict)
    result: MergeResult | None = None

    @property
    def iceberg(self) -> BranchIcebergCatalog:
        from branchops.catalog.iceberg import BranchIcebergCatalog

        return BranchIcebergCatalog(
            self.catalog, self.branch, message=f"write for {self.target}", files_for=self.target
        )

    def written_tables(self) -> list[str]:
        return [c.table for c in self.catalog.diff(f"@{self.fork_hash}", self.branch)]


@dataclass(frozen=True)
class IngestResult:
    table: str
    branch: str
    mode: str
    rows: int
    created: bool
    evolved: tuple[str, ...]
    hash: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table, "branch": self.branch, "mode": self.mode, "rows": self.rows,
            "created": self.created, "evolved_columns": list(self.evolved), "hash": self.hash,
        }


def write_conflict(branch: str, tables: list[str]) -> MergeConflict:
    """A write whose tables another write changed on ``branch`` since this one started."""
    names = ", ".join(tables)
    err = MergeConflict(
        branch, branch, tables, unchanged=f"{branch} was not written: it holds the other write",
        hint=f"run this write again: it will start from {branch}'s current {names}",
    )
    err.message = f"{names} on {branch} changed while this write ran (another write landed first)"
    err.args = (err.message,)
    return err


class Lakehouse:
    """A versioned lakehouse: a catalog with branches, and the operations on it."""

    def __init__(self, settings: Settings, catalog: VersionedCatalog | None = None) -> None:
        self.settings = settings
        self.catalog = catalog or load_catalog(settings)

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Lakehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def main(self) -> str:
        return self.settings.main_branch

    def drop_branch(self, name: str, expected_hash: str | None = None) -> None:
        """Drop a branch, then what the engine keeps for it (Trino: its catalog).

        The engine clean-up is best effort: a leftover engine catalog points at a ref that no
        longer exists and is harmless; it is logged, never raised.

        Raises:
            ProtectedRef, RefNotFound, ReferenceConflict.
        """
        self.catalog.drop_branch(name, expected_hash)
        from branchops.engine import engine_class, load_engine

        if not engine_class(self.settings.engine).HOLDS_REF_RESOURCES:
            return
        try:
            with load_engine(self.settings, self.catalog) as engine:
                engine.forget_ref(name)
        except Exception as e:  # best effort, see docstring
            logging.getLogger("branchops").warning("could not release engine resources of %s: %s", name, e)

    def require_branch(self, name: str) -> str:
        ref = self.catalog.get_ref(name)
        if ref.type is not RefType.BRANCH:
            raise UsageError(f"{name!r} is a tag; writes go to branches", unchanged=f"{name} is as it was")
        return ref.hash

    @contextmanager
    def writing(
        self,
        branch: str,
        message: str,
        *,
        properties: dict[str, str] | None = None,
        audit: Callable[[WriteSession], None] | None = None,
    ) -> Iterator[WriteSession]:
        """Write-audit-publish: every write goes to a private fork of ``branch``; when the block
        ends without error (and ``audit`` passes) it is merged into ``branch`` as one commit.
        Readers never see half a write, and a failure leaves ``branch`` exactly as it was.
        Concurrent writers are merged three-way: disjoint tables both land, the same tables
        conflict (MergeConflict, nothing written).
        """
        from branchops import wap

        fork_hash = self.require_branch(branch)
        wap.sweep_dead_local_writers(self.catalog)  # what killed writers on this host left behind
        tmp = wap.new_branch_name()
        self.catalog.create_branch(tmp, from_ref=f"{branch}@{fork_hash}")
        session = WriteSession(self.catalog, tmp, branch, fork_hash, dict(properties or {}))
        try:
            yield session
            if audit is not None:
                audit(session)
            try:
                session.result = self.catalog.merge(
                    tmp, branch, message=message, properties=session.properties, squash=True,
                    author=self.settings.author_name,
                )
            except MergeConflict as e:  # name the user's branch and tables, never the private one
                raise write_conflict(branch, e.conflicts) from None
        finally:
            with contextlib.suppress(RefNotFound):
                self.catalog.drop_branch(tmp)

    def ingest(
        self,
        table: str,
        source: str | Path | pa.Table,
        *,
        branch: str | None = None,
        mode: Literal["append", "overwrite"] = "append",
        evolve: bool = False,
        fmt: str | None = None,
    ) -> IngestResult:
        """Load a CSV / Parquet / JSON-lines file (or an Arrow table) into ``table`` on ``branch``.

        Raises:
            InputError, SchemaMismatch (nothing written), RefNotFound, MergeConflict.
        """
        validate_table_id(table)
        if mode not in ("append", "overwrite"):
            raise UsageError(f"unknown mode {mode!r}", hint="use --mode append or --mode overwrite")
        branch = branch or self.main
        import pyarrow as pa

        from branchops import progress
        from branchops.ingest import fit_to_schema, normalize, read_file

        progress.step(1, 3, f"ingest: reading {source if not isinstance(source, pa.Table) else 'the table'}")
        data = normalize(source) if isinstance(source, pa.Table) else read_file(source, fmt)
        progress.step(2, 3, f"ingest: writing {data.num_rows} rows to {table} on {branch}")
        evolved: tuple[str, ...] = ()
        created = False
        with self.writing(branch, f"ingest {table} ({mode}, {data.num_rows} rows)") as w:
            cat = w.iceberg
            if table in self.catalog.tables(w.branch):
                tbl = cat.load_table(table)
                current = tbl.schema().as_arrow()
                new_cols = tuple(n for n in data.column_names if n not in current.names)
                if new_cols and evolve:
                    with tbl.update_schema() as upd:
                        upd.union_by_name(data.select(list(new_cols)).schema)
                    tbl = cat.load_table(table)
                    evolved = new_cols
                fitted = fit_to_schema(data, tbl.schema().as_arrow(), table)
                if mode == "append":
                    tbl.append(fitted)
                else:
                    tbl.overwrite(fitted)
            else:
                tbl = cat.create_table(table, schema=data.schema)
                tbl.append(fit_to_schema(data, tbl.schema().as_arrow(), table))
                created = True
            w.properties.update({"branchops.operation": "ingest", "branchops.table": table})
            progress.step(3, 3, f"ingest: publishing to {branch}")
        return IngestResult(table, branch, mode, data.num_rows, created, evolved, w.result.hash if w.result else None)

    def read(self, table: str, ref: str | None = None) -> pa.Table:
        """A whole table as Arrow (small tables, tests and samples)."""
        return self.catalog.load_table(ref or self.main, table).scan().to_arrow()


def connect(config: str | Path | None = None, **overrides: Any) -> Lakehouse:
    """Open the lakehouse of ``branchops.toml`` (found upwards from the current folder)."""
    return Lakehouse(load_settings(config, **overrides))
