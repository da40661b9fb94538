"""``branchops sql`` is read-only: one query, nothing that writes data, files or settings.

Two layers, so that neither alone has to be perfect:

1. the statement is classified by a parser: DuckDB's own (``extract_statements``) on DuckDB,
   sqlglot in the engine's dialect everywhere: exactly one statement, a query (SELECT, a set
   operation, VALUES), with no DDL, DML, COPY, ATTACH, INSTALL / LOAD, SET, USE or
   ``SELECT ... INTO`` anywhere inside;
2. the engine itself refuses what slips through: DuckDB runs the query with
   ``enable_external_access = false`` (files outside the ref's tables are out of reach, no
   extension can be loaded, no database attached) and ``lock_configuration = true``
   (:meth:`branchops.engine.duckdb.DuckDBEngine.query_ref_readonly`); Trino is asked for the
   query's I/O plan first (``EXPLAIN (TYPE IO)``) and anything with an output table is refused.

A refusal is a :class:`~branchops.errors.UsageError` (exit 2) and nothing has run.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from branchops.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa

    from branchops.engine.base import Engine

#: sqlglot expression classes that write, change the session, or run something opaque
_FORBIDDEN = (
    "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "Copy", "Command", "Set", "Use",
    "TruncateTable", "Grant", "Revoke", "Refresh", "Analyze", "Comment", "Into", "Attach", "Detach", "Pragma",
    "Transaction", "Commit", "Rollback", "Install", "Load", "Export", "Call", "Cache", "Uncache",
)
#: sqlglot expression classes a read-only statement may be
_QUERIES = ("Query", "Values", "Describe")
#: DuckDB statement types a read-only statement may be
_DUCKDB_QUERIES = frozenset({"SELECT"})


def refuse(sql: str, why: str) -> UsageError:
    text = " ".join(sql.split())
    return UsageError(
        f"`branchops sql` only runs read-only queries: {why} ({text[:80]}{'...' if len(text) > 80 else ''})",
        unchanged="nothing was run; no table, file or setting was changed",
        hint="write one SELECT; to change data use `branchops ingest`, dbt (`branchops dbt build`) or a merge",
    )


def classify(sql: str, dialect: str) -> None:
    """Raise :class:`UsageError` unless ``sql`` parses, in ``dialect``, as one read-only query."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    log = logging.getLogger("sqlglot")
    level = log.level
    log.setLevel(logging.ERROR)  # "falling back to parsing as a Command" is a refusal here, not a warning
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except SqlglotError as e:
        raise refuse(sql, f"it could not be checked ({str(e).splitlines()[0][:120]})") from None
    finally:
        log.setLevel(level)
    if len(statements) != 1:
        raise refuse(sql, f"it holds {len(statements)} statements, one query is allowed")
    stmt = statements[0]
    forbidden = tuple(c for name in _FORBIDDEN if isinstance(c := getattr(exp, name, None), type))
    allowed = tuple(c for name in _QUERIES if isinstance(c := getattr(exp, name, None), type))
    if not isinstance(stmt, allowed) or isinstance(stmt, forbidden):
        raise refuse(sql, f"it is a {type(stmt).__name__.upper()} statement, not a query")
    for node in stmt.walk():
        if isinstance(node, forbidden):
            raise refuse(sql, f"it contains {type(node).__name__.upper()}")


def classify_duckdb(sql: str) -> None:
    """DuckDB's own parser: exactly one statement, of type SELECT."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise UsageError(f"the query does not parse: {str(e).strip().splitlines()[0]}",
                         unchanged="nothing was run", hint="fix the SQL (DuckDB dialect)") from None
    if len(statements) != 1:
        raise refuse(sql, f"it holds {len(statements)} statements, one query is allowed")
    kind = statements[0].type.name
    if kind not in _DUCKDB_QUERIES:
        raise refuse(sql, f"it is a {kind} statement, not a query")


def check_statement(sql: str, engine: str) -> None:
    """The parser layer alone, before any engine is set up (so a refusal costs no engine start):
    DuckDB's own parser for ``engine == "duckdb"``, sqlglot in that dialect otherwise.

    Raises:
        UsageError: the statement is not one read-only query.
    """
    if engine == "duckdb":
        classify_duckdb(sql)
    else:
        classify(sql, engine)


def io_plan_writes(plan_json: str) -> bool:
    """Whether Trino's ``EXPLAIN (TYPE IO, FORMAT JSON)`` names a table the statement writes."""
    try:
        plan = json.loads(plan_json)
    except json.JSONDecodeError:
        return True  # not the plan of a query
    return not isinstance(plan, dict) or plan.get("outputTable") is not None


def run_read_only(engine: Engine, ref: str, sql: str) -> pa.Table:
    """Run ``sql`` on ``ref`` if, and only if, it is a read-only query (see module docstring).

    Raises:
        UsageError: the statement is not a read-only query (nothing ran).
    """
    readonly = getattr(engine, "query_ref_readonly", None)
    if readonly is not None:  # DuckDB: parsers, then the query under locked-down settings
        classify_duckdb(sql)
        result: pa.Table = readonly(ref, sql)
        return result
    classify(sql, engine.DIALECT)
    plan = engine.query_ref(ref, f"EXPLAIN (TYPE IO, FORMAT JSON) {sql}")
    if plan.num_rows != 1 or io_plan_writes(str(plan.column(0)[0].as_py())):
        raise refuse(sql, "the engine's plan writes a table")
    return engine.query_ref(ref, sql)
