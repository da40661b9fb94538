"""``branchops dbt build|run|test|seed|snapshot|compile|ls``, ``branchops sql`` and ``branchops demo-data``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from branchops.cli.app import OutputOpt, app
from branchops.cli.output import OutputFormat, emit, say, short, table
from branchops.cli.state import cli_state
from branchops.errors import UsageError

dbt_app = typer.Typer(
    help="Run dbt on a branch: outputs land on the branch in one commit, only if everything passed.",
    no_args_is_help=True,
)
app.add_typer(dbt_app, name="dbt")

BranchOpt = Annotated[
    str, typer.Option("--branch", "-b", help="branch to build on (main goes through write-audit-publish)")
]
ProjectOpt = Annotated[Path, typer.Option("--project-dir", help="folder holding dbt_project.yml")]
BaseOpt = Annotated[
    str | None, typer.Option("--base", help="ref whose stored build is the --state of state: selectors (default main)")
]
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


def _summary(result: Any) -> None:
    tests = result.tests()
    if result.command == "ls":
        return  # dbt printed the list itself
    if result.published:
        say(f"Published {len(result.published)} table(s) to {result.branch} in one commit "
            f"{short(result.hash)}: {', '.join(result.built)}")
    elif result.command in ("build", "run", "seed", "snapshot"):
        say(f"Nothing to publish: {result.branch} is unchanged")
    for note in result.notes:
        say(f"Note: {note}")
    if result.reused:
        say(f"Kept as they are on {result.branch} (zero-copy): {', '.join(result.reused)}")
    if any(tests.values()):
        say("Tests: " + ", ".join(f"{v} {k}" for k, v in tests.items() if v))
    for e in result.exposures:
        if e.affected:
            say(f"Downstream {e.type or 'exposure'}: {e.label or e.name}" + (f" <{e.url}>" if e.url else ""))


def _command(name: str) -> None:
    @dbt_app.command(name, context_settings=PASS_THROUGH, help=f"`dbt {name}` on a branch; other flags go to dbt.")
    def run(
        ctx: typer.Context,
        branch: BranchOpt,
        project_dir: ProjectOpt = Path("."),
        base: BaseOpt = None,
        output: OutputOpt = None,
    ) -> None:
        from branchops.dbt import run_dbt

        fmt = cli_state(ctx).fmt(output)
        lh = cli_state(ctx).lakehouse()
        result = run_dbt(lh, name, branch=branch, project_dir=project_dir, args=list(ctx.args), base=base,
                         dbt_output="stderr" if fmt is OutputFormat.JSON else "stdout")
        emit(fmt, result.to_dict(), lambda: _summary(result))


for _name in ("build", "run", "test", "seed", "snapshot", "compile", "ls"):
    _command(_name)


@dbt_app.command("deps", context_settings=PASS_THROUGH,
                 help="`dbt deps`: install the project's packages (other flags go to dbt).")
def deps(ctx: typer.Context, project_dir: ProjectOpt = Path(".")) -> None:
    from branchops.dbt.project import DbtProject
    from branchops.dbt.runner import run_deps

    run_deps(DbtProject.load(project_dir).path, list(ctx.args), announce=False)


@app.command("sql")
def sql(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(
        help="SQL in the engine's dialect (DuckDB or Trino); tables are named <namespace>.<table>")],
    branch: Annotated[
        str | None, typer.Option("--branch", "-b", help="ref to query: branch, tag, ref@hash (default: main)")
    ] = None,
    max_rows: Annotated[int, typer.Option("--max-rows", min=1, help="rows to print as text (JSON has all)")] = 100,
    output: OutputOpt = None,
) -> None:
    """Ad-hoc query of a branch's tables (read-only, zero-copy)."""
    import duckdb

    from branchops.engine import load_engine
    from branchops.sql_guard import check_statement, run_read_only

    lh = cli_state(ctx).lakehouse()
    ref = branch or lh.main
    check_statement(query, lh.settings.engine)  # refuse before an engine starts (run_read_only checks again)
    engine = load_engine(lh.settings, lh.catalog)
    try:
        data = run_read_only(engine, ref, query)
    except duckdb.Error as e:
        raise UsageError(f"the query failed: {str(e).strip()}", unchanged="nothing was written",
                         hint=f"`branchops branch show {ref}` lists the tables you can query") from None
    finally:
        engine.close()
    rows = data.to_pylist()
    fmt = cli_state(ctx).fmt(output)

    def human() -> None:
        table(None, data.column_names, [[r[c] for c in data.column_names] for r in rows[:max_rows]])
        if len(rows) > max_rows:
            say(f"... {len(rows) - max_rows} more row(s); use --output json for all")

    emit(fmt, {"ref": ref, "columns": data.column_names, "rows": rows, "row_count": len(rows)}, human)


@app.command("demo-data")
def demo_data(
    ctx: typer.Context,
    scale: Annotated[float, typer.Option("--scale", min=0.0001, help="1.0 ~ 100k customers, 1M orders")] = 1.0,
    branch: Annotated[str | None, typer.Option("--branch", "-b", help="default: main (write-audit-publish)")] = None,
    output: OutputOpt = None,
) -> None:
    """Generate the sample dbt project's raw tables (raw.customers, raw.orders, raw.payments) in one commit."""
    from branchops.demo import load_demo_data

    result = load_demo_data(cli_state(ctx).lakehouse(), scale, branch=branch)
    emit(cli_state(ctx).fmt(output), result, lambda: say(
        f"Wrote {', '.join(f'{t} ({n} rows)' for t, n in result['rows'].items())} to {result['branch']} "
        f"-> commit {short(result['hash'])}"
    ))
