"""Is a commit still readable? ``VersionedCatalog.create_branch`` and ``reset`` ask first (one
owner: the CLI, the Lakehouse and every other caller go through those two).

A ref's head is always readable (gc keeps everything a ref uses). An older commit is readable
while gc has not collected its files: older than the retention window and no longer used by any
ref, its metadata, manifests and data files are deleted. Resetting or forking to such a commit
would leave a ref whose every read fails; it is refused instead (exit 1), with nothing changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from branchops.catalog.names import split_ref
from branchops.errors import CheckFailed, RefNotFound, UsageError

if TYPE_CHECKING:
    from branchops.catalog.base import VersionedCatalog


def looks_like_hash(spec: str) -> bool:
    """Whether a spec without ``@`` may be a bare commit hash (as the backends accept one)."""
    return len(spec) >= 6 and all(ch in "0123456789abcdef" for ch in spec)


def is_ref_head(catalog: VersionedCatalog, spec: str) -> bool:
    """Whether ``spec`` is a ref, or a commit some ref is at (its files are a ref's: gc keeps them)."""
    if "@" not in spec:
        if not looks_like_hash(spec):
            return True  # a ref name (a missing one fails in the write that follows): no request
        try:
            catalog.get_ref(spec)
            return True
        except (RefNotFound, UsageError):  # a bare commit hash (Nessie refuses it as a ref name)
            spec = f"@{spec}"
    name, _ = split_ref(spec)
    commit = catalog.resolve(spec)
    if name is not None:
        return catalog.get_ref(name).hash == commit
    return commit in {r.hash for r in catalog.list_refs(include_internal=True)}


def missing_files(catalog: VersionedCatalog, spec: str) -> list[tuple[str, str]]:
    """``(table, missing file)`` for each table of ``spec`` whose current snapshot cannot be read
    whole because gc deleted some of it: a metadata file, manifest list, manifest or data file
    under the warehouse gone (gc never deletes elsewhere)."""
    from pyiceberg.io import load_file_io
    from pyiceberg.serializers import FromInputFile

    from branchops.gc.store import normalize

    root = normalize(catalog.warehouse).rstrip("/") + "/"

    def collectable(path: str) -> bool:  # gc deletes only under the warehouse
        return normalize(path).startswith(root)

    out: list[tuple[str, str]] = []
    for table, location in sorted(catalog.tables(spec).items()):
        if not collectable(location):
            continue
        io = load_file_io(properties=catalog.io_properties, location=location)
        try:
            meta = FromInputFile.table_metadata(io.new_input(location))
            snap = meta.snapshot_by_id(meta.current_snapshot_id) if meta.current_snapshot_id is not None else None
            if snap is None:
                continue
            for manifest in snap.manifests(io):
                for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                    path = entry.data_file.file_path
                    if collectable(path) and not io.new_input(path).exists():
                        out.append((table, path))
                        break
        except FileNotFoundError as e:
            out.append((table, str(getattr(e, "filename", None) or location)))
    return out


def require_readable(catalog: VersionedCatalog, spec: str, *, action: str) -> None:
    """Refuse ``action`` (reset / create) to a commit whose files gc deleted.

    Raises:
        CheckFailed: the commit's files are gone (nothing was changed).
        RefNotFound: no such commit.
    """
    if is_ref_head(catalog, spec):
        return
    missing = missing_files(catalog, spec)
    if not missing:
        return
    tables = ", ".join(t for t, _ in missing)
    raise CheckFailed(
        f"cannot {action} {spec}: gc has deleted files of that commit ({tables}; e.g. {missing[0][1]})",
        unchanged="no ref was created or changed",
        hint="pick a newer commit (`branchops branch log REF`); gc keeps commits younger than gc_retention "
             "and every ref's current tables",
    )
