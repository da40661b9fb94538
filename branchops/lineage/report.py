"""The impact section of the PR report: per changed model its classification, the columns
involved, the downstream models (rebuilt, or kept from the base zero-copy) and exposures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_ICON = {"breaking": "🔴", "non-breaking": "🟢", "metadata-only": "⚪"}


def _code(items: Any) -> str:
    return ", ".join(f"`{i}`" for i in items)


def _columns(m: Mapping[str, Any]) -> str:
    parts = [f"+{c}" for c in m.get("added") or []] + [f"-{c}" for c in m.get("removed") or []]
    parts += [f"~{c}" for c in m.get("changed") or []]
    if m.get("rows_changed"):
        parts.append("rows")
    return " ".join(parts) or "-"


def _short(uid: str) -> str:
    return uid.rsplit(".", 1)[-1]


def impact_markdown(lineage: Mapping[str, Any] | None) -> str | None:
    """Markdown for ``BuildOutcome.lineage`` (None when classification was off)."""
    if not lineage:
        return None
    lines = ["**change classification and impact** (`--classify off` rebuilds all of state:modified+)"]
    if lineage.get("fallback"):
        lines += ["", f"> classification unavailable, built all of state:modified+: {lineage['fallback']}"]
    models = lineage.get("models") or []
    if not models:
        return "\n".join([*lines, "", "no modified models"]) if lineage.get("fallback") else None
    lines += ["", "| model | change | columns (+ added, - removed, ~ changed) | why |", "|---|---|---|---|"]
    for m in models:
        name = f"`{m.get('table') or m.get('model')}`"
        kind = f"{_ICON.get(m.get('kind', ''), '')} {m.get('kind')}"
        lines.append(f"| {name} | {kind} | {_columns(m)} | {str(m.get('reason', '')).replace('|', '/')} |")
    kept = set(lineage.get("kept_from_base") or [])
    kept_models = set(lineage.get("kept_models") or [])
    for m in models:
        if not (m.get("downstream") or m.get("exposures")):
            continue
        lines += ["", f"`{m.get('table') or m.get('model')}` downstream:"]
        reads = {r.get("unique_id"): r for r in m.get("readers") or []}
        for uid in m.get("downstream") or []:
            name = _short(uid)
            reader = reads.get(uid)
            how = f"reads {_code(reader['columns'])}" if reader else "reads none of the changed columns"
            fate = "kept from the base (zero-copy, not rebuilt)" if uid in kept_models else "rebuilt"
            lines.append(f"- model `{name}`: {how}; {fate}")
        for e in m.get("exposures") or []:
            label = f"[{e.get('name')}]({e['url']})" if e.get("url") else f"`{e.get('name')}`"
            affected = "affected" if e.get("unique_id") in reads else "not affected (reads no changed column)"
            lines.append(f"- {e.get('type', 'exposure')} {label}: {affected}")
    if kept:
        lines += ["", "**kept from the base, zero-copy** (downstream of non-breaking changes only): "
                  + _code(sorted(kept))]
    return "\n".join(lines)
