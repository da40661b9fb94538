"""The live files of a snapshot, read from its manifest list and manifests (Avro) by this module.

pyiceberg's manifest reader is fast, but importing it (``pyiceberg.manifest``, and
``pyiceberg.table``, which its Avro reader imports to read a codec's default) costs about 0.17 s
of a ``branchops diff`` process that reads a few manifests. This reader decodes an Avro object
container file by the writer's schema in the file (records become dicts by field name; Iceberg's
maps with non-string keys are arrays of ``key``/``value`` records, turned into dicts) and keeps of
each entry what a diff uses (:class:`DataFileEntry`). Codecs: null and deflate (what Iceberg
writes by default); another codec raises :class:`UnsupportedManifest`, and the caller then reads
the files through pyiceberg (:func:`live_files_by_pyiceberg`).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyiceberg.io import FileIO

MAGIC = b"Obj\x01"
DELETED = 2  # manifest entry status
DATA = 0  # data file content (position and equality deletes are 1 and 2)

Reader = Callable[[bytes, int], tuple[Any, int]]


class UnsupportedManifest(Exception):
    """A manifest this reader does not decode (its codec); pyiceberg reads it instead."""


@dataclass(frozen=True)
class DataFileEntry:
    """One live file of a snapshot, with the column statistics a diff uses (by field id)."""

    file_path: str
    content: int
    record_count: int
    value_counts: dict[int, int] | None = None
    null_value_counts: dict[int, int] | None = None
    lower_bounds: dict[int, bytes] | None = None
    upper_bounds: dict[int, bytes] | None = None


def _long(buf: bytes, pos: int) -> tuple[int, int]:
    b = buf[pos]
    pos += 1
    n, shift = b & 0x7F, 7
    while b & 0x80:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
    return (n >> 1) ^ -(n & 1), pos


def _bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _long(buf, pos)
    return buf[pos:pos + n], pos + n


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    n, pos = _long(buf, pos)
    return buf[pos:pos + n].decode(), pos + n


def _fixed_width(fmt: str) -> Reader:
    unpack, size = struct.Struct(fmt).unpack_from, struct.calcsize(fmt)
    return lambda buf, pos: (unpack(buf, pos)[0], pos + size)


PRIMITIVES: dict[str, Reader] = {
    "null": lambda buf, pos: (None, pos), "boolean": lambda buf, pos: (buf[pos] != 0, pos + 1),
    "int": _long, "long": _long, "float": _fixed_width("<f"), "double": _fixed_width("<d"),
    "bytes": _bytes, "string": _string,
}


def _blocks(item: Reader) -> Callable[[bytes, int], tuple[list[Any], int]]:
    """Avro's blocked encoding (arrays, maps): counts, a negative count followed by a byte size."""
    def read(buf: bytes, pos: int) -> tuple[list[Any], int]:
        out: list[Any] = []
        while True:
            n, pos = _long(buf, pos)
            if n == 0:
                return out, pos
            if n < 0:
                n = -n
                _, pos = _long(buf, pos)
            for _ in range(n):
                value, pos = item(buf, pos)
                out.append(value)
    return read


def compile_schema(schema: Any, named: dict[str, Reader] | None = None) -> Reader:
    """A decoder of values of an Avro ``schema`` (parsed JSON)."""
    named = {} if named is None else named
    if isinstance(schema, str):
        return PRIMITIVES[schema] if schema in PRIMITIVES else named[schema]
    if isinstance(schema, list):  # a union: the branch's index, then its value
        branches = [compile_schema(s, named) for s in schema]

        def union(buf: bytes, pos: int) -> tuple[Any, int]:
            i, pos = _long(buf, pos)
            return branches[i](buf, pos)
        return union
    kind = schema["type"]
    if kind == "record":
        fields = [(f["name"], compile_schema(f["type"], named)) for f in schema["fields"]]

        def record(buf: bytes, pos: int) -> tuple[dict[str, Any], int]:
            out = {}
            for name, read in fields:
                out[name], pos = read(buf, pos)
            return out, pos
        named[schema["name"]] = record
        return record
    if kind == "array":
        items = _blocks(compile_schema(schema["items"], named))
        if schema.get("logicalType") != "map":
            return items
        return lambda buf, pos: _as_dict(*items(buf, pos))
    if kind == "map":
        values = compile_schema(schema["values"], named)

        def pair(buf: bytes, pos: int) -> tuple[tuple[str, Any], int]:
            k, pos = _string(buf, pos)
            v, pos = values(buf, pos)
            return (k, v), pos
        pairs = _blocks(pair)

        def mapping(buf: bytes, pos: int) -> tuple[dict[str, Any], int]:
            got, pos = pairs(buf, pos)
            return dict(got), pos
        return mapping
    if kind == "enum":
        symbols = schema["symbols"]

        def enum(buf: bytes, pos: int) -> tuple[str, int]:
            i, pos = _long(buf, pos)
            return symbols[i], pos
        return enum
    if kind == "fixed":
        size = schema["size"]
        return lambda buf, pos: (buf[pos:pos + size], pos + size)
    return compile_schema(kind, named)  # {"type": "long", "logicalType": ...} and the like


