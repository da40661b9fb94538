"""branchops: a zero-copy branch of the lakehouse for every pull request of a dbt project."""

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
from branchops.gc import collect_garbage
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
