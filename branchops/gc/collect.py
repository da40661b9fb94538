"""Garbage collection: drop idle PR branches, then delete warehouse files nothing references.

Branch-aware: a file is kept when any ref (branch, tag, or branchops' own write branches) or
any commit made within the retention window can reach it, walking each referenced metadata file
down to its data: metadata log, snapshots' manifest lists, manifests, data and delete files,
statistics files. Files modified within the retention window are kept too, so a write in flight
(files written, pointer not yet committed) is never collected; keep the retention longer than
the longest write. A metadata file a ref uses that cannot be read stops the run before anything
is deleted; a missing one of a commit only the retention window keeps was collected by an earlier
gc (with a shorter retention) and is skipped.

In-flight writes are never touched (:mod:`branchops.wap`): a write-audit-publish branch is dropped
only when its writer is gone (on this host: its process ended; on another: its lease ran out),
and no unreferenced file newer than the oldest live writer's start is deleted. A ``pr`` command
holds such a lease on its PR branch while it runs: that branch is not dropped, whatever the TTL.

Files are listed and deleted by :mod:`branchops.gc.store` (a local folder through ``pyarrow.fs``,
S3 through boto3, in batches) and read through pyiceberg's FileIO, so both stacks share this
code. gc checks that it may list the warehouse before it drops any branch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pyiceberg.io import FileIO, load_file_io
from pyiceberg.serializers import FromInputFile

from branchops import progress, wap
from branchops.catalog.base import INTERNAL_PREFIX, RefType, VersionedCatalog
from branchops.errors import BackendError, ReferenceConflict, RefNotFound, UsageError
from branchops.gc.store import StoredFile, is_access_denied, normalize, open_store, storage_error
from branchops.lakehouse import Lakehouse
from branchops.secrets import redact

#: Only files that look like Iceberg's are ever deleted (never a dbt manifest or a user's file).
ICEBERG_SUFFIXES = (".parquet", ".avro", ".orc", ".puffin", ".metadata.json", ".stats")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"0s"`` -> a timedelta."""
    m = _DURATION.match(text or "")
    if not m:
        raise UsageError(f"bad duration {text!r}", hint="write a number and a unit: 30m, 12h, 7d, 2w")
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


@dataclass
class GcResult:
    dry_run: bool
    ttl: str
    retention: str
    dropped_branches: list[dict[str, str]] = field(default_factory=list)
    referenced_files: int = 0
    deleted_files: int = 0
    bytes_freed: int = 0
    kept_recent_files: int = 0
    skipped_collected: int = 0  # metadata files of commits an earlier gc collected
    deleted: list[str] = field(default_factory=list)  # the first few, for people

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "ttl": self.ttl, "retention": self.retention,
            "dropped_branches": self.dropped_branches, "referenced_files": self.referenced_files,
            "deleted_files": self.deleted_files, "bytes_freed": self.bytes_freed,
            "kept_recent_files": self.kept_recent_files, "skipped_collected_commits": self.skipped_collected,
            "deleted_sample": self.deleted[:20],
        }


class ReferenceWalker:
    """Every file reachable from a set of metadata files (caches shared manifests)."""

    def __init__(self, io_properties: dict[str, str]) -> None:
        self.props = io_properties
        self.files: set[str] = set()
        self._seen_metadata: set[str] = set()
        self._seen_manifests: set[str] = set()
        self.missing: set[str] = set()  # metadata files of collected commits, skipped

    def _io(self, location: str) -> FileIO:
        return load_file_io(properties=self.props, location=location)

    def add_metadata(self, location: str, *, required: bool = True) -> None:
        """Keep ``location`` and every file it reaches. A missing file of a commit that only the
        retention window keeps (``required=False``) was collected by an earlier gc: it is skipped
        (counted in ``missing``), so a shorter retention once never wedges gc. What such a commit
        still reaches is kept.

        Raises:
            BackendError: a file a ref needs is missing or unreadable (nothing is deleted then).
        """
        key = normalize(location)
        if key in self._seen_metadata:
            return
        try:
            self._walk(location, key)
        except FileNotFoundError as e:
            if not required:
                self.missing.add(key)
                return
            raise BackendError(
                redact(f"gc could not read {getattr(e, 'filename', None) or location}: it is missing, "
                       f"and a ref uses it (through {location})"),
                unchanged="no file was deleted",
                hint="restore the file, or reset / drop the ref that uses it, then run gc again",
            ) from None
        self._seen_metadata.add(key)

    def _walk(self, location: str, key: str) -> None:
        io = self._io(location)
        try:
            meta = FromInputFile.table_metadata(io.new_input(location))
        except FileNotFoundError:
            raise
        except OSError as e:
            if is_access_denied(e):
                raise storage_error(e, f"read metadata file {location}", unchanged="no file was deleted") from None
            raise BackendError(
                redact(f"gc could not read metadata file {location}: {type(e).__name__}: {e}"),
                unchanged="no file was deleted", hint="restore the file or fix the table, then run gc again",
            ) from None
        except Exception as e:  # unreadable: we cannot know what it references, so delete nothing
            raise BackendError(
                f"gc could not read metadata file {location}: {type(e).__name__}: {e}",
                unchanged="no file was deleted",
                hint="restore the file or fix the table, then run gc again",
            ) from None
        self.files.add(key)
        self.files.update(normalize(e.metadata_file) for e in meta.metadata_log)
        for stats in [*meta.statistics, *meta.partition_statistics]:
            self.files.add(normalize(stats.statistics_path))
        for snap in meta.snapshots:
            if snap.manifest_list:
                self.files.add(normalize(snap.manifest_list))
            for manifest in snap.manifests(io):
                mkey = normalize(manifest.manifest_path)
                self.files.add(mkey)
                if mkey in self._seen_manifests:
                    continue
                for entry in manifest.fetch_manifest_entry(io, discard_deleted=False):
                    self.files.add(normalize(entry.data_file.file_path))
                self._seen_manifests.add(mkey)  # only once read whole


