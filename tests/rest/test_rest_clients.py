"""Real clients read and write branches through ``branchops serve``: pyiceberg's RestCatalog and
DuckDB's Iceberg extension (``ATTACH ... (TYPE iceberg)``), the pinned wheels loaded by path."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.exceptions import ForbiddenError, NoSuchNamespaceError, NoSuchTableError
from rest_stack import FEAT_EXTRA, MAIN_ORDERS, Served

from branchops.rest.clients import duckdb_attach

MAIN_SUM = sum(MAIN_ORDERS["amount"].to_pylist())
FEAT_SUM = MAIN_SUM + sum(FEAT_EXTRA["amount"].to_pylist())


def _sum(table: pa.Table) -> float:
    return float(sum(table["amount"].to_pylist()))


def test_pyiceberg_reads_a_branch_by_prefix_and_by_namespace(served: Served) -> None:
    on_feat = RestCatalog("feat", uri=served.uri, warehouse="feat")
    default = RestCatalog("default", uri=served.uri)
    assert on_feat.list_namespaces() == [("raw",)]
    assert on_feat.list_tables("raw") == [("raw", "orders")]
    assert _sum(on_feat.load_table("raw.orders").scan().to_arrow()) == FEAT_SUM
    assert _sum(default.load_table("raw.orders").scan().to_arrow()) == MAIN_SUM
    assert _sum(default.load_table("raw@feat.orders").scan().to_arrow()) == FEAT_SUM
    assert _sum(default.load_table(("raw", "orders@feat")).scan().to_arrow()) == FEAT_SUM
    # the metadata the endpoint hands out is exactly the branch's pointer
    assert on_feat.load_table("raw.orders").metadata_location == served.lh.catalog.tables("feat")["raw.orders"]


def test_pyiceberg_append_is_one_commit_on_the_branch(served: Served) -> None:
    cat = served.lh.catalog
    main_before, feat_log = cat.tables("main"), len(cat.log("feat"))
    table = RestCatalog("feat", uri=served.uri, warehouse="feat").load_table("raw.orders")
    table.append(pa.table({"id": pa.array([5], pa.int64()), "amount": [50.0]}))
    assert len(cat.log("feat")) == feat_log + 1
    assert [c.table for c in cat.log("feat", limit=1)[0].changes] == ["raw.orders"]
    assert cat.tables("main") == main_before
    assert _sum(cat.load_table("feat", "raw.orders").scan().to_arrow()) == FEAT_SUM + 50.0


def test_writes_to_a_protected_branch_are_refused_naming_write_audit_publish(served: Served) -> None:
    before = served.lh.catalog.get_ref("main").hash
    main = RestCatalog("main", uri=served.uri)
    with pytest.raises(ForbiddenError, match="write-audit-publish"):
        main.load_table("raw.orders").append(FEAT_EXTRA)
    with pytest.raises(ForbiddenError, match="protected"):
        main.create_table("raw.other", MAIN_ORDERS.schema)
    with pytest.raises(ForbiddenError):
        main.drop_table("raw.orders")
    assert served.lh.catalog.get_ref("main").hash == before


def test_create_rename_drop_and_namespaces_on_a_branch(served: Served) -> None:
    cat = served.lh.catalog
    rc = RestCatalog("feat", uri=served.uri, warehouse="feat")
    rc.create_namespace("mart")
    assert ("mart",) in rc.list_namespaces()
    t = rc.create_table("mart.totals", MAIN_ORDERS.schema)
    t.append(MAIN_ORDERS)
    rc.rename_table("mart.totals", "mart.sums")
    assert rc.list_tables("mart") == [("mart", "sums")]
    assert _sum(cat.load_table("feat", "mart.sums").scan().to_arrow()) == MAIN_SUM
    assert "mart.sums" not in cat.tables("main")
    rc.drop_table("mart.sums")
    assert "mart.sums" not in cat.tables("feat")
    rc.drop_namespace("mart")
    assert ("mart",) not in rc.list_namespaces()
    with pytest.raises(NoSuchNamespaceError):
        rc.load_namespace_properties("mart")


def test_unknown_branch_or_table_is_not_found_naming_it(served: Served) -> None:
    rc = RestCatalog("default", uri=served.uri)
    with pytest.raises(NoSuchTableError, match="no branch 'no-such'"):  # pyiceberg: any 404 of a table
        rc.load_table("raw@no-such.orders")
    with pytest.raises(NoSuchNamespaceError, match="no branch 'no-such'"):
        rc.list_tables("raw@no-such")
    with pytest.raises(NoSuchTableError, match=r"raw\.missing"):
        rc.load_table("raw@feat.missing")


def test_duckdb_attaches_a_branch_and_reads_others_by_namespace(served: Served) -> None:
    con = duckdb.connect()
    try:
        duckdb_attach(con, served.uri, "feat", "lake")
        assert con.execute("select count(*), sum(amount) from lake.raw.orders").fetchone() == (4, FEAT_SUM)
        assert con.execute('select count(*), sum(amount) from lake."raw@main".orders').fetchone() == (3, MAIN_SUM)
    finally:
        con.close()


def test_concurrent_writers_of_different_tables_on_one_branch_all_land(served: Served) -> None:
    """Many writers of one branch (dbt-trino threads): a commit to one table is no conflict for
    another table's commit (Nessie's rule), so every append lands, each as one commit."""
    from concurrent.futures import ThreadPoolExecutor

    cat = served.lh.catalog
    rc = RestCatalog("feat", uri=served.uri, warehouse="feat")
    names = [f"raw.t{i}" for i in range(4)]
    for name in names:
        rc.create_table(name, MAIN_ORDERS.schema)
    commits_before = len(cat.log("feat"))

    def append(name: str) -> None:
        RestCatalog("feat", uri=served.uri, warehouse="feat").load_table(name).append(MAIN_ORDERS)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(append, names * 2))
    assert len(cat.log("feat")) == commits_before + 8
    for name in names:
        assert cat.load_table("feat", name).scan().to_arrow().num_rows == 2 * MAIN_ORDERS.num_rows


def test_a_stale_head_conflicts_only_when_the_same_table_moved(served: Served) -> None:
    from pyiceberg.exceptions import CommitFailedException

    from branchops.catalog.iceberg import BranchIcebergCatalog

    cat = served.lh.catalog
    loc = cat.tables("feat")["raw.orders"]
    stale = cat.resolve("feat")
    cat.commit("feat", {"raw.other": loc}, "another writer")  # the ref moves, on another table
    with pytest.raises(CommitFailedException):
        BranchIcebergCatalog(cat, "feat")._commit_pointer({"raw.copy": loc}, stale)
    BranchIcebergCatalog(cat, "feat", table_level_conflicts=True)._commit_pointer({"raw.copy": loc}, stale)
    assert cat.tables("feat")["raw.copy"] == loc and cat.log("feat", limit=1)[0].parent != stale
    with pytest.raises(CommitFailedException, match=r"raw\.other"):
        BranchIcebergCatalog(cat, "feat", table_level_conflicts=True)._commit_pointer({"raw.other": None}, stale)
    assert "raw.other" in cat.tables("feat")
