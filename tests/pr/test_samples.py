"""Readable samples: a table of the key columns and, per changed column, ``base → head`` — in the
PR report, the diff's markdown and its terminal text."""

from __future__ import annotations

import io

from rich.console import Console

from branchops.diff.model import ChangedRow, DiffResult, Method, RefSide, RowCounts, Samples, TableDiff, TableStatus
from branchops.diff.render import changed_sample_table, render_markdown, render_text
from branchops.pr import Outcome, Status
from branchops.pr.render import render_report

CHANGED = (
    ChangedRow({"customer_id": 3}, {"segment": "silver"}, {"segment": "gold"}),
    ChangedRow({"customer_id": 7}, {"segment": "bronze", "ltv": 10.5}, {"segment": "silver", "ltv": None}),
)


def result() -> DiffResult:
    t = TableDiff("analytics.customers", TableStatus.MODIFIED, Method.FULL_SCAN, key=("customer_id",),
                  key_source="flag", rows=RowCounts(10, 10, 0, 0, 2), columns={"segment": 2, "ltv": 1},
                  samples=Samples(added=({"customer_id": 11, "segment": "gold", "ltv": None},), changed=CHANGED))
    return DiffResult(RefSide("main", "a" * 64), RefSide("pr-5", "b" * 64), (t,))


def test_the_sample_table_has_key_columns_then_base_to_head_per_changed_column() -> None:
    header, rows = changed_sample_table(CHANGED)
    assert header == ["customer_id", "segment", "ltv"]
    # a column that did not change in a row is left empty; NULL is spelled out
    assert rows == [["3", "silver → gold", ""], ["7", "bronze → silver", "10.5 → NULL"]]


def test_markdown_and_text_show_tables_not_dict_reprs() -> None:
    md = render_markdown(result())
    assert "| customer_id | segment | ltv |" in md
    assert "| 3 | silver → gold |  |" in md and "| 7 | bronze → silver | 10.5 → NULL |" in md
    buf = io.StringIO()
    Console(file=buf, width=200, highlight=False).print(render_text(result()))
    text = buf.getvalue()
    assert "silver → gold" in text and "10.5 → NULL" in text and "customer_id" in text
    for out in (md, text):
        assert "{'" not in out and "customer_id=" not in out


def test_the_pr_report_renders_samples_as_the_diff_does() -> None:
    md = render_report(Outcome("sync", 5, "pr-5", Status.PASSED, sha="c" * 40, base="main"), None, result())
    assert "| customer_id | segment | ltv |" in md
    assert "| 3 | silver → gold |  |" in md and "| 7 | bronze → silver | 10.5 → NULL |" in md
    assert "| customer_id | segment | ltv |\n|---|---|---|\n| 11 | gold | ∅ |" in md  # added rows: a table too
    assert "{'" not in md
