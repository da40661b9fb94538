"""The behaviour every ``VersionedCatalog`` backend honours (issue 3, "Semantics").

Each test runs once per backend of ``conftest.BACKENDS``. Pointer-level tests commit synthetic
metadata locations (the catalog never opens them); data-level tests ingest real Arrow tables
through :class:`~branchops.lakehouse.Lakehouse` and read them back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from branchops.catalog import load_catalog
from branchops.catalog.base import (
    INTERNAL_PREFIX,
    MAX_REF_LENGTH,
    NO_ANCESTOR,
    ChangeKind,
    Ref,
    RefType,
    TableChange,
    VersionedCatalog,
)
from branchops.config import Settings
from branchops.errors import (
    ExitCode,
    InvalidRefName,
    MergeConflict,
    ProtectedRef,
    RefAlreadyExists,
    ReferenceConflict,
    RefNotFound,
    TableNotFound,
    UsageError,
)
from branchops.lakehouse import Lakehouse


def loc(table: str, version: str) -> str:
    """A synthetic metadata location, unique per table and version."""
    return f"file:///warehouse/{table.replace('.', '/')}/metadata/{version}.metadata.json"


def seed(catalog: VersionedCatalog, *tables: str, version: str = "v0") -> str:
    """Commit ``tables`` to main and return main's new hash."""
    return catalog.commit("main", {t: loc(t, version) for t in tables}, "seed").hash


def state(catalog: VersionedCatalog, ref: str) -> tuple[str, dict[str, str], list[str]]:
    """Everything a write could change about a ref: head, tables, history."""
    return catalog.get_ref(ref).hash, catalog.tables(ref), [c.hash for c in catalog.log(ref)]


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def orders(ids: list[int], amount: float = 1.0) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()), "amount": pa.array([amount * i for i in ids], pa.float64())})


def ids_of(table: pa.Table) -> list[int]:
    return sorted(table.column("id").to_pylist())


# -- ref names ----------------------------------------------------------------------------------
GOOD_NAMES = [
    "feat", "pr-42", "team/experiment", "a", "v1.0", "release-2024.01", "x_y", "Feature/Sub/leaf-1",
    "a" * MAX_REF_LENGTH,
]
BAD_NAMES = [
    "", "with space", "a..b", "-lead", ".lead", "trail/", "x.lock", "a/b.lock/c", "a" * (MAX_REF_LENGTH + 1),
    "a//b", "a/.hidden", "a@{1}", "til~de", "car^et", "co:lon", "what?", "st*r", "br[acket", "back\\slash",
    "trail.", "tab\tname", "new\nline", "@", "1starts-with-digit", "ünïcode",
]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_ref_names_are_accepted(catalog: VersionedCatalog, name: str) -> None:
    ref = catalog.create_branch(name)
    assert ref == Ref(name, catalog.get_ref("main").hash, RefType.BRANCH)
    assert name in [r.name for r in catalog.list_refs()]


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: repr(n)[:30])
def test_bad_ref_names_are_refused_and_nothing_is_created(catalog: VersionedCatalog, name: str) -> None:
    before = catalog.list_refs(include_internal=True)
    with pytest.raises(InvalidRefName) as err:
        catalog.create_branch(name)
    assert err.value.exit_code == ExitCode.USAGE
    assert repr(name) in err.value.message
    with pytest.raises(InvalidRefName):
        catalog.create_tag(name, "main")
    assert catalog.list_refs(include_internal=True) == before


# -- refs: create / list / get / drop -----------------------------------------------------------
def test_new_catalog_has_only_an_empty_main(catalog: VersionedCatalog) -> None:
    assert catalog.list_refs() == [Ref("main", NO_ANCESTOR, RefType.BRANCH)]
    assert catalog.tables("main") == {}
    assert catalog.log("main") == []


