"""The embedded backend's table states (keyframes), published Iceberg JDBC rows, and history reads
at depth; on SQLite and a real PostgreSQL server.

Expected states are kept by the test itself, a plain dict per commit, as the commits are made.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from branchops.catalog.sql.backend import SqlVersionedCatalog
from branchops.catalog.sql.states import KEYFRAME_INTERVAL


@pytest.fixture(params=["sqlite", "postgres"])
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/catalog.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def cat(uri: str, tmp_path: Path) -> Iterator[SqlVersionedCatalog]:
    c = SqlVersionedCatalog(uri, warehouse=str(tmp_path))
    yield c
    c.close()


def loc(table: str, n: int) -> str:
    return f"file:///w/{table}/v{n}.metadata.json"


def jdbc_rows(cat: SqlVersionedCatalog, ref: str) -> dict[str, str]:
    with cat.db.transaction(read_only=True) as conn:
        q = "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables WHERE catalog_name = :ref"
        return {f"{ns}.{name}": str(loc) for ns, name, loc in conn.execute(q, {"ref": ref})}


def random_history(cat: SqlVersionedCatalog, commits: int, seed: int) -> dict[str, dict[str, str]]:
    """Commits on main and on short-lived branches merged back (disjoint tables, so no conflict);
    returns the expected tables of every commit made, worked out here."""
    rng = random.Random(seed)
    tables = [f"ns{i % 3}.t{i}" for i in range(40)]
    expected: dict[str, dict[str, str]] = {}
    state: dict[str, str] = {}
    n = 0
    while n < commits:
        if rng.random() < 0.15:  # a branch changes its own tables while main moves on others
            fork = dict(state)
            cat.create_branch("side", "main")
            mine = rng.sample(tables[:20], 3)
            side = dict(fork)
            for t in mine:
                n += 1
                side[t] = loc(t, n)
                expected[cat.commit("side", {t: side[t]}, "side").hash] = dict(side)
            theirs = rng.choice(tables[20:])
            n += 1
            state[theirs] = loc(theirs, n)
            expected[cat.commit("main", {theirs: state[theirs]}, "main").hash] = dict(state)
            state.update({t: side[t] for t in mine})
            merged = cat.merge("side", "main")
            assert merged.hash is not None and not merged.fast_forward
            expected[merged.hash] = dict(state)
            cat.drop_branch("side")
            continue
        changes: dict[str, str | None] = {}
        for t in rng.sample(tables, rng.randint(1, 4)):
            n += 1
            changes[t] = None if t in state and rng.random() < 0.2 else loc(t, n)
        for t, value in changes.items():
            if value is None:
                state.pop(t)
            else:
                state[t] = value
        expected[cat.commit("main", changes, "c").hash] = dict(state)
    return expected


def test_every_commit_reads_back_its_tables_across_keyframes(cat: SqlVersionedCatalog) -> None:
    expected = random_history(cat, 3 * KEYFRAME_INTERVAL + 7, seed=7)
    for commit, tables in expected.items():
        assert cat.tables(f"@{commit}") == tables, commit
        assert cat.tables(f"main@{commit[:10]}") == tables  # a prefix, found through the index
    assert cat.tables("main") == list(expected.values())[-1]
    with cat.db.transaction(read_only=True) as conn:
        assert conn.scalar("SELECT count(*) FROM branchops_keyframes") > 0
        assert conn.scalar("SELECT max(steps) FROM branchops_commit_keyframes") < KEYFRAME_INTERVAL


def test_a_commit_and_a_reset_see_the_state_of_a_deep_commit(cat: SqlVersionedCatalog) -> None:
    expected = random_history(cat, 2 * KEYFRAME_INTERVAL, seed=3)
    old = list(expected)[5]
    cat.create_branch("feat")
    reset = cat.reset("feat", old)
    assert cat.tables("feat") == expected[old]
    assert cat.tables(f"@{reset.hash}") == expected[old]
    table = sorted(expected[old])[0]
    cat.commit("feat", {table: "file:///x.json"}, "on top")
    assert cat.tables("feat") == {**expected[old], table: "file:///x.json"}


def test_branch_create_writes_no_pointer_rows_unless_published(cat: SqlVersionedCatalog) -> None:
    cat.commit("main", {f"raw.t{i}": loc(f"raw.t{i}", 0) for i in range(50)}, "fill")
    assert cat.jdbc_published() == ["main"]
    assert jdbc_rows(cat, "main") == cat.tables("main")
    cat.create_branch("feat")
    assert jdbc_rows(cat, "feat") == {}
    assert cat.tables("feat") == cat.tables("main")
    cat.commit("feat", {"raw.t1": "file:///feat.json"}, "c")
    assert jdbc_rows(cat, "feat") == {}

    cat.publish_jdbc("feat")  # on demand: rows now, and kept in step from now on
    assert cat.jdbc_published() == ["feat", "main"]
    assert jdbc_rows(cat, "feat") == cat.tables("feat")
    cat.commit("feat", {"raw.t2": None, "new.t": "file:///new.json"}, "c2")
    assert jdbc_rows(cat, "feat") == cat.tables("feat")
    cat.merge("feat", "main")  # a fast-forward moves main's rows too
    assert jdbc_rows(cat, "main") == cat.tables("feat")

    cat.unpublish_jdbc("feat")
    assert jdbc_rows(cat, "feat") == {} and cat.jdbc_published() == ["main"]
    cat.publish_jdbc("feat")
    cat.drop_branch("feat")
    assert jdbc_rows(cat, "feat") == {} and cat.jdbc_published() == ["main"]


def test_refs_matching_jdbc_refs_are_published_when_created(uri: str, tmp_path: Path) -> None:
    cat = SqlVersionedCatalog(uri, warehouse=str(tmp_path), jdbc_refs=["main", "pr-*"])
    try:
        cat.commit("main", {"raw.a": "file:///a.json"}, "a")
        head = cat.resolve("main")
        cat.commit("main", {"raw.b": "file:///b.json"}, "b")
        cat.create_branch("pr-1")
        cat.create_branch("pr-2", f"main@{head}")  # an older commit: rebuilt, not copied
        cat.create_branch("feat")
        assert jdbc_rows(cat, "pr-1") == {"raw.a": "file:///a.json", "raw.b": "file:///b.json"}
        assert jdbc_rows(cat, "pr-2") == {"raw.a": "file:///a.json"}
        assert jdbc_rows(cat, "feat") == {}
    finally:
        cat.close()


def test_a_catalog_from_before_keyframes_reads_and_writes_on(uri: str, tmp_path: Path) -> None:
    """An older catalog: no keyframe tables, every ref with current JDBC rows."""
    cat = SqlVersionedCatalog(uri, warehouse=str(tmp_path), jdbc_refs=["*"])
    expected = random_history(cat, KEYFRAME_INTERVAL + 5, seed=11)
    cat.create_branch("feat")
    with cat.db.transaction() as conn:
        for table in ("branchops_keyframes", "branchops_commit_keyframes", "branchops_jdbc_refs"):
            conn.execute(f"DROP TABLE {table}")
    cat.close()
    cat = SqlVersionedCatalog(uri, warehouse=str(tmp_path))
    try:
        assert cat.jdbc_published() == ["feat", "main"]
        for commit, tables in expected.items():
            assert cat.tables(f"@{commit}") == tables
        for n in range(KEYFRAME_INTERVAL + 2):  # past a keyframe written on top of old commits
            cat.commit("feat", {"raw.x": loc("raw.x", n)}, "on top")
        assert cat.tables("feat") == {**list(expected.values())[-1], "raw.x": loc("raw.x", KEYFRAME_INTERVAL + 1)}
        assert jdbc_rows(cat, "feat") == cat.tables("feat")
    finally:
        cat.close()


def test_merge_base_and_log_far_from_the_root(cat: SqlVersionedCatalog) -> None:
    hashes = [cat.commit("main", {"raw.a": loc("raw.a", n)}, f"c{n}").hash for n in range(150)]
    cat.create_branch("old", f"main@{hashes[3]}")  # forked 146 generations back: the window widens
    cat.commit("old", {"raw.b": "file:///b.json"}, "old work")
    cat.create_branch("new")
    cat.commit("new", {"raw.c": "file:///c.json"}, "new work")
    cat.commit("main", {"raw.a": "file:///last.json"}, "main moves")
    assert cat.merge_base("old", "main") == hashes[3]
    assert cat.merge_base("main", "old") == hashes[3]
    assert cat.merge_base("new", "main") == hashes[-1]
    assert cat.merge_base("main", f"main@{hashes[10]}") == hashes[10]
    cat.create_branch("orphan", "main@" + hashes[0])
    assert cat.merge_base("orphan", "old") == hashes[0]
    assert [c.message for c in cat.log(f"main@{hashes[100]}", 3)] == ["c100", "c99", "c98"]
    assert len(cat.log("main")) == 151
    assert cat.log("main", 0) == []
