"""The PR report as markdown: pure functions from results to text (no I/O, no API calls).

The diff part renders the sync's typed diff (:class:`~branchops.pr.model.PrDiff`): a summary row per
changed table, then each table's section as :func:`branchops.diff.render.table_section` draws it (the
one renderer of a table's diff, shared with ``branchops diff --output markdown``), folded in a
``<details>``. Sections are added in order of importance and the whole stays under GitHub's comment
limit (:mod:`branchops.text_fit`); a section that does not fit whole loses samples, then profiles,
then per-column counts, and one that does not fit at all is named in a visible note.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from branchops.diff.model import MAX_COMMENT_BYTES, DiffResult, RowCounts, TableDiff
from branchops.diff.render import DETAIL_LEVELS, md_cell, md_table, table_section
from branchops.lineage.report import impact_markdown
from branchops.pr.drift import PLAIN
from branchops.pr.github import MARKER
from branchops.pr.model import BuildOutcome, Outcome, PrDiff, Status
from branchops.text_fit import first_fitting, truncate_utf8, utf8_size

if TYPE_CHECKING:
    from branchops.config import Settings

_ICON = {
    Status.PASSED: "✅", Status.FAILED: "❌", Status.MERGED: "🚀", Status.ALREADY_MERGED: "🚀",
    Status.REFUSED: "⛔", Status.CONFLICT: "⚠️", Status.CLOSED: "🗑️", Status.NOT_FOUND: "❔",
}


def _cell(value: Any) -> str:
    """A report cell: the diff's :func:`md_cell`, NULL as ∅, cut at 60 characters."""
    text = "∅" if value is None else md_cell(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _delta(rows: RowCounts) -> str:
    d = rows.head - rows.base
    return f"{_num(rows.base)} → {_num(rows.head)} ({'+' if d >= 0 else ''}{d:,})"


def changed_columns(t: TableDiff) -> list[str]:
    """What changed in the table's columns, in one line's words: values, added, removed, retyped."""
    out = [f"{c} ({n:,})" for c, n in t.columns.items() if n]
    out += [f"+{c.name}" for c in t.schema.added]
    out += [f"-{c.name}" for c in t.schema.removed]
    out += [f"{c.name} (type)" for c in t.schema.type_changed]
    return out


def diff_summary_table(tables: Sequence[TableDiff]) -> str:
    rows = []
    for t in tables:
        r = t.rows
        rows.append((
            f"`{t.table}`", t.status.value, _delta(r) if r else "- → -", _num(r.added if r else None),
            _num(r.removed if r else None), _num(r.changed if r else None), ", ".join(changed_columns(t)) or "-",
        ))
    header = ["table", "status", "rows", "added", "removed", "changed", "changed columns"]
    return "\n".join(md_table(header, rows, _cell))


def table_details(t: TableDiff, level: int = 0) -> str:
    """A table's section (:func:`table_section` at ``level``) folded under its name and status."""
    return "\n".join([f"<details><summary><code>{t.table}</code>: {t.status.value}</summary>", "",
                      *table_section(t, level, cell=_cell), "</details>"])


def drift_note(diff: PrDiff) -> str | None:
    """One line for the report: which mode ran and why, and the drift (:mod:`branchops.pr.drift`)
    a stored-base diff may include."""
    moved = diff.drift.moved if diff.drift is not None else ()
    mode = diff.mode or PLAIN
    if not moved and mode == PLAIN:
        return None
    line = f"diff mode: `{mode}`"
    if diff.mode_reason:
        line += f" ({diff.mode_reason})"
    if diff.drift is not None and moved and mode == PLAIN:
        line += (f" · raw tables moved after the base's last dbt build (`{diff.drift.build[:12]}`): "
                 f"{', '.join(f'`{t}`' for t in moved)}; rows of models reading them may differ because of that "
                 "drift, not the PR's code")
    elif diff.rebuilt_base:
        line += f" · compared with the base's code rebuilt for {', '.join(f'`{t}`' for t in diff.rebuilt_base)}"
    return line


def build_section(build: BuildOutcome) -> str:
    t = build.tests
    lines = [
        f"**dbt build**: {'passed' if build.ok else 'failed'} · models built: {len(build.built)}, "
        f"reused from base (zero-copy): {len(build.reused)} · tests: {t.passed} passed, {t.failed} failed, "
        f"{t.warned} warned, {t.skipped} skipped",
    ]
    if build.built:
        lines.append("built: " + ", ".join(f"`{m}`" for m in build.built))
    lines += [f"- note: {_cell(note)}" for note in build.notes]
    for err in [*build.errors, *t.failures][:20]:
        lines.append(f"- ❌ {_cell(err)}")
    return "\n".join(lines)


def bi_relations(settings: Settings, branch: str, changed: Sequence[str], present: Mapping[str, str]
                 ) -> dict[str, str]:
    """Changed table -> what a BI tool reads for the branch's version (tables the branch still has)."""
    from branchops.engine.trino_settings import bi_relation

    out = {t: bi_relation(settings, branch, t) for t in changed if t in present}
    return {t: r for t, r in out.items() if r}


def bi_section(relations: Mapping[str, str]) -> str:
    lines = ["**preview in BI** (Trino; with a static catalog one database connection serves every PR):"]
    lines += [f"- `{t}` → `{r}`" for t, r in sorted(relations.items())]
    return "\n".join(lines)


def render_report(
    outcome: Outcome,
    build: BuildOutcome | None,
    diff: PrDiff | DiffResult | None,
    *,
    limit: int = MAX_COMMENT_BYTES,
) -> str:
    """The sticky comment: status line, build and tests, dashboards, diff summary, details, timings
    (``diff``: the sync's typed diff; a bare :class:`DiffResult` when no mode or drift is known)."""
    icon = _ICON.get(outcome.status, "")
    head = [MARKER, f"### {icon} branchops · PR #{outcome.pr} · `{outcome.branch}` · {outcome.status.value}", ""]
    meta = f"commit `{(outcome.sha or '')[:12]}`"
    if outcome.base:
        meta += f" · base `{outcome.base}`"
        base_hash = (outcome.validation or {}).get("base_hash")
        if base_hash:
            meta += f" at `{base_hash[:12]}`"
    head.append(meta)
    if outcome.reason:
        head += ["", f"> {outcome.reason}"]
    if outcome.merge:
        head += ["", f"Merged into `{outcome.merge.get('target')}` as `{str(outcome.merge.get('hash'))[:12]}`; "
                 f"roll back with `branchops branch reset {outcome.merge.get('target')} "
                 f"--to {str(outcome.merge.get('previous_hash'))[:12]}`"]
    parts = ["\n".join(head)]
    if build is not None:
        parts.append(build_section(build))
        impact = impact_markdown(build.lineage)
        if impact:
            parts.append(impact)
        if build.exposures:
            parts.append("**dashboards downstream of the change**: " + ", ".join(f"`{e}`" for e in build.exposures))
    tables: tuple[TableDiff, ...] = ()
    if diff is not None:
        pr_diff = diff if isinstance(diff, PrDiff) else PrDiff(diff)
        tables = pr_diff.changed
        parts.append(f"**data diff** vs `{outcome.base}`: {len(tables)} table(s) changed"
                     + ("\n\n" + diff_summary_table(tables) if tables else ""))
        if note := drift_note(pr_diff):
            parts.append(f"> {note}")
    if outcome.bi_relations:
        parts.append(bi_section(outcome.bi_relations))
    footer = ""
    if outcome.timings:
        footer = "<sub>timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in outcome.timings.items()) + "</sub>"
    return _fit(parts, tables, footer, limit)


def _fit(parts: list[str], tables: Sequence[TableDiff], footer: str, limit: int) -> str:
    """Join the parts; add each table's section while it fits, at the richest level that does."""
    note = "\n\n> ✂️ {n} table detail section(s) left out to fit GitHub's comment limit; run " \
           "`branchops diff` for the full report."
    body = "\n\n".join(parts)
    budget = limit - utf8_size(footer) - utf8_size(note) - 64
    if utf8_size(body) > budget:
        return truncate_utf8(body, budget) + "\n\n> ✂️ report cut to fit\n\n" + footer
    left = 0
    for t in tables:
        fitted = first_fitting(_with_section(body, t), budget)
        if fitted is None:
            left += 1
        else:
            body = fitted
    if left:
        body += note.format(n=left)
    return body + ("\n\n" + footer if footer else "")


def _with_section(body: str, t: TableDiff) -> Iterator[str]:
    """``body`` plus the table's section, richest first (rendered only as far as needed)."""
    for level in range(DETAIL_LEVELS):
        yield body + "\n\n" + table_details(t, level)
