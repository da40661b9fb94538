"""The dbt-duckdb plugin branchops names in the profiles it writes.

It loads DuckDB's Iceberg extension from the pinned wheels (offline) and fills dbt's scratch
database with the branch's tables (see ``branchops.dbt.scratch``) when dbt opens it:
``plugins: [{module: branchops.dbt.plugin, config: {scratch: <spec.json>}}]``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dbt.adapters.duckdb.plugins import BasePlugin

from branchops.dbt.scratch import populate
from branchops.engine.duckdb import load_iceberg

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.scratch: str | None = plugin_config.get("scratch")

    def scratch_path(self) -> str | None:
        """The spec file the scratch database is filled from (None: only load the extension)."""
        scratch = self.scratch
        if scratch and scratch.startswith("env:"):  # the profile stays the same from run to run
            scratch = os.environ.get(scratch[4:])
        return scratch or None

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        scratch = self.scratch_path()
        if scratch:
            populate(conn, scratch)
        else:
            load_iceberg(conn)
