"""One side of a table diff read from the table's metadata file, without pyiceberg's ``Table``.

A diff needs of a metadata file only the current snapshot (id, summary, manifest list), the
current schema and the schemas of the table's history. pyiceberg parses all of it into its
``TableMetadata`` model, and importing that (``pyiceberg.table``, ``pyiceberg.catalog``) with its
manifest reader costs about 0.17 s of a whole ``branchops diff`` process whose changes sit in a
few files (0.53 s without them; bench/results/diff_confined.json). So :func:`load_side` reads
those fields from the JSON, the schemas as pyiceberg ``Schema`` objects, as pyiceberg would, and
the manifests are read by :mod:`branchops.diff.manifests`; a file it does not cover (format
version 1, gzip-compressed) is read by pyiceberg as before.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pyiceberg.schema import Schema

from branchops.catalog.local_io import metadata_read_io
from branchops.diff.snapshots import TableSnapshot
from branchops.errors import TableNotFound

if TYPE_CHECKING:
    from branchops.catalog.base import VersionedCatalog

#: format versions whose snapshots all name a manifest list and whose schemas are a list
READ_VERSIONS = (2, 3)


def load_side(catalog: VersionedCatalog, ref: str, table: str) -> TableSnapshot:
    """``table`` as it is on ``ref`` (a ref, ``ref@hash`` or ``@hash``). Raises TableNotFound,
    RefNotFound."""
    location = catalog.tables(ref).get(table)
    if location is None:
        raise TableNotFound.on_ref(table, ref)
    io = metadata_read_io({**catalog.io_properties, "warehouse": catalog.warehouse}, location)
    doc: dict[str, Any] | None = None
    if not location.endswith(".gz.metadata.json"):
        with io.new_input(location).open() as f:
            doc = json.loads(f.read())
    if doc is None or doc.get("format-version") not in READ_VERSIONS:
        return TableSnapshot.load(catalog.load_table(ref, table, scans=False))
    schemas = tuple(Schema.model_validate(s) for s in doc["schemas"])
    schema = next(s for s in schemas if s.schema_id == doc["current-schema-id"])
    current = doc.get("current-snapshot-id")
    snap = next((s for s in doc.get("snapshots") or () if s["snapshot-id"] == current), None)
    if snap is None:  # no snapshot yet (pyiceberg reads -1 and a missing id as None too)
        return TableSnapshot(io, None, schema, schemas)
    summary = {k: str(v) for k, v in (snap.get("summary") or {}).items() if k != "operation"}
    return TableSnapshot(io, snap["snapshot-id"], schema, schemas, snap["manifest-list"], summary)
