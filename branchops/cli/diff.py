"""``branchops diff HEAD [--base main] [--key t=a,b] [--tables 'mart.*'] ...``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from branchops.cli.app import OutputOpt, app
from branchops.cli.output import OutputFormat, console, emit
from branchops.cli.state import STATE
from branchops.errors import ExitCode


@app.command()
def diff(
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
    output: OutputOpt = None,
) -> int:
    """What changed between two refs: tables, schemas, rows by key, column profiles."""
    lh = STATE.lakehouse()
    patterns = [p.strip() for spec in tables or [] for p in spec.split(",") if p.strip()]
    from branchops.diff import DiffOptions, diff_refs, parse_key_flags, print_text, render_markdown

    options = DiffOptions(
        keys=parse_key_flags(key or []), tables=patterns, include_unchanged=all_, sample=sample,
        tolerance=tolerance, profiles=not no_profiles,
    )
    result = diff_refs(lh, base or lh.main, head, options=options)  # in the engine of the settings
    fmt = STATE.fmt(output)
    if fmt is OutputFormat.JSON:
        emit(fmt, result.to_dict())
    elif fmt is OutputFormat.MARKDOWN:
        sys.stdout.write(render_markdown(result))
    else:
        print_text(result, console)
    return int(ExitCode.CHECK_FAILED) if fail_on_change and result.differs else int(ExitCode.OK)