def test_create_list_get_drop(catalog: VersionedCatalog) -> None:
    head = seed(catalog, "raw.orders")
    feat = catalog.create_branch("feat", "main")
    tag = catalog.create_tag("v1", "main")
    assert feat == Ref("feat", head, RefType.BRANCH)
    assert tag == Ref("v1", head, RefType.TAG)
    assert catalog.list_refs() == [Ref("feat", head), Ref("main", head), Ref("v1", head, RefType.TAG)]
    assert catalog.get_ref("feat") == feat
    assert catalog.resolve("v1") == head
    catalog.drop_branch("feat")
    catalog.drop_branch("v1")
    assert [r.name for r in catalog.list_refs()] == ["main"]
    with pytest.raises(RefNotFound):
        catalog.get_ref("feat")
    with pytest.raises(RefNotFound):
        catalog.tables("feat")
    # The name is free again, and a new branch of that name starts from where it is forked.
    assert catalog.create_branch("feat").hash == head


def test_create_branch_defaults_to_main_and_from_older_commits(catalog: VersionedCatalog) -> None:
    first = seed(catalog, "raw.a")
    second = catalog.commit("main", {"raw.b": loc("raw.b", "v0")}, "add b").hash
    assert catalog.create_branch("now").hash == second
    old = catalog.create_branch("old", f"main@{first}")
    assert old.hash == first
    assert catalog.tables("old") == {"raw.a": loc("raw.a", "v0")}
    by_hash = catalog.create_branch("by-hash", f"@{first[:12]}")
    assert by_hash.hash == first
    assert catalog.tables("by-hash") == catalog.tables("old")
    assert catalog.tables(f"@{first}") == catalog.tables("old")
    assert catalog.tables(f"main@{second}") == catalog.tables("main")


def test_create_existing_ref_is_refused(catalog: VersionedCatalog) -> None:
    seed(catalog, "raw.a")
    catalog.create_branch("feat")
    catalog.commit("feat", {"raw.a": loc("raw.a", "feat")}, "change on feat")
    catalog.create_tag("v1", "main")
    before = {n: state(catalog, n) for n in ("feat", "v1", "main")}
    for name in ("feat", "v1", "main"):
        with pytest.raises(RefAlreadyExists):
            catalog.create_branch(name)
        with pytest.raises(RefAlreadyExists):
            catalog.create_tag(name, "main")
    assert {n: state(catalog, n) for n in ("feat", "v1", "main")} == before


@pytest.mark.parametrize("source", ["nope", "nope@abcdef123456", "@abcdef123456", "main@abcdef123456"])
def test_create_from_missing_source_is_refused(catalog: VersionedCatalog, source: str) -> None:
    seed(catalog, "raw.a")
    with pytest.raises(RefNotFound):
        catalog.create_branch("feat", source)
    assert [r.name for r in catalog.list_refs()] == ["main"]


def test_missing_refs_raise_ref_not_found(catalog: VersionedCatalog) -> None:
    seed(catalog, "raw.a")
    calls: list[Callable[[], object]] = [
        lambda: catalog.get_ref("nope"),
        lambda: catalog.resolve("nope"),
        lambda: catalog.tables("nope"),
        lambda: catalog.log("nope"),
        lambda: catalog.drop_branch("nope"),
        lambda: catalog.commit("nope", {"raw.a": "x"}, "m"),
        lambda: catalog.merge("nope", "main"),
        lambda: catalog.merge("main", "nope"),
        lambda: catalog.merge_base("main", "nope"),
        lambda: catalog.diff("main", "nope"),
        lambda: catalog.get_commit("abcdef123456"),
        lambda: catalog.reset("nope", "main"),
    ]
    for call in calls:
        with pytest.raises(RefNotFound) as err:
            call()
        assert err.value.exit_code == ExitCode.USAGE
    assert [r.name for r in catalog.list_refs()] == ["main"]


@pytest.mark.parametrize("protected", [["main"], ["main", "release"]])
def test_protected_refs_cannot_be_dropped(backend_settings: Settings, protected: list[str]) -> None:
    cat = load_catalog(backend_settings.replace(protected=protected))
    try:
        seed(cat, "raw.a")
        if "release" in protected:
            cat.create_branch("release")
        before = {n: state(cat, n) for n in protected}
        for name in protected:
            with pytest.raises(ProtectedRef) as err:
                cat.drop_branch(name)
            assert err.value.exit_code == ExitCode.CHECK_FAILED
            assert name in err.value.message
        assert {n: state(cat, n) for n in protected} == before
    finally:
        cat.close()


