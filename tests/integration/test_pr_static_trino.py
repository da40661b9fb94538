"""The PR lifecycle on a Trino 476 with ``catalog.management=static``: one preconfigured Iceberg
REST catalog (at ``branchops serve``, over real Nessie and S3 on moto) reaches every branch by
schema (``"analytics@pr-2"``); branchops never runs ``CREATE CATALOG`` (Trino refuses it here).
The dynamic mode keeps its own tests (test_pr_production.py)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trino.dbapi
from nessie_server import NessieServer
from prod_cli import SHA, Cli, write_config
from s3_server import S3Server
from services import ServiceError
from test_pr_production import MODELS, SAMPLE_PROJECT, SEEDS, SHA2, SHA3, checkout, demo_files
from trino.exceptions import TrinoUserError
from trino_server import TrinoServer, start_trino

from branchops.config import Settings
from branchops.engine.trino import SCRATCH_CATALOG
from branchops.engine.trino_settings import static_catalog_properties
from branchops.lakehouse import Lakehouse
from branchops.rest import RestServer

pytestmark = pytest.mark.integration
CATALOG = "lake"


@dataclass
class StaticStack:
    settings: Settings
    rest: RestServer
    trino: TrinoServer


@pytest.fixture(scope="module")
def static_stack(nessie_server: NessieServer, s3_server: S3Server,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticStack]:
    """One lakehouse (fresh Nessie repo, own S3 prefix) served by ``branchops serve`` (a thread
    here), and a static Trino whose one Iceberg catalog points at it (plus the diff's memory
    catalog). Module scope: this Trino stops before the dynamic one's tests need the cores."""
    keys = s3_server.admin.env()
    settings = Settings(
        root=tmp_path_factory.mktemp("static-lh"), backend="nessie", nessie_uri=nessie_server.fresh_repo(),
        warehouse=f"{s3_server.warehouse}/{uuid.uuid4().hex[:12]}", engine="trino",
        s3_endpoint=s3_server.endpoint, s3_region=s3_server.region, trino_catalogs="static", trino_catalog=CATALOG,
        io_properties={"s3.access-key-id": keys["AWS_ACCESS_KEY_ID"],
                       "s3.secret-access-key": keys["AWS_SECRET_ACCESS_KEY"]},
    )
    rest_log = logging.FileHandler(tmp_path_factory.mktemp("rest-log") / "rest.log")
    logging.getLogger("branchops.rest").addHandler(rest_log)  # refused requests, for a failing run
    logging.getLogger("branchops.rest").setLevel(logging.INFO)
    with Lakehouse(settings) as lh:
        rest = RestServer(lh.catalog).start()
        try:
            catalogs = {CATALOG: static_catalog_properties(settings, rest.uri),
                        SCRATCH_CATALOG: {"connector.name": "memory"}}
            try:
                server = start_trino(tmp_path_factory.mktemp("trino-static"), static_catalogs=catalogs)
            except ServiceError as e:
                pytest.fail(f"the static Trino test server could not start: {e}", pytrace=False)
            try:
                yield StaticStack(settings.replace(trino_uri=server.uri, io_properties={}),
                                  rest, server)
            finally:
                server.stop()
        finally:
            rest.stop()
            logging.getLogger("branchops.rest").removeHandler(rest_log)
            rest_log.close()


def _trino(stack: StaticStack) -> trino.dbapi.Connection:
    return trino.dbapi.connect(host="127.0.0.1", port=stack.trino.port, user="test")  # type: ignore[no-untyped-call]


def _query(stack: StaticStack, sql: str) -> list[list[object]]:
    cur = _trino(stack).cursor()
    cur.execute(sql)
    return list(cur.fetchall())


