"""The PR lifecycle end to end on the production stack (real Nessie, Trino 476, S3 on moto), through
the ``branchops`` CLI with the sample dbt project: ``demo-data`` -> ``pr open`` (dbt-trino build,
diff in Trino) -> ``pr merge`` / ``pr close`` (no Trino catalog left behind) -> ``gc`` on S3
(unreferenced files deleted and counted, every table of every ref still reads).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from prod_cli import SHA, Cli, write_config
from s3_server import S3Server

from branchops.catalog.base import INTERNAL_PREFIX
from branchops.config import Settings
from branchops.demo import demo_relations
from branchops.engine.trino import SCRATCH_CATALOG, TrinoEngine
from branchops.lakehouse import Lakehouse
from branchops.pr.diff_step import DataDiffer

pytestmark = pytest.mark.integration

SAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
MODELS = ("stg_customers", "stg_orders", "stg_payments", "orders", "customers", "customer_segments",
          "fct_daily_revenue", "monthly_revenue")
SEEDS = ("payment_methods",)
SHA2 = "b" * 40
SHA3 = "c" * 40


def checkout(src: Path, dest: Path, edit: tuple[str, str, str] | None = None) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    if edit is not None:
        name, old, new = edit
        path = next(dest.rglob(f"{name}.sql"))
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))
    return dest


def demo_files(folder: Path, scale: float) -> dict[str, Path]:
    """The sample project's raw tables at ``scale`` as local Parquet files."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        out = {}
        for table, sql in demo_relations(scale).items():
            out[table] = folder / f"{table}.parquet"
            con.execute(f"COPY ({sql}) TO '{out[table]}' (FORMAT parquet)")
        return out
    finally:
        con.close()


def s3_objects(s3: S3Server, warehouse: str) -> dict[str, int]:
    prefix = warehouse.removeprefix(f"s3://{s3.bucket}/") + "/"
    out: dict[str, int] = {}
    for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix):
        out |= {o["Key"]: int(o["Size"]) for o in page.get("Contents", [])}
    return out


@pytest.fixture
def lakehouse(trino_settings: Settings) -> Iterator[Lakehouse]:
    with Lakehouse(trino_settings) as lh:
        yield lh


