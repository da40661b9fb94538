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
from branchops.errors import (
    BranchopsError,
    CheckFailed,
    ConfigError,
    InputError,
    MergeConflict,
    ProtectedRef,
    ReferenceConflict,
    RefNotFound,
    SchemaMismatch,
)
from branchops.lakehouse import IngestResult, Lakehouse, WriteSession, connect

__version__ = "0.1.0"

__all__ = [
    "NO_ANCESTOR",
    "BranchopsError",
    "ChangeKind",
    "CheckFailed",
    "Commit",
    "ConfigError",
    "IngestResult",
    "InputError",
    "Lakehouse",
    "MergeConflict",
    "MergeResult",
    "ProtectedRef",
    "Ref",
    "RefNotFound",
    "RefType",
    "ReferenceConflict",
    "SchemaMismatch",
    "Settings",
    "TableChange",
    "VersionedCatalog",
    "WriteSession",
    "__version__",
    "connect",
    "load_settings",
]
