"""Is a commit still readable? ``branch reset --to`` and ``branch create --from @HASH`` ask first.

A ref's head is always readable (gc keeps everything a ref uses). An older commit is readable
while gc has not collected its files: older than the retention window and no longer used by any
ref, its metadata, manifests and data files are deleted. Resetting or forking to such a commit
would leave a ref whose every read fails; it is refused instead (exit 1), with nothing changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from branchops.errors import CheckFailed, RefNotFound

if TYPE_CHECKING:
    from branchops.catalog.base import VersionedCatalog


def is_ref_name(catalog: VersionedCatalog, spec: str) -> bool:
    if "@" in spec:
        return False
    try:
        catalog.get_ref(spec)
    except RefNotFound:
        return False
    return True


def missing_files(catalog: VersionedCatalog, spec: str) -> list[tuple[str, str]]:
    """``(table, missing file)`` for each table of ``spec`` whose current snapshot cannot be read
    whole: its metadata file, manifest list, manifests or data files gone."""
    from pyiceberg.io import load_file_io
    from pyiceberg.serializers import FromInputFile

    out: list[tuple[str, str]] = []
    for table, location in sorted(catalog.tables(spec).items()):
        io = load_file_io(properties=catalog.io_properties, location=location)
        try:
            meta = FromInputFile.table_metadata(io.new_input(location))
            snap = meta.snapshot_by_id(meta.current_snapshot_id) if meta.current_snapshot_id is not None else None
            if snap is None:
                continue
            for manifest in snap.manifests(io):
                for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                    path = entry.data_file.file_path
                    if not io.new_input(path).exists():
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
    if is_ref_name(catalog, spec):
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
