"""The Nessie backend's merge base reads a page of history per side, not the whole history.

A random history of branches, commits and merges (some written as single-parent commits naming
their merge parent) is built on a real Nessie server with a tiny page size, so the walk crosses
many page boundaries and merge parents. For every pair of commits, the merge base must equal the
one computed from both commits' complete ancestries (every parent, read commit by commit), and a
merge of a fork a few commits back must cost one history request per side.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from branchops.catalog.base import NO_ANCESTOR
from branchops.catalog.nessie import history as nessie_history
from branchops.catalog.nessie.backend import NessieVersionedCatalog
from branchops.catalog.nessie.client import NessieClient

pytestmark = pytest.mark.integration


@pytest.fixture
def cat(nessie_server, tmp_path: Path) -> Iterator[NessieVersionedCatalog]:  # type: ignore[no-untyped-def]
    c = NessieVersionedCatalog(nessie_server.fresh_repo(), warehouse=str(tmp_path))
    yield c
    c.close()


def full_ancestry(api: NessieClient, start: str) -> dict[str, int]:
    """Every ancestor of ``start`` with its shortest distance, one commit at a time (the oracle)."""
    dist, todo = {start: 0}, [start]
    while todo:
        tip = todo.pop(0)
        entry = next(api.log(None, tip, limit=1, operations=False))
        for p in entry.parents:
            if p != NO_ANCESTOR and dist.get(p, dist[tip] + 2) > dist[tip] + 1:
                dist[p] = dist[tip] + 1
                todo.append(p)
    return dist


def expected_base(api: NessieClient, a: str, b: str) -> str:
    anc_a, anc_b = full_ancestry(api, a), full_ancestry(api, b)
    if b in anc_a or a in anc_b:
        return b if b in anc_a else a
    common = set(anc_a) & set(anc_b)
    return min(common, key=lambda h: (anc_a[h] + anc_b[h], anc_a[h], h)) if common else NO_ANCESTOR


def test_merge_base_matches_the_full_ancestry(cat: NessieVersionedCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nessie_history, "LOG_PAGE", 2)
    rnd = random.Random(13)
    branches = ["main"]
    for step in range(36):
        roll = rnd.random()
        if roll < 0.15 or len(branches) < 3:
            name = f"b{step}"
            cat.create_branch(name, rnd.choice(branches))
            branches.append(name)
        elif roll < 0.35:
            source, target = rnd.sample(branches, 2)
            cat.merge(source, target, message=f"merge {step}")
        else:  # each commit writes its own table: merges never conflict
            cat.commit(rnd.choice(branches), {f"ns.t{step}": f"mem://t{step}"}, f"c{step}")
    heads = sorted({cat.get_ref(b).hash for b in branches} | {c.hash for c in cat.log("main")[:8]})
    for a, b in itertools.combinations(heads, 2):
        assert nessie_history.merge_base(cat.api, a, b) == expected_base(cat.api, a, b), (a, b)


def test_a_recent_fork_costs_one_history_page_per_side(cat: NessieVersionedCatalog,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(120):  # a long history behind the fork
        cat.commit("main", {f"ns.t{i % 7}": f"mem://t{i}"}, f"c{i}")
    cat.create_branch("feat", "main")
    cat.commit("feat", {"ns.f": "mem://f"}, "feature")
    cat.commit("main", {"ns.m": "mem://m"}, "main moves")
    calls: list[str] = []
    request = cat.api._request

    def counting(method: str, path: str, **kw):  # type: ignore[no-untyped-def]
        calls.append(path)
        return request(method, path, **kw)

    monkeypatch.setattr(cat.api, "_request", counting)
    result = cat.merge("feat", "main", dry_run=True)
    assert result.merged_tables == ("ns.f",)
    assert len([p for p in calls if p.endswith("/history")]) == 2, calls


def test_the_nearest_common_commit_wins_over_the_first_found(cat: NessieVersionedCatalog,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """main: c1 x1 x2 c2 A; feat forks at c1 (b1 b2 b3) and merges side (c2 m1 m2 m3). Walking two
    commits a page, both sides reach c1 (4 + 4 back) before c2 (1 + 4 back): c2 is the base."""
    monkeypatch.setattr(nessie_history, "LOG_PAGE", 2)

    def commit(ref: str, name: str) -> str:
        return cat.commit(ref, {f"ns.{name}": f"mem://{name}"}, name).hash

    c1 = commit("main", "c1")
    commit("main", "x1")
    commit("main", "x2")
    c2 = commit("main", "c2")
    cat.create_branch("side", "main")
    for name in ("m1", "m2", "m3"):
        commit("side", name)
    commit("main", "a")
    cat.create_branch("feat", f"@{c1}")
    for name in ("b1", "b2", "b3"):
        commit("feat", name)
    cat.merge("side", "feat")
    assert cat.merge_base("main", "feat") == c2 == expected_base(cat.api, cat.resolve("main"), cat.resolve("feat"))
