"""The Apache Iceberg REST catalog operations over a :class:`VersionedCatalog`, without HTTP.

Every operation takes what the request named (prefix ref, namespace, table, JSON body) and
returns ``(status, body)``; failures raise :class:`RestError` in the Iceberg error model.
The Iceberg work — schemas, requirement checks, metadata files — is pyiceberg's, through
:class:`BranchIcebergCatalog`: a table commit is one commit of the versioned catalog on the
branch it names. Protected refs are read-only here: production is written only through
branchops' write-audit-publish.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError
from pyiceberg.catalog.rest import CreateTableRequest, RegisterTableRequest, TableResponse
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.io import load_file_io
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionSpec
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER, SortOrder
from pyiceberg.table.update import TableRequirement, TableUpdate
from pyiceberg.typedef import IcebergBaseModel

from branchops.catalog.base import RefType, split_ref
from branchops.catalog.iceberg import BranchIcebergCatalog
from branchops.errors import BranchopsError, ProtectedRef, RefNotFound, TableNotFound, UsageError
from branchops.rest.naming import Namespace, RestError, TableName, bad_request, encode_prefix
from branchops.secrets import redact

if TYPE_CHECKING:
    from branchops.catalog.base import VersionedCatalog

log = logging.getLogger("branchops.rest")

Body = dict[str, Any] | None
Answer = tuple[int, "Body | str"]

#: what ``/v1/config`` advertises; clients (Iceberg Java, pyiceberg) skip what is not listed (views)
ENDPOINTS = (
    "GET /v1/{prefix}/namespaces", "POST /v1/{prefix}/namespaces", "GET /v1/{prefix}/namespaces/{namespace}",
    "HEAD /v1/{prefix}/namespaces/{namespace}", "DELETE /v1/{prefix}/namespaces/{namespace}",
    "POST /v1/{prefix}/namespaces/{namespace}/properties", "GET /v1/{prefix}/namespaces/{namespace}/tables",
    "POST /v1/{prefix}/namespaces/{namespace}/tables", "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/register", "POST /v1/{prefix}/tables/rename",
)


class _CreateTableRequest(CreateTableRequest):
    """The spec's CreateTableRequest: only ``name`` and ``schema`` are required (pyiceberg's
    model wants ``location`` and the specs present, which Iceberg Java clients omit)."""

    location: str | None = Field(default=None)
    partition_spec: PartitionSpec | None = Field(alias="partition-spec", default=None)
    write_order: SortOrder | None = Field(alias="write-order", default=None)


class _RegisterTableRequest(RegisterTableRequest):
    """The spec's RegisterTableRequest: ``overwrite`` is optional (default false)."""

    overwrite: bool = False


class _CommitRequest(IcebergBaseModel):
    requirements: tuple[TableRequirement, ...] = Field(default_factory=tuple)
    updates: tuple[TableUpdate, ...] = Field(default_factory=tuple)


class _CreateNamespaceRequest(IcebergBaseModel):
    namespace: list[str]
    properties: dict[str, str] = Field(default_factory=dict)


class _RenameRequest(IcebergBaseModel):
    source: dict[str, Any]
    destination: dict[str, Any]


def _parse(model: type[IcebergBaseModel], body: Body) -> Any:
    if body is None:
        raise bad_request(f"the request needs a JSON body ({model.__name__.lstrip('_')})")
    try:
        return model.model_validate(body)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()[:5])
        raise bad_request(f"malformed {model.__name__.lstrip('_')}: {problems}") from None


@contextlib.contextmanager
def iceberg_errors(what: str) -> Iterator[None]:
    """pyiceberg's and branchops' exceptions as Iceberg REST errors (messages redacted)."""
    try:
        yield
    except RestError:
        raise
    except NoSuchTableError as e:
        raise RestError(404, "NoSuchTableException", redact(str(e))) from None
    except NoSuchNamespaceError as e:
        raise RestError(404, "NoSuchNamespaceException", redact(str(e))) from None
    except TableAlreadyExistsError as e:
        raise RestError(409, "AlreadyExistsException", redact(str(e))) from None
    except NamespaceNotEmptyError as e:
        raise RestError(409, "NamespaceNotEmptyException", redact(str(e))) from None
    except CommitFailedException as e:
        raise RestError(409, "CommitFailedException", redact(f"{what}: {e}; nothing was written")) from None
    except ProtectedRef as e:
        raise RestError(403, "ForbiddenException", redact(e.message)) from None
    except TableNotFound as e:
        raise RestError(404, "NoSuchTableException", redact(e.message)) from None
    except RefNotFound as e:
        raise RestError(404, "NoSuchNamespaceException", redact(e.message)) from None
    except (UsageError, ValueError) as e:
        raise bad_request(redact(f"{what}: {e}")) from None
    except BranchopsError as e:
        raise RestError(500, "ServiceFailureException", redact(f"{what}: {e.message}")) from None


