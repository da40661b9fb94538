"""Per-job roles on a real PostgreSQL: a PR job's role syncs its pull request, and the database
itself refuses that role every write to ``main`` — through branchops' Python API (with branchops'
own protection switched off, so only the database stands in the way), through pyiceberg's own
``SqlCatalog``, and through plain SQL — while nothing on ``main`` changes. The merge role can."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pgserver
import psycopg2
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from sqlalchemy.engine import make_url

from branchops import dbt
from branchops.catalog.base import RefType
from branchops.catalog.iceberg import BranchIcebergCatalog
from branchops.cli import main as cli_main
from branchops.config import Settings, load_settings, write_default_config
from branchops.demo import load_demo_data
from branchops.errors import PermissionDenied, ProtectedRef
from branchops.lakehouse import Lakehouse
from branchops.pr import PullRequests, Reporter, Status
from branchops.pr.dbt_step import DbtBuilder

ROOT = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"

pytestmark = pytest.mark.slow


@dataclass
class Shop:
    root: Path
    admin: Settings
    prefix: str
    urls: dict[str, str]  # login role -> catalog URL
    project: Path

    def settings(self, who: str, **kw: Any) -> Settings:
        return self.admin.replace(catalog_uri=self.urls[who], **kw)


def _as_user(url: str, user: str) -> str:
    return make_url(url).set(username=user, password=None).render_as_string(hide_password=False)


def _run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        cli_main(list(args))
    cap = capsys.readouterr()
    return int(exc.value.code or 0), cap.out, cap.err


@pytest.fixture(scope="module")
def shop(
    postgres_server: pgserver.PostgresServer, postgres_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shop]:
    """A lakehouse on PostgreSQL with the sample data built on main, roles applied (as the
    tables' owner) and one login user per job."""
    root = tmp_path_factory.mktemp("roles")
    url = postgres_server.create_schema(postgres_database)
    write_default_config(root, catalog_uri=url, warehouse=str(root / "wh"), threads=2)
    admin = load_settings(root / "branchops.toml")
    project = root / "dbt_project"
    shutil.copytree(ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    with Lakehouse(admin) as lh:
        load_demo_data(lh, 0.001)
        dbt.build(lh, "main", project, dbt_output="stderr")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    from branchops.security.postgres_roles import role_setup

    role_setup(admin, prefix=prefix, apply=True)
    urls = {}
    for job in ("pr", "merge", "gc"):
        login = f"{prefix}_ci_{job}"
        postgres_server._admin(f'CREATE ROLE "{login}" LOGIN IN ROLE "{prefix}_{job}"')
        urls[job] = _as_user(url, login)
    try:
        yield Shop(root, admin, prefix, urls, project)
    finally:
        postgres_server.drop_schema(url)
        for job in ("pr", "merge", "gc"):
            postgres_server._admin(f'DROP ROLE IF EXISTS "{prefix}_ci_{job}"')
        for job in ("pr", "merge", "gc"):
            postgres_server._admin(f'DROP ROLE IF EXISTS "{prefix}_{job}"')


def _state(lh: Lakehouse) -> tuple[Any, ...]:
    """Everything a write to main could change: its head, its pointer rows, refs, the commit count."""
    with lh.catalog.db.transaction(read_only=True) as conn:  # type: ignore[attr-defined]
        # commits of main and other shared refs (a refused write-audit-publish leaves its own
        # commits behind, unreachable: gc's business, not main's)
        shared = "ref NOT LIKE 'pr-%' AND ref NOT LIKE 'branchops-wap-%'"
        commits = conn.scalar(f"SELECT count(*) FROM branchops_commits WHERE {shared}")
        changes = conn.scalar(
            f"SELECT count(*) FROM branchops_changes WHERE commit_hash IN "
            f"(SELECT hash FROM branchops_commits WHERE {shared})")
        rows = conn.execute(
            "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables "
            "WHERE catalog_name = 'main' ORDER BY 1, 2")
    refs = [(r.name, r.hash) for r in lh.catalog.list_refs() if not r.name.startswith("pr-")]
    return lh.catalog.get_ref("main").hash, rows, refs, commits, changes, lh.catalog.tables("main")


def test_pr_role_syncs_a_pull_request(shop: Shop) -> None:
    src = next(shop.project.rglob("customers.sql"))
    edited = shop.root / "dbt_project_pr"
    shutil.copytree(shop.project, edited)
    target = next(edited.rglob("customers.sql"))
    # a comment: the model is modified, its output the same (built anyway: classification off)
    target.write_text(src.read_text() + "\n-- a comment: the model is modified, its output the same\n")
    warehouse = shop.root / "wh"
    files_before = {p for p in warehouse.rglob("*") if p.is_file()}
    with Lakehouse(shop.settings("pr")) as lh:
        before = lh.catalog.tables("main")
        printed: list[str] = []
        out = PullRequests(lh, Reporter(None, echo=printed.append, env={}),
                           builder=DbtBuilder(classify=False)).sync(5, SHA, edited)
        assert out.status is Status.PASSED, out.reason
        # every file the PR job wrote (data, metadata, dbt artifacts) is under its own prefix
        new = {p for p in warehouse.rglob("*") if p.is_file()} - files_before
        assert new and all(p.is_relative_to(warehouse / "branches" / "pr-5") for p in new), new
        assert lh.catalog.get_ref("pr-5").type is RefType.BRANCH
        assert lh.catalog.tables("main") == before
        # the PR's rebuilt model is its own file, main keeps its pointer
        assert lh.catalog.tables("pr-5")["analytics.customers"] != before["analytics.customers"]


def _refusals(lh: Lakehouse, unguarded: Lakehouse, pr_table: str) -> dict[str, Callable[[], object]]:
    """Writes to main, each through a different door of branchops' Python API. ``unguarded`` has
    no protected refs configured: branchops itself would let every one of these through."""
    cat = unguarded.catalog
    some = pa.table({"order_id": [10**9], "customer_id": [1]})
    main_head = cat.get_ref("main").hash
    return {
        "ingest into main (write-audit-publish)": lambda: lh.ingest("raw.extra", some, branch="main"),
        "commit to main": lambda: cat.commit("main", {"raw.orders": None}, "drop a table"),
        "merge a PR into main": lambda: cat.merge("pr-55", "main"),
        "drop main": lambda: cat.drop_branch("main"),
        "reset main": lambda: cat.reset("main", f"@{cat.log('main')[-1].hash}"),
        "create a non-PR branch": lambda: cat.create_branch("feature"),
        "pyiceberg append through branchops": lambda: BranchIcebergCatalog(cat, "main").load_table(pr_table).append(
            BranchIcebergCatalog(cat, "main").load_table(pr_table).scan().to_arrow().slice(0, 1)),
        "delete commits": lambda: _sql(cat, "DELETE FROM branchops_commits"),
        "rewrite main's history": lambda: _sql(
            cat, f"INSERT INTO branchops_changes VALUES ('{main_head}', 'x.y', NULL, 's3://evil/m.json')"),
        "rename a ref to main": lambda: _sql(cat, "UPDATE branchops_refs SET name = 'main2' WHERE name = 'main'"),
    }


def _sql(catalog: Any, statement: str) -> None:
    with catalog.db.transaction() as conn:
        conn.execute(statement)


def test_pr_role_cannot_write_main_through_branchops(shop: Shop) -> None:
    with Lakehouse(shop.settings("pr")) as lh, Lakehouse(shop.settings("pr", protected=[])) as unguarded:
        lh.catalog.create_branch("pr-55")  # a PR branch with a change of its own, to merge
        lh.catalog.commit("pr-55", {"raw.orders": None}, "a PR's change")
        before = _state(lh)
        for what, write in _refusals(lh, unguarded, "analytics.customers").items():
            with pytest.raises(PermissionDenied) as refused:
                write()
            err = refused.value
            assert err.exit_code == 1, what
            if what in ("delete commits",):
                assert err.permission == "DELETE on table branchops_commits", what
            else:
                assert err.permission == f"membership in role {shop.prefix}_merge", (what, err.permission)
            assert "nothing was written" in (err.unchanged or ""), what
            assert _state(lh) == before, what
        # branchops' own check still answers first when protection is configured
        with pytest.raises(ProtectedRef):
            lh.catalog.drop_branch("main")


def test_pyiceberg_sqlcatalog_with_the_pr_role_cannot_write_main(shop: Shop) -> None:
    url, warehouse = shop.urls["pr"], str(shop.root / "wh")
    main = SqlCatalog("main", uri=url, warehouse=warehouse)
    with Lakehouse(shop.settings("pr")) as lh:
        before = _state(lh)
        orders = main.load_table("analytics.orders")  # reading is allowed
        one = orders.scan(limit=1).to_arrow()
        attempts: dict[str, Callable[[], object]] = {
            "append": lambda: main.load_table("analytics.orders").append(one),
            "drop_table": lambda: main.drop_table("analytics.orders"),
            "create_table": lambda: main.create_table("analytics.evil", schema=one.schema),
            "rename_table": lambda: main.rename_table("analytics.orders", "analytics.orders2"),
            "purge_table": lambda: main.purge_table("analytics.orders"),
        }
        for what, attempt in attempts.items():
            with pytest.raises(Exception) as refused:
                attempt()
            chain = [refused.value, refused.value.__cause__, getattr(refused.value, "orig", None)]
            assert any(isinstance(e, psycopg2.errors.InsufficientPrivilege) or "may not" in str(e)
                       for e in chain if e is not None), (what, repr(refused.value))
            assert _state(lh) == before, what
        # the same client writes the PR's own branch (positive control: the refusals are about main)
        if "pr-6" not in {r.name for r in lh.catalog.list_refs()}:
            lh.catalog.create_branch("pr-6")
        lh.catalog.publish_jdbc("pr-6")  # type: ignore[attr-defined]  # JDBC rows for a non-main ref
        pr6 = SqlCatalog("pr-6", uri=url, warehouse=warehouse)
        pr6.load_table("analytics.orders").append(one)
        # the JDBC rows are a mirror of branchops' commits for other engines to read: the write
        # landed in pr-6's row (branchops' own history does not see writes made around it)
        assert pr6.load_table("analytics.orders").metadata_location != lh.catalog.tables("main")["analytics.orders"]
        pr6.engine.dispose()
        assert _state(lh) == before
    main.engine.dispose()


def test_merge_role_writes_main_and_gc_role_drops_pr_branches(shop: Shop) -> None:
    with Lakehouse(shop.settings("pr")) as pr_lh:
        pr_lh.catalog.create_branch("pr-7")
        pr_lh.ingest("raw.pr7", pa.table({"id": [1, 2]}), branch="pr-7")
    with Lakehouse(shop.settings("gc")) as gc_lh:
        gc_lh.catalog.create_branch("pr-8")
        gc_lh.catalog.drop_branch("pr-8")
        with pytest.raises(PermissionDenied):
            gc_lh.catalog.merge("pr-7", "main")
    with Lakehouse(shop.settings("merge")) as merge_lh:
        res = merge_lh.catalog.merge("pr-7", "main")
        assert res.merged_tables == ("raw.pr7",)
        assert merge_lh.read("raw.pr7").num_rows == 2
        merge_lh.catalog.drop_branch("pr-7")


def test_cli_prints_roles_and_a_refusal_exits_1(shop: Shop, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _run_cli(capsys, "--config", str(shop.root / "branchops.toml"), "init", "--print-roles",
                            "--role-prefix", shop.prefix)
    assert code == 0
    assert f'CREATE ROLE "{shop.prefix}_pr" NOLOGIN' in out and "CREATE TRIGGER branchops_guard_ins" in out
    csv = shop.root / "extra.csv"
    csv.write_text("id\n1\n")
    monkeypatch.setenv("BRANCHOPS_CATALOG_URI", shop.urls["pr"])
    code, out, err = _run_cli(capsys, "--config", str(shop.root / "branchops.toml"), "--output", "json",
                              "ingest", "raw.extra", str(csv), "--branch", "main")
    assert code == 1, err
    body = json.loads(out)
    assert body["error"] == "PermissionDenied"
    assert body["permission"] == f"membership in role {shop.prefix}_merge"
    assert "protected ref 'main'" in body["message"]


def test_roles_need_postgresql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run_cli(capsys, "init", "--dir", str(tmp_path), "--print-roles")
    assert code == 2
    assert "PostgreSQL" in err and out == ""
    code, _, err = _run_cli(capsys, "init", "--dir", str(tmp_path / "x"), "--print-roles", "--role-prefix", "A b")
    assert code == 2 and not (tmp_path / "x" / "branchops.toml").exists()
