"""Run dbt in-process against a branch of the lakehouse, and publish what it built atomically.

One invocation, start to end:

1. write a profile for the project into a temporary folder (dbt-duckdb, in-memory database,
   the branchops plugin);
2. ``dbt parse``; for publishing commands, ``dbt ls`` of the selection finds the incremental
   models and snapshots whose branch tables must be copied in as real tables;
3. run the dbt command with the parsed manifest (``--state`` from the base ref's stored build
   when the selection uses it); when dbt connects, the plugin fills its database with a view
   over ``iceberg_scan`` for every branch table (``branchops.dbt.scratch``). A classifying
   ``refine`` compiles first and leaves that database open: the run reuses it, with the tables
   it updates in place copied in;
4. only if dbt succeeded (no model error, no error-severity test failure): write every built
   model, seed and snapshot to the branch in **one** commit through ``Lakehouse.writing`` (for
   ``main`` that is write-audit-publish), with ``manifest.json`` and ``run_results.json`` stored
   and named in the commit's properties. Views are published as tables; ephemeral models
   publish nothing. On any failure nothing is written and the branch stays as it was.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from branchops.dbt import args as dbt_args
from branchops.dbt import prewarm
from branchops.dbt.artifacts import (
    MANIFEST_PROPERTY,
    NOT_LOOKED_UP,
    Lookup,
    StoredBuild,
    known_build,
    store_artifacts,
)
from branchops.dbt.deps import deps_command, missing_packages
from branchops.dbt.invocation import (
    PUBLISHING,
    Invocation,
    dbt_console,
    failure_text,
    invoke,
    record_outcome,
    scoped_env,
)
from branchops.dbt.project import SCRATCH_ENV, DbtProject
from branchops.dbt.publish import write_relation_detail
from branchops.dbt.results import DbtRunFailed, DbtRunResult, NodeResult, exposures, model_tables, publishable
from branchops.dbt.scratch import close_dbt_connections, copy_in, dbt_connection, relation_name, write_spec
from branchops.engine import engine_class
from branchops.errors import UsageError

if TYPE_CHECKING:
    from branchops.lakehouse import Lakehouse

Command = Literal["build", "run", "test", "seed", "snapshot", "compile", "ls"]
COMMANDS: tuple[str, ...] = ("build", "run", "test", "seed", "snapshot", "compile", "ls")


def run_deps(project_dir: str | Path, args: Sequence[str] = (), *, announce: bool = True) -> None:
    """``dbt deps`` for the project: installs its packages into its ``dbt_packages/``.

    Raises:
        UsageError: dbt could not install them (no network to the package hub, a bad spec).
    """
    path = Path(project_dir).resolve()
    if announce:
        print(f"branchops: {path.name} declares dbt packages that are not installed: running "
              f"`{deps_command(path)}`", file=sys.stderr)
    quiet_log = [] if dbt_args.has_flag(args, "--log-level-file", "--log-path") else ["--log-level-file", "none"]
    res = invoke(["deps", "--project-dir", str(path), *quiet_log, *args])
    if not res.success:
        raise UsageError(
            f"dbt could not install the project's packages: {failure_text(res) or 'dbt deps failed'}",
            unchanged="nothing was built or written",
            hint=f"run `{deps_command(path)}` where the package hub (or your packages' git hosts) can be "
                 "reached, then retry; or commit the installed dbt_packages/ folder",
        )


def run_dbt(
    lakehouse: Lakehouse,
    command: str,
    *,
    branch: str,
    project_dir: str | Path,
    args: Sequence[str] = (),
    select: Sequence[str] | None = None,
    base: str | None = None,
    threads: int | None = None,
    dbt_output: Literal["stdout", "stderr"] = "stdout",
    refine: Callable[[Invocation, Any, Mapping[str, Any]], None] | None = None,
    stored: StoredBuild | Lookup | None = NOT_LOOKED_UP,
) -> DbtRunResult:
    """Run ``dbt <command>`` on ``branch``; publish the outputs of build/run/seed/snapshot.

    ``refine`` is called after parsing and may narrow the selection. ``stored``: the build of ``base``
    if the caller looked it up already (a sync looks it up once), else it is looked up here once.

    Raises:
        UsageError: unknown command, no dbt_project.yml, flags branchops owns, no stored build
            on ``base`` when the selection needs state (exit 2).
        RefNotFound: unknown branch (exit 2).
        DbtRunFailed: a model, seed or error-severity test failed, or dbt stopped (exit 1);
            nothing is published.
        MergeConflict: the branch's same tables were written meanwhile (exit 1).
    """
    if command not in COMMANDS:
        raise UsageError(f"unknown dbt command {command!r}", hint=f"use one of {', '.join(COMMANDS)}")
    project = DbtProject.load(project_dir)
    user_args = [*args, *(["--select", *select] if select else [])]
    dbt_args.check_owned(user_args)
    if missing_packages(project.path, project.spec):
        with dbt_console(dbt_output):
            run_deps(project.path)
    if command in PUBLISHING:
        lakehouse.require_branch(branch)
    tables = lakehouse.catalog.tables(branch)
    threads = int(threads or lakehouse.settings.threads or os.cpu_count() or 1)
    result = DbtRunResult(command=command, branch=branch, project=project.name, success=False)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="branchops-dbt-") as tmp, dbt_console(dbt_output), \
            scoped_env(SCRATCH_ENV, str(Path(tmp) / "scratch.json")):
        inv = Invocation(lakehouse, command, branch, project, user_args, Path(tmp), threads)
        stored = known_build(lakehouse.catalog, base or lakehouse.main, stored)
        inv.use_state(base or lakehouse.main, result, stored)
        inv.refine = refine
        if engine_class(lakehouse.settings.engine).BUILDS_DBT_IN_ENGINE:
            from branchops.dbt.trino import run_on_trino

            return run_on_trino(lakehouse, inv, result, publishing=command in PUBLISHING, started=started)
        project.write_profile(inv.work, scratch_spec=inv.spec, schema=lakehouse.settings.target_schema,
                              threads=threads)
        write_spec(inv.spec, tables)  # the database a refine's compile opens: every table a view
        # ls opens no database; any other command's is opened while dbt imports and parses
        with prewarm.ahead(inv.spec) if command != "ls" else contextlib.nullcontext():
            inv.seed_partial_parse(base or lakehouse.main, stored)
            try:
                close_dbt_connections()  # a database an earlier run in this process left would hold its tables
                parsing = time.perf_counter()
                manifest_obj, manifest = inv.parse(result)
                result.timings["parse"] = time.perf_counter() - parsing  # the first in a process imports dbt
                if inv.refine is not None:  # its compile leaves dbt's database open for the build
                    inv.refine(inv, manifest_obj, manifest)
                copy = inv.in_place_tables(manifest_obj, manifest, tables)
                write_spec(inv.spec, tables, copy)  # for a database dbt opens from here on
                _copy_into_open_database(tables, copy)
                copies = {t: _row_count(lakehouse, branch, t) for t in copy}
                result.timings["prepare"] = time.perf_counter() - started
                _run_and_publish(lakehouse, inv, result, manifest_obj, manifest, tables, copies)
            finally:
                close_dbt_connections()
    result.timings["total"] = time.perf_counter() - started
    return result


def _copy_into_open_database(tables: Mapping[str, str], copy: set[str]) -> None:
    """The database a refine's compile left open (the build reuses it) gets the copies too."""
    con = dbt_connection() if copy else None
    if con is not None:
        try:
            copy_in(con, tables, copy)
        finally:
            con.close()