def test_drop_with_stale_expected_hash_is_refused(catalog: VersionedCatalog) -> None:
    seed(catalog, "raw.a")
    seen = catalog.create_branch("feat").hash
    moved = catalog.commit("feat", {"raw.a": loc("raw.a", "v1")}, "move").hash
    with pytest.raises(ReferenceConflict) as err:
        catalog.drop_branch("feat", expected_hash=seen)
    assert err.value.exit_code == ExitCode.CHECK_FAILED
    assert catalog.get_ref("feat").hash == moved
    catalog.drop_branch("feat", expected_hash=moved)
    assert [r.name for r in catalog.list_refs()] == ["main"]


# -- commits ------------------------------------------------------------------------------------
def test_commit_moves_all_pointers_in_one_commit(catalog: VersionedCatalog) -> None:
    first = seed(catalog, "raw.a", "raw.b", "raw.c")
    c = catalog.commit(
        "main",
        {"raw.a": loc("raw.a", "v1"), "raw.b": None, "raw.d": loc("raw.d", "v0")},
        "three at once",
        properties={"k": "v"},
        expected_hash=first,
        author="ada",
    )
    assert c.parent == first
    assert catalog.get_ref("main").hash == c.hash
    assert catalog.tables("main") == {
        "raw.a": loc("raw.a", "v1"), "raw.c": loc("raw.c", "v0"), "raw.d": loc("raw.d", "v0"),
    }
    assert c.changes == (
        TableChange("raw.a", ChangeKind.MODIFIED, loc("raw.a", "v0"), loc("raw.a", "v1")),
        TableChange("raw.b", ChangeKind.REMOVED, loc("raw.b", "v0"), None),
        TableChange("raw.d", ChangeKind.ADDED, None, loc("raw.d", "v0")),
    )
    assert catalog.get_commit(c.hash) == c
    assert catalog.log("main")[0] == c


def test_commit_with_stale_expected_hash_is_refused(catalog: VersionedCatalog) -> None:
    seen = seed(catalog, "raw.a")
    catalog.commit("main", {"raw.b": loc("raw.b", "v0")}, "someone else")
    before = state(catalog, "main")
    with pytest.raises(ReferenceConflict) as err:
        catalog.commit("main", {"raw.a": loc("raw.a", "mine")}, "mine", expected_hash=seen)
    assert err.value.exit_code == ExitCode.CHECK_FAILED
    assert err.value.to_dict()["expected_hash"] == seen
    assert err.value.to_dict()["actual_hash"] == before[0]
    assert state(catalog, "main") == before


@pytest.mark.parametrize(
    "changes",
    [{"raw.nope": None}, {"raw.a": loc("raw.a", "v1"), "raw.nope": None}, {"no_namespace": "x"}, {"raw.a b": "x"}],
)
def test_invalid_commit_writes_nothing(catalog: VersionedCatalog, changes: dict[str, str | None]) -> None:
    seed(catalog, "raw.a")
    before = state(catalog, "main")
    with pytest.raises((TableNotFound, UsageError)):
        catalog.commit("main", changes, "bad")
    assert state(catalog, "main") == before


def test_tags_are_read_only(catalog: VersionedCatalog) -> None:
    seed(catalog, "raw.a")
    catalog.create_tag("v1", "main")
    catalog.create_branch("feat")
    catalog.commit("feat", {"raw.a": loc("raw.a", "feat")}, "feat")
    before = state(catalog, "v1")
    with pytest.raises(UsageError):
        catalog.commit("v1", {"raw.a": loc("raw.a", "v1")}, "write to tag")
    with pytest.raises(UsageError):
        catalog.merge("feat", "v1")
    with pytest.raises(UsageError):
        catalog.reset("v1", "feat")
    assert state(catalog, "v1") == before
    # A tag is a fine merge *source* and fork point.
    assert catalog.create_branch("from-tag", "v1").hash == before[0]


