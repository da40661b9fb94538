"""Database roles per CI job for the embedded catalog on PostgreSQL, enforced by the database.

Three group roles (``NOLOGIN``; grant them to the login users of your CI jobs):

- ``<prefix>_pr`` (the ``pr sync`` job): reads everything; creates, writes and drops only refs
  whose names start with the PR branch prefix (``pr-``) or the write-audit-publish prefix
  (``branchops-wap-``); never writes a protected ref; never deletes or edits a commit;
- ``<prefix>_merge`` (``pr merge``, the nightly production build): writes every ref, protected
  ones included; deletes no commit either;
- ``<prefix>_gc`` (``gc``): what the PR role may (it drops idle ``pr-*`` branches); deleting
  files is the store's permission, not the catalog's.

Table privileges let the PR role insert into the commit tables but never update or delete
them; statement-level triggers (over the statement's transition tables: one check per ref a
statement touches, not per row) on every table that names a ref (branchops' refs and commits,
pyiceberg's ``iceberg_tables`` / ``iceberg_namespace_properties`` rows, whose ``catalog_name`` is
the ref) refuse a statement touching a ref the current role may not write, with SQLSTATE 42501
and the role it lacks; the statement is rolled back. The triggers see every client: branchops,
pyiceberg's own ``SqlCatalog``, psql. Only the tables' owner (who applies this) and superusers are above them.

:func:`install_error_translation` turns the database's refusals into :class:`PermissionDenied`
(exit 1) naming the permission the job lacks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from branchops.errors import PermissionDenied, UsageError
from branchops.sql_text import quote, sql_string

if TYPE_CHECKING:
    from branchops.catalog.sql.db import Database
    from branchops.catalog.sql.schema import Table
    from branchops.config import Settings

GUARD_TRIGGER = "branchops_guard"  # + _ins / _upd / _del: one statement-level trigger per event
#: SQLSTATE insufficient_privilege: PostgreSQL's own "permission denied" and our triggers' refusals
INSUFFICIENT_PRIVILEGE = "42501"
_ROLE_PREFIX = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


@dataclass(frozen=True)
class RoleNames:
    pr: str
    merge: str
    gc: str

    @classmethod
    def from_prefix(cls, prefix: str = "branchops") -> RoleNames:
        if not _ROLE_PREFIX.match(prefix):
            raise UsageError(
                f"role prefix {prefix!r} is not a plain lower-case SQL name",
                unchanged="no role was created or changed",
                hint="use letters, digits and underscores, starting with a letter (e.g. --role-prefix lake)",
            )
        return cls(f"{prefix}_pr", f"{prefix}_merge", f"{prefix}_gc")

    def to_dict(self) -> dict[str, str]:
        return {"pr": self.pr, "merge": self.merge, "gc": self.gc}


def _array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join(sql_string(v) for v in values) + "]::text[]"


@dataclass(frozen=True)
class GuardedTable:
    """A table whose rows belong to a ref: ``column`` is the ref's name, or (``via_commit``) the
    hash of a commit whose ``ref`` is checked."""

    table: Table
    column: str
    privileges: str
    via_commit: bool = False


def guarded_tables() -> list[GuardedTable]:
    from branchops.catalog.sql.pointers import jdbc_refs_t
    from branchops.catalog.sql.schema import changes_t, commits_t, ice_t, ns_t, parents_t, refs_t
    from branchops.catalog.sql.states import keyframes_t, positions_t

    return [
        GuardedTable(jdbc_refs_t, "name", "INSERT, UPDATE, DELETE"),
        GuardedTable(refs_t, "name", "INSERT, UPDATE, DELETE"),
        GuardedTable(ice_t, "catalog_name", "INSERT, UPDATE, DELETE"),
        GuardedTable(ns_t, "catalog_name", "INSERT, UPDATE, DELETE"),
        GuardedTable(commits_t, "ref", "INSERT"),
        GuardedTable(parents_t, "child", "INSERT", via_commit=True),
        GuardedTable(changes_t, "commit_hash", "INSERT", via_commit=True),
        GuardedTable(keyframes_t, "commit_hash", "INSERT", via_commit=True),
        GuardedTable(positions_t, "hash", "INSERT", via_commit=True),
    ]


def readable_tables() -> list[Table]:
    """Every table of the catalog: branchops' own (new ones included: they are read-only to the
    job roles until this module grants more, so a new table fails closed) and pyiceberg's."""
    from branchops.catalog.sql.pointers import jdbc_refs_t
    from branchops.catalog.sql.schema import TABLES, ice_t, ns_t
    from branchops.catalog.sql.states import TABLES as STATE_TABLES

    return [*TABLES, *sorted(STATE_TABLES, key=lambda t: t.name), ice_t, ns_t, jdbc_refs_t]