def _idle_branches(
    catalog: VersionedCatalog, pr_prefix: str, ttl: timedelta, lease: timedelta, now: datetime
) -> list[Any]:
    """PR branches idle longer than the TTL, and write-audit-publish branches no live writer owns
    (:mod:`branchops.wap`: never one of a running process, whatever the TTL). A PR branch a live
    ``pr`` command holds a lease on is not idle, whatever the TTL."""
    out = []
    leased = wap.leased_branches(catalog, lease, now)
    for ref in catalog.list_refs(include_internal=True):
        if ref.type is not RefType.BRANCH or ref.name in catalog.protected:
            continue
        internal = ref.name.startswith(INTERNAL_PREFIX)
        if not internal and not ref.name.startswith(pr_prefix):
            continue
        try:
            updated = datetime.fromisoformat(catalog.ref_updated_at(ref.name))
        except RefNotFound:
            continue
        if internal:
            if not wap.is_live(ref.name, lease, now, updated):
                out.append((ref, now - updated))
        elif now - updated > ttl and ref.name not in leased:
            out.append((ref, now - updated))
    return out


def _referenced(catalog: VersionedCatalog, walker: ReferenceWalker, cutoff: datetime, skip: set[str]) -> None:
    for ref in catalog.list_refs(include_internal=True):
        if ref.name in skip:
            continue
        try:
            locations = catalog.tables(ref.name).values()
        except RefNotFound:
            continue  # dropped meanwhile
        for loc in locations:
            walker.add_metadata(loc)
    for loc in catalog.metadata_locations_since(cutoff.isoformat(timespec="microseconds")):
        walker.add_metadata(loc, required=False)


def collect_garbage(
    lakehouse: Lakehouse, *, older_than: str | None = None, dry_run: bool = False, now: datetime | None = None
) -> GcResult:
    """Drop ``pr-*`` and stale ``branchops-wap-*`` branches idle longer than the TTL, then delete
    unreferenced warehouse files older than the retention window.

    Raises:
        UsageError (bad duration), BackendError (a metadata file could not be read: nothing deleted).
    """
    settings, catalog = lakehouse.settings, lakehouse.catalog
    ttl_text = older_than or settings.gc_ttl
    ttl, retention = parse_duration(ttl_text), parse_duration(settings.gc_retention)
    now = now or datetime.now(UTC)
    result = GcResult(dry_run=dry_run, ttl=ttl_text, retention=settings.gc_retention)
    store = open_store(catalog.warehouse, catalog.io_properties)
    store.check()
    dropped: set[str] = set()
    lease = parse_duration(settings.gc_wap_lease)
    idle_refs = list(_idle_branches(catalog, settings.pr_branch_prefix, ttl, lease, now))
    for i, (ref, idle) in enumerate(idle_refs, 1):
        progress.step(i, len(idle_refs), f"gc: {'would drop' if dry_run else 'dropping'} idle branch {ref.name}")
        if not dry_run:
            if not ref.name.startswith(INTERNAL_PREFIX) and ref.name in wap.leased_branches(catalog, lease, now):
                continue  # a pr command took it up since the listing
            try:
                lakehouse.drop_branch(ref.name, expected_hash=ref.hash)
            except (RefNotFound, ReferenceConflict):
                continue  # written or dropped meanwhile: not idle after all
        dropped.add(ref.name)
        result.dropped_branches.append({"name": ref.name, "hash": ref.hash, "idle": str(idle).split(".")[0]})

    cutoff = now - retention
    # Files a live writer wrote but has not committed yet are newer than its start: keep them.
    writers_since = wap.live_since(catalog, lease, now)
    file_cutoff = min(cutoff, writers_since) if writers_since is not None else cutoff
    walker = ReferenceWalker(catalog.io_properties)
    progress.step(None, None, "gc: reading what every ref references")
    _referenced(catalog, walker, cutoff, dropped if dry_run else set())
    listed = [f for f in store.list() if f.path.endswith(ICEBERG_SUFFIXES)]
    # Second look: a commit that landed while we listed is seen now (its files are then kept).
    _referenced(catalog, walker, cutoff, dropped if dry_run else set())
    result.referenced_files = len(walker.files)
    result.skipped_collected = len(walker.missing)
    doomed: list[StoredFile] = []
    for f in listed:
        if f.path in walker.files:
            continue
        if f.mtime >= file_cutoff:
            result.kept_recent_files += 1
            continue
        doomed.append(f)
    for start in range(0, len(doomed), store.BATCH):
        batch = doomed[start:start + store.BATCH]
        progress.step(start + len(batch), len(doomed), f"gc: {'would delete' if dry_run else 'deleting'} "
                                                       "unreferenced files")
        if not dry_run:
            try:
                store.delete([f.path for f in batch])
            except BackendError as e:
                e.unchanged = (f"every file a ref uses is still there; {result.deleted_files} unreferenced file(s) "
                               f"({result.bytes_freed} bytes) were deleted before the failure")
                raise
        for f in batch:
            result.deleted_files += 1
            result.bytes_freed += f.size
            if len(result.deleted) < 100:
                result.deleted.append(f.path)
    return result
