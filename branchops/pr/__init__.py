"""The PR lifecycle: a branch per pull request, built, diffed, reported, merged on approval.

State machine (:mod:`lifecycle`), reporter (:mod:`reporter`: GitHub or the terminal) and renderer
(:mod:`render`: markdown) are kept apart; the data they share is in :mod:`model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from branchops._lazy import lazy_exports

if TYPE_CHECKING:  # the real imports, for type checkers; at run time each name loads on first use
    from branchops.pr.lifecycle import PullRequests
    from branchops.pr.model import (
        BuildOutcome,
        OnConflict,
        Outcome,
        PrDiff,
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
    "PrDiff",
    "PullRequests",
    "Reporter",
    "Status",
    "Step",
    "TestSummary",
    "Validation",
    "pr_branch_name",
]

_EXPORTS = {
    "BuildOutcome": "branchops.pr.model",
    "OnConflict": "branchops.pr.model",
    "Outcome": "branchops.pr.model",
    "PrDiff": "branchops.pr.model",
    "PullRequests": "branchops.pr.lifecycle",
    "Reporter": "branchops.pr.reporter",
    "Status": "branchops.pr.model",
    "Step": "branchops.pr.model",
    "TestSummary": "branchops.pr.model",
    "Validation": "branchops.pr.model",
    "pr_branch_name": "branchops.pr.model",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
