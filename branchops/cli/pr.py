"""``branchops pr open|sync|status|merge|close`` and ``branchops gc``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from branchops.cli.app import OutputOpt, app
from branchops.cli.output import OutputFormat, emit, err_console, say, short
from branchops.cli.state import cli_state
from branchops.errors import ExitCode, UsageError
from branchops.pr.model import OnConflict
from branchops.secrets import redact

if TYPE_CHECKING:
    from branchops.pr import Outcome, PullRequests

pr_app = typer.Typer(help="The PR lifecycle in CI: build and diff a branch per PR, merge on approval.",
                     no_args_is_help=True)
app.add_typer(pr_app, name="pr")

PrOpt = Annotated[int, typer.Option("--pr", help="pull-request number")]
ShaOpt = Annotated[str, typer.Option("--sha", help="the commit the PR's code is at")]
ProjectOpt = Annotated[Path, typer.Option("--project-dir", help="the dbt project at that commit")]
BaseOpt = Annotated[str | None, typer.Option("--base", help="branch to fork from and merge into (default: main)")]
ClassifyOpt = Annotated[str, typer.Option("--classify", help="on: models downstream of only non-breaking "
                                          "changes keep the base's tables; off: build all of state:modified+")]
BaseModeOpt = Annotated[str, typer.Option("--base-mode", help="auto: when raw tables moved after the base's last "
                                          "build, diff against the base's code rebuilt on the same raw data "
                                          "(drift_free); stored: diff against the base's tables as they are")]


@contextmanager
def _prs(ctx: typer.Context, fmt: OutputFormat, classify: bool = True, base_mode: str = "auto"
         ) -> Iterator[PullRequests]:
    """The ``pr`` commands over the configured lakehouse; the reporter's HTTP client is closed after."""
    def echo(text: str) -> None:
        # A local run prints the report; with --output json stdout holds only the JSON.
        (sys.stderr if fmt is OutputFormat.JSON else sys.stdout).write(redact(text) + "\n")

    def progress(msg: str) -> None:
        if fmt is not OutputFormat.JSON:
            err_console.print(f"[dim]{redact(msg)}[/]")

    from branchops.pr import PullRequests, Reporter
    from branchops.pr.dbt_step import DbtBuilder
    from branchops.pr.diff_step import DataDiffer

    prs = PullRequests(cli_state(ctx).lakehouse(), Reporter.from_env(echo=echo), progress=progress,
                       builder=DbtBuilder(classify=classify), differ=DataDiffer(base_mode=base_mode))
    try:
        yield prs
    finally:
        prs.reporter.close()


def _finish(fmt: OutputFormat, outcome: Outcome, human: str) -> ExitCode:
    emit(fmt, outcome.to_dict(), lambda: say(human + (f": {outcome.reason}" if outcome.reason else "")))
    return ExitCode(outcome.exit_code)


def _sync(ctx: typer.Context, pr: int, sha: str, project_dir: Path, base: str | None, output: OutputFormat | None,
          classify: str = "on", base_mode: str = "auto") -> ExitCode:
    if classify not in ("on", "off"):
        raise UsageError(f"--classify must be on or off, not {classify!r}", unchanged="nothing was built")
    if base_mode not in ("auto", "stored"):
        raise UsageError(f"--base-mode must be auto or stored, not {base_mode!r}", unchanged="nothing was built")
    fmt = cli_state(ctx).fmt(output)
    with _prs(ctx, fmt, classify=classify == "on", base_mode=base_mode) as prs:
        out = prs.sync(pr, sha, project_dir, base)
    comment = f"; comment {out.comment_url}" if out.comment_url else ""
    return _finish(fmt, out, f"PR #{pr}: {out.branch} {out.status.value} at {short(out.hash)}; "
                   f"{len(out.changed_tables)} table(s) changed{comment}")


@pr_app.command("open")
def open_(ctx: typer.Context, pr: PrOpt, sha: ShaOpt, project_dir: ProjectOpt, base: BaseOpt = None,
          output: OutputOpt = None, classify: ClassifyOpt = "on", base_mode: BaseModeOpt = "auto") -> ExitCode:
    """Fork pr-N from the base, build state:modified+ with tests, diff, report, record the validation."""
    return _sync(ctx, pr, sha, project_dir, base, output, classify, base_mode)


