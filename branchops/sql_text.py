"""Quoting for SQL text that branchops writes itself (DuckDB, Trino and PostgreSQL agree on both rules).

Identifiers go in double quotes and literals in single quotes, the quote character doubled inside.
Statements built with sqlglot do not need these; they are for the few statements written as text.
"""

from __future__ import annotations


def quote(ident: str) -> str:
    """``ident`` as a quoted SQL identifier: ``a"b`` -> ``"a""b"``."""
    return '"' + ident.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    """``value`` as a SQL string literal: ``it's`` -> ``'it''s'``."""
    return "'" + value.replace("'", "''") + "'"