def _as_dict(entries: list[dict[str, Any]], pos: int) -> tuple[dict[Any, Any], int]:
    return {e["key"]: e["value"] for e in entries}, pos


#: what decoding a file this module does not understand raises (then pyiceberg reads it)
DECODE_ERRORS = (KeyError, IndexError, TypeError, ValueError, struct.error, zlib.error)


def read_avro(data: bytes) -> Iterator[Any]:
    """The records of an Avro object container file. Raises UnsupportedManifest when the file is
    not one this module decodes (codec, schema or a broken block)."""
    try:
        yield from _records(data)
    except DECODE_ERRORS as e:  # UnicodeDecodeError is a ValueError
        raise UnsupportedManifest(f"cannot decode the Avro file ({type(e).__name__}: {e})") from e


def _records(data: bytes) -> Iterator[Any]:
    if data[:4] != MAGIC:
        raise UnsupportedManifest("not an Avro object container file")
    meta, pos = compile_schema({"type": "map", "values": "bytes"})(data, 4)
    sync = data[pos:pos + 16]
    pos += 16
    codec = meta.get("avro.codec", b"null").decode()
    if codec not in ("null", "deflate"):
        raise UnsupportedManifest(f"Avro codec {codec}")
    read = compile_schema(json.loads(meta["avro.schema"]))
    while pos < len(data):
        count, pos = _long(data, pos)
        size, pos = _long(data, pos)
        block = data[pos:pos + size]
        pos += size
        if data[pos:pos + 16] != sync:
            raise UnsupportedManifest("an Avro block does not end with the file's sync marker")
        pos += 16
        if codec == "deflate":
            block = zlib.decompress(block, -15)
        at = 0
        for _ in range(count):
            value, at = read(block, at)
            yield value


def _read(io: FileIO, location: str) -> bytes:
    with io.new_input(location).open() as f:
        data: bytes = f.read()
    return data


def live_files(io: FileIO, manifest_list: str, cache: dict[str, list[DataFileEntry]] | None = None
               ) -> list[DataFileEntry]:
    """Every live file (data and delete files) of the snapshot whose manifest list is given;
    ``cache``: entries by manifest path, so manifests that two sides share are read once."""
    out: list[DataFileEntry] = []
    for manifest in read_avro(_read(io, manifest_list)):
        path = manifest["manifest_path"]
        entries = cache.get(path) if cache is not None else None
        if entries is None:
            entries = [_entry(e["data_file"]) for e in read_avro(_read(io, path)) if e["status"] != DELETED]
            if cache is not None:
                cache[path] = entries
        out += entries
    return out


def _entry(df: dict[str, Any]) -> DataFileEntry:
    return DataFileEntry(df["file_path"], df.get("content", DATA), df["record_count"], df.get("value_counts"),
                         df.get("null_value_counts"), df.get("lower_bounds"), df.get("upper_bounds"))


def live_files_by_pyiceberg(io: FileIO, manifest_list: str) -> list[DataFileEntry]:
    """As :func:`live_files`, read by pyiceberg (a manifest this module does not decode)."""
    from pyiceberg.manifest import read_manifest_list

    out = []
    for manifest in read_manifest_list(io.new_input(manifest_list)):
        for e in manifest.fetch_manifest_entry(io, discard_deleted=True):
            df = e.data_file
            out.append(DataFileEntry(df.file_path, int(df.content), df.record_count, df.value_counts,
                                     df.null_value_counts, df.lower_bounds, df.upper_bounds))
    return out
