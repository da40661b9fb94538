"""The typer app, its global options, and the one place errors become exit codes."""

from __future__ import annotations

import logging
import re
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
import typer.exceptions
from rich.markup import escape

from branchops import progress
from branchops.cli import process
from branchops.cli.output import OutputFormat, err_console
from branchops.cli.state import State, cli_state
from branchops.errors import BackendError, BranchopsError, ExitCode
from branchops.secrets import redact


def _click(name: str) -> tuple[type[BaseException], ...]:
    """Exception class ``name`` (``ClickException``, ``Exit``, ``Abort``) of each click in the process:
    the copy typer >= 0.26 vendors, and click itself once something imported it (older typer, dbt).
    Read when an exception is handled, so the CLI never imports click only to name its errors."""
    found = [getattr(typer.exceptions, name)] if hasattr(typer.exceptions, name) else []
    for module in ("typer._click.exceptions", "click.exceptions"):
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None:
            found.append(cls)
    return tuple(found)


app = typer.Typer(
    name="branchops",
    help="Zero-copy branches of an Iceberg lakehouse for every pull request of a dbt project.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

OutputOpt = Annotated[
    OutputFormat | None,
    typer.Option("--output", "-o", help="text (default) or json: then stdout holds only JSON"),
]
DEBUG_LOG = "branchops-debug.log"


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="branchops.toml (default: found upwards from here)")
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", help="text or json")] = OutputFormat.TEXT,
    debug: Annotated[
        bool, typer.Option("--debug", help=f"write tracebacks and debug logs to ./{DEBUG_LOG}")
    ] = False,
) -> None:
    state = cli_state(ctx)
    state.config, state.output, state.debug = config, output, debug
    if debug:
        from branchops.secrets import RedactingFilter, quiet_chatty_loggers

        logging.basicConfig(
            filename=DEBUG_LOG, level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s"
        )
        quiet_chatty_loggers()
        for handler in logging.getLogger().handlers:
            handler.addFilter(RedactingFilter())


def wants_json(argv: list[str]) -> bool:
    """``--output json`` (``-o json``, ``--output=json``, ``-ojson``) anywhere before ``--``."""
    for i, arg in enumerate(argv):
        if arg == "--":
            return False
        if arg in ("--output=json", "-ojson") or (arg in ("--output", "-o") and argv[i + 1:i + 2] == ["json"]):
            return True
    return False


def _print_json_error(state: State, data: dict[str, object]) -> None:
    if (state.output is OutputFormat.JSON or state.json_errors) and not state.json_printed:
        import json

        sys.stdout.write(redact(json.dumps(data, indent=2, default=str)) + "\n")
        state.json_printed = True


def _report(state: State, err: BranchopsError) -> ExitCode:
    _print_json_error(state, err.to_dict())
    err_console.print(f"[bold red]error:[/] {escape(redact(err.message))}", soft_wrap=True)
    if err.unchanged:
        err_console.print(f"[dim]unchanged:[/] {escape(redact(err.unchanged))}")
    if err.hint:
        err_console.print(f"[dim]next:[/] {escape(redact(err.hint))}")
    return ExitCode(err.exit_code)


_ACCESS_DENIED = re.compile(r"access.?denied|forbidden|\b403\b|InvalidAccessKeyId|SignatureDoesNotMatch", re.I)


def storage_error(e: OSError) -> BackendError:
    """A file system error that escaped a command (pyiceberg / pyarrow on S3) as a BackendError."""
    text = f"{e}".strip() or type(e).__name__
    if _ACCESS_DENIED.search(text):
        hint = ("check the S3 credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the machine's "
                "role): they must allow reading and writing the warehouse bucket")
    else:
        hint = "check that the warehouse (warehouse, s3_endpoint) is reachable and retry; --debug logs the details"
    return BackendError(f"storage: {text}", hint=hint)


def catalog_database_error(e: Exception) -> BackendError | None:
    """The embedded catalog's database (PostgreSQL, SQLite) unreachable or failing, as a BackendError."""
    # the drivers' own errors (sqlite3 always loaded; psycopg2 only if the catalog is on PostgreSQL)
    kinds = tuple(getattr(sys.modules[driver], kind) for driver in ("sqlite3", "psycopg2") if driver in sys.modules
                  for kind in ("OperationalError", "InterfaceError"))
    if not isinstance(e, kinds):
        return None
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return BackendError(f"the catalog database failed: {first}", unchanged="nothing was written",
                        hint="check catalog_uri and that the database server is running and reachable")


def _internal_error(state: State, e: Exception) -> ExitCode:
    if state.debug:
        with open(DEBUG_LOG, "a") as f:
            f.write(redact(traceback.format_exc()))
    what, hint = type(e).__name__ + ": " + str(e), f"re-run with --debug; the traceback is written to ./{DEBUG_LOG}"
    _print_json_error(state, {"error": "InternalError", "message": what, "hint": hint})
    err_console.print(f"[bold red]internal error:[/] {escape(redact(what))}")
    err_console.print(f"[dim]next:[/] {hint}")
    return ExitCode.CHECK_FAILED


def _terminal_progress(text: str) -> None:
    err_console.print(f"[dim]{escape(redact(text))}[/]", soft_wrap=True, highlight=False)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run a command, map every failure to a message and an exit code.

    Commands end one way: they return ``None`` (exit 0) or an :class:`ExitCode`, or raise a
    :class:`BranchopsError`, whose ``exit_code`` says which; anything else is exit 1 or 2 here.
    """
    from branchops.cli import commands  # noqa: F401 - registers the commands

    whole_process = argv is None  # the console script or ``python -m branchops``, not a test calling in
    if whole_process:
        process.start()
    args = list(sys.argv[1:] if argv is None else argv)
    state = State(json_errors=wants_json(args))
    code: int = ExitCode.OK
    try:
        with progress.showing(_terminal_progress if sys.stderr.isatty() and not state.json_errors else None):
            result = app(args=args, standalone_mode=False, obj=state)
        code = ExitCode(result) if isinstance(result, int) else ExitCode.OK
    except BranchopsError as e:
        logging.getLogger("branchops").debug("error", exc_info=True)
        code = _report(state, e)
    except _click("Exit") as e:  # --help, --version and click's own exits
        code = int(getattr(e, "exit_code", 0))
    except _click("Abort"):
        err_console.print("aborted")
        code = ExitCode.CHECK_FAILED
    except _click("ClickException") as e:
        message = e.format_message()  # type: ignore[attr-defined]
        if message:  # an empty one follows the help text of a bare group command
            _print_json_error(state, {"error": "UsageError", "message": message, "unchanged": "nothing was run",
                                      "hint": "run with --help to see the usage"})
            err_console.print(f"[bold red]error:[/] {redact(message)}")
            err_console.print("[dim]next:[/] run with --help to see the usage")
        code = ExitCode.USAGE
    except KeyboardInterrupt:
        code = 130
    except OSError as e:  # the warehouse's storage (S3, a folder) refused or failed: a backend failure
        logging.getLogger("branchops").debug("storage error", exc_info=True)
        code = _report(state, storage_error(e))
    except Exception as e:  # an internal error: no traceback for users, it goes to the debug log
        backend = catalog_database_error(e)
        if backend is not None:
            logging.getLogger("branchops").debug("catalog database error", exc_info=True)
            code = _report(state, backend)
        else:
            code = _internal_error(state, e)
    finally:
        state.close()
    if whole_process:
        process.before_exit()
        process.exit_now(int(code))
    sys.exit(int(code))
