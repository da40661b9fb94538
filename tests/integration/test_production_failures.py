"""Failures of the production stack, met through the ``branchops`` CLI: Nessie down, Nessie killed
or restarted in the middle of work, a query Trino refuses, S3 denying access. Each must end the
branchops way (an ``error:`` line, what was left unchanged, a ``next:`` hint, exit 1 for a
backend failure, no traceback, no secret) and leave nothing half-written.

Nessie is killed and restarted here, so these tests run their own Nessie server (the session one
serves the other tests undisturbed). The test server keeps its repository in memory: after a
restart it is empty, which is what a command then meets.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nessie_server import NessieServer, start_nessie
from prod_cli import SHA, Cli, as_json, assert_clean_failure, write_config
from s3_server import S3Server
from services import free_port

from branchops.catalog.base import INTERNAL_PREFIX
from branchops.config import Settings
from branchops.errors import BranchopsError
from branchops.lakehouse import Lakehouse

pytestmark = pytest.mark.integration
TOKEN = "nessie-bearer-token-never-printed"
SAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"


class PrivateNessie:
    """A Nessie server of one test module, on a fixed port so that it can be restarted in place."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port, self.runs = folder, free_port(), 0
        self.server: NessieServer | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2"

    def start(self) -> None:
        self.runs += 1
        self.server = start_nessie(self.folder / f"run-{self.runs}", port=self.port)
        assert self.server.uri == self.uri

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def refs(self) -> set[str]:
        assert self.server is not None
        api = self.server.client()
        try:
            return {r.name for r in api.list_references()}
        finally:
            api.close()


