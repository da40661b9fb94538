"""The errors branchops raises, and the exit code each one maps to.

::

    BranchopsError                      exit 2 unless a subclass says otherwise
     +-- UsageError                     bad flags, bad arguments
     +-- ConfigError                    missing / malformed branchops.toml, bad settings
     +-- InputError                     a file that is missing, ragged or unparsable
     |    +-- SchemaMismatch            data whose schema does not fit the table's
     +-- InvalidRefName                 a ref name that breaks git's rules
     +-- RefNotFound                    no such branch, tag or commit
     +-- RefAlreadyExists               create of a ref that is there already
     +-- TableNotFound                  no such table on that ref
     +-- CheckFailed                    exit 1: something ran and said "no"
     |    +-- ReferenceConflict         the ref moved away from the expected hash
     |    +-- MergeConflict             both sides changed the same tables
     |    +-- ProtectedRef              drop of / direct write to a protected ref
     |    +-- DbtFailed                 a dbt model or test failed
     |    +-- PermissionDenied          the catalog or store refused this job's credentials
     +-- BackendError                   exit 1: a server or store failed (Nessie, Trino, S3)

Every error carries three parts a person needs: what happened (the message), what was left
unchanged (``unchanged``) and what to do next (``hint``). None of them may hold a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1
    USAGE = 2


class BranchopsError(Exception):
    """Base of every error branchops raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, unchanged: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.unchanged = unchanged
        self.hint = hint

    def details(self) -> dict[str, Any]:
        """Machine-readable extra fields for ``--output json``."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        if self.unchanged:
            out["unchanged"] = self.unchanged
        if self.hint:
            out["hint"] = self.hint
        out.update(self.details())
        return out

    def __str__(self) -> str:
        parts = [self.message]
        if self.unchanged:
            parts.append(f"Unchanged: {self.unchanged}")
        if self.hint:
            parts.append(f"Next: {self.hint}")
        return "\n".join(parts)


class UsageError(BranchopsError):
    pass


class ConfigError(BranchopsError):
    pass


class InputError(BranchopsError):
    pass


class SchemaMismatch(InputError):
    pass


class InvalidRefName(BranchopsError):
    pass


class RefNotFound(BranchopsError):
    pass


class RefAlreadyExists(BranchopsError):
    pass


class TableNotFound(BranchopsError):
    @classmethod
    def on_ref(cls, table: str, ref: str) -> TableNotFound:
        """``table`` is not on ``ref``, with where to look."""
        return cls(f"no table {table} on {ref}", hint=f"`branchops branch show {ref}` lists its tables")


class CheckFailed(BranchopsError):
    exit_code = ExitCode.CHECK_FAILED


class ReferenceConflict(CheckFailed):
    def __init__(self, ref: str, expected: str | None, actual: str | None, **kw: Any) -> None:
        kw.setdefault("unchanged", f"{ref} was not written")
        kw.setdefault("hint", f"re-read {ref} and retry against its current hash")
        super().__init__(f"ref {ref!r} is at {actual}, not at the expected {expected}", **kw)
        self.ref, self.expected, self.actual = ref, expected, actual

    def details(self) -> dict[str, Any]:
        return {"ref": self.ref, "expected_hash": self.expected, "actual_hash": self.actual}


class MergeConflict(CheckFailed):
    def __init__(self, source: str, target: str, conflicts: Sequence[str], **kw: Any) -> None:
        names = ", ".join(conflicts)
        kw.setdefault("unchanged", f"{target} was not written")
        kw.setdefault(
            "hint",
            f"rebuild {source} on top of the current {target} (or drop one side's change), then merge again",
        )
        super().__init__(f"cannot merge {source} into {target}: both changed {names}", **kw)
        self.source, self.target, self.conflicts = source, target, sorted(conflicts)

    def details(self) -> dict[str, Any]:
        return {"conflicts": self.conflicts}


class ProtectedRef(CheckFailed):
    pass


class DbtFailed(CheckFailed):
    pass


class PermissionDenied(CheckFailed):
    """The server refused the job's credentials; ``permission`` names what they lack."""

    def __init__(self, message: str, *, permission: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.permission = permission

    def details(self) -> dict[str, Any]:
        return {"permission": self.permission}


class BackendError(BranchopsError):
    exit_code = ExitCode.CHECK_FAILED
