"""A pyiceberg ``Catalog`` that reads and writes one ref of a :class:`VersionedCatalog`.

pyiceberg does the Iceberg work (schemas, manifests, snapshots, metadata files); every table
commit it makes becomes one commit of the versioned catalog on that ref. Namespaces are implicit:
a namespace exists on a ref while a table lives in it. Views are not supported (dbt views are
published as tables).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from pyiceberg.catalog import MetastoreCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.io import load_file_io
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionSpec
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import CommitTableResponse, Table, TableProperties
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER, SortOrder
from pyiceberg.typedef import EMPTY_DICT, Identifier, Properties

from branchops.catalog.names import NO_ANCESTOR
from branchops.errors import ReferenceConflict, TableNotFound
from branchops.security.storage import branch_root, with_branch_paths

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import PropertiesUpdateSummary
    from pyiceberg.schema import Schema
    from pyiceberg.table.update import TableRequirement, TableUpdate
    from pyiceberg.view import View

    from branchops.catalog.base import VersionedCatalog


def _table_id(identifier: str | Identifier) -> str:
    return identifier if isinstance(identifier, str) else ".".join(identifier)


class BranchIcebergCatalog(MetastoreCatalog):
    """pyiceberg's view of one ref. Writes need ``ref`` to be a branch name.

    New files go under the folder of ``files_for`` (default ``ref``; a write-audit-publish fork
    passes the ref it publishes to): see :mod:`branchops.security.storage`.
    """

    COMMIT_ATTEMPTS = 10

    def __init__(
        self, versioned: VersionedCatalog, ref: str, *, message: str = "pyiceberg commit", files_for: str | None = None,
        table_level_conflicts: bool = False,
    ) -> None:
        super().__init__(ref, **versioned.io_properties, warehouse=versioned.warehouse)
        self.versioned = versioned
        self.ref = ref
        self.message = message
        self.files_root = branch_root(versioned.warehouse, files_for or ref, versioned.protected)
        self.table_level_conflicts = table_level_conflicts

    # -- reading ------------------------------------------------------------------------
    def _table_from(self, table: str, location: str, *, for_writes: bool = True, scans: bool = True) -> Table:
        """The table at ``location``; ``for_writes``: its new files go under this ref's folder
        (in memory only: what a commit stores is computed from ``for_writes=False``); ``scans``
        False: its ``FileIO`` reads local metadata without pyarrow (``local_io``), for a reader
        that plans from metadata and does not scan through pyiceberg."""
        if scans:
            io = load_file_io(properties=self.properties, location=location)
        else:
            from branchops.catalog.local_io import metadata_read_io

            io = metadata_read_io(self.properties, location)
        metadata = FromInputFile.table_metadata(io.new_input(location))
        if for_writes and self.files_root is not None and not metadata.location.startswith(self.files_root + "/"):
            metadata = with_branch_paths(metadata, self.files_root, table)
        ident = tuple(table.split("."))
        return Table(ident, metadata=metadata, metadata_location=location, io=io, catalog=self)

    def load_table(self, identifier: str | Identifier, *, scans: bool = True) -> Table:
        table = _table_id(identifier)
        location = self.versioned.tables(self.ref).get(table)
        if location is None:
            raise NoSuchTableError(f"no table {table} on {self.ref}")
        return self._table_from(table, location, scans=scans)

    def list_tables(self, namespace: str | Identifier) -> list[Identifier]:
        ns = _table_id(namespace)
        out = []
        for t in self.versioned.tables(self.ref):
            tns, _, name = t.rpartition(".")
            if tns == ns:
                out.append((*tns.split("."), name))
        return sorted(out)

    def list_namespaces(self, namespace: str | Identifier = ()) -> list[Identifier]:
        prefix = tuple(namespace.split(".")) if isinstance(namespace, str) and namespace else tuple(namespace)
        found = set()
        for t in self.versioned.tables(self.ref):
            ns = tuple(t.split(".")[:-1])
            if ns[: len(prefix)] == prefix and len(ns) > len(prefix):
                found.add(ns[: len(prefix) + 1])
        return sorted(found)

    def load_namespace_properties(self, namespace: str | Identifier) -> Properties:
        return {}

    # -- writing ------------------------------------------------------------------------
    def _commit_pointer(self, changes: dict[str, str | None], expected_hash: str) -> None:
        """One commit of ``changes`` on the ref, expected at ``expected_hash``.

        With ``table_level_conflicts`` (the REST endpoint: many writers of one branch), a ref that
        moved only by commits to *other* tables is no conflict: the same pointer change is
        committed on the new head (Nessie's rule for keys). Otherwise CommitFailedException.
        """
        before: dict[str, str] | None = None
        for _ in range(self.COMMIT_ATTEMPTS):
            try:
                self.versioned.commit(self.ref, changes, self.message, expected_hash=expected_hash)
                return
            except ReferenceConflict as e:
                if not self.table_level_conflicts:
                    raise CommitFailedException(f"{self.ref} moved during the commit: {e.message}") from e
                if before is None:  # the state the caller's change was made against
                    before = self._tables_at(expected_hash)
                head = self.versioned.resolve(self.ref)
                now = self._tables_at(head)
                moved = sorted(t for t in changes if now.get(t) != before.get(t))
                if moved:
                    raise CommitFailedException(f"{', '.join(moved)} changed on {self.ref} meanwhile") from e
                expected_hash = head
        raise CommitFailedException(f"{self.ref} kept moving; retry the commit")

    def _tables_at(self, hash_: str) -> dict[str, str]:
        return {} if hash_ == NO_ANCESTOR else self.versioned.tables(f"@{hash_}")

    def _get_default_warehouse_location(self, database_name: str, table_name: str) -> str:
        # A unique folder per created table: two branches that create the same table name
        # never share files, so dropping one side can never delete the other's data.
        root = self.files_root or self.versioned.warehouse
        return f"{root}/{database_name}/{table_name}-{uuid.uuid4().hex[:12]}"

    def create_table(
        self,
        identifier: str | Identifier,
        schema: Schema | pa.Schema,
        location: str | None = None,
        partition_spec: PartitionSpec = UNPARTITIONED_PARTITION_SPEC,
        sort_order: SortOrder = UNSORTED_SORT_ORDER,
        properties: Properties = EMPTY_DICT,
    ) -> Table:
        table = _table_id(identifier)
        head = self.versioned.resolve(self.ref)
        if table in self.versioned.tables(self.ref):
            raise TableAlreadyExistsError(f"table {table} already exists on {self.ref}")
        # Other branches share this table's files: engines must leave deleting them to `branchops gc`.
        properties = {"gc.enabled": "false", **properties}
        staged = self._create_staged_table(identifier, schema, location, partition_spec, sort_order, properties)
        self._write_metadata(staged.metadata, staged.io, staged.metadata_location)
        self._commit_pointer({table: staged.metadata_location}, head)
        return self._table_from(table, staged.metadata_location)

    def commit_table(
        self, table: Table, requirements: tuple[TableRequirement, ...], updates: tuple[TableUpdate, ...]
    ) -> CommitTableResponse:
        return self.commit_updates(_table_id(table.name()), requirements, updates)

    def commit_updates(
        self, name: str, requirements: tuple[TableRequirement, ...], updates: tuple[TableUpdate, ...]
    ) -> CommitTableResponse:
        """Check ``requirements`` against table ``name`` on the ref (absent: a create), apply
        ``updates`` and commit the new metadata as one commit of the ref.

        Raises:
            NoSuchTableError: no table ``name`` on the ref, and the requirements do not assert a create.
            CommitFailedException: a requirement failed or the ref moved; nothing was written.
        """
        head = self.versioned.resolve(self.ref)
        location = self._tables_at(head).get(name)  # the table as of the head the commit expects
        if location is None and not any(r.type == "assert-create" for r in requirements):
            raise NoSuchTableError(f"Table does not exist: {name} (on {self.ref})")
        current = self._table_from(name, location, for_writes=False) if location else None
        staged = self._update_and_stage_table(current, tuple(name.split(".")), requirements, updates)
        if current is not None and staged.metadata == current.metadata:
            return CommitTableResponse(metadata=current.metadata, metadata_location=current.metadata_location)  # type: ignore[call-arg]
        metadata_location, kept = staged.metadata_location, staged.metadata
        if self.files_root is not None and not staged.metadata.location.startswith(self.files_root + "/"):
            # the new metadata file goes under this ref's folder too, and so do the caller's next writes
            kept = with_branch_paths(staged.metadata, self.files_root, name)
            file_name = metadata_location.rsplit("/", 1)[1]
            metadata_location = f"{kept.properties[TableProperties.WRITE_METADATA_PATH]}/{file_name}"
        self._write_metadata(staged.metadata, staged.io, metadata_location)
        self._commit_pointer({name: metadata_location}, head)
        return CommitTableResponse(metadata=kept, metadata_location=metadata_location)  # type: ignore[call-arg]

    def register_table(self, identifier: str | Identifier, metadata_location: str, overwrite: bool = False) -> Table:
        table = _table_id(identifier)
        head = self.versioned.resolve(self.ref)
        if not overwrite and table in self.versioned.tables(self.ref):
            raise TableAlreadyExistsError(f"table {table} already exists on {self.ref}")
        self._commit_pointer({table: metadata_location}, head)
        return self._table_from(table, metadata_location)

    def drop_table(self, identifier: str | Identifier) -> None:
        table = _table_id(identifier)
        head = self.versioned.resolve(self.ref)
        if table not in self.versioned.tables(self.ref):
            raise NoSuchTableError(f"no table {table} on {self.ref}")
        self._commit_pointer({table: None}, head)

    def rename_table(self, from_identifier: str | Identifier, to_identifier: str | Identifier) -> Table:
        src, dst = _table_id(from_identifier), _table_id(to_identifier)
        head = self.versioned.resolve(self.ref)
        tables = self.versioned.tables(self.ref)
        if src not in tables:
            raise NoSuchTableError(f"no table {src} on {self.ref}")
        if dst in tables:
            raise TableAlreadyExistsError(f"table {dst} already exists on {self.ref}")
        self._commit_pointer({src: None, dst: tables[src]}, head)
        return self._table_from(dst, tables[src])

    # -- namespaces are implicit ----------------------------------------------------------
    def create_namespace(self, namespace: str | Identifier, properties: Properties = EMPTY_DICT) -> None:
        return None

    def drop_namespace(self, namespace: str | Identifier) -> None:
        if self.list_tables(namespace):
            raise NamespaceNotEmptyError(f"namespace {_table_id(namespace)} holds tables on {self.ref}")

    def update_namespace_properties(
        self, namespace: str | Identifier, removals: set[str] | None = None, updates: Properties = EMPTY_DICT
    ) -> PropertiesUpdateSummary:
        raise NoSuchNamespaceError("namespace properties are not stored by branchops")

    # -- views: not supported -------------------------------------------------------------
    def list_views(self, namespace: str | Identifier) -> list[Identifier]:
        return []

    def view_exists(self, identifier: str | Identifier) -> bool:
        return False

    def drop_view(self, identifier: str | Identifier) -> None:
        raise NotImplementedError("branchops does not store views")

    def load_view(self, identifier: str | Identifier) -> View:
        raise NotImplementedError("branchops does not store views")

    def register_view(self, identifier: str | Identifier, metadata_location: str) -> View:
        raise NotImplementedError("branchops does not store views")


def load_table_or_raise(versioned: VersionedCatalog, ref: str, table: str, *, scans: bool = True) -> Table:
    try:
        return BranchIcebergCatalog(versioned, ref).load_table(table, scans=scans)
    except NoSuchTableError as e:
        raise TableNotFound.on_ref(table, ref) from e
