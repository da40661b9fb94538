"""Classify each modified dbt model against the base's manifest, from column-level lineage.

- ``breaking``: a column that a downstream model or exposure reads was removed, renamed,
  retyped or computed differently (its fingerprint changed, see ``branchops.lineage.sql``), or
  the rows changed (filter, join, grouping) and something downstream reads the model at all;
- ``non-breaking``: only new columns, or changes to columns nothing downstream reads;
- ``metadata-only``: the compiled SQL computes the same thing (descriptions, tests, docs, ...).

When lineage cannot be computed (no compiled SQL, a Python model, SQL sqlglot cannot parse,
``select *`` over unknown columns with a reader) the model is ``breaking`` and the reason says why.
Exposures read every column of what they name (a dashboard's queries are not in the manifest).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from branchops.dbt.results import table_of
from branchops.lineage.sql import ALL, ROWS, LineageError, QueryColumns, Relation, columns_read, output_columns

Kind = Literal["breaking", "non-breaking", "metadata-only"]
#: configs that move where a model's table is: changing one is breaking whatever the SQL
LOCATION_CONFIGS = ("database", "schema", "alias")
#: resource types whose SQL reads a model's columns
READER_TYPES = frozenset({"model", "snapshot"})


@dataclass(frozen=True)
class Reader:
    """A direct consumer of a modified model, and which of its changed columns it reads."""

    unique_id: str
    name: str
    resource_type: str
    columns: tuple[str, ...]  # changed/removed columns it reads; ("*",): all of them / unknown
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"unique_id": self.unique_id, "name": self.name, "type": self.resource_type,
                             "columns": list(self.columns)}
        if self.url:
            d["url"] = self.url
        return d


@dataclass(frozen=True)
class ModelChange:
    unique_id: str
    name: str
    table: str | None  # None for an ephemeral model
    kind: Kind
    reason: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    rows_changed: bool = False
    readers: tuple[Reader, ...] = ()  # direct consumers whose columns are affected
    downstream: tuple[str, ...] = ()  # every model downstream (unique ids)
    exposures: tuple[Reader, ...] = ()  # every exposure downstream (dashboards, with their URLs)

    @property
    def breaking(self) -> bool:
        return self.kind == "breaking"

    def to_dict(self) -> dict[str, Any]:
        return {
            "unique_id": self.unique_id, "model": self.name, "table": self.table, "kind": self.kind,
            "reason": self.reason, "added": list(self.added), "removed": list(self.removed),
            "changed": list(self.changed), "rows_changed": self.rows_changed,
            "readers": [r.to_dict() for r in self.readers], "downstream": list(self.downstream),
            "exposures": [{k: v for k, v in e.to_dict().items() if k != "columns"} for e in self.exposures],
        }


def descendants(manifest: Mapping[str, Any], uid: str) -> list[str]:
    """Every node downstream of ``uid`` (child_map, transitively), in breadth-first order."""
    children: Mapping[str, list[str]] = manifest.get("child_map", {})
    seen: dict[str, None] = {}
    queue = list(children.get(uid, []))
    while queue:
        cur = queue.pop(0)
        if cur not in seen:
            seen[cur] = None
            queue.extend(children.get(cur, []))
    return list(seen)


def _relation(node: Mapping[str, Any], dialect: str) -> Relation:
    if node.get("config", {}).get("materialized") == "ephemeral":
        return Relation.parse(None, ephemeral_of=str(node["name"]))
    return Relation.parse(node.get("relation_name"), dialect=dialect)


def _columns(node: Mapping[str, Any] | None, side: str, dialect: str) -> QueryColumns:
    if node is None:
        raise LineageError(f"not in the {side} manifest")
    if node.get("language", "sql") != "sql":
        raise LineageError(f"a {node.get('language')} model: no SQL to trace")
    sql = node.get("compiled_code")
    if not sql:
        raise LineageError(f"the {side} manifest holds no compiled SQL for it")
    return output_columns(str(sql), dialect)


class Classifier:
    """Classifies modified models of ``head`` against ``base`` (both dbt manifest dicts)."""

    def __init__(self, base: Mapping[str, Any], head: Mapping[str, Any], dialect: str = "duckdb") -> None:
        self.base, self.head, self.dialect = base, head, dialect
        self.nodes: Mapping[str, Any] = head.get("nodes", {})

    def classify(self, modified: Iterable[str]) -> list[ModelChange]:
        """One entry per modified model (other modified nodes are not models: not classified)."""
        return [self.one(uid) for uid in sorted(set(modified))
                if self.nodes.get(uid, {}).get("resource_type") == "model"]

    def one(self, uid: str) -> ModelChange:
        node = self.nodes[uid]
        after = descendants(self.head, uid)
        ephemeral = node.get("config", {}).get("materialized") == "ephemeral"
        base = ModelChange(
            unique_id=uid, name=str(node["name"]), table=None if ephemeral else table_of(node),
            kind="breaking", reason="", downstream=tuple(d for d in after if d.startswith("model.")),
            exposures=tuple(self._exposure(d) for d in after if d.startswith("exposure.")),
        )
        old = self.base.get("nodes", {}).get(uid)
        if old is None:
            return replace(base, kind="non-breaking", reason="a new model: nothing read it before")
        moved = [k for k in LOCATION_CONFIGS if (old.get("config") or {}).get(k) != (node.get("config") or {}).get(k)]
        if moved:
            return replace(base, reason=f"its {', '.join(moved)} changed: the table moves",
                           readers=self._readers(uid, ALL, everything=True))
        try:
            before, now = _columns(old, "base", self.dialect), _columns(node, "head", self.dialect)
        except LineageError as e:
            return replace(base, reason=f"lineage unavailable: {e}", readers=self._readers(uid, ALL, everything=True))
        added = tuple(sorted(set(now.columns) - set(before.columns)))
        removed = tuple(sorted(set(before.columns) - set(now.columns)))
        changed = tuple(sorted(c for c in set(before.columns) & set(now.columns)
                               if c != ROWS and before.columns[c] != now.columns[c]))
        rows = before.columns.get(ROWS) != now.columns.get(ROWS)
        if not (added or removed or changed or rows) and before.complete and now.complete:
            return replace(base, kind="metadata-only", reason="the compiled SQL computes the same columns")
        base = replace(base, added=added, removed=removed, changed=changed, rows_changed=rows)
        if not (before.complete and now.complete):
            readers = self._readers(uid, ALL, everything=True)
            if readers:
                return replace(base, readers=readers,
                               reason="it selects * from columns lineage cannot list, and is read downstream")
        touched = frozenset(removed + changed)
        readers = self._readers(uid, touched, everything=rows, added=bool(added))
        if readers:
            what = "its rows changed" if rows else "columns read downstream changed: " + ", ".join(
                sorted({c for r in readers for c in r.columns}))
            return replace(base, reason=what, readers=readers)
        parts = []
        if added:
            parts.append("new columns " + ", ".join(added))
        if touched or rows:
            parts.append("changes that nothing downstream reads"
                         + (f" ({', '.join(sorted(touched))})" if touched else " (rows)"))
        return replace(base, kind="non-breaking", reason="; ".join(parts) or "nothing downstream reads it")

    def _readers(self, uid: str, touched: frozenset[str], *, everything: bool, added: bool = False
                 ) -> tuple[Reader, ...]:
        """Direct consumers of ``uid`` affected by changes to ``touched`` (``everything``: any read)."""
        node = self.nodes[uid]
        relation = _relation(node, self.dialect)
        out: list[Reader] = []
        for child in self.head.get("child_map", {}).get(uid, []):
            if child.startswith("exposure."):  # a dashboard: reads any column, a new one breaks nothing
                if not (everything or touched):
                    continue
                out.append(replace(self._exposure(child), columns=("*",)))
                continue
            other = self.nodes.get(child, {})
            if other.get("resource_type") not in READER_TYPES:
                continue
            read = self._read_by(other, relation)
            if read is None:
                continue
            if read == ALL:  # select *: a new column changes its output too
                hit: tuple[str, ...] = ("*",) if everything or touched or added else ()
            elif everything:
                hit = tuple(sorted(read)) or (ROWS,)  # it reads the rows (count(*), a join) if no column
            else:
                hit = tuple(sorted(read & touched))
            if hit:
                out.append(Reader(child, str(other.get("name")), str(other.get("resource_type")), hit))
        return tuple(out)

    def _exposure(self, uid: str) -> Reader:
        exp = self.head.get("exposures", {}).get(uid, {})
        return Reader(uid, str(exp.get("label") or exp.get("name") or uid), "exposure", (), exp.get("url"))

    def _read_by(self, reader: Mapping[str, Any], relation: Relation) -> frozenset[str] | None:
        sql = reader.get("compiled_code")
        if reader.get("language", "sql") != "sql" or not sql:
            return ALL  # no SQL to look into: it may read anything
        try:
            return columns_read(str(sql), relation, self.dialect)
        except LineageError:
            return ALL
