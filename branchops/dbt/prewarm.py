"""The scratch database, opened ahead while dbt imports and parses.

Opening dbt's scratch database (``branchops.dbt.scratch``) costs ~0.2-0.4 s: DuckDB checks the
signature of the Iceberg extension it loads and creates a view over ``iceberg_scan`` for every
branch table. All of that is DuckDB's C++ code, which releases the GIL, while the ~1.5 s before
dbt first connects (importing dbt, parsing the project) are Python, which holds it. So a runner
that will build opens the same database in a background thread first (:func:`ahead`), and dbt-duckdb
takes that database when it connects instead of opening its own: on a second core the cost is
gone from the wall clock (the CPU time is the same).

The database taken is the one dbt-duckdb would have made: ``duckdb.connect(":memory:")`` filled by
:func:`branchops.dbt.scratch.populate` from the same spec, as the branchops plugin does. It is
taken only for a connection of the profile branchops writes (in memory, the branchops plugin alone,
no extensions, attachments, secrets or settings of the connection's own) over the spec it was
filled from; tables the spec has since asked to copy in are copied as the plugin would. Anything
else (another profile, a spec that names other tables, the thread failed) and dbt-duckdb opens its
own database as before, so an error is raised where it always was.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from branchops.dbt.scratch import copy_in, fill

_current: Prewarmed | None = None
_original_initialize_db: Any = None


class Prewarmed:
    """A scratch database being filled from ``spec`` in a background thread."""

    def __init__(self, spec: Path) -> None:
        self.spec = spec
        self.con: duckdb.DuckDBPyConnection | None = None
        self.filled: dict[str, Any] | None = None  # the spec the database was filled from
        try:
            content = json.loads(spec.read_text())
        except (OSError, ValueError):
            content = None
        self._thread = threading.Thread(target=self._open, args=(content,), name="branchops-scratch-prewarm",
                                        daemon=True)
        self._thread.start()

    def _open(self, spec: dict[str, Any] | None) -> None:
        if spec is None:
            return
        con = None
        try:
            con = duckdb.connect(":memory:")
            fill(con, spec)
        except Exception:  # dbt-duckdb then opens its own database, and reports the error there
            if con is not None:
                con.close()
            return
        self.con, self.filled = con, spec

    def take(self, spec: Path) -> duckdb.DuckDBPyConnection | None:
        """The database, filled as the plugin would fill it from ``spec`` now (None: open your own)."""
        self._thread.join()
        con, filled = self.con, self.filled
        self.con = None
        if con is None or filled is None:
            return None
        try:
            now = json.loads(spec.read_text()) if spec == self.spec else None
        except (OSError, ValueError):
            now = None
        copied = set(filled.get("copy", []))
        if now is None or now.get("tables") != filled.get("tables") or not copied <= set(now.get("copy", [])):
            con.close()
            return None
        copy_in(con, now["tables"], set(now.get("copy", [])) - copied)
        return con

    def close(self) -> None:
        self._thread.join()
        if self.con is not None:
            self.con.close()
            self.con = None


@contextlib.contextmanager
def ahead(spec: Path) -> Iterator[Prewarmed | None]:
    """Open the scratch database of ``spec`` in the background for the dbt invocations inside;
    an untaken database is closed on the way out."""
    global _current
    warm = Prewarmed(spec)  # first: the thread works while dbt-duckdb is imported for the hook
    try:
        installed = install()
    except BaseException:  # a dbt-duckdb that fails to import: its error, with the database closed
        warm.close()
        raise
    if not installed:
        warm.close()
        yield None
        return
    _current = warm
    try:
        yield warm
    finally:
        _current = None
        warm.close()


def install() -> bool:
    """Let dbt-duckdb take a prewarmed database (idempotent). False when dbt-duckdb's
    ``Environment.initialize_db`` is not there to wrap (another dbt-duckdb: it opens its own)."""
    global _original_initialize_db
    try:
        from dbt.adapters.duckdb.environments import Environment
    except ImportError:
        return False
    current = Environment.__dict__.get("initialize_db")
    if current is _installed:
        return True
    if not isinstance(current, classmethod):
        return False
    _original_initialize_db = current.__func__
    Environment.initialize_db = _installed  # type: ignore[method-assign,assignment]
    return True


def _initialize_db(cls: Any, creds: Any, plugins: dict[str, Any] | None = None) -> Any:
    warm = _current
    spec = _branchops_spec(creds, plugins) if warm is not None else None
    con = warm.take(spec) if warm is not None and spec is not None else None
    return con if con is not None else _original_initialize_db(cls, creds, plugins)


_installed = classmethod(_initialize_db)


def _branchops_spec(creds: Any, plugins: dict[str, Any] | None) -> Path | None:
    """The spec file of a connection as branchops' profile makes it, else None."""
    from branchops.dbt.plugin import Plugin

    own = (creds.extensions, creds.attach, creds.filesystems, creds.config_options, creds.secrets_sql(),
           creds.remote, creds.is_motherduck, creds.retries)
    if creds.path != ":memory:" or any(own) or not plugins or len(plugins) != 1:
        return None
    plugin = next(iter(plugins.values()))
    if type(plugin) is not Plugin:
        return None
    scratch = plugin.scratch_path()
    return Path(scratch) if scratch else None