def test_pr_lifecycle_on_one_static_catalog(static_stack: StaticStack, s3_server: S3Server, tmp_path: Path) -> None:
    stack = static_stack
    with pytest.raises(TrinoUserError, match="CREATE CATALOG is not supported by the static catalog store"):
        _query(stack, "CREATE CATALOG b_pr_1 USING memory")
    catalogs_before = {r[0] for r in _query(stack, "SHOW CATALOGS")}
    assert catalogs_before == {CATALOG, SCRATCH_CATALOG, "system"}
    config = write_config(stack.settings, tmp_path / "lh", threads=2, trino_catalogs="static", trino_catalog=CATALOG)
    cli = Cli(config, env=s3_server.admin.env())
    project = checkout(SAMPLE_PROJECT, tmp_path / "project")
    with Lakehouse(stack.settings) as lh:
        catalog = lh.catalog
        for table, path in demo_files(tmp_path / "raw", 0.001).items():
            assert cli.json("ingest", table, str(path))["rows"] > 0

        # PR 1: dbt-trino builds every model through the static catalog, into the PR's write fork
        opened = cli.json("pr", "open", "--pr", "1", "--sha", SHA, "--project-dir", str(project))
        assert opened["status"] == "passed", opened.get("reason")
        assert set(opened["changed_tables"]) == {f"analytics.{m}" for m in (*MODELS, *SEEDS)}
        assert cli.json("pr", "merge", "--pr", "1", "--sha", SHA)["status"] == "merged"
        assert {f"analytics.{m}" for m in MODELS} <= set(catalog.tables("main"))
        rows_main = _query(stack, f'SELECT count(*) FROM {CATALOG}.analytics.customers')[0][0]
        rows_raw = _query(stack, f'SELECT count(DISTINCT customer_id) FROM {CATALOG}.raw.customers')[0][0]
        assert rows_main == rows_raw > 0

        # PR 2 changes one model: only it is rebuilt (state:modified against main's stored build)
        changed = checkout(project, tmp_path / "project-2",
                           ("customer_segments", "lifetime_value >= 300", "lifetime_value >= 100"))
        opened = cli.json("pr", "open", "--pr", "2", "--sha", SHA2, "--project-dir", str(changed))
        assert opened["status"] == "passed", opened.get("reason")
        assert opened["changed_tables"] == ["analytics.customer_segments"]
        assert opened["build"]["built"] == ["analytics.customer_segments"]
        # the report names the stable identifier a BI tool (Superset on Trino) reads the PR's version at
        bi = f'{CATALOG}."analytics@pr-2".customer_segments'
        assert opened["bi_relations"] == {"analytics.customer_segments": bi}
        (table,) = [t for t in opened["diff"]["tables"] if t["status"] != "unchanged"]
        assert table["key"] == ["customer_id"]
        rows = table["rows"]
        assert rows["changed"] > 0 and rows["added"] == rows["removed"] == 0 and rows["base"] == rows["head"], rows

        # any Trino client reads the PR's version by schema, next to main's, with no catalog created
        seg = 'SELECT segment, count(*) FROM {} GROUP BY 1 ORDER BY 1'
        on_pr = _query(stack, seg.format(f'{CATALOG}."analytics@pr-2".customer_segments'))
        on_main = _query(stack, seg.format(f"{CATALOG}.analytics.customer_segments"))
        assert on_pr != on_main and sum(n for _, n in on_pr) == sum(n for _, n in on_main) == rows["base"]
        via_cli = cli.json("sql", "select segment, count(*) as n from analytics.customer_segments group by 1 "
                           "order by 1", "--branch", "pr-2")
        assert [[r["segment"], r["n"]] for r in via_cli["rows"]] == on_pr
        with pytest.raises(TrinoUserError, match="raw@no-such-branch"):
            _query(stack, f'SELECT * FROM {CATALOG}."raw@no-such-branch".orders')

        # PR 3 (no change) is closed; PR 2 merges: main now reads the PR's version
        opened = cli.json("pr", "open", "--pr", "3", "--sha", SHA3, "--project-dir", str(project))
        assert opened["status"] == "passed" and opened["changed_tables"] == []
        assert cli.json("pr", "close", "--pr", "3")["status"] == "closed"
        merged = cli.json("pr", "merge", "--pr", "2", "--sha", SHA2)
        assert merged["status"] == "merged" and merged["changed_tables"] == ["analytics.customer_segments"]
        assert _query(stack, seg.format(f"{CATALOG}.analytics.customer_segments")) == on_pr
        assert {r.name for r in catalog.list_refs(include_internal=True)} == {"main"}
    assert {r[0] for r in _query(stack, "SHOW CATALOGS")} == catalogs_before
    print("CLI seconds:", {k: round(v, 1) for k, v in cli.timings.items()})
