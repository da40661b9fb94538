"""gc: idle PR branches go, unreferenced files go, and everything any ref uses still reads."""

from __future__ import annotations

import contextlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from branchops.config import Settings
from branchops.errors import BackendError, MergeConflict, UsageError
from branchops.gc.collect import collect_garbage, normalize, parse_duration
from branchops.lakehouse import Lakehouse
from branchops.wap import host_id


def snapshot_all(lh: Lakehouse) -> dict[tuple[str, str], list[tuple[int, int]]]:
    """Every table of every ref (internal ones too), read in full."""
    out = {}
    for ref in lh.catalog.list_refs(include_internal=True):
        for table in lh.catalog.tables(ref.name):
            t = lh.read(table, ref.name)
            out[(ref.name, table)] = sorted(zip(t.column("id").to_pylist(), t.column("amount").to_pylist(),
                                                strict=True))
    return out


def warehouse_bytes(lh: Lakehouse) -> int:
    return sum(p.stat().st_size for p in Path(lh.catalog.warehouse).rglob("*") if p.is_file())


def test_durations() -> None:
    assert parse_duration("7d") == timedelta(days=7) and parse_duration("0s") == timedelta(0)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    with pytest.raises(UsageError):
        parse_duration("seven days")
    assert normalize("file:///a/b.parquet") == "/a/b.parquet" == normalize("/a/b.parquet")
    assert normalize("s3://bkt/k/x.avro") == "s3://bkt/k/x.avro"


def test_dropped_branch_files_are_freed_and_refs_still_read(lakehouse: Lakehouse) -> None:
    lakehouse.catalog.create_branch("pr-1")
    lakehouse.ingest("mart.big", rows(2000, 3), branch="pr-1")
    lakehouse.ingest("raw.orders", rows(500, 7), branch="pr-1", mode="overwrite")
    lakehouse.catalog.create_branch("feature")
    lakehouse.ingest("raw.customers", rows(50, 2), branch="feature", mode="overwrite")
    lakehouse.catalog.drop_branch("pr-1")
    before = snapshot_all(lakehouse)
    size = warehouse_bytes(lakehouse)
    dry = collect_garbage(lakehouse, dry_run=True)
    assert dry.bytes_freed > 0 and warehouse_bytes(lakehouse) == size  # a dry run deletes nothing
    res = collect_garbage(lakehouse)
    assert res.bytes_freed == dry.bytes_freed > 0 and res.deleted_files == dry.deleted_files
    assert warehouse_bytes(lakehouse) == size - res.bytes_freed
    assert snapshot_all(lakehouse) == before
    again = collect_garbage(lakehouse)
    assert again.deleted_files == 0 and again.bytes_freed == 0


def test_idle_pr_branches_are_dropped_after_the_ttl(lakehouse: Lakehouse) -> None:
    lakehouse.catalog.create_branch("pr-2")
    lakehouse.catalog.create_branch("feature")
    assert collect_garbage(lakehouse, older_than="7d").dropped_branches == []
    later = datetime.now(UTC) + timedelta(days=8)
    dry = collect_garbage(lakehouse, older_than="7d", dry_run=True, now=later)
    assert [b["name"] for b in dry.dropped_branches] == ["pr-2"]
    assert "pr-2" in [r.name for r in lakehouse.catalog.list_refs()]
    res = collect_garbage(lakehouse, older_than="7d", now=later)
    assert [b["name"] for b in res.dropped_branches] == ["pr-2"]
    names = [r.name for r in lakehouse.catalog.list_refs()]
    assert "pr-2" not in names and "feature" in names and "main" in names


def test_stale_internal_write_branches_are_dropped(lakehouse: Lakehouse) -> None:
    """A write branch goes when its writer is gone (here: no such process) or, unowned, after the lease;
    a live writer's (this process's) stays whatever the TTL."""
    dead = f"branchops-wap-{host_id()}-{2**22 + 17}-{int(time.time())}-0badc0de"
    live = f"branchops-wap-{host_id()}-{os.getpid()}-{int(time.time())}-00c0ffee"
    for name in (dead, live, "branchops-wap-deadbeef00000000"):
        lakehouse.catalog.create_branch(name)
    res = collect_garbage(lakehouse, older_than="0s")
    assert [b["name"] for b in res.dropped_branches] == [dead]
    res = collect_garbage(lakehouse, older_than="0s", now=datetime.now(UTC) + timedelta(days=2))
    assert [b["name"] for b in res.dropped_branches] == ["branchops-wap-deadbeef00000000"]
    assert live in [r.name for r in lakehouse.catalog.list_refs(include_internal=True)]


