"""The embedded catalog's DB-API layer (:mod:`branchops.catalog.sql.db`) on SQLite and a real
PostgreSQL server: one SQL text for both, transactions, savepoints, one IntegrityError, pooled
connections that survive a server dropping them."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from branchops.catalog.sql.db import Database, DatabaseUriError, IntegrityError, connect, database_class
from branchops.catalog.sql.params import expand_lists, pyformat


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    uri = f"sqlite:///{tmp_path}/t.db" if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))
    database = connect(uri)
    with database.transaction() as conn:
        conn.execute("CREATE TABLE kv (k VARCHAR(10) NOT NULL, n INTEGER NOT NULL, v VARCHAR(20), PRIMARY KEY (k, n))")
    yield database
    database.close()


def test_one_sql_text_runs_on_both(db: Database) -> None:
    with db.transaction() as conn:
        conn.insert("kv", [{"k": "a", "n": i, "v": f"{i}%"} for i in range(3)] + [{"k": "b", "n": 0, "v": None}])
        conn.execute_many("UPDATE kv SET v = :v WHERE k = :k AND n = :n", [{"k": "a", "n": 0, "v": "zero"}])
    with db.transaction(read_only=True) as conn:
        # a literal % next to parameters; a scalar list; a list of row values
        assert conn.execute("SELECT n FROM kv WHERE v LIKE '%\\%' ESCAPE '\\' AND k = :k ORDER BY n", {"k": "a"}) == [
            (1,), (2,)]
        assert conn.scalar("SELECT count(*) FROM kv WHERE n IN :ns AND k = :k", {"ns": [0, 2], "k": "a"}) == 2
        found = conn.execute("SELECT k, n FROM kv WHERE (k, n) IN :keys ORDER BY k", {"keys": [("a", 1), ("b", 0)]})
        assert found == [("a", 1), ("b", 0)]
        assert conn.first("SELECT v FROM kv WHERE k = :k", {"k": "nothing"}) is None
        assert conn.existing_tables(["kv", "nope"]) == {"kv"}


def test_a_failed_block_writes_nothing_and_a_savepoint_keeps_the_rest(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.insert("kv", [{"k": "x", "n": 1, "v": None}])
        raise RuntimeError
    with db.transaction() as conn:
        conn.insert("kv", [{"k": "y", "n": 1, "v": "kept"}])
        with pytest.raises(IntegrityError), conn.savepoint():
            conn.insert("kv", [{"k": "z", "n": 1, "v": None}])
            conn.insert("kv", [{"k": "y", "n": 1, "v": "duplicate"}])  # either driver's error, one type
        with pytest.raises(IntegrityError), conn.savepoint():  # many rows at once: the same error
            conn.insert("kv", [{"k": "w", "n": 1, "v": None}, {"k": "w", "n": 1, "v": None}])
    with db.transaction(read_only=True) as conn:
        assert conn.execute("SELECT k, v FROM kv ORDER BY k") == [("y", "kept")]


def test_a_read_only_transaction_writes_nothing(db: Database) -> None:
    with db.transaction(read_only=True) as conn:
        conn.insert("kv", [{"k": "r", "n": 1, "v": None}])  # not a guard: a read ends in a rollback
    with db.transaction(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM kv") == 0


def test_error_translators_see_driver_errors(db: Database) -> None:
    seen: list[str | None] = []

    def translate(error: BaseException, statement: str | None) -> BaseException | None:
        seen.append(statement)
        return LookupError("translated") if "no_such_table" in str(statement) else None

    db.add_error_translator(translate)
    with pytest.raises(LookupError, match="translated") as raised, db.transaction(read_only=True) as conn:
        conn.execute("SELECT * FROM no_such_table WHERE k = :k", {"k": "a"})
    assert isinstance(raised.value.__cause__, db.DRIVER_ERRORS)
    assert seen == ["SELECT * FROM no_such_table WHERE k = :k"]


def test_postgres_pool_reconnects_after_the_server_drops_a_connection(postgres_url: str) -> None:
    db = connect(postgres_url)
    try:
        with db.transaction() as conn:
            pid = conn.scalar("SELECT pg_backend_pid()")
        other = connect(postgres_url)
        try:
            with other.transaction() as conn:
                assert conn.scalar("SELECT pg_terminate_backend(:pid)", {"pid": pid}) is True
            for _ in range(500):  # terminate only signals: wait until the backend is gone
                with other.transaction(read_only=True) as conn:
                    if not conn.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid", {"pid": pid}):
                        break
                time.sleep(0.01)
            else:
                pytest.fail(f"backend {pid} still running 5 s after pg_terminate_backend")
        finally:
            other.close()
        with db.transaction(read_only=True) as conn:  # the pooled connection is dead: pinged, replaced
            assert conn.scalar("SELECT pg_backend_pid()") != pid
    finally:
        db.close()


def test_sqlite_writers_take_the_write_lock_at_begin_and_readers_do_not(tmp_path: Path) -> None:
    """Concurrent writers serialize at BEGIN (BEGIN IMMEDIATE); a read-only transaction takes no
    write lock, so it never makes a writer wait (WAL)."""
    path = tmp_path / "locks.db"
    db = connect(f"sqlite:///{path}")
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with db.transaction() as conn:
            conn.execute("CREATE TABLE t (x INTEGER)")
        with db.transaction(), pytest.raises(sqlite3.OperationalError, match="locked"):
            probe.execute("BEGIN IMMEDIATE")
        with db.transaction(read_only=True) as conn:
            assert conn.scalar("SELECT count(*) FROM t") == 0
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("INSERT INTO t VALUES (1)")
            probe.execute("COMMIT")
    finally:
        probe.close()
        db.close()


def test_in_memory_sqlite_is_one_database_per_connect() -> None:
    first, second = connect("sqlite://"), connect("sqlite:///:memory:")
    try:
        with first.transaction() as conn:
            conn.execute("CREATE TABLE t (x INTEGER)")
        with first.transaction(read_only=True) as conn:
            assert conn.existing_tables(["t"]) == {"t"}
        with second.transaction(read_only=True) as conn:
            assert conn.existing_tables(["t"]) == set()
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [("not a url", None), ("", None), ("foo://x", "foo"), ("mysql://h/d", "mysql"),
     ("postgresql+asyncpg://h/d", "postgresql+asyncpg")],
)
def test_uris_we_cannot_open_say_why(uri: str, scheme: str | None) -> None:
    with pytest.raises(DatabaseUriError) as raised:
        database_class(uri)
    assert raised.value.scheme == scheme


def test_parameter_text() -> None:
    assert pyformat("SELECT CAST(:a AS INTEGER)::text, '12:30', x LIKE 'p%' FROM t WHERE b = :b") == (
        "SELECT CAST(%(a)s AS INTEGER)::text, '12:30', x LIKE 'p%%' FROM t WHERE b = %(b)s"
    )
    sql, params = expand_lists("x IN :a AND y IN :a AND (p, q) IN :b AND z = :c",
                               {"a": [1, 2], "b": [("n", "t")], "c": 3})
    assert sql == "x IN (:a_0, :a_1) AND y IN (:a_0, :a_1) AND (p, q) IN (VALUES (:b_0_0, :b_0_1)) AND z = :c"
    assert params == {"a_0": 1, "a_1": 2, "b_0_0": "n", "b_0_1": "t", "c": 3}