def roles_sql(
    *, schema: str, roles: RoleNames, protected: Sequence[str], writable_prefixes: Sequence[str],
    commits_table: str = "branchops_commits",
) -> str:
    """The whole setup as one idempotent SQL script (run it as the owner of the catalog's tables)."""
    s = quote(schema)
    check_fn, guard_fn, child_fn = (f"{s}.branchops_check_ref", f"{s}.branchops_guard_ref",
                                    f"{s}.branchops_guard_commit_child")
    out = [f"-- branchops least-privilege roles for schema {schema} (idempotent; run as the tables' owner)"]
    for role in (roles.pr, roles.merge, roles.gc):
        out.append(
            f"DO $do$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {sql_string(role)}) "
            f"THEN CREATE ROLE {quote(role)} NOLOGIN; END IF; END $do$;"
        )
    out += [
        f"GRANT {quote(roles.pr)} TO {quote(roles.merge)};",
        f"GRANT {quote(roles.pr)} TO {quote(roles.gc)};",
        f"GRANT USAGE ON SCHEMA {s} TO {quote(roles.pr)};",
    ]
    for table in readable_tables():
        out.append(f"GRANT SELECT ON {s}.{quote(table.name)} TO {quote(roles.pr)};")
    for g in guarded_tables():
        out.append(f"GRANT {g.privileges} ON {s}.{quote(g.table.name)} TO {quote(roles.pr)};")
    out.append(_check_function(check_fn, roles, protected, writable_prefixes))
    out.append(_guard_function(guard_fn, check_fn))
    out.append(_child_function(child_fn, check_fn, f"{s}.{quote(commits_table)}"))
    for g in guarded_tables():
        target = f"{s}.{quote(g.table.name)}"
        fn = f"{child_fn if g.via_commit else guard_fn}({sql_string(g.column)})"
        events = [("ins", "INSERT", "NEW TABLE AS new_rows"),
                  ("upd", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                  ("del", "DELETE", "OLD TABLE AS old_rows")]
        out.append(f"DROP TRIGGER IF EXISTS {GUARD_TRIGGER} ON {target};")
        for suffix, when, tables in events:
            name = f"{GUARD_TRIGGER}_{suffix}"
            out.append(f"DROP TRIGGER IF EXISTS {name} ON {target};")
            # statement level over transition tables: one check per ref a statement touches, so
            # a fork that copies 1,000 pointer rows costs one check, not 1,000
            out.append(f"CREATE TRIGGER {name} AFTER {when} ON {target} REFERENCING {tables} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {fn};")
    return "\n".join(out) + "\n"


def _check_function(name: str, roles: RoleNames, protected: Sequence[str], prefixes: Sequence[str]) -> str:
    starts = " OR ".join(f"starts_with(ref, {sql_string(p)})" for p in prefixes) or "false"
    return f"""CREATE OR REPLACE FUNCTION {name}(ref text, action text, tbl oid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
BEGIN
    -- the merge role, superusers and the owner of the table write every ref
    IF pg_has_role(current_user, {sql_string(roles.merge)}, 'USAGE')
       OR pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = tbl), 'USAGE') THEN
        RETURN;
    END IF;
    IF ref = ANY({_array(protected)}) THEN
        RAISE EXCEPTION USING ERRCODE = '{INSUFFICIENT_PRIVILEGE}',
            MESSAGE = format('branchops: role %s may not %s protected ref %s: that takes membership in role %s',
                             current_user, action, quote_literal(ref), {sql_string(roles.merge)}),
            DETAIL = {sql_string(roles.merge)};
    END IF;
    IF NOT pg_has_role(current_user, {sql_string(roles.pr)}, 'USAGE') OR NOT ({starts}) THEN
        RAISE EXCEPTION USING ERRCODE = '{INSUFFICIENT_PRIVILEGE}',
            MESSAGE = format('branchops: role %s may not %s ref %s: PR jobs write only refs starting with %s; '
                             'other refs take membership in role %s',
                             current_user, action, quote_literal(ref), {sql_string(" or ".join(prefixes))},
                             {sql_string(roles.merge)}),
            DETAIL = {sql_string(roles.merge)};
    END IF;
END
$fn$;"""


def _guard_function(name: str, check_fn: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
DECLARE
    ref_ text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        FOR ref_ IN EXECUTE format('SELECT DISTINCT %I FROM old_rows', TG_ARGV[0]) LOOP
            PERFORM {check_fn}(ref_, lower(TG_OP) || ' rows of', TG_RELID);
        END LOOP;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        FOR ref_ IN EXECUTE format('SELECT DISTINCT %I FROM new_rows', TG_ARGV[0]) LOOP
            PERFORM {check_fn}(ref_, lower(TG_OP) || ' rows of', TG_RELID);
        END LOOP;
    END IF;
    RETURN NULL;
END
$fn$;"""


def _child_function(name: str, check_fn: str, commits: str) -> str:
    rows = ("SELECT DISTINCT coalesce(c.ref, ''?unknown commit '' || r.%1$I) FROM %2$s r "
            f"LEFT JOIN {commits} c ON c.hash = r.%1$I")
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
DECLARE
    ref_ text;
BEGIN
    -- a commit that does not exist (yet) belongs to no ref anyone may write
    IF TG_OP <> 'INSERT' THEN
        FOR ref_ IN EXECUTE format('{rows}', TG_ARGV[0], 'old_rows') LOOP
            PERFORM {check_fn}(ref_, 'change the history of', TG_RELID);
        END LOOP;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        FOR ref_ IN EXECUTE format('{rows}', TG_ARGV[0], 'new_rows') LOOP
            PERFORM {check_fn}(ref_, 'change the history of', TG_RELID);
        END LOOP;
    END IF;
    RETURN NULL;
END
$fn$;"""


# -- applying and printing -----------------------------------------------------------------------


def require_postgres(catalog_url: str) -> None:
    """Raises UsageError unless ``catalog_url`` is a PostgreSQL URL."""
    from branchops.catalog.sql.db import DatabaseUriError, PostgresDatabase, database_class

    try:
        postgres = database_class(catalog_url) is PostgresDatabase
    except DatabaseUriError:
        postgres = False
    if not postgres:
        raise UsageError(
            "database roles need the embedded catalog on PostgreSQL (catalog_uri = postgresql://...)",
            unchanged="nothing was written; no role was created or changed",
            hint="on SQLite, protect the catalog file itself; on Nessie use its authorization rules "
                 "(README: Least-privilege credentials)",
        )


def role_setup(settings: Settings, *, prefix: str = "branchops", apply: bool = False) -> dict[str, Any]:
    """The SQL of :func:`roles_sql` for ``settings``' catalog; run it too when ``apply``.

    Raises:
        UsageError: the catalog is not on PostgreSQL (nothing is changed).
    """
    from branchops.catalog import load_catalog
    from branchops.catalog.base import INTERNAL_PREFIX

    roles = RoleNames.from_prefix(prefix)
    require_postgres(settings.catalog_url if settings.backend == "sql" else "nessie://")
    catalog = load_catalog(settings)  # creates the tables the grants name, if missing
    try:
        db: Database = catalog.db  # type: ignore[attr-defined]
        with db.transaction() as conn:
            schema = str(conn.scalar("SELECT current_schema()"))
            script = roles_sql(
                schema=schema, roles=roles, protected=sorted(settings.protected),
                writable_prefixes=[settings.pr_branch_prefix, INTERNAL_PREFIX],
            )
            if apply:
                conn.execute(script)  # one script, no parameters: `%` stays as written
    finally:
        catalog.close()
    return {"schema": schema, "roles": roles.to_dict(), "protected": sorted(settings.protected),
            "applied": apply, "sql": script}


# -- refusals as errors people can act on -----------------------------------------------------------

_DENIED_TABLE = re.compile(r"permission denied for (?:table|relation) (\S+)")


def permission_error(orig: BaseException, statement: str | None) -> PermissionDenied | None:
    """A :class:`PermissionDenied` for a DB-API error that is a refusal (SQLSTATE 42501), else None."""
    if getattr(orig, "pgcode", None) != INSUFFICIENT_PRIVILEGE:
        return None
    diag = getattr(orig, "diag", None)
    primary = str(getattr(diag, "message_primary", None) or str(orig).splitlines()[0]).strip()
    detail = getattr(diag, "message_detail", None)
    if primary.startswith("branchops: "):
        primary = primary[len("branchops: "):]
        permission = f"membership in role {detail}" if detail else "a role that may write this ref"
    else:
        m = _DENIED_TABLE.search(primary)
        verb = (statement or "").lstrip().split(" ", 1)[0].upper() or "this"
        permission = f"{verb} on table {m.group(1)}" if m else "the privilege named above"
    return PermissionDenied(
        f"the catalog database refused this job's role: {primary}",
        permission=permission,
        unchanged="the transaction was rolled back: nothing was written to the catalog",
        hint=f"this job's credentials lack {permission}; writes to protected refs belong to the merge and "
             "nightly jobs (README: Least-privilege credentials)",
    )


def install_error_translation(db: Database) -> None:
    """Make ``db`` raise :class:`PermissionDenied` for the database's refusals (PostgreSQL's:
    SQLite has no roles)."""
    if db.NAME == "postgresql":
        db.add_error_translator(permission_error)
