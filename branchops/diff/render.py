"""A :class:`DiffResult` for people (rich text, markdown for a PR comment) and for machines (JSON)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from branchops.diff.model import MAX_COMMENT_BYTES, ChangedRow, DiffResult, TableDiff, TableStatus, jsonable
from branchops.text_fit import first_fitting

#: how a changed value is shown: ``base → head``
ARROW = " → "


def _value(v: Any) -> str:
    return "NULL" if v is None else _fmt(v)


def changed_sample_table(changed: Sequence[ChangedRow]) -> tuple[list[str], list[list[str]]]:
    """Changed-row samples as one table: the key columns, then per changed column ``base → head``
    (empty where that row's column did not change)."""
    keys: list[str] = []
    cols: list[str] = []
    for r in changed:
        keys += [k for k in r.key if k not in keys]
        cols += [c for c in dict.fromkeys([*r.base, *r.head]) if c not in cols and c not in keys]
    out = []
    for r in changed:
        cells = [_value(r.key.get(k)) for k in keys]
        cells += [f"{_value(r.base.get(c))}{ARROW}{_value(r.head.get(c))}" if c in r.base or c in r.head else ""
                  for c in cols]
        out.append(cells)
    return [*keys, *cols], out


def render_json(result: DiffResult) -> str:
    return json.dumps(result.to_dict(), indent=2)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(jsonable(v))


def _count(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def _signed(n: int | None, sign: str) -> str:
    return "—" if n is None else (f"{sign}{n:,}" if n else "0")


def _summary_row(t: TableDiff) -> list[str]:
    r = t.rows
    schema = t.schema
    changes = ", ".join(
        p for p in (f"+{len(schema.added)} col" if schema.added else "", f"-{len(schema.removed)} col"
                    if schema.removed else "", f"~{len(schema.type_changed)} type" if schema.type_changed else "")
        if p
    )
    return [t.table, t.status.value, _count(r.base) if r else "", _count(r.head) if r else "",
            _signed(r.added, "+") if r else "", _signed(r.removed, "-") if r else "",
            _signed(r.changed, "~") if r else "", changes, ",".join(t.key) if t.key else "", t.method.value]


SUMMARY_COLUMNS = ["table", "status", "base rows", "head rows", "added", "removed", "changed", "schema", "key",
                   "method"]


# -- markdown -----------------------------------------------------------------------------------
#: one markdown cell from a value
Cell = Callable[[Any], str]

#: levels of detail of a table's section, richest first (see :func:`table_section`)
DETAIL_LEVELS = 4


def md_cell(v: Any) -> str:
    """A value as a markdown table cell: formatted as the diff shows values, pipes and newlines escaped."""
    return _fmt(v).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]], cell: Cell = md_cell) -> list[str]:
    """A markdown table's lines: the header and each value through ``cell``."""
    out = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return out


def _md_section(t: TableDiff, level: int) -> list[str]:
    return [f"### `{t.table}` — {t.status.value}", "", *table_section(t, level)]


def table_section(t: TableDiff, level: int = 0, *, cell: Cell = md_cell) -> list[str]:
    """One table's diff as markdown lines, without a heading (the diff's markdown and the PR report
    each put their own above it); ``level`` drops detail: 0 all, 1 no samples, 2 no profiles,
    3 no per-column counts. Each block ends with an empty line."""
    key = f"key `{', '.join(t.key)}` ({t.key_source})" if t.key else "no key"
    if not t.key and t.status is TableStatus.MODIFIED:
        key += " (row-hash multiset diff)"
    facts = [f"method `{t.method.value}`", key]
    if t.duplicate_keys and (t.duplicate_keys.base or t.duplicate_keys.head):
        d = t.duplicate_keys
        facts.append(f"**duplicate keys** base {d.base}, head {d.head} ({d.scope})")
    lines = [" · ".join(facts), ""]
    s = t.schema
    if s.differs:
        cols = [["added", c.name, c.type] for c in s.added] + [["removed", c.name, c.type] for c in s.removed]
        cols += [["type changed", c.name, f"{c.base} → {c.head}"] for c in s.type_changed]
        lines += [*md_table(["schema", "column", "type"], cols, cell), ""]
    if t.rows and t.status is TableStatus.MODIFIED:
        r = t.rows
        counts = [_count(r.base), _count(r.head), _signed(r.added, "+"), _signed(r.removed, "-"),
                  _signed(r.changed, "~")]
        lines += [*md_table(["base", "head", "added", "removed", "changed"], [counts], cell), ""]
    if level < 3 and any(t.columns.values()):
        lines += [*md_table(["column", "rows changed"], [[c, f"{n:,}"] for c, n in t.columns.items() if n], cell),
                  ""]
    if level < 2 and t.profiles:
        rows = []
        for c, p in t.profiles.items():
            b, h = p.base, p.head
            for stat in ("nulls", "distinct", "min", "max", "mean"):
                bv, hv = (getattr(b, stat) if b else None), (getattr(h, stat) if h else None)
                if bv != hv:
                    rows.append([c, stat, bv, hv])
        if rows:
            lines += ["<details><summary>profiles (what differs)</summary>", ""]
            lines += [*md_table(["column", "stat", "base", "head"], rows, cell), "", "</details>", ""]
    if level < 1:
        lines += _md_samples(t, cell)
    if t.notes:
        lines += [f"> {n}" for n in t.notes] + [""]
    return lines


