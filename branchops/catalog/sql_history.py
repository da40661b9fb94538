"""Reads of the embedded backend's commit DAG, each on a Connection the caller holds.

A commit's table state is not stored whole: it is the pointers its first-parent chain moved
(``branchops_changes``), nearest commit winning, so :func:`tables_at` replays that chain in one
recursive query. ``branchops_parents`` holds every edge (merge parents too) for
:func:`merge_base`. Nothing here writes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, text

from branchops.catalog.base import NO_ANCESTOR, Commit, TableChange, pointer_diff
from branchops.catalog.sql_schema import changes_t, commits_t
from branchops.errors import RefNotFound, UsageError

# First-parent chain of a commit, with its distance from the start.
_CHAIN = """
WITH RECURSIVE chain(hash, depth) AS (
    SELECT c.hash, 0 FROM branchops_commits c WHERE c.hash = :start
    UNION ALL
    SELECT p.hash, chain.depth + 1
    FROM chain
    JOIN branchops_commits cur ON cur.hash = chain.hash
    JOIN branchops_commits p ON p.hash = cur.parent
)
"""
_ANCESTORS = """
WITH RECURSIVE anc(hash) AS (
    SELECT CAST(:start AS VARCHAR(64))
    UNION
    SELECT e.parent FROM branchops_parents e JOIN anc ON e.child = anc.hash
)
SELECT anc.hash, c.generation FROM anc LEFT JOIN branchops_commits c ON c.hash = anc.hash
"""


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
    found = conn.execute(
        select(commits_t.c.hash).where(commits_t.c.hash.like(prefix + "%")).limit(2)
    ).all()
    if len(found) != 1:
        raise not_found(prefix) if not found else UsageError(f"commit prefix {prefix!r} is ambiguous")
    return str(found[0].hash)


def tables_at(conn: Connection, commit: str) -> dict[str, str]:
    """``{"ns.table": metadata_location}`` as of ``commit``."""
    if commit == NO_ANCESTOR:
        return {}
    sql = _CHAIN + (
        "SELECT ch.table_id, ch.new_location, chain.depth FROM chain "
        "JOIN branchops_changes ch ON ch.commit_hash = chain.hash ORDER BY chain.depth DESC"
    )
    out: dict[str, str | None] = {}
    for r in conn.execute(text(sql), {"start": commit}):
        out[r.table_id] = r.new_location  # nearer commits come last and win
    return {k: v for k, v in out.items() if v is not None}


def ancestors(conn: Connection, commit: str) -> dict[str, int]:
    """Every ancestor of ``commit`` (itself and merge parents included) with its generation."""
    return {r.hash: (r.generation or 0) for r in conn.execute(text(_ANCESTORS), {"start": commit})}


def merge_base(conn: Connection, a: str, b: str) -> str:
    """The common ancestor of commits ``a`` and ``b`` of the highest generation."""
    anc_a = ancestors(conn, a)
    if b in anc_a:
        return b
    anc_b = ancestors(conn, b)
    common = set(anc_a) & set(anc_b)
    if not common:
        return NO_ANCESTOR
    return max(sorted(common), key=lambda h: anc_a[h])


def generations(conn: Connection, hashes: list[str]) -> list[int]:
    """The generation of each of ``hashes`` (0 for one that is not a stored commit)."""
    known = {
        r.hash: r.generation
        for r in conn.execute(select(commits_t.c.hash, commits_t.c.generation).where(commits_t.c.hash.in_(hashes)))
    }
    return [known.get(h, 0) for h in hashes]


def _commits(conn: Connection, rows: Sequence[Any]) -> list[Commit]:
    """:class:`Commit` objects, with their table changes, for rows of ``branchops_commits``."""
    hashes = [r.hash for r in rows]
    changes: dict[str, list[TableChange]] = {h: [] for h in hashes}
    if hashes:
        for c in conn.execute(select(changes_t).where(changes_t.c.commit_hash.in_(hashes))):
            old, new = c.old_location, c.new_location
            changes[c.commit_hash].append(pointer_diff({c.table_id: old} if old else {},
                                                       {c.table_id: new} if new else {})[0])
    return [
        Commit(r.hash, r.parent, r.message, r.author, r.created_at, json.loads(r.properties),
               tuple(sorted(changes[r.hash], key=lambda c: c.table)), r.merge_parent)
        for r in rows
    ]


def log(conn: Connection, start: str, limit: int | None = None) -> list[Commit]:
    """Commits along the first-parent chain of ``start``, newest first."""
    sql = _CHAIN + "SELECT c.*, chain.depth FROM chain JOIN branchops_commits c ON c.hash = chain.hash " \
        "ORDER BY chain.depth"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    rows = conn.execute(text(sql), {"start": start}).all()
    return _commits(conn, rows)


def get_commit(conn: Connection, hash_: str) -> Commit:
    """The commit ``hash_`` (or a unique prefix of it) names."""
    full = full_hash(conn, hash_)
    rows = conn.execute(select(commits_t).where(commits_t.c.hash == full)).all()
    if not rows:
        raise not_found(hash_)
    return _commits(conn, rows)[0]


def metadata_locations_since(conn: Connection, cutoff: str) -> set[str]:
    """Pointers every commit made at or after ``cutoff`` can see (a superset, never fewer).

    A recent commit's state is its first parent's state plus the pointers it set, so the
    union over recent commits is: every pointer a recent commit set, plus the whole state
    of each older commit a recent one builds on.
    """
    recent = conn.execute(
        select(commits_t.c.hash, commits_t.c.parent).where(commits_t.c.created_at >= cutoff)
    ).all()
    hashes = {r.hash for r in recent}
    out: set[str] = set()
    q = select(changes_t.c.new_location).join(
        commits_t, commits_t.c.hash == changes_t.c.commit_hash
    ).where(commits_t.c.created_at >= cutoff, changes_t.c.new_location.is_not(None))
    out.update(r.new_location for r in conn.execute(q))
    for parent in sorted({r.parent for r in recent if r.parent not in hashes}):
        out.update(tables_at(conn, parent).values())
    return out