def test_tag_from_an_older_commit_keeps_that_commits_tables(catalog: VersionedCatalog) -> None:
    first = seed(catalog, "raw.a")
    catalog.commit("main", {"raw.a": loc("raw.a", "v1")}, "move")
    tag = catalog.create_tag("old", f"@{first}")
    assert tag == Ref("old", first, RefType.TAG)
    assert catalog.tables("old") == {"raw.a": loc("raw.a", "v0")}


# -- fork is zero-copy --------------------------------------------------------------------------
def test_fork_copies_pointers_only(lakehouse: Lakehouse) -> None:
    lakehouse.ingest("raw.orders", orders([1, 2, 3]))
    lakehouse.ingest("raw.customers", pa.table({"id": [1, 2], "name": ["a", "b"]}))
    cat = lakehouse.catalog
    warehouse = Path(lakehouse.settings.warehouse_location)
    files = files_under(warehouse)
    assert files, "ingest wrote no files"
    feat = cat.create_branch("feat")
    assert feat.hash == cat.get_ref("main").hash
    assert cat.tables("feat") == cat.tables("main")
    assert cat.diff("main", "feat") == []
    assert files_under(warehouse) == files
    assert ids_of(lakehouse.read("raw.orders", "feat")) == [1, 2, 3]


# -- diff ---------------------------------------------------------------------------------------
def test_diff_names_exactly_the_changed_tables(catalog: VersionedCatalog) -> None:
    seed(catalog, "raw.same", "raw.changed", "raw.removed")
    catalog.create_branch("feat")
    catalog.commit(
        "feat",
        {"raw.changed": loc("raw.changed", "v1"), "raw.removed": None, "raw.added": loc("raw.added", "v0")},
        "work",
    )
    forward = [
        TableChange("raw.added", ChangeKind.ADDED, None, loc("raw.added", "v0")),
        TableChange("raw.changed", ChangeKind.MODIFIED, loc("raw.changed", "v0"), loc("raw.changed", "v1")),
        TableChange("raw.removed", ChangeKind.REMOVED, loc("raw.removed", "v0"), None),
    ]
    assert catalog.diff("main", "feat") == forward
    assert catalog.diff("feat", "main") == [TableChange(c.table, _inverse(c.kind), c.after, c.before) for c in forward]
    assert catalog.diff("feat", "feat") == []
    assert catalog.diff(f"@{catalog.resolve('main')}", "main") == []


def _inverse(kind: ChangeKind) -> ChangeKind:
    return {ChangeKind.ADDED: ChangeKind.REMOVED, ChangeKind.REMOVED: ChangeKind.ADDED}.get(kind, kind)


# -- log ----------------------------------------------------------------------------------------
def test_log_is_newest_first_with_properties_author_and_changes(catalog: VersionedCatalog) -> None:
    made = [
        catalog.commit("main", {f"raw.t{i}": loc(f"raw.t{i}", "v0")}, f"commit {i}",
                       properties={"n": str(i)}, author=f"dev{i}")
        for i in range(5)
    ]
    log = catalog.log("main")
    assert [c.hash for c in log] == [c.hash for c in reversed(made)]
    assert [c.message for c in log] == [f"commit {i}" for i in reversed(range(5))]
    assert [c.author for c in log] == [f"dev{i}" for i in reversed(range(5))]
    assert [c.properties for c in log] == [{"n": str(i)} for i in reversed(range(5))]
    assert [c.changes for c in log] == [
        (TableChange(f"raw.t{i}", ChangeKind.ADDED, None, loc(f"raw.t{i}", "v0")),) for i in reversed(range(5))
    ]
    assert [c.parent for c in log] == [c.hash for c in log[1:]] + [NO_ANCESTOR]
    assert [c.timestamp for c in log] == sorted((c.timestamp for c in log), reverse=True)
    assert [c.hash for c in catalog.log("main", limit=2)] == [made[4].hash, made[3].hash]
    assert [c.hash for c in catalog.log(f"@{made[2].hash}")] == [made[2].hash, made[1].hash, made[0].hash]
    assert log[0].to_dict()["changes"] == [
        {"table": "raw.t4", "kind": "added", "before": None, "after": loc("raw.t4", "v0")}
    ]