@pytest.fixture(scope="module")
def nessie(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateNessie]:
    server = PrivateNessie(tmp_path_factory.mktemp("private-nessie"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(nessie: PrivateNessie, s3_server: S3Server, s3_credentials: None, tmp_path: Path) -> Settings:
    """A lakehouse on the private Nessie (emptied) and S3; DuckDB, so no Trino is involved."""
    if nessie.server is None:
        nessie.start()
    assert nessie.server is not None
    nessie.server.fresh_repo()
    return Settings(root=tmp_path, backend="nessie", nessie_uri=nessie.uri,
                    warehouse=f"{s3_server.warehouse}/{tmp_path.name[-20:]}-{free_port()}",
                    s3_endpoint=s3_server.endpoint, s3_region=s3_server.region, gc_retention="0s")


def parquet(path: Path, rows: int, start: int = 0) -> Path:
    ids = pa.array(range(start, start + rows), pa.int64())
    pq.write_table(pa.table({"id": ids, "note": pa.array([f"row {i} " * 8 for i in range(start, start + rows)])}),
                   path, row_group_size=max(rows // 8, 1))
    return path


# -- Nessie ---------------------------------------------------------------------------------------


def test_nessie_down_every_command_fails_clearly(s3_server: S3Server, tmp_path: Path) -> None:
    dead = Settings(root=tmp_path, backend="nessie", nessie_uri=f"http://127.0.0.1:{free_port()}/api/v2",
                    warehouse=f"{s3_server.warehouse}/down", s3_endpoint=s3_server.endpoint,
                    s3_region=s3_server.region)
    cli = Cli(write_config(dead, tmp_path / "lh"),
              env={**s3_server.admin.env(), "BRANCHOPS_NESSIE_TOKEN": TOKEN})
    data = parquet(tmp_path / "orders.parquet", 10)
    commands = [
        ("branch", "list"), ("branch", "create", "feat"), ("ingest", "raw.orders", str(data)),
        ("pr", "open", "--pr", "1", "--sha", SHA, "--project-dir", str(SAMPLE_PROJECT)),
        ("pr", "merge", "--pr", "1", "--sha", SHA), ("gc", "--older-than", "0s"), ("diff", "feat"),
        ("sql", "select 1 as x"),
    ]
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        procs = list(pool.map(lambda argv: cli.run(*argv), commands))
    for argv, proc in zip(commands, procs, strict=True):
        text = assert_clean_failure(proc, says=("Nessie", "unavailable"),
                                    secrets=(TOKEN, s3_server.admin.secret_access_key))
        assert "nessie_uri" in text, (argv, text)
    assert time.monotonic() - started < 90  # bounded retries, not a hang


@pytest.mark.parametrize("restart", ["after_the_command", "under_the_command"])
def test_nessie_killed_during_a_write(
    nessie: PrivateNessie, settings: Settings, s3_server: S3Server, tmp_path: Path, restart: str
) -> None:
    """Killed while ``ingest`` writes: the command fails clearly (Nessie unavailable, or, when the
    server is back, empty, before the retries ran out: its write branch gone), and the restarted
    server holds nothing of the write; a re-run finishes it."""
    cli = Cli(write_config(settings, tmp_path / "lh"), env=s3_server.admin.env())
    big = parquet(tmp_path / "big.parquet", 1_500_000)
    proc = cli.popen("ingest", "raw.events", str(big))
    deadline = time.monotonic() + 120
    while not any(r.startswith(INTERNAL_PREFIX) for r in nessie.refs()):  # the write is under way
        assert proc.poll() is None, f"the ingest ended before Nessie could be killed: {proc.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    nessie.stop()
    if restart == "under_the_command":
        nessie.start()
    out, err = proc.communicate(timeout=120)
    failed = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if restart == "after_the_command":
        assert_clean_failure(failed, says=("Nessie", "unavailable"), secrets=(s3_server.admin.secret_access_key,))
        nessie.start()
    else:
        assert_clean_failure(failed, code=(1, 2), secrets=(s3_server.admin.secret_access_key,))
    with Lakehouse(settings) as lh:
        assert lh.catalog.tables("main") == {}  # nothing half-written
    assert nessie.refs() == {"main"}
    assert as_json(cli.run("branch", "list", "-o", "json")) is not None
    done = cli.json("ingest", "raw.events", str(big))
    assert done["rows"] == 1_500_000
    assert nessie.refs() == {"main"}
    with Lakehouse(settings) as lh:
        assert set(lh.catalog.tables("main")) == {"raw.events"}
        assert lh.read("raw.events").num_rows == 1_500_000


def test_nessie_restarted_between_and_under_commands(
    nessie: PrivateNessie, settings: Settings, s3_server: S3Server, tmp_path: Path
) -> None:
    cli = Cli(write_config(settings, tmp_path / "lh"), env=s3_server.admin.env())
    cli.json("ingest", "raw.orders", str(parquet(tmp_path / "a.parquet", 100)))
    cli.json("branch", "create", "feat")
    cli.json("ingest", "raw.orders", str(parquet(tmp_path / "b.parquet", 5, start=100)), "--branch", "feat")
    lh = Lakehouse(settings)  # a long-lived library user, open across the restart
    try:
        assert lh.read("raw.orders", "feat").num_rows == 105
        nessie.restart()

        # commands against the restarted server: what is gone is reported as gone
        gone = cli.run("branch", "merge", "feat")
        assert_clean_failure(gone, code=2, says=("feat",))
        assert_clean_failure(cli.run("sql", "select count(*) from raw.orders"), code=2, says=("raw.orders",))
        refused = cli.run("pr", "merge", "--pr", "1", "--sha", SHA, "-o", "json")
        assert refused.returncode == 1 and as_json(refused)["status"] == "refused"

        # the library user's next write lands whole on the new state, or fails as a BranchopsError
        try:
            lh.ingest("raw.customers", pa.table({"id": [1, 2]}))
        except BranchopsError as e:
            assert e.exit_code in (1, 2)
            assert set(lh.catalog.tables("main")) == set()
        else:
            assert lh.read("raw.customers").num_rows == 2
            assert set(lh.catalog.tables("main")) == {"raw.customers"}
        assert nessie.refs() == {"main"}  # no write fork left behind
    finally:
        lh.close()

    # and a re-run of the lost work recovers
    cli.json("ingest", "raw.orders", str(tmp_path / "a.parquet"))
    listed = cli.json("branch", "show", "main")
    assert "raw.orders" in str(listed)


# -- Trino and S3 ---------------------------------------------------------------------------------


@pytest.fixture
def prod(trino_settings: Settings, s3_server: S3Server, tmp_path: Path) -> Iterator[tuple[Cli, Lakehouse]]:
    with Lakehouse(trino_settings) as lh:
        lh.ingest("raw.orders", pa.table({"id": [1, 2, 3], "amount": [10.0, 20.0, 30.0]}))
        yield Cli(write_config(trino_settings, tmp_path / "lh", gc_retention="0s"), env=s3_server.admin.env()), lh


def test_trino_query_failure_is_clear(prod: tuple[Cli, Lakehouse], s3_server: S3Server) -> None:
    cli, lh = prod
    ok = cli.json("sql", "select sum(amount) as total from raw.orders", "--branch", "main")
    assert ok["rows"] == [{"total": 60.0}]
    before = lh.catalog.get_ref("main").hash
    for query, says in (("select 1 / (id - id) from raw.orders", ("Division by zero",)),
                        ("select * from raw.nothing_here", ("TABLE_NOT_FOUND", "nothing_here"))):
        assert_clean_failure(cli.run("sql", query), says=("Trino", *says),
                             secrets=(s3_server.admin.secret_access_key,))
    # what is not one readable query is refused before Trino sees it: exit 2, as on DuckDB
    for query in ("selec 1", "insert into raw.orders select * from raw.orders",
                  "create table raw.copy as select * from raw.orders", "drop table raw.orders"):
        assert_clean_failure(cli.run("sql", query), code=2, says=("read-only",),
                             secrets=(s3_server.admin.secret_access_key,))
    assert lh.catalog.get_ref("main").hash == before
    assert "raw.copy" not in lh.catalog.tables("main")


def test_s3_access_denied_is_clear_and_changes_nothing(
    prod: tuple[Cli, Lakehouse], s3_server: S3Server, tmp_path: Path
) -> None:
    cli, lh = prod
    lh.catalog.create_branch("pr-9", "main")  # idle: gc would drop it
    outsider = s3_server.outsider.env()
    secrets = (s3_server.outsider.secret_access_key, s3_server.admin.secret_access_key)
    prefix = lh.settings.warehouse.removeprefix(f"s3://{s3_server.bucket}/")
    objects, head = s3_server.keys(prefix), lh.catalog.get_ref("main").hash

    data = parquet(tmp_path / "more.parquet", 10)
    for argv in (("ingest", "raw.orders", str(data)), ("gc", "--older-than", "0s"),
                 ("sql", "select count(*) from raw.orders")):
        text = assert_clean_failure(cli.run(*argv, env=outsider), secrets=secrets)
        assert re.search(r"access.?denied|\b403\b", text, re.IGNORECASE), (argv, text)
        assert "S3" in text, (argv, text)  # the hint names what to check
    assert s3_server.keys(prefix) == objects
    assert lh.catalog.get_ref("main").hash == head
    assert {r.name for r in lh.catalog.list_refs(include_internal=True)} == {"main", "pr-9"}
