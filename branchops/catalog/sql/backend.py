"""The embedded versioned catalog: SQLite (or PostgreSQL) through plain DB-API.

:class:`SqlVersionedCatalog` keeps refs, writes commits and runs merges and resets; its storage
is spread over five helpers: :mod:`~branchops.catalog.sql.db` (connections, transactions),
:mod:`~branchops.catalog.sql.schema` (tables),
:mod:`~branchops.catalog.sql.states` (each commit's tables, from keyframes and changes: a ref is
its head commit, so creating one writes one row), :mod:`~branchops.catalog.sql.pointers`
(published refs' rows in Iceberg JDBC's ``iceberg_tables``, kept in step in the same transaction
as the ref) and :mod:`~branchops.catalog.sql.history` (reads of the commit DAG).

Every write is one transaction: SQLite takes its write lock up front (``BEGIN IMMEDIATE``),
PostgreSQL locks the ref rows (``SELECT ... FOR UPDATE``), so concurrent writers serialize and
each commit checks the head it builds on.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from branchops.catalog.base import (
    INTERNAL_PREFIX,
    Commit,
    MergeResult,
    Ref,
    RefType,
    VersionedCatalog,
    pointer_diff,
    split_ref,
    three_way,
    validate_ref_name,
    validate_table_id,
)
from branchops.catalog.sql import history
from branchops.catalog.sql.db import Connection, Database, IntegrityError, connect
from branchops.catalog.sql.pointers import (
    copy_rows,
    ensure_jdbc_schema,
    is_published,
    jdbc_refs_t,
    publish,
    published,
    set_rows,
    unpublish,
)
from branchops.catalog.sql.schema import changes_t, commits_t, ensure_schema, ice_t, now, ns_t, parents_t, refs_t
from branchops.catalog.sql.states import LOOK_UP, ensure_state_schema, position, record, tables_at
from branchops.catalog.sql.states import TABLES as STATE_TABLES
from branchops.errors import (
    MergeConflict,
    RefAlreadyExists,
    ReferenceConflict,
    RefNotFound,
    TableNotFound,
    UsageError,
)

__all__ = [
    "SqlVersionedCatalog",
    "changes_t",
    "commits_t",
    "connect",
    "ice_t",
    "ns_t",
    "parents_t",
    "refs_t",
]


class SqlVersionedCatalog(VersionedCatalog):
    """The embedded backend (see module docstring)."""

    def __init__(self, uri: str, *, jdbc_refs: Sequence[str] | None = None, **kw: Any) -> None:
        """``jdbc_refs``: name patterns (``fnmatch``) of refs published to Iceberg JDBC readers
        when created (default: the default branch only); see :meth:`publish_jdbc`."""
        super().__init__(**kw)
        self.uri = uri
        self.jdbc_refs = tuple(jdbc_refs) if jdbc_refs is not None else (self.default_branch,)
        self.db: Database = connect(uri)

        def more_tables(conn: Connection) -> None:
            ensure_state_schema(conn)
            ensure_jdbc_schema(conn, self.default_branch)

        try:
            ensure_schema(self.db, self.default_branch, also=more_tables, more=(*STATE_TABLES, jdbc_refs_t))
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def _reading(self) -> AbstractContextManager[Connection]:
        """A transaction for reads only (on SQLite it takes no write lock)."""
        return self.db.transaction(read_only=True)

    def _writing(self) -> AbstractContextManager[Connection]:
        """A transaction that writes (on SQLite it takes the write lock at once)."""
        return self.db.transaction()

    # -- low-level reads ------------------------------------------------------------------
    def _head(self, conn: Connection, name: str, *, lock: bool = False) -> tuple[RefType, str]:
        sql = "SELECT ref_type, hash FROM branchops_refs WHERE name = :name"
        row = conn.first(sql + conn.for_update if lock else sql, {"name": name})
        if row is None:
            raise history.not_found(name)
        return RefType(row[0]), str(row[1])

    def _lock(self, conn: Connection, names: Iterable[str]) -> None:
        conn.execute(f"SELECT name FROM branchops_refs WHERE name IN :names ORDER BY name{conn.for_update}",
                     {"names": sorted(set(names))})

    def _resolve(self, conn: Connection, spec: str) -> str:
        name, commit = split_ref(spec)
        if commit is not None:
            if name is not None:
                self._head(conn, name)
            return history.full_hash(conn, commit)
        assert name is not None
        try:
            return self._head(conn, name)[1]
        except RefNotFound:
            if len(name) >= 6 and all(ch in "0123456789abcdef" for ch in name):
                return history.full_hash(conn, name)  # a bare commit hash
            raise

    def _content(self, conn: Connection, spec: str) -> dict[str, str]:
        return tables_at(conn, self._resolve(conn, spec))

    # -- low-level writes -----------------------------------------------------------------
    def _write_commit(
        self,
        conn: Connection,
        ref: str,
        parent: str,
        current: Mapping[str, str],
        changes: Mapping[str, str | None],
        message: str,
        properties: Mapping[str, str] | None,
        author: str | None,
        merge_parent: str | None = None,
        parent_pos: tuple[str, int] | None = LOOK_UP,
    ) -> Commit:
        for table, loc in changes.items():
            validate_table_id(table)
            if loc is None and table not in current:
                raise TableNotFound(f"no table {table} on {ref} to remove", unchanged=f"{ref} was not written")
        after = {**current, **{t: loc for t, loc in changes.items() if loc is not None}}
        for t, loc in changes.items():
            if loc is None:
                after.pop(t, None)
        moved = pointer_diff(current, after)
        ts = now()
        props = {str(k): str(v) for k, v in (properties or {}).items()}
        who = author or "branchops"
        seed = json.dumps([parent, merge_parent, ref, message, ts, uuid.uuid4().hex, [c.to_dict() for c in moved]])
        new_hash = hashlib.sha256(seed.encode()).hexdigest()
        gens = history.generations(conn, [parent] + ([merge_parent] if merge_parent else []))
        conn.insert(commits_t.name, [{
            "hash": new_hash, "parent": parent, "merge_parent": merge_parent, "generation": max(gens) + 1, "ref": ref,
            "message": message, "author": who, "created_at": ts, "properties": json.dumps(props, sort_keys=True),
        }])
        conn.insert(parents_t.name, [{"child": new_hash, "parent": p} for p in {parent, merge_parent} if p])
        after_moved = {c.table: c.after for c in moved}
        conn.insert(changes_t.name, [
            {"commit_hash": new_hash, "table_id": c.table, "old_location": c.before, "new_location": c.after}
            for c in moved
        ])
        record(conn, new_hash, parent, after_moved, parent_pos)
        if is_published(conn, ref):
            set_rows(conn, ref, after_moved, current)
        conn.execute("UPDATE branchops_refs SET hash = :hash, updated_at = :ts WHERE name = :name",
                     {"hash": new_hash, "ts": ts, "name": ref})
        return Commit(new_hash, parent, message, who, ts, props, tuple(moved), merge_parent)

    # -- refs -----------------------------------------------------------------------------
    def list_refs(self, *, include_internal: bool = False) -> list[Ref]:
        with self._reading() as conn:
            found = conn.execute("SELECT name, hash, ref_type FROM branchops_refs ORDER BY name")
        return [
            Ref(name, hash_, RefType(ref_type))
            for name, hash_, ref_type in found
            if include_internal or not name.startswith(INTERNAL_PREFIX)
        ]

    def get_ref(self, name: str) -> Ref:
        with self._reading() as conn:
            row = conn.first("SELECT name, hash, ref_type FROM branchops_refs WHERE name = :name", {"name": name})
        if row is None:
            raise history.not_found(name)
        return Ref(row[0], row[1], RefType(row[2]))

    def ref_updated_at(self, name: str) -> str:
        with self._reading() as conn:
            row = conn.first("SELECT updated_at FROM branchops_refs WHERE name = :name", {"name": name})
        if row is None:
            raise history.not_found(name)
        return str(row[0])

    def _create_ref(self, name: str, from_ref: str, ref_type: RefType) -> Ref:
        validate_ref_name(name, allow_internal=True)
        with self._writing() as conn:
            src_name, src_commit = split_ref(from_ref)
            if conn.first("SELECT name FROM branchops_refs WHERE name = :name", {"name": name}):
                raise RefAlreadyExists(
                    f"ref {name!r} already exists", unchanged=f"{name} is as it was",
                    hint=f"pick another name, or `branchops branch drop {name}` first",
                )
            if src_commit is None and src_name is not None:
                _, head = self._head(conn, src_name, lock=True)
            else:
                head = self._resolve(conn, from_ref)
            ts = now()
            try:
                with conn.savepoint():
                    conn.insert(refs_t.name, [
                        {"name": name, "ref_type": ref_type.value, "hash": head, "created_at": ts, "updated_at": ts}
                    ])
            except IntegrityError:  # created by a concurrent transaction since the check above
                raise RefAlreadyExists(
                    f"ref {name!r} already exists", unchanged=f"{name} is as it was",
                    hint=f"pick another name, or `branchops branch drop {name}` first",
                ) from None
            # The new ref is its head commit: nothing more to write unless it is published.
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.jdbc_refs):
                self._publish(conn, name, head, src_name)
        return Ref(name, head, ref_type)

    def _publish(self, conn: Connection, name: str, head: str, source: str | None = None) -> None:
        """Write ``name``'s Iceberg JDBC rows; a published ``source`` at the same head is copied
        inside the database instead of rebuilt."""
        if source is not None and is_published(conn, source) and self._head(conn, source)[1] == head:
            publish(conn, name, {})
            copy_rows(conn, source, name)
        else:
            publish(conn, name, tables_at(conn, head))

    # -- Iceberg JDBC readers -----------------------------------------------------------------
    def publish_jdbc(self, ref: str) -> None:
        """Give ``ref`` rows in Iceberg JDBC's ``iceberg_tables`` (``catalog_name`` = ``ref``), so
        an engine with an Iceberg JDBC catalog reads it, and keep them in step with every write
        from now on. Costs one row per table once; calling it again rewrites them.

        Raises:
            RefNotFound.
        """
        with self._writing() as conn:
            _, head = self._head(conn, ref, lock=True)
            self._publish(conn, ref, head)

    def unpublish_jdbc(self, ref: str) -> None:
        """Remove ``ref``'s Iceberg JDBC rows (the ref itself is unchanged). Raises RefNotFound."""
        with self._writing() as conn:
            self._head(conn, ref, lock=True)
            unpublish(conn, ref)

    def jdbc_published(self) -> list[str]:
        """The refs whose Iceberg JDBC rows are kept in step, sorted."""
        with self._reading() as conn:
            return published(conn)

    def _create_branch(self, name: str, from_ref: str | None) -> Ref:
        return self._create_ref(name, from_ref or self.default_branch, RefType.BRANCH)

    def create_tag(self, name: str, from_ref: str) -> Ref:
        return self._create_ref(name, from_ref, RefType.TAG)

    def _drop_ref(self, name: str, expected_hash: str | None) -> None:
        with self._writing() as conn:
            _, head = self._head(conn, name, lock=True)
            if expected_hash is not None and head != expected_hash:
                raise ReferenceConflict(name, expected_hash, head, unchanged=f"{name} was not dropped")
            conn.execute("DELETE FROM branchops_refs WHERE name = :name", {"name": name})
            unpublish(conn, name)

    # -- content --------------------------------------------------------------------------
    def resolve(self, ref: str) -> str:
        with self._reading() as conn:
            return self._resolve(conn, ref)

    def tables(self, ref: str) -> dict[str, str]:
        with self._reading() as conn:
            return self._content(conn, ref)

    def commit(
        self,
        ref: str,
        changes: Mapping[str, str | None],
        message: str,
        *,
        properties: Mapping[str, str] | None = None,
        expected_hash: str | None = None,
        author: str | None = None,
    ) -> Commit:
        with self._writing() as conn:
            ref_type, head = self._head(conn, ref, lock=True)
            if ref_type is RefType.TAG:
                raise UsageError(f"{ref!r} is a tag; commits go to branches", unchanged=f"{ref} is as it was")
            if expected_hash is not None and expected_hash != head:
                raise ReferenceConflict(ref, expected_hash, head)
            pos = position(conn, head)
            current = tables_at(conn, head, only=changes, pos=pos)
            return self._write_commit(conn, ref, head, current, changes, message, properties, author, parent_pos=pos)

    # -- history --------------------------------------------------------------------------
    def log(self, ref: str, limit: int | None = None) -> list[Commit]:
        with self._reading() as conn:
            return history.log(conn, self._resolve(conn, ref), limit)

    def get_commit(self, hash_: str) -> Commit:
        with self._reading() as conn:
            return history.get_commit(conn, hash_)

    def merge_base(self, a: str, b: str) -> str:
        with self._reading() as conn:
            return history.merge_base(conn, self._resolve(conn, a), self._resolve(conn, b))

    def merge(
        self,
        source: str,
        target: str,
        *,
        expected_target_hash: str | None = None,
        message: str | None = None,
        properties: Mapping[str, str] | None = None,
        dry_run: bool = False,
        squash: bool = False,
        author: str | None = None,
    ) -> MergeResult:
        src_name, _ = split_ref(source)
        with self._writing() as conn:
            self._lock(conn, [target] + ([src_name] if src_name else []))
            t_type, t_head = self._head(conn, target)
            if t_type is RefType.TAG:
                raise UsageError(f"{target!r} is a tag; merge into a branch", unchanged=f"{target} is as it was")
            if expected_target_hash is not None and expected_target_hash != t_head:
                raise ReferenceConflict(target, expected_target_hash, t_head)
            s_head = self._resolve(conn, source)
            base = history.merge_base(conn, s_head, t_head)
            if base == s_head:  # nothing on source that target lacks
                return MergeResult(source, target, None if dry_run else t_head, (), base, dry_run=dry_run,
                                   previous_hash=t_head)
            current = tables_at(conn, t_head)
            src_tables = self._content(conn, source)
            if base == t_head and not squash:
                moved = pointer_diff(current, src_tables)
                merged = tuple(c.table for c in moved)
                if dry_run:
                    return MergeResult(source, target, None, merged, base, True, True, t_head)
                if is_published(conn, target):
                    set_rows(conn, target, {c.table: c.after for c in moved}, current)
                conn.execute("UPDATE branchops_refs SET hash = :hash, updated_at = :ts WHERE name = :name",
                             {"hash": s_head, "ts": now(), "name": target})
                return MergeResult(source, target, s_head, merged, base, True, False, t_head)
            plan = three_way(tables_at(conn, base), src_tables, current)
            if plan.conflicts:
                raise MergeConflict(source, target, plan.conflicts)
            merged = tuple(sorted(plan.changes))
            if dry_run:
                return MergeResult(source, target, None, merged, base, False, True, t_head)
            commit = self._write_commit(
                conn, target, t_head, current, plan.changes, message or f"merge {source} into {target}",
                properties, author, merge_parent=None if squash else s_head,
            )
            return MergeResult(source, target, commit.hash, merged, base, False, False, t_head)

    def _reset(self, ref: str, to: str, *, message: str | None, author: str | None) -> Commit:
        with self._writing() as conn:
            ref_type, head = self._head(conn, ref, lock=True)
            if ref_type is RefType.TAG:
                raise UsageError(f"{ref!r} is a tag; reset a branch", unchanged=f"{ref} is as it was")
            goal_hash = self._resolve(conn, to)
            goal = tables_at(conn, goal_hash)
            current = tables_at(conn, head)
            changes: dict[str, str | None] = {c.table: c.after for c in pointer_diff(current, goal)}
            return self._write_commit(
                conn, ref, head, current, changes, message or f"reset {ref} to {goal_hash[:12]}",
                {"branchops.reset_to": goal_hash, "branchops.reset_from": head}, author,
            )

    # -- housekeeping (gc) ----------------------------------------------------------------
    def metadata_locations_since(self, cutoff: str) -> set[str]:
        """Pointers every commit made at or after ``cutoff`` can see (a superset, never fewer);
        see :func:`~branchops.catalog.sql.history.metadata_locations_since`."""
        with self._reading() as conn:
            return history.metadata_locations_since(conn, cutoff)