def _md_samples(t: TableDiff, cell: Cell) -> list[str]:
    out: list[str] = []
    sm = t.samples
    for kind, rows in (("added", sm.added), ("removed", sm.removed)):
        if rows:
            cols = list(dict.fromkeys(c for r in rows for c in r))
            out += [f"<details><summary>sample {kind} rows</summary>", ""]
            out += [*md_table(cols, [[r.get(c) for c in cols] for r in rows], cell), "", "</details>", ""]
    if sm.changed:
        header, rows_ = changed_sample_table(sm.changed)
        out += ["<details><summary>sample changed rows (base → head)</summary>", ""]
        out += [*md_table(header, rows_, cell), "", "</details>", ""]
    return out


def render_markdown(result: DiffResult, max_bytes: int = MAX_COMMENT_BYTES, *, title: str | None = None) -> str:
    """A summary table, then one section per changed table, in at most ``max_bytes`` UTF-8 bytes.

    When too long, detail goes first: samples, then profiles, then per-column counts, then whole
    sections (from the last table up), then summary rows; a visible note says what was left out.
    """
    head = [title or f"## Data diff: `{result.head.ref}` vs `{result.base.ref}`", "",
            f"`{result.base.ref}` @ `{result.base.hash[:12]}` → `{result.head.ref}` @ `{result.head.hash[:12]}`", ""]
    if not result.tables:
        return "\n".join([*head, "No table differs."]) + "\n"
    summary = md_table(SUMMARY_COLUMNS, [_summary_row(t) for t in result.tables])
    shown = [t for t in result.tables if t.status.value != "unchanged"]
    fitted = first_fitting(_markdown_candidates(head, summary, shown, len(result.tables)), max_bytes)
    return fitted if fitted is not None else "\n".join(head)[: max(0, max_bytes - 1)] + "\n"


def _markdown_candidates(head: list[str], summary: list[str], shown: list[TableDiff], n_tables: int
                         ) -> Iterator[str]:
    """The report from richest to leanest: every section at each level of detail, then fewer
    sections (from the last table up), then fewer summary rows; each says what it left out."""
    def trimmed(what: str) -> str:
        return f"_Detail trimmed to fit a PR comment: {what}. The JSON output has everything._"

    levels = ("", "samples omitted", "samples and profiles omitted", "samples, profiles and per-column counts omitted")
    for level, what in zip(range(DETAIL_LEVELS), levels, strict=True):
        body = [line for t in shown for line in _md_section(t, level)]
        yield "\n".join([*head, *summary, "", *body, *([trimmed(what)] if what else [])]) + "\n"
    for keep in range(len(shown) - 1, -1, -1):
        body = [line for t in shown[:keep] for line in _md_section(t, DETAIL_LEVELS - 1)]
        note = trimmed(f"sections of {len(shown) - keep} of {len(shown)} tables omitted")
        yield "\n".join([*head, *summary, "", *body, note]) + "\n"
    for keep in range(len(summary) - 1, 1, -1):
        note = trimmed(f"{len(summary) - keep} of {n_tables} summary rows omitted")
        yield "\n".join([*head, *summary[:keep], "", note]) + "\n"


# -- rich text ------------------------------------------------------------------------------------
def render_text(result: DiffResult) -> RenderableType:
    parts: list[RenderableType] = [Text(f"{result.head.ref} vs {result.base.ref}", style="bold")]
    if not result.tables:
        parts.append(Text("No table differs."))
        return Group(*parts)
    summary = Table(title=None)
    for c in SUMMARY_COLUMNS:
        summary.add_column(c, justify="right" if c in ("base rows", "head rows", "added", "removed", "changed")
                           else "left")
    for t in result.tables:
        summary.add_row(*_summary_row(t))
    parts.append(summary)
    for t in result.tables:
        if t.status.value != "modified":
            continue
        parts.append(Text(f"\n{t.table}", style="bold"))
        if t.schema.differs:
            parts.append(Text("schema: " + "; ".join(
                [f"+{c.name} {c.type}" for c in t.schema.added] + [f"-{c.name} {c.type}" for c in t.schema.removed]
                + [f"~{c.name} {c.base}->{c.head}" for c in t.schema.type_changed])))
        if any(t.columns.values()):
            parts.append(Text("changed per column: " + ", ".join(f"{c}={n:,}" for c, n in t.columns.items() if n)))
        if t.duplicate_keys and (t.duplicate_keys.base or t.duplicate_keys.head):
            parts.append(Text(f"duplicate keys: base {t.duplicate_keys.base}, head {t.duplicate_keys.head}",
                              style="yellow"))
        if t.samples.changed:
            header, rows_ = changed_sample_table(t.samples.changed)
            sample = Table(title="sample changed rows (base → head)", title_justify="left")
            for c in header:
                sample.add_column(c)
            for r in rows_:
                sample.add_row(*r)
            parts.append(sample)
        for kind in ("added", "removed"):
            got: Sequence[dict[str, Any]] = getattr(t.samples, kind)
            if got:
                header = list(dict.fromkeys(c for row in got for c in row))
                sample = Table(title=f"sample {kind} rows", title_justify="left")
                for c in header:
                    sample.add_column(c)
                for row in got:
                    sample.add_row(*(_value(row.get(c)) for c in header))
                parts.append(sample)
        for n in t.notes:
            parts.append(Text(f"  note: {n}", style="dim"))
    return Group(*parts)


def print_text(result: DiffResult, console: Console | None = None) -> None:
    (console or Console(highlight=False)).print(render_text(result))
