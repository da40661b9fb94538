"""The embedded versioned catalog: SQLite (or PostgreSQL) through SQLAlchemy.

Pointers live in pyiceberg's / Iceberg JDBC's own ``iceberg_tables`` layout with one
``catalog_name`` per ref, so any engine with an Iceberg JDBC catalog reads a branch by naming it.
branchops adds three tables: refs (name -> head commit), commits (the DAG, with messages and
properties) and changes (per commit, the pointers it moved, relative to its first parent).
``iceberg_tables`` is a mirror of each ref's head, kept in the same transaction as the ref.

Every write is one transaction: SQLite takes its write lock up front (``BEGIN IMMEDIATE``),
PostgreSQL locks the ref rows (``SELECT ... FOR UPDATE``), so concurrent writers serialize and
each commit checks the head it builds on.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from pyiceberg.catalog.sql import IcebergNamespaceProperties, IcebergTables, SqlCatalogBaseTable
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from branchops.catalog.base import (
    INTERNAL_PREFIX,
    NO_ANCESTOR,
    Commit,
    MergeResult,
    Ref,
    RefType,
    TableChange,
    VersionedCatalog,
    pointer_diff,
    split_ref,
    three_way,
    validate_ref_name,
    validate_table_id,
)
from branchops.errors import (
    MergeConflict,
    RefAlreadyExists,
    ReferenceConflict,
    RefNotFound,
    TableNotFound,
    UsageError,
)

_meta = MetaData()
refs_t = Table(
    "branchops_refs",
    _meta,
    Column("name", String(255), primary_key=True),
    Column("ref_type", String(8), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)
commits_t = Table(
    "branchops_commits",
    _meta,
    Column("hash", String(64), primary_key=True),
    Column("parent", String(64), nullable=False),
    Column("merge_parent", String(64), nullable=True),
    Column("generation", Integer, nullable=False),
    Column("ref", String(255), nullable=False),
    Column("message", Text, nullable=False),
    Column("author", String(255), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("properties", Text, nullable=False),
)
parents_t = Table(
    "branchops_parents",
    _meta,
    Column("child", String(64), primary_key=True),
    Column("parent", String(64), primary_key=True),
)
changes_t = Table(
    "branchops_changes",
    _meta,
    Column("commit_hash", String(64), primary_key=True),
    Column("table_id", String(512), primary_key=True),
    Column("old_location", String(1000), nullable=True),
    Column("new_location", String(1000), nullable=True),
)
ice_t = cast(Table, IcebergTables.__table__)
ns_t = cast(Table, IcebergNamespaceProperties.__table__)
_READ_ONLY = "branchops_read_only"  # execution option: this connection only reads
_MAX_KEYS_IN_QUERY = 500  # more table keys than this: read all rows (bind parameter limits)
_SCHEMA_LOCK_KEY = 0x6272616E63686F70  # "branchop": PostgreSQL advisory lock held while creating tables

# First-parent chain of a commit, with its distance from the start.
_CHAIN = """
WITH RECURSIVE chain(hash, depth) AS (
    SELECT c.hash, 0 FROM branchops_commits c WHERE c.hash = :start
    UNION ALL
    SELECT p.hash, chain.depth + 1
    FROM chain
    JOIN branchops_commits cur ON cur.hash = chain.hash
    JOIN branchops_commits p ON p.hash = cur.parent
)
"""
_ANCESTORS = """
WITH RECURSIVE anc(hash) AS (
    SELECT CAST(:start AS VARCHAR(64))
    UNION
    SELECT e.parent FROM branchops_parents e JOIN anc ON e.child = anc.hash
)
SELECT anc.hash, c.generation FROM anc LEFT JOIN branchops_commits c ON c.hash = anc.hash
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def make_engine(uri: str) -> Engine:
    """An SQLAlchemy engine; for SQLite one that takes the write lock at BEGIN."""
    url = make_url(uri)
    if url.get_backend_name() != "sqlite":
        return create_engine(uri, pool_pre_ping=True)
    memory = url.database in (None, "", ":memory:")
    if not memory and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        uri,
        connect_args={"timeout": 120, "check_same_thread": False},
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy issues BEGIN itself (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 120000")
        if not memory:
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front; readers do not (WAL lets them run alongside a
        # writer, each on a consistent snapshot), so reads never queue behind writes.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


def _not_found(name: str) -> RefNotFound:
    return RefNotFound(
        f"no ref or commit {name!r}",
        unchanged="nothing was changed",
        hint="`branchops branch list` shows the refs; `branchops branch log REF` their commits",
    )


class SqlVersionedCatalog(VersionedCatalog):
    """The embedded backend (see module docstring)."""

    def __init__(self, uri: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.uri = uri
        self.engine = make_engine(uri)
        self._ensure_schema()

    def _ensure_schema(self) -> None:
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Processes opening a new database at once would race in CREATE TABLE (its
                # check-then-create is not atomic): one at a time; DDL is transactional there.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            SqlCatalogBaseTable.metadata.create_all(conn)
            _meta.create_all(conn)
            if conn.execute(select(refs_t.c.name).where(refs_t.c.name == self.default_branch)).first():
                return
            try:
                with conn.begin_nested():
                    now = _now()
                    conn.execute(
                        insert(refs_t).values(
                            name=self.default_branch, ref_type="branch", hash=NO_ANCESTOR,
                            created_at=now, updated_at=now,
                        )
                    )
            except IntegrityError:
                pass  # another process created it first

    def close(self) -> None:
        self.engine.dispose()

    def _reading(self) -> Connection:
        """A connection for reads only (on SQLite its transaction takes no write lock)."""
        return self.engine.connect().execution_options(**{_READ_ONLY: True})

    # -- low-level reads ------------------------------------------------------------------
    def _head(self, conn: Connection, name: str, *, lock: bool = False) -> tuple[RefType, str]:
        q = select(refs_t.c.ref_type, refs_t.c.hash).where(refs_t.c.name == name)
        row = conn.execute(q.with_for_update() if lock else q).first()
        if row is None:
            raise _not_found(name)
        return RefType(row.ref_type), row.hash

    def _lock(self, conn: Connection, names: Iterable[str]) -> None:
        q = select(refs_t.c.name).where(refs_t.c.name.in_(sorted(set(names)))).order_by(refs_t.c.name)
        conn.execute(q.with_for_update()).all()

    def _full_hash(self, conn: Connection, prefix: str) -> str:
        if prefix == NO_ANCESTOR:
            return prefix
        if len(prefix) < 6 or not all(ch in "0123456789abcdef" for ch in prefix):
            raise _not_found(prefix)
        rows = conn.execute(
            select(commits_t.c.hash).where(commits_t.c.hash.like(prefix + "%")).limit(2)
        ).all()
        if len(rows) != 1:
            raise _not_found(prefix) if not rows else UsageError(f"commit prefix {prefix!r} is ambiguous")
        return str(rows[0].hash)

    def _resolve(self, conn: Connection, spec: str) -> str:
        name, commit = split_ref(spec)
        if commit is not None:
            if name is not None:
                self._head(conn, name)
            return self._full_hash(conn, commit)
        assert name is not None
        try:
            return self._head(conn, name)[1]
        except RefNotFound:
            if len(name) >= 6 and all(ch in "0123456789abcdef" for ch in name):
                return self._full_hash(conn, name)  # a bare commit hash
            raise

    def _rows(self, conn: Connection, ref: str, only: Iterable[str] | None = None) -> dict[str, str]:
        """``ref``'s pointer rows; with ``only``, just those tables (a commit of a few tables to a
        branch of thousands reads a few rows, not thousands)."""
        q = select(ice_t.c.table_namespace, ice_t.c.table_name, ice_t.c.metadata_location).where(
            ice_t.c.catalog_name == ref
        )
        wanted = None if only is None else set(only)
        if wanted is not None and len(wanted) <= _MAX_KEYS_IN_QUERY:
            if not wanted:
                return {}
            keys = sorted(validate_table_id(t) for t in wanted)
            q = q.where(tuple_(ice_t.c.table_namespace, ice_t.c.table_name).in_(keys))
        rows = {f"{ns}.{name}": str(location) for ns, name, location in conn.execute(q)}
        return rows if wanted is None else {t: loc for t, loc in rows.items() if t in wanted}

    def _tables_at(self, conn: Connection, commit: str) -> dict[str, str]:
        if commit == NO_ANCESTOR:
            return {}
        sql = _CHAIN + (
            "SELECT ch.table_id, ch.new_location, chain.depth FROM chain "
            "JOIN branchops_changes ch ON ch.commit_hash = chain.hash ORDER BY chain.depth DESC"
        )
        out: dict[str, str | None] = {}
        for r in conn.execute(text(sql), {"start": commit}):
            out[r.table_id] = r.new_location  # nearer commits come last and win
        return {k: v for k, v in out.items() if v is not None}

    def _content(self, conn: Connection, spec: str) -> dict[str, str]:
        name, commit = split_ref(spec)
        if commit is None and name is not None and self._is_ref(conn, name):
            return self._rows(conn, name)
        return self._tables_at(conn, self._resolve(conn, spec))

    def _is_ref(self, conn: Connection, name: str) -> bool:
        return conn.execute(select(refs_t.c.name).where(refs_t.c.name == name)).first() is not None

    def _ancestors(self, conn: Connection, commit: str) -> dict[str, int]:
        return {r.hash: (r.generation or 0) for r in conn.execute(text(_ANCESTORS), {"start": commit})}

    def _merge_base(self, conn: Connection, a: str, b: str) -> str:
        anc_a = self._ancestors(conn, a)
        if b in anc_a:
            return b
        anc_b = self._ancestors(conn, b)
        common = set(anc_a) & set(anc_b)
        if not common:
            return NO_ANCESTOR
        return max(sorted(common), key=lambda h: anc_a[h])

    # -- low-level writes -----------------------------------------------------------------
    def _set_rows(
        self, conn: Connection, ref: str, changes: Mapping[str, str | None], current: Mapping[str, str]
    ) -> None:
        """Make ``ref``'s pointer rows follow ``changes``: one batched statement per kind of
        change (a merge of 100 tables, or the fork of a 1,000-table commit, is a few round trips)."""
        deletes: list[dict[str, str]] = []
        updates: list[dict[str, str]] = []
        inserts: list[dict[str, str | None]] = []
        new_namespaces: set[str] = set()
        for table, location in changes.items():
            ns, name = validate_table_id(table)
            if location is None:
                deletes.append({"b_ns": ns, "b_name": name})
            elif table in current:
                updates.append({"b_ns": ns, "b_name": name, "b_loc": location, "b_prev": current[table]})
            else:
                inserts.append({
                    "catalog_name": ref, "table_namespace": ns, "table_name": name, "metadata_location": location,
                    "previous_metadata_location": None, "iceberg_type": "TABLE",
                })
                new_namespaces.add(ns)
        key = (
            (ice_t.c.catalog_name == ref)
            & (ice_t.c.table_namespace == bindparam("b_ns"))
            & (ice_t.c.table_name == bindparam("b_name"))
        )
        if deletes:
            conn.execute(delete(ice_t).where(key), deletes)
        if updates:
            stmt = update(ice_t).where(key).values(
                metadata_location=bindparam("b_loc"), previous_metadata_location=bindparam("b_prev")
            )
            conn.execute(stmt, updates)
        if inserts:
            conn.execute(insert(ice_t), inserts)
        if new_namespaces:
            known = select(ns_t.c.namespace).where(
                ns_t.c.catalog_name == ref, ns_t.c.namespace.in_(sorted(new_namespaces))
            )
            missing = new_namespaces - {r.namespace for r in conn.execute(known)}
            if missing:
                conn.execute(insert(ns_t), [
                    {"catalog_name": ref, "namespace": ns, "property_key": "exists", "property_value": "true"}
                    for ns in sorted(missing)
                ])

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
        ts = _now()
        props = {str(k): str(v) for k, v in (properties or {}).items()}
        who = author or "branchops"
        seed = json.dumps([parent, merge_parent, ref, message, ts, uuid.uuid4().hex, [c.to_dict() for c in moved]])
        new_hash = hashlib.sha256(seed.encode()).hexdigest()
        gens = self._generations(conn, [parent] + ([merge_parent] if merge_parent else []))
        conn.execute(
            insert(commits_t).values(
                hash=new_hash, parent=parent, merge_parent=merge_parent, generation=max(gens) + 1, ref=ref,
                message=message, author=who, created_at=ts, properties=json.dumps(props, sort_keys=True),
            )
        )
        conn.execute(insert(parents_t), [{"child": new_hash, "parent": p} for p in {parent, merge_parent} if p])
        if moved:
            conn.execute(
                insert(changes_t),
                [
                    {"commit_hash": new_hash, "table_id": c.table, "old_location": c.before, "new_location": c.after}
                    for c in moved
                ],
            )
        self._set_rows(conn, ref, {c.table: c.after for c in moved}, current)
        conn.execute(update(refs_t).where(refs_t.c.name == ref).values(hash=new_hash, updated_at=ts))
        return Commit(new_hash, parent, message, who, ts, props, tuple(moved), merge_parent)

    def _generations(self, conn: Connection, hashes: list[str]) -> list[int]:
        known = {
            r.hash: r.generation
            for r in conn.execute(select(commits_t.c.hash, commits_t.c.generation).where(commits_t.c.hash.in_(hashes)))
        }
        return [known.get(h, 0) for h in hashes]

    # -- refs -----------------------------------------------------------------------------
    def list_refs(self, *, include_internal: bool = False) -> list[Ref]:
        with self._reading() as conn:
            rows = conn.execute(select(refs_t).order_by(refs_t.c.name)).all()
        return [
            Ref(r.name, r.hash, RefType(r.ref_type))
            for r in rows
            if include_internal or not r.name.startswith(INTERNAL_PREFIX)
        ]

    def get_ref(self, name: str) -> Ref:
        with self._reading() as conn:
            row = conn.execute(select(refs_t).where(refs_t.c.name == name)).first()
        if row is None:
            raise _not_found(name)
        return Ref(row.name, row.hash, RefType(row.ref_type))

    def ref_updated_at(self, name: str) -> str:
        with self._reading() as conn:
            row = conn.execute(select(refs_t.c.updated_at).where(refs_t.c.name == name)).first()
        if row is None:
            raise _not_found(name)
        return str(row.updated_at)

    def _create_ref(self, name: str, from_ref: str, ref_type: RefType) -> Ref:
        validate_ref_name(name, allow_internal=True)
        with self.engine.begin() as conn:
            src_name, src_commit = split_ref(from_ref)
            if conn.execute(select(refs_t.c.name).where(refs_t.c.name == name)).first():
                raise RefAlreadyExists(
                    f"ref {name!r} already exists", unchanged=f"{name} is as it was",
                    hint=f"pick another name, or `branchops branch drop {name}` first",
                )
            if src_commit is None and src_name is not None:
                _, head = self._head(conn, src_name, lock=True)
                copy_rows = True
            else:
                head = self._resolve(conn, from_ref)
                # ``ref@hash`` at that ref's head (what every write-audit-publish fork asks for):
                # its rows are that commit's tables, so copy them instead of replaying history.
                copy_rows = src_name is not None and self._head(conn, src_name, lock=True)[1] == head
            now = _now()
            try:
                with conn.begin_nested():
                    conn.execute(insert(refs_t).values(
                        name=name, ref_type=ref_type.value, hash=head, created_at=now, updated_at=now
                    ))
            except IntegrityError:  # created by a concurrent transaction since the check above
                raise RefAlreadyExists(
                    f"ref {name!r} already exists", unchanged=f"{name} is as it was",
                    hint=f"pick another name, or `branchops branch drop {name}` first",
                ) from None
            if copy_rows:
                # Zero-copy fork: duplicate pointer rows inside this one transaction.
                cols = [ice_t.c.table_namespace, ice_t.c.table_name, ice_t.c.metadata_location,
                        ice_t.c.previous_metadata_location, ice_t.c.iceberg_type]
                src = select(text(":n").bindparams(n=name), *cols).where(ice_t.c.catalog_name == src_name)
                conn.execute(insert(ice_t).from_select(["catalog_name", *[c.name for c in cols]], src))
                nsrc = select(text(":n").bindparams(n=name), ns_t.c.namespace, ns_t.c.property_key,
                              ns_t.c.property_value).where(ns_t.c.catalog_name == src_name)
                conn.execute(insert(ns_t).from_select(
                    ["catalog_name", "namespace", "property_key", "property_value"], nsrc))
            else:
                self._set_rows(conn, name, dict(self._tables_at(conn, head)), {})
        return Ref(name, head, ref_type)

    def create_branch(self, name: str, from_ref: str | None = None) -> Ref:
        return self._create_ref(name, from_ref or self.default_branch, RefType.BRANCH)

    def create_tag(self, name: str, from_ref: str) -> Ref:
        return self._create_ref(name, from_ref, RefType.TAG)

    def _drop_ref(self, name: str, expected_hash: str | None) -> None:
        with self.engine.begin() as conn:
            _, head = self._head(conn, name, lock=True)
            if expected_hash is not None and head != expected_hash:
                raise ReferenceConflict(name, expected_hash, head, unchanged=f"{name} was not dropped")
            conn.execute(delete(refs_t).where(refs_t.c.name == name))
            conn.execute(delete(ice_t).where(ice_t.c.catalog_name == name))
            conn.execute(delete(ns_t).where(ns_t.c.catalog_name == name))

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
        with self.engine.begin() as conn:
            ref_type, head = self._head(conn, ref, lock=True)
            if ref_type is RefType.TAG:
                raise UsageError(f"{ref!r} is a tag; commits go to branches", unchanged=f"{ref} is as it was")
            if expected_hash is not None and expected_hash != head:
                raise ReferenceConflict(ref, expected_hash, head)
            current = self._rows(conn, ref, only=changes)
            return self._write_commit(conn, ref, head, current, changes, message, properties, author)

    # -- history --------------------------------------------------------------------------
    def _commits(self, conn: Connection, rows: Sequence[Any]) -> list[Commit]:
        hashes = [r.hash for r in rows]
        changes: dict[str, list[TableChange]] = {h: [] for h in hashes}
        if hashes:
            for c in conn.execute(select(changes_t).where(changes_t.c.commit_hash.in_(hashes))):
                old, new = c.old_location, c.new_location
                changes[c.commit_hash].append(pointer_diff({c.table_id: old} if old else {},
                                                           {c.table_id: new} if new else {})[0])
        return [
            Commit(r.hash, r.parent, r.message, r.author, r.created_at, json.loads(r.properties),
                   tuple(sorted(changes[r.hash], key=lambda c: c.table)), r.merge_parent)
            for r in rows
        ]

    def log(self, ref: str, limit: int | None = None) -> list[Commit]:
        with self._reading() as conn:
            start = self._resolve(conn, ref)
            sql = _CHAIN + "SELECT c.*, chain.depth FROM chain JOIN branchops_commits c ON c.hash = chain.hash " \
                "ORDER BY chain.depth"
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            rows = conn.execute(text(sql), {"start": start}).all()
            return self._commits(conn, rows)

    def get_commit(self, hash_: str) -> Commit:
        with self._reading() as conn:
            full = self._full_hash(conn, hash_)
            rows = conn.execute(select(commits_t).where(commits_t.c.hash == full)).all()
            if not rows:
                raise _not_found(hash_)
            return self._commits(conn, rows)[0]

    def merge_base(self, a: str, b: str) -> str:
        with self._reading() as conn:
            return self._merge_base(conn, self._resolve(conn, a), self._resolve(conn, b))

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
        with self.engine.begin() as conn:
            self._lock(conn, [target] + ([src_name] if src_name else []))
            t_type, t_head = self._head(conn, target)
            if t_type is RefType.TAG:
                raise UsageError(f"{target!r} is a tag; merge into a branch", unchanged=f"{target} is as it was")
            if expected_target_hash is not None and expected_target_hash != t_head:
                raise ReferenceConflict(target, expected_target_hash, t_head)
            s_head = self._resolve(conn, source)
            base = self._merge_base(conn, s_head, t_head)
            if base == s_head:  # nothing on source that target lacks
                return MergeResult(source, target, None if dry_run else t_head, (), base, dry_run=dry_run,
                                   previous_hash=t_head)
            current = self._rows(conn, target)
            src_tables = self._content(conn, source)
            if base == t_head and not squash:
                moved = pointer_diff(current, src_tables)
                merged = tuple(c.table for c in moved)
                if dry_run:
                    return MergeResult(source, target, None, merged, base, True, True, t_head)
                self._set_rows(conn, target, {c.table: c.after for c in moved}, current)
                conn.execute(update(refs_t).where(refs_t.c.name == target).values(hash=s_head, updated_at=_now()))
                return MergeResult(source, target, s_head, merged, base, True, False, t_head)
            plan = three_way(self._tables_at(conn, base), src_tables, current)
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

    def reset(self, ref: str, to: str, *, message: str | None = None, author: str | None = None) -> Commit:
        with self.engine.begin() as conn:
            ref_type, head = self._head(conn, ref, lock=True)
            if ref_type is RefType.TAG:
                raise UsageError(f"{ref!r} is a tag; reset a branch", unchanged=f"{ref} is as it was")
            goal_hash = self._resolve(conn, to)
            goal = self._tables_at(conn, goal_hash)
            current = self._rows(conn, ref)
            changes: dict[str, str | None] = {c.table: c.after for c in pointer_diff(current, goal)}
            return self._write_commit(
                conn, ref, head, current, changes, message or f"reset {ref} to {goal_hash[:12]}",
                {"branchops.reset_to": goal_hash, "branchops.reset_from": head}, author,
            )

    # -- housekeeping (gc) ----------------------------------------------------------------
    def metadata_locations_since(self, cutoff: str) -> set[str]:
        """Pointers every commit made at or after ``cutoff`` can see (a superset, never fewer).

        A recent commit's state is its first parent's state plus the pointers it set, so the
        union over recent commits is: every pointer a recent commit set, plus the whole state
        of each older commit a recent one builds on.
        """
        with self._reading() as conn:
            recent = conn.execute(
                select(commits_t.c.hash, commits_t.c.parent).where(commits_t.c.created_at >= cutoff)
            ).all()
            hashes = {r.hash for r in recent}
            out: set[str] = set()
            q = select(changes_t.c.new_location).join(
                commits_t, commits_t.c.hash == changes_t.c.commit_hash
            ).where(commits_t.c.created_at >= cutoff, changes_t.c.new_location.is_not(None))
            out.update(r.new_location for r in conn.execute(q))
            for parent in sorted({r.parent for r in recent if r.parent not in hashes}):
                out.update(self._tables_at(conn, parent).values())
            return out
