"""The embedded catalog's database through plain DB-API: SQLite (``sqlite3``) or PostgreSQL (``psycopg2``).

A :class:`Database` is a small pool of driver connections to one URI that hands out
transactions (:meth:`Database.transaction`); a :class:`Connection` runs SQL written once for both
dialects, with ``:name`` parameters and ``IN :name`` lists. What differs between the two is a few
class constants and methods of :class:`SqliteDatabase` and :class:`PostgresDatabase`:

- SQLite takes its write lock at ``BEGIN IMMEDIATE`` for writers and none for readers (plain
  ``BEGIN``; WAL lets them read alongside a writer); it has no ``FOR UPDATE``. Connections wait
  120 s for a lock (``busy_timeout``); an in-memory database is one connection shared in-process.
- PostgreSQL takes ``:name`` as ``%(name)s``, locks rows with ``FOR UPDATE`` and serializes schema
  creation with an advisory lock; pooled connections are pinged before reuse.

Either driver's unique-key violation is raised as :class:`IntegrityError`; other driver errors go
through the database's error translators (:meth:`Database.add_error_translator`) and are raised
as they are when none claims them.
"""

from __future__ import annotations

import importlib.util
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from branchops.catalog.sql.params import expand_lists, pyformat

Params = Mapping[str, Any]
Row = tuple[Any, ...]
#: Turns a driver error (and the statement that raised it) into the error to raise, or None.
ErrorTranslator = Callable[[BaseException, "str | None"], "BaseException | None"]

_URL = re.compile(r"^(?P<scheme>[A-Za-z][\w+]*)://(?P<rest>.*)$", re.DOTALL)
_POOL_SIZE = 5  # idle connections kept per database (what SQLAlchemy's default pool kept)


class DatabaseUriError(ValueError):
    """A catalog URI that is not a database URL (``scheme`` is None) or names an unsupported one."""

    def __init__(self, uri: str, scheme: str | None) -> None:
        super().__init__(f"{uri!r} is not a database URL" if scheme is None else f"unsupported scheme {scheme!r}")
        self.scheme = scheme


class IntegrityError(Exception):
    """A primary-key or unique constraint refused a write (either driver's error is its ``__cause__``)."""


def database_class(uri: str) -> type[Database]:
    """The :class:`Database` subclass for ``uri`` (nothing is opened).

    Raises:
        DatabaseUriError.
    """
    m = _URL.match(uri)
    if m is None:
        raise DatabaseUriError(uri, None)
    scheme = m.group("scheme").lower()
    for cls in (SqliteDatabase, PostgresDatabase):
        if scheme in cls.SCHEMES:
            return cls
    raise DatabaseUriError(uri, scheme)


def database_name(uri: str) -> str:
    """The database ``uri`` names: an SQLite path (``""`` for memory) or a PostgreSQL database."""
    m = _URL.match(uri)
    rest = m.group("rest") if m else uri
    path = rest.split("?", 1)[0]
    return path.split("/", 1)[1] if "/" in path else ""


def connect(uri: str) -> Database:
    """A :class:`Database` for ``uri`` (``sqlite://``, ``sqlite:///path``, ``postgresql[+psycopg2]://``).

    Raises:
        DatabaseUriError.
    """
    return database_class(uri)(uri)


class Connection:
    """One driver connection inside a transaction: statements, savepoints, lock clauses."""

    def __init__(self, db: Database, raw: Any) -> None:
        self.db, self.raw = db, raw
        self._savepoints = 0

    @property
    def for_update(self) -> str:
        """Text to append to a SELECT that locks its rows until the transaction ends."""
        return self.db.FOR_UPDATE

    def execute(self, sql: str, params: Params | None = None) -> list[Row]:
        """Run one statement; returns its rows (none for a statement that returns no rows).
        Without ``params`` the text goes to the driver as it is (a script, ``%`` and all)."""
        cur = self.raw.cursor()
        try:
            if params is None:
                self._guard(cur.execute, sql, sql)
            else:
                text, values = expand_lists(sql, params)
                self._guard(cur.execute, sql, self.db.render(text), values)
            return list(cur.fetchall()) if cur.description is not None else []
        finally:
            cur.close()

    def first(self, sql: str, params: Params | None = None) -> Row | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Params | None = None) -> Any:
        row = self.first(sql, params)
        return None if row is None else row[0]

    def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement once per item of ``rows`` (batched where the driver allows)."""
        if not rows:
            return
        cur = self.raw.cursor()
        try:
            self._guard(self.db.run_many, sql, cur, self.db.render(sql), rows)
        finally:
            cur.close()

    def insert(self, table: str, rows: Sequence[Params]) -> None:
        """Insert ``rows`` (dicts with the same keys) into ``table``."""
        if not rows:
            return
        columns = list(rows[0])
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
        if len(rows) == 1:
            self.execute(sql, rows[0])
            return
        cur = self.raw.cursor()
        try:
            self._guard(self.db.insert_many, sql, cur, sql, rows)
        finally:
            cur.close()

    def existing_tables(self, names: Sequence[str]) -> set[str]:
        """Which of ``names`` are tables this connection sees (PostgreSQL: on its search path)."""
        return {str(r[0]) for r in self.execute(self.db.EXISTING_TABLES, {"names": list(names)})}

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an error inside rolls back only what ran inside (and is raised)."""
        self._savepoints += 1
        name = f"branchops_sp{self._savepoints}"
        self.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self.execute(f"RELEASE SAVEPOINT {name}")

    def _guard(self, run: Callable[..., Any], statement: str, *args: Any) -> Any:
        try:
            return run(*args)
        except self.db.DRIVER_ERRORS as e:
            self.db.raise_translated(e, statement)


