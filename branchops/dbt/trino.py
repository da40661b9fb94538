"""dbt on Trino (``engine = "trino"``): dbt-trino builds straight into a branch's Trino catalog.

The DuckDB path builds in a scratch database and publishes afterwards; with Trino the models are
written by Trino itself, as Nessie commits. To keep the same guarantee — a failed run leaves the
branch as it was, and a successful one lands as **one** commit — a publishing command runs on
the private write-audit-publish fork of ``Lakehouse.writing``: dbt-trino writes into that
fork's catalog, and only when dbt succeeded is the fork merged into the branch. ``test``,
``compile`` and ``ls`` run against the branch's own catalog.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from branchops.dbt.artifacts import MANIFEST_PROPERTY, store_artifacts
from branchops.dbt.invocation import Invocation, invoke, record_outcome
from branchops.dbt.project import TARGET_NAME
from branchops.dbt.results import DbtRunResult, exposures, model_tables, publishable
from branchops.engine.trino import TrinoEngine, dbt_profile_output
from branchops.engine.trino_settings import BRANCH_SEPARATOR, branch_schema, is_static
from branchops.sql_text import quote

if TYPE_CHECKING:
    from branchops.lakehouse import Lakehouse


@contextmanager
def _quiet_third_party() -> Iterator[None]:
    with warnings.catch_warnings():
        # dbt-trino's macros hold a regex ("(\w+)...") Python warns about when Jinja compiles it
        warnings.filterwarnings("ignore", r"invalid escape sequence", DeprecationWarning)
        yield


def write_trino_profile(inv: Invocation, catalog: str, ref: str) -> None:
    """``profiles.yml`` whose one target builds into branch ``ref`` through Trino catalog
    ``catalog`` (static catalogs: the one catalog, schema ``analytics@<ref>``)."""
    output = dbt_profile_output(inv.lh.settings, ref, catalog=catalog, threads=inv.threads)
    profile = {inv.project.profile: {"target": TARGET_NAME, "outputs": {TARGET_NAME: output}}}
    (inv.work / "profiles.yml").write_text(json.dumps(profile, indent=2))
    if inv.state_args:
        rebase_state_manifest(inv.work / "state" / "manifest.json", catalog)
        if is_static(inv.lh.settings):
            rebase_state_branch(inv.work / "state" / "manifest.json", ref)


def _on_branch(schema: str, ref: str) -> str:
    return branch_schema(schema.partition(BRANCH_SEPARATOR)[0], ref)


def rebase_state_branch(path: Path, ref: str) -> None:
    """Static catalogs: the ``--state`` manifest's sources (``raw@<the build's fork>``) renamed
    to ``raw@<ref>``, so that only what really changed is ``state:modified``."""
    manifest = json.loads(path.read_text())
    for entry in (manifest.get("sources") or {}).values():
        schema = entry.get("schema")
        if isinstance(schema, str) and BRANCH_SEPARATOR in schema:
            entry["schema"] = _on_branch(schema, ref)
            entry["relation_name"] = _relation_name(entry)
    path.write_text(json.dumps(manifest))


def _relation_name(entry: Mapping[str, Any]) -> str:
    return ".".join(quote(str(p)) for p in (entry["database"], entry["schema"], entry.get("identifier")
                                              or entry["name"]))


def point_sources_at(manifest: Any, ref: str) -> None:
    """Static catalogs: every source of the parsed manifest read on branch ``ref``
    (``"catalog"."raw@<ref>"."orders"``): a source's schema names no branch, and the static
    catalog's plain ``raw`` is ``main``'s."""
    for source in manifest.sources.values():
        source.schema = _on_branch(source.schema, ref)
        source.relation_name = _relation_name(
            {"database": source.database, "schema": source.schema, "identifier": source.identifier,
             "name": source.name})


def rebase_state_manifest(path: Path, catalog: str) -> None:
    """Point the ``--state`` manifest at ``catalog``, the database of this run.

    Each run builds in a catalog of its own (a write fork's), so the stored manifest names
    another database. dbt compares a source's *rendered* database for ``state:modified``, so
    every source, and everything downstream of it, would look modified and be rebuilt; and a
    deferred ref would point at a catalog dropped long ago. Only the target's default database
    is rewritten (what no ``database:`` config chose).
    """
    manifest = json.loads(path.read_text())
    nodes: dict[str, Any] = manifest.get("nodes") or {}
    sources: dict[str, Any] = manifest.get("sources") or {}
    old = {str(n["database"]) for n in nodes.values()
           if n.get("resource_type") in ("model", "seed", "snapshot") and n.get("database")
           and "database" not in (n.get("unrendered_config") or {})}
    old.discard(catalog)
    if not old:
        return
    for entry in (*nodes.values(), *sources.values()):
        db = entry.get("database")
        configured = entry.get("unrendered_database") or "database" in (entry.get("unrendered_config") or {})
        if db in old and not configured:
            entry["database"] = catalog
            rel = entry.get("relation_name")
            if isinstance(rel, str) and rel.startswith(f'"{db}".'):
                entry["relation_name"] = f'"{catalog}".' + rel[len(db) + 3:]
    path.write_text(json.dumps(manifest))


def run_on_trino(lakehouse: Lakehouse, inv: Invocation, result: DbtRunResult, *, publishing: bool,
                 started: float) -> DbtRunResult:
    """The Trino half of :func:`branchops.dbt.runner.run_dbt`: same result, same errors."""
    before = lakehouse.catalog.tables(inv.branch)
    with TrinoEngine(lakehouse.catalog, lakehouse.settings) as engine:
        if not publishing:
            write_trino_profile(inv, engine.ensure_catalog(inv.branch), inv.branch)
            manifest = _build(inv, result, started, inv.branch)
        else:
            props = {"branchops.operation": "dbt", "branchops.dbt.command": inv.command,
                     "branchops.dbt.project": inv.project.name}
            fork: str | None = None
            try:
                with lakehouse.writing(inv.branch, f"dbt {inv.command} on {inv.branch}", properties=props) as w:
                    fork = w.branch
                    write_trino_profile(inv, engine.ensure_catalog(fork), fork)
                    manifest = _build(inv, result, started, fork)
                    written = lakehouse.catalog.tables(fork)
                    result.published = {n.table: written[n.table] for n in publishable(result.nodes)
                                        if n.table is not None and n.table in written}
                    w.properties["branchops.dbt.invocation_id"] = result.invocation_id or ""
                    if inv.on_manifest is not None:
                        inv.on_manifest(inv.target / "manifest.json")
                    w.properties.update(store_artifacts(lakehouse.catalog, inv.target, result.invocation_id or fork,
                                                        ref=w.target))
            finally:
                if fork is not None:
                    engine.drop_catalog(fork)
            result.hash = w.result.hash if w.result else None
            result.manifest = w.properties.get(MANIFEST_PROPERTY)
            result.run_results = w.properties.get("branchops.dbt.run_results")
    built = {n.unique_id for n in publishable(result.nodes)}
    result.reused = sorted(set(model_tables(manifest).values()) & set(before) - set(result.published))
    result.exposures = exposures(manifest, built)
    result.timings["total"] = time.perf_counter() - started
    return result


def _build(inv: Invocation, result: DbtRunResult, started: float, ref: str) -> Mapping[str, Any]:
    """Parse and run dbt; returns the manifest. Raises DbtRunFailed (inside ``writing``: the
    fork is dropped and the branch stays as it was)."""
    with _quiet_third_party():
        manifest_obj, manifest = inv.parse(result)
        if is_static(inv.lh.settings):
            point_sources_at(manifest_obj, ref)
        if inv.refine is not None:  # classification (branchops.lineage.select) may narrow the selection
            inv.refine(inv, manifest_obj, manifest)
        result.timings["prepare"] = time.perf_counter() - started
        res = invoke([inv.command, *inv.common, *inv.run_state_args, *inv.user_args], manifest=manifest_obj)
    result.timings["dbt"] = time.perf_counter() - started - result.timings["prepare"]
    record_outcome(inv, res, result, manifest)
    return manifest
