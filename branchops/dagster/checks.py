"""The nightly job's diff checks: a branchops diff of the nightly branch against main, and rules
on it that must hold before the merge (e.g. a table's row count may not move by more than a
fraction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from branchops.diff import DiffOptions, DiffResult, diff_refs
from branchops.errors import UsageError
from branchops.lakehouse import Lakehouse


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "message": self.message}


@dataclass(frozen=True)
class RowCountCheck:
    """``table``'s row count on the nightly branch may differ from main's by at most
    ``max_change`` (a fraction of main's count: 0.5 = half). A table new on the branch, or
    one the night did not change, passes."""

    table: str
    max_change: float

    def __post_init__(self) -> None:
        if self.max_change < 0:
            raise UsageError(f"RowCountCheck({self.table!r}): max_change must be >= 0, not {self.max_change}")

    @property
    def name(self) -> str:
        return f"row_count_change:{self.table}"

    def evaluate(self, diff: DiffResult) -> CheckOutcome:
        try:
            table = diff.table(self.table)
        except KeyError:
            return CheckOutcome(self.name, True, f"{self.table} did not change")
        if table.rows is None or table.rows.base == 0:
            return CheckOutcome(self.name, True, f"{self.table}: {table.status.value}, no rows on the base to compare")
        change = abs(table.rows.head - table.rows.base) / table.rows.base
        verdict = "within" if change <= self.max_change else "more than"
        message = (f"{self.table}: {table.rows.base} -> {table.rows.head} rows ({change:.1%} moved, "
                   f"{verdict} the allowed {self.max_change:.0%})")
        return CheckOutcome(self.name, change <= self.max_change, message)


def run_diff(lakehouse: Lakehouse, branch: str, tables: Sequence[str] = ()) -> DiffResult:
    """The diff of ``branch`` against main: the tables that changed (of ``tables``, glob
    patterns; all by default), with row counts (no samples or profiles: the checks need counts,
    the summary names tables)."""
    options = DiffOptions(tables=tuple(tables), sample=0, profiles=False)
    return diff_refs(lakehouse, lakehouse.main, branch, options=options)  # in the engine of the settings


def summary(diff: DiffResult) -> list[str]:
    """One line per changed table: status and row counts."""
    lines = []
    for t in diff.tables:
        if not t.differs:
            continue
        counts = "" if t.rows is None else f": {t.rows.base} -> {t.rows.head} rows " \
            f"(+{t.rows.added} -{t.rows.removed}{'' if t.rows.changed is None else f' ~{t.rows.changed}'})"
        lines.append(f"{t.table} {t.status.value}{counts}")
    return lines