def test_log_of_a_branch_includes_history_before_the_fork(catalog: VersionedCatalog) -> None:
    base = seed(catalog, "raw.a")
    catalog.create_branch("feat")
    mine = catalog.commit("feat", {"raw.a": loc("raw.a", "v1")}, "on feat").hash
    catalog.commit("main", {"raw.b": loc("raw.b", "v0")}, "on main")
    assert [c.hash for c in catalog.log("feat")] == [mine, base]


# -- merge --------------------------------------------------------------------------------------
def test_merge_fast_forwards_when_target_did_not_move(catalog: VersionedCatalog) -> None:
    base = seed(catalog, "raw.a", "raw.b")
    catalog.create_branch("feat")
    catalog.commit("feat", {"raw.a": loc("raw.a", "v1")}, "one")
    head = catalog.commit("feat", {"raw.c": loc("raw.c", "v0"), "raw.b": None}, "two").hash
    result = catalog.merge("feat", "main", expected_target_hash=base)
    assert result.fast_forward and not result.dry_run
    assert (result.hash, result.base, result.previous_hash) == (head, base, base)
    assert result.merged_tables == ("raw.a", "raw.b", "raw.c")
    assert catalog.get_ref("main").hash == head
    assert catalog.tables("main") == catalog.tables("feat")
    assert [c.hash for c in catalog.log("main")] == [c.hash for c in catalog.log("feat")]


def test_merge_is_three_way_per_table(catalog: VersionedCatalog) -> None:
    tables = ["raw.src_only", "raw.tgt_only", "raw.both_same", "raw.untouched", "raw.src_removed"]
    seed(catalog, *tables)
    catalog.create_branch("feat")
    src = catalog.commit("feat", {
        "raw.src_only": loc("raw.src_only", "s"),
        "raw.both_same": loc("raw.both_same", "same"),
        "raw.src_removed": None,
        "raw.src_added": loc("raw.src_added", "s"),
    }, "feat work").hash
    tgt = catalog.commit("main", {
        "raw.tgt_only": loc("raw.tgt_only", "t"),
        "raw.both_same": loc("raw.both_same", "same"),
        "raw.tgt_added": loc("raw.tgt_added", "t"),
    }, "main work").hash
    result = catalog.merge("feat", "main", message="merge feat", properties={"pr": "7"}, author="ada")
    assert not result.fast_forward
    assert result.merged_tables == ("raw.src_added", "raw.src_only", "raw.src_removed")
    assert catalog.tables("main") == {
        "raw.src_only": loc("raw.src_only", "s"),
        "raw.src_added": loc("raw.src_added", "s"),
        "raw.tgt_only": loc("raw.tgt_only", "t"),
        "raw.tgt_added": loc("raw.tgt_added", "t"),
        "raw.both_same": loc("raw.both_same", "same"),
        "raw.untouched": loc("raw.untouched", "v0"),
    }
    merge_commit = catalog.log("main")[0]
    assert merge_commit.hash == result.hash == catalog.get_ref("main").hash
    assert (merge_commit.parent, merge_commit.merge_parent) == (tgt, src)
    assert (merge_commit.message, merge_commit.author, merge_commit.properties) == ("merge feat", "ada", {"pr": "7"})
    assert {c.table for c in merge_commit.changes} == set(result.merged_tables)
    assert catalog.get_ref("feat").hash == src  # the source is not moved


def test_conflicting_merge_writes_nothing(catalog: VersionedCatalog) -> None:
    seed(catalog, "raw.a", "raw.b", "raw.c")
    catalog.create_branch("feat")
    catalog.commit("feat", {"raw.a": loc("raw.a", "s"), "raw.b": loc("raw.b", "s"), "raw.c": loc("raw.c", "s")},
                   "feat")
    catalog.commit("main", {"raw.b": loc("raw.b", "t"), "raw.a": None}, "main")
    before = {n: state(catalog, n) for n in ("main", "feat")}
    for dry_run in (True, False):
        with pytest.raises(MergeConflict) as err:
            catalog.merge("feat", "main", dry_run=dry_run)
        assert err.value.exit_code == ExitCode.CHECK_FAILED
        assert err.value.conflicts == ["raw.a", "raw.b"]
        assert err.value.to_dict()["conflicts"] == ["raw.a", "raw.b"]
        assert "raw.a" in err.value.message and "raw.b" in err.value.message
        assert {n: state(catalog, n) for n in ("main", "feat")} == before


