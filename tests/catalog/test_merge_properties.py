"""Property tests of merge: random histories on two branches from a common fork.

The test keeps its own model of both branches (table -> pointer) and of the merge base, and
computes the expected merge with its own three-way rule; the catalog must agree, and a merge
the model calls conflicting must raise MergeConflict and write nothing.

History shape: a parent branch ``p`` with some tables (with none, ``p`` has no commit and the two
branches share only the empty root); ``s`` (source) and ``t`` (target) fork from it; then a random
sequence of commits on ``s`` or ``t`` and of "syncs" (merge ``t`` into ``s``, as a PR branch picks
up main). ``t`` only ever gets plain commits, so the merge base of ``s`` and ``t`` is unique:
``t``'s head at the last sync, else the fork point. The same histories run on every backend.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from branchops.catalog.base import VersionedCatalog
from branchops.errors import MergeConflict

TABLES = [f"ns.t{i}" for i in range(5)]
VALUES = ["a", "b", "c"]  # few values, so "both sides changed to the same pointer" happens often

Changes = dict[str, str | None]
changes_st = st.dictionaries(st.sampled_from(TABLES), st.none() | st.sampled_from(VALUES), min_size=1, max_size=3)
op_st = st.tuples(st.sampled_from(["s", "t", "sync"]), changes_st)
history_st = st.tuples(
    st.dictionaries(st.sampled_from(TABLES), st.sampled_from(VALUES), max_size=len(TABLES)),
    st.lists(op_st, max_size=12),
)

# One catalog serves all examples of a test (a fresh schema per example would cost more than the
# example); each example works on its own branches, named from this counter.
_example = itertools.count()


def pointer(table: str, value: str) -> str:
    return f"mem://{table}/{value}.metadata.json"


def expected_merge(
    base: dict[str, str], source: dict[str, str], target: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The per-table three-way rule, written out independently of the code under test."""
    merged: dict[str, str] = {}
    conflicts: list[str] = []
    for table in set(base) | set(source) | set(target):
        b, s, t = base.get(table), source.get(table), target.get(table)
        if s == b:
            result = t
        elif t in (b, s):
            result = s
        else:
            conflicts.append(table)
            result = t
        if result is not None:
            merged[table] = result
    return merged, sorted(conflicts)


@dataclass
class Model:
    s: dict[str, str]
    t: dict[str, str]
    base: dict[str, str]  # t's tables at the merge base of s and t
    commits: dict[str, int] = field(default_factory=lambda: {"s": 0, "t": 0})

    def apply(self, side: str, changes: Changes) -> Changes:
        """``changes`` minus removals of tables the side lacks (the catalog refuses those)."""
        tables = getattr(self, side)
        valid: Changes = {k: v for k, v in changes.items() if v is not None or k in tables}
        for k, v in valid.items():
            if v is None:
                del tables[k]
            else:
                tables[k] = v
        return valid


def snapshot(cat: VersionedCatalog, ref: str) -> tuple[str, dict[str, str], list[str]]:
    return cat.get_ref(ref).hash, cat.tables(ref), [c.hash for c in cat.log(ref)]


History = tuple[dict[str, str], list[tuple[str, Changes]]]


def run_history(
    cat: VersionedCatalog, initial: dict[str, str], ops: list[tuple[str, Changes]]
) -> tuple[str, str, Model]:
    n = next(_example)
    p, s, t = f"x{n}/p", f"x{n}/s", f"x{n}/t"
    cat.create_branch(p, "main")
    # No initial tables: no commit, so s and t share only the empty root (Nessie refuses to merge
    # such histories; the Nessie backend then writes a single-parent commit naming the merge parent).
    if initial:
        cat.commit(p, {k: pointer(k, v) for k, v in initial.items()}, "initial")
    cat.create_branch(s, p)
    cat.create_branch(t, p)
    model = Model(s=dict(initial), t=dict(initial), base=dict(initial))
    for side, changes in ops:
        if side == "sync":
            want, conflicts = expected_merge(model.base, model.t, model.s)
            before = snapshot(cat, s)
            if conflicts:
                with pytest.raises(MergeConflict) as err:
                    cat.merge(t, s)
                assert err.value.conflicts == conflicts
                assert snapshot(cat, s) == before
                continue
            cat.merge(t, s)
            model.s, model.base = want, dict(model.t)
        else:
            valid = model.apply(side, changes)
            cat.commit(s if side == "s" else t, {k: None if v is None else pointer(k, v) for k, v in valid.items()},
                       f"{side} commit")
        assert cat.tables(s) == {k: pointer(k, v) for k, v in model.s.items()}
        assert cat.tables(t) == {k: pointer(k, v) for k, v in model.t.items()}
    return s, t, model


# A sync written as a single-parent commit (no common ancestor), then a target change: the next
# merge base is the synced target head only when the merge parent is kept (else: a false conflict).
SYNC_WITHOUT_ANCESTOR: History = ({}, [("s", {"ns.t0": "a"}), ("t", {"ns.t1": "a"}), ("sync", {"ns.t0": None}),
                                       ("t", {"ns.t1": "b"}), ("s", {"ns.t2": "a"})])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=history_st)
@example(history=SYNC_WITHOUT_ANCESTOR)
def test_merge_follows_the_three_way_rule(catalog: VersionedCatalog, history: History) -> None:
    s, t, model = run_history(catalog, *history)
    want, conflicts = expected_merge(model.base, model.s, model.t)
    before = snapshot(catalog, t)
    event("conflict" if conflicts else "clean merge")
    if conflicts:
        for dry_run in (True, False):
            with pytest.raises(MergeConflict) as err:
                catalog.merge(s, t, dry_run=dry_run)
            assert err.value.conflicts == conflicts
            assert snapshot(catalog, t) == before
        return
    changed = sorted(k for k in set(want) | set(model.t) if want.get(k) != model.t.get(k))
    dry = catalog.merge(s, t, dry_run=True)
    assert snapshot(catalog, t) == before
    result = catalog.merge(s, t)
    assert list(result.merged_tables) == list(dry.merged_tables) == changed
    assert catalog.tables(t) == {k: pointer(k, v) for k, v in want.items()}
    # The pointer mirror of the branch head equals the state rebuilt from the commit history.
    assert catalog.tables(f"@{catalog.resolve(t)}") == catalog.tables(t)
    if result.hash != before[0]:
        assert catalog.merge_base(s, t) == catalog.resolve(s)
