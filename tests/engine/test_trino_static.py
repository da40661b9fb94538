"""Static Trino catalogs (``trino_catalogs = "static"``): the pure parts — schema naming, query
qualification, the dbt-trino profile, the catalog file. Against a real static Trino:
tests/integration/test_pr_static_trino.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from branchops.config import Settings, load_settings
from branchops.dbt.results import table_of
from branchops.dbt.trino import rebase_state_branch
from branchops.engine.trino import TrinoEngine, dbt_profile_output
from branchops.engine.trino_settings import branch_schema, qualify_for_branch, static_catalog_properties
from branchops.lakehouse import Lakehouse
from branchops.secrets import redact


def settings(**kw: object) -> Settings:
    base: dict[str, object] = {
        "root": Path("/tmp"), "backend": "nessie", "nessie_uri": "http://nessie:19120/api/v2",
        "warehouse": "s3://lake/warehouse", "engine": "trino", "trino_uri": "http://trino:8080",
        "s3_endpoint": "http://minio:9000", "s3_region": "eu-west-1", "trino_catalogs": "static",
        "trino_catalog": "lake",
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)


def test_queries_on_a_branch_name_it_in_every_schema() -> None:
    sql = ("with x as (select * from raw.orders o join customers c on o.cid = c.id) "
           "select * from x, other.catalog_x.t where x.id in (select id from raw.payments)")
    out = qualify_for_branch(sql, "pr-42", "analytics")
    assert '"raw@pr-42".orders' in out and '"raw@pr-42".payments' in out
    assert '"analytics@pr-42".customers' in out
    assert "other.catalog_x.t" in out  # fully qualified names are left alone
    assert " x," in out or "FROM x" in out  # the CTE is not a table
    assert branch_schema("analytics", "team/x") == "analytics@team/x"


def test_dbt_profile_targets_the_static_catalog_and_the_branch_schema() -> None:
    out = dbt_profile_output(settings(), "pr-7")
    assert (out["database"], out["schema"]) == ("lake", "analytics@pr-7")
    dynamic = dbt_profile_output(settings(trino_catalogs="dynamic"), "pr-7")
    assert dynamic["database"].startswith("b_pr_7_") and dynamic["schema"] == "analytics"


def test_static_catalog_file_for_an_administrator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-example-key")
    props = static_catalog_properties(settings(), "http://branchops:8181", token="rest-token-1")
    assert props["connector.name"] == "iceberg" and props["iceberg.catalog.type"] == "rest"
    assert props["iceberg.rest-catalog.uri"] == "http://branchops:8181"
    assert props["iceberg.rest-catalog.oauth2.token"] == "rest-token-1"
    assert props["s3.endpoint"] == "http://minio:9000" and props["s3.path-style-access"] == "true"
    assert "rest-token-1" not in redact(json.dumps(props))


def test_the_setting_comes_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "branchops.toml").write_text('trino_catalogs = "static"\ntrino_catalog = "galaxy_lake"\n')
    assert load_settings(tmp_path / "branchops.toml").trino_catalogs == "static"
    monkeypatch.setenv("BRANCHOPS_TRINO_CATALOGS", "dynamic")
    s = load_settings(tmp_path / "branchops.toml")
    assert (s.trino_catalogs, s.trino_catalog) == ("dynamic", "galaxy_lake")
    monkeypatch.setenv("BRANCHOPS_TRINO_CATALOGS", "sometimes")
    with pytest.raises(Exception, match="trino_catalogs"):
        load_settings(tmp_path / "branchops.toml")


def test_static_mode_works_on_the_embedded_catalog_too(tmp_path: Path) -> None:
    """Static catalogs need only `branchops serve`, so the SQL backend (PostgreSQL in a team) serves
    Trino too; nothing about the engine needs Nessie then."""
    s = Settings(root=tmp_path, engine="trino", trino_uri="http://trino:8080", trino_catalogs="static")
    with Lakehouse(s) as lh:
        engine = TrinoEngine(lh.catalog, s)
        assert engine.catalog_name("pr-1") == engine.catalog_name("main") == "branchops"
        engine.drop_catalog("pr-1")  # nothing per branch: no Trino call is made


def test_table_names_and_state_manifests_drop_the_branch_from_the_schema(tmp_path: Path) -> None:
    assert table_of({"schema": "analytics@branchops-wap-1a2b", "name": "orders"}) == "analytics.orders"
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"sources": {"source.p.raw.orders": {
        "database": "lake", "schema": "raw@branchops-wap-old", "identifier": "orders", "name": "orders",
        "relation_name": '"lake"."raw@branchops-wap-old"."orders"'}}}))
    rebase_state_branch(path, "branchops-wap-new")
    src = json.loads(path.read_text())["sources"]["source.p.raw.orders"]
    assert src["schema"] == "raw@branchops-wap-new"
    assert src["relation_name"] == '"lake"."raw@branchops-wap-new"."orders"'


def test_the_pr_report_names_what_bi_reads_for_each_changed_table() -> None:
    from branchops.diff.model import DiffResult, RefSide
    from branchops.pr.model import Outcome, Status
    from branchops.pr.render import bi_relations, render_report

    present = {"analytics.orders": "s3://x/1.json"}
    static = bi_relations(settings(), "pr-42", ["analytics.orders", "analytics.gone"], present)
    assert static == {"analytics.orders": 'lake."analytics@pr-42".orders'}  # removed tables: nothing to read
    dynamic = bi_relations(settings(trino_catalogs="dynamic"), "pr-42", ["analytics.orders"], present)
    assert dynamic["analytics.orders"].startswith('"b_pr_42_') and dynamic["analytics.orders"].endswith(
        ".analytics.orders")
    assert bi_relations(Settings(root=Path("/tmp")), "pr-42", ["analytics.orders"], present) == {}
    outcome = Outcome(command="sync", pr=42, branch="pr-42", status=Status.PASSED, bi_relations=static)
    report = render_report(outcome, None, DiffResult(RefSide("main", "a" * 64), RefSide("pr-42", "b" * 64), ()))
    assert '`analytics.orders` → `lake."analytics@pr-42".orders`' in report
    assert outcome.to_dict()["bi_relations"] == static


def test_keys_from_a_static_build_manifest_name_the_table_without_the_branch() -> None:
    from branchops.diff.key_sources import keys_from_manifest

    manifest = {"nodes": {
        "model.p.customers": {"resource_type": "model", "schema": "analytics@branchops-wap-1", "name": "customers",
                              "config": {"meta": {"primary_key": "customer_id"}}}}}
    assert keys_from_manifest(manifest)["analytics.customers"][0] == ("customer_id",)
