"""Reading user files into Arrow, and fitting them to an existing Iceberg table's schema."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from branchops.errors import InputError, SchemaMismatch

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "json", ".ndjson": "json", ".json": "json"}


def read_file(path: str | Path, fmt: str | None = None) -> pa.Table:
    """A CSV, Parquet or JSON-lines file as an Arrow table.

    Raises:
        InputError: the file is missing, of an unknown kind, or malformed (ragged rows,
        values that do not parse).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"file {p} does not exist", unchanged="nothing was written", hint="check the path")
    kind = fmt or FORMATS.get(p.suffix.lower())
    if kind is None:
        raise InputError(
            f"cannot tell the format of {p.name}",
            unchanged="nothing was written",
            hint="use a .csv, .parquet or .jsonl file, or pass --format csv|parquet|json",
        )
    try:
        if kind == "csv":
            from pyarrow import csv

            _require_utf8(p)
            table = csv.read_csv(p)
        elif kind == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(p)
        elif kind == "json":
            from pyarrow import json as pa_json

            table = pa_json.read_json(p)
        else:
            raise InputError(f"unknown format {kind!r}", hint="use csv, parquet or json")
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as e:
        raise InputError(
            f"{p.name} is malformed: {str(e).splitlines()[0]}",
            unchanged="nothing was written",
            hint="fix the file (every row needs the header's columns; values must parse) and retry",
        ) from None
    return normalize(table, source=p.name)


def _require_utf8(path: Path) -> None:
    """Refuse a CSV that is not UTF-8 (pyarrow would read its text as a BLOB column)."""
    error = _not_utf8(path)
    if error is not None:
        raise error


def _not_utf8(path: Path) -> InputError | None:
    """A CSV whose text is not UTF-8: say where, and which encoding it looks like."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line, head = 0, 1, b""
    with path.open("rb") as f:
        bom = f.read(2)
        f.seek(0)
        while chunk := f.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                bad = chunk[: e.start]
                offset, line = offset + e.start, line + bad.count(b"\n")
                head = chunk[max(0, e.start - 200): e.start + 200]
                break
            offset, line = offset + len(chunk), line + chunk.count(b"\n")
        else:
            try:
                decoder.decode(b"", final=True)
                return None
            except UnicodeDecodeError:
                head = b"\xff"
    if bom in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        looks, name = "UTF-16", "utf-16"
    else:
        try:
            head.decode("cp1252")
            looks, name = "latin-1 / Windows-1252", "cp1252"
        except UnicodeDecodeError:
            looks, name = "an 8-bit encoding", "<its encoding>"
    return InputError(
        f"{path.name} is not UTF-8 text: byte {offset} (line {line}) is not valid UTF-8; it looks like {looks}",
        unchanged="nothing was written",
        hint=f"convert the file to UTF-8 (e.g. `iconv -f {name} -t utf-8 {path.name} > utf8.csv`) and retry",
    )


def check_columns(names: list[str], source: str = "the data") -> None:
    """Column names a table can have: none empty, none twice (Iceberg matches columns by name).

    Raises:
        InputError.
    """
    seen: set[str] = set()
    for i, name in enumerate(names, start=1):
        if not name.strip():
            raise InputError(
                f"column {i} of {source} has an empty name", unchanged="nothing was written",
                hint="give every column a name in the header row",
            )
        if name in seen:
            raise InputError(
                f"{source} has two columns named {name!r}", unchanged="nothing was written",
                hint="give every column a distinct name in the header row",
            )
        seen.add(name)


def normalize(table: pa.Table, source: str = "the data") -> pa.Table:
    """Types Iceberg v2 stores: ns timestamps -> us, large strings -> strings, nullable fields.

    Raises:
        InputError: empty or duplicate column names.
    """
    check_columns(table.column_names, source)
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_timestamp(t) and t.unit == "ns":
            t = pa.timestamp("us", tz=t.tz)
        elif pa.types.is_large_string(t) or pa.types.is_null(t):
            t = pa.string()
        fields.append(pa.field(f.name, t, nullable=True))
    target = pa.schema(fields)
    return table if target == table.schema else table.cast(target, safe=False)


def fit_to_schema(data: pa.Table, table_schema: pa.Schema, table_name: str) -> pa.Table:
    """Cast ``data`` to the table's columns (missing nullable columns become NULL).

    Raises:
        SchemaMismatch: columns the table lacks, or values that do not fit the column type.
    """
    extra = [n for n in data.column_names if n not in table_schema.names]
    if extra:
        raise SchemaMismatch(
            f"{table_name} has no column(s) {', '.join(extra)}",
            unchanged=f"{table_name} is as it was",
            hint="pass --evolve to add the new columns, or drop them from the file",
        )
    columns = []
    for field in table_schema:
        if field.name not in data.column_names:
            if not field.nullable:
                raise SchemaMismatch(f"column {field.name} of {table_name} is required but missing from the file")
            columns.append(pa.nulls(data.num_rows, field.type))
            continue
        col = data.column(field.name)
        try:
            columns.append(col if col.type == field.type else pc.cast(col, field.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise SchemaMismatch(
                f"column {field.name} of {table_name} is {field.type}, the file has {col.type} that does not fit: "
                f"{str(e).splitlines()[0]}",
                unchanged=f"{table_name} is as it was",
                hint="fix the file's values, or write to a new table",
            ) from None
    return pa.Table.from_arrays(columns, schema=table_schema)