@pr_app.command("sync")
def sync(ctx: typer.Context, pr: PrOpt, sha: ShaOpt, project_dir: ProjectOpt, base: BaseOpt = None,
         output: OutputOpt = None, classify: ClassifyOpt = "on", base_mode: BaseModeOpt = "auto") -> ExitCode:
    """Same as open, for a new push: starts from a fresh fork of the current base."""
    return _sync(ctx, pr, sha, project_dir, base, output, classify, base_mode)


@pr_app.command("status")
def status(ctx: typer.Context, pr: PrOpt, output: OutputOpt = None) -> None:
    """The PR branch and its last validation (or the merge that landed it)."""
    fmt = cli_state(ctx).fmt(output)
    with _prs(ctx, fmt) as prs:
        out = prs.status(pr)
    v = out.validation or {}
    emit(fmt, out.to_dict(), lambda: say(
        f"PR #{pr} ({out.branch}): {out.status.value}"
        + (f", validated {short(v.get('sha'))} on {v.get('base')}@{short(v.get('base_hash'))}" if v else "")
        + (f"; changed: {', '.join(out.changed_tables)}" if out.changed_tables else "")
        + (f" ({out.reason})" if out.reason else "")
    ))


@pr_app.command("merge")
def merge(
    ctx: typer.Context,
    pr: PrOpt,
    sha: ShaOpt,
    on_conflict: Annotated[OnConflict, typer.Option("--on-conflict", help="fail, or rebuild on the new base")] = (
        OnConflict.FAIL
    ),
    project_dir: Annotated[Path | None, typer.Option("--project-dir", help="dbt project (for rebuild)")] = None,
    require_approval: Annotated[bool, typer.Option("--require-approval", help="an approving review of --sha")] = False,
    merge_code: Annotated[bool, typer.Option(
        "--merge-code", help="also merge the PR's code pinned to --sha (GitHub/GitLab): both land or neither")] = False,
    output: OutputOpt = None,
) -> ExitCode:
    """Gates, then an atomic merge of pr-N into the base; pr-N is dropped afterwards."""
    fmt = cli_state(ctx).fmt(output)
    with _prs(ctx, fmt) as prs:
        out = prs.merge(pr, sha, on_conflict=on_conflict, project_dir=project_dir,
                        require_approval=True if require_approval else None, merge_code=merge_code)
    m = out.merge or {}
    human = f"PR #{pr}: {out.status.value}"
    if m:
        human += (f" into {m.get('target')} -> {short(m.get('hash'))} (roll back: branchops branch reset "
                  f"{m.get('target')} --to {short(m.get('previous_hash'))})")
    if out.conflicts:
        human += f"; conflicting tables: {', '.join(out.conflicts)}"
    return _finish(fmt, out, human)


@pr_app.command("close")
def close(ctx: typer.Context, pr: PrOpt, output: OutputOpt = None) -> ExitCode:
    """Drop pr-N (fine if it does not exist)."""
    fmt = cli_state(ctx).fmt(output)
    with _prs(ctx, fmt) as prs:
        out = prs.close(pr)
    return _finish(fmt, out, f"PR #{pr}: {out.branch} " + ("dropped" if out.hash else "was not there"))


@app.command("gc")
def gc(
    ctx: typer.Context,
    older_than: Annotated[str | None, typer.Option("--older-than", help="PR branch idle time (7d)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report what would go, change nothing")] = False,
    output: OutputOpt = None,
) -> None:
    """Drop idle PR branches, then delete warehouse files no ref and no recent commit references."""
    from branchops.gc.collect import collect_garbage

    res = collect_garbage(cli_state(ctx).lakehouse(), older_than=older_than, dry_run=dry_run)
    verb = "would free" if dry_run else "freed"
    emit(cli_state(ctx).fmt(output), res.to_dict(), lambda: say(
        f"gc: {'would drop' if dry_run else 'dropped'} {len(res.dropped_branches)} branch(es)"
        + (f" ({', '.join(b['name'] for b in res.dropped_branches)})" if res.dropped_branches else "")
        + f"; {verb} {res.bytes_freed:,} bytes in {res.deleted_files} file(s); "
        f"{res.referenced_files} file(s) referenced, {res.kept_recent_files} recent unreferenced file(s) kept"
    ))
