"""Table states of the embedded backend's commits, read in a time that does not grow with history.

A commit stores only the pointers it moved relative to its first parent (``branchops_changes``).
Every :data:`KEYFRAME_INTERVAL` commits along a first-parent chain a **keyframe** stores the
commit's whole table set (``branchops_keyframes``), and every commit records its nearest keyframe
and how many first-parent steps lie between (``branchops_commit_keyframes``). A commit's tables
are its keyframe's rows with the changes of at most ``KEYFRAME_INTERVAL`` commits replayed on
top, in one bounded recursive query, whether the commit is ten or fifty thousand commits deep.

Commits written before keyframes existed have no row: they are read by replaying their whole
chain (the old way), and the first commit written on top of one becomes a keyframe.

A ref's state is its head commit's state: creating a ref writes one row, whatever the number of
tables. Nothing here touches the Iceberg JDBC rows (see :mod:`~branchops.catalog.sql.pointers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from branchops.catalog.base import NO_ANCESTOR
from branchops.catalog.sql.db import Connection
from branchops.catalog.sql.schema import column, create_missing, define_table

#: First-parent steps between keyframes: a state read replays at most this many commits, and a
#: commit on a catalog of N tables writes N / KEYFRAME_INTERVAL keyframe rows on average.
KEYFRAME_INTERVAL = 32
_MAX_KEYS_IN_QUERY = 500  # more table keys than this: read all rows (bind parameter limits)

keyframes_t = define_table(
    "branchops_keyframes",
    column("commit_hash", "VARCHAR(64)"), column("table_id", "VARCHAR(512)"), column("location", "VARCHAR(1000)"),
    key=["commit_hash", "table_id"],
)
positions_t = define_table(
    "branchops_commit_keyframes",
    # steps: commits to replay, this one included; 0 = a keyframe
    column("hash", "VARCHAR(64)"), column("keyframe", "VARCHAR(64)"), column("steps", "INTEGER"),
    key=["hash"],
)
TABLES = (positions_t, keyframes_t)

# A commit's state in one statement: its keyframe's rows (numbered past the replay) and the
# changes of the first ``:steps`` commits of its first-parent chain, numbered from 1 (nearest).
_STATE = """
WITH RECURSIVE chain(hash, parent, n) AS (
    SELECT c.hash, c.parent, 1 FROM branchops_commits c WHERE c.hash = :start AND CAST(:steps AS INTEGER) > 0
    UNION ALL
    SELECT c.hash, c.parent, chain.n + 1
    FROM chain JOIN branchops_commits c ON c.hash = chain.parent
    WHERE chain.n < CAST(:steps AS INTEGER)
)
SELECT k.table_id, k.location, CAST(:steps AS INTEGER) + 1 AS n
FROM branchops_keyframes k WHERE k.commit_hash = :keyframe {keyframe_filter}
UNION ALL
SELECT ch.table_id, ch.new_location, chain.n
FROM chain JOIN branchops_changes ch ON ch.commit_hash = chain.hash {change_filter}
"""
# The whole first-parent chain from ``:start`` (commits without a keyframe position).
_FULL_REPLAY = """
WITH RECURSIVE chain(hash, parent, n) AS (
    SELECT c.hash, c.parent, 1 FROM branchops_commits c WHERE c.hash = :start
    UNION ALL
    SELECT c.hash, c.parent, chain.n + 1
    FROM chain JOIN branchops_commits c ON c.hash = chain.parent
)
SELECT ch.table_id, ch.new_location, chain.n
FROM chain JOIN branchops_changes ch ON ch.commit_hash = chain.hash {change_filter}
"""
LOOK_UP: tuple[str, int] = ("", -1)  # ``pos`` argument: not known, look it up


def ensure_state_schema(conn: Connection) -> None:
    """Create the keyframe tables when missing (older catalogs read on without them)."""
    create_missing(conn, TABLES)


def position(conn: Connection, commit: str) -> tuple[str, int] | None:
    """``(keyframe, steps)`` of ``commit``; None for a commit written before keyframes."""
    if commit == NO_ANCESTOR:
        return NO_ANCESTOR, 0
    row = conn.first("SELECT keyframe, steps FROM branchops_commit_keyframes WHERE hash = :hash", {"hash": commit})
    return None if row is None else (str(row[0]), int(row[1]))


def _keys(only: Iterable[str] | None) -> list[str] | None:
    if only is None:
        return None
    wanted = sorted(set(only))
    return wanted if len(wanted) <= _MAX_KEYS_IN_QUERY else None


def tables_at(
    conn: Connection, commit: str, only: Iterable[str] | None = None, *, pos: tuple[str, int] | None = LOOK_UP
) -> dict[str, str]:
    """``{"ns.table": metadata_location}`` as of ``commit``; with ``only``, just those tables.
    ``pos`` is ``commit``'s :func:`position` when the caller has it already."""
    wanted = None if only is None else set(only)
    if wanted is not None and not wanted:
        return {}
    if pos == LOOK_UP:
        pos = position(conn, commit)
    if pos == (NO_ANCESTOR, 0):
        return {}
    keys = _keys(wanted)
    keyframe_filter = change_filter = ""
    if keys is not None:
        keyframe_filter, change_filter = "AND k.table_id IN :keys", "WHERE ch.table_id IN :keys"
    sql = (_FULL_REPLAY if pos is None else _STATE).format(
        keyframe_filter=keyframe_filter, change_filter=change_filter
    )
    params: dict[str, Any] = {"start": commit}
    if pos is not None:
        params.update(keyframe=pos[0], steps=pos[1])
    if keys is not None:
        params["keys"] = keys
    found = conn.execute(sql, params)
    top = None if pos is None else pos[1] + 1  # the keyframe's rows; replayed changes sort after them
    out: dict[str, str | None] = {r[0]: r[1] for r in found if r[2] == top}
    for table, location, _ in sorted((r for r in found if r[2] != top), key=lambda r: -int(r[2])):
        out[table] = location  # the nearest commit last
    if wanted is None:
        return {t: loc for t, loc in out.items() if loc is not None}
    return {t: loc for t, loc in out.items() if loc is not None and t in wanted}


def record(
    conn: Connection, commit: str, parent: str, moved: Mapping[str, str | None],
    parent_pos: tuple[str, int] | None = LOOK_UP,
) -> None:
    """Give the new ``commit`` (first parent ``parent``, ``moved`` the pointers it changed) its
    keyframe position, writing a keyframe when the chain since the last one is long enough."""
    pos = position(conn, parent) if parent_pos == LOOK_UP else parent_pos
    if pos is not None and pos[1] + 1 < KEYFRAME_INTERVAL:
        conn.insert(positions_t.name, [{"hash": commit, "keyframe": pos[0], "steps": pos[1] + 1}])
        return
    state: dict[str, str | None] = {**tables_at(conn, parent, pos=pos), **moved}
    rows = [{"commit_hash": commit, "table_id": t, "location": loc} for t, loc in sorted(state.items()) if loc]
    conn.insert(keyframes_t.name, rows)
    conn.insert(positions_t.name, [{"hash": commit, "keyframe": commit, "steps": 0}])