def test_pr_open_merge_close_and_gc_through_the_cli(
    trino_settings: Settings, lakehouse: Lakehouse, s3_server: S3Server, tmp_path: Path
) -> None:
    cli = Cli(write_config(trino_settings, tmp_path / "lh", threads=2, gc_retention="0s"), env=s3_server.admin.env())
    project = checkout(SAMPLE_PROJECT, tmp_path / "project")
    catalog = lakehouse.catalog
    with TrinoEngine(catalog, trino_settings) as engine:
        catalogs_before = engine.existing_catalogs()

    # raw data: the demo tables as files, ingested (`demo-data` writes with DuckDB, which needs httpfs for S3)
    for table, path in demo_files(tmp_path / "raw", 0.001).items():
        assert cli.json("ingest", table, str(path))["rows"] > 0

    # PR 1 brings the models: main has no dbt build yet, so all of them are built and all are new
    opened = cli.json("pr", "open", "--pr", "1", "--sha", SHA, "--project-dir", str(project))
    assert opened["status"] == "passed", opened.get("reason")
    assert set(opened["changed_tables"]) == {f"analytics.{m}" for m in (*MODELS, *SEEDS)}
    assert {t["status"] for t in opened["diff"]["tables"]} == {"added"}
    assert cli.json("pr", "merge", "--pr", "1", "--sha", SHA)["status"] == "merged"
    assert {f"analytics.{m}" for m in MODELS} <= set(catalog.tables("main"))
    assert "pr-1" not in {r.name for r in catalog.list_refs()}
    segments_v1 = catalog.tables("main")["analytics.customer_segments"]

    # PR 2 changes one model: only it is built (the rest stays zero-copy), diffed by key in Trino
    changed = checkout(project, tmp_path / "project-2",
                       ("customer_segments", "lifetime_value >= 300", "lifetime_value >= 100"))
    opened = cli.json("pr", "open", "--pr", "2", "--sha", SHA2, "--project-dir", str(changed))
    assert opened["status"] == "passed", opened.get("reason")
    assert opened["changed_tables"] == ["analytics.customer_segments"]
    assert opened["build"]["built"] == ["analytics.customer_segments"]
    assert "analytics.customers" in opened["build"]["reused"]  # zero-copy from main
    (table,) = [t for t in opened["diff"]["tables"] if t["status"] != "unchanged"]
    assert table["key"] == ["customer_id"]  # from the dbt manifest stored on S3
    rows = table["rows"]
    assert rows["changed"] > 0 and rows["added"] == rows["removed"] == 0 and rows["base"] == rows["head"], rows
    assert opened["diff"]["base"]["ref"].startswith("main@")
    # the PR branch is queryable with `branchops sql`, in Trino, next to main
    on_pr = cli.json("sql", "select segment, count(*) as n from customer_segments group by 1 order by 1",
                     "--branch", "pr-2")
    on_main = cli.json("sql", "select segment, count(*) as n from customer_segments group by 1 order by 1")
    assert on_pr["rows"] != on_main["rows"]
    assert sum(r["n"] for r in on_pr["rows"]) == sum(r["n"] for r in on_main["rows"]) == rows["base"]

    # PR 3 changes nothing and is closed: its branch and its Trino catalog are gone
    opened = cli.json("pr", "open", "--pr", "3", "--sha", SHA3, "--project-dir", str(project))
    assert opened["status"] == "passed" and opened["changed_tables"] == []
    cli.json("sql", "select count(*) as n from orders", "--branch", "pr-3")  # pr-3's catalog now exists
    with TrinoEngine(catalog, trino_settings) as engine:
        assert engine.catalog_name("pr-3") in engine.existing_catalogs()
        assert cli.json("pr", "close", "--pr", "3")["status"] == "closed"
        assert engine.catalog_name("pr-3") not in engine.existing_catalogs()

        merged = cli.json("pr", "merge", "--pr", "2", "--sha", SHA2)
        assert merged["status"] == "merged" and merged["changed_tables"] == ["analytics.customer_segments"]
        left = engine.existing_catalogs() - catalogs_before
        # only main's catalog is left (and the shared scratch catalog, with no schema of a finished
        # run): PR branches, dbt's write forks and the diff's pins took theirs along
        assert left <= {engine.catalog_name("main"), SCRATCH_CATALOG}, left
        if SCRATCH_CATALOG in engine.existing_catalogs():  # absent when every diff was keyed (one query)
            scratch = {r[0] for r in engine.query(f'SHOW SCHEMAS FROM "{SCRATCH_CATALOG}"')}
            assert scratch <= {"default", "information_schema"}, scratch
    assert {r.name for r in catalog.list_refs(include_internal=True)} == {"main"}
    segments_v2 = catalog.tables("main")["analytics.customer_segments"]
    assert segments_v2 != segments_v1

    # gc on S3: a stray data file and the files only superseded versions used are deleted
    prefix = trino_settings.warehouse.removeprefix(f"s3://{s3_server.bucket}/")
    s3 = s3_server.client()
    s3.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/analytics/stray-00000.parquet", Body=b"x" * 1234)
    s3.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/README.txt", Body=b"not an Iceberg file")
    before = s3_objects(s3_server, trino_settings.warehouse)
    dry = cli.json("gc", "--older-than", "0s", "--dry-run")
    assert s3_objects(s3_server, trino_settings.warehouse) == before
    gc = cli.json("gc", "--older-than", "0s")
    after = s3_objects(s3_server, trino_settings.warehouse)
    deleted = set(before) - set(after)
    assert gc["deleted_files"] == dry["deleted_files"] == len(deleted) > 1
    assert gc["bytes_freed"] == sum(before[k] for k in deleted) > 1234
    assert f"{prefix}/analytics/stray-00000.parquet" in deleted
    assert f"{prefix}/README.txt" in after
    assert set(after) <= set(before)
    assert not any(k.startswith(prefix) and segments_v1.endswith(k) for k in after), "v1 metadata survived"

    # every table of every ref still reads, through pyiceberg and through Trino
    for ref in catalog.list_refs(include_internal=True):
        for name in catalog.tables(ref.name):
            assert lakehouse.read(name, ref.name).num_rows >= 0
    with TrinoEngine(catalog, trino_settings) as engine:
        for name in catalog.tables("main"):
            assert engine.query(f"SELECT count(*) FROM {engine.relation('main', name)}")[0][0] >= 0
    assert cli.json("gc", "--older-than", "0s")["deleted_files"] == 0
    print("CLI seconds:", {k: round(v, 1) for k, v in cli.timings.items()})


