"""``branchops init --print-roles / --apply-roles``: per-job database roles of a PostgreSQL catalog."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from branchops.cli.output import OutputFormat, emit, err_console
from branchops.config import CONFIG_NAME, load_settings
from branchops.secrets import redact


def init_roles(
    directory: Path, fmt: OutputFormat, *, prefix: str, apply: bool, init: Callable[[], Any],
    catalog_uri: str | None, config: Path | None,
) -> None:
    """Print (and with ``apply`` run) the role setup; initializes ``directory`` first if needed."""
    from branchops.security.postgres_roles import RoleNames, require_postgres, role_setup

    RoleNames.from_prefix(prefix)  # a bad prefix fails before anything is written
    config = config or directory / CONFIG_NAME
    if not Path(config).is_file():
        require_postgres(catalog_uri or "sqlite://")  # before init writes anything
        init()
    result = role_setup(load_settings(config), prefix=prefix, apply=apply)
    if fmt is OutputFormat.JSON:
        emit(fmt, result)
        return
    sys.stdout.write(redact(result["sql"]))
    roles = result["roles"]
    done = "applied" if apply else "printed (apply with --apply-roles, or run it with psql as the tables' owner)"
    err_console.print(
        f"Roles {roles['pr']}, {roles['merge']}, {roles['gc']} for schema {result['schema']}: {done}. "
        f"Grant them to your CI jobs' login users, e.g. GRANT {roles['pr']} TO ci_pr_sync;",
        soft_wrap=True,
    )