def test_dry_run_reports_and_writes_nothing(catalog: VersionedCatalog) -> None:
    seed(catalog, "raw.a", "raw.b")
    catalog.create_branch("feat")
    catalog.commit("feat", {"raw.a": loc("raw.a", "s")}, "feat")
    main_before = state(catalog, "main")
    ff = catalog.merge("feat", "main", dry_run=True)
    assert (ff.dry_run, ff.fast_forward, ff.hash, ff.merged_tables) == (True, True, None, ("raw.a",))
    assert state(catalog, "main") == main_before
    catalog.commit("main", {"raw.b": loc("raw.b", "t")}, "main moves")
    main_before = state(catalog, "main")
    three = catalog.merge("feat", "main", dry_run=True)
    assert (three.dry_run, three.fast_forward, three.hash, three.merged_tables) == (True, False, None, ("raw.a",))
    assert three.previous_hash == main_before[0]
    assert state(catalog, "main") == main_before


def test_merge_with_stale_expected_target_hash_is_refused(catalog: VersionedCatalog) -> None:
    seen = seed(catalog, "raw.a")
    catalog.create_branch("feat")
    catalog.commit("feat", {"raw.a": loc("raw.a", "s")}, "feat")
    catalog.commit("main", {"raw.b": loc("raw.b", "t")}, "main moves")
    before = state(catalog, "main")
    with pytest.raises(ReferenceConflict):
        catalog.merge("feat", "main", expected_target_hash=seen)
    assert state(catalog, "main") == before


def test_merge_of_nothing_new_is_a_no_op(catalog: VersionedCatalog) -> None:
    seed(catalog, "raw.a")
    catalog.create_branch("feat")
    catalog.commit("main", {"raw.a": loc("raw.a", "t")}, "main moves")
    before = state(catalog, "main")
    result = catalog.merge("feat", "main")
    assert result.merged_tables == ()
    assert result.hash == before[0]
    assert state(catalog, "main") == before


@pytest.mark.parametrize("squash", [False, True], ids=["merge", "squash"])
def test_merge_whose_plan_is_empty_still_records_the_merge(catalog: VersionedCatalog, squash: bool) -> None:
    """The source has new commits, but the target already holds what they bring (issue 16 part 7).
    Every backend writes a commit without table changes, as git's ``--no-ff`` does: a later merge's
    base is then the source (not the older fork point), and the audit properties are kept."""
    fork = seed(catalog, "raw.a", "raw.b")
    catalog.create_branch("feat")
    catalog.commit("feat", {"raw.a": loc("raw.a", "same")}, "feat sets a")
    catalog.commit("feat", {"raw.c": loc("raw.c", "tmp")}, "feat adds c")
    feat_head = catalog.commit("feat", {"raw.c": None}, "feat drops c again").hash
    catalog.commit("main", {"raw.a": loc("raw.a", "same"), "raw.b": loc("raw.b", "t")}, "main sets a and b")
    before = state(catalog, "main")
    dry = catalog.merge("feat", "main", dry_run=True, squash=squash)
    assert (dry.hash, dry.merged_tables, dry.fast_forward, dry.dry_run) == (None, (), False, True)
    assert state(catalog, "main") == before
    result = catalog.merge("feat", "main", squash=squash, message="nothing to bring", properties={"pr": "1"})
    assert (result.merged_tables, result.fast_forward, result.dry_run, result.previous_hash) == ((), False, False,
                                                                                                before[0])
    assert result.hash not in (None, before[0]) and catalog.get_ref("main").hash == result.hash
    assert catalog.tables("main") == {"raw.a": loc("raw.a", "same"), "raw.b": loc("raw.b", "t")}
    written = catalog.log("main", limit=1)[0]
    assert (written.hash, written.changes, written.properties.get("pr")) == (result.hash, (), "1")
    assert catalog.merge_base("feat", "main") == (fork if squash else feat_head)


