"""Classification in `pr sync` on the sample project (real dbt-core + dbt-duckdb): a non-breaking
change rebuilds only its model and the report says what kept main's tables; a breaking one
rebuilds downstream; a metadata-only one builds nothing; `--classify off` is state:modified+."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from branchops.dbt.artifacts import fetch, find_build
from branchops.lakehouse import Lakehouse
from branchops.pr import PullRequests, Reporter, Status
from branchops.pr.dbt_step import DbtBuilder
from tests.shop import built_shop

SHA = "0123456789abcdef0123456789abcdef01234567"
DOWNSTREAM_OF_ORDERS = ["analytics.customer_segments", "analytics.customers", "analytics.fct_daily_revenue",
                        "analytics.monthly_revenue"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lakehouse, Path]]:
    root = tmp_path_factory.mktemp("classify")
    with built_shop(root) as (lh, project):
        yield lh, project


def edit(project: Path, name: str, old: str, new: str, tag: str) -> Path:
    copy = project.parent / f"{project.name}-{tag}"
    shutil.copytree(project, copy)
    target = next(copy.rglob(name))
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new))
    return copy


def sync(lh: Lakehouse, pr: int, project: Path, *, classify: bool = True) -> tuple[Any, str]:
    printed: list[str] = []
    prs = PullRequests(lh, Reporter(None, echo=printed.append, env={}), builder=DbtBuilder(classify=classify))
    out = prs.sync(pr, SHA, project)
    return out, printed[0]


def test_a_new_column_in_orders_builds_one_model_and_keeps_four(shop: tuple[Lakehouse, Path], tmp_path: Path
                                                                 ) -> None:
    lh, project = shop
    changed = edit(project, "orders.sql", "coalesce(p.amount, 0) as amount",
                   "coalesce(p.amount, 0) as amount,\n    p.payments as payment_count", "newcol")
    out, report = sync(lh, 41, changed)
    assert out.status is Status.PASSED, out.reason
    assert out.build["built"] == ["analytics.orders"]
    lineage = out.build["lineage"]
    [m] = lineage["models"]
    assert (m["model"], m["kind"], m["added"], m["readers"]) == ("orders", "non-breaking", ["payment_count"], [])
    assert lineage["kept_from_base"] == DOWNSTREAM_OF_ORDERS
    main, pr = lh.catalog.tables("main"), lh.catalog.tables("pr-41")
    assert all(pr[t] == main[t] for t in DOWNSTREAM_OF_ORDERS)  # zero-copy: the very same table state
    assert pr["analytics.orders"] != main["analytics.orders"]
    assert out.changed_tables == ["analytics.orders"]
    assert "non-breaking" in report and "kept from the base, zero-copy" in report
    assert "`analytics.customers`" in report
    assert "[Revenue dashboard](https://bi.example.com/dashboards/revenue)" in report
    # the PR's stored manifest holds every model's compiled SQL (the next PR compares against it),
    # and main's build stored dbt's partial-parse state
    stored = find_build(lh.catalog, "pr-41")
    assert stored is not None and stored.commit != find_build(lh.catalog, "main").commit  # type: ignore[union-attr]
    manifest = json.loads(fetch(lh.catalog, stored.manifest, tmp_path / "m.json").read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert len(models) == 9 and all(n.get("compiled_code") for n in models)
    assert find_build(lh.catalog, "main").partial_parse  # type: ignore[union-attr]


def test_a_changed_filter_is_breaking_and_rebuilds_what_reads_it(shop: tuple[Lakehouse, Path]) -> None:
    lh, project = shop
    changed = edit(project, "customers.sql", "where status <> 'returned'", "where status <> 'placed'", "filter")
    out, report = sync(lh, 42, changed)
    lineage = out.build["lineage"]
    [m] = lineage["models"]
    assert m["kind"] == "breaking" and m["rows_changed"]
    # customer_segments reads these three columns of customers (hand-read from its SQL)
    assert [(r["name"], r["columns"]) for r in m["readers"]] == [
        ("customer_segments", ["customer_id", "lifetime_value", "number_of_orders"])]
    assert sorted(out.build["built"]) == ["analytics.customer_segments", "analytics.customers"]
    assert lineage["kept_from_base"] == []
    assert "breaking" in report and "`customer_segments`: reads `customer_id`" in report


def test_a_comment_is_metadata_only_and_classify_off_builds_state_modified(shop: tuple[Lakehouse, Path]) -> None:
    lh, project = shop
    changed = edit(project, "orders.sql", "select\n", "-- one row per order\nselect\n", "comment")
    out, _ = sync(lh, 43, changed)
    assert out.status is Status.PASSED, out.reason
    [m] = out.build["lineage"]["models"]
    assert m["kind"] == "metadata-only" and out.build["built"] == []
    assert lh.catalog.tables("pr-43") == lh.catalog.tables("main")
    off, report = sync(lh, 44, changed, classify=False)
    assert off.build["lineage"] is None and "classification" not in report
    assert sorted(off.build["built"]) == sorted(["analytics.orders", *DOWNSTREAM_OF_ORDERS])


def test_the_build_reuses_the_compiles_database_with_in_place_tables_copied_in(
        shop: tuple[Lakehouse, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Classification compiles in dbt's scratch database and the build reuses it: the branch's
    views are made once. Tables the build updates in place (seeds, the incremental model a
    breaking change rebuilds) are copied into it: delete+insert into a view would fail."""
    import branchops.dbt.plugin as plugin
    from branchops.dbt import prewarm

    lh, project = shop
    opened: list[Any] = []  # databases filled with the branch's views: by the plugin, or ahead (prewarm)

    def counted(real: Any) -> Any:
        def fill(con: Any, spec: Any) -> None:
            opened.append(spec)
            real(con, spec)
        return fill

    monkeypatch.setattr(plugin, "populate", counted(plugin.populate))
    monkeypatch.setattr(prewarm, "fill", counted(prewarm.fill))
    newcol = edit(project, "orders.sql", "coalesce(p.amount, 0) as amount",
                  "coalesce(p.amount, 0) as amount,\n    p.payments as payment_count", "reuse-newcol")
    out, _ = sync(lh, 45, newcol)
    assert out.status is Status.PASSED, out.reason
    assert out.build["built"] == ["analytics.orders"]
    # dbt took the partial-parse state stored with main's build: it parsed only the changed file
    assert out.build["parse"] == "partial: 0 files deleted, 0 files added, 1 files changed"
    assert len(opened) == 1  # one database: the compile's, then the build's

    opened.clear()
    doubled = edit(project, "orders.sql", "coalesce(p.amount, 0) as amount", "coalesce(p.amount, 0) * 2 as amount",
                   "reuse-breaking")
    out, _ = sync(lh, 46, doubled)
    assert out.status is Status.PASSED, out.reason
    assert out.build["lineage"]["models"][0]["kind"] == "breaking"
    assert "analytics.fct_daily_revenue" in out.build["built"]  # incremental: updated in place on a copy
    assert len(opened) == 1
    # updated in place, not rebuilt (dbt rebuilds an incremental model that finds a view): the
    # days before main's newest keep main's revenue, the newest is re-aggregated with doubled amounts
    main, pr = ({r["order_date"]: r["revenue"] for r in lh.catalog.load_table(ref, "analytics.fct_daily_revenue")
                 .scan(selected_fields=("order_date", "revenue")).to_arrow().to_pylist()} for ref in ("main", "pr-46"))
    newest = max(main)
    assert set(pr) == set(main) and pr[newest] == 2 * main[newest]
    assert all(pr[day] == main[day] for day in main if day != newest)


