"""The Trino engine on the production stack: real Trino 476, Nessie and S3 (moto) servers.

A branch is a Trino catalog; what Trino writes on a branch is a Nessie commit on that branch,
readable by branchops' own Nessie backend (pyiceberg over the same S3), invisible on ``main``
until merged. Failures come back as BranchopsErrors that name what happened and hold no secret.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa
import pytest
from s3_server import S3Server

from branchops.catalog.base import VersionedCatalog
from branchops.config import Settings
from branchops.engine.trino import SCRATCH_CATALOG, TrinoEngine, catalog_name, lakehouse_scope
from branchops.errors import BackendError, ConfigError, ExitCode, TableNotFound, UsageError
from branchops.lakehouse import Lakehouse
from branchops.secrets import SecretStr

pytestmark = pytest.mark.integration

ORDERS = "SELECT * FROM (VALUES (1, 'ann', 10.5e0), (2, 'bob', 20.0e0), (3, 'cy', 7.25e0)) AS t(id, customer, amount)"


@pytest.fixture
def lakehouse(trino_settings: Settings) -> Iterator[Lakehouse]:
    with Lakehouse(trino_settings) as lh:
        yield lh


@pytest.fixture
def engine(lakehouse: Lakehouse) -> Iterator[TrinoEngine]:
    with TrinoEngine(lakehouse.catalog, lakehouse.settings) as eng:
        yield eng


def create_on(engine: TrinoEngine, ref: str, table: str, select: str) -> None:
    catalog = engine.ensure_catalog(ref)
    ns, name = table.split(".")
    engine.execute(f'CREATE SCHEMA IF NOT EXISTS "{catalog}"."{ns}"')
    engine.execute(f'CREATE TABLE "{catalog}"."{ns}"."{name}" AS {select}')


def test_table_written_by_trino_on_a_branch_is_invisible_on_main_until_merged(
    lakehouse: Lakehouse, engine: TrinoEngine
) -> None:
    catalog = lakehouse.catalog
    catalog.create_branch("feat", "main")
    create_on(engine, "feat", "raw.orders", ORDERS)

    assert "raw.orders" in catalog.tables("feat")
    assert "raw.orders" not in catalog.tables("main")
    with pytest.raises(TableNotFound):
        engine.relation("main", "raw.orders")
    # branchops' Nessie backend reads what Trino wrote (pyiceberg, metadata and data on S3)
    written = lakehouse.read("raw.orders", "feat").sort_by("id")
    assert written.column("customer").to_pylist() == ["ann", "bob", "cy"]

    catalog.merge("feat", "main", message="merge feat")
    rel = engine.relation("main", "raw.orders")
    assert engine.query(f"SELECT count(*), sum(amount) FROM {rel}") == [(3, 37.75)]
    assert catalog.tables("main")["raw.orders"] == catalog.tables("feat")["raw.orders"]


def test_trino_reads_tables_branchops_wrote_and_branches_stay_apart(
    lakehouse: Lakehouse, engine: TrinoEngine
) -> None:
    lakehouse.ingest("raw.customers", pa.table({"id": [1, 2], "name": ["ann", "bob"]}))
    lakehouse.catalog.create_branch("feat", "main")
    lakehouse.ingest("raw.customers", pa.table({"id": [3], "name": ["cy"]}), branch="feat")

    on_main = engine.query(f"SELECT id, name FROM {engine.relation('main', 'raw.customers')} ORDER BY id")
    on_feat = engine.query(f"SELECT id, name FROM {engine.relation('feat', 'raw.customers')} ORDER BY id")
    assert on_main == [(1, "ann"), (2, "bob")]
    assert on_feat == [(1, "ann"), (2, "bob"), (3, "cy")]
    assert engine.ensure_catalog("main") != engine.ensure_catalog("feat")


def test_relation_names_the_branch_catalog_and_query_arrow_keeps_types(
    lakehouse: Lakehouse, engine: TrinoEngine
) -> None:
    lakehouse.ingest("raw.customers", pa.table({"id": [1], "name": ["ann"]}))
    rel = engine.relation("main", "raw.customers")
    expected_catalog = catalog_name("main", scope=lakehouse_scope(lakehouse.settings))
    assert rel == f'"{expected_catalog}"."raw"."customers"'
    assert expected_catalog.startswith("b_main_")

    tbl = engine.query_arrow(
        "SELECT 1 AS i, BIGINT '2' AS b, 'x' AS s, DECIMAL '12.34' AS d, DATE '2024-01-02' AS day, "
        "TIMESTAMP '2024-01-02 03:04:05.123456' AS ts, true AS flag, CAST(NULL AS double) AS nothing, "
        "ARRAY[1, 2] AS arr"
    )
    assert tbl.schema.field("i").type == pa.int32()
    assert tbl.schema.field("b").type == pa.int64()
    assert tbl.schema.field("s").type == pa.string()
    assert tbl.schema.field("d").type == pa.decimal128(4, 2)
    assert tbl.schema.field("ts").type == pa.timestamp("us")
    assert tbl.schema.field("nothing").type == pa.float64()
    assert tbl.to_pylist() == [{
        "i": 1, "b": 2, "s": "x", "d": Decimal("12.34"), "day": dt.date(2024, 1, 2),
        "ts": dt.datetime(2024, 1, 2, 3, 4, 5, 123456), "flag": True, "nothing": None, "arr": [1, 2],
    }]
    assert engine.query(f"SELECT name FROM {rel} WHERE id = ?", [1]) == [("ann",)]
    empty = engine.query_arrow(f"SELECT id FROM {rel} WHERE id < 0")
    assert empty.num_rows == 0 and empty.schema.field("id").type == pa.int64()


def test_catalog_is_dropped_with_its_branch(lakehouse: Lakehouse, engine: TrinoEngine) -> None:
    lakehouse.catalog.create_branch("feat", "main")
    name = engine.ensure_catalog("feat")
    assert name in engine.existing_catalogs()
    engine.drop_catalog("feat")
    assert name not in engine.existing_catalogs()
    engine.drop_catalog("feat")  # already gone: no error


def test_commits_are_refused_clearly(engine: TrinoEngine, lakehouse: Lakehouse) -> None:
    main = lakehouse.catalog.get_ref("main")
    with pytest.raises(UsageError, match="branches, not commits"):
        engine.relation(f"main@{main.hash}", "raw.orders")


# -- failures --------------------------------------------------------------------------------


def test_query_failure_is_a_backend_error_with_exit_code_1(engine: TrinoEngine) -> None:
    with pytest.raises(BackendError) as err:
        engine.query_arrow("SELECT * FROM no_such_catalog.raw.nothing")
    assert err.value.exit_code == ExitCode.CHECK_FAILED
    assert "Trino" in err.value.message and "no_such_catalog" in err.value.message
    assert err.value.hint

    with pytest.raises(BackendError, match="SYNTAX_ERROR"):
        engine.query_arrow("SELEC 1")


def test_failed_write_leaves_the_branch_as_it_was(lakehouse: Lakehouse, engine: TrinoEngine) -> None:
    lakehouse.catalog.create_branch("feat", "main")
    catalog = engine.ensure_catalog("feat")
    engine.execute(f'CREATE SCHEMA "{catalog}"."raw"')
    before = lakehouse.catalog.get_ref("feat").hash
    with pytest.raises(BackendError, match=r"DIVISION_BY_ZERO|Division by zero"):
        engine.execute(f'CREATE TABLE "{catalog}"."raw"."bad" AS SELECT 1 / (id - id) AS x FROM (VALUES 1) t(id)')
    assert lakehouse.catalog.get_ref("feat").hash == before
    assert "raw.bad" not in lakehouse.catalog.tables("feat")


def test_s3_access_denied_is_clear_and_writes_nothing(
    trino_settings: Settings, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Lakehouse(trino_settings) as lh, TrinoEngine(lh.catalog, lh.settings) as admin:
        lh.catalog.create_branch("feat", "main")
        admin.execute(f'CREATE SCHEMA "{admin.ensure_catalog("feat")}"."raw"')  # Nessie only, no S3
        ref_before = lh.catalog.get_ref("feat").hash
    prefix = trino_settings.warehouse.removeprefix(f"s3://{s3_server.bucket}/")
    objects_before = s3_server.keys(prefix)

    # the same lakehouse, seen with the keys of a user who may not touch the bucket
    for key, value in s3_server.outsider.env().items():
        monkeypatch.setenv(key, value)
    with Lakehouse(trino_settings) as lh, TrinoEngine(lh.catalog, lh.settings) as engine:
        with pytest.raises(BackendError) as err:
            create_on(engine, "feat", "raw.orders", ORDERS)
        catalog: VersionedCatalog = lh.catalog
        assert catalog.get_ref("feat").hash == ref_before
        assert "raw.orders" not in catalog.tables("feat")

    text = str(err.value)
    print(text)
    assert err.value.exit_code == ExitCode.CHECK_FAILED
    assert "Access Denied" in text or "403" in text, text
    assert "S3" in (err.value.hint or "")
    for secret in (s3_server.outsider.secret_access_key, s3_server.admin.secret_access_key):
        assert secret not in text
    assert s3_server.keys(prefix) == objects_before


def test_secrets_never_appear_in_errors(
    trino_settings: Settings, s3_server: S3Server, lakehouse: Lakehouse
) -> None:
    secret = s3_server.admin.secret_access_key
    # a catalog Trino refuses: the CREATE CATALOG statement carried the S3 secret key
    engine = TrinoEngine(lakehouse.catalog, lakehouse.settings,
                         extra_catalog_properties={"iceberg.no-such-property": "x"})
    with engine, pytest.raises(BackendError) as err:
        engine.ensure_catalog("main")
    assert secret not in str(err.value) and secret not in repr(err.value.to_dict())
    assert "no catalog was created" in str(err.value)

    password = "hunter2-very-secret"
    with pytest.raises(ConfigError) as cfg_err:
        TrinoEngine(lakehouse.catalog, trino_settings.replace(trino_password=SecretStr(password)))
    assert "https" in str(cfg_err.value) and password not in str(cfg_err.value)


def test_unreachable_trino_is_a_clear_backend_error(lakehouse: Lakehouse) -> None:
    from services import free_port

    settings = lakehouse.settings.replace(trino_uri=f"http://127.0.0.1:{free_port()}")
    with TrinoEngine(lakehouse.catalog, settings) as engine, pytest.raises(BackendError) as err:
        engine.query("SELECT 1")
    assert err.value.exit_code == ExitCode.CHECK_FAILED
    assert "trino_uri" in (err.value.hint or "")


def test_load_engine_and_query_ref_use_the_branch_catalog(lakehouse: Lakehouse) -> None:
    from branchops.engine import load_engine

    lakehouse.ingest("raw.customers", pa.table({"id": [1, 2], "name": ["ann", "bob"]}))
    engine = load_engine(lakehouse.settings, lakehouse.catalog)
    assert isinstance(engine, TrinoEngine) and engine.DIALECT == "trino"
    with engine:
        tbl = engine.query_ref("main", "SELECT name FROM raw.customers ORDER BY id")
        assert tbl.column("name").to_pylist() == ["ann", "bob"]
        with pytest.raises(BackendError, match="TABLE_NOT_FOUND"):
            engine.query_ref("main", "SELECT * FROM raw.nothing")


def test_diff_runs_in_trino(lakehouse: Lakehouse, engine: TrinoEngine) -> None:
    from branchops.diff.run import diff_refs

    lakehouse.ingest("raw.customers", pa.table({"id": [1, 2, 3], "name": ["ann", "bob", "cy"]}))
    lakehouse.catalog.create_branch("feat", "main")
    cat = engine.ensure_catalog("feat")
    engine.execute(f'DELETE FROM "{cat}"."raw"."customers" WHERE id = 3')
    engine.execute(f'UPDATE "{cat}"."raw"."customers" SET name = \'BOB\' WHERE id = 2')
    engine.execute(f'INSERT INTO "{cat}"."raw"."customers" VALUES (4, \'dee\')')

    result = diff_refs(lakehouse, "main", "feat", engine=engine, keys={"raw.customers": ["id"]})
    out = result.to_dict()
    (table,) = out["tables"]
    assert table["table"] == "raw.customers"
    assert (table["rows"]["added"], table["rows"]["removed"], table["rows"]["changed"]) == (1, 1, 1)
    assert out["tables"][0]["samples"], out  # sample rows came back through the scratch tables

    engine.close()  # drops this engine's scratch schema
    with TrinoEngine(lakehouse.catalog, lakehouse.settings) as other:
        schemas = {r[0] for r in other.query(f'SHOW SCHEMAS FROM "{SCRATCH_CATALOG}"')}
    assert schemas <= {"default", "information_schema"}
