"""What the global options put in place for every command: a :class:`State` in typer's context.

``main`` makes one ``State`` per run and hands it to the app as the context's ``obj``; a command
reads it with :func:`cli_state`. Nothing lives in a module global, so two runs in one process
(tests, the Dagster integration) share nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from branchops.cli.output import OutputFormat
from branchops.errors import ConfigError

if TYPE_CHECKING:
    from branchops.config import Settings
    from branchops.lakehouse import Lakehouse


@dataclass
class State:
    config: Path | None = None
    output: OutputFormat = OutputFormat.TEXT
    debug: bool = False
    #: ``--output json`` appears anywhere on the command line: errors are printed as JSON too
    json_errors: bool = False
    #: the command has printed its JSON already (a merge conflict's result): no second object
    json_printed: bool = False
    _lakehouse: Lakehouse | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        from branchops.config import load_settings

        return load_settings(self.config)

    def lakehouse(self) -> Lakehouse:
        if self._lakehouse is None:
            from branchops.lakehouse import Lakehouse

            settings = self.settings()
            check_catalog_uri(settings, must_exist=True)  # `branchops init` alone creates a catalog
            self._lakehouse = Lakehouse(settings)
        return self._lakehouse

    def fmt(self, override: OutputFormat | None) -> OutputFormat:
        return override or self.output

    def close(self) -> None:
        """Close the lakehouse the command opened, if any."""
        if self._lakehouse is not None:
            self._lakehouse.close()
            self._lakehouse = None


def check_catalog_uri(settings: Settings, *, must_exist: bool) -> None:
    """A ``catalog_uri`` the embedded backend can open; with ``must_exist`` (every command but
    ``init``) an SQLite catalog's file must be there already, so a mistyped path never starts an
    empty lakehouse: only ``branchops init`` (``--if-missing`` in CI) creates one.

    Raises:
        ConfigError.
    """
    if settings.backend != "sql":
        return
    from branchops.catalog.sql.db import DatabaseUriError, database_class, database_name

    try:
        database_class(settings.catalog_url).check_driver()
    except DatabaseUriError as e:
        if e.scheme is None:
            raise ConfigError(f"catalog_uri {settings.catalog_uri!r} is not a database URL",
                              unchanged="nothing was read",
                              hint="use sqlite:///path/catalog.db or postgresql://user@host/db") from None
        raise ConfigError(
            f"catalog_uri scheme {e.scheme!r} is not supported", unchanged="nothing was read or written",
            hint="use sqlite:///path/catalog.db or postgresql://user@host/db (pip install 'branchops[postgres]')",
        ) from None
    from branchops.config import catalog_exists

    if must_exist and not catalog_exists(settings):
        raise ConfigError(
            f"catalog {database_name(settings.catalog_url)} does not exist (catalog_uri {settings.catalog_uri!r})",
            unchanged="nothing was created",
            hint="run `branchops init` to create it (`branchops init --if-missing` next to an existing "
                 "branchops.toml), or fix catalog_uri in branchops.toml / BRANCHOPS_CATALOG_URI",
        )


def cli_state(ctx: typer.Context) -> State:
    """The ``State`` of the running command: the root context's ``obj``, made on first use when the
    app runs without ``main`` (typer's test runner)."""
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj
