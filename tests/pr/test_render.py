"""The report renderer: what a reviewer sees, and that it always fits in one GitHub comment."""

from __future__ import annotations

from typing import Any

import branchops.pr
from branchops.pr import BuildOutcome, Outcome, Status, TestSummary
from branchops.pr.github import MARKER, MAX_COMMENT_BYTES
from branchops.pr.render import render_report


def table(i: int, samples: int = 5, width: int = 40) -> dict[str, Any]:
    row = {f"col_{c}": "x" * width for c in range(8)}
    return {
        "table": f"analytics.model_{i}", "status": "modified", "key": ["id"], "method": "full_scan",
        "schema": {"added": [{"name": "new_col", "type": "int"}], "removed": [], "type_changed": []},
        "rows": {"base": 1000, "head": 1010, "added": 12, "removed": 2, "changed": 30},
        "columns": {"amount": {"changed": 30}, "status": {"changed": 0}},
        "samples": {"added": [row] * samples, "removed": [], "changed": [{"key": {"id": 1}, "base": row, "head": row}]},
    }


def outcome() -> Outcome:
    return Outcome("sync", 5, "pr-5", Status.PASSED, sha="a" * 40, base="main",
                   validation={"base_hash": "b" * 64}, timings={"build": 3.2, "diff": 0.4})


def build() -> BuildOutcome:
    return BuildOutcome(ok=True, built=("analytics.model_0",), reused=("analytics.x", "analytics.y"),
                        tests=TestSummary(passed=7, warned=1), exposures=("Revenue dashboard",))


def test_report_names_models_rows_columns_tests_dashboards_and_timings() -> None:
    md = render_report(outcome(), build(), {"tables": [table(0), {"table": "analytics.same", "status": "unchanged"}]})
    assert md.startswith(MARKER)
    assert "| `analytics.model_0` | modified | 1,000 → 1,010 (+10) | 12 | 2 | 30 | amount (30), +new_col |" in md
    assert "analytics.same" not in md
    assert "7 passed, 0 failed, 1 warned" in md and "reused from base (zero-copy): 2" in md
    assert "Revenue dashboard" in md and "build 3.2s" in md and "`bbbbbbbbbbbb`" in md
    assert "col_0" in md  # sample rows


def test_huge_reports_fit_in_one_comment_and_say_what_was_left_out() -> None:
    diff = {"tables": [table(i, samples=5, width=50) for i in range(400)]}
    md = render_report(outcome(), build(), diff)
    assert len(md.encode()) <= MAX_COMMENT_BYTES
    assert "left out to fit GitHub's comment limit" in md
    assert "analytics.model_399" in md  # every table keeps its summary row
    assert md.rstrip().endswith("</sub>")


def test_even_an_oversized_summary_is_cut_to_fit() -> None:
    diff = {"tables": [table(i) | {"table": f"analytics.{'m' * 200}_{i}"} for i in range(2000)]}
    md = render_report(outcome(), build(), diff)
    assert len(md.encode()) <= MAX_COMMENT_BYTES and "report cut to fit" in md


def test_public_names_exist() -> None:
    assert all(hasattr(branchops.pr, n) for n in branchops.pr.__all__)
