"""The PR lifecycle's data: names, outcomes, and the validation a sync records on the branch.

A validation is stored as the properties of a commit on ``pr-N`` that moves no table: the
catalog's own history is the state machine's memory, so every command can be re-run after a
crash and read back where things stand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from branchops.errors import UsageError

if TYPE_CHECKING:
    from branchops.diff.model import DiffResult, TableDiff
    from branchops.pr.drift import Drift

OPERATION = "branchops.operation"
VALIDATION_OP = "pr-validation"
MERGE_OP = "pr-merge"
PR_PROPERTY = "branchops.pr"  # commit property holding the PR number; the prefix of the other PR properties


class Status(StrEnum):
    """What a command ended with; also the ``status`` written to ``$GITHUB_OUTPUT``."""

    PASSED = "passed"
    FAILED = "failed"
    MERGED = "merged"
    ALREADY_MERGED = "already_merged"
    REFUSED = "refused"
    CONFLICT = "conflict"
    CLOSED = "closed"
    NOT_FOUND = "not_found"


class Step(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class OnConflict(StrEnum):
    FAIL = "fail"
    REBUILD = "rebuild"


def pr_branch_name(pr: int, prefix: str = "pr-") -> str:
    """The branch of PR ``pr``: a pure function of the PR number (and the configured prefix)."""
    if pr <= 0:
        raise UsageError(f"--pr must be a positive pull-request number, not {pr}")
    return f"{prefix}{pr}"


@dataclass(frozen=True)
class TestSummary:
    __test__ = False  # not a pytest test class

    passed: int = 0
    failed: int = 0
    warned: int = 0
    skipped: int = 0
    failures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["failures"] = list(self.failures)
        return d


@dataclass(frozen=True)
class BuildOutcome:
    """What building a PR branch produced (from the dbt step)."""

    ok: bool
    built: tuple[str, ...] = ()
    reused: tuple[str, ...] = ()
    tests: TestSummary = field(default_factory=TestSummary)
    errors: tuple[str, ...] = ()
    exposures: tuple[str, ...] = ()  # dashboards downstream of what was built
    seconds: float = 0.0
    published_hash: str | None = None
    notes: tuple[str, ...] = ()  # e.g. the base's manifest came from another dbt version
    #: the change classification and impact (``branchops.lineage.LineageSelection.to_dict``); None: off
    lineage: dict[str, Any] | None = None
    #: seconds of the dbt run's steps (``DbtRunResult.timings``: parse, prepare, dbt, publish, total)
    timings: dict[str, float] = field(default_factory=dict)
    #: how dbt parsed the PR's project (``DbtRunResult.parse``): partial from the base's stored state, or full and why
    parse: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "notes": list(self.notes),
            "ok": self.ok, "built": list(self.built), "reused": list(self.reused), "tests": self.tests.to_dict(),
            "errors": list(self.errors), "exposures": list(self.exposures), "seconds": round(self.seconds, 3),
            "published_hash": self.published_hash, "lineage": self.lineage,
            "timings": {k: round(v, 3) for k, v in self.timings.items()}, "parse": self.parse,
        }


@dataclass(frozen=True)
class Validation:
    """The record of one sync: which code was built on top of which base, and how it went."""

    pr: int
    sha: str
    base: str
    base_hash: str
    status: Step
    build: Step
    tests: Step
    changed_tables: tuple[str, ...] = ()
    diff_summary: dict[str, Any] = field(default_factory=dict)
    run_url: str | None = None
    commit: str | None = None  # the validation commit's hash, once recorded
    timestamp: str | None = None

    @property
    def passed(self) -> bool:
        return self.status is Step.PASSED

    def to_properties(self) -> dict[str, str]:
        props = {
            OPERATION: VALIDATION_OP,
            PR_PROPERTY: str(self.pr),
            f"{PR_PROPERTY}.sha": self.sha,
            f"{PR_PROPERTY}.base": self.base,
            f"{PR_PROPERTY}.base_hash": self.base_hash,
            f"{PR_PROPERTY}.status": self.status.value,
            f"{PR_PROPERTY}.build": self.build.value,
            f"{PR_PROPERTY}.tests": self.tests.value,
            f"{PR_PROPERTY}.changed_tables": json.dumps(list(self.changed_tables)),
            f"{PR_PROPERTY}.diff_summary": json.dumps(self.diff_summary, sort_keys=True, default=str),
        }
        if self.run_url:
            props[f"{PR_PROPERTY}.run_url"] = self.run_url
        return props

    @classmethod
    def from_properties(
        cls, props: Mapping[str, str], commit: str | None = None, timestamp: str | None = None
    ) -> Validation | None:
        if props.get(OPERATION) != VALIDATION_OP:
            return None
        try:
            return cls(
                pr=int(props[PR_PROPERTY]), sha=props[f"{PR_PROPERTY}.sha"], base=props[f"{PR_PROPERTY}.base"],
                base_hash=props[f"{PR_PROPERTY}.base_hash"], status=Step(props[f"{PR_PROPERTY}.status"]),
                build=Step(props[f"{PR_PROPERTY}.build"]), tests=Step(props[f"{PR_PROPERTY}.tests"]),
                changed_tables=tuple(json.loads(props.get(f"{PR_PROPERTY}.changed_tables", "[]"))),
                diff_summary=json.loads(props.get(f"{PR_PROPERTY}.diff_summary", "{}")),
                run_url=props.get(f"{PR_PROPERTY}.run_url"), commit=commit, timestamp=timestamp,
            )
        except (KeyError, ValueError):
            return None  # a hand-written or foreign commit: not ours

    def to_dict(self) -> dict[str, Any]:
        return {
            "pr": self.pr, "sha": self.sha, "base": self.base, "base_hash": self.base_hash,
            "status": self.status.value, "build": self.build.value, "tests": self.tests.value,
            "changed_tables": list(self.changed_tables), "diff_summary": self.diff_summary,
            "run_url": self.run_url, "commit": self.commit, "timestamp": self.timestamp,
        }


def merge_properties(
    validation: Validation, *, approvers: list[str], previous_hash: str, run_url: str | None, merged: list[str]
) -> dict[str, str]:
    """The audit trail a merge commit carries; ``previous_hash`` is what `branch reset` rolls back to."""
    props = {
        OPERATION: MERGE_OP,
        PR_PROPERTY: str(validation.pr),
        f"{PR_PROPERTY}.sha": validation.sha,
        f"{PR_PROPERTY}.approvers": json.dumps(approvers),
        f"{PR_PROPERTY}.validation": validation.commit or "",
        f"{PR_PROPERTY}.base_hash": validation.base_hash,
        f"{PR_PROPERTY}.merged_tables": json.dumps(merged),
        "branchops.previous_hash": previous_hash,
    }
    if run_url:
        props[f"{PR_PROPERTY}.run_url"] = run_url
    return props


@dataclass(frozen=True)
class PrDiff:
    """A sync's diff: the :class:`~branchops.diff.model.DiffResult` plus how the base was chosen
    (:mod:`branchops.pr.drift_free`; ``mode`` None: the differ did not say) and the base's drift."""

    result: DiffResult
    mode: str | None = None
    mode_reason: str | None = None
    rebuilt_base: tuple[str, ...] = ()
    drift: Drift | None = None

    @property
    def changed(self) -> tuple[TableDiff, ...]:
        """The tables that are not unchanged, in the diff's order."""
        return tuple(t for t in self.result.tables if t.status.value != "unchanged")

    def to_dict(self) -> dict[str, Any]:
        """The diff's JSON (:meth:`DiffResult.to_dict`) with ``mode``, ``mode_reason``,
        ``rebuilt_base`` and ``drift`` when known: the shape the validation and ``--output json`` keep."""
        out = self.result.to_dict()
        if self.mode is not None:
            out |= {"mode": self.mode, "mode_reason": self.mode_reason, "rebuilt_base": list(self.rebuilt_base)}
        if self.drift is not None:
            out["drift"] = self.drift.to_dict()
        return out


@dataclass
class Outcome:
    """The result of one ``pr`` command, as printed with ``--output json``."""

    command: str
    pr: int
    branch: str
    status: Status
    reason: str | None = None
    sha: str | None = None
    base: str | None = None
    hash: str | None = None
    changed_tables: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    build: dict[str, Any] | None = None
    diff: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    merge: dict[str, Any] | None = None
    comment_url: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: changed table -> the catalog.schema.table a BI tool on Trino reads for the PR's version
    bi_relations: dict[str, str] = field(default_factory=dict)
    code: dict[str, Any] | None = None  # `pr merge --merge-code`: how the forge answered the code merge
    report: str | None = None  # the markdown; not part of the JSON

    @property
    def exit_code(self) -> int:
        ok = {Status.PASSED, Status.MERGED, Status.ALREADY_MERGED, Status.CLOSED, Status.NOT_FOUND}
        return 0 if self.status in ok else 1

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "report"}
        d["status"] = self.status.value
        d["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        return d
