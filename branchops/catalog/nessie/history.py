"""Reads of a Nessie server's commit history for the Nessie backend.

Nessie wants full hashes, so :func:`full_hash` finds the commit an abbreviated one names; its
log carries operations, not table states, so :func:`commits` replays them into the
:class:`TableChange` s of each commit; :func:`merge_base` walks the ancestry of two commits.
Nothing here writes.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping

from branchops.catalog.base import NO_ANCESTOR, Commit, TableChange, pointer_diff
from branchops.catalog.nessie.client import Content, ContentKey, LogEntry, NessieClient, content_location, key_str
from branchops.errors import RefNotFound, UsageError

_HEX = re.compile(r"^[0-9a-f]{6,64}$")
_FULL_HASH = 64


def looks_like_hash(text: str) -> bool:
    """Whether ``text`` could be a (possibly abbreviated) commit hash."""
    return _HEX.match(text) is not None


def full_hash(api: NessieClient, prefix: str) -> str:
    """A full commit hash from a (possibly abbreviated) one; Nessie itself wants full hashes."""
    if not _HEX.match(prefix):
        raise RefNotFound(f"no ref or commit {prefix!r}", unchanged="nothing was changed")
    if len(prefix) == _FULL_HASH:
        return prefix
    found = api.commits_with_prefix(prefix)
    if len(found) != 1:
        if found:
            raise UsageError(f"commit prefix {prefix!r} is ambiguous", hint="give more characters")
        raise RefNotFound(f"no commit {prefix!r} on any ref", unchanged="nothing was changed",
                          hint="`branchops branch log REF` shows the commits of a ref")
    return found.pop()


def commits(api: NessieClient, entries: list[LogEntry]) -> list[Commit]:
    """Commits with their table changes, for a newest-first first-parent run of entries."""
    if not entries:
        return []
    keys = {op.key for e in entries for op in e.operations if op.type != "UNCHANGED"}
    start = entries[-1].parents[0] if entries[-1].parents else NO_ANCESTOR
    state: dict[ContentKey, Content | None] = {}
    if keys and start != NO_ANCESTOR:
        state.update(api.contents(None, start, sorted(keys)))
    changes: dict[str, tuple[TableChange, ...]] = {}
    for e in reversed(entries):
        moved: list[TableChange] = []
        for op in e.operations:
            if op.type == "UNCHANGED":
                continue
            new = op.content if op.type == "PUT" else None
            before, after = content_location(state.get(op.key)), content_location(new)
            state[op.key] = new
            table = key_str(op.key)
            moved += pointer_diff({table: before} if before else {}, {table: after} if after else {})
        changes[e.hash] = tuple(sorted(moved, key=lambda c: c.table))
    return [
        Commit(e.hash, e.parents[0] if e.parents else NO_ANCESTOR, e.message, e.author,
               e.commit_time, e.properties, changes[e.hash],
               e.parents[1] if len(e.parents) > 1 else None)
        for e in entries
    ]


#: commits read per history request while looking for a merge base (most bases are a few back)
LOG_PAGE = 40


def merge_base(api: NessieClient, ha: str, hb: str, first_pages: Mapping[str, list[LogEntry]] | None = None) -> str:
    """The best common ancestor of commits ``ha`` and ``hb`` (nearest to both, merge parents too).

    Walks both histories outward at once, a page of first parents at a time, shallowest first,
    and stops when nothing unread can be nearer than the best common commit found: a fork a few
    commits back costs one request per side, however long the history behind it (none for a
    side whose first page, ``LOG_PAGE`` entries from the head, is in ``first_pages``).
    """
    pages = dict(first_pages or {})
    if ha == hb:
        return ha
    if NO_ANCESTOR in (ha, hb):
        return NO_ANCESTOR
    dist: tuple[dict[str, int], dict[str, int]] = ({ha: 0}, {hb: 0})
    todo: tuple[list[tuple[int, str]], list[tuple[int, str]]] = ([(0, ha)], [(0, hb)])
    best: tuple[int, int, str] | None = None

    def reach(side: int, commit: str, depth: int) -> bool:
        """Record ``commit`` at ``depth`` on ``side``; False when it was reached nearer before."""
        nonlocal best
        if commit == NO_ANCESTOR or dist[side].get(commit, depth + 1) <= depth:
            return False
        dist[side][commit] = depth
        other = dist[1 - side].get(commit)
        if other is not None:
            da, db = (depth, other) if side == 0 else (other, depth)
            if best is None or (da + db, da, commit) < best:
                best = (da + db, da, commit)
        return True

    while todo[0] or todo[1]:
        if hb in dist[0] or ha in dist[1]:  # one is an ancestor of the other
            return hb if hb in dist[0] else ha
        front = [todo[i][0][0] if todo[i] else float("inf") for i in (0, 1)]
        if best is not None and min(front) >= best[0]:
            break
        side = 0 if front[0] <= front[1] else 1
        depth, start = heapq.heappop(todo[side])
        if dist[side].get(start) != depth:
            continue  # reached nearer since it was queued
        entries = pages.pop(start, None) if depth == 0 else None
        if entries is None:
            entries = list(api.log(None, start, limit=LOG_PAGE, operations=False))
        for n, entry in enumerate(entries):
            if n and not reach(side, entry.hash, depth + n):
                break  # the rest of this line was walked from nearer
            for parent in entry.parents[1:]:
                if reach(side, parent, depth + n + 1):
                    heapq.heappush(todo[side], (depth + n + 1, parent))
        else:
            if len(entries) == LOG_PAGE and entries[-1].parents:
                nxt = entries[-1].parents[0]
                if reach(side, nxt, depth + LOG_PAGE):
                    heapq.heappush(todo[side], (depth + LOG_PAGE, nxt))
    if hb in dist[0] or ha in dist[1]:
        return hb if hb in dist[0] else ha
    return best[2] if best is not None else NO_ANCESTOR


def nessie_merge_base(api: NessieClient, target: str, t_head: str, s_head: str) -> str:
    """The merge base Nessie itself will use (from a dry-run merge)."""
    try:
        resp = api.merge(target, t_head, None, s_head, dry_run=True)
    except RefNotFound as e:
        if "common ancestor" in e.message:
            return NO_ANCESTOR
        raise
    return resp.common_ancestor or NO_ANCESTOR


def tables_at(api: NessieClient, name: str | None, hash_: str | None) -> dict[str, str]:
    """``{"ns.table": metadata_location}`` of the Iceberg tables on ref ``name`` or at ``hash_``."""
    return {key_str(e.key): e.location for e in api.entries(name, hash_) if e.location is not None}


def moved(api: NessieClient, a: str, b: str) -> dict[str, tuple[str | None, str | None]]:
    """The tables whose pointer differs from commit ``a`` to ``b``: table -> (on a, on b)."""
    if a == NO_ANCESTOR:  # Nessie diffs from the empty root poorly: every table of b is new
        return {table: (None, loc) for table, loc in tables_at(api, None, b).items()}
    out: dict[str, tuple[str | None, str | None]] = {}
    for d in api.diff(None, a, None, b):
        before, after = content_location(d.before), content_location(d.after)
        if before != after:
            out[key_str(d.key)] = (before, after)
    return out


def merge_sides(api: NessieClient, base: str, s_head: str, t_head: str) -> tuple[dict[str, str], ...]:
    """(base, source, target) tables for :func:`~branchops.catalog.base.three_way`, limited to the
    tables either side changed since the base (the rest are equal on all three): two diffs, not
    three listings."""
    on_source, on_target = moved(api, base, s_head), moved(api, base, t_head)
    sides: tuple[dict[str, str], ...] = ({}, {}, {})
    for table in on_source.keys() | on_target.keys():
        before = (on_source.get(table) or on_target[table])[0]
        unchanged = (before, before)
        values = (before, on_source.get(table, unchanged)[1], on_target.get(table, unchanged)[1])
        for side, loc in zip(sides, values, strict=True):
            if loc is not None:
                side[table] = loc
    return sides
