"""Names in the catalog: refs (git's rules, Nessie's characters), ``REF@HASH`` specs and
``namespace.table`` ids, and the reserved constants. Every backend and the CLI check names here."""

from __future__ import annotations

import re

from branchops.errors import InvalidRefName, UsageError

#: The hash of the empty history, the same constant Nessie uses for "no ancestor".
NO_ANCESTOR = "2e1cfa82b035c26cbbbdae632cea070514eb8b773f616aaeaf668e2f0be8f10d"

#: Branches branchops makes for its own write-audit-publish; hidden from ``list_refs``.
INTERNAL_PREFIX = "branchops-wap-"

MAX_REF_LENGTH = 200
#: a namespace or table name: a folder name in the warehouse (with a suffix), and an identifier in
#: every engine
MAX_TABLE_PART = 128
_REF_CHARS = re.compile(r"^[A-Za-z][A-Za-z0-9._/-]*$")
_TABLE_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_ref_name(name: str, *, allow_internal: bool = False) -> str:
    """Check a ref name against git's rules (and Nessie's stricter character set)."""
    problems: list[str] = []
    if not name:
        problems.append("it is empty")
    elif len(name) > MAX_REF_LENGTH:
        problems.append(f"it is longer than {MAX_REF_LENGTH} characters")
    else:
        if not _REF_CHARS.match(name):
            problems.append("it must start with a letter and hold only letters, digits and . _ / -")
        if ".." in name or "//" in name or "/." in name or "@{" in name:
            problems.append("it may not contain '..', '//', '/.' or '@{'")
        if name.endswith(("/", ".")):
            problems.append("it may not end with '/' or '.'")
        if any(part.endswith(".lock") for part in name.split("/")):
            problems.append("no part of it may end with '.lock'")
        if name.startswith(INTERNAL_PREFIX) and not allow_internal:
            problems.append(f"names starting with {INTERNAL_PREFIX!r} are reserved for branchops")
    if problems:
        raise InvalidRefName(
            f"invalid ref name {name!r}: " + "; ".join(problems),
            unchanged="no ref was created or changed",
            hint="use a name like 'feat', 'pr-42' or 'team/experiment'",
        )
    return name


def validate_table_id(table: str) -> tuple[str, str]:
    """``"ns.table"`` -> ``("ns", "table")``: one namespace level, as Trino schemas and dbt have."""
    parts = table.split(".")
    if len(parts) == 2 and any(len(p) > MAX_TABLE_PART for p in parts):
        raise UsageError(
            f"invalid table name {table[:60]!r}...: a part is longer than {MAX_TABLE_PART} characters",
            unchanged="nothing was written",
            hint=f"use namespace and table names of at most {MAX_TABLE_PART} characters",
        )
    if len(parts) != 2 or not all(_TABLE_PART.match(p) for p in parts):
        raise UsageError(
            f"invalid table name {table!r}",
            unchanged="nothing was written",
            hint="name tables as <namespace>.<table>, e.g. raw.orders (letters, digits, _)",
        )
    return parts[0], parts[1]


def split_ref(spec: str) -> tuple[str | None, str | None]:
    """``"main"`` -> (main, None); ``"main@abc"`` -> (main, abc); ``"@abc"`` -> (None, abc)."""
    if "@" in spec:
        name, _, commit = spec.partition("@")
        if not commit:
            raise InvalidRefName(
                f"invalid ref {spec!r}: nothing after '@'", unchanged="nothing was read or changed",
                hint="name a ref as REF, REF@HASH or @HASH (`branchops branch log REF` lists hashes)",
            )
        return (name or None), commit
    return spec, None