def test_files_of_recent_commits_are_kept_for_rollback(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path, catalog_uri=f"sqlite:///{tmp_path / 'c.db'}", warehouse=str(tmp_path / "w"),
                        gc_retention="1h")
    with Lakehouse(settings) as lh:
        lh.ingest("raw.orders", rows(100))
        old = lh.catalog.get_ref("main").hash
        lh.ingest("raw.orders", rows(10, 5), mode="overwrite")
        res = collect_garbage(lh)
        assert res.deleted_files == 0
        lh.catalog.reset("main", old)  # the rollback target still reads
        assert lh.read("raw.orders").num_rows == 100


def test_recent_unreferenced_files_are_kept_then_collected(lakehouse: Lakehouse) -> None:
    stray = Path(lakehouse.catalog.warehouse) / "raw" / "stray-00000.parquet"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"x" * 1000)
    manifest = Path(lakehouse.catalog.warehouse) / "_dbt" / "manifest.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text("{}")
    res = collect_garbage(lakehouse, now=datetime.now(UTC) - timedelta(hours=1))
    assert res.deleted_files == 0 and res.kept_recent_files >= 1 and stray.exists()
    res = collect_garbage(lakehouse)
    assert not stray.exists() and res.bytes_freed >= 1000
    assert manifest.exists()  # never a file that is not Iceberg's


def test_an_unreadable_metadata_file_deletes_nothing(lakehouse: Lakehouse) -> None:
    lakehouse.catalog.create_branch("pr-3")
    lakehouse.ingest("mart.x", rows(10), branch="pr-3")
    lakehouse.catalog.drop_branch("pr-3")
    os.remove(lakehouse.catalog.tables("main")["raw.orders"].removeprefix("file://"))
    size = warehouse_bytes(lakehouse)
    with pytest.raises(BackendError) as err:
        collect_garbage(lakehouse)
    assert "no file was deleted" in str(err.value) and warehouse_bytes(lakehouse) == size


OPS = st.lists(
    st.tuples(st.sampled_from(["branch", "write", "merge", "drop", "reset"]), st.integers(0, 3), st.integers(1, 40)),
    min_size=3, max_size=10,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_property_after_gc_every_table_of_every_ref_still_reads(tmp_path_factory: pytest.TempPathFactory,
                                                                ops: list[tuple[str, int, int]]) -> None:
    root = tmp_path_factory.mktemp("gcprop")
    settings_ = Settings(root=root, catalog_uri=f"sqlite:///{root / 'c.db'}", warehouse=str(root / "w"),
                         gc_retention="0s")
    with Lakehouse(settings_) as lh:
        lh.ingest("raw.orders", rows(20))
        lh.catalog.create_tag("v1", "main")
        for op, i, n in ops:
            branches = [r.name for r in lh.catalog.list_refs() if r.name not in ("main", "v1")]
            name = f"pr-{i}"
            if op == "branch" and name not in branches:
                lh.catalog.create_branch(name)
            elif op == "write":
                target = name if name in branches else "main"
                table = ["raw.orders", "raw.items", "mart.t", "raw.orders"][i]
                lh.ingest(table, rows(n, i + 1), branch=target, mode="overwrite" if n % 2 else "append")
            elif op == "merge" and name in branches:
                with contextlib.suppress(MergeConflict):  # conflicts are part of life
                    lh.catalog.merge(name, "main")
            elif op == "drop" and name in branches:
                lh.catalog.drop_branch(name)
            elif op == "reset" and len(lh.catalog.log("main")) > 2:
                lh.catalog.reset("main", lh.catalog.log("main")[2].hash)
        before = snapshot_all(lh)
        res = collect_garbage(lh)
        assert snapshot_all(lh) == before
        assert res.deleted_files == 0 or res.bytes_freed > 0