def test_the_compiled_manifest_is_what_dbt_compile_writes(shop: tuple[Lakehouse, Path]) -> None:
    """Classification reads the compiled nodes from dbt's manifest object instead of the
    ``manifest.json`` a compile writes: the two are the same, ephemeral CTEs and tests included."""
    from branchops.dbt import run_dbt
    from branchops.dbt.invocation import Invocation, invoke
    from branchops.lineage.select import _pristine, with_compiled_nodes

    lh, project = shop
    changed = edit(project, "int_order_payments.sql", "count(*)", "count(*) + 0", "compiled")
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def both(inv: Invocation, manifest_obj: Any, parsed: dict[str, Any]) -> None:
        args = ["compile", "--quiet", *inv.common, *inv.state_args, "--select", "state:modified+"]
        assert invoke(args, manifest=_pristine(manifest_obj)).success
        written = json.loads((inv.target / "manifest.json").read_text())
        compiled = _pristine(manifest_obj)
        assert invoke([*args, "--no-write-json"], manifest=compiled).success
        seen.append((written, with_compiled_nodes(parsed, compiled)))

    run_dbt(lh, "compile", branch="main", project_dir=changed, select=["state:modified+"], refine=both)
    [(written, ours)] = seen
    compiled = {uid: n for uid, n in written["nodes"].items() if n.get("compiled")}
    assert any(n.get("extra_ctes") for n in compiled.values())  # an ephemeral model inlined
    assert any(n["resource_type"] == "test" for n in compiled.values())
    assert ours["nodes"] == written["nodes"]
    assert {k: v for k, v in ours.items() if k != "metadata"} == {k: v for k, v in written.items() if k != "metadata"}


