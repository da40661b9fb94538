"""Connecting other engines to ``branchops serve`` (used by tests, benchmarks and users' scripts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from branchops.engine.duckdb import extension_path, load_iceberg
from branchops.sql_text import quote, sql_string

if TYPE_CHECKING:
    import duckdb


def duckdb_attach(con: duckdb.DuckDBPyConnection, uri: str, branch: str, alias: str,
                  *, token: str | None = None) -> None:
    """``ATTACH`` branch ``branch`` of the catalog at ``uri`` as DuckDB catalog ``alias``.

    Loads the pinned Iceberg, Avro and httpfs extensions from their wheels (no download).
    ``alias.raw.orders`` is then the branch's ``raw.orders``; ``alias."raw@main".orders``
    reads another branch through the same attachment.
    """
    load_iceberg(con)
    con.execute(f"LOAD {sql_string(str(extension_path('httpfs')))}")
    options = [f"TYPE iceberg, ENDPOINT {sql_string(uri)}"]
    if token:
        secret = f"branchops_rest_{alias}"
        con.execute(f"CREATE OR REPLACE SECRET {quote(secret)} (TYPE iceberg, TOKEN {sql_string(token)})")
        options.append(f"SECRET {quote(secret)}")
    else:
        options.append("AUTHORIZATION_TYPE 'none'")
    con.execute(f"ATTACH {sql_string(branch)} AS {quote(alias)} ({', '.join(options)})")
