"""``branchops branch create|list|show|log|merge|drop|reset``."""

from __future__ import annotations

from typing import Annotated

import typer

from branchops.cli.app import OutputOpt, app
from branchops.cli.output import emit, say, short, table
from branchops.cli.state import cli_state
from branchops.errors import MergeConflict, UsageError

branch_app = typer.Typer(
    help="Branches of the whole catalog: create, inspect, merge, drop.", no_args_is_help=True
)
app.add_typer(branch_app, name="branch")


@branch_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="new branch name (git ref rules)")],
    from_ref: Annotated[
        str | None, typer.Option("--from", help="ref or ref@hash to fork (default: main)")
    ] = None,
    output: OutputOpt = None,
) -> None:
    """Fork a branch of every table (zero-copy: only pointers are copied)."""
    from branchops.catalog.base import validate_ref_name

    validate_ref_name(name)  # the branchops-wap- prefix is branchops' own
    if from_ref is not None and not from_ref.strip():
        raise UsageError("--from is empty", unchanged="no ref was created", hint="name a ref, REF@HASH or @HASH")
    lh = cli_state(ctx).lakehouse()
    ref = lh.catalog.create_branch(name, from_ref or lh.main)  # a commit gc collected: CheckFailed, exit 1
    emit(cli_state(ctx).fmt(output), ref.to_dict(), lambda: say(f"Created branch {ref.name} at {short(ref.hash)}"))


@branch_app.command("list")
def list_(ctx: typer.Context, output: OutputOpt = None) -> None:
    """All branches and tags."""
    refs = cli_state(ctx).lakehouse().catalog.list_refs()
    emit(
        cli_state(ctx).fmt(output),
        [r.to_dict() for r in refs],
        lambda: table(None, ["name", "type", "hash"], [(r.name, r.type.value, short(r.hash)) for r in refs]),
    )


@branch_app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="ref, ref@hash or @hash")], output: OutputOpt = None
) -> None:
    """A ref's hash and the metadata location of each of its tables."""
    cat = cli_state(ctx).lakehouse().catalog
    tables = dict(sorted(cat.tables(ref).items()))
    data = {"name": ref, "hash": cat.resolve(ref), "tables": tables}

    def human() -> None:
        say(f"{ref} at {data['hash']}")
        table(None, ["table", "metadata location"], tables.items())

    emit(cli_state(ctx).fmt(output), data, human)


@branch_app.command("log")
def log(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="ref to walk back from")],
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="at most this many commits")] = None,
    output: OutputOpt = None,
) -> None:
    """Commits of a ref, newest first."""
    commits = cli_state(ctx).lakehouse().catalog.log(ref, limit)
    emit(
        cli_state(ctx).fmt(output),
        [c.to_dict() for c in commits],
        lambda: table(
            None,
            ["hash", "when", "author", "message", "tables"],
            [
                (
                    short(c.hash),
                    c.timestamp[:19],
                    c.author,
                    c.message,
                    ", ".join(ch.table for ch in c.changes),
                )
                for c in commits
            ],
        ),
    )


@branch_app.command("merge")
def merge(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="branch (or ref@hash) to merge")],
    into: Annotated[str | None, typer.Option("--into", help="target branch (default: main)")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="report what would happen, write nothing")
    ] = False,
    message: Annotated[str | None, typer.Option("--message", "-m")] = None,
    output: OutputOpt = None,
) -> None:
    """Three-way merge of every table, in one atomic commit (fast-forward when possible)."""
    lh = cli_state(ctx).lakehouse()
    target = into or lh.main
    try:
        res = lh.catalog.merge(
            source, target, dry_run=dry_run, message=message, author=lh.settings.author_name
        )
    except MergeConflict as e:
        if cli_state(ctx).fmt(output).value == "json":
            emit(cli_state(ctx).fmt(output), {"source": source, "target": target, "conflicts": e.conflicts})
            cli_state(ctx).json_printed = True  # the JSON is printed; the error goes to stderr only
        raise
    verb = "Would merge" if dry_run else "Merged"
    emit(
        cli_state(ctx).fmt(output),
        res.to_dict(),
        lambda: say(
            f"{verb} {source} into {target}"
            + (" (fast-forward)" if res.fast_forward else "")
            + f": {', '.join(res.merged_tables) or 'nothing to merge'}"
            + ("" if dry_run else f" -> {short(res.hash)}")
        ),
    )


@branch_app.command("drop")
def drop(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="branch or tag to drop")],
    expected_hash: Annotated[
        str | None, typer.Option("--expected-hash", help="only if still at this hash")
    ] = None,
    output: OutputOpt = None,
) -> None:
    """Drop a branch (protected branches are refused). Its data files stay until `gc`."""
    cat = cli_state(ctx).lakehouse().catalog
    ref = cat.get_ref(name)
    cli_state(ctx).lakehouse().drop_branch(name, expected_hash)
    emit(
        cli_state(ctx).fmt(output),
        {"dropped": name, "hash": ref.hash},
        lambda: say(f"Dropped {name} (was {short(ref.hash)})"),
    )


@branch_app.command("reset")
def reset(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="branch to roll back")],
    to: Annotated[str, typer.Option("--to", help="commit hash (or ref) whose tables to restore")],
    output: OutputOpt = None,
) -> None:
    """Roll a branch's tables back to an earlier commit, as a new commit (history is kept)."""
    lh = cli_state(ctx).lakehouse()
    commit = lh.catalog.reset(ref, to, author=lh.settings.author_name)  # a commit gc collected: exit 1
    emit(
        cli_state(ctx).fmt(output),
        commit.to_dict(),
        lambda: say(
            f"Reset {ref} to {short(to)}: {len(commit.changes)} table(s) restored -> {short(commit.hash)}"
        ),
    )