class Database:
    """A pool of connections to one database; subclasses say what differs per dialect."""

    NAME: ClassVar[str]
    SCHEMES: ClassVar[tuple[str, ...]]
    BEGIN_WRITE: ClassVar[str] = "BEGIN"
    BEGIN_READ: ClassVar[str] = "BEGIN"
    FOR_UPDATE: ClassVar[str] = ""
    #: run first in the transaction that creates tables, with ``:key`` (None: no such lock)
    SCHEMA_LOCK: ClassVar[str | None] = None
    #: the names among ``:names`` (a list) of tables that exist
    EXISTING_TABLES: ClassVar[str]
    DRIVER_ERRORS: tuple[type[BaseException], ...] = ()
    INTEGRITY_ERRORS: tuple[type[BaseException], ...] = ()

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._translators: list[ErrorTranslator] = []

    # -- what subclasses provide ----------------------------------------------------------
    @classmethod
    def check_driver(cls) -> None:
        """Raises DatabaseUriError when the driver is not installed (checked without importing it)."""
    def _connect(self) -> Any:
        raise NotImplementedError

    def _usable(self, raw: Any) -> bool:
        """Whether a pooled connection still works (checked before reuse)."""
        return True

    def render(self, sql: str) -> str:
        """``sql`` (``:name`` parameters) in the driver's parameter style."""
        return sql

    def run_many(self, cur: Any, sql: str, rows: Sequence[Params]) -> None:
        cur.executemany(sql, rows)

    def insert_many(self, cur: Any, sql: str, rows: Sequence[Params]) -> None:
        """Run ``sql``, a one-row ``INSERT ... VALUES (:a, :b)``, for each of ``rows``."""
        self.run_many(cur, self.render(sql), rows)

    # -- errors ---------------------------------------------------------------------------
    def add_error_translator(self, translate: ErrorTranslator) -> None:
        if translate not in self._translators:
            self._translators.append(translate)

    def raise_translated(self, error: BaseException, statement: str | None) -> NoReturn:
        """Raise :meth:`translate`'s error for ``error`` (chained), or ``error`` itself."""
        mapped = self.translate(error, statement)
        if mapped is error:
            raise error
        raise mapped from error

    def translate(self, error: BaseException, statement: str | None) -> BaseException:
        """The error to raise for a driver error (the driver's own when nothing claims it)."""
        for translate in self._translators:
            mapped = translate(error, statement)
            if mapped is not None:
                return mapped
        if isinstance(error, self.INTEGRITY_ERRORS):
            return IntegrityError(str(error))
        return error

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Connection]:
        """A transaction on a pooled connection: committed when the block ends, rolled back when it
        raises. ``read_only`` takes no write lock (SQLite) and always ends in a rollback."""
        raw = self._checkout()
        conn = Connection(self, raw)
        ok = begun = False
        try:
            conn.execute(self.BEGIN_READ if read_only else self.BEGIN_WRITE)
            begun = True
            yield conn
            conn.execute("ROLLBACK" if read_only else "COMMIT")
            ok = True
        finally:
            if not ok:  # a BEGIN that failed (a busy SQLite file) left nothing to roll back
                ok = self._rollback(raw) if begun else True
            self._checkin(raw, ok)

    def _rollback(self, raw: Any) -> bool:
        cur = raw.cursor()
        try:
            cur.execute("ROLLBACK")
            return True
        except self.DRIVER_ERRORS:
            return False  # the connection is gone: drop it
        finally:
            cur.close()

    def _checkout(self) -> Any:
        while True:
            with self._lock:
                raw = self._idle.pop() if self._idle else None
            if raw is None:
                try:
                    return self._connect()
                except self.DRIVER_ERRORS as e:
                    self.raise_translated(e, None)
            if self._usable(raw):
                return raw
            self._close(raw)

    def _checkin(self, raw: Any, ok: bool) -> None:
        if ok:
            with self._lock:
                if len(self._idle) < _POOL_SIZE:
                    self._idle.append(raw)
                    return
        self._close(raw)

    def _close(self, raw: Any) -> None:
        with suppress(*self.DRIVER_ERRORS):
            raw.close()

    def close(self) -> None:
        """Close the idle connections (connections in use close when their transaction ends)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for raw in idle:
            self._close(raw)


class SqliteDatabase(Database):
    NAME = "sqlite"
    SCHEMES = ("sqlite", "sqlite+pysqlite")
    BEGIN_WRITE = "BEGIN IMMEDIATE"  # writers serialize at BEGIN; readers (plain BEGIN) never wait
    EXISTING_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN :names"
    DRIVER_ERRORS = (sqlite3.Error,)
    INTEGRITY_ERRORS = (sqlite3.IntegrityError,)

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        name = database_name(uri)
        self.path = None if name in ("", ":memory:") else name
        self._shared: sqlite3.Connection | None = None
        if self.path is not None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)

    def _connect(self) -> sqlite3.Connection:
        if self.path is None:  # one in-memory database per Database, shared by its users
            if self._shared is None:
                self._shared = self._open(":memory:")
            return self._shared
        return self._open(self.path)

    @staticmethod
    def _open(path: str) -> sqlite3.Connection:
        # timeout=120 is SQLite's busy timeout (PRAGMA busy_timeout = 120000)
        raw = sqlite3.connect(path, timeout=120, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            raw.execute("PRAGMA journal_mode = WAL")
            raw.execute("PRAGMA synchronous = NORMAL")
        return raw

    def _checkin(self, raw: Any, ok: bool) -> None:
        if raw is not self._shared:
            super()._checkin(raw, ok)

    def close(self) -> None:
        super().close()
        if self._shared is not None:
            self._shared.close()
            self._shared = None


class PostgresDatabase(Database):
    NAME = "postgresql"
    SCHEMES = ("postgresql", "postgresql+psycopg2", "postgres")
    FOR_UPDATE = " FOR UPDATE"
    # Processes creating the tables at once would race in CREATE TABLE (its check-then-create is
    # not atomic): one at a time; DDL is transactional on PostgreSQL.
    SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(:key)"
    EXISTING_TABLES = ("SELECT relname FROM pg_catalog.pg_class WHERE relname IN :names AND relkind IN ('r', 'p') "
                       "AND pg_catalog.pg_table_is_visible(oid)")

    @classmethod
    def check_driver(cls) -> None:
        if importlib.util.find_spec("psycopg2") is None:  # the postgres extra
            raise DatabaseUriError("", cls.NAME)

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        import psycopg2

        self._driver = psycopg2
        self.DRIVER_ERRORS = (psycopg2.Error,)
        self.INTEGRITY_ERRORS = (psycopg2.IntegrityError,)
        self.dsn = "postgresql://" + uri.split("://", 1)[1]  # libpq's own URI form

    def _connect(self) -> Any:
        raw = self._driver.connect(self.dsn)
        raw.autocommit = True  # transactions are our explicit BEGIN ... COMMIT
        return raw

    def _usable(self, raw: Any) -> bool:
        if raw.closed:
            return False
        try:  # a server restart or an idle timeout leaves a dead socket in the pool
            with raw.cursor() as cur:
                cur.execute("SELECT 1")
            return True
        except self._driver.Error:
            return False

    def render(self, sql: str) -> str:
        return pyformat(sql)

    def run_many(self, cur: Any, sql: str, rows: Sequence[Params]) -> None:
        from psycopg2.extras import execute_batch

        execute_batch(cur, sql, rows, page_size=200)

    def insert_many(self, cur: Any, sql: str, rows: Sequence[Params]) -> None:
        # pages of many rows per statement, not a round trip per row
        from psycopg2.extras import execute_values

        head, values = sql.rsplit(" VALUES ", 1)
        execute_values(cur, f"{head} VALUES %s", rows, template=pyformat(values), page_size=1000)
