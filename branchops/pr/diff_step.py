"""The diff step of a sync: every table that differs between the base (at the fork) and the PR
branch, diffed by the diff engine (branchops.diff) in the configured query engine; keys come
from the stored dbt manifests.

The base is pinned to the commit the PR branch was forked at (``main@<hash>``). An engine that
reads only branch heads (Trino: one catalog per branch, ``READS_ANY_METADATA = False``) reads the
base branch itself when its head is still that commit, and otherwise a private branch created at
that commit for the diff and dropped right after (with its engine resources).
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from branchops.catalog.base import INTERNAL_PREFIX, split_ref
from branchops.errors import RefNotFound
from branchops.pr.drift import source_drift

if TYPE_CHECKING:
    from branchops.diff import DiffOptions, DiffResult
    from branchops.engine.base import Engine
    from branchops.lakehouse import Lakehouse

SAMPLE_ROWS = 5
#: the private branches that pin a commit for an engine that reads only branch heads
PIN_PREFIX = f"{INTERNAL_PREFIX}diff-"


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
    pin = f"{PIN_PREFIX}{uuid.uuid4().hex[:12]}"
    lakehouse.catalog.create_branch(pin, from_ref=ref)
    try:
        yield pin
    finally:
        with contextlib.suppress(RefNotFound):
            lakehouse.drop_branch(pin)


def stored_manifest_keys(lakehouse: Lakehouse, refs: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Primary keys from the dbt manifests stored with ``refs`` (the first ref that names one
    wins), read through the warehouse's FileIO.

    Only needed for a remote warehouse (S3): the diff finds manifests in a local warehouse itself.
    """
    import json

    from pyiceberg.io import load_file_io

    from branchops.dbt.artifacts import find_build
    from branchops.diff.keys import keys_from_manifest

    catalog = lakehouse.catalog
    if "://" not in catalog.warehouse or catalog.warehouse.startswith("file://"):
        return {}
    found: dict[str, tuple[str, ...]] = {}
    for ref in refs:
        stored = find_build(catalog, ref)
        if stored is None:
            continue
        io = load_file_io(properties=catalog.io_properties, location=stored.manifest)
        with io.new_input(stored.manifest).open() as f:
            manifest = json.loads(f.read())
        for table, (columns, _how) in keys_from_manifest(manifest).items():
            found.setdefault(table, tuple(columns))
    # keys given to the diff are strict: keep those of tables that moved and have the columns on both sides
    sides = [catalog.tables(ref) for ref in refs]
    usable: dict[str, tuple[str, ...]] = {}
    for table, columns in found.items():
        pointers = [tables.get(table) for tables in sides]
        if None in pointers or len(set(pointers)) == 1:
            continue
        if all(set(columns) <= set(catalog.load_table(ref, table).schema().column_names) for ref in refs):
            usable[table] = columns
    return usable


def diff_as_asked(
    lakehouse: Lakehouse, base: str, head: str, engine: Engine | None, options: DiffOptions
) -> DiffResult:
    """``diff_refs`` in ``engine``, through :func:`readable_ref`; the result names the refs asked for."""
    from branchops.diff import diff_refs

    with readable_ref(lakehouse, engine, base) as b, readable_ref(lakehouse, engine, head) as h:
        result = diff_refs(lakehouse, b, h, engine=engine, options=options)
    return dataclasses.replace(result, base=dataclasses.replace(result.base, ref=base),
                               head=dataclasses.replace(result.head, ref=head))


class DataDiffer:
    def __init__(self, base_mode: str = "auto") -> None:
        self.base_mode = base_mode  # drift-free diffs (branchops.pr.drift_free): auto or stored

    def diff(self, lakehouse: Lakehouse, *, base: str, head: str, keys: dict[str, list[str]],
             project_dir: Path | None = None, built: Sequence[str] = ()) -> dict[str, Any]:
        from branchops.diff import DiffOptions
        from branchops.pr.drift_free import diff_base

        drift = source_drift(lakehouse, base)
        with diff_base(lakehouse, base=base, built=built, project_dir=project_dir, drift=drift,
                       base_mode=self.base_mode) as chosen:
            flags = stored_manifest_keys(lakehouse, (head, chosen.ref)) | {t: tuple(k) for t, k in keys.items()}
            engine = diff_engine(lakehouse)
            try:
                result = diff_as_asked(lakehouse, chosen.ref, head, engine,
                                       DiffOptions(keys=flags, sample=SAMPLE_ROWS))
            finally:
                if engine is not None:
                    engine.close()
        result = dataclasses.replace(result, base=dataclasses.replace(result.base, ref=base))
        out = result.to_dict() | chosen.to_dict()
        if drift is not None:
            out["drift"] = drift.to_dict()
        return out