def test_diff_step_reads_a_moved_base_through_a_pinned_branch(lakehouse: Lakehouse) -> None:
    """Trino reads branch heads only: the fork point of a base that moved since is pinned on a
    private branch for the diff, and the branch and its Trino catalog are dropped after."""
    lakehouse.ingest("raw.customers", pa.table({"id": [1, 2], "name": ["ann", "bob"]}))
    fork = lakehouse.catalog.get_ref("main").hash
    lakehouse.ingest("raw.customers", pa.table({"id": [3], "name": ["cy"]}))
    with TrinoEngine(lakehouse.catalog, lakehouse.settings) as engine:
        catalogs_before = engine.existing_catalogs()
        out = DataDiffer().diff(lakehouse, base=f"main@{fork}", head="main", keys={"raw.customers": ["id"]})
        assert engine.existing_catalogs() - catalogs_before <= {engine.catalog_name("main")}
    out = out.to_dict()
    (table,) = out["tables"]
    assert (table["rows"]["added"], table["rows"]["removed"], table["rows"]["changed"]) == (1, 0, 0)
    assert out["base"]["ref"] == f"main@{fork}"
    refs = lakehouse.catalog.list_refs(include_internal=True)
    assert not [r.name for r in refs if r.name.startswith(INTERNAL_PREFIX)]  # the pin is dropped


def test_gc_on_s3_deletes_only_what_no_ref_uses(
    lakehouse: Lakehouse, s3_server: S3Server, trino_settings: Settings
) -> None:
    """gc lists and deletes through Arrow's S3 file system with the settings' endpoint and keys."""
    from branchops.gc.collect import collect_garbage

    lh = Lakehouse(trino_settings.replace(gc_retention="0s"), lakehouse.catalog)
    lh.ingest("raw.orders", pa.table({"id": [1, 2, 3]}))
    lh.catalog.create_branch("pr-5", "main")
    lh.ingest("raw.orders", pa.table({"id": [4]}), branch="pr-5")  # files only pr-5 uses
    lh.catalog.create_branch("keep", "main")
    lh.ingest("raw.events", pa.table({"id": [9]}), branch="keep")
    prefix = trino_settings.warehouse.removeprefix(f"s3://{s3_server.bucket}/")
    s3_server.client().put_object(Bucket=s3_server.bucket, Key=f"{prefix}/raw/stray.parquet", Body=b"y" * 99)
    before = s3_objects(s3_server, trino_settings.warehouse)

    res = collect_garbage(lh, older_than="0s")
    after = s3_objects(s3_server, trino_settings.warehouse)
    deleted = set(before) - set(after)
    assert [b["name"] for b in res.dropped_branches] == ["pr-5"]
    assert res.deleted_files == len(deleted) >= 2 and res.bytes_freed == sum(before[k] for k in deleted)
    assert f"{prefix}/raw/stray.parquet" in deleted
    for ref in lh.catalog.list_refs(include_internal=True):
        for name in lh.catalog.tables(ref.name):
            assert lh.read(name, ref.name).num_rows > 0
    assert lh.read("raw.orders").num_rows == 3 and lh.read("raw.events", "keep").num_rows == 1
    assert collect_garbage(lh, older_than="0s").deleted_files == 0
