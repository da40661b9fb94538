"""Drift-free diffs on the sample project (real dbt-core + dbt-duckdb): raw rows land on main
after main's build, a PR changes one model; the drift-free diff shows exactly the rows the code
changes (computed independently with DuckDB on the raw data), the stored-base diff also the drift."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from branchops.catalog.base import INTERNAL_PREFIX
from branchops.lakehouse import Lakehouse
from branchops.pr import PullRequests, Reporter
from branchops.pr.dbt_step import DbtBuilder
from branchops.pr.diff_step import DataDiffer
from tests.shop import built_shop

ROOT = Path(__file__).resolve().parents[2]
SHA = "0123456789abcdef0123456789abcdef01234567"
TABLE = "analytics.stg_customers"
NEW_ROWS = 3

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lakehouse, Path]]:
    """main built, then raw.customers gets NEW_ROWS more rows; the PR upper-cases stg_customers' email."""
    root = tmp_path_factory.mktemp("drift")
    with built_shop(root) as (lh, project):
        raw = lh.read("raw.customers", "main")
        extra = raw.slice(0, NEW_ROWS)
        top = pc.max(raw["customer_id"]).as_py()
        ids = pa.array([top + 1 + i for i in range(NEW_ROWS)], type=raw.schema.field("customer_id").type)
        lh.ingest("raw.customers", extra.set_column(extra.schema.get_field_index("customer_id"), "customer_id", ids),
                  mode="append")
        pr = root / "pr"
        shutil.copytree(project, pr)
        model = pr / "models" / "staging" / "stg_customers.sql"
        model.write_text(model.read_text().replace("lower(email) as email", "upper(email) as email"))
        yield lh, pr


def table_diff(diff: dict[str, Any]) -> dict[str, Any]:
    [found] = [t for t in diff["tables"] if t["table"] == TABLE]
    return found


def expected_changes(lh: Lakehouse, *, old_rows_only: bool = False) -> int:
    """Rows of raw.customers (as the PR reads it; or only those main's build read) whose email the
    code change alters."""
    raw = lh.read("raw.customers", "main")
    con = duckdb.connect()
    try:
        con.register("raw", raw)
        where = f"and customer_id <= (select max(customer_id) from raw) - {NEW_ROWS}" if old_rows_only else ""
        row = con.execute(f"select count(*) from raw where upper(email) is distinct from lower(email) {where}"
                          ).fetchone()
        assert row is not None
        return int(row[0])
    finally:
        con.close()


def test_drift_free_diff_shows_only_the_code_change_and_stored_base_also_the_drift(
    drifted: tuple[Lakehouse, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from branchops.dbt import artifacts
    from branchops.pr import lifecycle

    lh, project = drifted
    lookups: list[str] = []

    def counted(catalog: Any, ref: str) -> Any:  # the real lookup, counted
        lookups.append(ref)
        return find_build(catalog, ref)

    find_build = artifacts.find_build
    monkeypatch.setattr(artifacts, "find_build", counted)
    monkeypatch.setattr(lifecycle, "find_build", counted)
    prs = PullRequests(lh, Reporter(None, echo=lambda _t: None, env={}), builder=DbtBuilder())
    out = prs.sync(1, SHA, project)
    # one look-up of the base's build per sync: the selection, dbt's state and partial parse, the
    # drift, the base's code and its rebuild all use it
    assert [r for r in lookups if r.startswith("main")] == [lookups[0]], lookups  # head and scratch: their own
    assert lookups[0].startswith("main@"), lookups
    monkeypatch.undo()
    assert out.build is not None and out.build["built"] == [TABLE]  # non-breaking: only its model
    diff = out.diff or {}
    assert diff["mode"] == "drift_free", diff.get("mode_reason")
    assert diff["drift"]["moved_sources"] == ["raw.customers"]
    assert diff["rebuilt_base"] == [TABLE]
    rows = table_diff(diff)["rows"]
    changed = expected_changes(lh)
    assert changed > 0
    assert (rows["added"], rows["removed"], rows["changed"]) == (0, 0, changed), rows
    assert "diff mode: `drift_free`" in str(out.report)
    assert not [r for r in lh.catalog.list_refs(include_internal=True) if r.name.startswith(INTERNAL_PREFIX)]

    stored = DataDiffer(base_mode="stored").diff(lh, base=diff["base"]["ref"], head="pr-1",
                                                 keys={}, project_dir=project, built=[TABLE])
    assert stored.mode == "plain"
    rows = table_diff(stored.to_dict())["rows"]
    # the drift: the new raw rows appear as added, besides the code's changes to the old rows
    old = expected_changes(lh, old_rows_only=True)
    assert (rows["added"], rows["removed"], rows["changed"]) == (NEW_ROWS, 0, old), rows


def test_a_pure_refactor_shows_no_rows_drift_free_and_the_drift_stored_also_ad_hoc(
    drifted: tuple[Lakehouse, Path]
) -> None:
    from branchops.diff import DiffOptions
    from branchops.diff.run import diff_as_asked
    from branchops.pr.drift_free import rebuilt_base

    lh, project = drifted
    refactor = project.parent / "refactor"
    shutil.copytree(ROOT / "dbt_project", refactor, ignore=shutil.ignore_patterns("target", "logs"))
    model = refactor / "models" / "staging" / "stg_customers.sql"
    model.write_text(model.read_text().replace("lower(email) as email", "lower(lower(email)) as email"))
    prs = PullRequests(lh, Reporter(None, echo=lambda _t: None, env={}), builder=DbtBuilder())
    out = prs.sync(2, SHA, refactor)
    assert out.build is not None and out.build["built"] == [TABLE]
    diff = out.diff or {}
    assert diff["mode"] == "drift_free"
    rows = table_diff(diff)["rows"]  # the same rows as the base's code gives on the same raw data
    assert (rows["base"], rows["added"], rows["removed"], rows["changed"]) == (rows["head"], 0, 0, 0), rows

    # ad hoc (`branchops diff pr-2 --rebuild-base`): the same, and the stored base shows the drift
    with rebuilt_base(lh, "main", "pr-2", refactor) as chosen:
        assert chosen.mode == "drift_free" and chosen.rebuilt == (TABLE,)
        adhoc = diff_as_asked(lh, chosen.ref, "pr-2", None, DiffOptions(keys={TABLE: ("customer_id",)}))
    rows = table_diff(adhoc.to_dict())["rows"]
    assert (rows["added"], rows["removed"], rows["changed"]) == (0, 0, 0), rows
    stored = diff_as_asked(lh, "main", "pr-2", None, DiffOptions(keys={TABLE: ("customer_id",)})).to_dict()
    rows = table_diff(stored)["rows"]
    assert (rows["added"], rows["removed"], rows["changed"]) == (NEW_ROWS, 0, 0), rows
    assert not [r for r in lh.catalog.list_refs(include_internal=True) if r.name.startswith(INTERNAL_PREFIX)]


def test_rebuild_base_needs_the_project_dir() -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "branchops", "diff", "pr-1", "--rebuild-base"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--project-dir" in proc.stderr, proc.stderr
