"""Every failure of a sync mapped to an outcome the PR shows (sqlmesh's bot does the same): the
sticky comment and the check say what broke, in which step, and that the base was not changed,
instead of the previous run's comment staying as if nothing happened.
"""

from __future__ import annotations

from enum import StrEnum

from branchops.errors import BackendError, BranchopsError, CheckFailed, ConfigError, UsageError
from branchops.pr.model import Outcome, Status


class SyncStep(StrEnum):
    """The step of a sync that was running when it failed."""

    FORK = "fork"
    BUILD = "build"
    DIFF = "diff"
    RECORD = "record"


def _kind(error: BaseException) -> str:
    """What kind of failure ``error`` is, in the words the comment uses."""
    if isinstance(error, BackendError):
        return "a server or store failed (catalog, engine or object store)"
    if isinstance(error, UsageError | ConfigError):
        return "the configuration or input was refused"
    if isinstance(error, CheckFailed):
        return "a check said no"
    if isinstance(error, BranchopsError):
        return "branchops stopped"
    if isinstance(error, OSError):
        return "a file or network operation failed"
    return "an unexpected error"


def failure_outcome(
    error: BaseException, *, pr: int, branch: str, sha: str, base: str, step: SyncStep
) -> Outcome:
    """The outcome of a sync that ``error`` stopped during ``step``."""
    message = error.message if isinstance(error, BranchopsError) else str(error)
    reason = (f"the {step.value} step failed, {_kind(error)}: {type(error).__name__}: {message}; "
              f"{base} was not changed and {branch} holds no new validation: re-run the sync")
    return Outcome("sync", pr, branch, Status.FAILED, sha=sha, base=base, reason=reason)
