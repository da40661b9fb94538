"""Diff one table whose pointer moved (:class:`TableDiffer`), or one that is on one side only
(:func:`added_or_removed`): snapshots, schemas, the sources to read (pruned files or a full scan),
then the row diff (``rows``) and profiles. :mod:`~branchops.diff.compute` imports this module only
when a table moved, so a diff that nothing moved in loads neither pyiceberg's manifests nor sqlglot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyiceberg.types import PrimitiveType

from branchops.diff import paired
from branchops.diff import queries as q
from branchops.diff.metadata_file import load_side
from branchops.diff.model import (
    ColumnProfiles,
    ColumnType,
    DiffOptions,
    DuplicateKeys,
    FileStats,
    Method,
    Profile,
    RowCounts,
    SchemaDiff,
    TableDiff,
    TableStatus,
    TypeChange,
)
from branchops.diff.profile import scan_profiles
from branchops.diff.rows import diff_rows
from branchops.diff.snapshots import (
    FLOAT_TYPES,
    NUMERIC_TYPES,
    ExactStats,
    TableSnapshot,
    exact_stats,
    field_names_stable,
    files_for_keys,
    manifest_profiles,
)
from branchops.errors import UsageError

if TYPE_CHECKING:
    from sqlglot import exp

    from branchops.catalog.base import VersionedCatalog
    from branchops.engine.base import Engine


def _columns(side: TableSnapshot) -> list[ColumnType]:
    return [ColumnType(f.name, str(f.field_type)) for f in side.schema.fields]


def added_or_removed(
    catalog: VersionedCatalog, ref: str, name: str, removed: bool, key: tuple[tuple[str, ...], str] | None
) -> TableDiff:
    side = load_side(catalog, ref, name)
    n = side.records() or 0
    cols = tuple(_columns(side))
    return TableDiff(
        name, TableStatus.REMOVED if removed else TableStatus.ADDED, Method.CATALOG,
        key=key[0] if key else None, key_source=key[1] if key else None,
        schema=SchemaDiff(removed=cols) if removed else SchemaDiff(added=cols),
        rows=RowCounts(base=n if removed else 0, head=0 if removed else n, added=0 if removed else n,
                       removed=n if removed else 0, changed=None if key is None else 0),
    )


_SQL_TYPES = {"int": "INT", "long": "BIGINT", "float": "FLOAT", "double": "DOUBLE", "string": "VARCHAR",
              "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ",
              "time": "TIME", "binary": "VARBINARY", "uuid": "UUID"}


def _sql_type(iceberg_type: str) -> str | None:
    if iceberg_type.startswith("decimal"):
        return iceberg_type.upper().replace(" ", "")
    return _SQL_TYPES.get(iceberg_type)


class TableDiffer:
    """Diff one table whose pointer moved."""

    def __init__(self, engine: Engine, catalog: VersionedCatalog, base: str, head: str, name: str,
                 key: tuple[tuple[str, ...], str] | None, opts: DiffOptions) -> None:
        self.engine, self.catalog, self.name, self.opts = engine, catalog, name, opts
        self.refs = (base, head)
        self.key: tuple[str, ...] | None = key[0] if key else None
        self.key_source: str | None = key[1] if key else None
        self.dialect = engine.DIALECT
        self.notes: list[str] = []
        self.columns: list[q.DiffColumn] = []
        #: each side is read as all its data files, directly by stable names, with no delete files
        self.whole_files = False

    def run(self) -> TableDiff:
        from sqlglot import exp as sqlexp

        b = load_side(self.catalog, self.refs[0], self.name)
        h = load_side(self.catalog, self.refs[1], self.name)
        schema = self._schema(b, h)
        if b.snapshot_id == h.snapshot_id and not schema.differs:
            return TableDiff(self.name, TableStatus.UNCHANGED, Method.SAME_SNAPSHOT)
        columns = self.columns = self._diff_columns(b, h, sqlexp)
        self._check_key(columns)
        base_src, head_src, method, files = self._sources(b, h, [c.name for c in columns])
        rows = [b.records(), h.records()]
        for i, side in enumerate((b, h)):
            if rows[i] is None:  # delete files: the summary does not say how many rows are live
                src = self._relation(i, side)
                rows[i] = 0 if src is None else int(self.engine.query(q.count_rows(src).sql(self.dialect))[0][0])
        counts = rows[0] or 0, rows[1] or 0
        read_rows = counts if method is Method.FULL_SCAN else self._pruned_rows(b, h)
        profile = self.opts.profiles and method is not Method.FILE_PRUNING
        diff = diff_rows(self.engine, base_src, head_src, columns, self.key, counts, self.opts,
                         source_rows=read_rows, profile=profile,
                         exact=self._exact_stats(b, h, columns) if profile else None)
        read = (base_src, head_src)
        profiles, profile_source = self._profiles(b, h, columns, method, read, diff.profiles)
        return TableDiff(
            self.name, TableStatus.MODIFIED, method, key=self.key, key_source=self.key_source, schema=schema,
            rows=diff.rows, duplicate_keys=self._duplicates(read, method, b, h, diff.duplicates),
            columns=diff.columns, profiles=profiles, profile_source=profile_source, samples=diff.samples,
            files=files, notes=tuple(self.notes),
        )

    # -- schema and columns -------------------------------------------------------------------
    def _schema(self, b: TableSnapshot, h: TableSnapshot) -> SchemaDiff:
        bt = {c.name: c.type for c in _columns(b)}
        ht = {c.name: c.type for c in _columns(h)}
        return SchemaDiff(
            added=tuple(ColumnType(n, t) for n, t in ht.items() if n not in bt),
            removed=tuple(ColumnType(n, t) for n, t in bt.items() if n not in ht),
            type_changed=tuple(TypeChange(n, bt[n], t) for n, t in ht.items() if n in bt and bt[n] != t),
        )

    def _diff_columns(self, b: TableSnapshot, h: TableSnapshot, sqlexp: Any) -> list[q.DiffColumn]:
        base_fields = {f.name: f for f in b.schema.fields}
        out: list[q.DiffColumn] = []
        for f in h.schema.fields:
            bf = base_fields.get(f.name)
            if bf is None:
                continue
            cast, cast_head = None, False
            if str(bf.field_type) != str(f.field_type):
                widen = isinstance(bf.field_type, NUMERIC_TYPES) and isinstance(f.field_type, NUMERIC_TYPES)
                target = _sql_type(str(f.field_type)) if widen else "VARCHAR"
                cast = sqlexp.DataType.build(target or "VARCHAR", dialect=self.dialect)
                cast_head = not widen or target is None
            nested = not isinstance(f.field_type, PrimitiveType)
            out.append(q.DiffColumn(
                f.name, cast=cast, cast_head=cast_head,
                is_float=isinstance(f.field_type, FLOAT_TYPES) and not cast_head,
                numeric=isinstance(f.field_type, NUMERIC_TYPES) and not cast_head, orderable=not nested,
            ))
        return out

    def _check_key(self, columns: Sequence[q.DiffColumn]) -> None:
        if self.key is None:
            return
        names = {c.name for c in columns}
        missing = [k for k in self.key if k not in names]
        if not missing:
            return
        if self.key_source == "flag":
            raise UsageError(
                f"--key {self.name}={','.join(self.key)}: no column {', '.join(missing)} on both sides",
                unchanged="nothing was diffed",
                hint=f"columns on both sides: {', '.join(sorted(names))}",
            )
        self.notes.append(f"key {list(self.key)} from {self.key_source} names missing columns {missing}: "
                          "diffed without a key")
        self.key, self.key_source = None, None

    # -- where rows are read from -------------------------------------------------------------
    def _relation(self, i: int, side: TableSnapshot) -> exp.Expr | None:
        if side.empty:
            return None
        return q.source(self.engine.relation(self.refs[i], self.name), self.dialect)

    def _files_source(self, i: int, paths: Sequence[str]) -> exp.Expr | None:
        """Rows of these data files of side ``i``: read directly, or through the table by path."""
        if not paths:
            return None
        if self.engine.READS_DATA_FILES:
            return q.source(self.engine.scan_files(paths), self.dialect)
        return q.source(self.engine.scan_table_files(self.refs[i], self.name, paths), self.dialect)

    def _sources(self, b: TableSnapshot, h: TableSnapshot, names: list[str]) -> tuple[
        exp.Expr | None, exp.Expr | None, Method, FileStats | None
    ]:
        """Pruned when the snapshots share files; else every row, read from the data files when
        there are no delete files (no Iceberg scan to plan), else through the Iceberg table.
        An engine that reads chosen files through the table (``READS_TABLE_FILES``) reads the
        whole table through it, and columns renamed in history do not matter to it."""
        direct = self.engine.READS_DATA_FILES
        readable = (direct or self.engine.READS_TABLE_FILES) and not b.has_deletes() and not h.has_deletes()
        if not readable:
            return self._relation(0, b), self._relation(1, h), Method.FULL_SCAN, None
        cache: dict[str, list[Any]] = {}
        bf, hf = b.files(cache), h.files(cache)
        shared = bf.keys() & hf.keys()
        stats = None if b.empty or h.empty else FileStats(
            len(bf), len(hf), len(shared), len(bf) - len(shared), len(hf) - len(shared))
        by_name = not direct or field_names_stable(b.schemas, h.schemas, names)
        if shared and not by_name:
            self.notes.append("columns were renamed in the table's history: read every row")
        if not by_name:
            return self._relation(0, b), self._relation(1, h), Method.FULL_SCAN, stats
        only_b, only_h = sorted(bf.keys() - shared), sorted(hf.keys() - shared)
        if not direct and (not shared or len(only_b) + len(only_h) > self.engine.MAX_TABLE_FILES):
            return self._relation(0, b), self._relation(1, h), Method.FULL_SCAN, stats
        if not shared:
            self.whole_files = direct
            return self._files_source(0, list(bf)), self._files_source(1, list(hf)), Method.FULL_SCAN, stats
        return self._files_source(0, only_b), self._files_source(1, only_h), Method.FILE_PRUNING, stats

    def _exact_stats(self, b: TableSnapshot, h: TableSnapshot, columns: Sequence[q.DiffColumn]
                     ) -> tuple[dict[str, ExactStats], dict[str, ExactStats]] | None:
        """Column figures the manifests give exactly for what a full scan of data files reads."""
        if not self.whole_files:
            return None
        names = [c.name for c in columns if c.cast is None]
        return exact_stats(b.files(), b.schema, names), exact_stats(h.files(), h.schema, names)

    def _pruned_rows(self, b: TableSnapshot, h: TableSnapshot) -> tuple[int, int] | None:
        """Rows in the files a pruned diff reads, from the manifests (exact: pruning needs no delete
        files), so no engine counts them again."""
        bf, hf = b.files(), h.files()
        return (sum(f.record_count for p, f in bf.items() if p not in hf),
                sum(f.record_count for p, f in hf.items() if p not in bf))

    def _duplicates(self, read: tuple[exp.Expr | None, exp.Expr | None], method: Method, b: TableSnapshot,
                    h: TableSnapshot, found: tuple[int, int] | None) -> DuplicateKeys | None:
        """Key values seen more than once. A full scan counted them in its first pass; when pruning,
        only keys of the rows in not-shared files are checked, against the files of the whole side
        that may hold them (by the key's bounds in the manifests), reading just the key columns."""
        if not self.key:
            return None
        if method is not Method.FILE_PRUNING:
            return DuplicateKeys(*(found or (0, 0)), "table")
        checks: list[int | exp.Select] = []  # per side: known (0) or the query that counts
        for i, (side, other, within) in enumerate(((b, h, read[0]), (h, b, read[1]))):
            changed = [f for p, f in side.files().items() if p not in other.files()]
            candidates = files_for_keys(side.files(), changed, side.schema, self.key)
            if found == (0, 0) and set(candidates) <= {f.file_path for f in changed}:
                checks.append(0)  # no key repeats in the rows read, and no other file may hold their keys
                continue
            whole = self._files_source(i, candidates)
            if whole is None or within is None:
                checks.append(0)
            elif self.engine.ONE_QUERY_KEYED_DIFF:  # within: the side's values as read (cast as compared)
                checks.append(paired.duplicate_keys(whole, self.key, self.columns, i, within, self.dialect))
            else:
                checks.append(q.duplicate_keys(whole, self.key, within))
        # both sides' checks in one statement: a query's fixed cost (Trino: ~1 s of analysis and
        # planning) is paid once
        pending = [c for c in checks if not isinstance(c, int)]
        answers = iter(self.engine.query(q.scalars(pending).sql(self.dialect))[0] if pending else ())
        counts = [c if isinstance(c, int) else int(next(answers)) for c in checks]
        return DuplicateKeys(counts[0], counts[1], "changed_keys")

    def _profiles(self, b: TableSnapshot, h: TableSnapshot, columns: list[q.DiffColumn], method: Method,
                  read: tuple[exp.Expr | None, exp.Expr | None],
                  done: tuple[dict[str, Profile], dict[str, Profile]] | None,
                  ) -> tuple[dict[str, ColumnProfiles], str | None]:
        """From manifests when pruning; else from a scan: the row diff's (``done``) or one here."""
        if not self.opts.profiles or not columns:
            return {}, None
        names = [c.name for c in columns]
        if method is Method.FILE_PRUNING:
            pb = manifest_profiles(b.files(), b.schema, names)
            ph = manifest_profiles(h.files(), h.schema, names)
            return {n: ColumnProfiles(pb[n], ph[n]) for n in names}, "manifests"
        if done is not None:
            pb, ph = done
        else:
            pb = scan_profiles(self.engine, read[0], columns, 0, self.dialect)
            ph = scan_profiles(self.engine, read[1], columns, 1, self.dialect)
        return {n: ColumnProfiles(pb.get(n), ph.get(n)) for n in names}, "scan"