def test_repeated_merges_use_the_last_merge_as_base(catalog: VersionedCatalog) -> None:
    seed(catalog, "raw.a", "raw.b")
    catalog.create_branch("feat")
    catalog.commit("feat", {"raw.a": loc("raw.a", "s1")}, "feat 1")
    catalog.commit("main", {"raw.b": loc("raw.b", "t1")}, "main 1")
    catalog.merge("feat", "main")
    # raw.a was changed on both sides since the fork, but only on feat since the last merge.
    second = catalog.commit("feat", {"raw.a": loc("raw.a", "s2")}, "feat 2").hash
    result = catalog.merge("feat", "main")
    assert result.merged_tables == ("raw.a",)
    assert catalog.merge_base("feat", "main") == second
    assert catalog.tables("main") == {"raw.a": loc("raw.a", "s2"), "raw.b": loc("raw.b", "t1")}
    # And the other way round: main's changes come back to feat without conflict.
    back = catalog.merge("main", "feat")
    assert back.fast_forward
    assert catalog.tables("feat") == catalog.tables("main")


def test_squash_merge_writes_one_commit_with_one_parent(catalog: VersionedCatalog) -> None:
    base = seed(catalog, "raw.a")
    catalog.create_branch("feat")
    catalog.commit("feat", {"raw.a": loc("raw.a", "s1")}, "1")
    catalog.commit("feat", {"raw.b": loc("raw.b", "s1")}, "2")
    result = catalog.merge("feat", "main", squash=True, message="squashed")
    assert not result.fast_forward
    head = catalog.log("main")[0]
    assert (head.hash, head.parent, head.merge_parent, head.message) == (result.hash, base, None, "squashed")
    assert [c.table for c in head.changes] == ["raw.a", "raw.b"]
    assert catalog.tables("main") == catalog.tables("feat")


def test_merge_base(catalog: VersionedCatalog) -> None:
    fork = seed(catalog, "raw.a")
    catalog.create_branch("a")
    catalog.create_branch("b")
    assert catalog.merge_base("a", "b") == fork
    a1 = catalog.commit("a", {"raw.a": loc("raw.a", "a1")}, "a1").hash
    catalog.commit("b", {"raw.b": loc("raw.b", "b1")}, "b1")
    assert catalog.merge_base("a", "b") == fork
    assert catalog.merge_base("a", "main") == fork
    assert catalog.merge_base("a", f"@{a1}") == a1
    catalog.merge("a", "b")
    assert catalog.merge_base("a", "b") == a1
    assert catalog.merge_base("b", "a") == a1
    catalog.create_branch("orphan", f"@{NO_ANCESTOR}")
    assert catalog.tables("orphan") == {}
    catalog.commit("orphan", {"raw.z": loc("raw.z", "z")}, "unrelated")
    assert catalog.merge_base("orphan", "main") == NO_ANCESTOR


def test_reset_to_an_older_commit_is_a_new_commit(catalog: VersionedCatalog) -> None:
    first = seed(catalog, "raw.a", "raw.b")
    catalog.commit("main", {"raw.a": loc("raw.a", "v1"), "raw.c": loc("raw.c", "v0")}, "second")
    head = catalog.commit("main", {"raw.b": None}, "third").hash
    history = [c.hash for c in catalog.log("main")]
    commit = catalog.reset("main", f"@{first}", author="ada")
    assert commit.parent == head
    assert catalog.get_ref("main").hash == commit.hash
    assert catalog.tables("main") == {"raw.a": loc("raw.a", "v0"), "raw.b": loc("raw.b", "v0")}
    assert [c.hash for c in catalog.log("main")] == [commit.hash, *history]
    assert commit.author == "ada"
    assert commit.properties["branchops.reset_to"] == first
    assert {c.table: c.kind for c in commit.changes} == {
        "raw.a": ChangeKind.MODIFIED, "raw.b": ChangeKind.ADDED, "raw.c": ChangeKind.REMOVED,
    }


