"""Diff two refs of the lakehouse, table by table and row by row (issue 5).

``diff_refs(lakehouse, base, head, ...) -> DiffResult``; ``render_markdown(result, max_bytes)``,
``render_json(result)``, ``print_text(result)``.
"""

from branchops.diff.compute import DiffOptions, diff_refs
from branchops.diff.keys import keys_from_manifest, load_ref_manifest, parse_key_flags
from branchops.diff.model import (
    ChangedRow,
    ColumnProfiles,
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
from branchops.diff.render import MAX_COMMENT_BYTES, print_text, render_json, render_markdown

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
