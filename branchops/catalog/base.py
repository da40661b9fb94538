"""The versioned catalog: git-like refs over a whole catalog of Iceberg tables (Nessie semantics).

A ref (branch or tag) points at a commit; a commit fixes, for every table of the catalog, the
location of its Iceberg metadata file. Forking a branch copies pointers, never data. Every write
is one atomic commit; a merge is three-way per table against the merge base.

Backends implement :class:`VersionedCatalog`; the contract test suite in
``tests/catalog/test_contract.py`` runs the same checks against every backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from branchops.catalog.names import INTERNAL_PREFIX as INTERNAL_PREFIX
from branchops.catalog.names import MAX_REF_LENGTH as MAX_REF_LENGTH
from branchops.catalog.names import MAX_TABLE_PART as MAX_TABLE_PART
from branchops.catalog.names import NO_ANCESTOR as NO_ANCESTOR
from branchops.catalog.names import split_ref as split_ref
from branchops.catalog.names import validate_ref_name as validate_ref_name
from branchops.catalog.names import validate_table_id as validate_table_id
from branchops.errors import ProtectedRef

if TYPE_CHECKING:
    from pyiceberg.table import Table

class RefType(StrEnum):
    BRANCH = "branch"
    TAG = "tag"


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"


@dataclass(frozen=True)
class Ref:
    name: str
    hash: str
    type: RefType = RefType.BRANCH

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "hash": self.hash, "type": self.type.value}


@dataclass(frozen=True)
class TableChange:
    """One table's pointer moving between two states of the catalog."""

    table: str
    kind: ChangeKind
    before: str | None
    after: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "kind": self.kind.value, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class Commit:
    hash: str
    parent: str
    message: str
    author: str
    timestamp: str
    properties: dict[str, str] = field(default_factory=dict)
    changes: tuple[TableChange, ...] = ()
    merge_parent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "parent": self.parent,
            "merge_parent": self.merge_parent,
            "message": self.message,
            "author": self.author,
            "timestamp": self.timestamp,
            "properties": dict(self.properties),
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass(frozen=True)
class MergeResult:
    source: str
    target: str
    hash: str | None  # the target's new hash; None on a dry run
    merged_tables: tuple[str, ...]
    base: str
    fast_forward: bool = False
    dry_run: bool = False
    previous_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "hash": self.hash,
            "merged_tables": list(self.merged_tables),
            "merge_base": self.base,
            "fast_forward": self.fast_forward,
            "dry_run": self.dry_run,
            "previous_hash": self.previous_hash,
        }


@dataclass(frozen=True)
class MergePlan:
    """What a three-way merge would write: table -> new pointer (None drops it)."""

    changes: dict[str, str | None]
    conflicts: tuple[str, ...]


def three_way(base: Mapping[str, str], source: Mapping[str, str], target: Mapping[str, str]) -> MergePlan:
    """The per-table three-way rule.

    changed only on source -> take source; only on target -> keep; on both to the same pointer
    -> nothing to do; on both to different pointers -> conflict.
    """
    changes: dict[str, str | None] = {}
    conflicts: list[str] = []
    for table in sorted(set(base) | set(source) | set(target)):
        b, s, t = base.get(table), source.get(table), target.get(table)
        if s in (t, b):
            continue
        if t == b:
            changes[table] = s
        else:
            conflicts.append(table)
    return MergePlan(changes=changes, conflicts=tuple(conflicts))


def pointer_diff(before: Mapping[str, str], after: Mapping[str, str]) -> list[TableChange]:
    out: list[TableChange] = []
    for table in sorted(set(before) | set(after)):
        b, a = before.get(table), after.get(table)
        if b == a:
            continue
        kind = ChangeKind.ADDED if b is None else ChangeKind.REMOVED if a is None else ChangeKind.MODIFIED
        out.append(TableChange(table, kind, b, a))
    return out


