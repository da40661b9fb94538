"""The report renderer: what a reviewer sees, and that it always fits in one GitHub comment."""

from __future__ import annotations

import dataclasses

import branchops.pr
from branchops.diff.model import (
    ChangedRow,
    ColumnType,
    DiffResult,
    Method,
    RefSide,
    RowCounts,
    Samples,
    SchemaDiff,
    TableDiff,
    TableStatus,
)
from branchops.diff.render import table_section
from branchops.pr import BuildOutcome, Outcome, Status, TestSummary
from branchops.pr.github import MARKER, MAX_COMMENT_BYTES
from branchops.pr.render import render_report


def table(i: int, samples: int = 5, width: int = 40) -> TableDiff:
    row = {f"col_{c}": "x" * width for c in range(8)}
    return TableDiff(
        f"analytics.model_{i}", TableStatus.MODIFIED, Method.FULL_SCAN, key=("id",), key_source="flag",
        schema=SchemaDiff(added=(ColumnType("new_col", "int"),)), rows=RowCounts(1000, 1010, 12, 2, 30),
        columns={"amount": 30, "status": 0},
        samples=Samples(added=(row,) * samples, changed=(ChangedRow({"id": 1}, row, row),)),
    )


def diff(*tables: TableDiff) -> DiffResult:
    return DiffResult(RefSide("main", "b" * 64), RefSide("pr-5", "c" * 64), tables)


def outcome() -> Outcome:
    return Outcome("sync", 5, "pr-5", Status.PASSED, sha="a" * 40, base="main",
                   validation={"base_hash": "b" * 64}, timings={"build": 3.2, "diff": 0.4})


def build() -> BuildOutcome:
    return BuildOutcome(ok=True, built=("analytics.model_0",), reused=("analytics.x", "analytics.y"),
                        tests=TestSummary(passed=7, warned=1), exposures=("Revenue dashboard",))


def test_report_names_models_rows_columns_tests_dashboards_and_timings() -> None:
    same = TableDiff("analytics.same", TableStatus.UNCHANGED, Method.SAME_METADATA)
    md = render_report(outcome(), build(), diff(table(0), same))
    assert md.startswith(MARKER)
    assert "| `analytics.model_0` | modified | 1,000 → 1,010 (+10) | 12 | 2 | 30 | amount (30), +new_col |" in md
    assert "analytics.same" not in md
    assert "7 passed, 0 failed, 1 warned" in md and "reused from base (zero-copy): 2" in md
    assert "Revenue dashboard" in md and "build 3.2s" in md and "`bbbbbbbbbbbb`" in md
    assert "col_0" in md  # sample rows


def test_huge_reports_fit_in_one_comment_and_say_what_was_left_out() -> None:
    md = render_report(outcome(), build(), diff(*(table(i, samples=5, width=50) for i in range(400))))
    assert len(md.encode()) <= MAX_COMMENT_BYTES
    assert "left out to fit GitHub's comment limit" in md
    assert "analytics.model_399" in md  # every table keeps its summary row
    assert md.rstrip().endswith("</sub>")


def test_even_an_oversized_summary_is_cut_to_fit() -> None:
    tables = (dataclasses.replace(table(i), table=f"analytics.{'m' * 200}_{i}") for i in range(2000))
    md = render_report(outcome(), build(), diff(*tables))
    assert len(md.encode()) <= MAX_COMMENT_BYTES and "report cut to fit" in md


def test_public_names_exist() -> None:
    assert all(hasattr(branchops.pr, n) for n in branchops.pr.__all__)


def test_a_table_section_is_the_diffs_own_section_in_a_fold() -> None:
    t = TableDiff("raw.orders", TableStatus.MODIFIED, Method.FILE_PRUNING, rows=RowCounts(5, 6, 1, 0, None),
                  columns={}, samples=Samples(added=({"id": 9, "note": None, "text": "a|b"},)), notes=("a note",))
    md = render_report(outcome(), None, diff(t))
    section = """<details><summary><code>raw.orders</code>: modified</summary>

method `file_pruning` · no key (row-hash multiset diff)

| base | head | added | removed | changed |
|---|---|---|---|---|
| 5 | 6 | +1 | 0 | — |

<details><summary>sample added rows</summary>

| id | note | text |
|---|---|---|
| 9 | ∅ | a\\|b |

</details>

> a note

</details>"""
    assert f"| `raw.orders` | modified | 5 → 6 (+1) | 1 | 0 | - | - |\n\n{section}\n\n<sub>timings:" in md
    # the body is diff/render's table_section, with the report's cells (NULL as ∅)
    assert "\n".join(table_section(t)).replace("|  |", "| ∅ |") in section


def test_a_section_that_does_not_fit_whole_drops_samples_then_profiles_before_it_is_left_out() -> None:
    full = render_report(outcome(), build(), diff(table(0, samples=5, width=50)))
    assert "sample added rows" in full
    lean = render_report(outcome(), build(), diff(table(0, samples=5, width=50)), limit=len(full.encode()) - 100)
    assert "sample added rows" not in lean and "<code>analytics.model_0</code>" in lean
    assert "| amount | 30 |" in lean and "left out" not in lean
