"""The PR report as markdown: pure functions from results to text (no I/O, no API calls).

The diff part reads the diff's documented JSON shape (``{"tables": [{"table", "status", "rows",
"columns", "schema", "samples", ...}]}``), so the report does not depend on the diff's own types.
Sections are added in order of importance and the whole stays under GitHub's comment limit;
whatever does not fit is named in a visible note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from branchops.diff.model import MAX_COMMENT_BYTES
from branchops.diff.render import changed_sample_table
from branchops.diff.render import md_table as diff_md_table
from branchops.lineage.report import impact_markdown
from branchops.pr.drift import drift_note
from branchops.pr.github import MARKER
from branchops.pr.model import BuildOutcome, Outcome, PrDiff, Status
from branchops.text_fit import first_fitting, truncate_utf8, utf8_size

if TYPE_CHECKING:
    from branchops.config import Settings

_ICON = {
    Status.PASSED: "✅", Status.FAILED: "❌", Status.MERGED: "🚀", Status.ALREADY_MERGED: "🚀",
    Status.REFUSED: "⛔", Status.CONFLICT: "⚠️", Status.CLOSED: "🗑️", Status.NOT_FOUND: "❔",
}
SAMPLE_ROWS = 5


def _cell(value: Any) -> str:
    text = "∅" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "…"


def md_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """:func:`branchops.diff.render.md_table` with the report's cells (cut at 60 characters)."""
    return "\n".join(diff_md_table([_cell(c) for c in columns], rows, _cell))


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _delta(rows: Mapping[str, Any]) -> str:
    base, head = rows.get("base"), rows.get("head")
    if isinstance(base, int) and isinstance(head, int):
        d = head - base
        return f"{_num(base)} → {_num(head)} ({'+' if d >= 0 else ''}{d:,})"
    return f"{_num(base)} → {_num(head)}"


def changed_columns(entry: Mapping[str, Any]) -> list[str]:
    cols = entry.get("columns") or {}
    out = [f"{c} ({_num(v.get('changed'))})" for c, v in cols.items() if isinstance(v, Mapping) and v.get("changed")]
    schema = entry.get("schema") or {}
    out += [f"+{c}" for c in _names(schema.get("added"))]
    out += [f"-{c}" for c in _names(schema.get("removed"))]
    out += [f"{c} (type)" for c in _names(schema.get("type_changed"))]
    return out


def _names(items: Any) -> list[str]:
    out = []
    for item in items or []:
        out.append(str(item.get("name") or item.get("column") or item) if isinstance(item, Mapping) else str(item))
    return out


def diff_summary_table(tables: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for t in tables:
        r = t.get("rows") or {}
        rows.append((
            f"`{t.get('table')}`", t.get("status"), _delta(r), _num(r.get("added")), _num(r.get("removed")),
            _num(r.get("changed")), ", ".join(changed_columns(t)) or "-",
        ))
    return md_table(["table", "status", "rows", "added", "removed", "changed", "changed columns"], rows)


def _sample_block(kind: str, rows: Any) -> str | None:
    if not isinstance(rows, list) or not rows:
        return None
    rows = rows[:SAMPLE_ROWS]
    if kind == "changed" and all(isinstance(r, Mapping) and "key" in r for r in rows):
        header, cells = changed_sample_table(rows)
        return f"_{kind} (base → head)_\n\n" + md_table(header, cells)
    if all(isinstance(r, Mapping) for r in rows):
        cols: list[str] = []
        for r in rows:
            cols += [c for c in r if c not in cols]
        return f"_{kind}_\n\n" + md_table(cols, [[r.get(c) for c in cols] for r in rows])
    return f"_{kind}_\n\n" + "\n".join(f"- `{_cell(r)}`" for r in rows)


def table_details(entry: Mapping[str, Any], *, samples: bool = True) -> str:
    name = entry.get("table")
    lines = [f"<details><summary><code>{name}</code>: {entry.get('status')}</summary>", ""]
    key = entry.get("key")
    lines.append(f"key: {', '.join(f'`{k}`' for k in key) if key else 'none (row-hash multiset diff)'}"
                 + (f" · method: `{entry['method']}`" if entry.get("method") else ""))
    cols = changed_columns(entry)
    if cols:
        lines += ["", "changed columns: " + ", ".join(cols)]
    smp = entry.get("samples") or {}
    if samples and isinstance(smp, Mapping):
        for kind, rows in smp.items():
            block = _sample_block(kind, rows)
            if block:
                lines += ["", block]
    lines += ["", "</details>"]
    return "\n".join(lines)


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
    diff: PrDiff | Mapping[str, Any] | None,
    *,
    limit: int = MAX_COMMENT_BYTES,
) -> str:
    """The sticky comment: status line, build and tests, dashboards, diff summary, details, timings
    (``diff``: the sync's typed diff, or the diff's JSON as a stored validation or another tool holds it)."""
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
    if isinstance(diff, PrDiff):
        tables = [t.to_dict() for t in diff.changed]
        facts = diff.to_dict() if diff.mode is not None or diff.drift is not None else {}
    else:
        tables = [t for t in (diff or {}).get("tables", []) if t.get("status") != "unchanged"]
        facts = dict(diff or {})
    if diff is not None:
        parts.append(f"**data diff** vs `{outcome.base}`: {len(tables)} table(s) changed"
                     + ("\n\n" + diff_summary_table(tables) if tables else ""))
        if note := drift_note(facts):
            parts.append(f"> {note}")
    if outcome.bi_relations:
        parts.append(bi_section(outcome.bi_relations))
    footer = ""
    if outcome.timings:
        footer = "<sub>timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in outcome.timings.items()) + "</sub>"
    return _fit(parts, [table_details(t) for t in tables], [table_details(t, samples=False) for t in tables],
                footer, limit)


def _fit(parts: list[str], details: list[str], lean: list[str], footer: str, limit: int) -> str:
    """Join the parts; add per-table details while they fit (without samples when they must)."""
    note = "\n\n> ✂️ {n} table detail section(s) left out to fit GitHub's comment limit; run " \
           "`branchops diff` for the full report."
    body = "\n\n".join(parts)
    budget = limit - utf8_size(footer) - utf8_size(note) - 64
    if utf8_size(body) > budget:
        return truncate_utf8(body, budget) + "\n\n> ✂️ report cut to fit\n\n" + footer
    left = 0
    for full, small in zip(details, lean, strict=True):
        fitted = first_fitting((body + "\n\n" + full, body + "\n\n" + small), budget)
        if fitted is None:
            left += 1
        else:
            body = fitted
    if left:
        body += note.format(n=left)
    return body + ("\n\n" + footer if footer else "")
