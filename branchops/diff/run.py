"""The diff in the configured query engine: the engine opened through ``load_engine`` and refs
spelled so that it can read them. :func:`diff_refs`, the public entry, lives here: it picks the
engine, then diffs in :mod:`branchops.diff.compute` (which imports nothing from this module).

An engine that reads only branch heads (Trino: one catalog per branch, ``READS_ANY_METADATA =
False``) reads a pinned base (``main@<hash>``) through the base branch itself when its head is still
that commit, and otherwise through a private branch created at that commit for the diff and
dropped right after (with its engine resources).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from branchops.catalog.base import VersionedCatalog, split_ref
from branchops.errors import RefNotFound

if TYPE_CHECKING:
    from branchops.diff.model import DiffOptions, DiffResult
    from branchops.engine.base import Engine
    from branchops.lakehouse import Lakehouse


def diff_refs(
    lakehouse: Lakehouse | VersionedCatalog,
    base: str,
    head: str,
    *,
    engine: Engine | None = None,
    options: DiffOptions | None = None,
    **kw: Any,
) -> DiffResult:
    """What changed from ``base`` to ``head`` (refs, ``ref@hash`` or ``@hash``), table by table.

    Keyword arguments are :class:`DiffOptions` fields. Without ``engine``, a lakehouse diffs in
    the engine of its settings (``load_engine``; DuckDB: its own, opened only when a table has to
    be scanned), a bare catalog in DuckDB. Raises RefNotFound (unknown ref) and UsageError (a key
    naming a missing table or column, a bad pattern).
    """
    from branchops.diff import compute
    from branchops.diff.model import DiffOptions

    opts = options or DiffOptions(**kw)
    if engine is None and not isinstance(lakehouse, VersionedCatalog) and lakehouse.settings.engine != "duckdb":
        return diff_in_configured_engine(lakehouse, base, head, opts)
    return compute.diff_in_engine(lakehouse, base, head, opts, engine)

def diff_engine(lakehouse: Lakehouse) -> Engine | None:
    """The engine the diff runs in, from the settings (``load_engine``).

    None for the embedded default (DuckDB): ``diff_refs`` then opens its own DuckDB with a memory
    bound and a spill folder, and only when a table actually has to be scanned.
    """
    if lakehouse.settings.engine == "duckdb":
        return None
    from branchops.engine import load_engine

    return load_engine(lakehouse.settings, lakehouse.catalog)


@contextlib.contextmanager
def readable_ref(lakehouse: Lakehouse, engine: Engine | None, ref: str) -> Iterator[str]:
    """``ref`` spelled so that ``engine`` can read it: unchanged unless the engine reads only
    branch heads and ``ref`` names a commit; then the branch (if its head is that commit) or a
    private branch at the commit, dropped when the block ends."""
    name, commit = split_ref(ref)
    if engine is None or engine.READS_ANY_METADATA or commit is None:
        yield ref
        return
    head: str | None = None
    if name is not None:
        with contextlib.suppress(RefNotFound):
            head = lakehouse.catalog.get_ref(name).hash
    if head == commit:
        yield str(name)
        return
    from branchops.wap import new_branch_name

    pin = new_branch_name()  # a write-audit-publish name: gc leaves it alone while this process runs
    lakehouse.catalog.create_branch(pin, from_ref=ref)
    try:
        yield pin
    finally:
        with contextlib.suppress(RefNotFound):
            lakehouse.drop_branch(pin)


def diff_as_asked(
    lakehouse: Lakehouse, base: str, head: str, engine: Engine | None, options: DiffOptions
) -> DiffResult:
    """``diff_refs`` in ``engine``, through :func:`readable_ref`; the result names the refs asked for."""
    from branchops.diff.compute import diff_in_engine

    with readable_ref(lakehouse, engine, base) as b, readable_ref(lakehouse, engine, head) as h:
        result = diff_in_engine(lakehouse, b, h, options, engine)
    return dataclasses.replace(result, base=dataclasses.replace(result.base, ref=base),
                               head=dataclasses.replace(result.head, ref=head))


def diff_in_configured_engine(lakehouse: Lakehouse, base: str, head: str, options: DiffOptions) -> DiffResult:
    """:func:`diff_as_asked` in the engine of the settings, closed when the diff is done."""
    engine = diff_engine(lakehouse)  # None on DuckDB: the diff opens its own when it must scan
    try:
        return diff_as_asked(lakehouse, base, head, engine, options)
    finally:
        if engine is not None:
            engine.close()
