"""dbt's run artifacts stored with the commits that publish a build, and found again for state.

Each publishing invocation writes ``manifest.json`` and ``run_results.json`` to
``<warehouse>/_dbt_artifacts/<invocation id>/`` and names them in its commit's properties
(:data:`MANIFEST_PROPERTY`, :data:`RUN_RESULTS_PROPERTY`). ``state:modified+`` on a PR compares
against the manifest of the newest such commit on the base ref.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyiceberg.io import load_file_io

if TYPE_CHECKING:
    from branchops.catalog.base import Commit, VersionedCatalog

#: the commit property naming a build's manifest: the one place its name is written
MANIFEST_PROPERTY = "branchops.dbt.manifest"
RUN_RESULTS_PROPERTY = "branchops.dbt.run_results"
#: dbt's partial-parse state of the build: the next run of the same code parses only what changed
PARTIAL_PARSE_PROPERTY = "branchops.dbt.partial_parse"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
#: the JSON schemas dbt validated with in that build (``branchops.dbt.speedups``)
SCHEMAS_PROPERTY = "branchops.dbt.schemas"
ARTIFACTS_FOLDER = "_dbt_artifacts"


@dataclass(frozen=True)
class StoredBuild:
    """The dbt build a commit records: where its artifacts are."""

    commit: str
    manifest: str
    run_results: str | None
    partial_parse: str | None = None
    schemas: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"commit": self.commit, "manifest": self.manifest, "run_results": self.run_results,
                "partial_parse": self.partial_parse, "schemas": self.schemas}


def _stored(commit: Commit) -> StoredBuild | None:
    manifest = commit.properties.get(MANIFEST_PROPERTY)
    if not manifest:
        return None
    return StoredBuild(commit.hash, manifest, commit.properties.get(RUN_RESULTS_PROPERTY),
                       commit.properties.get(PARTIAL_PARSE_PROPERTY), commit.properties.get(SCHEMAS_PROPERTY))


class Lookup(enum.Enum):
    """``stored=NOT_LOOKED_UP``: the caller has not looked the build up (None means it found none)."""

    NOT_LOOKED_UP = "not looked up"


NOT_LOOKED_UP = Lookup.NOT_LOOKED_UP


def known_build(catalog: VersionedCatalog, ref: str, stored: StoredBuild | Lookup | None) -> StoredBuild | None:
    """``stored`` as the caller looked it up once (a sync passes it down), else :func:`find_build`."""
    return find_build(catalog, ref) if stored is NOT_LOOKED_UP else stored


def find_build(catalog: VersionedCatalog, ref: str) -> StoredBuild | None:
    """The newest dbt build that produced what ``ref`` holds.

    Walks ``ref``'s first-parent log; a merge commit without artifacts of its own (a merged PR)
    is described by the newest build on its merged side, which was built on top of ``ref``.
    """
    for commit in catalog.log(ref):
        found = _stored(commit)
        if found is not None:
            return found
        if commit.merge_parent:
            for side in catalog.log(f"@{commit.merge_parent}"):
                found = _stored(side)
                if found is not None:
                    return found
    return None


def store_artifacts(
    catalog: VersionedCatalog, target_path: Path, invocation_id: str, *, ref: str | None = None
) -> dict[str, str]:
    """Copy the run's artifacts into the warehouse (under the folder of ``ref``, the ref the run
    publishes to: :mod:`branchops.security.storage`); returns the commit properties naming them."""
    from branchops.dbt.speedups import SCHEMAS_FILE, write_schemas
    from branchops.security.storage import branch_root

    write_schemas(target_path / SCHEMAS_FILE)
    root = (branch_root(catalog.warehouse, ref, catalog.protected) if ref else None) or catalog.warehouse
    folder = f"{root}/{ARTIFACTS_FOLDER}/{invocation_id}"
    io = load_file_io(properties=catalog.io_properties, location=folder)
    props: dict[str, str] = {}
    for name, key in (("manifest.json", MANIFEST_PROPERTY), ("run_results.json", RUN_RESULTS_PROPERTY),
                      (PARTIAL_PARSE_FILE, PARTIAL_PARSE_PROPERTY), (SCHEMAS_FILE, SCHEMAS_PROPERTY)):
        source = target_path / name
        if not source.is_file():
            continue
        location = f"{folder}/{name}"
        with io.new_output(location).create(overwrite=True) as out:
            out.write(source.read_bytes())
        props[key] = location
    return props


def read_artifact(catalog: VersionedCatalog, location: str) -> bytes:
    """A stored artifact's bytes, through the warehouse's FileIO (local disk or S3)."""
    io = load_file_io(properties=catalog.io_properties, location=location)
    with io.new_input(location).open() as f:
        return f.read()


def fetch(catalog: VersionedCatalog, location: str, dest: Path) -> Path:
    """Copy a stored artifact to a local file."""
    data = read_artifact(catalog, location)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return dest


def load_manifest(catalog: VersionedCatalog, ref: str, stored: StoredBuild | Lookup | None = NOT_LOOKED_UP
                  ) -> dict[str, Any] | None:
    """The manifest of the build :func:`find_build` finds for ``ref`` (``stored``: if the caller
    looked it up already), parsed; None when there is no build, or its manifest is gone or
    unreadable (a diff then goes without the manifest's keys)."""
    stored = known_build(catalog, ref, stored)
    if stored is None:
        return None
    try:
        manifest: dict[str, Any] = json.loads(read_artifact(catalog, stored.manifest))
    except (OSError, ValueError):
        return None
    return manifest


def version_note(manifest_path: Path) -> str | None:
    """A note when the stored manifest a PR compares against was written by another dbt minor
    version (after an upgrade). dbt 1.11 reads 1.10's manifests (both schema v12) and compares
    node by node, so ``state:modified`` still selects only what the PR changed; the note says so,
    so nobody wonders why the first PR after an upgrade looked different."""
    from dbt.version import __version__ as current

    meta = json.loads(manifest_path.read_text()).get("metadata", {})
    stored, schema = str(meta.get("dbt_version") or "unknown"), str(meta.get("dbt_schema_version") or "")
    if stored.split(".")[:2] == current.split(".")[:2]:
        return None
    version = schema.rsplit("/", 1)[-1].removesuffix(".json") or "unknown"
    return (f"the base's stored build was made by dbt {stored}; this run (dbt {current}) compared against it "
            f"node by node (manifest schema {version}), so state:modified selected what the change touches")

