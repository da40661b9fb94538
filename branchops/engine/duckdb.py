"""DuckDB with its Iceberg extension, loaded offline from the pinned PyPI wheels.

Each ref is an attached in-memory database (``ref_<name>``) whose schemas hold one view per
table over ``iceberg_scan(<metadata location>)``: reading a branch reads exactly the files its
pointers name, and nothing is copied.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import duckdb

from branchops.catalog.base import validate_table_id
from branchops.engine.base import Engine
from branchops.errors import ConfigError, TableNotFound
from branchops.sql_text import quote, sql_string

if TYPE_CHECKING:
    import pyarrow as pa

    from branchops.catalog.base import VersionedCatalog


def extension_path(name: str) -> Path:
    """The ``.duckdb_extension`` file shipped inside the ``duckdb-extension-<name>`` wheel."""
    pkg = f"duckdb_extension_{name}"
    try:
        root = Path(str(resources.files(pkg)))
    except ModuleNotFoundError:
        raise ConfigError(
            f"the DuckDB {name} extension is not installed",
            hint=f"pip install duckdb-extension-{name}=={duckdb.__version__}",
        ) from None
    found = sorted(root.glob(f"extensions/*/{name}.duckdb_extension"))
    if not found:
        raise ConfigError(f"no {name}.duckdb_extension inside {root}", hint=f"reinstall duckdb-extension-{name}")
    return found[-1]


def load_iceberg(con: duckdb.DuckDBPyConnection) -> None:
    for name in ("avro", "iceberg"):
        con.execute(f"LOAD '{extension_path(name)}'")


class DuckDBEngine(Engine):
    DIALECT: ClassVar[str] = "duckdb"
    READS_ANY_METADATA: ClassVar[bool] = True
    READS_DATA_FILES: ClassVar[bool] = True
    FAST_KEYED_DIFF: ClassVar[bool] = True

    def __init__(
        self, catalog: VersionedCatalog, *, database: str = ":memory:", threads: int | None = None,
        lazy_extensions: bool = False,
    ) -> None:
        super().__init__(catalog)
        self.con = duckdb.connect(database)
        self._iceberg_loaded = False
        if not lazy_extensions:  # lazy: load the Iceberg extension only when a ref is first attached
            self.load_extensions()
        self.con.execute(f"SET threads = {int(threads or os.cpu_count() or 1)}")
        self._attached: dict[str, dict[str, str]] = {}

    def load_extensions(self) -> None:
        """Load the Iceberg extension (once); ``read_parquet`` (``scan_files``) works without it."""
        if not self._iceberg_loaded:
            load_iceberg(self.con)
            self._iceberg_loaded = True

    @staticmethod
    def alias(ref: str) -> str:
        clean = re.sub(r"[^a-z0-9_]", "_", ref.lower())[:40]
        return f"ref_{clean}_{hashlib.sha1(ref.encode()).hexdigest()[:6]}"

    def attach(self, ref: str) -> str:
        """Expose every table of ``ref`` as ``<alias>.<ns>.<table>``; returns the alias."""
        self.load_extensions()
        alias = self.alias(ref)
        tables = self.catalog.tables(ref)
        if self._attached.get(ref) == tables:
            return alias
        if ref in self._attached:
            self.con.execute(f"DETACH {quote(alias)}")
        self.con.execute(f"ATTACH ':memory:' AS {quote(alias)}")
        for ns in sorted({validate_table_id(t)[0] for t in tables}):
            self.con.execute(f"CREATE SCHEMA {quote(alias)}.{quote(ns)}")
        for table, location in tables.items():
            ns, name = validate_table_id(table)
            self.con.execute(
                f"CREATE VIEW {quote(alias)}.{quote(ns)}.{quote(name)} AS "
                f"SELECT * FROM iceberg_scan({sql_string(location)})"
            )
        self._attached[ref] = tables
        return alias

    def relation(self, ref: str, table: str) -> str:
        alias = self.attach(ref)
        if table not in self._attached[ref]:
            raise TableNotFound.on_ref(table, ref)
        ns, name = validate_table_id(table)
        return f"{quote(alias)}.{quote(ns)}.{quote(name)}"

    def query_arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        return self.con.execute(sql, params or []).to_arrow_table()

    def scan_files(self, paths: Sequence[str]) -> str:
        files = ", ".join(sql_string(p.removeprefix("file://")) for p in paths)
        return f"read_parquet([{files}], union_by_name = true)"

    def materialize(self, name: str, sql: str) -> str:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS {sql}")
        return quote(name)

    def drop_materialized(self, name: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {quote(name)}")

    def query_ref(self, ref: str, sql: str) -> pa.Table:
        """Run ``sql`` with ``ref``'s tables as the default catalog (``select * from raw.orders``)."""
        self.con.execute(f"USE {quote(self.attach(ref))}")
        try:
            return self.con.execute(sql).to_arrow_table()
        finally:
            self.con.execute("USE memory")

    def query_ref_readonly(self, ref: str, sql: str) -> pa.Table:
        """:meth:`query_ref`, with DuckDB's own guards up: after the ref's views are set up, file
        access is limited to the ref's table folders (``allowed_directories``), external access
        (other files, extensions, attaching databases) is switched off and the configuration is
        locked, for the rest of this connection's life. Classify the statement first
        (:mod:`branchops.sql_guard`): a COPY into a table folder is not stopped here.
        """
        alias = self.attach(ref)
        folders = {self.catalog.warehouse.removeprefix("file://").rstrip("/") + "/"}
        for location in self._attached[ref].values():
            folders.add(location.removeprefix("file://").rsplit("/metadata/", 1)[0] + "/")
        self.con.execute(f"USE {quote(alias)}")
        self.con.execute("SET allowed_directories = ?", [sorted(folders)])
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")
        return self.con.execute(sql).to_arrow_table()

    def memory_limit_bytes(self) -> int | None:
        """DuckDB's ``memory_limit`` (it reports it as text, e.g. ``953.6 MiB``)."""
        row = self.con.execute("SELECT current_setting('memory_limit')").fetchone()
        return parse_size(str(row[0])) if row else None

    def close(self) -> None:
        self.con.close()


_UNITS = {"bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int | None:
    """Bytes of a size as DuckDB writes one (``953.6 MiB``, ``1GB``, ``0 bytes``); None if unreadable."""
    import re

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*", text)
    unit = _UNITS.get(m.group(2).lower()) if m else None
    return None if m is None or unit is None else int(float(m.group(1)) * unit)
