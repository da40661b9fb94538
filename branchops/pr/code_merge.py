"""Code and data land together (``pr merge --merge-code``): the undo of a data merge whose code
merge GitHub or GitLab refused, and how a re-run recognises a merge that was undone.

The data merge goes first (one atomic catalog commit), then the code merge pinned to the
validated sha. When the forge refuses, the tables that merge moved are set back to their
pointers before it, as one new commit on the base (the merge commit and the undo both stay in
the log: the audit trail). When the base has not moved since, that leaves it exactly at its
previous state; when other merges landed since, they are kept, and an undo that would touch a
table changed since is refused instead of guessed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from branchops.catalog.base import Commit, VersionedCatalog, pointer_diff
from branchops.errors import BackendError, BranchopsError, ReferenceConflict
from branchops.pr.github import CodeMerge
from branchops.pr.model import OPERATION, PR_PROPERTY, Outcome, Status

if TYPE_CHECKING:  # not the lifecycle, which calls land_code: it passes what the code merge uses
    from branchops.lakehouse import Lakehouse
    from branchops.pr.reporter import Reporter

UNDO_OP = "pr-merge-undo"
#: the property of an undo commit naming the merge commit it undid
UNDOES = f"{PR_PROPERTY}.undoes"
UNDO_RETRIES = 5


def undone_merges(log: Iterable[Commit]) -> set[str]:
    """Hashes of merge commits that an undo commit in ``log`` undid."""
    return {c.properties[UNDOES] for c in log if c.properties.get(OPERATION) == UNDO_OP and UNDOES in c.properties}


def undo_merge(
    catalog: VersionedCatalog, base: str, merge: Commit, code: CodeMerge, *, author: str | None = None
) -> Commit:
    """Set the tables ``merge`` moved on ``base`` back to their pointers before it, in one commit.

    Raises:
        BackendError: a table the merge moved has changed on ``base`` since (nothing written).
    """
    merged = catalog.tables(f"@{merge.hash}")
    before = catalog.tables(f"@{merge.parent}")
    restore = {c.table: c.after for c in pointer_diff(merged, before)}
    props = {
        OPERATION: UNDO_OP, PR_PROPERTY: merge.properties.get(PR_PROPERTY, ""),
        f"{PR_PROPERTY}.sha": merge.properties.get(f"{PR_PROPERTY}.sha", ""),
        UNDOES: merge.hash, f"{PR_PROPERTY}.code_merge": json.dumps(code.to_dict()),
        "branchops.reset_to": merge.parent, "branchops.previous_hash": merge.hash,
    }
    message = (f"undo merge of PR #{merge.properties.get(PR_PROPERTY)} ({merge.hash[:12]}): the code merge was refused "
               f"({code.status}: {code.message})")
    for _ in range(UNDO_RETRIES):
        head = catalog.get_ref(base).hash
        if head != merge.hash:
            now = catalog.tables(base)
            moved = sorted(t for t in restore if now.get(t) != merged.get(t))
            if moved:
                raise BackendError(
                    f"the code merge was refused ({code.status}: {code.message}), but the data merge "
                    f"{merge.hash[:12]} cannot be undone: {', '.join(moved)} changed on {base} since",
                    unchanged=f"{base} keeps the PR's data and the later changes",
                    hint=f"decide by hand: `branchops branch reset {base} --to {merge.parent[:12]}` "
                    "drops the later changes too",
                )
        try:
            return catalog.commit(base, restore, message, properties=props, expected_hash=head, author=author)
        except ReferenceConflict:
            continue  # the base moved between the read and the write: look again
    raise BackendError(f"{base} kept moving while undoing the data merge {merge.hash[:12]}",
                       unchanged=f"{base} still holds the PR's data",
                       hint="re-run the same `branchops pr merge --merge-code` command: it undoes or finishes")


def land_code(
    lh: Lakehouse, reporter: Reporter, outcome: Outcome, *, drop_branch: Callable[[str], None],
    progress: Callable[[str], None],
) -> Outcome:
    """The code merge after the data merge ``outcome.hash``. A re-run after a crash between the
    two asks the forge first: merged already -> done; else it merges the code now, or undoes.
    ``drop_branch`` drops the PR's branch once the code landed."""
    pr, sha, base = outcome.pr, str(outcome.sha), str(outcome.base or lh.main)
    merge = lh.catalog.get_commit(str(outcome.hash))
    try:
        code = reporter.code_merged(pr) or reporter.merge_code(
            pr, sha, f"Merge PR #{pr} ({sha[:12]}); its data landed in {base} as {merge.hash[:12]} (branchops)")
    except BranchopsError as e:
        raise BackendError(
            f"{e.message}; the data of PR #{pr} is merged into {base} ({merge.hash[:12]}) but whether its "
            "code merged is not known",
            unchanged=f"{base} holds the PR's data; {outcome.branch} is kept",
            hint=f"re-run `branchops pr merge --pr {pr} --sha {sha} --merge-code`: it finishes the code "
            "merge or undoes the data merge",
        ) from None
    assert code is not None  # PullRequests.merge refused already when no forge is configured
    outcome.code = code.to_dict()
    if code.merged:
        drop_branch(outcome.branch)
        outcome.reason = f"the code landed too: PR #{pr} merged at {sha[:12]}" + (
            f" as {code.sha[:12]}" if code.sha else "")
        return outcome
    undo = undo_merge(lh.catalog, base, merge, code, author=lh.settings.author_name)
    progress(f"the code merge was refused ({code.status}); undid the data merge {merge.hash[:12]}")
    forge = "GitHub" if reporter.github is not None else "GitLab"
    return Outcome(
        "merge", pr, outcome.branch, Status.REFUSED, sha=sha, base=base, hash=undo.hash,
        validation=outcome.validation, code=code.to_dict() | {"undone_merge": merge.hash, "undo": undo.hash},
        reason=f"{forge} refused to merge the code of {sha[:12]} ({code.status}: {code.message}); the data "
        f"merge {merge.hash[:12]} was undone: {base}'s tables are back as before it (undo commit "
        f"{undo.hash[:12]}); {outcome.branch} is kept: fix the PR, then run `pr merge` again",
    )