@pytest.mark.parametrize("how", ["bare", "short", "at", "ref"])
def test_reset_target_may_be_a_hash_or_a_ref(catalog: VersionedCatalog, how: str) -> None:
    first = seed(catalog, "raw.a")
    catalog.create_tag("v0", "main")
    catalog.commit("main", {"raw.a": loc("raw.a", "v1")}, "second")
    to = {"bare": first, "short": first[:12], "at": f"@{first}", "ref": "v0"}[how]
    catalog.reset("main", to)
    assert catalog.tables("main") == {"raw.a": loc("raw.a", "v0")}


# -- data through the lakehouse -----------------------------------------------------------------
def test_ingest_branch_merge_and_read(lakehouse: Lakehouse) -> None:
    lh = lakehouse
    lh.ingest("raw.orders", orders([1, 2]))
    lh.ingest("raw.customers", pa.table({"id": [1], "name": ["ada"]}))
    lh.catalog.create_branch("feat")
    lh.ingest("raw.orders", orders([3]), branch="feat")
    lh.ingest("raw.items", pa.table({"sku": ["x", "y"]}), branch="feat")
    lh.ingest("raw.customers", pa.table({"id": [2], "name": ["bob"]}), mode="overwrite")
    assert ids_of(lh.read("raw.orders")) == [1, 2]
    assert ids_of(lh.read("raw.orders", "feat")) == [1, 2, 3]
    result = lh.catalog.merge("feat", "main")
    assert result.merged_tables == ("raw.items", "raw.orders")
    assert ids_of(lh.read("raw.orders")) == [1, 2, 3]
    assert lh.read("raw.items").column("sku").to_pylist() == ["x", "y"]
    assert lh.read("raw.customers").to_pylist() == [{"id": 2, "name": "bob"}]
    assert lh.read("raw.customers", "feat").to_pylist() == [{"id": 1, "name": "ada"}]
    assert lh.catalog.list_refs(include_internal=True) == [
        Ref("feat", lh.catalog.get_ref("feat").hash), Ref("main", result.hash or ""),
    ]


def test_write_to_main_is_one_commit_and_leaves_no_private_branch(lakehouse: Lakehouse) -> None:
    lakehouse.ingest("raw.orders", orders([1, 2, 3]), branch="main")
    log = lakehouse.catalog.log("main")
    assert len(log) == 1
    assert [c.table for c in log[0].changes] == ["raw.orders"]
    assert log[0].properties["branchops.table"] == "raw.orders"
    assert not [r for r in lakehouse.catalog.list_refs(include_internal=True) if r.name.startswith(INTERNAL_PREFIX)]


def test_failed_write_leaves_the_branch_as_it_was(lakehouse: Lakehouse) -> None:
    lakehouse.ingest("raw.orders", orders([1]))
    before = state(lakehouse.catalog, "main")
    with pytest.raises(RuntimeError, match="boom"), lakehouse.writing("main", "half a write") as w:
        w.iceberg.load_table("raw.orders").append(orders([2]))
        raise RuntimeError("boom")
    assert state(lakehouse.catalog, "main") == before
    assert ids_of(lakehouse.read("raw.orders")) == [1]
    assert [r.name for r in lakehouse.catalog.list_refs(include_internal=True)] == ["main"]


def test_reset_restores_data(lakehouse: Lakehouse) -> None:
    first = lakehouse.ingest("raw.orders", orders([1])).hash
    lakehouse.ingest("raw.orders", orders([2]))
    assert first is not None
    lakehouse.catalog.reset("main", f"@{first}")
    assert ids_of(lakehouse.read("raw.orders")) == [1]


def test_merge_of_histories_that_share_only_the_empty_root(catalog: VersionedCatalog) -> None:
    """Both branches forked off an empty main: the merge still applies the three-way rule."""
    catalog.create_branch("s", "main")
    catalog.create_branch("t", "main")
    catalog.commit("s", {"ns.a": "mem://ns.a/1.metadata.json"}, "s")
    catalog.commit("t", {"ns.b": "mem://ns.b/1.metadata.json"}, "t")
    result = catalog.merge("s", "t")
    assert list(result.merged_tables) == ["ns.a"]
    assert catalog.tables("t") == {"ns.a": "mem://ns.a/1.metadata.json", "ns.b": "mem://ns.b/1.metadata.json"}
    assert catalog.tables("s") == {"ns.a": "mem://ns.a/1.metadata.json"}
