"""The PR lifecycle: a branch per pull request, built, diffed, reported, merged on approval.

State machine (:mod:`lifecycle`), reporter (:mod:`reporter`: GitHub or the terminal) and renderer
(:mod:`render`: markdown) are kept apart; the data they share is in :mod:`model`.
"""

from branchops.pr.lifecycle import PullRequests
from branchops.pr.model import (
    BuildOutcome,
    OnConflict,
    Outcome,
    Status,
    Step,
    TestSummary,
    Validation,
    pr_branch_name,
)
from branchops.pr.reporter import Reporter

__all__ = [
    "BuildOutcome",
    "OnConflict",
    "Outcome",
    "PullRequests",
    "Reporter",
    "Status",
    "Step",
    "TestSummary",
    "Validation",
    "pr_branch_name",
]
