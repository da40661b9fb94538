"""What a base's log says about a PR's merges: whether (and where) it already landed, and the
dbt artifacts its build stored. The merge path re-reads these on every attempt, so that a merge
re-run after a crash finds its own commit instead of merging twice."""

from __future__ import annotations

from typing import Any

from branchops.catalog.base import Commit, VersionedCatalog
from branchops.dbt.artifacts import MANIFEST_PROPERTY
from branchops.errors import RefNotFound
from branchops.pr.code_merge import undone_merges
from branchops.pr.model import MERGE_OP, OPERATION, PR_PROPERTY, Validation

#: How far back in the base's log a re-run looks for its own merge commit.
MERGED_SCAN = 500
#: commit properties of a dbt build that name its stored artifacts (manifest, run results)
DBT_ARTIFACT_PREFIX = "branchops.dbt."


def find_merge(
    catalog: VersionedCatalog, base: str, pr: int, sha: str | None, validation: str | None,
    stop_at: str | None = None,
) -> Commit | None:
    """The merge commit of this PR (and sha / validation) on the base, newest first; merges an
    undo commit has undone do not count."""
    try:
        log = catalog.log(base, limit=MERGED_SCAN)
    except RefNotFound:
        return None
    undone = undone_merges(log)  # a merge whose code merge was refused was undone: not merged
    for c in log:
        if c.hash == stop_at:
            return None  # merges of this validation can only be newer than its fork point
        p = c.properties
        if p.get(OPERATION) != MERGE_OP or p.get(PR_PROPERTY) != str(pr) or c.hash in undone:
            continue
        if validation is not None:
            if p.get(f"{PR_PROPERTY}.validation") == validation:
                return c
        elif sha is None or p.get(f"{PR_PROPERTY}.sha") == sha:
            return c
    return None


def build_artifacts(catalog: VersionedCatalog, branch: str, v: Validation) -> dict[str, str]:
    """The dbt artifacts the PR's build stored, carried into the merge commit: the code that
    lands is what the next PR's ``state:modified+`` compares against."""
    for c in catalog.log(f"{branch}@{v.commit}", limit=50):
        if c.hash == v.base_hash:
            break
        found = {k: val for k, val in c.properties.items() if k.startswith(DBT_ARTIFACT_PREFIX)}
        if MANIFEST_PROPERTY in found:
            return found
    return {}


def merge_info(c: Commit, base: str) -> dict[str, Any]:
    """The ``merge`` object of an outcome, read back from a merge commit."""
    p = c.properties
    return {"target": base, "hash": c.hash, "previous_hash": p.get("branchops.previous_hash"),
            "approvers": p.get(f"{PR_PROPERTY}.approvers"), "run_url": p.get(f"{PR_PROPERTY}.run_url"),
            "timestamp": c.timestamp}
