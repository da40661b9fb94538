"""Which columns identify a row: ``--key`` flags first, else the dbt manifest stored with the ref.

From a manifest, in this order: ``meta.primary_key``, a ``unique`` test on one column,
``dbt_utils.unique_combination_of_columns``, ``config.unique_key``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from branchops.errors import UsageError

if TYPE_CHECKING:
    from branchops.catalog.base import VersionedCatalog

#: a table's key and where it came from ("flag", "manifest:meta.primary_key", ...)
KeySpec = tuple[tuple[str, ...], str]


def parse_key_flags(flags: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``["raw.orders=order_id", "mart.x=a,b"]`` -> ``{"raw.orders": ("order_id",), "mart.x": ("a", "b")}``."""
    out: dict[str, tuple[str, ...]] = {}
    for flag in flags:
        table, sep, cols = flag.partition("=")
        columns = tuple(c.strip() for c in cols.split(",") if c.strip())
        if not sep or not table.strip() or not columns:
            raise UsageError(
                f"bad --key {flag!r}",
                unchanged="nothing was diffed",
                hint="write --key <namespace>.<table>=<column>[,<column>...], e.g. --key raw.orders=order_id",
            )
        out[table.strip()] = columns
    return out


def _as_columns(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str) and value.strip():
        return tuple(c.strip() for c in value.split(",") if c.strip())
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _relation_name(node: Mapping[str, Any]) -> str | None:
    schema = str(node.get("schema") or "").partition("@")[0]  # static Trino: "analytics@<branch>"
    name = node.get("alias") or node.get("identifier") or node.get("name")
    return f"{schema}.{name}" if schema and name else None


def keys_from_manifest(manifest: Mapping[str, Any]) -> dict[str, KeySpec]:
    """``{"schema.table": (key columns, source)}`` for every model, seed, snapshot and source with a key."""
    nodes: dict[str, Mapping[str, Any]] = {**manifest.get("nodes", {}), **manifest.get("sources", {})}
    candidates: dict[str, list[tuple[int, tuple[str, ...], str]]] = {}

    def offer(unique_id: str, rank: int, cols: tuple[str, ...] | None, how: str) -> None:
        node = nodes.get(unique_id)
        table = _relation_name(node) if node else None
        if table and cols:
            candidates.setdefault(table, []).append((rank, cols, f"manifest:{how}"))

    for uid, node in nodes.items():
        rtype = node.get("resource_type")
        if rtype in ("model", "seed", "snapshot", "source"):
            config = node.get("config") or {}
            meta = {**(config.get("meta") or {}), **(node.get("meta") or {})}
            offer(uid, 0, _as_columns(meta.get("primary_key")), "meta.primary_key")
            offer(uid, 3, _as_columns(config.get("unique_key")), "unique_key")
        elif rtype == "test":
            test = node.get("test_metadata") or {}
            kwargs = test.get("kwargs") or {}
            targets = [node["attached_node"]] if node.get("attached_node") else list(
                (node.get("depends_on") or {}).get("nodes", [])
            )
            if len(targets) != 1:
                continue
            if test.get("name") == "unique" and not test.get("namespace"):
                col = kwargs.get("column_name") or node.get("column_name")
                offer(targets[0], 1, _as_columns(col) if isinstance(col, str) and "," not in col else None,
                      "unique test")
            elif test.get("name") == "unique_combination_of_columns":
                offer(targets[0], 2, _as_columns(kwargs.get("combination_of_columns")),
                      "unique_combination_of_columns")
    return {t: min(c)[1:] for t, c in candidates.items()}


def load_ref_manifest(catalog: VersionedCatalog, ref: str, builds: Mapping[str, Any] | None = None
                      ) -> dict[str, Any] | None:
    """The manifest of the newest dbt build reachable from ``ref`` (None when there is none):
    :func:`branchops.dbt.artifacts.load_manifest`, read through the warehouse's FileIO
    (``builds``: ref -> its build as the caller looked it up already)."""
    from branchops.dbt.artifacts import NOT_LOOKED_UP, load_manifest

    return load_manifest(catalog, ref, (builds or {}).get(ref, NOT_LOOKED_UP))


def resolve_keys(
    tables: Iterable[str],
    flags: Mapping[str, tuple[str, ...]],
    manifests: Iterable[Mapping[str, Any] | None],
) -> dict[str, KeySpec]:
    """The key of each table: a flag wins, then the first manifest that names one."""
    found: dict[str, KeySpec] = {}
    from_manifests: list[dict[str, KeySpec]] = [keys_from_manifest(m) for m in manifests if m]
    for table in tables:
        if table in flags:
            found[table] = (flags[table], "flag")
            continue
        for keys in from_manifests:
            if table in keys:
                found[table] = keys[table]
                break
    return found
