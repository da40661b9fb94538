"""Reads of the embedded backend's commit DAG, each on a Connection the caller holds.

A commit's table state comes from :mod:`~branchops.catalog.sql.states` (a keyframe plus a
bounded replay). ``branchops_parents`` holds every edge (merge parents too) for
:func:`merge_base`, which walks back only as far as generation numbers say it must; :func:`log`
walks only as many commits as it returns. Nothing here writes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from branchops.catalog.base import NO_ANCESTOR, Commit, TableChange, pointer_diff
from branchops.catalog.sql.db import Connection
from branchops.catalog.sql.states import tables_at
from branchops.errors import RefNotFound, UsageError

# The first ``:limit`` commits of the first-parent chain of a commit, with their distance from it.
_CHAIN = """
WITH RECURSIVE chain(hash, parent, depth) AS (
    SELECT c.hash, c.parent, 0 FROM branchops_commits c WHERE c.hash = :start
    UNION ALL
    SELECT c.hash, c.parent, chain.depth + 1
    FROM chain JOIN branchops_commits c ON c.hash = chain.parent
    WHERE chain.depth + 1 < :limit
)
"""
# Ancestors of a commit of generation ``:floor`` or more (the empty root counts as generation 0).
# Generations fall along every edge, so this reaches every such ancestor and no other.
_ANCESTORS = """
WITH RECURSIVE anc(hash) AS (
    SELECT CAST(:start AS VARCHAR(64))
    UNION
    SELECT e.parent FROM branchops_parents e JOIN anc ON e.child = anc.hash
    LEFT JOIN branchops_commits pc ON pc.hash = e.parent
    WHERE COALESCE(pc.generation, 0) >= :floor
)
SELECT anc.hash, c.generation FROM anc LEFT JOIN branchops_commits c ON c.hash = anc.hash
"""
#: The columns :func:`_commits` reads, in its order.
_COMMIT_COLUMNS = "c.hash, c.parent, c.message, c.author, c.created_at, c.properties, c.merge_parent"
_FIRST_WINDOW = 16  # generations merge_base looks back first; it widens 8x until it finds one
_NO_LIMIT = 1 << 62


def not_found(name: str) -> RefNotFound:
    return RefNotFound(
        f"no ref or commit {name!r}",
        unchanged="nothing was changed",
        hint="`branchops branch list` shows the refs; `branchops branch log REF` their commits",
    )


def full_hash(conn: Connection, prefix: str) -> str:
    """The one commit hash starting with ``prefix`` (at least 6 hex digits)."""
    if prefix == NO_ANCESTOR:
        return prefix
    if len(prefix) < 6 or not all(ch in "0123456789abcdef" for ch in prefix):
        raise not_found(prefix)
    # A range on the primary key, not LIKE (which SQLite cannot answer from the index).
    found = conn.execute(
        "SELECT hash FROM branchops_commits WHERE hash >= :low AND hash < :high LIMIT 2",
        {"low": prefix, "high": prefix + "g"},
    )
    if len(found) != 1:
        raise not_found(prefix) if not found else UsageError(f"commit prefix {prefix!r} is ambiguous")
    return str(found[0][0])


def ancestors(conn: Connection, commit: str, floor: int = 0) -> dict[str, int]:
    """Every ancestor of ``commit`` (itself and merge parents included) of generation ``floor``
    or more, with its generation."""
    rows = conn.execute(_ANCESTORS, {"start": commit, "floor": floor})
    return {h: (generation or 0) for h, generation in rows}


def merge_base(conn: Connection, a: str, b: str) -> str:
    """The common ancestor of commits ``a`` and ``b`` of the highest generation (the smallest
    hash among equals).

    Looks back a window of generations below the lower of the two and widens it until a common
    ancestor shows up: the window holds every ancestor of its generations, so the best one in it
    is the best overall. A branch forked a few commits ago costs a few rows, however deep.
    """
    low = min(generations(conn, [a, b]))
    window = _FIRST_WINDOW
    while True:
        floor = max(0, low - window)
        anc_a = ancestors(conn, a, floor)
        if b in anc_a:
            return b
        anc_b = ancestors(conn, b, floor)
        common = set(anc_a) & set(anc_b)
        if common:
            return max(sorted(common), key=lambda h: anc_a[h])
        if floor == 0:
            return NO_ANCESTOR
        window *= 8


def generations(conn: Connection, hashes: list[str]) -> list[int]:
    """The generation of each of ``hashes`` (0 for one that is not a stored commit)."""
    rows = conn.execute("SELECT hash, generation FROM branchops_commits WHERE hash IN :hashes", {"hashes": hashes})
    known = {h: int(generation) for h, generation in rows}
    return [known.get(h, 0) for h in hashes]


def _commits(conn: Connection, rows: Sequence[Any]) -> list[Commit]:
    """:class:`Commit` objects, with their table changes, for rows of :data:`_COMMIT_COLUMNS`."""
    hashes = [r[0] for r in rows]
    changes: dict[str, list[TableChange]] = {h: [] for h in hashes}
    if hashes:
        found = conn.execute(
            "SELECT commit_hash, table_id, old_location, new_location FROM branchops_changes "
            "WHERE commit_hash IN :hashes",
            {"hashes": hashes},
        )
        for commit, table, old, new in found:
            changes[commit].append(pointer_diff({table: old} if old else {}, {table: new} if new else {})[0])
    return [
        Commit(h, parent, message, author, created_at, json.loads(properties),
               tuple(sorted(changes[h], key=lambda c: c.table)), merge_parent)
        for h, parent, message, author, created_at, properties, merge_parent in rows
    ]


def log(conn: Connection, start: str, limit: int | None = None) -> list[Commit]:
    """Commits along the first-parent chain of ``start``, newest first."""
    sql = f"{_CHAIN}SELECT {_COMMIT_COLUMNS} FROM chain JOIN branchops_commits c ON c.hash = chain.hash " \
        "ORDER BY chain.depth"
    if limit is not None and limit <= 0:
        return []
    rows = conn.execute(sql, {"start": start, "limit": _NO_LIMIT if limit is None else int(limit)})
    return _commits(conn, rows)


def get_commit(conn: Connection, hash_: str) -> Commit:
    """The commit ``hash_`` (or a unique prefix of it) names."""
    full = full_hash(conn, hash_)
    rows = conn.execute(f"SELECT {_COMMIT_COLUMNS} FROM branchops_commits c WHERE c.hash = :hash", {"hash": full})
    if not rows:
        raise not_found(hash_)
    return _commits(conn, rows)[0]


def metadata_locations_since(conn: Connection, cutoff: str) -> set[str]:
    """Pointers every commit made at or after ``cutoff`` can see (a superset, never fewer).

    A recent commit's state is its first parent's state plus the pointers it set, so the
    union over recent commits is: every pointer a recent commit set, plus the whole state
    of each older commit a recent one builds on.
    """
    recent = conn.execute("SELECT hash, parent FROM branchops_commits WHERE created_at >= :cutoff", {"cutoff": cutoff})
    hashes = {h for h, _ in recent}
    out: set[str] = set()
    moved = conn.execute(
        "SELECT ch.new_location FROM branchops_changes ch JOIN branchops_commits c ON c.hash = ch.commit_hash "
        "WHERE c.created_at >= :cutoff AND ch.new_location IS NOT NULL",
        {"cutoff": cutoff},
    )
    out.update(str(r[0]) for r in moved)
    for parent in sorted({p for _, p in recent if p not in hashes}):
        out.update(tables_at(conn, parent).values())
    return out
