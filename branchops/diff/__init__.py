"""Diff two refs of the lakehouse, table by table and row by row (issue 5).

``diff_refs(lakehouse, base, head, ...) -> DiffResult``; ``render_markdown(result, max_bytes)``,
``render_json(result)``, ``print_text(result)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from branchops._lazy import lazy_exports

if TYPE_CHECKING:  # the real imports, for type checkers; at run time each name loads on first use
    from branchops.diff.key_sources import keys_from_manifest, load_ref_manifest, parse_key_flags
    from branchops.diff.model import (
        MAX_COMMENT_BYTES,
        ChangedRow,
        ColumnProfiles,
        DiffOptions,
        DiffResult,
        DuplicateKeys,
        Method,
        Profile,
        RowCounts,
        Samples,
        SchemaDiff,
        TableDiff,
        TableStatus,
    )
    from branchops.diff.render import print_text, render_json, render_markdown
    from branchops.diff.run import diff_refs

__all__ = [
    "MAX_COMMENT_BYTES",
    "ChangedRow",
    "ColumnProfiles",
    "DiffOptions",
    "DiffResult",
    "DuplicateKeys",
    "Method",
    "Profile",
    "RowCounts",
    "Samples",
    "SchemaDiff",
    "TableDiff",
    "TableStatus",
    "diff_refs",
    "keys_from_manifest",
    "load_ref_manifest",
    "parse_key_flags",
    "print_text",
    "render_json",
    "render_markdown",
]

_EXPORTS = {
    "MAX_COMMENT_BYTES": "branchops.diff.model",
    "ChangedRow": "branchops.diff.model",
    "ColumnProfiles": "branchops.diff.model",
    "DiffOptions": "branchops.diff.model",
    "DiffResult": "branchops.diff.model",
    "DuplicateKeys": "branchops.diff.model",
    "Method": "branchops.diff.model",
    "Profile": "branchops.diff.model",
    "RowCounts": "branchops.diff.model",
    "Samples": "branchops.diff.model",
    "SchemaDiff": "branchops.diff.model",
    "TableDiff": "branchops.diff.model",
    "TableStatus": "branchops.diff.model",
    "diff_refs": "branchops.diff.run",
    "keys_from_manifest": "branchops.diff.key_sources",
    "load_ref_manifest": "branchops.diff.key_sources",
    "parse_key_flags": "branchops.diff.key_sources",
    "print_text": "branchops.diff.render",
    "render_json": "branchops.diff.render",
    "render_markdown": "branchops.diff.render",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
