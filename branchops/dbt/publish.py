"""Writing a DuckDB relation into an Iceberg table of a write session: DuckDB writes the Parquet
files (in parallel, with Iceberg field ids), pyiceberg registers them in one table commit.

Measured against the Arrow path (fetch Arrow, ``Table.append``) by bench/dbt_overhead.py on 2
shared cores: 2.5M rows 1.6 s vs 2.8 s, 10M rows 3.2-4.1 s vs 3.8-9.1 s. DuckDB encodes Parquet on
all cores and no rows pass through Python memory. Files carry Iceberg field ids, so any engine
reads them by id.
Column types Iceberg lacks are cast first (HUGEINT -> decimal(38,0), unsigned -> wider signed,
INTERVAL/UUID/JSON/ENUM -> string, ns/ms/s timestamps -> us).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pyiceberg.io import load_file_io
from pyiceberg.io.pyarrow import parquet_file_to_data_file, pyarrow_to_schema
from pyiceberg.table.locations import load_location_provider
from pyiceberg.types import ListType, MapType, NestedField, StructType

from branchops.errors import SchemaMismatch
from branchops.sql_text import quote, sql_string

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table, Transaction

    from branchops.lakehouse import WriteSession

WriteMode = Literal["replace", "append"]

_CASTS = {
    "HUGEINT": "DECIMAL(38,0)",
    "UHUGEINT": "DECIMAL(38,0)",
    "UBIGINT": "DECIMAL(20,0)",
    "UINTEGER": "BIGINT",
    "USMALLINT": "INTEGER",
    "UTINYINT": "INTEGER",
    "SMALLINT": "INTEGER",
    "TINYINT": "INTEGER",
    "TIMESTAMP_NS": "TIMESTAMP",
    "TIMESTAMP_MS": "TIMESTAMP",
    "TIMESTAMP_S": "TIMESTAMP",
    "TIME WITH TIME ZONE": "TIME",
    "INTERVAL": "VARCHAR",
    "UUID": "VARCHAR",
    "JSON": "VARCHAR",
    "BIT": "VARCHAR",
    "VARINT": "VARCHAR",
    "BIGNUM": "VARCHAR",
}


@dataclass(frozen=True)
class WrittenTable:
    table: str
    rows: int
    files: int
    mode: str  # "created", "replaced", "overwritten" (in place) or "appended"


def iceberg_select(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """``SELECT`` over ``relation`` with every column cast to a type Iceberg stores."""
    cols = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    items = []
    for name, dtype, *_ in cols:
        target = "VARCHAR" if str(dtype).startswith("ENUM(") else _CASTS.get(str(dtype))
        items.append(f"CAST({quote(name)} AS {target}) AS {quote(name)}" if target else quote(name))
    return f"SELECT {', '.join(items)} FROM {relation}"


def _field_ids(field: NestedField) -> Any:
    """DuckDB's ``FIELD_IDS`` value for one Iceberg field (nested types name their children)."""
    t = field.field_type
    if isinstance(t, StructType):
        return {"__duckdb_field_id": field.field_id, **{f.name: _field_ids(f) for f in t.fields}}
    if isinstance(t, ListType):
        return {"__duckdb_field_id": field.field_id, "element": _field_ids(t.element_field)}
    if isinstance(t, MapType):
        return {"__duckdb_field_id": field.field_id, "key": _field_ids(t.key_field),
                "value": _field_ids(t.value_field)}
    return field.field_id


def _duckdb_literal(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{quote(k)}: {_duckdb_literal(v)}" for k, v in value.items()) + "}"
    return str(int(value))


def field_ids_option(schema: Schema) -> str:
    return _duckdb_literal({f.name: _field_ids(f) for f in schema.fields})


