"""The quoting helpers round-trip awkward names and values through a real DuckDB."""

from __future__ import annotations

import duckdb

from branchops.sql_text import quote, sql_string


def test_quoted_identifier_and_literal_round_trip() -> None:
    name, value = 'we"ird name', "it's; DROP TABLE x; --"
    con = duckdb.connect()
    con.execute(f"CREATE TABLE {quote(name)} (v VARCHAR)")
    con.execute(f"INSERT INTO {quote(name)} VALUES ({sql_string(value)})")
    assert con.execute("SELECT table_name FROM information_schema.tables").fetchall() == [(name,)]
    assert con.execute(f"SELECT v FROM {quote(name)}").fetchall() == [(value,)]
    assert quote('a"b') == '"a""b"' and sql_string("it's") == "'it''s'"
