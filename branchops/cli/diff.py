"""``branchops diff HEAD [--base main] [--key t=a,b] [--tables 'mart.*'] ...``."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import typer

from branchops.cli.app import OutputOpt, app
from branchops.cli.output import OutputFormat, console, emit, err_console
from branchops.cli.state import cli_state
from branchops.errors import ExitCode, UsageError


@app.command()
def diff(
    ctx: typer.Context,
    head: Annotated[str, typer.Argument(help="ref to inspect: branch, tag, ref@hash or @hash")],
    base: Annotated[str | None, typer.Option("--base", help="ref to compare against (default: main)")] = None,
    key: Annotated[list[str] | None, typer.Option(
        "--key", help="key columns of a table, e.g. raw.orders=order_id or mart.x=a,b (repeatable)")] = None,
    tables: Annotated[list[str] | None, typer.Option(
        "--tables", help="only tables matching these glob patterns, e.g. 'mart.*' (repeatable, or comma-separated)"
    )] = None,
    all_: Annotated[bool, typer.Option("--all", help="list unchanged tables too")] = False,
    sample: Annotated[int, typer.Option("--sample", min=0, help="sample rows per kind and table")] = 5,
    tolerance: Annotated[float, typer.Option("--tolerance", min=0.0, help="floats closer than this are equal")] = 1e-9,
    no_profiles: Annotated[bool, typer.Option("--no-profiles", help="skip column profiles")] = False,
    fail_on_change: Annotated[bool, typer.Option("--fail-on-change", help="exit 1 when anything differs")] = False,
    rebuild_base: Annotated[bool, typer.Option("--rebuild-base", help="diff against the base's code rebuilt on the "
                                               "base's raw data (drift-free; needs --project-dir)")] = False,
    project_dir: Annotated[Path | None, typer.Option("--project-dir", help="the head's dbt project")] = None,
    output: OutputOpt = None,
) -> ExitCode:
    """What changed between two refs: tables, schemas, rows by key, column profiles."""
    if rebuild_base and project_dir is None:
        raise UsageError("--rebuild-base needs --project-dir (the dbt project of the head)",
                         unchanged="nothing was diffed")
    lh = cli_state(ctx).lakehouse()
    patterns = [p.strip() for spec in tables or [] for p in spec.split(",") if p.strip()]
    from branchops.diff import DiffOptions, diff_refs, parse_key_flags, print_text, render_markdown

    options = DiffOptions(
        keys=parse_key_flags(key or []), tables=patterns, include_unchanged=all_, sample=sample,
        tolerance=tolerance, profiles=not no_profiles,
    )
    chosen = None
    with contextlib.ExitStack() as stack:
        against = base or lh.main
        if rebuild_base:
            from branchops.pr.drift_free import rebuilt_base

            assert project_dir is not None
            chosen = stack.enter_context(rebuilt_base(lh, against, head, project_dir))
            against = chosen.ref
        result = diff_refs(lh, against, head, options=options)  # in the engine of the settings
    if chosen is not None:
        result = dataclasses.replace(result, base=dataclasses.replace(result.base, ref=base or lh.main))
        err_console.print(f"diff mode: {chosen.mode} ({chosen.reason})")
    fmt = cli_state(ctx).fmt(output)
    if fmt is OutputFormat.JSON:
        emit(fmt, result.to_dict() | (chosen.to_dict() if chosen is not None else {}))
    elif fmt is OutputFormat.MARKDOWN:
        sys.stdout.write(render_markdown(result))
    else:
        print_text(result, console)
    return ExitCode.CHECK_FAILED if fail_on_change and result.differs else ExitCode.OK