def _row_count(lakehouse: Lakehouse, ref: str, table: str) -> int:
    snapshot = lakehouse.catalog.load_table(ref, table).current_snapshot()
    records = snapshot.summary.get("total-records") if snapshot is not None and snapshot.summary else None
    return int(records) if records is not None else -1


def _run_and_publish(lakehouse: Lakehouse, inv: Invocation, result: DbtRunResult, manifest_obj: Any,
                     manifest: Mapping[str, Any], tables: Mapping[str, str], copies: Mapping[str, int]) -> None:
    started = time.perf_counter()
    argv = [inv.command, *inv.common, *inv.run_state_args, *inv.user_args]
    res = invoke(argv, manifest=manifest_obj, keep_open=True)
    result.timings["dbt"] = time.perf_counter() - started
    record_outcome(inv, res, result, manifest)
    built = publishable(result.nodes) if inv.command in PUBLISHING else []
    if built:
        _publish(lakehouse, inv, result, built, manifest, copies)
    result.reused = sorted(set(model_tables(manifest).values()) & set(tables) - set(result.published))
    result.exposures = exposures(manifest, {n.unique_id for n in built})


def _append_only(node: NodeResult, manifest: Mapping[str, Any], copied_rows: int | None) -> bool:
    """An incremental model that only appended rows (so only the new rows need writing)."""
    if copied_rows is None or copied_rows < 0 or node.materialization != "incremental":
        return False
    config = manifest["nodes"][node.unique_id].get("config", {})
    strategy, key = config.get("incremental_strategy"), config.get("unique_key")
    return strategy == "append" or (strategy in (None, "delete+insert") and not key)


def _publish(lakehouse: Lakehouse, inv: Invocation, result: DbtRunResult, built: list[NodeResult],
             manifest: Mapping[str, Any], copies: Mapping[str, int]) -> None:
    started = time.perf_counter()
    names = ", ".join(n.name for n in built[:5]) + (f" and {len(built) - 5} more" if len(built) > 5 else "")
    message = f"dbt {inv.command} on {inv.branch}: {names}"
    props = {"branchops.operation": "dbt", "branchops.dbt.command": inv.command,
             "branchops.dbt.project": inv.project.name, "branchops.dbt.invocation_id": result.invocation_id or ""}
    con = dbt_connection()
    if con is None:  # pragma: no cover - dbt built something, so it opened its database
        raise DbtRunFailed(result, unchanged=f"{inv.branch} is as it was")
    try:
        with lakehouse.writing(inv.branch, message, properties=props) as w:
            for node in built:
                assert node.table is not None
                rel = relation_name(node.table)
                n = copies.get(node.table)
                if _append_only(node, manifest, n) and n is not None and _untouched(con, rel, n):
                    write_relation_detail(con, w, node.table, f"(SELECT * FROM {rel} WHERE rowid >= {n})",
                                          mode="append")
                else:
                    write_relation_detail(con, w, node.table, rel, mode="replace")
            if inv.on_manifest is not None:
                inv.on_manifest(inv.target / "manifest.json")
            w.properties.update(store_artifacts(lakehouse.catalog, inv.target, result.invocation_id or w.branch,
                                                ref=w.target))
    finally:
        con.close()
    after = lakehouse.catalog.tables(inv.branch)
    result.published = {n.table: after[n.table] for n in built if n.table in after}
    result.hash = w.result.hash if w.result else None
    result.manifest = w.properties.get(MANIFEST_PROPERTY)
    result.run_results = w.properties.get("branchops.dbt.run_results")
    result.timings["publish"] = time.perf_counter() - started


def _untouched(con: Any, relation: str, rows: int) -> bool:
    """The first ``rows`` rows of a copied table are all still there (nothing deleted)."""
    row = con.execute(f"SELECT count(*) FROM {relation} WHERE rowid < {int(rows)}").fetchone()
    return bool(row and int(row[0]) == rows)