class RestCatalogService:
    """The REST catalog over ``versioned``; thread-safe (one instance serves every request)."""

    def __init__(self, versioned: VersionedCatalog, *, default_ref: str | None = None) -> None:
        self.versioned = versioned
        self.default_ref = default_ref or versioned.default_branch
        # Namespaces are implicit in a versioned catalog (one exists while it holds a table);
        # an empty one created through this endpoint is remembered until the server stops.
        self._created: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    # -- helpers --------------------------------------------------------------------------
    def _tables(self, ref: str, shown_as: str, *, for_table: bool = False) -> dict[str, str]:
        """The tables on ``ref``; an unknown ref is "namespace not found" (for a table
        request "table not found": what Trino and pyiceberg show as such), naming the branch."""
        try:
            return self.versioned.tables(ref)
        except RefNotFound:
            raise RestError(
                404, "NoSuchTableException" if for_table else "NoSuchNamespaceException",
                f"no branch {ref!r} (named by {shown_as!r}): create it with `branchops branch create {ref}`",
            ) from None

    def _writable(self, ref: str, shown_as: str) -> None:
        name, commit = split_ref(ref)
        if commit is not None or name is None:
            raise RestError(403, "ForbiddenException", f"{shown_as!r} names a commit ({ref}): commits are read-only")
        if name in self.versioned.protected:
            raise RestError(
                403, "ForbiddenException",
                f"{name!r} is protected: it is written only through branchops' write-audit-publish "
                f"(`branchops ingest`, `branchops dbt build --branch {name}`, or merging a branch); "
                "write to a branch instead, e.g. schema 'analytics@my-branch'",
            )
        try:
            ref_type = self.versioned.get_ref(name).type
        except RefNotFound:
            self._tables(name, shown_as, for_table=True)  # raises the 404
            raise
        if ref_type is RefType.TAG:
            raise RestError(403, "ForbiddenException", f"{name!r} is a tag: tags are read-only")

    def _catalog(self, ref: str, message: str) -> BranchIcebergCatalog:
        return BranchIcebergCatalog(self.versioned, ref, message=message, table_level_conflicts=True)

    def _namespace_exists(self, ns: Namespace, tables: dict[str, str]) -> bool:
        if (ns.ref, ns.name) in self._created:
            return True
        return any(t.rpartition(".")[0] == ns.name for t in tables)

    def _require_namespace(self, ns: Namespace) -> dict[str, str]:
        tables = self._tables(ns.ref, ns.as_sent)
        if not self._namespace_exists(ns, tables):
            raise RestError(404, "NoSuchNamespaceException", f"Namespace does not exist: {ns.name}")
        return tables

    def _table_response(self, catalog: BranchIcebergCatalog, name: TableName) -> str:
        with iceberg_errors(f"loading {name.as_sent}"):
            table = catalog.load_table(name.table_id)
        return TableResponse(metadata_location=table.metadata_location, metadata=table.metadata,  # type: ignore[call-arg]
                             config={}).model_dump_json()

    # -- config and namespaces --------------------------------------------------------------
    def config(self, warehouse: str | None) -> Answer:
        overrides: dict[str, str] = {}
        if warehouse:
            ref = warehouse
            self._tables(ref, f"warehouse {warehouse}")
            overrides["prefix"] = encode_prefix(ref)
        return 200, {"defaults": {}, "overrides": overrides, "endpoints": list(ENDPOINTS)}

    def list_namespaces(self, ref: str | None, parent: str | None) -> Answer:
        ref = ref or self.default_ref
        if parent:
            ns = Namespace.parse(parent, ref)
            self._require_namespace(ns)
            return 200, {"namespaces": []}  # one level: no namespace has children
        tables = self._tables(ref, ref)
        names = {t.rpartition(".")[0] for t in tables} | {n for r, n in self._created if r == ref}
        return 200, {"namespaces": [[n] for n in sorted(names)]}

    def create_namespace(self, ref: str | None, body: Body) -> Answer:
        req = _parse(_CreateNamespaceRequest, body)
        ns = Namespace.parse(req.namespace, ref or self.default_ref)
        tables = self._tables(ns.ref, ns.as_sent)
        with self._lock:
            if self._namespace_exists(ns, tables):
                raise RestError(409, "AlreadyExistsException", f"Namespace already exists: {ns.name} (on {ns.ref})")
            self._created.add((ns.ref, ns.name))
        return 200, {"namespace": [ns.as_sent], "properties": self._namespace_properties(ns)}

    def _namespace_properties(self, ns: Namespace) -> dict[str, str]:
        # Trino places a new table under the namespace's location (a unique folder per table:
        # iceberg.unique-table-location, on by default); without one it creates the table
        # through the catalog just to learn a location, and then refuses it as non-empty.
        return {"location": f"{self.versioned.warehouse}/{ns.name}"}

    def load_namespace(self, ref: str | None, raw: str) -> Answer:
        ns = Namespace.parse(raw, ref or self.default_ref)
        self._require_namespace(ns)
        return 200, {"namespace": [ns.as_sent], "properties": self._namespace_properties(ns)}

    def drop_namespace(self, ref: str | None, raw: str) -> Answer:
        ns = Namespace.parse(raw, ref or self.default_ref)
        tables = self._require_namespace(ns)
        if any(t.rpartition(".")[0] == ns.name for t in tables):
            raise RestError(409, "NamespaceNotEmptyException",
                            f"Namespace is not empty: {ns.name} holds tables on {ns.ref}")
        with self._lock:
            self._created.discard((ns.ref, ns.name))
        return 204, None

    def update_namespace_properties(self, ref: str | None, raw: str, body: Body) -> Answer:
        ns = Namespace.parse(raw, ref or self.default_ref)
        self._require_namespace(ns)
        if body is None or not isinstance(body, dict):
            raise bad_request("the request needs a JSON body (UpdateNamespacePropertiesRequest)")
        missing = list(body.get("removals") or [])
        if body.get("updates"):
            raise bad_request("branchops stores no namespace properties; send no updates")
        return 200, {"updated": [], "removed": [], "missing": missing}

    # -- tables -----------------------------------------------------------------------------
    def list_tables(self, ref: str | None, raw: str) -> Answer:
        ns = Namespace.parse(raw, ref or self.default_ref)
        tables = self._require_namespace(ns)
        names = sorted(t.rpartition(".")[2] for t in tables if t.rpartition(".")[0] == ns.name)
        return 200, {"identifiers": [{"namespace": [ns.as_sent], "name": n} for n in names]}

    def load_table(self, ref: str | None, raw_ns: str, raw_table: str) -> Answer:
        name = TableName.parse(Namespace.parse(raw_ns, ref or self.default_ref), raw_table)
        location = self._tables(name.ref, name.namespace.as_sent, for_table=True).get(name.table_id)
        if location is None:
            raise RestError(404, "NoSuchTableException", f"Table does not exist: {name.table_id} (on {name.ref})")
        # The metadata file is the response's "metadata", as written: no parse, no re-serialization
        # (the slowest part of a load otherwise).
        with iceberg_errors(f"loading {name.as_sent}"):
            raw = self._read_metadata(location)
        return 200, '{"metadata-location": ' + json.dumps(location) + ', "metadata": ' + raw + ', "config": {}}'

    def _read_metadata(self, location: str) -> str:
        io = load_file_io(properties=self.versioned.io_properties, location=location)
        with io.new_input(location).open() as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":  # a gzip-compressed metadata file (write.metadata.compression-codec)
            data = gzip.decompress(data)
        return data.decode()

    def table_exists(self, ref: str | None, raw_ns: str, raw_table: str) -> Answer:
        name = TableName.parse(Namespace.parse(raw_ns, ref or self.default_ref), raw_table)
        if name.table_id not in self._tables(name.ref, name.namespace.as_sent, for_table=True):
            raise RestError(404, "NoSuchTableException", f"Table does not exist: {name.table_id} (on {name.ref})")
        return 204, None

    def create_table(self, ref: str | None, raw_ns: str, body: Body) -> Answer:
        ns = Namespace.parse(raw_ns, ref or self.default_ref)
        req: _CreateTableRequest = _parse(_CreateTableRequest, body)
        name = TableName.parse(ns, req.name)
        log.debug("create %s on %s (stage-create=%s, location=%s) %s", name.table_id, name.ref, req.stage_create,
                  req.location, sorted(body or {}))
        self._writable(name.ref, ns.as_sent)
        self._require_namespace(name.namespace)
        catalog = self._catalog(name.ref, f"create {name.table_id} (REST)")
        args = (req.location, req.partition_spec or UNPARTITIONED_PARTITION_SPEC,
                req.write_order or UNSORTED_SORT_ORDER, {"gc.enabled": "false", **req.properties})
        if name.table_id in self.versioned.tables(name.ref):
            raise RestError(409, "AlreadyExistsException", f"Table already exists: {name.table_id} (on {name.ref})")
        with iceberg_errors(f"creating {name.table_id} on {name.ref}"):
            if req.stage_create:  # the client commits the table later (create transaction)
                staged = catalog._create_staged_table(name.table_id, req.table_schema, *args)
                return 200, TableResponse(metadata_location=None, metadata=staged.metadata,  # type: ignore[call-arg]
                                          config={}).model_dump_json()
            catalog.create_table(name.table_id, req.table_schema, *args)
        return 200, self._table_response(catalog, name)

    def commit_table(self, ref: str | None, raw_ns: str, raw_table: str, body: Body) -> Answer:
        name = TableName.parse(Namespace.parse(raw_ns, ref or self.default_ref), raw_table)
        req: _CommitRequest = _parse(_CommitRequest, body)
        self._writable(name.ref, name.namespace.as_sent)  # a missing ref is a 404 here
        catalog = self._catalog(name.ref, f"commit {name.table_id} (REST)")
        # a missing table (without assert-create) is commit_updates' NoSuchTableError: a 404
        with iceberg_errors(f"committing {name.table_id} on {name.ref}"):
            res = catalog.commit_updates(name.table_id, req.requirements, req.updates)
        return 200, res.model_dump_json()

    def drop_table(self, ref: str | None, raw_ns: str, raw_table: str) -> Answer:
        name = TableName.parse(Namespace.parse(raw_ns, ref or self.default_ref), raw_table)
        self._writable(name.ref, name.namespace.as_sent)
        self._tables(name.ref, name.namespace.as_sent, for_table=True)
        with iceberg_errors(f"dropping {name.table_id} on {name.ref}"):
            self._catalog(name.ref, f"drop {name.table_id} (REST)").drop_table(name.table_id)
        return 204, None

    def register_table(self, ref: str | None, raw_ns: str, body: Body) -> Answer:
        ns = Namespace.parse(raw_ns, ref or self.default_ref)
        req: _RegisterTableRequest = _parse(_RegisterTableRequest, body)
        name = TableName.parse(ns, req.name)
        self._writable(name.ref, ns.as_sent)
        tables = self._require_namespace(name.namespace)
        if not req.overwrite and name.table_id in tables:
            raise RestError(409, "AlreadyExistsException", f"Table already exists: {name.table_id} (on {name.ref})")
        catalog = self._catalog(name.ref, f"register {name.table_id} (REST)")
        with iceberg_errors(f"registering {name.table_id} on {name.ref}"):
            catalog.register_table(name.table_id, req.metadata_location, req.overwrite)
        return 200, self._table_response(catalog, name)

    def rename_table(self, ref: str | None, body: Body) -> Answer:
        req: _RenameRequest = _parse(_RenameRequest, body)
        default = ref or self.default_ref
        try:
            src = TableName.parse(Namespace.parse(req.source["namespace"], default), str(req.source["name"]))
            dst = TableName.parse(Namespace.parse(req.destination["namespace"], default), str(req.destination["name"]))
        except (KeyError, TypeError):
            raise bad_request("source and destination need a namespace and a name") from None
        if src.ref != dst.ref:
            raise bad_request(f"a rename stays on one branch ({src.ref} -> {dst.ref}): merge branches instead")
        self._writable(src.ref, src.namespace.as_sent)
        tables = self._require_namespace(dst.namespace)
        if src.table_id not in tables:
            raise RestError(404, "NoSuchTableException", f"Table does not exist: {src.table_id} (on {src.ref})")
        if dst.table_id in tables:
            raise RestError(409, "AlreadyExistsException", f"Table already exists: {dst.table_id} (on {dst.ref})")
        with iceberg_errors(f"renaming {src.table_id} on {src.ref}"):
            self._catalog(src.ref, f"rename {src.table_id} to {dst.table_id} (REST)").rename_table(
                src.table_id, dst.table_id)
        return 204, None

    def list_views(self, ref: str | None, raw_ns: str) -> Answer:
        self._require_namespace(Namespace.parse(raw_ns, ref or self.default_ref))
        return 200, {"identifiers": []}


def dumps(body: Body | str) -> bytes:
    if body is None:
        return b""
    return (body if isinstance(body, str) else json.dumps(body)).encode()
