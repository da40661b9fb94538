"""branchops: a zero-copy branch of the lakehouse for every pull request of a dbt project."""

from __future__ import annotations

from typing import TYPE_CHECKING

from branchops._lazy import lazy_exports

if TYPE_CHECKING:  # the real imports, for type checkers; at run time each name loads on first use
    from branchops.catalog.base import (
        NO_ANCESTOR,
        ChangeKind,
        Commit,
        MergeResult,
        Ref,
        RefType,
        TableChange,
        VersionedCatalog,
    )
    from branchops.config import Settings, load_settings
    from branchops.dbt import DbtRunFailed, DbtRunResult, build, run_dbt
    from branchops.diff import DiffOptions, diff_refs, render_markdown
    from branchops.errors import (
        BranchopsError,
        CheckFailed,
        ConfigError,
        InputError,
        MergeConflict,
        PermissionDenied,
        ProtectedRef,
        ReferenceConflict,
        RefNotFound,
        SchemaMismatch,
    )
    from branchops.gc.collect import collect_garbage
    from branchops.lakehouse import IngestResult, Lakehouse, WriteSession, connect
    from branchops.pr import PullRequests, Reporter

__version__ = "0.1.0"

__all__ = [
    "NO_ANCESTOR",
    "BranchopsError",
    "ChangeKind",
    "CheckFailed",
    "Commit",
    "ConfigError",
    "DbtRunFailed",
    "DbtRunResult",
    "DiffOptions",
    "IngestResult",
    "InputError",
    "Lakehouse",
    "MergeConflict",
    "MergeResult",
    "PermissionDenied",
    "ProtectedRef",
    "PullRequests",
    "Ref",
    "RefNotFound",
    "RefType",
    "ReferenceConflict",
    "Reporter",
    "SchemaMismatch",
    "Settings",
    "TableChange",
    "VersionedCatalog",
    "WriteSession",
    "__version__",
    "build",
    "collect_garbage",
    "connect",
    "diff_refs",
    "load_settings",
    "render_markdown",
    "run_dbt",
]

_EXPORTS = {
    "NO_ANCESTOR": "branchops.catalog.base",
    "BranchopsError": "branchops.errors",
    "ChangeKind": "branchops.catalog.base",
    "CheckFailed": "branchops.errors",
    "Commit": "branchops.catalog.base",
    "ConfigError": "branchops.errors",
    "DbtRunFailed": "branchops.dbt",
    "DbtRunResult": "branchops.dbt",
    "DiffOptions": "branchops.diff",
    "IngestResult": "branchops.lakehouse",
    "InputError": "branchops.errors",
    "Lakehouse": "branchops.lakehouse",
    "MergeConflict": "branchops.errors",
    "MergeResult": "branchops.catalog.base",
    "PermissionDenied": "branchops.errors",
    "ProtectedRef": "branchops.errors",
    "PullRequests": "branchops.pr",
    "Ref": "branchops.catalog.base",
    "RefNotFound": "branchops.errors",
    "RefType": "branchops.catalog.base",
    "ReferenceConflict": "branchops.errors",
    "Reporter": "branchops.pr",
    "SchemaMismatch": "branchops.errors",
    "Settings": "branchops.config",
    "TableChange": "branchops.catalog.base",
    "VersionedCatalog": "branchops.catalog.base",
    "WriteSession": "branchops.lakehouse",
    "build": "branchops.dbt",
    "collect_garbage": "branchops.gc.collect",
    "connect": "branchops.lakehouse",
    "diff_refs": "branchops.diff",
    "load_settings": "branchops.config",
    "render_markdown": "branchops.diff",
    "run_dbt": "branchops.dbt",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
