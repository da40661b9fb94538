"""``branchops serve``: the Iceberg REST catalog over every branch, until interrupted."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from branchops.cli.app import app
from branchops.cli.output import err_console
from branchops.cli.state import cli_state
from branchops.errors import ConfigError, ExitCode

DEFAULT_TOKEN_ENV = "BRANCHOPS_REST_TOKEN"


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="port (0: the OS picks one)")] = 8181,
    token_env: Annotated[str, typer.Option(
        "--token-env", help="environment variable holding the bearer token clients must send (unset: no auth)"
    )] = DEFAULT_TOKEN_ENV,
) -> ExitCode:
    """Serve the Apache Iceberg REST catalog API over every branch (schema 'analytics@pr-42')."""
    from branchops.rest import RestServer

    token = os.environ.get(token_env) or None
    if host not in ("127.0.0.1", "localhost", "::1") and token is None:
        err_console.print(f"[yellow]warning:[/] serving on {host} without a token: set {token_env} to require one")
    lh = cli_state(ctx).lakehouse()
    try:
        server = RestServer(lh.catalog, host=host, port=port, token=token)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}", unchanged="nothing was started",
                          hint="pick another --port (0 lets the OS choose)") from None
    # The one line a supervisor (or a test) reads to find the endpoint.
    print(f"BRANCHOPS_REST_URI={server.uri}", flush=True)
    err_console.print(f"Iceberg REST catalog on {server.uri} ({'bearer token' if token else 'no auth'}); "
                      f"branches: schema 'ns@branch' or warehouse=branch; Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return ExitCode.OK