def _same_columns(table: Table, arrow_schema: pa.Schema) -> bool:
    """Would rows of ``arrow_schema`` fit ``table`` as they are (same names, types, order)?"""
    try:
        mapped = pyarrow_to_schema(arrow_schema, name_mapping=table.schema().name_mapping)
    except (ValueError, KeyError, TypeError):
        return False
    return mapped.as_struct() == table.schema().as_struct()


def _copy_parquet(con: duckdb.DuckDBPyConnection, select: str, data_path: str, schema: Schema) -> tuple[int, list[str]]:
    """COPY the rows of ``select`` into new Parquet files under ``data_path`` (the table's data
    folder on this branch: see :mod:`branchops.security.storage`)."""
    folder = f"{data_path.rstrip('/')}/{uuid.uuid4().hex}"
    if "://" not in folder or folder.startswith("file://"):
        Path(re.sub(r"^file://", "", folder)).parent.mkdir(parents=True, exist_ok=True)
    row = con.execute(
        f"COPY ({select}) TO {sql_string(folder)} (FORMAT parquet, PER_THREAD_OUTPUT true, "
        f"FILENAME_PATTERN 'part-{{i}}', RETURN_FILES true, FIELD_IDS {field_ids_option(schema)})"
    ).fetchone()
    if row is None:  # pragma: no cover - COPY always answers one row
        return 0, []
    rows, files = int(row[0]), [str(f) for f in row[1]]
    return rows, files


def _register(txn: Transaction, io_table: Table, files: list[str], replace: bool) -> None:
    data_files = [parquet_file_to_data_file(io_table.io, txn.table_metadata, f) for f in files]
    if replace and io_table.current_snapshot() is not None:
        old = [task.file for task in io_table.scan().plan_files()]
        with txn.update_snapshot().overwrite() as ow:
            for df in old:
                ow.delete_data_file(df)
            for df in data_files:
                ow.append_data_file(df)
    elif data_files:
        with txn.update_snapshot().fast_append() as fa:
            for df in data_files:
                fa.append_data_file(df)


def write_relation(
    con: duckdb.DuckDBPyConnection, session: WriteSession, table: str, relation: str, *, mode: WriteMode = "replace"
) -> int:
    """Write ``relation`` (a table name or ``(SELECT ...)``) to ``table`` on the session's branch.

    ``replace``: the table's rows become the relation's (in place when the columns are the same,
    else as a new table); ``append``: the rows are added. Returns the number of rows written.
    """
    return write_relation_detail(con, session, table, relation, mode=mode).rows


def write_relation_detail(
    con: duckdb.DuckDBPyConnection, session: WriteSession, table: str, relation: str, *, mode: WriteMode = "replace"
) -> WrittenTable:
    cat = session.iceberg
    select = iceberg_select(con, relation)
    arrow_schema = con.execute(f"{select} LIMIT 0").to_arrow_table().schema
    existing = cat.load_table(table) if table in cat.versioned.tables(session.branch) else None
    if existing is not None:
        if _same_columns(existing, arrow_schema):
            rows, files = _copy_parquet(con, select, existing.location_provider().data_path, existing.schema())
            with existing.transaction() as txn:
                _register(txn, existing, files, replace=mode == "replace")
            return WrittenTable(table, rows, len(files), "overwritten" if mode == "replace" else "appended")
        if mode == "append":
            raise SchemaMismatch(
                f"cannot append to {table}: its columns differ from the new rows'",
                unchanged=f"{table} is as it was",
                hint="replace the table instead",
            )
        cat.drop_table(table)
    create = cat.create_table_transaction(table, schema=arrow_schema)
    meta = create.table_metadata
    rows, files = _copy_parquet(con, select, load_location_provider(meta.location, meta.properties).data_path,
                                meta.schema())
    io = load_file_io(properties=cat.properties, location=meta.location)
    if files:
        with create.update_snapshot().fast_append() as fa:
            for f in files:
                fa.append_data_file(parquet_file_to_data_file(io, meta, f))
    create.commit_transaction()
    return WrittenTable(table, rows, len(files), "replaced" if existing is not None else "created")
