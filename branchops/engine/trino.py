"""Trino (or Starburst) over the branches of a Nessie catalog: one dynamic catalog per branch.

Trino's Iceberg connector can read and write a Nessie catalog at one named ref. For every branch
branchops touches it creates, on first use, a catalog of its own (``CREATE CATALOG ... USING
iceberg`` with ``iceberg.nessie-catalog.ref=<branch>``; the server needs
``catalog.management=dynamic``), so ``main`` and ``pr-42`` are two catalogs over the same
files, and ``relation("pr-42", "raw.orders")`` is ``"b_pr_42_<hash>"."raw"."orders"``. Writes
through such a catalog (dbt-trino, ``CREATE TABLE AS``) are Nessie commits on that branch.
:meth:`TrinoEngine.drop_catalog` forgets the catalog when its branch is dropped.

With ``trino_catalogs = "static"`` (Starburst Galaxy, ``catalog.management=static``) branchops
creates no catalog: one preconfigured Iceberg REST catalog (``trino_catalog``, served by
``branchops serve``) reaches every branch through the schema, so ``relation("pr-42",
"raw.orders")`` is ``"lake"."raw@pr-42"."orders"`` (see :mod:`branchops.rest.naming`).

Catalog names are a pure function of the ref and the catalog's non-secret settings (Nessie URI,
warehouse, S3 endpoint and key id), so two processes (a CLI run, then dbt) agree on them, two
lakehouses sharing one Trino do not clash, and changed settings never reuse a stale catalog.

Credentials (the Trino password or JWT, S3 keys) never appear in what branchops prints: every
error text passes through :func:`branchops.secrets.redact`. The S3 keys branchops passes to
``CREATE CATALOG`` are visible to Trino administrators in the query history; in production
give Trino its own S3 access (instance role / IRSA) and set no keys (see docs/production.md).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from branchops.catalog.base import split_ref, validate_table_id
from branchops.engine.base import Engine
from branchops.engine.trino_settings import (
    AuthMethod,
    TrinoConnectionInfo,
    branch_schema,
    catalog_name,
    dbt_profile_output,
    iceberg_catalog_properties,
    is_static,
    lakehouse_scope,
    qualify_for_branch,
)
from branchops.errors import BackendError, BranchopsError, TableNotFound, UsageError
from branchops.secrets import redact
from branchops.sql_text import quote, sql_string

if TYPE_CHECKING:
    from trino.dbapi import Connection

    from branchops.catalog.base import VersionedCatalog
    from branchops.config import Settings

__all__ = [
    "SCRATCH_CATALOG",
    "AuthMethod",
    "TrinoConnectionInfo",
    "TrinoEngine",
    "arrow_type",
    "backend_error",
    "catalog_name",
    "dbt_profile_output",
    "iceberg_catalog_properties",
    "lakehouse_scope",
    "root_cause",
    "rows_to_arrow",
]

#: memory-connector catalog for session scratch tables (see TrinoEngine.materialize)
SCRATCH_CATALOG = "branchops_scratch"
_ACCESS_DENIED = re.compile(r"access ?denied|status code: 403|\b403\b|forbidden|InvalidAccessKeyId", re.IGNORECASE)

_SCALAR_TYPES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(), "tinyint": pa.int8(), "smallint": pa.int16(), "integer": pa.int32(),
    "bigint": pa.int64(), "real": pa.float32(), "double": pa.float64(), "varchar": pa.string(),
    "char": pa.string(), "varbinary": pa.binary(), "date": pa.date32(), "uuid": pa.string(),
    "json": pa.string(), "time": pa.time64("us"),
}
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


def arrow_type(trino_type: str) -> pa.DataType | None:
    """The Arrow type of a Trino column type; None where Arrow should infer (arrays, maps, rows)."""
    t = trino_type.lower().strip()
    m = _DECIMAL.match(t)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    if t.startswith("timestamp"):
        return pa.timestamp("us", tz="UTC" if "with time zone" in t else None)
    if t.startswith("time"):
        return pa.time64("us")
    return _SCALAR_TYPES.get(t.split("(", 1)[0])


def rows_to_arrow(description: list[Any] | None, rows: list[list[Any]]) -> pa.Table:
    if not description:
        return pa.table({})
    columns: dict[str, pa.Array] = {}
    for i, col in enumerate(description):
        values = [row[i] for row in rows]
        typ = arrow_type(str(col[1]))
        name = str(col[0])
        while name in columns:  # duplicate output names (SELECT a.id, b.id)
            name += "_"
        columns[name] = pa.array(values, type=typ) if typ is not None else pa.array(values)
    return pa.table(columns)


def root_cause(failure_info: object) -> str | None:
    """The innermost exception message of a Trino failure (e.g. S3's "Access Denied ...")."""
    message: str | None = None
    seen = 0
    node = failure_info
    while isinstance(node, dict) and seen < 20:
        if node.get("message"):
            message = str(node["message"])
        node, seen = node.get("cause"), seen + 1
    if message and len(message) > 300:
        message = message[:300] + "..."
    return message


def backend_error(e: Exception, *, what: str, unchanged: str | None = None) -> BranchopsError:
    """A Trino client exception as a BranchopsError whose text holds no secret."""
    from trino.exceptions import TrinoAuthError, TrinoQueryError

    if isinstance(e, TrinoQueryError):
        detail = f"{e.error_name}: {e.message}"
        cause = root_cause(e.failure_info)
        if cause and cause not in detail:
            detail += f" (cause: {cause})"
        if _ACCESS_DENIED.search(detail):
            hint = ("check that Trino's S3 credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the server's own "
                    "role) may read and write the warehouse bucket")
        elif e.error_type == "USER_ERROR":
            hint = "fix the SQL (or the model) and run again"
        else:
            hint = "see the query in Trino's web UI for the full failure, and retry"
        return BackendError(redact(f"Trino: {what} failed: {detail}"), unchanged=unchanged, hint=hint)
    if isinstance(e, TrinoAuthError):
        return BackendError(redact(f"Trino refused the login for {what}: {e}"), unchanged=unchanged,
                            hint="check trino_user and BRANCHOPS_TRINO_PASSWORD / BRANCHOPS_TRINO_JWT")
    return BackendError(redact(f"Trino: {what} failed: {type(e).__name__}: {e}"), unchanged=unchanged,
                        hint="check trino_uri and that the Trino server is up, then retry")


class TrinoEngine(Engine):
    DIALECT: ClassVar[str] = "trino"
    HOLDS_REF_RESOURCES: ClassVar[bool] = True
    READS_ANY_METADATA: ClassVar[bool] = False
    READS_DATA_FILES: ClassVar[bool] = False
    READS_TABLE_FILES: ClassVar[bool] = True  # the Iceberg connector plans only splits of files "$path" names
    ONE_QUERY_KEYED_DIFF: ClassVar[bool] = True  # memory-connector scratch tables cost a statement each
    BUILDS_DBT_IN_ENGINE: ClassVar[bool] = True  # dbt-trino writes into the write fork's catalog

    def __init__(
        self, catalog: VersionedCatalog, settings: Settings, *,
        extra_catalog_properties: Mapping[str, str] | None = None, scratch_catalog: str = SCRATCH_CATALOG,
    ) -> None:
        super().__init__(catalog)
        self.settings = settings
        self.info = TrinoConnectionInfo.from_settings(settings)
        self.extra_catalog_properties = dict(extra_catalog_properties or {})
        #: static: one preconfigured catalog (``trino_catalog``) reaches every branch by schema
        self.static = is_static(settings)
        self.scope = "" if self.static else lakehouse_scope(settings)
        self._conn: Connection | None = None
        self._catalogs: set[str] = set()
        self.scratch_catalog = scratch_catalog
        self._scratch_schema: str | None = None
        self._materialized: set[str] = set()
        if not self.static:
            iceberg_catalog_properties(settings, settings.main_branch)  # fail early on a bad config

    # -- connection ---------------------------------------------------------------------
    @property
    def conn(self) -> Connection:
        if self._conn is None:
            self._conn = self.info.connect()
        return self._conn

    def execute(self, sql: str, params: list[Any] | None = None, *, what: str = "a query",
                unchanged: str | None = None, conn: Connection | None = None,
                ) -> tuple[list[Any] | None, list[list[Any]]]:
        """Run one statement; returns (description, rows). Raises BackendError, secrets redacted."""
        import requests
        from trino.exceptions import Error, HttpError

        cur = (conn or self.conn).cursor()
        try:
            cur.execute(sql, params) if params else cur.execute(sql)
            rows = cur.fetchall()
            return cur.description, rows
        except (Error, HttpError, requests.RequestException) as e:
            raise backend_error(e, what=what, unchanged=unchanged) from None
        finally:
            cur.close()

    def query_arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        description, rows = self.execute(sql, params, what="a query", unchanged="nothing was written")
        return rows_to_arrow(description, rows)

    def query_ref(self, ref: str, sql: str) -> pa.Table:
        """Run ``sql`` with ``ref``'s catalog as the session catalog (``select * from raw.orders``)."""
        catalog, schema = self.ensure_catalog(ref), self.settings.target_schema
        if self.static:  # the session's tables are the branch's: name it in every schema
            name = split_ref(ref)[0] or ref
            sql, schema = qualify_for_branch(sql, name, schema), branch_schema(schema, name)
        conn = self.info.connect(catalog=catalog, schema=schema)
        try:
            description, rows = self.execute(sql, what=f"a query on {ref}", unchanged="nothing was written",
                                             conn=conn)
        finally:
            conn.close()  # type: ignore[no-untyped-call]
        return rows_to_arrow(description, rows)

    # -- one catalog per branch ---------------------------------------------------------
    def catalog_name(self, ref: str) -> str:
        return self.settings.trino_catalog if self.static else catalog_name(ref, scope=self.scope)

    def catalog_properties(self, ref: str) -> dict[str, str]:
        return iceberg_catalog_properties(self.settings, ref, extra=self.extra_catalog_properties)

    def existing_catalogs(self) -> set[str]:
        _, rows = self.execute("SELECT catalog_name FROM system.metadata.catalogs", what="listing catalogs")
        return {str(r[0]) for r in rows}

    def ensure_catalog(self, ref: str) -> str:
        """Create the Trino catalog of branch ``ref`` unless it is there; returns its name.

        Raises:
            UsageError: ``ref`` names a commit (``main@abc``), which Trino cannot attach.
            RefNotFound: no such ref.
            BackendError: Trino refused (e.g. ``catalog.management`` is not ``dynamic``).
        """
        name, commit = split_ref(ref)
        if commit is not None or name is None:
            raise UsageError(
                f"the Trino engine reads branches, not commits ({ref!r})",
                hint="diff or query a branch; for a past state, create a branch at that commit first",
            )
        self.catalog.get_ref(name)
        catalog = self.catalog_name(name)
        if catalog in self._catalogs:
            return catalog
        if self.static:
            if catalog not in self.existing_catalogs():
                raise BackendError(
                    f"Trino has no catalog {catalog!r} (trino_catalogs = 'static')",
                    unchanged="nothing was written",
                    hint=(f"configure it once in Trino (etc/catalog/{catalog}.properties: connector.name=iceberg, "
                          "iceberg.catalog.type=rest, iceberg.rest-catalog.uri=<`branchops serve` address>), "
                          "or set trino_catalog to the name it has"),
                )
            self._catalogs.add(catalog)
            return catalog
        if catalog not in self.existing_catalogs():
            props = ", ".join(f"{quote(k)} = {sql_string(v)}" for k, v in self.catalog_properties(name).items())
            try:
                self.execute(f"CREATE CATALOG {quote(catalog)} USING iceberg WITH ({props})",
                             what=f"creating the Trino catalog of {name}", unchanged="no catalog was created")
            except BackendError as e:
                if "already exists" not in e.message:  # created by a concurrent process meanwhile
                    raise
        self._catalogs.add(catalog)
        return catalog

    def forget_ref(self, ref: str) -> None:
        self.drop_catalog(ref)

    def drop_catalog(self, ref: str) -> None:
        """Forget the Trino catalog of branch ``ref`` (call it when the branch is dropped)."""
        if self.static:  # the one catalog serves every branch; nothing per branch to drop
            return
        name = split_ref(ref)[0] or ref
        catalog = self.catalog_name(name)
        self.execute(f"DROP CATALOG IF EXISTS {quote(catalog)}", what=f"dropping the Trino catalog of {name}")
        self._catalogs.discard(catalog)

    def relation(self, ref: str, table: str) -> str:
        ns, name = validate_table_id(table)
        catalog = self.ensure_catalog(ref)
        if table not in self.catalog.tables(ref):
            raise TableNotFound.on_ref(table, ref)
        schema = branch_schema(ns, split_ref(ref)[0] or ref) if self.static else ns
        return f"{quote(catalog)}.{quote(schema)}.{quote(name)}"

    def scan_table_files(self, ref: str, table: str, paths: Sequence[str]) -> str:
        files = ", ".join(sql_string(p) for p in sorted(paths))
        return f'(SELECT * FROM {self.relation(ref, table)} WHERE "$path" IN ({files}))'

    # -- session scratch tables (small intermediate results, e.g. the diff's residue) -------
    def _scratch(self) -> str:
        """``"<scratch catalog>"."<schema of this engine>"``, created on first use.

        The scratch catalog is a memory-connector catalog (created dynamically, shared by every
        branchops process on the cluster); each engine has its own schema, dropped on close.
        """
        if self._scratch_schema is None:
            if self.scratch_catalog not in self.existing_catalogs():
                try:
                    self.execute(
                        f"CREATE CATALOG {quote(self.scratch_catalog)} USING memory "
                        "WITH (\"memory.max-data-per-node\" = '256MB')",
                        what="creating the scratch catalog (Trino's memory connector)",
                        unchanged="no catalog was created",
                    )
                except BackendError as e:
                    if "already exists" not in e.message:
                        e.hint = ("branchops keeps small intermediate results (the diff's changed rows) in a "
                                  "memory-connector catalog: install Trino's memory plugin, or pass "
                                  "scratch_catalog= an existing writable catalog")
                        raise
            schema = f"s_{uuid.uuid4().hex[:16]}"
            self.execute(f"CREATE SCHEMA {quote(self.scratch_catalog)}.{quote(schema)}",
                         what="creating a scratch schema")
            self._scratch_schema = schema
        return f"{quote(self.scratch_catalog)}.{quote(self._scratch_schema)}"

    def materialize(self, name: str, sql: str) -> str:
        rel = f"{self._scratch()}.{quote(name)}"
        self.execute(f"DROP TABLE IF EXISTS {rel}", what="replacing a scratch table")
        self.execute(f"CREATE TABLE {rel} AS {sql}", what="a query", unchanged="nothing was written")
        self._materialized.add(name)
        return rel

    def drop_materialized(self, name: str) -> None:
        if self._scratch_schema is not None and name in self._materialized:
            self.execute(f"DROP TABLE IF EXISTS {self._scratch()}.{quote(name)}", what="dropping a scratch table")
            self._materialized.discard(name)

    def _drop_scratch(self) -> None:
        if self._scratch_schema is None:
            return
        for name in sorted(self._materialized):
            self.drop_materialized(name)
        self.execute(f"DROP SCHEMA IF EXISTS {self._scratch()}", what="dropping a scratch schema")
        self._scratch_schema = None

    def __enter__(self) -> TrinoEngine:
        return self

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(BranchopsError):  # the server may be gone; memory is freed then
                self._drop_scratch()
            self._conn.close()  # type: ignore[no-untyped-call]
            self._conn = None
