"""A throwaway PostgreSQL server for tests: a fresh cluster on a free loopback port.

PostgreSQL refuses to run as root, so when the tests run as root the cluster is owned by an
unprivileged user (``postgres`` if it exists, else ``nobody``) and every server command runs
through ``runuser -u USER --``. Binaries are looked up on ``PATH`` and in Debian's
``/usr/lib/postgresql/<version>/bin`` (``apt-get install -y postgresql``).

``BRANCHOPS_TEST_POSTGRES_URL`` (a superuser URL, e.g. a CI service container) skips starting a
server. ``BRANCHOPS_REQUIRE_POSTGRES=1`` tells the fixtures to fail, not skip, when no server can
be had, so CI never passes with the PostgreSQL half of the suite silently missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from sqlalchemy.engine import URL, make_url

URL_ENV = "BRANCHOPS_TEST_POSTGRES_URL"
REQUIRE_ENV = "BRANCHOPS_REQUIRE_POSTGRES"
SUPERUSER = "branchops"
# Durability is worthless for a test cluster; speed is not.
_FAST = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
         " -c shared_buffers=32MB")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be found or started (the message says why)."""


def postgres_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes")


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (newest Debian version first)."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version(p.parent.name), reverse=True)
    for bindir in versions:
        if (bindir / "pg_ctl").is_file() and (bindir / "initdb").is_file():
            return bindir
    return None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as(user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--"] if user else []


def _server_user() -> str | None:
    """None when we are not root (the server then runs as us)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and neither a 'postgres' nor a 'nobody' user exists")


@dataclass
class PostgresServer:
    """A server we can create databases on; ``stop()`` only acts on servers we started."""

    admin_url: URL
    datadir: Path | None = None
    bindir: Path | None = None
    user: str | None = None

    def _admin(self, sql: str, database: str | None = None) -> None:
        conn = psycopg2.connect(
            host=self.admin_url.host, port=self.admin_url.port, user=self.admin_url.username,
            password=self.admin_url.password, dbname=database or self.admin_url.database or "postgres",
            connect_timeout=10,
        )
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its SQLAlchemy URL (psycopg2 driver)."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.admin_url.set(drivername="postgresql+psycopg2", database=name).render_as_string(
            hide_password=False
        )

    def create_schema(self, database_url: str, prefix: str = "s") -> str:
        """A new empty schema in a database, as a URL whose ``search_path`` is that schema.

        Tests use one schema each: as isolated as a database for unqualified tables (all of
        branchops' and pyiceberg's), and ~30x cheaper to create than ``CREATE DATABASE``.
        """
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        url = make_url(database_url)
        self._admin(f'CREATE SCHEMA "{name}"', database=url.database)
        return url.update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(hide_password=False)

    def drop_schema(self, schema_url: str) -> None:
        url = make_url(schema_url)
        options = url.query["options"]
        name = (options if isinstance(options, str) else options[0]).split("=", 1)[1]
        self._admin(f'DROP SCHEMA IF EXISTS "{name}" CASCADE', database=url.database)

    def stop(self) -> None:
        if self.datadir is None or self.bindir is None:
            return  # not ours
        subprocess.run(
            [*_run_as(self.user), str(self.bindir / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "fast", "-w"],
            check=False, capture_output=True, timeout=60,
        )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def start_server(*, attempts: int = 3) -> PostgresServer:
    """Connect to ``$BRANCHOPS_TEST_POSTGRES_URL`` or start a fresh cluster.

    Raises:
        PostgresUnavailable: no binaries, or the server would not start (with its log).
    """
    given = os.environ.get(URL_ENV)
    if given:
        server = PostgresServer(make_url(given))
        try:
            server._admin("SELECT 1")
        except psycopg2.Error as e:
            raise PostgresUnavailable(f"{URL_ENV} is set but the server does not answer: {e}") from e
        return server
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "no PostgreSQL binaries (pg_ctl, initdb) on PATH or in /usr/lib/postgresql/*/bin; "
            "install them with: apt-get install -y postgresql"
        )
    user = _server_user()
    base = Path(tempfile.mkdtemp(prefix="branchops-pg-"))
    datadir = base / "data"
    as_user = _run_as(user)
    if user:
        shutil.chown(base, user=user)
    init = subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(datadir), "-U", SUPERUSER, "--auth=trust",
         "--encoding=UTF8", "--no-sync", "-N"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed:\n{init.stdout}\n{init.stderr}")
    log = base / "server.log"
    last_error = ""
    for _ in range(attempts):
        port = _free_port()
        options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' {_FAST}"
        started = subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "start", "-D", str(datadir), "-w", "-t", "60", "-l", str(log),
             "-o", options],
            capture_output=True, text=True, timeout=90, check=False,
        )
        if started.returncode == 0:
            url = URL.create("postgresql+psycopg2", username=SUPERUSER, host="127.0.0.1", port=port,
                             database="postgres")
            return PostgresServer(url, datadir=datadir, bindir=bindir, user=user)
        last_error = started.stderr + (log.read_text() if log.exists() else "")
    shutil.rmtree(base, ignore_errors=True)
    raise PostgresUnavailable(f"pg_ctl start failed {attempts} times:\n{last_error}")