def test_models_rendered_without_dbt_are_what_dbt_compiles(shop: tuple[Lakehouse, Path]) -> None:
    """lineage/quick.py renders a model only when its Jinja is ref/source/config: every model it
    accepts is exactly dbt's compiled SQL (main's stored manifest), and it leaves the rest to dbt."""
    from branchops.dbt.artifacts import read_artifact
    from branchops.lineage.quick import render

    lh, _ = shop
    stored = find_build(lh.catalog, "main")
    assert stored is not None
    manifest = json.loads(read_artifact(lh.catalog, stored.manifest))
    rendered = {n["name"]: render(n, manifest) for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    accepted = {name for name, sql in rendered.items() if sql is not None}
    # hand-read from the sample project: sources and refs only (customer_segments has a Jinja
    # comment, orders refs an ephemeral model, the rest loops, macros or is_incremental())
    assert accepted == {"stg_orders", "stg_payments", "customers"}
    for node in manifest["nodes"].values():
        if node["name"] in accepted:
            assert rendered[node["name"]] == node["compiled_code"], node["name"]


@pytest.mark.parametrize(("name", "old", "new"), [
    ("stg_orders.sql", "    status\n", "    status,\n    upper(status) as status_code\n"),  # non-breaking
    ("customers.sql", "where status <> 'returned'", "where status <> 'placed'"),  # breaking
    ("stg_payments.sql", "payment_method,", "lower(payment_method) as payment_method,"),  # read by an ephemeral model
    ("orders.sql", "    o.status,\n", "    o.status,\n    upper(o.status) as status_code,\n"),  # refs an ephemeral one
])
def test_classification_without_a_dbt_compile_is_the_same_as_with_it(
        shop: tuple[Lakehouse, Path], monkeypatch: pytest.MonkeyPatch, name: str, old: str, new: str) -> None:
    import branchops.lineage.select as select

    lh, project = shop
    changed = edit(project, name, old, new, f"quick-{name}")
    number = 60 + QUICK_CASES.index(name) * 2
    quick, _ = sync(lh, number, changed)
    monkeypatch.setattr(select, "compiled_head", lambda *args: None)  # always dbt's compile
    compiled, _ = sync(lh, number + 1, changed)
    assert quick.status is Status.PASSED and compiled.status is Status.PASSED, (quick.reason, compiled.reason)
    ours, dbts = quick.build["lineage"], compiled.build["lineage"]
    assert dbts["compiled_by"] == "dbt"
    # orders refs an ephemeral model (a CTE dbt inlines): dbt compiles it; the ephemeral reader of
    # stg_payments is unchanged: its SQL is the base's
    assert ours["compiled_by"] == ("dbt" if name == "orders.sql" else "branchops")
    drop = ("compiled_by", "seconds")
    assert {k: v for k, v in ours.items() if k not in drop} == {k: v for k, v in dbts.items() if k not in drop}
    assert quick.build["built"] == compiled.build["built"]


QUICK_CASES = ["stg_orders.sql", "customers.sql", "stg_payments.sql", "orders.sql"]
