"""The PR state machine: sync (fork, build, diff, record, report), status, merge with gates, close.

Its memory is the catalog itself: a sync records a :class:`Validation` as a properties-only
commit on ``pr-N``; a merge writes one squash commit on the base carrying the audit trail. So
every command can be re-run after a crash at any point: a sync redoes from a fresh fork, a merge
first looks in the base's log for its own merge commit (one an undo commit has not undone)
before merging again. With ``--merge-code`` the PR's code follows the data (pr/code_merge.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from branchops.catalog.base import Commit, MergeResult
from branchops.dbt.artifacts import find_build
from branchops.errors import (
    DbtFailed,
    MergeConflict,
    ReferenceConflict,
    RefNotFound,
    UsageError,
)
from branchops.lakehouse import Lakehouse
from branchops.pr.code_merge import land_code
from branchops.pr.failures import SyncStep, failure_outcome
from branchops.pr.github import MERGE_MARKER, run_url
from branchops.pr.merge_log import build_artifacts, find_merge, merge_info
from branchops.pr.model import (
    PR_PROPERTY,
    BuildOutcome,
    OnConflict,
    Outcome,
    PrDiff,
    Status,
    Step,
    TestSummary,
    Validation,
    merge_properties,
    pr_branch_name,
)
from branchops.pr.render import bi_relations, render_report
from branchops.pr.reporter import Reporter
from branchops.pr.steps import Builder, Differ, default_builder, default_differ
from branchops.wap import holds_pr_lease

#: How often a merge re-reads a base that keeps moving, and how often it rebuilds on conflict.
MOVED_RETRIES = 5
REBUILD_RETRIES = 3


class PullRequests:
    """The ``pr`` commands over one lakehouse."""

    def __init__(
        self,
        lakehouse: Lakehouse,
        reporter: Reporter,
        *,
        builder: Builder | None = None,
        differ: Differ | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.lh = lakehouse
        self.catalog = lakehouse.catalog
        self.reporter = reporter
        self.builder = builder or default_builder()
        self.differ = differ or default_differ()
        self.progress = progress or (lambda _msg: None)

    def branch(self, pr: int) -> str:
        return pr_branch_name(pr, self.lh.settings.pr_branch_prefix)

    _merge_code = False
    _step = SyncStep.FORK  # the step of the running sync, for the outcome of a failure

    # -- open / sync ----------------------------------------------------------------------
    @holds_pr_lease  # gc leaves pr-N alone while this runs
    def sync(self, pr: int, sha: str, project_dir: Path, base: str | None = None) -> Outcome:
        """Fork ``pr-N`` afresh from the base, build modified+, diff, record, report; the
        ``branchops`` check on ``sha`` is in progress meanwhile, then success or failure."""
        branch = self.branch(pr)
        if not sha.strip():
            raise UsageError("--sha must be the commit the PR's code is at")
        check = self.reporter.start_check(sha)
        self._step = SyncStep.FORK
        try:
            outcome, build, diff = self._validate(pr, sha, project_dir, base or self.lh.main)
        except Exception as e:
            failed = failure_outcome(e, pr=pr, branch=branch, sha=sha, base=base or self.lh.main, step=self._step)
            failed.report = render_report(failed, None, None)
            with contextlib.suppress(Exception):  # the error that stopped the sync is what to show
                self.reporter.publish(failed)  # replaces the previous run's comment
            with contextlib.suppress(Exception):
                self.reporter.finish_check(check, failed)
            raise
        outcome.report = render_report(outcome, build, diff)
        self.reporter.publish(outcome)
        self.reporter.finish_check(check, outcome)
        return outcome

    def _validate(
        self, pr: int, sha: str, project_dir: Path, base: str
    ) -> tuple[Outcome, BuildOutcome, PrDiff | None]:
        branch = self.branch(pr)
        if not sha.strip():
            raise UsageError("--sha must be the commit the PR's code is at")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        base_hash = self._fork(branch, base)
        timings["fork"] = time.perf_counter() - t0
        self.progress(f"forked {branch} from {base} at {base_hash[:12]}; building state:modified+")
        t1 = time.perf_counter()
        self._step = SyncStep.BUILD
        stored = find_build(self.catalog, f"{base}@{base_hash}")  # once per sync: build, drift and diff share it
        try:
            build = self.builder.build(self.lh, branch=branch, project_dir=project_dir, base=base, stored=stored)
        except DbtFailed as e:  # a failed model or test: nothing was published on the branch
            build = BuildOutcome(ok=False, errors=(e.message,), tests=TestSummary())
        timings["build"] = time.perf_counter() - t1
        diff: PrDiff | None = None
        if build.ok:
            self.progress("diffing every changed table against the base")
            t2 = time.perf_counter()
            self._step = SyncStep.DIFF
            # keys: from the dbt manifests stored with the refs; drift-free base: pr/drift_free.py
            diff = self.differ.diff(self.lh, base=f"{base}@{base_hash}", head=branch,
                                    project_dir=project_dir, built=build.built, stored=stored)
            timings["diff"] = time.perf_counter() - t2
        changed = sorted(t.table for t in diff.changed) if diff is not None else []
        tests_step = Step.PASSED if build.tests.ok else Step.FAILED
        if not build.ok and not build.tests.failed and build.errors:
            tests_step = Step.SKIPPED
        validation = Validation(
            pr=pr, sha=sha, base=base, base_hash=base_hash,
            status=Step.PASSED if build.ok and build.tests.ok else Step.FAILED,
            build=Step.PASSED if build.ok else Step.FAILED, tests=tests_step,
            changed_tables=tuple(changed), diff_summary=_summary(diff), run_url=run_url(),
        )
        self._step = SyncStep.RECORD
        commit = self.catalog.commit(
            branch, {}, f"validate PR #{pr} at {sha[:12]}: {validation.status.value}",
            properties=validation.to_properties(), author=self.lh.settings.author_name,
        )
        validation = Validation.from_properties(commit.properties, commit.hash, commit.timestamp) or validation
        timings["total"] = time.perf_counter() - t0
        outcome = Outcome(
            command="sync", pr=pr, branch=branch, sha=sha, base=base, hash=commit.hash,
            status=Status.PASSED if validation.passed else Status.FAILED,
            reason=None if validation.passed else "; ".join([*build.errors, *build.tests.failures][:5])
            or "the dbt build or its tests failed",
            changed_tables=changed, build=build.to_dict(), diff=diff.to_dict() if diff else None,
            validation=validation.to_dict(),
            timings=timings, bi_relations=bi_relations(self.lh.settings, branch, changed, self.catalog.tables(branch)),
        )
        return outcome, build, diff

    def _fork(self, branch: str, base: str) -> str:
        """A fresh fork of the base's current head; returns the hash it was forked at."""
        self.lh.require_branch(base)
        try:
            old = self.catalog.get_ref(branch)
            self.catalog.drop_branch(branch, expected_hash=old.hash)
        except RefNotFound:
            pass
        return self.catalog.create_branch(branch, from_ref=base).hash

    # -- status ---------------------------------------------------------------------------
    def latest_validation(self, pr: int) -> tuple[Validation | None, str | None]:
        """The newest validation of ``pr`` on its branch, and the branch's head (None: no branch)."""
        branch = self.branch(pr)
        try:
            head = self.catalog.get_ref(branch).hash
        except RefNotFound:
            return None, None
        for c in self.catalog.log(branch, limit=200):
            v = Validation.from_properties(c.properties, c.hash, c.timestamp)
            if v is not None and v.pr == pr:
                return v, head
        return None, head

    def status(self, pr: int) -> Outcome:
        branch = self.branch(pr)
        v, head = self.latest_validation(pr)
        if head is None:
            merged = find_merge(self.catalog, self.lh.main, pr, None, None)
            if merged is not None:
                return Outcome("status", pr, branch, Status.MERGED, sha=merged.properties.get(f"{PR_PROPERTY}.sha"),
                               base=self.lh.main, hash=merged.hash, merge=merge_info(merged, self.lh.main))
            return Outcome("status", pr, branch, Status.NOT_FOUND, reason=f"no branch {branch}")
        if v is None:
            return Outcome("status", pr, branch, Status.FAILED, hash=head, reason="not validated yet: run `pr sync`")
        stale = head != v.commit
        return Outcome(
            "status", pr, branch, Status.PASSED if v.passed and not stale else Status.FAILED, sha=v.sha,
            base=v.base, hash=head, changed_tables=list(v.changed_tables), validation=v.to_dict(),
            reason=f"{branch} was written after its validation" if stale else None,
        )

    # -- merge ----------------------------------------------------------------------------
    @holds_pr_lease
    def merge(
        self,
        pr: int,
        sha: str,
        *,
        on_conflict: OnConflict = OnConflict.FAIL,
        project_dir: Path | None = None,
        require_approval: bool | None = None,
        merge_code: bool = False,
    ) -> Outcome:
        """Gates, then the atomic data merge; with ``merge_code`` also the PR's code, pinned to
        ``sha``, through GitHub or GitLab: both land or neither (a refused code merge undoes the
        data merge, and the comment says why)."""
        self._merge_code = merge_code
        outcome = self._merge(pr, sha, on_conflict, project_dir,
                              self.lh.settings.require_approval if require_approval is None else require_approval)
        if merge_code and outcome.status in (Status.MERGED, Status.ALREADY_MERGED) and outcome.hash:
            outcome = land_code(self.lh, self.reporter, outcome, progress=self.progress,
                                drop_branch=lambda branch: self.drop_quietly(branch, None))
        outcome.report = render_report(outcome, None, None)
        self.reporter.publish(outcome, comment=merge_code, marker=MERGE_MARKER)
        return outcome

    def _merge(
        self, pr: int, sha: str, on_conflict: OnConflict, project_dir: Path | None, require_approval: bool
    ) -> Outcome:
        branch = self.branch(pr)
        if self._merge_code and self.reporter.forge is None:
            return self._refuse(pr, branch, sha, "--merge-code needs GitHub (GITHUB_TOKEN, GITHUB_REPOSITORY) or "
                                "GitLab (BRANCHOPS_GITLAB_TOKEN, CI_API_V4_URL, CI_PROJECT_ID) to merge the code")
        if on_conflict is OnConflict.REBUILD and project_dir is None:
            raise UsageError("--on-conflict rebuild needs --project-dir (the code that will land)")
        v, head = self.latest_validation(pr)
        if head is None or v is None:
            done = find_merge(self.catalog, self.lh.main, pr, sha, None)
            if done is not None:
                return self._already(pr, branch, sha, done, self.lh.main)
            why = f"no branch {branch}" if head is None else f"{branch} has no validation"
            return self._refuse(pr, branch, sha, f"{why}: run `branchops pr sync --pr {pr} --sha {sha}` first")
        refusal = self._gates(v, head, sha)
        approvers: list[str] = []
        if refusal is None and require_approval:
            found = self.reporter.approvers(pr, sha)
            if found is None:
                refusal = "approval is required but GitHub is not configured (GITHUB_TOKEN, GITHUB_REPOSITORY)"
            elif not found:
                refusal = f"no approving review of {sha[:12]} (or the approver has since requested changes)"
            approvers = found or []
        if refusal is not None:
            return self._refuse(pr, branch, sha, refusal, base=v.base)
        return self._land(pr, branch, sha, v, approvers, on_conflict, project_dir)

    @staticmethod
    def _gates(v: Validation, head: str, sha: str) -> str | None:
        if v.sha != sha:
            return f"the last validation is for {v.sha[:12]}, not {sha[:12]}: wait for `pr sync` of {sha[:12]}"
        if not v.passed:
            return f"the validation of {sha[:12]} failed (build {v.build.value}, tests {v.tests.value})"
        if head != v.commit:
            return "the branch was written after its validation: run `pr sync` again"
        return None

    def _land(
        self, pr: int, branch: str, sha: str, v: Validation, approvers: list[str],
        on_conflict: OnConflict, project_dir: Path | None,
    ) -> Outcome:
        """Merge the validated commit into the base: again against a base that moved, after a
        rebuild on a conflict when asked; then drop pr-N."""
        t0 = time.perf_counter()
        expected = v.base_hash
        rebuilds = moves = 0
        while True:
            done = find_merge(self.catalog, v.base, pr, sha, v.commit, stop_at=v.base_hash)
            if done is not None:
                return self._already(pr, branch, sha, done, v.base)
            try:
                res = self._merge_validated(pr, branch, sha, v, approvers, expected)
            except ReferenceConflict as e:  # the base moved: merge three-way against its new head
                moves += 1
                if moves > MOVED_RETRIES or e.actual is None:
                    raise
                expected = e.actual
            except RefNotFound:  # the branch went away under us: a concurrent merge or close
                done = find_merge(self.catalog, v.base, pr, sha, v.commit, stop_at=v.base_hash)
                if done is None:
                    raise
                return self._already(pr, branch, sha, done, v.base)
            except MergeConflict as e:
                if on_conflict is OnConflict.FAIL or rebuilds >= REBUILD_RETRIES:
                    return self._conflict(pr, branch, sha, v, e, on_conflict, rebuilds)
                rebuilds += 1
                assert project_dir is not None
                rebuilt = self._rebuild(pr, sha, project_dir, v, e)
                if isinstance(rebuilt, Outcome):
                    return rebuilt
                v, expected = rebuilt, rebuilt.base_hash
            else:
                return self._landed(pr, branch, sha, v, res, approvers, rebuilds, t0)

    def _merge_validated(
        self, pr: int, branch: str, sha: str, v: Validation, approvers: list[str], expected: str
    ) -> MergeResult:
        """One atomic merge of the validated commit into the base, expected at ``expected``."""
        assert v.commit is not None
        props = merge_properties(v, approvers=approvers, previous_hash=expected, run_url=run_url(),
                                 merged=list(v.changed_tables)) | build_artifacts(self.catalog, branch, v)
        return self.catalog.merge(
            f"{branch}@{v.commit}", v.base, expected_target_hash=expected, squash=True,
            message=f"merge PR #{pr} ({sha[:12]}) into {v.base}", properties=props,
            author=self.lh.settings.author_name,
        )

    @staticmethod
    def _conflict(pr: int, branch: str, sha: str, v: Validation, e: MergeConflict, on_conflict: OnConflict,
                  rebuilds: int) -> Outcome:
        return Outcome(
            "merge", pr, branch, Status.CONFLICT, sha=sha, base=v.base, conflicts=list(e.conflicts),
            reason=f"{v.base} changed the same tables since the validation: {', '.join(e.conflicts)}"
            + ("" if on_conflict is OnConflict.FAIL else f" (still after {rebuilds} rebuilds)")
            + f"; {v.base} was not changed",
        )

    def _rebuild(self, pr: int, sha: str, project_dir: Path, v: Validation, e: MergeConflict
                 ) -> Validation | Outcome:
        """A fresh sync on the current base after a conflict: its validation, or the failed outcome."""
        self.progress(f"conflict on {', '.join(e.conflicts)}: rebuilding on the current {v.base}")
        redo, build, diff = self._validate(pr, sha, project_dir, v.base)
        redo.report = render_report(redo, build, diff)
        self.reporter.publish(redo)
        if redo.status is not Status.PASSED:
            redo.command = "merge"
            redo.reason = f"rebuild on the current {v.base} failed: {redo.reason}"
            return redo
        return Validation.from_properties(self.catalog.get_commit(str(redo.hash)).properties, redo.hash) or v

    def _landed(self, pr: int, branch: str, sha: str, v: Validation, res: MergeResult, approvers: list[str],
                rebuilds: int, t0: float) -> Outcome:
        if not self._merge_code:  # with the code merge, pr-N stays until the code has landed
            self.drop_quietly(branch, v.commit)
        info = res.to_dict() | {"approvers": approvers, "rebuilds": rebuilds}
        return Outcome(
            "merge", pr, branch, Status.MERGED, sha=sha, base=v.base, hash=res.hash,
            changed_tables=list(res.merged_tables), validation=v.to_dict(), merge=info,
            timings={"merge": time.perf_counter() - t0},
        )

    def _already(self, pr: int, branch: str, sha: str | None, done: Commit, base: str) -> Outcome:
        if not self._merge_code:
            self.drop_quietly(branch, None)
        return Outcome("merge", pr, branch, Status.ALREADY_MERGED, sha=sha, base=base, hash=done.hash,
                       merge=merge_info(done, base), reason=f"PR #{pr} is already merged into {base}")

    def _refuse(self, pr: int, branch: str, sha: str, reason: str, base: str | None = None) -> Outcome:
        return Outcome("merge", pr, branch, Status.REFUSED, sha=sha, base=base,
                       reason=f"{reason}; nothing was merged")

    def drop_quietly(self, branch: str, expected: str | None) -> None:
        # gone already, or written since: then `pr close` / gc decide
        with contextlib.suppress(RefNotFound, ReferenceConflict):
            self.lh.drop_branch(branch, expected_hash=expected)

    # -- close ----------------------------------------------------------------------------
    def close(self, pr: int) -> Outcome:
        branch = self.branch(pr)
        try:
            ref = self.catalog.get_ref(branch)
            self.lh.drop_branch(branch)
        except RefNotFound:
            out = Outcome("close", pr, branch, Status.NOT_FOUND, reason=f"no branch {branch}: nothing to do")
        else:
            out = Outcome("close", pr, branch, Status.CLOSED, hash=ref.hash)
        self.reporter.outputs(out)
        return out


def _summary(diff: PrDiff | None) -> dict[str, Any]:
    """What of the diff the validation keeps: per changed table, its status and row figures."""
    out: dict[str, Any] = {}
    for t in diff.changed if diff is not None else ():
        rows = t.rows.to_dict() if t.rows is not None else {}
        out[t.table] = {"status": t.status.value,
                        **{k: rows.get(k) for k in ("base", "head", "added", "removed", "changed")}}
    return out
