"""``init``, ``ingest`` and ``quickstart``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from branchops.cli.app import OutputOpt, app
from branchops.cli.output import emit, say, short
from branchops.cli.state import check_catalog_uri, cli_state
from branchops.errors import UsageError


@app.command()
def init(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Option("--dir", help="where to create branchops.toml")] = Path("."),
    backend: Annotated[str | None, typer.Option(help="sql (embedded, default) or nessie")] = None,
    catalog_uri: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the embedded catalog")] = None,
    warehouse: Annotated[str | None, typer.Option(help="folder or s3:// URL for table data")] = None,
    nessie_uri: Annotated[str | None, typer.Option(help="Nessie REST API v2 URL")] = None,
    trino_uri: Annotated[str | None, typer.Option(help="Trino URL")] = None,
    print_roles: Annotated[bool, typer.Option(
        "--print-roles", help="print the SQL of per-job database roles (PostgreSQL catalog)")] = False,
    apply_roles: Annotated[bool, typer.Option(
        "--apply-roles", help="create the per-job database roles and guards (PostgreSQL catalog)")] = False,
    role_prefix: Annotated[str, typer.Option(help="roles are <prefix>_pr, <prefix>_merge, <prefix>_gc")] = "branchops",
    if_missing: Annotated[bool, typer.Option(
        "--if-missing", help="create only what is missing (branchops.toml, the catalog it names); "
                             "exit 0 when both are there (CI)")] = False,
    output: OutputOpt = None,
) -> None:
    """Create branchops.toml and the lakehouse (catalog + warehouse) with its `main` branch.

    With --print-roles / --apply-roles on a folder that is initialized already, only the roles
    are printed / applied (README: Least-privilege credentials). With --if-missing next to an
    existing branchops.toml, the catalog its settings name (BRANCHOPS_* included) is created
    unless it exists: the idempotent first step of a CI job on a shared lakehouse.
    """
    from branchops.config import CONFIG_NAME, Settings
    from branchops.project_init import ensure_catalog, init_project

    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--dir {directory} is a file, not a folder", unchanged="nothing was created",
                         hint="pass a folder (it is created when missing)")
    if catalog_uri is not None:
        check_catalog_uri(Settings(backend="sql", catalog_uri=catalog_uri, root=directory.resolve()), must_exist=False)
    flags = {"backend": backend, "catalog_uri": catalog_uri, "warehouse": warehouse, "nessie_uri": nessie_uri,
             "trino_uri": trino_uri}
    if if_missing and not (print_roles or apply_roles) and (directory / CONFIG_NAME).is_file():
        from branchops.config import load_settings

        check_catalog_uri(load_settings(directory / CONFIG_NAME), must_exist=False)
        done = ensure_catalog(directory / CONFIG_NAME, **flags)
        emit(cli_state(ctx).fmt(output), done, lambda: say(
            f"Created the catalog of {done['config']} (backend {done['backend']}, branch {done['main']})"
            if done["created"] else f"Already initialized: {done['config']} and its catalog exist; nothing changed"))
        return
    backend = backend or "sql"
    if print_roles or apply_roles:
        from branchops.cli.roles import init_roles

        init_roles(directory, cli_state(ctx).fmt(output), prefix=role_prefix, apply=apply_roles,
                   init=lambda: init_project(directory, backend=backend, catalog_uri=catalog_uri,
                                             warehouse=warehouse, nessie_uri=nessie_uri, trino_uri=trino_uri),
                   catalog_uri=catalog_uri, config=cli_state(ctx).config)
        return
    result = init_project(
        directory,
        backend=backend,
        catalog_uri=catalog_uri,
        warehouse=warehouse,
        nessie_uri=nessie_uri,
        trino_uri=trino_uri,
    )
    emit(
        cli_state(ctx).fmt(output),
        result,
        lambda: say(
            f"Initialized branchops in {result['config']} (backend {result['backend']}, branch {result['main']})"
        ),
    )


@app.command()
def ingest(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="target table, <namespace>.<table>")],
    path: Annotated[Path, typer.Argument(help="a .csv, .parquet or .jsonl file")],
    branch: Annotated[
        str | None, typer.Option("--branch", "-b", help="default: main (via write-audit-publish)")
    ] = None,
    mode: Annotated[str, typer.Option(help="append or overwrite")] = "append",
    evolve: Annotated[bool, typer.Option("--evolve", help="add columns the table lacks")] = False,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, parquet or json (default: by extension)")
    ] = None,
    output: OutputOpt = None,
) -> None:
    """Load a file into a table on a branch, as one atomic commit."""
    lh = cli_state(ctx).lakehouse()
    result = lh.ingest(table, path, branch=branch, mode=mode, evolve=evolve, fmt=fmt)  # type: ignore[arg-type]
    emit(
        cli_state(ctx).fmt(output),
        result.to_dict(),
        lambda: say(
            f"{'Created' if result.created else 'Wrote'} {result.table} on {result.branch}: {result.rows} rows "
            f"({result.mode}) -> commit {short(result.hash)}"
            + (f"; new columns {', '.join(result.evolved)}" if result.evolved else "")
        ),
    )


@app.command()
def quickstart(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="folder to create (default: a new temp folder)")
    ] = None,
    output: OutputOpt = None,
) -> None:
    """The whole story on the sample dbt project: production build, a PR (open, report, merge)."""
    from branchops.quickstart import run_quickstart

    fmt = cli_state(ctx).fmt(output)
    result = run_quickstart(directory, (lambda _m: None) if fmt.value == "json" else say)
    if fmt.value == "json":
        emit(fmt, result.to_dict())
