"""The production versioned catalog: a Nessie server (REST API v2).

A table ``ns.table`` is the Nessie content key ``["ns", "table"]`` holding an ``IcebergTable``
whose ``metadataLocation`` is the table's pointer; the snapshot, schema, spec and sort-order ids
Nessie also stores are read from that metadata file with pyiceberg. Namespaces are implicit for
branchops but Nessie wants them as content, so a commit that adds the first table of a namespace
also adds the namespace.

Semantics follow the embedded backend (``catalog/sql.py``). Merges are planned here with the
same three-way rule (:func:`three_way`), so conflicts and merged tables are identical on both
backends; Nessie then applies the plan in one merge commit (``FORCE`` for the tables to take,
``DROP`` for the rest), fast-forwards by a compare-and-swap assign, or — for ``squash``, and when
Nessie refuses (its merge base ignores the next case's commits) — writes one single-parent commit.
A merge written that way names its merge parent in the ``branchops.merged_from`` property, which
is read back as a parent (:mod:`~branchops.catalog.nessie.models`), so merge bases, logs and
later merges see the same history as on the SQL backends.

This module holds the backend class (refs, commits, merges, resets); reading history (short
hashes, commit changes, merge bases, the sides of a merge) is :mod:`~branchops.catalog.nessie.history`, talking to the
server :class:`~branchops.catalog.nessie.client.NessieClient`.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

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
from branchops.catalog.nessie import history
from branchops.catalog.nessie.client import (
    ICEBERG_TABLE,
    MERGED_FROM,
    NAMESPACE,
    BackendConflict,
    Content,
    ContentKey,
    LogEntry,
    MergeBehavior,
    NessieClient,
    Operation,
    content_location,
    key_str,
    merge_conflict,
)
from branchops.errors import ConfigError, ReferenceConflict, RefNotFound, TableNotFound, UsageError

if TYPE_CHECKING:
    import httpx

    from branchops.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
#: A write whose base moved under it (tables touched by someone else) is retried this often.
COMMIT_ATTEMPTS = 12


class NessieVersionedCatalog(VersionedCatalog):
    """The Nessie backend (see module docstring)."""

    def __init__(self, uri: str, *, token: str | None = None, client: httpx.Client | None = None,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.api = NessieClient(uri, token=token, client=client)

    @classmethod
    def from_settings(cls, settings: Settings) -> NessieVersionedCatalog:
        if not settings.nessie_uri:
            raise ConfigError(
                "backend 'nessie' needs nessie_uri",
                hint="set nessie_uri in branchops.toml (e.g. http://nessie:19120/api/v2)",
            )
        token = settings.nessie_token.get_secret_value() if settings.nessie_token else None
        return cls(settings.nessie_uri, token=token, **settings.catalog_kwargs())

    def close(self) -> None:
        self.api.close()

    # -- resolving ref specs ------------------------------------------------------------------
    def _read(self, spec: str, fn: Callable[[str | None, str | None], T]) -> T:
        """Call ``fn(name, hash)`` for a spec: ``name``, ``name@hash``, ``@hash`` or a bare hash."""
        name, commit = split_ref(spec)
        if commit is None:
            assert name is not None
            try:
                return fn(name, None)
            except (RefNotFound, UsageError):  # Nessie refuses names like "9ab1..." outright
                if history.looks_like_hash(name):
                    return fn(None, history.full_hash(self.api, name))
                raise
        if name is not None:
            self.api.get_reference(name)
        return fn(None, history.full_hash(self.api, commit))

    def resolve(self, ref: str) -> str:
        def head(name: str | None, hash_: str | None) -> str:
            return hash_ if hash_ else self.api.get_reference(str(name)).hash

        return self._read(ref, head)

    def _branch(self, name: str, verb: str) -> str:
        ref = self.get_ref(name)
        if ref.type is RefType.TAG:
            raise UsageError(f"{name!r} is a tag; {verb} a branch", unchanged=f"{name} is as it was")
        return ref.hash

    # -- refs ---------------------------------------------------------------------------------
    def list_refs(self, *, include_internal: bool = False) -> list[Ref]:
        refs = [Ref(r.name, r.hash, RefType(r.type.lower())) for r in self.api.list_references()]
        return sorted((r for r in refs if include_internal or not r.name.startswith(INTERNAL_PREFIX)),
                      key=lambda r: r.name)

    def get_ref(self, name: str) -> Ref:
        if "@" in name or "~" in name or "^" in name:
            raise RefNotFound(f"no ref {name!r}", unchanged="nothing was changed")
        r = self.api.get_reference(name)
        return Ref(r.name, r.hash, RefType(r.type.lower()))

    def _create(self, name: str, from_ref: str, kind: RefType) -> Ref:
        validate_ref_name(name, allow_internal=True)
        source = self.resolve(from_ref)
        r = self.api.create_reference(name, "TAG" if kind is RefType.TAG else "BRANCH", None, source)
        return Ref(r.name, r.hash, kind)

    def _create_branch(self, name: str, from_ref: str | None) -> Ref:
        return self._create(name, from_ref or self.default_branch, RefType.BRANCH)

    def create_tag(self, name: str, from_ref: str) -> Ref:
        return self._create(name, from_ref, RefType.TAG)

    def _drop_ref(self, name: str, expected_hash: str | None) -> None:
        ref = self.get_ref(name)
        if expected_hash is not None and expected_hash != ref.hash:
            raise ReferenceConflict(name, expected_hash, ref.hash, unchanged=f"{name} was not dropped")
        self.api.delete_reference(name, expected_hash or ref.hash, "TAG" if ref.type is RefType.TAG else "BRANCH")

    # -- content ------------------------------------------------------------------------------
    def tables(self, ref: str) -> dict[str, str]:
        return self._read(ref, lambda name, hash_: history.tables_at(self.api, name, hash_))

    def diff(self, from_ref: str, to_ref: str) -> list[TableChange]:
        a, b = self.resolve(from_ref), self.resolve(to_ref)
        if a == b:
            return []
        sides = history.moved(self.api, a, b)
        return pointer_diff({t: x for t, (x, _) in sides.items() if x is not None},
                            {t: y for t, (_, y) in sides.items() if y is not None})

    def _iceberg_content(self, location: str, content_id: str | None) -> Content:
        """Nessie's IcebergTable for a metadata file: ids read from the file where it can be read."""
        ids = {"snapshotId": -1, "schemaId": 0, "specId": 0, "sortOrderId": 0}
        try:
            from pyiceberg.io import load_file_io
            from pyiceberg.serializers import FromInputFile

            with warnings.catch_warnings():  # an unknown scheme warns before it fails: the except below says it
                warnings.simplefilter("ignore")
                io = load_file_io(properties=self.io_properties, location=location)
            md = FromInputFile.table_metadata(io.new_input(location))
            snap = md.current_snapshot_id
            ids = {"snapshotId": -1 if snap is None else snap, "schemaId": md.current_schema_id,
                   "specId": md.default_spec_id, "sortOrderId": md.default_sort_order_id}
        except (OSError, ValueError) as e:  # a pointer whose file is not (yet) readable
            log.debug("cannot read %s for its ids (%s); storing defaults", location, type(e).__name__)
        content: Content = {"type": ICEBERG_TABLE, "metadataLocation": location, **ids}
        if content_id:
            content["id"] = content_id
        return content

    def _current(self, head: str, changes: Mapping[str, str | None]) -> dict[ContentKey, Content]:
        """The contents on ``head`` of the changed tables and of the namespaces they live in."""
        keys: set[ContentKey] = set()
        for table in changes:
            key = tuple(table.split("."))
            keys.update(key[:i] for i in range(1, len(key) + 1))
        return {} if head == NO_ANCESTOR else self.api.contents(None, head, sorted(keys))

    def _operations(
        self, ref: str, found: Mapping[ContentKey, Content], changes: Mapping[str, str | None]
    ) -> tuple[list[Operation], list[TableChange]]:
        current = {key_str(k): loc for k, c in found.items() if (loc := content_location(c)) is not None}
        namespaces = {k for k, c in found.items() if c.get("type") == NAMESPACE}
        ops: list[Operation] = []
        for table, loc in sorted(changes.items()):
            if loc is None and table not in current:
                raise TableNotFound(f"no table {table} on {ref} to remove", unchanged=f"{ref} was not written")
        for table, loc in sorted(changes.items()):
            key = tuple(table.split("."))
            if loc == current.get(table):
                continue
            if loc is None:
                ops.append(Operation("DELETE", key))
                continue
            existing = found.get(key)
            if existing is not None and existing.get("type") != ICEBERG_TABLE:
                raise UsageError(f"{table} is a {existing.get('type')} in Nessie, not a table",
                                 unchanged=f"{ref} was not written")
            for i in range(1, len(key)):
                if key[:i] not in namespaces:
                    ops.append(Operation("PUT", key[:i], {"type": NAMESPACE, "elements": list(key[:i])}))
                    namespaces.add(key[:i])
            content_id = existing.get("id") if existing else None
            ops.append(Operation("PUT", key, self._iceberg_content(loc, content_id)))
        after = {**current, **{t: loc for t, loc in changes.items() if loc is not None}}
        for t, loc in changes.items():
            if loc is None:
                after.pop(t, None)
        return ops, pointer_diff(current, after)

    def _write(
        self, ref: str, head: str, changes: Mapping[str, str | None], message: str, *,
        properties: Mapping[str, str] | None, author: str | None, strict: bool,
    ) -> Commit:
        """One commit of ``changes`` on ``ref`` built on ``head``.

        Nessie accepts a commit whose base is behind the branch when the keys it touches did not
        change since; when they did, a non-strict write re-reads and retries (bounded).
        """
        for table in changes:
            validate_table_id(table)
        who = author or "branchops"
        props = {str(k): str(v) for k, v in (properties or {}).items()}
        for attempt in range(COMMIT_ATTEMPTS):
            ops, moved = self._operations(ref, self._current(head, changes), changes)
            try:
                new_hash = self.api.commit(
                    ref, head, ops or [Operation("UNCHANGED", ("branchops",))],
                    message=message, author=who, properties=props,
                )
            except BackendConflict:
                if strict or attempt == COMMIT_ATTEMPTS - 1:
                    actual = self.get_ref(ref).hash
                    raise ReferenceConflict(ref, head, actual, hint="another writer changed the same tables; "
                                            "re-read and retry") from None
                time.sleep(0.02 * (attempt + 1))
                head = self._branch(ref, "write to")
                continue
            entry = next(self.api.log(None, new_hash, limit=1, operations=False))
            return Commit(new_hash, entry.parents[0] if entry.parents else head, message, who,
                          entry.commit_time, props, tuple(moved))
        raise AssertionError("unreachable")  # pragma: no cover

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
        for table in changes:
            validate_table_id(table)
        head = self._branch(ref, "commit to")
        if expected_hash is not None and expected_hash != head:
            raise ReferenceConflict(ref, expected_hash, head)
        return self._write(ref, head, changes, message, properties=properties, author=author,
                           strict=expected_hash is not None)

    # -- history ------------------------------------------------------------------------------
    def log(self, ref: str, limit: int | None = None) -> list[Commit]:
        return history.commits(self.api, self._read(ref, lambda n, h: list(self.api.log(n, h, limit=limit))))

    def get_commit(self, hash_: str) -> Commit:
        full = history.full_hash(self.api, hash_)
        return history.commits(self.api, list(self.api.log(None, full, limit=1)))[0]

    def merge_base(self, a: str, b: str) -> str:
        return history.merge_base(self.api, self.resolve(a), self.resolve(b))

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
        # Without an expected hash a target that moved mid-merge is fine: plan again against
        # its new head (as the SQL backend does under its lock). With one, it is a conflict.
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                return self._merge(source, target, expected_target_hash, message, properties, dry_run, squash,
                                   author)
            except ReferenceConflict:
                if expected_target_hash is not None or attempt == COMMIT_ATTEMPTS - 1:
                    raise
                time.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _merge(
        self, source: str, target: str, expected_target_hash: str | None, message: str | None,
        properties: Mapping[str, str] | None, dry_run: bool, squash: bool, author: str | None,
    ) -> MergeResult:
        t_head = self._branch(target, "merge into")
        if expected_target_hash is not None and expected_target_hash != t_head:
            raise ReferenceConflict(target, expected_target_hash, t_head)
        s_head, pages = self._head_and_page(source)
        # Our own merge base (over every parent), the one merge_base() reports and the SQL backend
        # uses: Nessie's may be older after merges, or missing when a side has no commits.
        if NO_ANCESTOR in (s_head, t_head):
            base = NO_ANCESTOR
        else:
            base = s_head if s_head == t_head else history.merge_base(self.api, t_head, s_head, pages)
        if base == s_head:  # nothing on source that target lacks
            return MergeResult(source, target, None if dry_run else t_head, (), base, dry_run=dry_run,
                               previous_hash=t_head)
        if base == t_head and not squash:
            merged = tuple(sorted(history.moved(self.api, t_head, s_head)))
            if dry_run:
                return MergeResult(source, target, None, merged, base, True, True, t_head)
            self.api.assign_reference(target, t_head, "BRANCH", s_head)
            return MergeResult(source, target, s_head, merged, base, True, False, t_head)
        plan = three_way(*history.merge_sides(self.api, base, s_head, t_head))
        if plan.conflicts:
            raise merge_conflict(source, target, [tuple(t.split(".")) for t in plan.conflicts])
        merged = tuple(sorted(plan.changes))
        if dry_run:
            return MergeResult(source, target, None, merged, base, False, True, t_head)
        msg = message or f"merge {source} into {target}"
        # Nessie refuses to merge histories with no common ancestor. An empty plan is still a merge
        # (as on the SQL backend, and git's --no-ff): its commit records the source as a parent.
        if squash or base == NO_ANCESTOR or not merged:
            props = dict(properties or {})
            if not squash:
                props.setdefault(MERGED_FROM, s_head)
            c = self._write(target, t_head, plan.changes, msg, properties=props, author=author, strict=True)
            return MergeResult(source, target, c.hash, merged, base, False, False, t_head)
        # The plan's tables are forced, every other table keeps the target's content, so Nessie applies
        # exactly our plan (its own conflict check looks at history, not at the final pointers).
        modes: dict[ContentKey, MergeBehavior] = {tuple(t.split(".")): "FORCE" for t in plan.changes}
        try:
            resp = self.api.merge(target, t_head, None, s_head, message=msg, author=author or "branchops",
                                  properties=properties, key_modes=modes, default_mode="DROP")
        except (UsageError, RefNotFound):  # Nessie's view of the history disagrees with ours (an unused key
            resp = None                      # mode; no common ancestor, as it ignores single-parent merges)
        if resp is None or not resp.successful or not resp.target_hash:
            if self.get_ref(target).hash != t_head:  # the target moved since it was read: plan again
                raise ReferenceConflict(target, t_head, self.get_ref(target).hash)
            props = {**(properties or {}), MERGED_FROM: s_head}  # Nessie refused: our plan, one parent
            c = self._write(target, t_head, plan.changes, msg, properties=props, author=author, strict=True)
            return MergeResult(source, target, c.hash, merged, base, False, False, t_head)
        return MergeResult(source, target, resp.target_hash, merged, base, False, False, t_head)

    def _head_and_page(self, spec: str) -> tuple[str, dict[str, list[LogEntry]]]:
        """The commit ``spec`` names and, for a ref name, the first page of its history (one request
        answers both; the merge base walk starts with that page)."""
        name, commit = split_ref(spec)
        if commit is not None or name is None or history.looks_like_hash(name):
            return self.resolve(spec), {}
        entries = list(self.api.log(name, None, limit=history.LOG_PAGE, operations=False))
        return (entries[0].hash, {entries[0].hash: entries}) if entries else (NO_ANCESTOR, {})

    def _reset(self, ref: str, to: str, *, message: str | None, author: str | None) -> Commit:
        head = self._branch(ref, "reset")
        goal_hash = self.resolve(to)
        goal = {} if goal_hash == NO_ANCESTOR else self.tables(f"@{goal_hash}")
        current = self.tables(f"@{head}") if head != NO_ANCESTOR else {}
        changes: dict[str, str | None] = {c.table: c.after for c in pointer_diff(current, goal)}
        return self._write(
            ref, head, changes, message or f"reset {ref} to {goal_hash[:12]}",
            properties={"branchops.reset_to": goal_hash, "branchops.reset_from": head}, author=author, strict=True,
        )