class VersionedCatalog(ABC):
    """A catalog of Iceberg tables with branches of the whole catalog.

    Tables are named ``"namespace.table"``; a table's content on a ref is the location of its
    current Iceberg metadata file. A ``ref`` argument may be a ref name, ``name@hash``, ``@hash``
    or a bare commit hash (or a unique prefix of at least 6 hex digits) wherever only reading
    is done.
    """

    def __init__(
        self,
        *,
        warehouse: str,
        protected: Sequence[str] = ("main",),
        io_properties: Mapping[str, str] | None = None,
        default_branch: str = "main",
    ) -> None:
        self.warehouse = warehouse.rstrip("/")
        self.protected = frozenset([protected] if isinstance(protected, str) else protected)
        self.io_properties: dict[str, str] = dict(io_properties or {})
        self.default_branch = default_branch

    # -- refs ---------------------------------------------------------------------------
    @abstractmethod
    def list_refs(self, *, include_internal: bool = False) -> list[Ref]:
        """All branches and tags, sorted by name; branchops' own WAP branches only on request."""

    @abstractmethod
    def get_ref(self, name: str) -> Ref:
        """Raises:
        RefNotFound: no ref of that name.
        """

    def create_branch(self, name: str, from_ref: str | None = None) -> Ref:
        """Fork ``name`` off ``from_ref`` (a ref, ``ref@hash`` or ``@hash``); zero-copy. A commit
        whose files gc deleted is refused (:func:`branchops.readable.require_readable`).

        Raises:
            InvalidRefName, RefAlreadyExists, RefNotFound, CheckFailed (gc collected that commit:
            nothing was created).
        """
        from branchops.readable import require_readable

        validate_ref_name(name, allow_internal=True)
        require_readable(self, from_ref or self.default_branch, action=f"create {name} from")
        return self._create_branch(name, from_ref)

    @abstractmethod
    def _create_branch(self, name: str, from_ref: str | None) -> Ref:
        """:meth:`create_branch` once ``from_ref`` is known to be readable."""

    @abstractmethod
    def create_tag(self, name: str, from_ref: str) -> Ref:
        """Raises: InvalidRefName, RefAlreadyExists, RefNotFound."""

    @abstractmethod
    def _drop_ref(self, name: str, expected_hash: str | None) -> None:
        """Remove a ref (no protection check). Raises RefNotFound, ReferenceConflict."""

    def drop_branch(self, name: str, expected_hash: str | None = None) -> None:
        """Drop a branch or tag; protected refs are refused.

        Raises:
            ProtectedRef, RefNotFound, ReferenceConflict.
        """
        if name in self.protected:
            raise ProtectedRef(
                f"{name!r} is protected and cannot be dropped",
                unchanged=f"{name} is as it was",
                hint="remove it from `protected` in branchops.toml if you really mean it",
            )
        self._drop_ref(name, expected_hash)

    # -- content ------------------------------------------------------------------------
    @abstractmethod
    def tables(self, ref: str) -> dict[str, str]:
        """``{"ns.table": metadata_location}`` for every table on ``ref``.

        Raises:
            RefNotFound.
        """

    @abstractmethod
    def resolve(self, ref: str) -> str:
        """The commit hash ``ref`` stands for. Raises RefNotFound."""

    @abstractmethod
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
        """Move the pointers of ``changes`` (None removes a table) in one atomic commit.

        Raises:
            RefNotFound, ReferenceConflict (the ref is not at ``expected_hash``), UsageError
            (the ref is a tag).
        """

    # -- history ------------------------------------------------------------------------
    @abstractmethod
    def log(self, ref: str, limit: int | None = None) -> list[Commit]:
        """Commits reachable from ``ref`` along first parents, newest first."""

    @abstractmethod
    def get_commit(self, hash_: str) -> Commit:
        """Raises RefNotFound."""

    @abstractmethod
    def merge_base(self, a: str, b: str) -> str:
        """The best common ancestor of two refs (``NO_ANCESTOR`` when they share none)."""

    def diff(self, from_ref: str, to_ref: str) -> list[TableChange]:
        """Tables whose pointer differs between two refs (no data is read)."""
        return pointer_diff(self.tables(from_ref), self.tables(to_ref))

    @abstractmethod
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
        """Three-way merge of ``source`` into branch ``target`` in one transaction.

        Fast-forwards when ``target`` has not moved since the merge base (unless ``squash``:
        then one commit with a single parent is written, which is what publishing a
        write-audit-publish branch wants). A merge whose three-way plan is empty, while the source
        has commits the target lacks, still writes a commit without table changes: it records the
        merge (later merge bases start from the source) and keeps ``properties``. A source with
        nothing new is a no-op.

        Raises:
            MergeConflict (nothing written), ReferenceConflict, RefNotFound.
        """

    def reset(self, ref: str, to: str, *, message: str | None = None, author: str | None = None) -> Commit:
        """Make ``ref``'s tables equal those of ``to`` (a hash or ref) as a new commit. A commit
        whose files gc deleted is refused (:func:`branchops.readable.require_readable`).

        Raises:
            RefNotFound, UsageError (``ref`` is a tag), CheckFailed (gc collected ``to``: nothing
            was changed).
        """
        from branchops.readable import require_readable

        self.get_ref(ref)
        require_readable(self, to, action=f"reset {ref} to")
        return self._reset(ref, to, message=message, author=author)

    @abstractmethod
    def _reset(self, ref: str, to: str, *, message: str | None, author: str | None) -> Commit:
        """:meth:`reset` once ``to`` is known to be readable."""

    # -- housekeeping (gc) ---------------------------------------------------------------
    def ref_updated_at(self, name: str) -> str:
        """When ``name`` last moved (ISO-8601, UTC); backends that track it override this.

        The default is the time of the ref's head commit. Raises RefNotFound.
        """
        head = self.get_ref(name).hash
        if head == NO_ANCESTOR:
            return "1970-01-01T00:00:00+00:00"
        return self.get_commit(head).timestamp

    def metadata_locations_since(self, cutoff: str) -> set[str]:
        """Every metadata location that some commit made at or after ``cutoff`` (ISO-8601, UTC)
        has in its table state: what `gc` must keep so that those commits stay readable.

        The default walks the log of every ref (commits of dropped refs are not seen); backends
        that keep the whole commit table override it.
        """
        out: set[str] = set()
        for ref in self.list_refs(include_internal=True):
            for c in self.log(ref.name):
                if c.timestamp < cutoff:
                    break
                out.update(self.tables(f"@{c.hash}").values())
        return out

    # -- tables -------------------------------------------------------------------------
    def load_table(self, ref: str, table: str, *, scans: bool = True) -> Table:
        """The pyiceberg ``Table`` of ``table`` as it is on ``ref`` (read-only use).

        ``scans=False``: for reading its metadata and manifests only, not ``scan()``: local files
        are then read without loading pyarrow (``catalog/local_io.py``).

        Raises:
            TableNotFound, RefNotFound.
        """
        from branchops.catalog.iceberg import load_table_or_raise

        return load_table_or_raise(self, ref, table, scans=scans)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
